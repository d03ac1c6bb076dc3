//! Randomized library content through the binary: `library_selections` and the optional
//! `max_count` column of `course_blocks` reach the grades of `run` and `backfill`; learners
//! without a stored selection are counted in the manifest; a `course_blocks` file without the
//! `max_count` column is read as if it were null (every child).

#[allow(unused_macros)]
#[macro_use]
mod run_support;

use std::fs;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::{Field, Schema};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use run_support::*;

const POLICY: &str = r#"{"GRADER": [{"type": "Homework", "min_count": 1, "drop_count": 0, "short_label": "HW", "weight": 1.0}], "GRADE_CUTOFFS": {"Pass": 0.5}}"#;
const CID: &str = "course-v1:Org+L+1";
const KIDS: [&str; 6] = ["l0", "l1", "l2", "l3", "l4", "l5"];

/// One subsection: a library of six problems (max scores 1, 2, 4, 8, 16, 32) showing two.
/// Learner 1 selected l3 then l0 and scored 8/8 on l3; learner 2 has no selection.
fn dataset() -> (Dataset, Course) {
    let mut c = Course::new(CID, POLICY);
    c.root(&["ch"]);
    c.chapter("ch", &["s"]);
    c.seq("s", "S", "Homework", &["v"]);
    c.vertical("v", &["lib"]);
    c.add("library_content", "lib", "Randomized", &KIDS).max_count = Some(2);
    for (i, k) in KIDS.iter().enumerate() {
        c.problem(k, k, f64::from(1u32 << i));
    }
    let mut ds = Dataset::default();
    c.write_to(&mut ds);
    users(&mut ds, &[1, 2]);
    enroll(&mut ds, CID, 1, "honor", true);
    enroll(&mut ds, CID, 2, "honor", true);
    csm(&mut ds, &c, 1, "l3", Some(8.0), 8.0, COURSE_START + DAY);
    let selected = [c.key("l3"), c.key("l0")];
    let selected: Vec<&str> = selected.iter().map(String::as_str).collect();
    row!(ds, "library_selections", { user_id: 1i64, course_id: CID, usage_key: c.key("lib"), selected: list(&selected) });
    (ds, c)
}

/// (user id, possible_all, earned_all) of the subsection rows of a run.
fn possible(out: &Path) -> Vec<(i64, f64, f64)> {
    let mut rows: Vec<(i64, f64, f64)> = read_parquet_rows(&out.join("subsection_grades"))
        .into_iter()
        .map(|r| match (&r["user_id"], &r["possible_all"], &r["earned_all"]) {
            (V::I(u), V::F(p), V::F(e)) => (*u, *p, *e),
            other => panic!("unexpected row {other:?}"),
        })
        .collect();
    rows.sort_by_key(|r| r.0);
    rows
}

#[test]
fn selections_reach_the_grades_and_missing_ones_are_counted() {
    let (ds, c) = dataset();
    let job = Job::new(&ds);
    let ran = job.run("run", &["--as-of", AS_OF, "-q"]);
    // Learner 1: l3 and l0 (8 + 1); learner 2: the first two children (1 + 2).
    assert_eq!(possible(&ran.out), [(1, 9.0, 8.0), (2, 3.0, 0.0)]);
    let manifest = ran.manifest();
    let w = &manifest["courses"][0]["warnings"]["library_content_without_selection"];
    assert_eq!(w["count"], 1, "{manifest}");
    assert_eq!(w["examples"][0], format!("user_id 2, usage_key {}", c.key("lib")));
    assert!(manifest["courses"][0]["warnings"].get("library_content_selection_changed").is_none());
    // The problem grade report lists every library problem, as edX's (collected structure).
    let report = ran.problem_report(CID, "Org_L_1");
    assert!(report.contains("l5"), "{report}");

    // backfill grades the same way.
    let bf = job.backfill("backfill", &["--as-of", AS_OF, "-q"]);
    let rows = read_parquet_rows(&bf.out.join("backfill/grades_persistentsubsectiongrade"));
    let mut got: Vec<(V, V)> =
        rows.iter().map(|r| (r["user_id"].clone(), r["possible_all"].clone())).collect();
    got.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    assert_eq!(got, [(V::I(1), V::F(9.0)), (V::I(2), V::F(3.0))]);
}

#[test]
fn a_course_blocks_file_without_max_count_reads_as_every_child() {
    let (ds, _) = dataset();
    let job = Job::new(&ds);
    let path = job.input.join("course_blocks").join("part-0.parquet");
    let batch = ParquetRecordBatchReaderBuilder::try_new(fs::File::open(&path).unwrap())
        .unwrap()
        .build()
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let keep: Vec<(Field, ArrayRef)> = batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .filter(|(f, _)| f.name() != "max_count")
        .map(|(f, a)| (f.as_ref().clone(), a.clone()))
        .collect();
    let schema = Arc::new(Schema::new(keep.iter().map(|(f, _)| f.clone()).collect::<Vec<_>>()));
    let batch = RecordBatch::try_new(schema, keep.into_iter().map(|(_, a)| a).collect()).unwrap();
    let mut w = ArrowWriter::try_new(fs::File::create(&path).unwrap(), batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();

    let check = regrade("check", &[job.input.to_str().unwrap()]);
    assert_eq!(check.code, Some(0), "{}{}", check.stdout, check.stderr);
    let ran = job.run("run", &["--as-of", AS_OF, "-q"]);
    // Every child: learner 1's stored pair is filled up with the other four (a change edX
    // makes at random, counted), learner 2 gets all six.
    assert_eq!(possible(&ran.out), [(1, 63.0, 8.0), (2, 63.0, 0.0)]);
    let warnings = &ran.manifest()["courses"][0]["warnings"];
    assert_eq!(warnings["library_content_selection_changed"]["count"], 1, "{warnings}");
    assert_eq!(warnings["library_content_without_selection"]["count"], 1, "{warnings}");
}
