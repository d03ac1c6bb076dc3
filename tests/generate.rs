//! The synthetic dataset: complete (every input table, valid against its schema, non-empty),
//! plausible, and deterministic (same seed -> same bytes; another seed -> different data).

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int64Type};
use regrade::generate::{self, Options};
use regrade::read::read_table;
use regrade::{schema, store};

fn opts(seed: u64) -> Options {
    Options { seed, courses: 3, learners: 50, problems_per_course: 12 }
}

async fn generate_into(dir: &Path, seed: u64) -> generate::Summary {
    let loc = store::open_output(dir.to_str().expect("utf8")).expect("open");
    generate::generate(&loc, &opts(seed), false, false).await.expect("generate")
}

/// Relative path -> bytes of every file under `dir`.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("ls") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).expect("rel").to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).expect("read"));
            }
        }
    }
    out
}

fn total_rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(|b| b.num_rows()).sum()
}

#[tokio::test]
async fn every_table_is_written_valid_and_non_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    let summary = generate_into(dir.path(), 1).await;
    let loc = store::open(dir.path().to_str().expect("utf8")).expect("open");
    let mut tables = BTreeMap::new();
    // `import mysql`'s own tables are not generated: course_policies carries their facts.
    let generated =
        || schema::inputs().filter(|s| !["course_versions", "course_settings"].contains(&s.table.as_str()));
    for s in generated() {
        // read_table checks every file against the schema, including nulls.
        let batches = read_table(&loc, &s.table, &[], None).await.expect("read back");
        let rows = total_rows(&batches);
        assert!(rows > 0, "{} is empty", s.table);
        assert_eq!(summary.tables[&s.table].rows, rows, "{}", s.table);
        tables.insert(s.table.clone(), batches);
    }
    assert_eq!(summary.tables.len(), generated().count());

    // Plausibility: earned <= possible in persisted grades, grades within [0, max_grade],
    // created <= modified, overrides point at existing grade ids.
    let mut grade_ids = HashSet::new();
    for b in &tables["persistent_subsection_grades"] {
        let col = |n: &str| b.column_by_name(n).expect(n).as_primitive::<Float64Type>().clone();
        let (ea, pa, eg, pg) =
            (col("earned_all"), col("possible_all"), col("earned_graded"), col("possible_graded"));
        for i in 0..b.num_rows() {
            assert!(ea.value(i) <= pa.value(i) + 1e-9 && eg.value(i) <= pg.value(i) + 1e-9);
        }
        grade_ids
            .extend(b.column_by_name("id").expect("id").as_primitive::<Int64Type>().values().iter().copied());
    }
    for b in &tables["subsection_grade_overrides"] {
        for id in b.column(0).as_primitive::<Int64Type>().values() {
            assert!(grade_ids.contains(id), "override of unknown grade {id}");
        }
    }
    for b in &tables["studentmodule"] {
        let grade = b.column_by_name("grade").expect("grade").as_primitive::<Float64Type>();
        let max = b.column_by_name("max_grade").expect("max").as_primitive::<Float64Type>();
        let created = b
            .column_by_name("created")
            .expect("c")
            .as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
        let modified = b
            .column_by_name("modified")
            .expect("m")
            .as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
        for i in 0..b.num_rows() {
            if grade.is_valid(i) {
                assert!(grade.value(i) >= 0.0 && grade.value(i) <= max.value(i));
            }
            assert!(created.value(i) <= modified.value(i));
        }
    }
    // Course shape: several courses of different sizes, several versions somewhere, every
    // block type of the contract's examples, and the special cases.
    let enrolled: BTreeMap<String, usize> = tables["enrollments"].iter().fold(BTreeMap::new(), |mut m, b| {
        for c in b.column_by_name("course_id").expect("c").as_string::<i32>().iter().flatten() {
            *m.entry(c.to_string()).or_default() += 1;
        }
        m
    });
    assert_eq!(enrolled.len(), 3);
    let sizes: HashSet<usize> = enrolled.values().copied().collect();
    assert!(sizes.len() > 1, "course sizes differ: {enrolled:?}");
    let mut types = HashSet::new();
    let mut group_access = 0;
    let mut versions = HashSet::new();
    for b in &tables["course_blocks"] {
        types.extend(
            b.column_by_name("block_type")
                .expect("t")
                .as_string::<i32>()
                .iter()
                .flatten()
                .map(str::to_string),
        );
        group_access += b.column_by_name("group_access").expect("g").len()
            - b.column_by_name("group_access").expect("g").null_count();
        versions.extend(
            b.column_by_name("course_version")
                .expect("v")
                .as_string::<i32>()
                .iter()
                .flatten()
                .map(str::to_string),
        );
    }
    for t in ["course", "chapter", "sequential", "vertical", "problem", "openassessment", "split_test"] {
        assert!(types.contains(t), "no {t} block: {types:?}");
    }
    assert!(group_access > 0);
    assert!(versions.iter().all(|v| v.len() == 24 && v.bytes().all(|b| b.is_ascii_hexdigit())));
}

/// Multi-threaded, so courses are generated in parallel as in the binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_seed_same_bytes_other_seed_differs() {
    let (a, b, c) =
        (tempfile::tempdir().expect("a"), tempfile::tempdir().expect("b"), tempfile::tempdir().expect("c"));
    generate_into(a.path(), 7).await;
    generate_into(b.path(), 7).await;
    generate_into(c.path(), 8).await;
    let (fa, fb, fc) = (files(a.path()), files(b.path()), files(c.path()));
    assert!(fa.len() >= 16);
    assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
    for (path, bytes) in &fa {
        assert!(fb[path] == *bytes, "{path} differs between two runs with the same seed");
    }
    let differing = fa.iter().filter(|(p, bytes)| fc.get(*p) != Some(*bytes)).count();
    assert!(differing > fa.len() / 2, "another seed changes most files ({differing} of {})", fa.len());
}

#[tokio::test]
async fn refuses_to_mix_with_an_existing_dataset_unless_overwrite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = dir.path().to_str().expect("utf8");
    let loc = store::open_output(url).expect("open");
    generate::generate(&loc, &opts(1), false, false).await.expect("first");
    let err = generate::generate(&loc, &opts(1), false, false).await.expect_err("second");
    assert!(err.to_string().contains("--overwrite"), "{err}");
    let before = files(dir.path());
    generate::generate(&loc, &opts(1), true, false).await.expect("overwrite");
    assert_eq!(files(dir.path()), before);
}

#[tokio::test]
async fn memory_store_dataset_reads_back() {
    let loc = store::open_output("memory://generate-test/data").expect("open");
    let summary = generate::generate(&loc, &opts(3), false, false).await.expect("generate");
    let sm = read_table(&loc, "studentmodule", &["student_id", "grade"], None).await.expect("read");
    assert_eq!(total_rows(&sm), summary.tables["studentmodule"].rows);
}

/// The persisted grades are computed by the grading core, so they hold edX's invariants:
/// every row's visible blocks exist and hash to their key, course percents are whole
/// percentages whose letter follows the version's cutoffs, and rows name known versions.
#[tokio::test]
async fn persisted_grades_hold_edx_invariants() {
    use regrade::grade::hash::sha1_base64;
    use regrade::grade::policy::GradingPolicy;
    use regrade::load::catalog::course_policies;
    use regrade::read::batch::Columns;

    let dir = tempfile::tempdir().expect("tempdir");
    generate_into(dir.path(), 7).await;
    let loc = store::open(dir.path().to_str().expect("utf8")).expect("open");
    let read = |t: &'static str| {
        let loc = &loc;
        async move { read_table(loc, t, &[], None).await.expect(t) }
    };

    let vb = read("visible_blocks").await;
    let mut hashes = HashSet::new();
    for b in &vb {
        let c = Columns::new("visible_blocks", b);
        let (hashed, json) = (c.str_at("hashed").unwrap(), c.str_at("blocks_json").unwrap());
        for i in 0..c.len() {
            assert_eq!(sha1_base64(json(i)), hashed(i), "visible_blocks row {i}");
            hashes.insert(hashed(i).to_string());
        }
    }

    let policies = course_policies(&read("course_policies").await).unwrap();
    let versions: HashSet<(String, String)> =
        policies.iter().map(|p| (p.course_id.clone(), p.course_version.clone())).collect();

    let psg = read("persistent_subsection_grades").await;
    let mut ids = HashSet::new();
    let mut attempted = 0;
    for b in &psg {
        let c = Columns::new("persistent_subsection_grades", b);
        let hash = c.str_at("visible_blocks_hash").unwrap();
        let course = c.str_at("course_id").unwrap();
        let version = c.str_at("course_version").unwrap();
        let first = c.ts_at("first_attempted").unwrap();
        let id = c.i64_at("id").unwrap();
        for i in 0..c.len() {
            assert!(hashes.contains(hash(i)), "row {i}: visible blocks {} not stored", hash(i));
            assert!(versions.contains(&(course(i).to_string(), version(i).to_string())), "unknown version");
            attempted += first(i).is_some() as usize;
            assert!(ids.insert(id(i).unwrap()), "duplicate grade id");
        }
    }
    assert!(attempted > 0 && attempted < total_rows(&psg), "a mix of attempted and never-attempted rows");

    let pcg = read("persistent_course_grades").await;
    let mut graded_letters = 0;
    for b in &pcg {
        let c = Columns::new("persistent_course_grades", b);
        let (course, version) = (c.str_at("course_id").unwrap(), c.str_at("course_version").unwrap());
        let (percent, letter) = (c.f64_at("percent_grade").unwrap(), c.str_at("letter_grade").unwrap());
        let hash = c.str_at("grading_policy_hash").unwrap();
        let passed_at = c.ts_at("passed_timestamp").unwrap();
        for i in 0..c.len() {
            let p = percent(i).unwrap();
            assert_eq!((p * 100.0).round() / 100.0, p, "whole percentage");
            let row =
                policies.iter().find(|r| r.course_id == course(i) && r.course_version == version(i)).unwrap();
            let policy = GradingPolicy::parse(&row.grading_policy).unwrap();
            assert_eq!(policy.hash, hash(i));
            assert_eq!(policy.letter_grade(p).unwrap_or(""), letter(i));
            assert_eq!(policy.passed(p) == Some(true), passed_at(i).is_some());
            graded_letters += !letter(i).is_empty() as usize;
        }
    }
    assert!(graded_letters > 0, "some learners pass");

    let overrides = read("subsection_grade_overrides").await;
    for b in &overrides {
        let c = Columns::new("subsection_grade_overrides", b);
        let grade_id = c.i64_at("grade_id").unwrap();
        for i in 0..c.len() {
            assert!(ids.contains(&grade_id(i).unwrap()), "override of a missing grade");
        }
    }
}
