//! Course grades (spec §5.2, §5.5, §5.6) [`lms/djangoapps/grades/course_grade.py`,
//! `course_grade_factory.py`].
//!
//! The grader sees the learner's graded subsections with a positive graded possible,
//! grouped by `format` in course order (first occurrence of a location wins). The raw
//! grader percent becomes a whole percentage (`+0.05`, round half away from zero); the
//! letter and pass/fail are decided on that rounded value.

use super::compat::Compat;
use super::graders::{CourseGraderResult, Scratch, SheetEntry};
use super::numeric::course_percent;
use super::policy::GradingPolicy;

/// What the grader needs to know about one of the learner's subsections.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GradedSubsection<'a> {
    pub location: &'a str,
    pub display_name: &'a str,
    pub format: &'a str,
    /// The subsection's (inherited) `graded` setting.
    pub graded: bool,
    pub graded_earned: f64,
    /// After overrides.
    pub graded_possible: f64,
    pub percent_graded: f64,
}

/// A computed course grade.
#[derive(Clone, Debug, PartialEq)]
pub struct CourseGrade {
    /// The grader's unrounded percent.
    pub raw_percent: f64,
    /// The persisted, rounded percent (e.g. 0.83).
    pub percent: f64,
    pub letter_grade: Option<String>,
    /// `_compute_passed`: None when no cutoff is positive.
    pub passed: Option<bool>,
}

impl CourseGrade {
    /// Rounds a raw grader percent and decides letter and pass/fail.
    pub fn from_raw(policy: &GradingPolicy, raw_percent: f64) -> CourseGrade {
        let percent = course_percent(raw_percent);
        CourseGrade {
            raw_percent,
            percent,
            letter_grade: policy.letter_grade(percent).map(str::to_string),
            passed: policy.passed(percent),
        }
    }

    /// `passed` as a plain bool (None is falsy).
    pub fn is_passed(&self) -> bool {
        self.passed == Some(true)
    }

    /// The persisted `letter_grade` column: `""` when there is no letter.
    pub fn letter_column(&self) -> &str {
        self.letter_grade.as_deref().unwrap_or("")
    }
}

/// A persisted course grade as `CourseGradeFactory.read` sees it: `passed` comes from the
/// letter string, not from the cutoffs.
pub fn read_passed(letter_grade: &str) -> bool {
    !letter_grade.is_empty()
}

/// `graded_subsections_by_format`: keeps graded subsections with graded possible > 0,
/// first occurrence of each location, grouped by format in course order.
fn by_format<'a>(subsections: &[GradedSubsection<'a>]) -> Vec<(&'a str, Vec<GradedSubsection<'a>>)> {
    let mut groups: Vec<(&'a str, Vec<GradedSubsection<'a>>)> = Vec::new();
    let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for s in subsections {
        if !(s.graded && s.graded_possible > 0.0 && seen.insert(s.location)) {
            continue;
        }
        match groups.iter_mut().find(|(f, _)| *f == s.format) {
            Some((_, v)) => v.push(*s),
            None => groups.push((s.format, vec![*s])),
        }
    }
    groups
}

/// Computes a course grade from the learner's subsections (course order).
pub fn compute(
    policy: &GradingPolicy,
    subsections: &[GradedSubsection<'_>],
    scratch: &mut Scratch,
) -> CourseGrade {
    let groups = by_format(subsections);
    let percents: Vec<(&str, Vec<f64>)> =
        groups.iter().map(|(f, v)| (*f, v.iter().map(|s| s.percent_graded).collect())).collect();
    let raw = policy.grader.percent(
        |kind| percents.iter().find(|(f, _)| *f == kind).map(|(_, p)| p.as_slice()).unwrap_or(&[]),
        scratch,
    );
    CourseGrade::from_raw(policy, raw)
}

/// The grader's full result with display strings (section and grade breakdowns).
pub fn summary(
    policy: &GradingPolicy,
    subsections: &[GradedSubsection<'_>],
    compat: &Compat,
) -> CourseGraderResult {
    let groups = by_format(subsections);
    policy.grader.grade(
        |kind| {
            groups
                .iter()
                .find(|(f, _)| *f == kind)
                .map(|(_, v)| {
                    v.iter()
                        .map(|s| SheetEntry {
                            location: s.location,
                            display_name: s.display_name,
                            graded_earned: s.graded_earned,
                            graded_possible: s.graded_possible,
                            percent_graded: s.percent_graded,
                        })
                        .collect()
                })
                .unwrap_or_default()
        },
        compat,
    )
}

/// `PersistentCourseGrade.update_or_create`'s `passed_timestamp`: set to `now` the first
/// time the learner passes, never cleared afterwards.
pub fn passed_timestamp(
    old: Option<crate::py::time::Timestamp>,
    passed: bool,
    now: crate::py::time::Timestamp,
) -> Option<crate::py::time::Timestamp> {
    match old {
        Some(t) => Some(t),
        None if passed => Some(now),
        None => None,
    }
}
