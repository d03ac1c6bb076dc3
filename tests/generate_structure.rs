//! `regrade generate --structure URL`: learners, scores and persisted grades generated for the
//! courses of existing course tables, here the Open edX demo course imported with
//! `regrade import olx` (`../shared/fixtures/openedx-demo-course/`; skipped with a notice when
//! absent, a failure with `REGRADE_REQUIRE_FIXTURES=1`).

mod common;

use common::demo_course_export as demo;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

const DEMO_LIBRARY: &str =
    "block-v1:OpenedX+DemoX+DemoCourse+type@library_content+block@34a4d5e71d974c029cbde1956bd7c820";

fn regrade(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_regrade")).args(args).output().expect("run regrade")
}

fn ok(args: &[&str]) {
    let res = regrade(args);
    assert!(
        res.status.success(),
        "regrade {args:?}: {}{}",
        String::from_utf8_lossy(&res.stdout),
        String::from_utf8_lossy(&res.stderr)
    );
}

/// Every row of a table's Parquet files under `root`.
fn table(root: &Path, name: &str) -> Vec<RecordBatch> {
    common::files_under(&root.join(name))
        .keys()
        .filter(|p| p.ends_with(".parquet"))
        .flat_map(|p| {
            let file = std::fs::File::open(root.join(name).join(p)).unwrap();
            ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap().map(Result::unwrap)
        })
        .collect()
}

fn strings(batch: &RecordBatch, column: &str) -> Vec<String> {
    let col = arrow::compute::cast(batch.column_by_name(column).unwrap(), &DataType::Utf8).unwrap();
    let s = col.as_string::<i32>();
    (0..s.len()).map(|i| s.value(i).to_string()).collect()
}

fn ints(batch: &RecordBatch, column: &str) -> Vec<i64> {
    batch.column_by_name(column).unwrap().as_primitive::<Int64Type>().values().to_vec()
}

fn floats(batch: &RecordBatch, column: &str) -> Vec<Option<f64>> {
    let col = batch.column_by_name(column).unwrap().as_primitive::<Float64Type>().clone();
    (0..col.len()).map(|i| col.is_valid(i).then(|| col.value(i))).collect()
}

/// Learners with a studentmodule row without a grade whose `max_grade` is not the block's
/// `max_score`.
fn stale_max_grades(root: &Path) -> BTreeSet<i64> {
    let mut max_score = BTreeMap::new();
    for b in table(root, "course_blocks") {
        max_score.extend(strings(&b, "usage_key").into_iter().zip(floats(&b, "max_score")));
    }
    let mut out = BTreeSet::new();
    for b in table(root, "studentmodule") {
        let keys = strings(&b, "module_state_key");
        let rows = ints(&b, "student_id")
            .into_iter()
            .zip(keys)
            .zip(floats(&b, "grade"))
            .zip(floats(&b, "max_grade"));
        for (((user, key), grade), max) in rows {
            if grade.is_none() && max != max_score.get(&key).copied().flatten() {
                out.insert(user);
            }
        }
    }
    out
}

#[test]
fn demo_course_structure_gets_learners_and_grades() {
    let Some(tgz) = demo() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let path = |name: &str| tmp.path().join(name).display().to_string();
    let (imported, out, again, run) = (path("imported"), path("out"), path("again"), path("run"));
    let tgz = tgz.display().to_string();
    ok(&[
        "import",
        "olx",
        &tgz,
        "--output",
        &imported,
        "--course-version",
        "v1",
        "--published-at",
        "2024-01-01T00:00:00Z",
    ]);
    let generate =
        |to: &str| ok(&["generate", to, "--structure", &imported, "--seed", "1", "--learners", "50", "-q"]);
    generate(&out);
    ok(&["check", &out]);
    ok(&["run", "--input", &out, "--output", &run]);

    // The course tables are copied as they are, and the dataset is deterministic.
    let out_dir = Path::new(&out);
    for t in ["course_blocks", "course_policies"] {
        assert_eq!(
            common::files_under(&Path::new(&imported).join(t)),
            common::files_under(&out_dir.join(t)),
            "{t}"
        );
    }
    generate(&again);
    assert!(
        common::files_under(out_dir) == common::files_under(Path::new(&again)),
        "a second generate is byte-identical"
    );

    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(Path::new(&run).join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["totals"]["learners"], 50, "{manifest:#}");
    assert_eq!(manifest["totals"]["learner_errors"], 0, "{manifest:#}");

    // Learners with a stored selection of the library block see 2 of its 6 problems: the
    // graded subsections' points possible are the demo course's 20, 15 and 14. Not for the
    // learners the generator gave a problem viewed without an answer whose studentmodule
    // `max_grade` is the problem's max score as first shown, not today's (as production data
    // has them): that row's max_grade counts instead.
    let stale = stale_max_grades(out_dir);
    assert!(stale.len() < 25, "few learners with a stale max_grade: {stale:?}");
    let saw: BTreeSet<i64> = table(out_dir, "library_selections")
        .iter()
        .flat_map(|b| {
            let keys = strings(b, "usage_key");
            ints(b, "user_id").into_iter().zip(keys).filter(|(_, k)| k == DEMO_LIBRARY).map(|(u, _)| u)
        })
        .filter(|u| !stale.contains(u))
        .collect();
    assert!(saw.len() >= 20, "most learners have a selection: {}", saw.len());
    let seq = |id: &str| format!("block-v1:OpenedX+DemoX+DemoCourse+type@sequential+block@{id}");
    let expected: BTreeMap<String, f64> = [
        (seq("276a277f5a784f53a7525e28b96e9a1b"), 20.0),
        (seq("e2206f6f2cd449ab85a7aa424fd0fb72"), 15.0),
        (seq("971737e543204551bb34c4ca44e12b86"), 14.0),
    ]
    .into_iter()
    .collect();
    let mut seen: BTreeMap<i64, usize> = BTreeMap::new();
    for b in table(Path::new(&run), "subsection_grades") {
        let possible = b.column_by_name("possible_graded").unwrap().as_primitive::<Float64Type>().clone();
        for ((user, key), i) in ints(&b, "user_id").into_iter().zip(strings(&b, "usage_key")).zip(0..) {
            if let (Some(want), true) = (expected.get(&key), saw.contains(&user)) {
                assert_eq!(possible.value(i), *want, "user {user}, {key}");
                *seen.entry(user).or_default() += 1;
            }
        }
    }
    assert_eq!(seen.len(), saw.len(), "every learner with a selection has subsection rows");
    assert!(seen.values().all(|&n| n == 3), "{seen:?}");

    // Scores and persisted grades were generated for the course.
    let rows = |t: &str| table(out_dir, t).iter().map(|b| b.num_rows()).sum::<usize>();
    for t in
        ["enrollments", "studentmodule", "submissions", "cohort_memberships", "persistent_subsection_grades"]
    {
        assert!(rows(t) > 0, "{t} has rows");
    }
    assert_eq!(rows("enrollments"), 50);
}

#[test]
fn structure_conflicts_with_the_synthetic_course_flags() {
    for flag in [["--courses", "2"], ["--problems-per-course", "5"]] {
        let res =
            regrade(&["generate", "/nonexistent/out", "--structure", "/nonexistent/in", flag[0], flag[1]]);
        assert_eq!(res.status.code(), Some(2), "{flag:?}");
        assert!(String::from_utf8_lossy(&res.stderr).contains("cannot be used with"), "{flag:?}");
    }
}
