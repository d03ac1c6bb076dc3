//! Non-finite grades. Scores are finite when loaded, but edX's arithmetic on huge finite ones
//! is not: a weight of 1e308 times an earned 2, two problems of 1e308 summed, a percent of
//! 1e308 over 0.5, the grader's weighted sum of such percents. Python computes `inf` and `nan`
//! there as f64 does, and edX then fails to store them (MySQL has neither), or worse, letters
//! and pass/fail follow from comparisons with them. regrade refuses them instead: a learner's
//! grade is checked once computed ([`LearnerGrade::is_finite`], a few comparisons per
//! subsection), and only when it fails is the learner's scoring replayed to find the first
//! value that is not finite ([`first_non_finite`]), which the caller traces to its input row.

use super::compat::Compat;
use super::course::CourseGrade;
use super::learner::{scores, LearnerData, LearnerGrade, ViewPlan};
use super::scores::ProblemScore;
use super::subsection::{PersistedValues, SubsectionGrade};
use crate::model::structure::CourseStructure;

impl SubsectionGrade {
    /// Both totals and `percent_graded` are finite.
    pub fn is_finite(&self, compat: &Compat) -> bool {
        [self.all.earned, self.all.possible, self.graded.earned, self.graded.possible]
            .iter()
            .all(|x| x.is_finite())
            && self.percent_graded(compat).is_finite()
    }
}

impl PersistedValues {
    /// The four values are finite.
    pub fn is_finite(&self) -> bool {
        [self.earned_all, self.possible_all, self.earned_graded, self.possible_graded]
            .iter()
            .all(|x| x.is_finite())
    }
}

impl CourseGrade {
    /// The grader's percent and the rounded one are finite.
    pub fn is_finite(&self) -> bool {
        self.raw_percent.is_finite() && self.percent.is_finite()
    }
}

impl LearnerGrade {
    /// Every subsection grade (totals, percent, the row after the run) and the course grade
    /// are finite.
    pub fn is_finite(&self, compat: &Compat) -> bool {
        self.course.is_finite()
            && self
                .subsections
                .iter()
                .all(|r| r.grade.is_finite(compat) && r.row.as_ref().is_none_or(PersistedValues::is_finite))
    }
}

/// Whether a problem's weighted score is finite.
pub(crate) fn score_is_finite(s: &ProblemScore) -> bool {
    s.earned.is_finite() && s.possible.is_finite()
}

/// The first value of a learner's grading that is not finite, in course order.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum NonFinite {
    /// A problem's weighted score (earned `raw_earned * weight / raw_possible`, possible the
    /// weight).
    /// `content`: scored from the content alone (no row of the learner's).
    Score { subsection: u32, problem: u32, score: ProblemScore, content: bool },
    /// Adding a problem's (finite) score made the subsection's `total` not finite.
    Sum { subsection: u32, problem: u32, score: ProblemScore, content: bool, total: &'static str, value: f64 },
    /// The subsection's totals are finite, its `percent_graded` is not; `problem` is the one
    /// with the largest earned score.
    Percent { subsection: u32, earned: f64, possible: f64, problem: Option<u32> },
    /// Every subsection is finite; the grader's weighted sum of their percents is not.
    /// `subsection` is the one with the largest `percent_graded`.
    Course { subsection: Option<u32>, percent: f64 },
}

/// Replays the scoring of one subsection (`problems`, in order), from the learner's scores and
/// then from the content alone (as a zero grade is scored), and returns the first value that
/// is not finite, if any. A broken submission (which fails the learner, not the course) leaves
/// that replay out. `Ok`: the subsection's `percent_graded` from the learner's scores.
pub(crate) fn subsection_non_finite<D: LearnerData + ?Sized>(
    structure: &CourseStructure,
    sub: u32,
    problems: &[u32],
    compat: &Compat,
    data: &D,
) -> Result<f64, NonFinite> {
    let mut first_percent = 0.0;
    for (k, from) in [Some(data), None].into_iter().enumerate() {
        let Ok(scored) = scores(structure, problems, from) else { continue };
        let mut totals =
            [("earned_all", 0.0), ("possible_all", 0.0), ("earned_graded", 0.0), ("possible_graded", 0.0)];
        for &(b, s) in &scored {
            if !score_is_finite(&s) {
                return Err(NonFinite::Score { subsection: sub, problem: b, score: s, content: k == 1 });
            }
            let adds = [
                s.earned,
                s.possible,
                if s.graded { s.earned } else { 0.0 },
                if s.graded { s.possible } else { 0.0 },
            ];
            for ((total, value), add) in totals.iter_mut().zip(adds) {
                *value += add;
                if !value.is_finite() {
                    let content = k == 1;
                    return Err(NonFinite::Sum {
                        subsection: sub,
                        problem: b,
                        score: s,
                        content,
                        total,
                        value: *value,
                    });
                }
            }
        }
        let grade = SubsectionGrade::create(scored.iter().map(|(_, s)| s));
        let percent = grade.percent_graded(compat);
        if !percent.is_finite() {
            let top = scored.iter().max_by(|x, y| x.1.earned.total_cmp(&y.1.earned)).map(|(b, _)| *b);
            let (earned, possible) = (grade.graded.earned, grade.graded.possible);
            return Err(NonFinite::Percent { subsection: sub, earned, possible, problem: top });
        }
        if k == 0 {
            first_percent = percent;
        }
    }
    Ok(first_percent)
}

/// [`subsection_non_finite`] over every subsection of the learner's view, in course order;
/// when all are finite, the subsection with the largest percent ([`NonFinite::Course`]).
pub(crate) fn first_non_finite<D: LearnerData + ?Sized>(
    structure: &CourseStructure,
    plan: &ViewPlan,
    compat: &Compat,
    data: &D,
) -> NonFinite {
    let mut largest: Option<(u32, f64)> = None;
    for (sub, problems) in &plan.subsections {
        let percent = match subsection_non_finite(structure, *sub, problems, compat, data) {
            Ok(p) => p,
            Err(e) => return e,
        };
        if largest.is_none_or(|(_, p)| percent > p) {
            largest = Some((*sub, percent));
        }
    }
    NonFinite::Course { subsection: largest.map(|(s, _)| s), percent: largest.map_or(0.0, |(_, p)| p) }
}

/// The problem of a subsection with the largest earned score, from the learner's scores.
pub(crate) fn largest_score<D: LearnerData + ?Sized>(
    structure: &CourseStructure,
    problems: &[u32],
    data: &D,
) -> Option<(u32, ProblemScore)> {
    let scored = scores(structure, problems, Some(data)).ok()?;
    scored.into_iter().max_by(|x, y| x.1.earned.total_cmp(&y.1.earned))
}
