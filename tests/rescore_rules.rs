//! The rescoring policies as edX persists them (issue 13), each rule on a hand-built case
//! whose persisted rows and overrides are constructed here, and a property over random
//! learners: the course grade of every policy equals the grader applied to the subsection
//! grades exactly as edX reads them back after the run's writes.
//!
//! The rules are edX's (`lms/djangoapps/grades/subsection_grade_factory.py`,
//! `subsection_grade.py`, `course_grade.py`; spec §4.2, §4.4, §5.5, §10):
//!
//! 1. only-if-higher compares the new graded total with the persisted row *as read*, its
//!    override applied (`ReadSubsectionGrade`);
//! 2. after a write, a row with an override is re-read (`update_or_create_model`): totals
//!    from the override, `first_attempted` from the stored (set-once) row;
//! 3. a kept row is the row as it is (end to end in `tests/run_pipeline.rs`);
//! 4. the course grade after only-if-higher or retain reads every subsection back as stored,
//!    and a subsection without a row as a `ZeroSubsectionGrade` (content possibles);
//! 5. before Olive with `grades.assume_zero_grade_if_absent` off, a missing row is computed.

mod common;

use common::*;
use proptest::prelude::*;
use regrade::grade::compat::Compat;
use regrade::grade::course::{self, GradedSubsection};
use regrade::grade::graders::Scratch;
use regrade::grade::learner::{
    grade_learner, LearnerGrade, Rescore, Rules, Source, SubsectionResult, ViewPlan,
};
use regrade::grade::policy::GradingPolicy;
use regrade::grade::scores::{get_score, ContentScore, CsmScore};
use regrade::grade::subsection::{Override, PersistedValues, SubsectionGrade};
use regrade::model::structure::CourseStructure;

const T1: i64 = 1_700_000_000_000_000;
const T2: i64 = T1 + 86_400_000_000;
const NOW: i64 = T2 + 86_400_000_000;

/// Homework s1 (p1, 1 point), s2 (p2, 2 points), s3 (p3 graded 1 point and q3 ungraded);
/// min_count 1 so that a subsection the grader cannot see changes the average.
fn course() -> (CourseStructure, GradingPolicy) {
    let mut q3 = problem("q3", 1.0);
    q3.graded = Some(false);
    let rows = vec![
        node("course", "course", &["ch"]),
        node("ch", "chapter", &["s1", "s2", "s3"]),
        seq("s1", "One", "Homework", &["p1"]),
        seq("s2", "Two", "Homework", &["p2"]),
        seq("s3", "Three", "Homework", &["p3", "q3"]),
        problem("p1", 1.0),
        problem("p2", 2.0),
        problem("p3", 1.0),
        q3,
    ];
    let policy = GradingPolicy::parse(
        r#"{"GRADER": [{"type": "Homework", "min_count": 1, "drop_count": 0, "short_label": "HW", "weight": 1.0}],
            "GRADE_CUTOFFS": {"Pass": 0.5}}"#,
    )
    .unwrap();
    (build(rows), policy)
}

fn row(earned: f64, possible: f64, first: Option<i64>) -> PersistedValues {
    PersistedValues {
        earned_all: earned,
        possible_all: possible,
        earned_graded: earned,
        possible_graded: possible,
        first_attempted: first,
    }
}

fn grade(s: &CourseStructure, p: &GradingPolicy, d: &Data, rules: impl Into<Rules>) -> LearnerGrade {
    let plan = ViewPlan::new(s, &s.view(NOW, |_| None));
    grade_learner(s, &plan, p, &Compat::newest(), rules, d, &mut Scratch::default()).unwrap()
}

fn sub<'a>(g: &'a LearnerGrade, s: &CourseStructure, key: &str) -> &'a SubsectionResult {
    g.subsections.iter().find(|r| r.block == idx(s, key)).unwrap()
}

const POLICIES: [Rescore; 3] = [Rescore::Recompute, Rescore::OnlyIfHigher, Rescore::Retain];

// Rule 1 ---------------------------------------------------------------------------------

#[test]
fn only_if_higher_keeps_a_row_its_override_raises_above_the_new_grade() {
    let (s, p) = course();
    let mut d = Data::default();
    // Stored 0/1, overridden to 1/1 in the gradebook; the new score is 0.5/1.
    let ov = Override { earned_graded: Some(1.0), ..Override::default() };
    d.persisted.insert(idx(&s, "s1"), (row(0.0, 1.0, Some(T1)), Some(ov)));
    d.csm.insert(idx(&s, "p1"), csm(0.5, 1.0, T1));
    let g = grade(&s, &p, &d, Rescore::OnlyIfHigher);
    let r = sub(&g, &s, "s1");
    // The raw columns (0/1) would let 0.5/1 through; the row as read (1/1) does not.
    assert_eq!((r.source, r.written), (Source::KeptHigher, false));
    assert_eq!(r.row, Some(row(0.0, 1.0, Some(T1))), "the stored row stands unchanged");
    assert_eq!((r.grade.graded.earned, r.grade.graded.possible), (1.0, 1.0), "read with its override");
}

#[test]
fn only_if_higher_replaces_a_row_its_override_lowers_below_the_new_grade() {
    let (s, p) = course();
    let mut d = Data::default();
    // Stored 1/1, zeroed by a proctoring override; the new score is 0.5/1.
    let ov = Override { earned_all: Some(0.0), earned_graded: Some(0.0), ..Override::default() };
    d.persisted.insert(idx(&s, "s1"), (row(1.0, 1.0, Some(T1)), Some(ov)));
    d.csm.insert(idx(&s, "p1"), csm(0.5, 1.0, T1));
    let g = grade(&s, &p, &d, Rescore::OnlyIfHigher);
    let r = sub(&g, &s, "s1");
    assert_eq!((r.source, r.written), (Source::Override, true));
    assert_eq!(r.row.map(|v| v.earned_graded), Some(0.5), "the new values are stored");
    // The override still applies when the written row is read back.
    assert_eq!(r.grade.graded.earned, 0.0);
}

// Rule 2 ---------------------------------------------------------------------------------

#[test]
fn an_overridden_row_is_reread_after_a_forced_write_with_its_stored_first_attempted() {
    let (s, p) = course();
    let mut d = Data::default();
    // Stored attempted at T1, overridden to 1/1; the learner's studentmodule row now has no
    // grade (state reset): the new computation is unattempted.
    let ov = Override { earned_graded: Some(1.0), ..Override::default() };
    d.persisted.insert(idx(&s, "s1"), (row(1.0, 1.0, Some(T1)), Some(ov)));
    d.csm.insert(idx(&s, "p1"), CsmScore { grade: None, max_grade: Some(1.0), created: T2 });
    let g = grade(&s, &p, &d, Rescore::Recompute);
    let r = sub(&g, &s, "s1");
    assert!(r.written);
    let stored = r.row.unwrap();
    assert_eq!((stored.earned_graded, stored.first_attempted), (0.0, Some(T1)), "set-once first_attempted");
    // Re-read: the override's earned, the stored first_attempted, so attempted.
    assert_eq!(r.grade.graded.earned, 1.0);
    assert_eq!(r.grade.graded.first_attempted, Some(T1));
    assert!(r.grade.attempted_graded(), "attempted_graded of the re-read grade");
    assert_eq!(r.source, Source::Override);
}

#[test]
fn a_forced_write_without_an_override_keeps_the_computed_grade() {
    let (s, p) = course();
    let mut d = Data::default();
    // s3: only the ungraded q3 answered. The computed graded total has no first attempt;
    // the stored row's first_attempted (from all problems) is set.
    d.csm.insert(idx(&s, "q3"), csm(1.0, 1.0, T1));
    let g = grade(&s, &p, &d, Rescore::Recompute);
    let r = sub(&g, &s, "s3");
    assert!(r.written);
    assert_eq!(r.row.unwrap().first_attempted, Some(T1));
    assert!(!r.grade.attempted_graded(), "a forced update's course grade holds the computed grade");
}

// Rule 4 ---------------------------------------------------------------------------------

#[test]
fn written_rows_are_read_back_as_stored_under_only_if_higher_and_retain() {
    let (s, p) = course();
    for rescore in [Rescore::OnlyIfHigher, Rescore::Retain] {
        // s3 as above, without a row: written, then read back with the row's first_attempted
        // (all problems) for the graded total too, so attempted.
        let mut d = Data::default();
        d.csm.insert(idx(&s, "q3"), csm(1.0, 1.0, T1));
        let g = grade(&s, &p, &d, rescore);
        let r = sub(&g, &s, "s3");
        assert!(r.written, "{rescore:?}");
        assert_eq!(r.grade.graded.first_attempted, Some(T1), "{rescore:?}");
        assert!(r.grade.attempted_graded(), "{rescore:?}");
    }
    // Only-if-higher over an older row: the stored first_attempted (T1) stays, not the new
    // computation's (T2), in the grade the course grade and the reports read.
    let mut d = Data::default();
    d.persisted.insert(idx(&s, "s1"), (row(0.0, 1.0, Some(T1)), None));
    d.csm.insert(idx(&s, "p1"), csm(1.0, 1.0, T2));
    let r = sub(&grade(&s, &p, &d, Rescore::OnlyIfHigher), &s, "s1").clone();
    assert!(r.written);
    assert_eq!((r.grade.graded.earned, r.grade.graded.first_attempted), (1.0, Some(T1)));
}

#[test]
fn an_unattempted_subsection_without_a_row_reads_as_zero_with_content_possibles() {
    let (s, p) = course();
    // s1 solved; s2 viewed, never answered: its studentmodule row carries a max_grade but
    // no grade.
    let mut d = Data::default();
    d.csm.insert(idx(&s, "p1"), csm(1.0, 1.0, T1));
    d.csm.insert(idx(&s, "p2"), CsmScore { grade: None, max_grade: Some(5.0), created: T1 });
    for rescore in [Rescore::OnlyIfHigher, Rescore::Retain] {
        let g = grade(&s, &p, &d, rescore);
        let r = sub(&g, &s, "s2");
        assert!(!r.written && r.row.is_none(), "{rescore:?}: not attempted, not written");
        assert_eq!(r.source, Source::Zero, "{rescore:?}");
        // The content's 2 points, not the studentmodule row's 5.
        assert_eq!((r.grade.graded.earned, r.grade.graded.possible), (0.0, 2.0), "{rescore:?}");
        assert!(!r.grade.attempted_graded());
    }
    // Where it changes the course grade: a max_grade of 0 would hide s2 from the grader
    // (graded possible 0), averaging s1 and s3 only; the zero grade keeps it visible.
    d.csm.insert(idx(&s, "p2"), CsmScore { grade: None, max_grade: Some(0.0), created: T1 });
    for rescore in [Rescore::OnlyIfHigher, Rescore::Retain] {
        let g = grade(&s, &p, &d, rescore);
        // (1 + 0 + 0) / 3, edX's whole-percent rounding: 0.33.
        assert_eq!(g.course.percent, 0.33, "{rescore:?}");
    }
    // A forced recompute writes s2 from the studentmodule row (spec §3.3b): 0/0.
    let g = grade(&s, &p, &d, Rescore::Recompute);
    assert_eq!(sub(&g, &s, "s2").grade.graded.possible, 0.0);
    assert_eq!(g.course.percent, 0.5, "(1 + 0) / 2 over the subsections the grader sees");
}

// Rule 5 ---------------------------------------------------------------------------------

#[test]
fn before_olive_with_the_switch_off_a_missing_row_is_computed_on_read() {
    let (s, p) = course();
    let mut d = Data::default();
    d.csm.insert(idx(&s, "p1"), csm(1.0, 1.0, T1));
    d.csm.insert(idx(&s, "p2"), CsmScore { grade: None, max_grade: Some(0.0), created: T1 });
    let off = Rules { rescore: Rescore::Retain, absent_reads_zero: false };
    let g = grade(&s, &p, &d, off);
    let r = sub(&g, &s, "s2");
    assert_eq!((r.source, r.written, r.grade.graded.possible), (Source::Recomputed, false, 0.0));
    assert_eq!(g.course.percent, 0.5, "computed: s2 has no graded points, the grader skips it");
    let on = Rules { rescore: Rescore::Retain, absent_reads_zero: true };
    assert_eq!(grade(&s, &p, &d, on).course.percent, 0.33);
    // The profiles: only the two before Olive let the switch be off.
    for (name, ok) in
        [("ginkgo", true), ("hawthorn-nutmeg", true), ("olive-redwood", false), ("current", false)]
    {
        let c = Compat::by_name(name).unwrap();
        assert_eq!(c.absent_reads_zero(Some(false)).is_ok(), ok, "{name}");
        assert_eq!(c.absent_reads_zero(None), Ok(!ok), "{name}: the default");
        assert_eq!(c.absent_reads_zero(Some(true)), Ok(true), "{name}");
    }
    let e = Compat::newest().absent_reads_zero(Some(false)).unwrap_err();
    assert!(e.contains("Olive") && e.contains("grades.assume_zero_grade_if_absent"), "{e}");
    let e = Compat::by_name("hawthorn-redwood").unwrap_err().to_string();
    assert!(e.contains("hawthorn-nutmeg") && e.contains("olive-redwood"), "{e}");
}

// Rule 3 at the core: a kept row is not rewritten ----------------------------------------

#[test]
fn kept_rows_say_why_they_are_there_whether_or_not_overridden() {
    let (s, p) = course();
    let mut d = Data::default();
    let ov = Override { possible_all: None, earned_graded: Some(1.0), ..Override::default() };
    d.persisted.insert(idx(&s, "s1"), (row(0.0, 1.0, Some(T1)), Some(ov)));
    d.persisted.insert(idx(&s, "s2"), (row(2.0, 2.0, Some(T1)), None));
    d.csm.insert(idx(&s, "p1"), csm(0.5, 1.0, T1));
    d.csm.insert(idx(&s, "p2"), csm(1.0, 2.0, T1));
    let g = grade(&s, &p, &d, Rescore::Retain);
    for key in ["s1", "s2"] {
        let r = sub(&g, &s, key);
        assert_eq!((r.source, r.written, r.scored.is_none()), (Source::Retained, false, true), "{key}");
    }
    let g = grade(&s, &p, &d, Rescore::OnlyIfHigher);
    for key in ["s1", "s2"] {
        assert_eq!(sub(&g, &s, key).source, Source::KeptHigher, "{key}");
    }
}

// The property ---------------------------------------------------------------------------

/// What edX reads back after the run: the stored row with its override, else zero (or,
/// before Olive with the switch off, computed), built here from the scoring primitives.
fn read_back(
    s: &CourseStructure,
    plan: &ViewPlan,
    d: &Data,
    g: &LearnerGrade,
    zero: bool,
) -> Vec<SubsectionGrade> {
    plan.subsections
        .iter()
        .map(|(b, problems)| {
            let r = g.subsections.iter().find(|r| r.block == *b).unwrap();
            let ov = d.persisted.get(b).and_then(|(_, o)| o.as_ref());
            if let Some(row) = &r.row {
                return SubsectionGrade::read(row, ov);
            }
            let scores: Vec<_> = problems
                .iter()
                .filter_map(|&q| {
                    let block = &s.blocks[q as usize];
                    let content = ContentScore {
                        weight: block.row.weight,
                        max_score: block.row.max_score,
                        explicit_graded: block.explicit_graded,
                    };
                    let (sub, csm) = if zero { (None, None) } else { (d.submissions.get(&q), d.csm.get(&q)) };
                    get_score(sub, csm, None, &content).unwrap()
                })
                .collect();
            if zero {
                SubsectionGrade::zero(&scores)
            } else {
                SubsectionGrade::create(&scores)
            }
        })
        .collect()
}

/// A learner decoded from random bytes: per problem no studentmodule row, a graded one, or
/// one viewed without a grade, with some max_grade; per subsection no row, or a row (values,
/// first_attempted set or not) with or without an override of four nullable fields.
fn learner(s: &CourseStructure, bytes: &[u8]) -> Data {
    const VALUES: [f64; 5] = [0.0, 0.5, 1.0, 2.0, 3.0];
    let mut next = bytes.iter().copied();
    let mut byte = move || next.next().unwrap_or(0);
    let value = |b: u8| VALUES[usize::from(b) % VALUES.len()];
    let mut d = Data::default();
    for key in ["p1", "p2", "p3", "q3"] {
        let (kind, grade, max, late) = (byte() % 3, value(byte()), value(byte()), byte() % 2 == 1);
        let grade = match kind {
            0 => continue,
            1 => Some(grade),
            _ => None,
        };
        d.csm.insert(
            idx(s, key),
            CsmScore { grade, max_grade: Some(max), created: if late { T2 } else { T1 } },
        );
    }
    for key in ["s1", "s2", "s3"] {
        let (has_row, first, has_override) = (byte() % 3 != 0, byte() % 2 == 1, byte() % 2 == 1);
        let v = [value(byte()), value(byte()), value(byte()), value(byte())];
        let o = [0, 1, 2, 3].map(|i| (byte() % 2 == 1).then_some(v[i] + 0.5));
        if !has_row {
            continue;
        }
        let values = PersistedValues {
            earned_all: v[0],
            possible_all: v[1],
            earned_graded: v[2],
            possible_graded: v[3],
            first_attempted: first.then_some(T1),
        };
        let ov = has_override.then_some(Override {
            earned_all: o[0],
            possible_all: o[1],
            earned_graded: o[2],
            possible_graded: o[3],
        });
        d.persisted.insert(idx(s, key), (values, ov));
    }
    d
}

proptest! {
    #[test]
    fn the_course_grade_is_the_grader_over_the_grades_as_read_back(
        bytes in prop::collection::vec(any::<u8>(), 48),
        zero in any::<bool>(),
    ) {
        let (s, p) = course();
        let plan = ViewPlan::new(&s, &s.view(NOW, |_| None));
        let d = learner(&s, &bytes);
        for rescore in POLICIES {
            let rules = Rules { rescore, absent_reads_zero: zero };
            let g = grade_learner(&s, &plan, &p, &Compat::newest(), rules, &d, &mut Scratch::default()).unwrap();
            let back = read_back(&s, &plan, &d, &g, zero);
            let graded: Vec<GradedSubsection<'_>> = plan.subsections.iter().zip(&back).map(|((b, _), sg)| {
                let block = &s.blocks[*b as usize];
                GradedSubsection {
                    location: &block.row.usage_key,
                    display_name: block.row.display_name.as_deref().unwrap_or(""),
                    format: block.row.format.as_deref().unwrap_or(""),
                    graded: block.graded,
                    graded_earned: sg.graded.earned,
                    graded_possible: sg.graded.possible,
                    percent_graded: sg.percent_graded(&Compat::newest()),
                }
            }).collect();
            let expected = course::compute(&p, &graded, &mut Scratch::default());
            prop_assert_eq!(g.course.raw_percent.to_bits(), expected.raw_percent.to_bits(), "{:?}", rescore);
            prop_assert_eq!(&g.course, &expected, "{:?}", rescore);
            // Outside a forced update, the subsection grades are the read-back ones too.
            if rescore != Rescore::Recompute {
                let ours: Vec<SubsectionGrade> = g.subsections.iter().map(|r| r.grade).collect();
                prop_assert_eq!(ours, back, "{:?}", rescore);
            }
        }
    }
}
