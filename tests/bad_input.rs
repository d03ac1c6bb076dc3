//! Bad input end to end: each case is its own test, run through the real binary on a small
//! hand-built dataset, and checks what the error says (table, file, column, key), the exit
//! code, and what was (not) written. A problem in one course quarantines that course: it is
//! listed in the manifest and the summary, the others are written, and the exit code is 1.
//! Unreadable input stops the run with exit 2 and no manifest.

#[allow(unused_macros)]
#[macro_use]
mod run_support;

use std::path::Path;

use run_support::*;

const POLICY: &str = r#"{"GRADER": [{"type": "Homework", "min_count": 1, "drop_count": 0, "short_label": "HW", "weight": 1.0}], "GRADE_CUTOFFS": {"Pass": 0.5}}"#;
const T: i64 = COURSE_START + DAY;

/// A one-subsection course with two problems.
fn course(id: &str) -> Course {
    let mut c = Course::new(id, POLICY);
    c.root(&["ch"]);
    c.chapter("ch", &["s"]);
    c.seq("s", "S", "Homework", &["v"]);
    c.vertical("v", &["p", "q"]);
    c.problem("p", "P", 2.0);
    c.problem("q", "Q", 1.0);
    c
}

/// Two healthy courses `A` and `B`, one learner each (user 1 in A, user 2 in B).
fn two_courses() -> (Dataset, Course, Course) {
    let (a, b) = (course("course-v1:Org+A+1"), course("course-v1:Org+B+1"));
    let mut ds = Dataset::default();
    a.write_to(&mut ds);
    b.write_to(&mut ds);
    users(&mut ds, &[1, 2]);
    enroll(&mut ds, &a.id, 1, "honor", true);
    enroll(&mut ds, &b.id, 2, "honor", true);
    csm(&mut ds, &a, 1, "p", Some(1.0), 2.0, T);
    csm(&mut ds, &b, 2, "p", Some(2.0), 2.0, T);
    (ds, a, b)
}

fn code(ran: &Ran) -> Option<i32> {
    ran.output.status.code()
}

/// The course failed, named with an error containing every `needle`; the other course ran.
fn assert_quarantined(ran: &Ran, failed: &str, other: &str, needles: &[&str]) {
    assert_eq!(code(ran), Some(1), "stdout:\n{}\nstderr:\n{}", ran.stdout(), ran.stderr());
    let m = ran.manifest();
    assert_eq!(m["failed"].as_array().unwrap().len(), 1, "{}", m["failed"]);
    assert_eq!(m["failed"][0]["course_id"], failed);
    let error = m["failed"][0]["error"].as_str().unwrap();
    eprintln!("quarantined: {error}");
    for n in needles {
        assert!(error.contains(n), "error lacks {n:?}: {error}");
    }
    assert_eq!(m["courses"].as_array().unwrap().len(), 1);
    assert_eq!(m["courses"][0]["course_id"], other);
    assert!(ran.stdout().contains(&format!("FAILED {failed}")), "summary names it: {}", ran.stdout());
    assert!(ran.stderr().contains("courses failed"), "{}", ran.stderr());
    // Nothing of the failed course is written.
    let escaped = failed.replace(':', "%3A").replace('+', "%2B");
    assert!(!ran.out.join(format!("course_grades/course_id={escaped}")).exists());
}

/// Exit 2, no manifest, the message names every `needle`.
fn assert_input_error(ran: &Ran, needles: &[&str]) {
    assert_eq!(code(ran), Some(2), "stdout:\n{}\nstderr:\n{}", ran.stdout(), ran.stderr());
    assert!(!ran.out.join("manifest.json").exists(), "no manifest after bad input");
    let stderr = ran.stderr();
    for line in stderr.lines().filter(|l| l.starts_with("error:") || l.starts_with("  caused by:")) {
        eprintln!("exit 2: {line}");
    }
    for n in needles {
        assert!(stderr.contains(n), "stderr lacks {n:?}:\n{stderr}");
    }
}

fn run(ds: &Dataset, args: &[&str]) -> (Job, Ran) {
    let job = Job::new(ds);
    let mut all = vec!["--as-of", AS_OF];
    all.extend_from_slice(args);
    let ran = job.command("run", "out", &all);
    (job, ran)
}

#[test]
fn a_nan_grade_quarantines_its_course() {
    let (mut ds, a, b) = two_courses();
    csm(&mut ds, &a, 1, "q", Some(f64::NAN), 1.0, T);
    let (_job, ran) = run(&ds, &[]);
    let key = a.key("q");
    assert_quarantined(
        &ran,
        &a.id,
        &b.id,
        &["studentmodule", "grade is NaN", "student_id 1", &key, "part-0.parquet"],
    );
}

#[test]
fn an_infinite_max_grade_quarantines_its_course() {
    let (mut ds, a, b) = two_courses();
    csm(&mut ds, &b, 2, "q", Some(1.0), f64::INFINITY, T);
    let (_job, ran) = run(&ds, &[]);
    assert_quarantined(&ran, &b.id, &a.id, &["studentmodule", "max_grade is inf", "student_id 2"]);
}

/// A finite negative submissions score is edX's to reject: `get_score` fails that learner,
/// who goes to the error CSVs with the row named; the course and the run complete.
#[test]
fn a_negative_submission_score_fails_that_learner_as_edx_does() {
    let (mut ds, a, b) = two_courses();
    users(&mut ds, &[3]);
    enroll(&mut ds, &a.id, 3, "honor", true);
    row!(ds, "submissions", {
        id: 7i64, user_id: 1i64, course_id: &a.id, usage_key: a.key("q"),
        points_earned: -1.0, points_possible: 1.0, created_at: ts(T),
    });
    let (_job, ran) = run(&ds, &[]);
    assert_eq!(code(&ran), Some(0), "stdout:\n{}\nstderr:\n{}", ran.stdout(), ran.stderr());
    let m = ran.manifest();
    assert_eq!(m["failed"].as_array().unwrap().len(), 0, "{}", m["failed"]);
    let courses = m["courses"].as_array().unwrap();
    let ca = courses.iter().find(|c| c["course_id"] == a.id.as_str()).expect("course A completed");
    assert_eq!(ca["learner_errors"], 1, "{ca}");
    assert!(courses.iter().any(|c| c["course_id"] == b.id.as_str()));
    let err = ran.report(&a.id, "Org_A_1", "grade_report_err", AS_OF_STAMP);
    let key = a.key("q");
    for needle in ["1,user1,", "-1/1", "submissions row (id 7, user_id 1", key.as_str(), "part-0.parquet"] {
        assert!(err.contains(needle), "error CSV lacks {needle:?}: {err}");
    }
    // The other learner of the course is graded.
    let report = ran.grade_report(&a.id, "Org_A_1");
    assert!(report.contains("\r\n3,"), "{report}");
    assert!(!report.contains("\r\n1,"), "{report}");
}

/// NaN or infinity cannot come out of MySQL: the export is broken and the course is
/// quarantined, naming the row and file.
#[test]
fn a_nan_submission_score_quarantines_its_course() {
    let (mut ds, a, b) = two_courses();
    row!(ds, "submissions", {
        id: 7i64, user_id: 1i64, course_id: &a.id, usage_key: a.key("q"),
        points_earned: 1.0, points_possible: f64::NAN, created_at: ts(T),
    });
    let (_job, ran) = run(&ds, &[]);
    assert_quarantined(&ran, &a.id, &b.id, &["submissions", "points_possible is NaN", "id 7, user_id 1"]);
}

#[test]
fn earned_above_possible_is_kept_as_edx_keeps_it_and_warned() {
    let (mut ds, a, _) = two_courses();
    csm(&mut ds, &a, 1, "q", Some(3.0), 1.0, T);
    let (_job, ran) = run(&ds, &[]);
    assert_eq!(code(&ran), Some(0), "{}", ran.stderr());
    let m = ran.manifest();
    let w = &m["courses"][0]["warnings"]["earned_above_possible"];
    assert_eq!(w["count"], 1, "{m}");
    assert!(w["examples"][0].as_str().unwrap().contains("student_id 1"), "{w}");
    assert_eq!(m["totals"]["warnings"]["earned_above_possible"], 1);
    assert!(ran.stdout().contains("warning: 1 input rows earned above possible"), "{}", ran.stdout());
    // edX does not clamp: 1/2 + 3/1 of 3 possible.
    let rows = read_parquet_rows(&ran.out.join("subsection_grades"));
    let mine: Vec<_> = rows.iter().filter(|r| r["user_id"] == V::I(1)).collect();
    assert_eq!((&mine[0]["earned_all"], &mine[0]["possible_all"]), (&V::F(4.0), &V::F(3.0)));
}

#[test]
fn scores_for_other_blocks_and_unenrolled_learners_are_ignored_and_counted() {
    let (mut ds, a, _) = two_courses();
    // A block of course B's version recorded under course A, and a learner not enrolled in A.
    row!(ds, "studentmodule", {
        student_id: 1i64, course_id: &a.id, module_state_key: "block-v1:Org+A+1+type@problem+block@gone",
        module_type: "problem", grade: 1.0, max_grade: 1.0, created: ts(T), modified: ts(T),
    });
    csm(&mut ds, &a, 99, "p", Some(1.0), 2.0, T);
    let (_job, ran) = run(&ds, &[]);
    assert_eq!(code(&ran), Some(0), "{}", ran.stderr());
    let m = ran.manifest();
    assert_eq!(m["courses"][0]["ignored_rows"]["studentmodule"], 2, "{}", m["courses"][0]);
}

#[test]
fn malformed_policy_json_quarantines_its_course() {
    let (a, b) = (course("course-v1:Org+A+1"), course("course-v1:Org+B+1"));
    let mut bad = a.clone();
    bad.grading_policy = r#"{"GRADER": [ {"type": "Homework", }"#.to_string();
    let mut ds = Dataset::default();
    bad.write_to(&mut ds);
    b.write_to(&mut ds);
    enroll(&mut ds, &a.id, 1, "honor", true);
    enroll(&mut ds, &b.id, 2, "honor", true);
    let (_job, ran) = run(&ds, &[]);
    assert_quarantined(&ran, &a.id, &b.id, &["course_policies.grading_policy", "version 'v1'"]);
}

#[test]
fn a_policy_edx_rejects_quarantines_its_course() {
    let (a, b) = (course("course-v1:Org+A+1"), course("course-v1:Org+B+1"));
    let mut bad = a.clone();
    // edX's grader_from_conf fails on a min_count that is not a number.
    bad.grading_policy = r#"{"GRADER": [{"type": "Homework", "min_count": "many", "drop_count": 0, "weight": 1.0}], "GRADE_CUTOFFS": {"Pass": 0.5}}"#.to_string();
    let mut ds = Dataset::default();
    bad.write_to(&mut ds);
    b.write_to(&mut ds);
    enroll(&mut ds, &a.id, 1, "honor", true);
    let (_job, ran) = run(&ds, &[]);
    assert_quarantined(&ran, &a.id, &b.id, &["grading_policy", "min_count"]);
}

#[test]
fn a_cycle_in_children_quarantines_its_course() {
    let (a, b) = (course("course-v1:Org+A+1"), course("course-v1:Org+B+1"));
    let mut bad = a.clone();
    // The vertical lists its own subsection as a child.
    bad.blocks.iter_mut().find(|x| x.id == "v").unwrap().children.push("s".to_string());
    let mut ds = Dataset::default();
    bad.write_to(&mut ds);
    b.write_to(&mut ds);
    enroll(&mut ds, &a.id, 1, "honor", true);
    let (_job, ran) = run(&ds, &[]);
    assert_quarantined(&ran, &a.id, &b.id, &["course_blocks", "cycle", &a.key("s")]);
}

#[test]
fn an_unknown_course_version_fails_listing_the_versions_found() {
    let (ds, a, b) = two_courses();
    let (_job, ran) = run(&ds, &["--course-version", "nosuch"]);
    assert_eq!(code(&ran), Some(1));
    let m = ran.manifest();
    assert_eq!(m["failed"].as_array().unwrap().len(), 2);
    for (f, id) in m["failed"].as_array().unwrap().iter().zip([&a.id, &b.id]) {
        assert_eq!(f["course_id"], id.as_str());
        let e = f["error"].as_str().unwrap();
        assert!(e.contains("version 'nosuch'") && e.contains("versions found: v1"), "{e}");
    }
}

#[test]
fn an_unknown_course_id_is_named() {
    let (ds, _, _) = two_courses();
    let (_job, ran) = run(&ds, &["--courses", "course-v1:Org+Nope+1"]);
    assert_eq!(code(&ran), Some(1));
    let e = ran.manifest()["failed"][0]["error"].as_str().unwrap().to_string();
    assert!(e.contains("course-v1:Org+Nope+1") && e.contains("not found in course_blocks"), "{e}");
}

#[test]
fn duplicate_enrollments_quarantine_their_course() {
    let (mut ds, a, b) = two_courses();
    enroll(&mut ds, &a.id, 1, "verified", true);
    let (_job, ran) = run(&ds, &[]);
    assert_quarantined(&ran, &a.id, &b.id, &["enrollments", "two rows for user_id 1"]);
}

#[test]
fn duplicate_studentmodule_rows_quarantine_their_course() {
    let (mut ds, a, b) = two_courses();
    csm(&mut ds, &b, 2, "p", Some(0.0), 2.0, T + DAY);
    let (_job, ran) = run(&ds, &[]);
    let key = b.key("p");
    assert_quarantined(
        &ran,
        &b.id,
        &a.id,
        &["studentmodule", "two rows for (student_id 2, module_state_key", &key],
    );
}

fn replace_file(job: &Job, table: &str, bytes: &[u8]) -> String {
    let path = job.input.join(table).join("part-0.parquet");
    std::fs::write(&path, bytes).unwrap();
    path.display().to_string()
}

#[test]
fn a_corrupt_parquet_file_exits_2_naming_the_file() {
    let (ds, _, _) = two_courses();
    let job = Job::new(&ds);
    let path = replace_file(&job, "studentmodule", b"PAR1 this is not parquet PAR1");
    let ran = job.command("run", "out", &["--as-of", AS_OF]);
    assert_input_error(&ran, &["studentmodule", &path]);
}

#[test]
fn a_truncated_parquet_file_exits_2_naming_the_file() {
    let (ds, _, _) = two_courses();
    let job = Job::new(&ds);
    let file = job.input.join("enrollments/part-0.parquet");
    let bytes = std::fs::read(&file).unwrap();
    let path = replace_file(&job, "enrollments", &bytes[..bytes.len() / 2]);
    let ran = job.command("run", "out", &["--as-of", AS_OF]);
    assert_input_error(&ran, &["enrollments", &path]);
}

#[test]
fn a_missing_required_table_exits_2_naming_it() {
    let (ds, _, _) = two_courses();
    let job = Job::new(&ds);
    std::fs::remove_dir_all(job.input.join("enrollments")).unwrap();
    let ran = job.command("run", "out", &["--as-of", AS_OF]);
    assert_input_error(&ran, &["enrollments: required table not found", "regrade schema enrollments"]);
}

/// Rewrites a table's file with one column dropped or replaced.
fn rewrite(job: &Job, table: &str, edit: impl Fn(&mut Vec<(String, arrow::array::ArrayRef)>)) {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let path = job.input.join(table).join("part-0.parquet");
    let file = std::fs::File::open(&path).unwrap();
    let batch =
        ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap().next().unwrap().unwrap();
    let mut cols: Vec<(String, arrow::array::ArrayRef)> = batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(f, c)| (f.name().clone(), c.clone()))
        .collect();
    edit(&mut cols);
    let batch = arrow::array::RecordBatch::try_from_iter(cols).unwrap();
    let mut w =
        parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), batch.schema(), None)
            .unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

/// Replaces the values of the column `name` (which must exist).
fn set_column(cols: &mut [(String, arrow::array::ArrayRef)], name: &str, values: arrow::array::ArrayRef) {
    let at = cols.iter().position(|(n, _)| n == name).unwrap_or_else(|| panic!("no column {name}"));
    cols[at].1 = values;
}

#[test]
fn a_missing_column_exits_2_naming_file_and_column() {
    let (ds, _, _) = two_courses();
    let job = Job::new(&ds);
    rewrite(&job, "studentmodule", |cols| cols.retain(|(n, _)| n != "max_grade"));
    let ran = job.command("run", "out", &["--as-of", AS_OF]);
    assert_input_error(&ran, &["studentmodule", "max_grade", "part-0.parquet"]);
}

#[test]
fn a_wrong_column_type_exits_2_naming_expected_and_found() {
    let (ds, _, _) = two_courses();
    let job = Job::new(&ds);
    rewrite(&job, "enrollments", |cols| {
        set_column(
            cols,
            "is_active",
            std::sync::Arc::new(arrow::array::StringArray::from(vec!["yes", "yes"])),
        )
    });
    let ran = job.command("run", "out", &["--as-of", AS_OF]);
    assert_input_error(&ran, &["enrollments", "is_active", "part-0.parquet"]);
}

#[test]
fn a_null_in_a_required_column_exits_2_naming_the_row() {
    let (ds, _, _) = two_courses();
    let job = Job::new(&ds);
    rewrite(&job, "enrollments", |cols| {
        set_column(cols, "user_id", std::sync::Arc::new(arrow::array::Int64Array::from(vec![Some(1), None])))
    });
    let ran = job.command("run", "out", &["--as-of", AS_OF]);
    assert_input_error(&ran, &["enrollments", "user_id", "must not be null", "first at row 1 of the file"]);
}

#[test]
fn an_empty_catalogue_exits_2() {
    let ds = Dataset::default();
    let (_job, ran) = run(&ds, &[]);
    assert_input_error(&ran, &["course_blocks", "has no rows"]);
}

#[test]
fn a_course_without_learners_or_graded_content_is_graded_as_empty() {
    let mut ds = Dataset::default();
    let mut ungraded = Course::new("course-v1:Org+U+1", POLICY);
    ungraded.root(&["ch"]);
    ungraded.chapter("ch", &["s"]);
    ungraded.add("sequential", "s", "S", &["h"]);
    ungraded.add("html", "h", "H", &[]);
    ungraded.write_to(&mut ds);
    enroll(&mut ds, &ungraded.id, 1, "honor", true);
    let empty = course("course-v1:Org+E+1");
    empty.write_to(&mut ds);
    let (job, ran) = run(&ds, &[]);
    assert_eq!(code(&ran), Some(0), "{}", ran.stderr());
    let m = ran.manifest();
    let learners: Vec<u64> =
        m["courses"].as_array().unwrap().iter().map(|c| c["learners"].as_u64().unwrap()).collect();
    assert_eq!(learners, vec![0, 1]);
    let grades = read_parquet_rows(&ran.out.join("course_grades"));
    assert_eq!(grades.len(), 1);
    assert_eq!((&grades[0]["percent_grade"], &grades[0]["letter_grade"]), (&V::F(0.0), &V::S(String::new())));
    // As edX grades it, but flagged: a warning names the course without graded content.
    let ungraded_entry =
        m["courses"].as_array().unwrap().iter().find(|c| c["course_id"] == "course-v1:Org+U+1");
    let w = &ungraded_entry.expect("course U")["warnings"]["no_graded_content"];
    assert_eq!(w["count"], 1, "{m}");
    assert!(w["examples"][0].as_str().unwrap().contains("course-v1:Org+U+1"), "{w}");
    assert_eq!(m["totals"]["warnings"]["no_graded_content"], 1, "the graded course has none");
    assert!(ran.stdout().contains("warning: 1 courses with no graded content"), "{}", ran.stdout());
    let backfill = job.command("backfill", "backfill", &["--as-of", AS_OF]);
    assert_eq!(code(&backfill), Some(0), "{}", backfill.stderr());
    assert!(
        backfill.stdout().contains("warning: 1 courses with no graded content"),
        "backfill's summary says it the same way: {}",
        backfill.stdout()
    );
}

#[test]
fn a_misspelt_table_folder_is_refused_and_an_unknown_one_listed() {
    let (ds, _, _) = two_courses();
    let job = Job::new(&ds);
    std::fs::create_dir_all(job.input.join("exports_2026")).unwrap();
    std::fs::write(job.input.join("exports_2026/x.parquet"), b"x").unwrap();
    let ran = job.command("run", "ok", &["--as-of", AS_OF]);
    assert_eq!(code(&ran), Some(0), "{}", ran.stderr());
    assert_eq!(ran.manifest()["ignored_inputs"], serde_json::json!(["exports_2026"]));
    std::fs::create_dir_all(job.input.join("submission")).unwrap();
    std::fs::write(job.input.join("submission/part-0.parquet"), b"x").unwrap();
    let ran = job.command("run", "typo", &["--as-of", AS_OF]);
    assert_input_error(&ran, &["submission", "did you mean 'submissions'"]);
}

#[test]
fn fail_fast_stops_without_a_manifest_and_resume_finishes_the_run() {
    let (mut ds, a, b) = two_courses();
    let c = course("course-v1:Org+C+1");
    c.write_to(&mut ds);
    enroll(&mut ds, &c.id, 3, "honor", true);
    // B is broken; A and C are fine. One course at a time, in id order: A, B, (C never runs).
    let mut broken = Dataset::default();
    csm(&mut broken, &b, 2, "q", Some(f64::NAN), 1.0, T);
    let job = Job::new(&ds);
    let good_csm = std::fs::read(job.input.join("studentmodule/part-0.parquet")).unwrap();
    broken.write(&job.input.join("more"));
    std::fs::rename(
        job.input.join("more/studentmodule/part-0.parquet"),
        job.input.join("studentmodule/part-1.parquet"),
    )
    .unwrap();
    std::fs::remove_dir_all(job.input.join("more")).unwrap();
    let args = ["--as-of", AS_OF, "--courses-in-flight", "1"];
    let ran = job.command("run", "out", &[&args[..], &["--fail-fast"]].concat());
    assert_eq!(code(&ran), Some(1), "{}", ran.stderr());
    assert!(ran.stderr().contains("--fail-fast") && ran.stderr().contains(&b.id), "{}", ran.stderr());
    assert!(!ran.out.join("manifest.json").exists());
    assert!(!ran.out.join("course_grades/course_id=course-v1%3AOrg%2BC%2B1").exists(), "C never ran");
    let a_dir = ran.out.join("course_grades/course_id=course-v1%3AOrg%2BA%2B1/part-00000.parquet");
    let a_before = std::fs::metadata(&a_dir).unwrap().modified().unwrap();

    // Other options are refused, naming them.
    let other = job.command("run", "out", &[&args[..], &["--resume", "--rescore", "retain"]].concat());
    assert_eq!(code(&other), Some(2), "{}", other.stderr());
    assert!(other.stderr().contains("rescore"), "{}", other.stderr());

    // Resumed on the same input (without --fail-fast, which changes no output): A is kept as
    // written, B is quarantined, C computed.
    let resumed = job.command("run", "out", &[&args[..], &["--resume"]].concat());
    assert_eq!(code(&resumed), Some(1), "{}", resumed.stderr());
    assert_eq!(std::fs::metadata(&a_dir).unwrap().modified().unwrap(), a_before, "A was not rewritten");
    let m = resumed.manifest();
    let ids: Vec<&str> =
        m["courses"].as_array().unwrap().iter().map(|c| c["course_id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![a.id.as_str(), c.id.as_str()]);
    assert_eq!(m["failed"][0]["course_id"], b.id.as_str());
    assert!(!resumed.out.join("_journal/_run.json").exists(), "the journal goes once published");

    // Fix the input: the journal cannot vouch for a changed input (tests/run_folder.rs), so
    // --overwrite starts over, and equals a run from scratch, file for file.
    std::fs::remove_file(job.input.join("studentmodule/part-1.parquet")).unwrap();
    assert_eq!(std::fs::read(job.input.join("studentmodule/part-0.parquet")).unwrap(), good_csm);
    let replaced = job.command("run", "out", &[&args[..], &["--overwrite"]].concat());
    assert_eq!(code(&replaced), Some(0), "{}", replaced.stderr());
    let fresh = job.command("run", "fresh", &args);
    assert_eq!(replaced.output_sha1s(), fresh.output_sha1s());

    // Resuming a complete run does nothing.
    let again = job.command("run", "out", &[&args[..], &["--resume"]].concat());
    assert_eq!(code(&again), Some(0));
    assert!(again.stdout().contains("nothing to resume"), "{}", again.stdout());
}

#[test]
fn outputs_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let (ds, _, _) = two_courses();
    let (_job, ran) = run(&ds, &[]);
    assert_eq!(code(&ran), Some(0));
    let mut seen = 0;
    let mut stack = vec![ran.out.clone()];
    while let Some(p) = stack.pop() {
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        if p.is_dir() {
            assert_eq!(mode, 0o700, "{}", p.display());
            stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else {
            assert_eq!(mode, 0o600, "{}", p.display());
            seen += 1;
        }
    }
    assert!(seen > 5);
}

#[test]
fn hostile_course_ids_stay_inside_the_output_folder() {
    let ids = ["../../escape", "a/b\\c", "x\ny\t z", "course-v1:Ünï+%2F+..", ".", "..", ""];
    let mut ds = Dataset::default();
    for (i, id) in ids.iter().enumerate() {
        let mut c = course("course-v1:Org+H+1");
        c.id = id.to_string();
        // Usage keys of these courses are built from the id; keep them unique per course.
        for b in c.blocks.iter_mut() {
            b.id = format!("{}{i}", b.id);
        }
        for b in c.blocks.iter_mut() {
            b.children = b.children.iter().map(|ch| format!("{ch}{i}")).collect();
        }
        write_hostile(&c, &mut ds, i as i64);
    }
    let job = Job::new(&ds);
    for command in ["run", "backfill"] {
        let ran = job.command(command, command, &["--as-of", AS_OF]);
        // The blank id is quarantined; every other one is written.
        assert_eq!(code(&ran), Some(1), "{command}: {}", ran.stderr());
        let m = ran.manifest();
        assert_eq!(m["failed"][0]["course_id"], "");
        assert!(m["failed"][0]["error"].as_str().unwrap().contains("blank course_id"));
        assert_eq!(m["courses"].as_array().unwrap().len(), ids.len() - 1, "{command}");
        // Every file is under the output folder, and every manifest path points at it.
        let root = ran.out.canonicalize().unwrap();
        for f in m["outputs"].as_array().unwrap() {
            let p = ran.out.join(f["path"].as_str().unwrap());
            let real = p.canonicalize().unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            assert!(real.starts_with(&root), "{command}: {} escapes", real.display());
        }
        assert!(!job.input.parent().unwrap().join("escape").exists());
        assert!(!Path::new("escape").exists());
    }
}

/// A course whose usage keys do not depend on its (hostile) id.
fn write_hostile(c: &Course, ds: &mut Dataset, n: i64) {
    let key = |b: &str| format!("block-v1:Org+H{n}+1+type@x+block@{b}");
    for b in &c.blocks {
        let children: Vec<String> = b.children.iter().map(|x| key(x)).collect();
        let children: Vec<&str> = children.iter().map(String::as_str).collect();
        row!(ds, "course_blocks", {
            course_id: &c.id, course_version: &c.version, published_at: ts(COURSE_START - DAY),
            usage_key: key(&b.id), block_type: &b.block_type, display_name: b.display_name.clone(),
            children: list(&children), graded: b.graded, format: b.format.clone(), weight: b.weight,
            max_score: b.max_score, has_score: b.has_score, subtree_edited_on: ts(COURSE_START - DAY),
        });
    }
    row!(ds, "course_policies", {
        course_id: &c.id, course_version: &c.version, grading_policy: &c.grading_policy,
        course_start: ts(COURSE_START), course_modes: list(&["honor"]),
    });
    enroll(ds, &c.id, 10 + n, "honor", true);
    row!(ds, "studentmodule", {
        student_id: 10 + n, course_id: &c.id, module_state_key: key(&format!("p{n}")), module_type: "problem",
        grade: 1.0, max_grade: 2.0, created: ts(T), modified: ts(T),
    });
    users(ds, &[10 + n]);
}

#[test]
fn no_usernames_or_emails_in_logs() {
    let (mut ds, a, _) = two_courses();
    // A learner edX would fail (an invalid submission) and a warning: the paths that log most.
    csm(&mut ds, &a, 1, "q", Some(3.0), 1.0, T);
    let job = Job::new(&ds);
    for command in ["run", "backfill"] {
        let ran = job.command(command, command, &["--as-of", AS_OF, "-vv", "--log-format", "json"]);
        assert_eq!(code(&ran), Some(0), "{}", ran.stderr());
        let logs = ran.stderr();
        assert!(logs.contains("course_id"), "logs were written: {logs}");
        for id in [1, 2] {
            assert!(!logs.contains(&format!("user{id}@example.com")), "{command}: an email in the logs");
            assert!(!logs.contains(&format!("\"user{id}\"")), "{command}: a username in the logs");
        }
    }
}

/// A crash at each stage of a run leaves no manifest; `--resume` then finishes the run with
/// the same files, byte for byte, as an uninterrupted one.
#[test]
fn a_crash_anywhere_leaves_no_manifest_and_resume_gives_the_same_outputs() {
    let (mut ds, _, _) = two_courses();
    for n in 3..6 {
        let c = course(&format!("course-v1:Org+X{n}+1"));
        c.write_to(&mut ds);
        enroll(&mut ds, &c.id, n, "honor", true);
        csm(&mut ds, &c, n, "q", Some(1.0), 1.0, T);
    }
    let job = Job::new(&ds);
    let args = ["--as-of", AS_OF, "--courses-in-flight", "1"];
    let fresh = job.command("run", "fresh", &args);
    assert_eq!(code(&fresh), Some(0));
    for (var, n) in [
        ("REGRADE_TEST_ABORT_BEFORE_JOURNAL", "1"),
        ("REGRADE_TEST_ABORT_AFTER_JOURNAL", "3"),
        ("REGRADE_TEST_ABORT_BEFORE_MANIFEST", "1"),
    ] {
        let name = format!("crash-{var}");
        let out = job.output.join(&name);
        let crashed = std::process::Command::new(env!("CARGO_BIN_EXE_regrade"))
            .args(["run", "--input", job.input.to_str().unwrap(), "--output", out.to_str().unwrap()])
            .args(args)
            .env(var, n)
            .output()
            .unwrap();
        assert!(!crashed.status.success(), "{var}: the process was meant to abort");
        assert!(!out.join("manifest.json").exists(), "{var}: a crashed run has no manifest");
        let resumed = job.command("run", &name, &[&args[..], &["--resume"]].concat());
        assert_eq!(code(&resumed), Some(0), "{var}: {}", resumed.stderr());
        assert_eq!(resumed.output_sha1s(), fresh.output_sha1s(), "{var}");
        let kept = match var {
            "REGRADE_TEST_ABORT_BEFORE_JOURNAL" => "courses_kept=0",
            "REGRADE_TEST_ABORT_AFTER_JOURNAL" => "courses_kept=3",
            _ => "courses_kept=5",
        };
        assert!(resumed.stderr().contains(kept), "{var}: {}", resumed.stderr());
    }
}

#[test]
fn a_nan_persisted_grade_quarantines_its_course() {
    let (mut ds, a, b) = two_courses();
    row!(ds, "persistent_subsection_grades", {
        id: 5i64, user_id: 1i64, course_id: &a.id, usage_key: a.key("s"), course_version: "v1",
        earned_all: f64::NAN, possible_all: 3.0, earned_graded: 1.0, possible_graded: 3.0,
        visible_blocks_hash: "h", created: ts(T), modified: ts(T),
    });
    let (_job, ran) = run(&ds, &[]);
    assert_quarantined(
        &ran,
        &a.id,
        &b.id,
        &["persistent_subsection_grades", "earned_all is NaN", "id 5, user_id 1", &a.key("s")],
    );
}

#[test]
fn a_negative_override_exits_2_naming_the_grade_id() {
    let (mut ds, _, _) = two_courses();
    row!(ds, "subsection_grade_overrides", {
        grade_id: 42i64, earned_graded_override: -2.0, created: ts(T), modified: ts(T),
    });
    let (_job, ran) = run(&ds, &[]);
    assert_input_error(&ran, &["subsection_grade_overrides", "grade_id 42", "earned_graded_override is -2"]);
}

/// Two `users` rows for one id: which name and email the reports show would depend on row
/// order. The courses the user is enrolled in are quarantined as for any duplicate key, the
/// others written; the error names the id and the file, never the names or emails.
#[test]
fn duplicate_user_ids_quarantine_the_courses_they_are_enrolled_in() {
    let (mut ds, a, b) = two_courses();
    row!(ds, "users", { id: 1i64, username: "someone_else", email: "someone@example.com" });
    let (_job, ran) = run(&ds, &[]);
    assert_quarantined(
        &ran,
        &a.id,
        &b.id,
        &["users has two rows for id 1", "part-0.parquet", "de-duplicate"],
    );
    let error = ran.manifest()["failed"][0]["error"].as_str().unwrap().to_string();
    for personal in ["user1", "someone", "example.com"] {
        assert!(!error.contains(personal), "no names or emails in the error: {error}");
    }
    assert!(ran.report_dir(&b.id).exists(), "B's reports are written");
}
