//! `regrade run` end to end on a generated dataset: every job in `jobs/`, the three rescoring
//! policies against each other, determinism across thread counts, and bad usage / bad input.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int64Type, TimestampMicrosecondType};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use regrade::grade::policy::GradingPolicy;

const AS_OF: &str = "2026-06-01T00:00:00Z";

fn regrade(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_regrade"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run regrade")
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A generated dataset shared by the tests of this file (generated once per test binary).
fn dataset() -> &'static Path {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let input = dir.path().join("input");
        ok(&regrade(&[
            "generate",
            input.to_str().unwrap(),
            "--seed",
            "7",
            "--courses",
            "3",
            "--learners",
            "150",
            "--problems-per-course",
            "20",
            "-q",
        ]));
        dir
    })
    .path()
}

fn input() -> String {
    dataset().join("input").to_string_lossy().into_owned()
}

fn run_into(out: &Path, extra: &[&str]) -> Output {
    let input = input();
    let mut args = vec!["run", "--input", &input, "--output", out.to_str().unwrap(), "--as-of", AS_OF, "-q"];
    args.extend_from_slice(extra);
    regrade(&args)
}

/// Every file under `dir`, by relative path.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p.strip_prefix(base).unwrap().to_string_lossy().replace('\\', "/");
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out
}

/// All rows of the Parquet files under `dir`.
fn read_parquet(dir: &Path) -> Vec<RecordBatch> {
    tree(dir)
        .into_iter()
        .filter(|(p, _)| p.ends_with(".parquet"))
        .flat_map(|(_, bytes)| {
            let reader =
                ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes)).unwrap().build().unwrap();
            reader.map(|b| plain(&b.unwrap())).collect::<Vec<_>>()
        })
        .collect()
}

/// The batch with its dictionary columns (`course_id`) decoded to plain strings.
fn plain(batch: &RecordBatch) -> RecordBatch {
    let columns: Vec<_> = batch
        .columns()
        .iter()
        .map(|c| match c.data_type() {
            arrow::datatypes::DataType::Dictionary(..) => {
                arrow::compute::cast(c, &arrow::datatypes::DataType::Utf8).expect("dictionary of strings")
            }
            _ => c.clone(),
        })
        .collect();
    arrow::array::RecordBatch::try_from_iter(
        batch.schema().fields().iter().map(|f| f.name().clone()).zip(columns),
    )
    .expect("batch")
}

fn manifest(out: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(out.join("manifest.json")).expect("manifest.json")).unwrap()
}

/// A subsection grade row of the output, keyed by (course, user, usage key).
#[derive(Clone, Debug, PartialEq)]
struct Sub {
    earned_all: f64,
    possible_all: f64,
    earned_graded: f64,
    possible_graded: f64,
    first_attempted: Option<i64>,
    source: String,
}

type Key = (String, i64, String);

fn subsection_grades(out: &Path) -> HashMap<Key, Sub> {
    let mut m = HashMap::new();
    for b in read_parquet(&out.join("subsection_grades")) {
        let s = |n: &str| b.column_by_name(n).unwrap().as_string::<i32>().clone();
        let f = |n: &str| b.column_by_name(n).unwrap().as_primitive::<Float64Type>().clone();
        let (course, key, source) = (s("course_id"), s("usage_key"), s("source"));
        let user = b.column_by_name("user_id").unwrap().as_primitive::<Int64Type>().clone();
        let first =
            b.column_by_name("first_attempted").unwrap().as_primitive::<TimestampMicrosecondType>().clone();
        let (ea, pa, eg, pg) = (f("earned_all"), f("possible_all"), f("earned_graded"), f("possible_graded"));
        for i in 0..b.num_rows() {
            let k = (course.value(i).to_string(), user.value(i), key.value(i).to_string());
            let v = Sub {
                earned_all: ea.value(i),
                possible_all: pa.value(i),
                earned_graded: eg.value(i),
                possible_graded: pg.value(i),
                first_attempted: first.is_valid(i).then(|| first.value(i)),
                source: source.value(i).to_string(),
            };
            assert!(m.insert(k.clone(), v).is_none(), "duplicate subsection grade {k:?}");
        }
    }
    m
}

/// Persisted subsection rows of the input, override applied: (earned_graded, possible_graded).
fn persisted(input: &Path) -> HashMap<Key, (f64, f64, f64, f64)> {
    let mut overrides: HashMap<i64, [Option<f64>; 4]> = HashMap::new();
    for b in read_parquet(&input.join("subsection_grade_overrides")) {
        let id = b.column_by_name("grade_id").unwrap().as_primitive::<Int64Type>().clone();
        let col = |n: &str| b.column_by_name(n).unwrap().as_primitive::<Float64Type>().clone();
        let cols = [
            col("earned_all_override"),
            col("possible_all_override"),
            col("earned_graded_override"),
            col("possible_graded_override"),
        ];
        for i in 0..b.num_rows() {
            let v = [0, 1, 2, 3].map(|c| cols[c].is_valid(i).then(|| cols[c].value(i)));
            overrides.insert(id.value(i), v);
        }
    }
    let mut m = HashMap::new();
    for b in read_parquet(&input.join("persistent_subsection_grades")) {
        let s = |n: &str| b.column_by_name(n).unwrap().as_string::<i32>().clone();
        let f = |n: &str| b.column_by_name(n).unwrap().as_primitive::<Float64Type>().clone();
        let i64c = |n: &str| b.column_by_name(n).unwrap().as_primitive::<Int64Type>().clone();
        let (course, key, user, id) = (s("course_id"), s("usage_key"), i64c("user_id"), i64c("id"));
        let (ea, pa, eg, pg) = (f("earned_all"), f("possible_all"), f("earned_graded"), f("possible_graded"));
        for i in 0..b.num_rows() {
            let ov = overrides.get(&id.value(i)).copied().unwrap_or([None; 4]);
            let v = (
                ov[0].unwrap_or(ea.value(i)),
                ov[1].unwrap_or(pa.value(i)),
                ov[2].unwrap_or(eg.value(i)),
                ov[3].unwrap_or(pg.value(i)),
            );
            m.insert((course.value(i).to_string(), user.value(i), key.value(i).to_string()), v);
        }
    }
    m
}

fn ratio(e: f64, p: f64) -> f64 {
    if p == 0.0 {
        0.0
    } else {
        e / p
    }
}

fn enrollments(input: &Path) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for b in read_parquet(&input.join("enrollments")) {
        let c = b.column_by_name("course_id").unwrap().as_string::<i32>().clone();
        for i in 0..b.num_rows() {
            *m.entry(c.value(i).to_string()).or_default() += 1;
        }
    }
    m
}

fn job(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("jobs").join(name).to_string_lossy().into_owned()
}

fn run_job(name: &str, out: &Path) -> Output {
    let input = input();
    regrade(&[
        "run",
        &job(name),
        "--input",
        &input,
        "--output",
        out.to_str().unwrap(),
        "--as-of",
        AS_OF,
        "-q",
    ])
}

#[test]
fn full_recompute_job_grades_every_enrollment() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    ok(&run_job("full-recompute.toml", &out));
    let m = manifest(&out);
    assert_eq!(m["options"]["rescore"], "recompute");
    assert_eq!(m["failed"].as_array().unwrap().len(), 0);
    let per_course = enrollments(dataset().join("input").as_path());
    let mut graded: BTreeMap<String, usize> = BTreeMap::new();
    for b in read_parquet(&out.join("course_grades")) {
        let c = b.column_by_name("course_id").unwrap().as_string::<i32>().clone();
        for i in 0..b.num_rows() {
            *graded.entry(c.value(i).to_string()).or_default() += 1;
        }
    }
    assert_eq!(graded, per_course, "one course grade per enrollment, active or not");
    let subs = subsection_grades(&out);
    assert!(!subs.is_empty());
    assert!(subs.values().all(|s| s.source == "recomputed" || s.source == "override"));
    // Reports: a grade report and a problem grade report per course, one line per learner.
    let reports: Vec<(String, Vec<u8>)> = tree(&out.join("reports")).into_iter().collect();
    assert_eq!(reports.len(), 2 * per_course.len(), "{:?}", reports.iter().map(|r| &r.0).collect::<Vec<_>>());
    for (path, bytes) in &reports {
        assert!(path.ends_with("_2026-06-01-0000.csv"), "{path}");
        let lines = String::from_utf8(bytes.clone()).unwrap().split("\r\n").filter(|l| !l.is_empty()).count();
        assert!(per_course.values().any(|n| lines == n + 1), "{path}: {lines} lines");
    }
    // Every output file is listed in the manifest with its hash.
    let listed: Vec<&str> =
        m["outputs"].as_array().unwrap().iter().map(|o| o["path"].as_str().unwrap()).collect();
    let on_disk: Vec<String> = tree(&out).into_keys().filter(|p| p != "manifest.json").collect();
    assert_eq!(listed, on_disk);
}

#[test]
fn only_if_higher_job_never_lowers_a_persisted_subsection() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    ok(&run_job("only-if-higher.toml", &out));
    let old = persisted(&dataset().join("input"));
    let new = subsection_grades(&out);
    let mut kept = 0;
    for (k, s) in &new {
        if s.source == "kept_higher" {
            kept += 1;
        }
        if let Some(&(_, _, eg, pg)) = old.get(k) {
            assert!(
                ratio(s.earned_graded, s.possible_graded) >= ratio(eg, pg) || s.source == "override",
                "{k:?}: {s:?} lower than persisted {eg}/{pg}"
            );
        }
    }
    assert!(kept > 0, "the dataset has stale persisted grades, so some must be kept");
}

#[test]
fn what_if_policy_job_uses_the_policy_file() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    ok(&run_job("what-if-policy.toml", &out));
    let text = std::fs::read_to_string(job("policies/what-if.json")).unwrap();
    let hash = GradingPolicy::parse(&text).unwrap().hash;
    let rows = read_parquet(&out.join("course_grades"));
    assert!(!rows.is_empty());
    for b in &rows {
        let h = b.column_by_name("grading_policy_hash").unwrap().as_string::<i32>();
        assert!(h.iter().all(|v| v == Some(hash.as_str())));
    }
    assert!(!out.join("reports").exists(), "the job asks for grades and diffs only");
    let m = manifest(&out);
    assert!(m["courses"].as_array().unwrap().iter().all(|c| c["grading_policy_hash"] == hash.as_str()));
    // The same run without the policy grades with each version's own (different) policy.
    let own = tmp.path().join("own");
    ok(&run_into(&own, &["--rescore", "retain", "--outputs", "grades"]));
    for b in read_parquet(&own.join("course_grades")) {
        let h = b.column_by_name("grading_policy_hash").unwrap().as_string::<i32>();
        assert!(h.iter().all(|v| v != Some(hash.as_str())));
    }
}

#[test]
fn apply_policy_job_writes_the_changed_rows_under_the_policy() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    ok(&run_job("apply-policy.toml", &out));
    let text = std::fs::read_to_string(job("policies/what-if.json")).unwrap();
    let hash = GradingPolicy::parse(&text).unwrap().hash;
    let m = manifest(&out);
    assert_eq!(m["apply"]["export_time"], "2026-01-01T00:00:00Z");
    let totals = &m["apply"]["totals"];
    assert!(
        totals["course_rows"].as_u64().unwrap() > 0 && totals["subsection_rows"].as_u64().unwrap() > 0,
        "{totals}"
    );
    // Every applied course grade carries the what-if policy's hash, one row per changed key.
    let rows = read_parquet(&out.join("apply/grades_persistentcoursegrade"));
    let n: usize = rows.iter().map(|b| b.num_rows()).sum();
    assert_eq!(n as u64, totals["course_rows"].as_u64().unwrap());
    for b in &rows {
        let h = b.column_by_name("grading_policy_hash").unwrap().as_string::<i32>();
        assert!(h.iter().all(|v| v == Some(hash.as_str())));
    }
    let scripts = tree(&out.join("apply")).into_keys().filter(|p| p.ends_with("/apply.sql")).count();
    assert_eq!(scripts, m["courses"].as_array().unwrap().len(), "a script per course");
}

#[test]
fn grade_report_job_reads_persisted_grades_only() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    ok(&run_job("grade-report.toml", &out));
    let files = tree(&out);
    assert!(files.keys().all(|p| p == "manifest.json" || p.starts_with("reports/")), "{:?}", files.keys());
    // Grade column = the persisted percent_grade, or 0.0 without a persisted course grade.
    let mut percent: HashMap<(String, i64), f64> = HashMap::new();
    for b in read_parquet(&dataset().join("input/persistent_course_grades")) {
        let c = b.column_by_name("course_id").unwrap().as_string::<i32>().clone();
        let u = b.column_by_name("user_id").unwrap().as_primitive::<Int64Type>().clone();
        let p = b.column_by_name("percent_grade").unwrap().as_primitive::<Float64Type>().clone();
        for i in 0..b.num_rows() {
            // Reports are stored under sha1(course_id), as edX stores them.
            percent.insert((regrade::write::sha1_hex(c.value(i).as_bytes()), u.value(i)), p.value(i));
        }
    }
    let mut checked = 0;
    for (path, bytes) in files.iter().filter(|(p, _)| p.contains("_grade_report_") && !p.contains("problem"))
    {
        let folder = path.split('/').nth(1).unwrap().to_string();
        let text = String::from_utf8(bytes.clone()).unwrap();
        for line in text.split("\r\n").skip(1).filter(|l| !l.is_empty()) {
            let cells: Vec<&str> = line.split(',').collect();
            let user: i64 = cells[0].parse().unwrap();
            let expected = percent.get(&(folder.clone(), user)).copied().unwrap_or(0.0);
            assert_eq!(cells[3].parse::<f64>().unwrap(), expected, "{path}: user {user}");
            checked += 1;
        }
    }
    assert!(checked > 100);
}

#[test]
fn the_three_rescoring_policies_against_each_other() {
    let tmp = tempfile::tempdir().unwrap();
    let outs: Vec<PathBuf> =
        ["recompute", "only-if-higher", "retain"].iter().map(|r| tmp.path().join(r)).collect();
    for (out, r) in outs.iter().zip(["recompute", "only-if-higher", "retain"]) {
        ok(&run_into(out, &["--rescore", r, "--outputs", "grades,diffs"]));
    }
    let (re, oih, keep) =
        (subsection_grades(&outs[0]), subsection_grades(&outs[1]), subsection_grades(&outs[2]));
    let old = persisted(&dataset().join("input"));
    // The same learners and subsections under every policy.
    let mut keys: Vec<&Key> = re.keys().collect();
    keys.sort();
    let mut k2: Vec<&Key> = oih.keys().collect();
    k2.sort();
    assert_eq!(keys, k2);
    let (mut kept_higher, mut retained, mut zeros) = (0, 0, 0);
    for k in keys {
        let (r, o, t) = (&re[k], &oih[k], &keep[k]);
        let values = |s: &Sub| (s.earned_all, s.possible_all, s.earned_graded, s.possible_graded);
        match old.get(k) {
            None if r.first_attempted.is_none() => {
                // Nothing persisted, nothing attempted: a forced recompute writes the grade
                // computed from studentmodule; the others write nothing and the course grade
                // reads a zero grade (earned 0, possibles from the content).
                for s in [o, t] {
                    assert_eq!(
                        (s.source.as_str(), s.earned_all, s.earned_graded),
                        ("zero", 0.0, 0.0),
                        "{k:?}"
                    );
                    assert_eq!(s.first_attempted, None, "{k:?}");
                }
                zeros += 1;
            }
            None => {
                // Nothing persisted, attempted: all three compute and write the same grade.
                assert_eq!(values(o), values(r), "{k:?}");
                assert_eq!(values(t), values(r), "{k:?}");
            }
            Some(p) => {
                // retain: the persisted row (override applied), untouched.
                assert_eq!(values(t), *p, "{k:?}");
                assert!(t.source == "retained" || t.source == "override", "{k:?} {t:?}");
                retained += 1;
                // only-if-higher: the persisted row when the new graded ratio is lower (or
                // the new grade is unattempted, so not written), else the recomputed one.
                let lower = ratio(r.earned_graded, r.possible_graded) < ratio(p.2, p.3);
                let unattempted = r.first_attempted.is_none();
                if r.source == "override" || o.source == "override" {
                    continue;
                }
                if lower || unattempted {
                    assert_eq!(values(o), *p, "{k:?}: {o:?} should keep {p:?}");
                    kept_higher += usize::from(o.source == "kept_higher");
                } else {
                    assert_eq!(values(o), values(r), "{k:?}: {o:?} should take {r:?}");
                }
            }
        }
    }
    assert!(
        kept_higher > 0 && retained > 0 && zeros > 0,
        "kept {kept_higher}, retained {retained}, zeros {zeros}"
    );
    // The diff counts agree with the outputs: retain writes nothing that was persisted.
    let m = manifest(&outs[2]);
    assert_eq!(m["totals"]["subsection_diffs"]["changed"], 0, "retain never changes a persisted row");
    let m = manifest(&outs[0]);
    assert!(m["totals"]["subsection_diffs"]["changed"].as_u64().unwrap() > 0);
}

#[test]
fn results_do_not_depend_on_thread_count_or_courses_in_flight() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    ok(&run_into(&a, &["--threads", "1", "--courses-in-flight", "1"]));
    ok(&run_into(&b, &["--threads", "4", "--courses-in-flight", "3"]));
    let (mut ta, mut tb) = (tree(&a), tree(&b));
    ta.remove("manifest.json");
    tb.remove("manifest.json");
    assert_eq!(ta.keys().collect::<Vec<_>>(), tb.keys().collect::<Vec<_>>());
    for (p, bytes) in &ta {
        assert!(bytes == &tb[p], "{p} differs between 1 and 4 threads");
    }
}

/// Every file's decoded rows, by relative path (Parquet decoded, other files as bytes):
/// what the outputs say, whatever the page boundaries of the encoding.
fn contents(dir: &Path) -> BTreeMap<String, Result<RecordBatch, Vec<u8>>> {
    tree(dir)
        .into_iter()
        .filter(|(p, _)| p != "manifest.json")
        .map(|(p, bytes)| {
            if !p.ends_with(".parquet") {
                return (p, Err(bytes));
            }
            let reader =
                ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes)).unwrap().build().unwrap();
            let schema = arrow::array::RecordBatchReader::schema(&reader);
            let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
            (p, Ok(arrow::compute::concat_batches(&schema, &batches).unwrap()))
        })
        .collect()
}

#[test]
fn results_do_not_depend_on_learners_per_chunk() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    ok(&run_into(&a, &[]));
    // Chunks of 7 learners: many chunks per course, graded three at a time, with persisted
    // rows of learners not enrolled falling between and around them.
    ok(&run_into(&b, &["--learners-per-chunk", "7", "--threads", "3"]));
    let (ma, mb) = (manifest(&a), manifest(&b));
    let most = ma["courses"].as_array().unwrap().iter().map(|c| c["learners"].as_u64().unwrap()).max();
    assert!(most.unwrap() > 7 * 3 * 2, "a course needs several windows of chunks: {most:?}");
    let diffs = &ma["totals"]["subsection_diffs"];
    for kind in ["new", "changed", "unchanged"] {
        assert!(diffs[kind].as_u64().unwrap() > 0, "the dataset has {kind} subsection keys: {diffs}");
    }
    assert_eq!(ma["totals"], mb["totals"]);
    let (ca, cb) = (contents(&a), contents(&b));
    assert_eq!(ca.keys().collect::<Vec<_>>(), cb.keys().collect::<Vec<_>>());
    for (p, x) in &ca {
        assert!(x == &cb[p], "{p} differs between 4096 and 7 learners per chunk");
    }
    // A chunk size of 0 is a usage error.
    let c = tmp.path().join("c");
    let out = run_into(&c, &["--learners-per-chunk", "0"]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn course_and_version_selection() {
    let tmp = tempfile::tempdir().unwrap();
    // Find a course and its versions from the input.
    let blocks = read_parquet(&dataset().join("input/course_blocks"));
    let mut versions: BTreeMap<String, BTreeMap<i64, String>> = BTreeMap::new();
    for b in &blocks {
        let c = b.column_by_name("course_id").unwrap().as_string::<i32>();
        let v = b.column_by_name("course_version").unwrap().as_string::<i32>();
        let p = b.column_by_name("published_at").unwrap().as_primitive::<TimestampMicrosecondType>();
        for i in 0..b.num_rows() {
            versions.entry(c.value(i).to_string()).or_default().insert(p.value(i), v.value(i).to_string());
        }
    }
    let (course, vs) = versions.iter().find(|(_, v)| v.len() >= 2).expect("a course with two versions");
    let (first_at, first) = vs.iter().next().unwrap();
    let (_, latest) = vs.iter().next_back().unwrap();
    let graded_version = |out: &Path| -> Vec<String> {
        let m = manifest(out);
        m["courses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["course_version"].as_str().unwrap().to_string())
            .collect()
    };
    let out = tmp.path().join("latest");
    ok(&run_into(&out, &["--courses", course, "--outputs", "grades"]));
    assert_eq!(graded_version(&out), vec![latest.clone()]);
    let out = tmp.path().join("named");
    ok(&run_into(&out, &["--courses", course, "--course-version", first, "--outputs", "grades"]));
    assert_eq!(graded_version(&out), vec![first.clone()]);
    let at = chrono::DateTime::from_timestamp_micros(*first_at).unwrap().to_rfc3339();
    let out = tmp.path().join("asof");
    ok(&run_into(
        &out,
        &["--courses", course, "--course-version", &format!("as-of:{at}"), "--outputs", "grades"],
    ));
    assert_eq!(graded_version(&out), vec![first.clone()]);
    // A course file.
    let list = tmp.path().join("courses.txt");
    std::fs::write(&list, format!("# one course\n{course}\n\n")).unwrap();
    let out = tmp.path().join("file");
    ok(&run_into(&out, &["--courses-file", list.to_str().unwrap(), "--outputs", "grades"]));
    assert_eq!(manifest(&out)["totals"]["courses"], 1);
    // A version that no course has fails those courses (exit 1), listed in the manifest.
    let out = tmp.path().join("missing");
    let o = run_into(&out, &["--course-version", "no-such-version", "--outputs", "grades"]);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    let m = manifest(&out);
    let failed = m["failed"].as_array().unwrap();
    assert_eq!(failed.len(), versions.len());
    assert!(failed[0]["error"].as_str().unwrap().contains("no-such-version"), "{failed:?}");
    // An unknown course id fails that course only.
    let out = tmp.path().join("unknown");
    let o =
        run_into(&out, &["--courses", &format!("{course},course-v1:No+Such+Course"), "--outputs", "grades"]);
    assert_eq!(o.status.code(), Some(1));
    let m = manifest(&out);
    assert_eq!(m["totals"]["courses"], 1);
    assert!(m["failed"][0]["error"].as_str().unwrap().contains("course-v1:No+Such+Course"));
}

#[test]
fn bad_usage_and_bad_input_exit_2_without_a_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    // No input.
    let o = regrade(&["run", "--output", out.to_str().unwrap(), "-q"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--input"));
    // Unknown rescore policy, unknown job key.
    let o = run_into(&out, &["--rescore", "sometimes"]);
    assert_eq!(o.status.code(), Some(2));
    let bad_job = tmp.path().join("bad.toml");
    std::fs::write(&bad_job, "inptu = \"x\"\n").unwrap();
    let o = regrade(&["run", bad_job.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("inptu"));
    // A missing required table.
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let o = regrade(&["run", "--input", empty.to_str().unwrap(), "--output", out.to_str().unwrap(), "-q"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("course_blocks"));
    assert!(!out.join("manifest.json").exists());
    // A non-empty output folder is refused unless --overwrite.
    let used = tmp.path().join("used");
    ok(&run_into(&used, &["--outputs", "grades"]));
    let o = run_into(&used, &["--outputs", "grades"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--overwrite"));
    ok(&run_into(&used, &["--outputs", "reports", "--overwrite"]));
    assert!(tree(&used.join("course_grades")).is_empty(), "the previous run's files are gone");
    assert!(used.join("manifest.json").exists());
}

#[test]
fn passed_timestamp_is_set_once() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    ok(&run_into(&out, &["--outputs", "grades"]));
    let as_of = chrono::DateTime::parse_from_rfc3339(AS_OF).unwrap().timestamp_micros();
    let mut old: HashMap<(String, i64), Option<i64>> = HashMap::new();
    for b in read_parquet(&dataset().join("input/persistent_course_grades")) {
        let c = b.column_by_name("course_id").unwrap().as_string::<i32>().clone();
        let u = b.column_by_name("user_id").unwrap().as_primitive::<Int64Type>().clone();
        let t =
            b.column_by_name("passed_timestamp").unwrap().as_primitive::<TimestampMicrosecondType>().clone();
        for i in 0..b.num_rows() {
            old.insert((c.value(i).to_string(), u.value(i)), t.is_valid(i).then(|| t.value(i)));
        }
    }
    let (mut kept, mut first_time, mut failing_kept) = (0, 0, 0);
    for b in read_parquet(&out.join("course_grades")) {
        let c = b.column_by_name("course_id").unwrap().as_string::<i32>().clone();
        let u = b.column_by_name("user_id").unwrap().as_primitive::<Int64Type>().clone();
        let passed = b.column_by_name("passed").unwrap().as_boolean().clone();
        let t =
            b.column_by_name("passed_timestamp").unwrap().as_primitive::<TimestampMicrosecondType>().clone();
        for i in 0..b.num_rows() {
            let new = t.is_valid(i).then(|| t.value(i));
            match old.get(&(c.value(i).to_string(), u.value(i))).copied().flatten() {
                // Never overwritten, never cleared, even when the learner now fails.
                Some(then) => {
                    assert_eq!(new, Some(then));
                    kept += 1;
                    failing_kept += usize::from(!passed.value(i));
                }
                None if passed.value(i) => {
                    assert_eq!(new, Some(as_of), "first pass is stamped with --as-of");
                    first_time += 1;
                }
                None => assert_eq!(new, None),
            }
        }
    }
    assert!(kept > 0 && first_time > 0, "kept {kept}, first time {first_time}, failing kept {failing_kept}");
}

/// Copy the generated input to `dir`.
fn copy_input(dir: &Path) {
    for (rel, bytes) in tree(&dataset().join("input")) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
}

/// Write `batch` as one more Parquet file of a table, next to an existing file of it.
fn add_file(beside: &Path, name: &str, batch: &RecordBatch) {
    let file = std::fs::File::create(beside.parent().unwrap().join(name)).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
}

#[test]
fn duplicate_keys_and_missing_policy_rows_fail_only_their_course() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("input");
    copy_input(&input);
    // A second copy of one enrollment row, in the first enrollments file.
    let first = tree(&input.join("enrollments")).into_keys().next().unwrap();
    let path = input.join("enrollments").join(&first);
    let bytes = std::fs::read(&path).unwrap();
    let batch = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes)).unwrap().build().unwrap();
    let batch = batch.map(|b| b.unwrap()).next().unwrap();
    let row = batch.slice(0, 1);
    let course = row.column_by_name("course_id").map(|c| c.as_string::<i32>().value(0).to_string());
    let user = row.column_by_name("user_id").unwrap().as_primitive::<Int64Type>().value(0);
    add_file(&path, "zz-duplicate.parquet", &row);
    let course = course.unwrap_or_else(|| {
        let folder = first.split('/').next().unwrap().strip_prefix("course_id=").unwrap();
        regrade::store::partition::unescape_partition_value(folder).unwrap()
    });

    let out = tmp.path().join("out");
    let input_s = input.to_string_lossy().into_owned();
    let o = regrade(&["run", "--input", &input_s, "--output", out.to_str().unwrap(), "--as-of", AS_OF, "-q"]);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    let m = manifest(&out);
    let failed = m["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["course_id"], course.as_str());
    let error = failed[0]["error"].as_str().unwrap();
    assert!(error.contains("enrollments") && error.contains(&format!("user_id {user}")), "{error}");
    assert_eq!(
        m["totals"]["courses"].as_u64().unwrap() as usize,
        enrollments(&dataset().join("input")).len() - 1
    );

    // A version without its course_policies row fails that course, naming the table.
    std::fs::remove_dir_all(input.join("course_policies")).unwrap();
    std::fs::create_dir_all(input.join("course_policies")).unwrap();
    let policies = read_parquet(&dataset().join("input/course_policies"));
    let kept: Vec<RecordBatch> = policies
        .iter()
        .map(|b| {
            let ids = b.column_by_name("course_id").unwrap().as_string::<i32>();
            let keep: arrow::array::BooleanArray =
                ids.iter().map(|c| Some(c != Some(course.as_str()))).collect();
            arrow::compute::filter_record_batch(b, &keep).unwrap()
        })
        .collect();
    for (i, b) in kept.iter().enumerate() {
        add_file(&input.join("course_policies").join("x"), &format!("part-{i}.parquet"), b);
    }
    std::fs::remove_file(path.parent().unwrap().join("zz-duplicate.parquet")).unwrap();
    let out = tmp.path().join("out2");
    let o = regrade(&["run", "--input", &input_s, "--output", out.to_str().unwrap(), "--as-of", AS_OF, "-q"]);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    let m = manifest(&out);
    let error = m["failed"][0]["error"].as_str().unwrap().to_string();
    assert!(error.contains("course_policies has no row"), "{error}");
    assert_eq!(m["failed"].as_array().unwrap().len(), 1);
}

#[test]
fn backfill_job_writes_exactly_the_missing_rows_with_the_recompute_values() {
    let tmp = tempfile::tempdir().unwrap();
    let (bf, full) = (tmp.path().join("backfill"), tmp.path().join("full"));
    let input = input();
    ok(&regrade(&[
        "backfill",
        &job("backfill.toml"),
        "--input",
        &input,
        "--output",
        bf.to_str().unwrap(),
        "--as-of",
        AS_OF,
        "-q",
    ]));
    ok(&run_job("full-recompute.toml", &full));
    let m = manifest(&bf);
    assert_eq!(m["command"], "backfill");
    assert_eq!(m["failed"].as_array().unwrap().len(), 0);

    // Course rows: exactly the enrollments without a persisted course grade.
    let dir = dataset().join("input");
    let mut with_row: std::collections::HashSet<(String, i64)> = Default::default();
    for b in read_parquet(&dir.join("persistent_course_grades")) {
        let c = b.column_by_name("course_id").unwrap().as_string::<i32>().clone();
        let u = b.column_by_name("user_id").unwrap().as_primitive::<Int64Type>().clone();
        (0..b.num_rows()).for_each(|i| {
            with_row.insert((c.value(i).to_string(), u.value(i)));
        });
    }
    let mut expected: Vec<(String, i64)> = Vec::new();
    for b in read_parquet(&dir.join("enrollments")) {
        let c = b.column_by_name("course_id").unwrap().as_string::<i32>().clone();
        let u = b.column_by_name("user_id").unwrap().as_primitive::<Int64Type>().clone();
        for i in 0..b.num_rows() {
            let k = (c.value(i).to_string(), u.value(i));
            if !with_row.contains(&k) {
                expected.push(k);
            }
        }
    }
    expected.sort();
    // The full recompute's course grades, to compare values with.
    let mut recomputed: HashMap<(String, i64), (f64, String)> = HashMap::new();
    for b in read_parquet(&full.join("course_grades")) {
        let c = b.column_by_name("course_id").unwrap().as_string::<i32>().clone();
        let u = b.column_by_name("user_id").unwrap().as_primitive::<Int64Type>().clone();
        let p = b.column_by_name("percent_grade").unwrap().as_primitive::<Float64Type>().clone();
        let l = b.column_by_name("letter_grade").unwrap().as_string::<i32>().clone();
        for i in 0..b.num_rows() {
            recomputed.insert((c.value(i).to_string(), u.value(i)), (p.value(i), l.value(i).to_string()));
        }
    }
    let mut got: Vec<(String, i64)> = Vec::new();
    for b in read_parquet(&bf.join("backfill/grades_persistentcoursegrade")) {
        let c = b.column_by_name("course_id").unwrap().as_string::<i32>().clone();
        let u = b.column_by_name("user_id").unwrap().as_primitive::<Int64Type>().clone();
        let p = b.column_by_name("percent_grade").unwrap().as_primitive::<Float64Type>().clone();
        let l = b.column_by_name("letter_grade").unwrap().as_string::<i32>().clone();
        for i in 0..b.num_rows() {
            let k = (c.value(i).to_string(), u.value(i));
            assert_eq!(recomputed[&k], (p.value(i), l.value(i).to_string()), "{k:?}: forced compute's grade");
            got.push(k);
        }
    }
    got.sort();
    assert!(!expected.is_empty());
    assert_eq!(got, expected);

    // Subsection rows: never a persisted key, always the forced compute's values.
    let old = persisted(&dir);
    let new = subsection_grades(&full);
    let mut n = 0;
    for b in read_parquet(&bf.join("backfill/grades_persistentsubsectiongrade")) {
        let s = |c: &str| b.column_by_name(c).unwrap().as_string::<i32>().clone();
        let f = |c: &str| b.column_by_name(c).unwrap().as_primitive::<Float64Type>().clone();
        let (course, key) = (s("course_id"), s("usage_key"));
        let user = b.column_by_name("user_id").unwrap().as_primitive::<Int64Type>().clone();
        let first =
            b.column_by_name("first_attempted").unwrap().as_primitive::<TimestampMicrosecondType>().clone();
        let (ea, pa, eg, pg) = (f("earned_all"), f("possible_all"), f("earned_graded"), f("possible_graded"));
        for i in 0..b.num_rows() {
            let k = (course.value(i).to_string(), user.value(i), key.value(i).to_string());
            assert!(!old.contains_key(&k), "{k:?} is persisted already");
            let r = &new[&k];
            let got = (
                ea.value(i),
                pa.value(i),
                eg.value(i),
                pg.value(i),
                first.is_valid(i).then(|| first.value(i)),
            );
            assert_eq!(
                got,
                (r.earned_all, r.possible_all, r.earned_graded, r.possible_graded, r.first_attempted),
                "{k:?}"
            );
            n += 1;
        }
    }
    assert_eq!(n, m["totals"]["readiness"]["subsection_rows_to_insert"].as_u64().unwrap() as usize);
    assert!(n > 0);
    // Every row the recompute writes for a missing key is in the backfill.
    let missing_keys = new.keys().filter(|k| !old.contains_key(*k)).count();
    assert_eq!(n, missing_keys, "the backfill covers every subsection the recompute writes without a row");
}
