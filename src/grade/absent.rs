//! What a learner sees with and without the waffle switch `grades.assume_zero_grade_if_absent`
//! (spec §4.4, §5.6), for the backfill's readiness report. Before Olive the switch decided;
//! from Olive on a missing row always reads as zero, and the "off" side is what the learner
//! sees once the rows are backfilled.
//!
//! While the switch is off, edX computes a missing grade on read: a subsection without a
//! persisted row is a `CreateSubsectionGrade` from the learner's current scores, and a
//! learner without a course grade row gets a course grade computed from those subsections
//! (`CourseGradeFactory.read` falls back to `_update`). Once the switch is on, a missing
//! subsection row reads as a `ZeroSubsectionGrade` and a missing course grade row as a
//! `ZeroCourseGrade` (0%, no letter, not passed).
//!
//! The displayed course grade is the one the progress page shows: the grader run over the
//! learner's subsection grades as read (persisted row, else computed or zero), or the zero
//! course grade. Subsections hidden by `show_correctness` are not filtered out here: the
//! filter applies the same way on both sides, so it does not decide whether a grade changes.

use super::compat::Compat;
use super::course::CourseGrade;
use super::graders::Scratch;
use super::learner::{grade_learner, LearnerData, Rescore, Rules, ViewPlan};
use super::policy::GradingPolicy;
use super::scores::InvalidSubmission;
use crate::model::structure::CourseStructure;

/// A course grade as the learner sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Displayed {
    pub percent: f64,
    pub letter_grade: Option<String>,
    pub passed: bool,
}

impl Displayed {
    /// `ZeroCourseGrade`.
    pub fn zero() -> Displayed {
        Displayed { percent: 0.0, letter_grade: None, passed: false }
    }

    fn from(grade: CourseGrade) -> Displayed {
        let passed = grade.is_passed();
        Displayed { percent: grade.percent, letter_grade: grade.letter_grade, passed }
    }
}

/// The learner's displayed course grade with the switch off (`assume_zero = false`) or on.
/// `has_course_row`: a persisted course grade row exists. Errors when scoring a missing
/// subsection would make edX fail the learner (switch off only: zero grades read no scores).
#[allow(clippy::too_many_arguments)]
pub fn displayed_course_grade<D: LearnerData + ?Sized>(
    structure: &CourseStructure,
    plan: &ViewPlan,
    policy: &GradingPolicy,
    compat: &Compat,
    data: &D,
    has_course_row: bool,
    assume_zero: bool,
    scratch: &mut Scratch,
) -> Result<Displayed, InvalidSubmission> {
    if assume_zero && !has_course_row {
        return Ok(Displayed::zero());
    }
    // The read path: persisted rows (override applied), else zero or computed.
    let rules = Rules { rescore: Rescore::Read, absent_reads_zero: assume_zero };
    let grade = grade_learner(structure, plan, policy, compat, rules, data, scratch)?;
    Ok(Displayed::from(grade.course))
}

/// Whether turning the switch on changes what the learner sees, and whether it costs a pass.
#[derive(Clone, Debug, PartialEq)]
pub struct SwitchImpact {
    pub before: Displayed,
    pub after: Displayed,
}

impl SwitchImpact {
    /// The displayed percent or letter differs.
    pub fn grade_changes(&self) -> bool {
        self.before.percent.to_bits() != self.after.percent.to_bits()
            || self.before.letter_grade != self.after.letter_grade
    }

    /// Passing now, not passing once the switch is on.
    pub fn loses_pass(&self) -> bool {
        self.before.passed && !self.after.passed
    }
}

/// Both sides of the switch for one learner.
pub fn switch_impact<D: LearnerData + ?Sized>(
    structure: &CourseStructure,
    plan: &ViewPlan,
    policy: &GradingPolicy,
    compat: &Compat,
    data: &D,
    has_course_row: bool,
    scratch: &mut Scratch,
) -> Result<SwitchImpact, InvalidSubmission> {
    let before =
        displayed_course_grade(structure, plan, policy, compat, data, has_course_row, false, scratch)?;
    let after = displayed_course_grade(structure, plan, policy, compat, data, has_course_row, true, scratch)?;
    Ok(SwitchImpact { before, after })
}
