//! The waffle switch `grades.assume_zero_grade_if_absent`: what a learner's course grade reads as
//! before and after it is turned on (`regrade::grade::absent`), on hand-worked cases.

mod common;

use common::*;
use regrade::grade::absent::{displayed_course_grade, switch_impact, Displayed};
use regrade::grade::compat::Compat;
use regrade::grade::graders::Scratch;
use regrade::grade::learner::ViewPlan;
use regrade::grade::policy::GradingPolicy;
use regrade::grade::subsection::{Override, PersistedValues};
use regrade::model::structure::CourseStructure;

const NOW: i64 = 1_700_000_000_000_000;

fn newest() -> Compat {
    Compat::newest()
}

/// Two homework subsections of one 1-point problem each, plus an ungraded one; HW weight 1,
/// min_count 2, pass at 50%.
fn course() -> (CourseStructure, GradingPolicy) {
    let rows = vec![
        node("course", "course", &["ch"]),
        node("ch", "chapter", &["s1", "s2", "s3"]),
        seq("s1", "One", "Homework", &["p1"]),
        seq("s2", "Two", "Homework", &["p2"]),
        node("s3", "sequential", &["p3"]),
        problem("p1", 1.0),
        problem("p2", 1.0),
        problem("p3", 1.0),
    ];
    let policy = GradingPolicy::parse(
        r#"{"GRADER": [{"type": "Homework", "min_count": 2, "drop_count": 0, "short_label": "HW", "weight": 1.0}],
            "GRADE_CUTOFFS": {"Pass": 0.5}}"#,
    )
    .unwrap();
    (build(rows), policy)
}

fn row(earned: f64, possible: f64) -> PersistedValues {
    PersistedValues {
        earned_all: earned,
        possible_all: possible,
        earned_graded: earned,
        possible_graded: possible,
        first_attempted: Some(NOW),
    }
}

fn shown(s: &CourseStructure, p: &GradingPolicy, d: &Data, has_row: bool, zero: bool) -> Displayed {
    let plan = ViewPlan::new(s, &s.view(NOW, |_| None));
    displayed_course_grade(s, &plan, p, &newest(), d, has_row, zero, &mut Scratch::default()).unwrap()
}

#[test]
fn no_rows_at_all_computed_while_off_zero_once_on() {
    let (s, p) = course();
    let mut d = Data::default();
    d.csm.insert(idx(&s, "p1"), csm(1.0, 1.0, NOW));
    // Off: both subsections computed, (1 + 0) / 2 = 50% -> Pass.
    let off = shown(&s, &p, &d, false, false);
    assert_eq!((off.percent, off.letter_grade.as_deref(), off.passed), (0.5, Some("Pass"), true));
    // On, no course row: ZeroCourseGrade whatever the scores.
    assert_eq!(shown(&s, &p, &d, false, true), Displayed::zero());
    let plan = ViewPlan::new(&s, &s.view(NOW, |_| None));
    let impact = switch_impact(&s, &plan, &p, &newest(), &d, false, &mut Scratch::default()).unwrap();
    assert!(impact.grade_changes() && impact.loses_pass());
}

#[test]
fn a_missing_subsection_row_reads_as_zero_once_on() {
    let (s, p) = course();
    let mut d = Data::default();
    d.persisted.insert(idx(&s, "s1"), (row(1.0, 1.0), None));
    // s2 has no row but a full score in CSM.
    d.csm.insert(idx(&s, "p2"), csm(1.0, 1.0, NOW));
    let off = shown(&s, &p, &d, true, false);
    assert_eq!((off.percent, off.passed), (1.0, true));
    // On: s2 is a zero grade (0 / 1), so (1 + 0) / 2 = 50%: still a pass, lower percent.
    let on = shown(&s, &p, &d, true, true);
    assert_eq!((on.percent, on.letter_grade.as_deref(), on.passed), (0.5, Some("Pass"), true));
    let plan = ViewPlan::new(&s, &s.view(NOW, |_| None));
    let impact = switch_impact(&s, &plan, &p, &newest(), &d, true, &mut Scratch::default()).unwrap();
    assert!(impact.grade_changes());
    assert!(!impact.loses_pass());
}

#[test]
fn persisted_rows_and_overrides_are_read_the_same_on_both_sides() {
    let (s, p) = course();
    let mut d = Data::default();
    let ov = Override { earned_graded: Some(0.0), ..Override::default() };
    d.persisted.insert(idx(&s, "s1"), (row(1.0, 1.0), Some(ov)));
    d.persisted.insert(idx(&s, "s2"), (row(1.0, 1.0), None));
    d.persisted.insert(idx(&s, "s3"), (row(0.0, 1.0), None));
    // The CSM disagrees with the rows: rows win on read, on both sides.
    d.csm.insert(idx(&s, "p1"), csm(1.0, 1.0, NOW));
    let off = shown(&s, &p, &d, true, false);
    let on = shown(&s, &p, &d, true, true);
    assert_eq!(off, on);
    assert_eq!((off.percent, off.passed), (0.5, true), "the override's 0 counts: (0 + 1) / 2");
}

#[test]
fn an_unattempted_missing_subsection_changes_nothing() {
    let (s, p) = course();
    let mut d = Data::default();
    d.persisted.insert(idx(&s, "s1"), (row(1.0, 1.0), None));
    // s2 and s3 have no row and no score: computed 0/1 and zero 0/1 read the same.
    let plan = ViewPlan::new(&s, &s.view(NOW, |_| None));
    let impact = switch_impact(&s, &plan, &p, &newest(), &d, true, &mut Scratch::default()).unwrap();
    assert!(!impact.grade_changes(), "{impact:?}");
    assert_eq!(impact.before.percent, 0.5);
}
