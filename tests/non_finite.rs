//! Huge finite scores whose grading is not finite: a weight of 1e308 times an earned 2, two
//! scores of 1e308 summed, a persisted 1e308 over 0.5. Python computes inf and nan there and
//! edX cannot store them; regrade used to write `inf` and `NaN` percents, letter and pass
//! included, with exit 0. Now the course is quarantined in every command (`run`, `run
//! --rescore read`, `backfill`), naming the input row that made the first non-finite value.

#[allow(unused_macros)]
#[macro_use]
mod run_support;

use run_support::*;

const POLICY: &str = r#"{"GRADER": [{"type": "Homework", "min_count": 1, "drop_count": 0, "short_label": "HW", "weight": 1.0}], "GRADE_CUTOFFS": {"Pass": 0.5}}"#;
const T: i64 = COURSE_START + DAY;
const A: &str = "course-v1:Org+A+1";
const B: &str = "course-v1:Org+B+1";

fn course(id: &str, p_weight: Option<f64>) -> Course {
    let mut c = Course::new(id, POLICY);
    c.root(&["ch"]);
    c.chapter("ch", &["s"]);
    c.seq("s", "S", "Homework", &["v"]);
    c.vertical("v", &["p", "q"]);
    c.problem("p", "P", 2.0).weight = p_weight;
    c.problem("q", "Q", 1.0);
    c
}

/// Course A (user 1) with `p`'s weight, and a healthy course B (user 2).
fn two_courses(p_weight: Option<f64>) -> (Dataset, Course) {
    let (a, b) = (course(A, p_weight), course(B, None));
    let mut ds = Dataset::default();
    a.write_to(&mut ds);
    b.write_to(&mut ds);
    users(&mut ds, &[1, 2]);
    enroll(&mut ds, A, 1, "honor", true);
    enroll(&mut ds, B, 2, "honor", true);
    csm(&mut ds, &b, 2, "p", Some(2.0), 2.0, T);
    (ds, a)
}

/// Course A is quarantined by `command` with an error naming every needle; B is written.
fn assert_quarantined(job: &Job, command: &str, args: &[&str], needles: &[&str]) {
    let name = format!("{command}{}", args.join("").replace('-', ""));
    let mut all = vec!["--as-of", AS_OF];
    all.extend_from_slice(args);
    let ran = job.command(command, &name, &all);
    let what = format!("{command} {args:?}");
    assert_eq!(
        ran.output.status.code(),
        Some(1),
        "{what}\nstdout:\n{}\nstderr:\n{}",
        ran.stdout(),
        ran.stderr()
    );
    let m = ran.manifest();
    assert_eq!(m["failed"].as_array().unwrap().len(), 1, "{what}: {}", m["failed"]);
    assert_eq!(m["failed"][0]["course_id"], A);
    let error = m["failed"][0]["error"].as_str().unwrap();
    eprintln!("{what}: {error}");
    for n in needles {
        assert!(error.contains(n), "{what}: error lacks {n:?}: {error}");
    }
    assert_eq!(m["courses"].as_array().unwrap().len(), 1, "{what}");
    assert_eq!(m["courses"][0]["course_id"], B, "{what}");
    assert!(!ran.out.join("course_grades/course_id=course-v1%3AOrg%2BA%2B1").exists(), "{what}");
    assert!(!ran.report_dir(A).exists(), "{what}: no report of A");
    let all_text = std::fs::read_to_string(ran.out.join("manifest.json")).unwrap();
    assert!(!all_text.contains("user1"), "{what}: no usernames");
}

#[test]
fn two_scores_of_1e308_summing_to_infinity_quarantine_the_course_naming_the_row() {
    let (mut ds, a) = two_courses(None);
    csm(&mut ds, &a, 1, "p", Some(1e308), 1e308, T);
    csm(&mut ds, &a, 1, "q", Some(1e308), 1e308, T);
    let job = Job::new(&ds);
    let q = format!("studentmodule row (student_id 1, module_state_key {})", a.key("q"));
    let sum = format!("the earned_all of subsection {} overflows to inf", a.key("s"));
    let needles = ["user_id 1", sum.as_str(), q.as_str(), "studentmodule/part-0.parquet", "grade 1e+308"];
    assert_quarantined(&job, "run", &[], &needles);
    assert_quarantined(&job, "run", &["--rescore", "only-if-higher"], &needles);
    assert_quarantined(&job, "backfill", &[], &needles);
}

#[test]
fn a_block_weight_of_1e308_overflowing_a_score_quarantines_the_course_naming_both_rows() {
    let (mut ds, a) = two_courses(Some(1e308));
    csm(&mut ds, &a, 1, "p", Some(2.0), 1.0, T);
    let job = Job::new(&ds);
    let p = format!("studentmodule row (student_id 1, module_state_key {})", a.key("p"));
    let weight = format!(
        "weighted by 1e+308 (the weight of course_blocks row (usage_key {}, course_version v1)",
        a.key("p")
    );
    let needles = [
        "the weighted score is not finite",
        "inf/1e+308",
        p.as_str(),
        weight.as_str(),
        "course_blocks/part-0.parquet",
    ];
    assert_quarantined(&job, "run", &[], &needles);
    assert_quarantined(&job, "backfill", &[], &needles);
}

#[test]
fn a_persisted_grade_whose_percent_overflows_quarantines_the_course_in_every_command() {
    let (mut ds, a) = two_courses(None);
    persisted_subsection(
        &mut ds,
        &a,
        SubsectionRow {
            id: 5,
            user: 1,
            subsection: "s",
            values: [1e308, 0.5, 1e308, 0.5],
            first_attempted: Some(T),
            records: vec![],
        },
    );
    let job = Job::new(&ds);
    let row = format!("persistent_subsection_grades row (id 5, user_id 1, usage_key {}) in file", a.key("s"));
    let needles = [
        row.as_str(),
        "persistent_subsection_grades/part-0.parquet",
        "earned_graded 1e+308 / possible_graded 0.5",
        "is not finite",
    ];
    assert_quarantined(&job, "run", &[], &needles);
    assert_quarantined(&job, "run", &["--rescore", "read"], &needles);
    assert_quarantined(&job, "backfill", &[], &needles);
}

/// The problem grade report re-scores a persisted row's visible blocks with their stored
/// weights: a stored weight of 1e308 makes the learner's score infinite there.
#[test]
fn a_persisted_visible_blocks_weight_overflowing_the_problem_report_quarantines_the_course() {
    let (mut ds, a) = two_courses(None);
    csm(&mut ds, &a, 1, "p", Some(2.0), 1.0, T);
    let records = vec![
        Record { block: "p", weight: Some(1e308), raw_possible: Some(1.0), graded: true },
        Record { block: "q", weight: Some(1.0), raw_possible: Some(1.0), graded: true },
    ];
    let (_, hash) = visible_blocks(&a, &records);
    persisted_subsection(
        &mut ds,
        &a,
        SubsectionRow {
            id: 5,
            user: 1,
            subsection: "s",
            values: [1.0, 3.0, 1.0, 3.0],
            first_attempted: Some(T),
            records,
        },
    );
    persisted_course_grade(&mut ds, &a, 9, 1, 0.33, "");
    let job = Job::new(&ds);
    let p = format!("studentmodule row (student_id 1, module_state_key {})", a.key("p"));
    let weight = format!("weighted by 1e+308 (the weight of visible_blocks row {hash})");
    let needles = ["problem grade report's score is not finite", p.as_str(), weight.as_str()];
    assert_quarantined(&job, "run", &["--rescore", "read"], &needles);
}

/// Scores far from overflowing grade as before (the checks change nothing on valid data).
#[test]
fn large_finite_scores_still_grade() {
    let (mut ds, a) = two_courses(Some(1e300));
    csm(&mut ds, &a, 1, "p", Some(1e7), 1e7, T);
    let job = Job::new(&ds);
    let ran = job.run("ok", &["--as-of", AS_OF]);
    let rows = read_parquet_rows(&ran.out.join("course_grades"));
    let mine: Vec<_> = rows.iter().filter(|r| r["user_id"] == V::I(1)).collect();
    assert_eq!(mine[0]["percent_grade"], V::F(1.0), "1e300 of 1e300 + 1 possible");
}
