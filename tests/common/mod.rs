//! Builders shared by the integration tests: small course structures and learner data.
#![allow(dead_code)]

pub mod azure;
pub mod edx_layout;
pub mod faultproxy;
pub mod gcs;
pub mod learner_order;
pub mod mariadb;
pub mod s3;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use regrade::grade::learner::LearnerData;
use regrade::grade::scores::{BlockRecord, CsmScore, SubmissionScore};
use regrade::grade::subsection::{Override, PersistedValues};
use regrade::model::structure::{BlockRow, CourseStructure, Partition};

/// A block row with children.
pub fn node(key: &str, block_type: &str, children: &[&str]) -> BlockRow {
    BlockRow {
        usage_key: key.to_string(),
        block_type: block_type.to_string(),
        display_name: Some(key.to_string()),
        children: Some(children.iter().map(|c| c.to_string()).collect()),
        ..BlockRow::default()
    }
}

/// A graded subsection of the given format.
pub fn seq(key: &str, name: &str, format: &str, children: &[&str]) -> BlockRow {
    BlockRow {
        display_name: Some(name.to_string()),
        format: Some(format.to_string()),
        graded: Some(true),
        ..node(key, "sequential", children)
    }
}

/// A scorable problem with a max score (and no weight).
pub fn problem(key: &str, max_score: f64) -> BlockRow {
    BlockRow {
        usage_key: key.to_string(),
        block_type: "problem".to_string(),
        display_name: Some(key.to_string()),
        has_score: true,
        max_score: Some(max_score),
        ..BlockRow::default()
    }
}

/// Builds a structure for course `c` with no partitions, released long ago.
pub fn build(rows: Vec<BlockRow>) -> CourseStructure {
    build_with(rows, Vec::new(), &[])
}

pub fn build_with(mut rows: Vec<BlockRow>, partitions: Vec<Partition>, modes: &[&str]) -> CourseStructure {
    for r in rows.iter_mut() {
        if r.block_type == "course" && r.start.is_none() {
            r.start = Some(0);
        }
    }
    let modes: Vec<String> = modes.iter().map(|m| m.to_string()).collect();
    CourseStructure::build("course-v1:org+c+run", "v1", rows, partitions, &modes, None)
        .expect("valid structure")
}

/// The index of a block by key.
pub fn idx(s: &CourseStructure, key: &str) -> u32 {
    *s.index.get(key).unwrap_or_else(|| panic!("no block {key}"))
}

/// A learner's data in maps.
#[derive(Default)]
pub struct Data {
    pub submissions: HashMap<u32, SubmissionScore>,
    pub csm: HashMap<u32, CsmScore>,
    pub persisted: HashMap<u32, (PersistedValues, Option<Override>)>,
    pub blocks: HashMap<u32, Vec<BlockRecord>>,
}

impl LearnerData for Data {
    fn submission(&self, block: u32) -> Option<&SubmissionScore> {
        self.submissions.get(&block)
    }
    fn csm(&self, block: u32) -> Option<&CsmScore> {
        self.csm.get(&block)
    }
    fn persisted(&self, subsection: u32) -> Option<(&PersistedValues, Option<&Override>)> {
        self.persisted.get(&subsection).map(|(v, o)| (v, o.as_ref()))
    }
    fn persisted_blocks(&self, subsection: u32) -> Option<&[BlockRecord]> {
        self.blocks.get(&subsection).map(Vec::as_slice)
    }
}

/// A CSM row with a grade, created at `t`.
pub fn csm(grade: f64, max: f64, t: i64) -> CsmScore {
    CsmScore { grade: Some(grade), max_grade: Some(max), created: t }
}

/// A port on 127.0.0.1 that was free a moment ago (for the servers the tests start).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

/// A run's manifest without what legitimately differs between two runs (times, URLs).
pub fn normalised_manifest(bytes: &[u8]) -> serde_json::Value {
    let mut m: serde_json::Value = serde_json::from_slice(bytes).expect("manifest is JSON");
    for k in ["started_at", "finished_at", "seconds", "rows_per_second"] {
        m[k] = serde_json::Value::Null;
    }
    m["options"]["input"] = serde_json::Value::Null;
    m["options"]["output"] = serde_json::Value::Null;
    for c in m["courses"].as_array_mut().expect("courses") {
        c["seconds"] = serde_json::Value::Null;
    }
    m
}

/// The Open edX demo course as Studio exports it, from `../shared/fixtures/` (never copied into
/// the repository), or `None` with a notice when it is absent; with
/// `REGRADE_REQUIRE_FIXTURES=1` (as `.ci/run` sets) its absence fails the test.
pub fn demo_course_export() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/openedx-demo-course/demo-course.tar.gz");
    if path.exists() {
        return Some(path);
    }
    if std::env::var("REGRADE_REQUIRE_FIXTURES").as_deref() == Ok("1") {
        panic!("REGRADE_REQUIRE_FIXTURES=1 but {} is absent", path.display());
    }
    eprintln!("SKIPPED: {} is absent (the demo course fixture)", path.display());
    None
}

/// Every file under `dir`: its path relative to `dir` (`/`-separated) and its bytes, sorted.
pub fn files_under(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("read {}: {e}", d.display())) {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().replace('\\', "/");
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// Copy the folder `from` to `to`, recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display())) {
        let p = e.unwrap().path();
        let target = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &target);
        } else {
            std::fs::copy(&p, &target).unwrap();
        }
    }
}
