//! Subsection grades (spec §4) [`lms/djangoapps/grades/subsection_grade.py`,
//! `subsection_grade_factory.py`, `models.py`].
//!
//! Three kinds, as in edX: computed from scores ([`SubsectionGrade::create`]), read from a
//! persisted row with its override applied ([`SubsectionGrade::read`]), and zero
//! ([`SubsectionGrade::zero`]). The rescoring rules (only-if-higher, set-once
//! `first_attempted`, which rows a forced update writes) are plain functions here too.

use super::compat::Compat;
use super::numeric::{compute_percent, is_score_higher_or_equal};
use super::scores::{aggregate_scores, ProblemScore, Total};
use crate::py::time::Timestamp;

/// How a subsection grade came to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `ZeroSubsectionGrade`: no persisted row, not computed.
    Zero,
    /// `CreateSubsectionGrade`: computed from CSM and submissions.
    Created,
    /// `ReadSubsectionGrade`: from a persisted row.
    Read,
}

/// `grades_persistentsubsectiongradeoverride`'s four values (NULL = use the grade's).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Override {
    pub earned_all: Option<f64>,
    pub possible_all: Option<f64>,
    pub earned_graded: Option<f64>,
    pub possible_graded: Option<f64>,
}

/// The values of a persisted subsection grade row (not override-adjusted).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PersistedValues {
    pub earned_all: f64,
    pub possible_all: f64,
    pub earned_graded: f64,
    pub possible_graded: f64,
    pub first_attempted: Option<Timestamp>,
}

/// A subsection grade: its two totals and how it was obtained.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SubsectionGrade {
    pub kind: Kind,
    pub all: Total,
    pub graded: Total,
    pub has_override: bool,
}

impl SubsectionGrade {
    /// `CreateSubsectionGrade`: `aggregate_scores` over the problem scores in problem order.
    pub fn create<'a, I>(scores: I) -> SubsectionGrade
    where
        I: IntoIterator<Item = &'a ProblemScore>,
    {
        let (all, graded) = aggregate_scores(scores);
        SubsectionGrade { kind: Kind::Created, all, graded, has_override: false }
    }

    /// `ZeroSubsectionGrade`: earned 0, possible from the current content (the caller
    /// aggregates the content-only scores), never attempted.
    pub fn zero<'a, I>(content_scores: I) -> SubsectionGrade
    where
        I: IntoIterator<Item = &'a ProblemScore>,
    {
        let (mut all, mut graded) = aggregate_scores(content_scores);
        all.first_attempted = None;
        graded.first_attempted = None;
        SubsectionGrade { kind: Kind::Zero, all, graded, has_override: false }
    }

    /// `ReadSubsectionGrade`: the row's values, each replaced by its override when that
    /// override value is not NULL; both totals take the row's `first_attempted`.
    pub fn read(row: &PersistedValues, ov: Option<&Override>) -> SubsectionGrade {
        let pick = |v: f64, o: Option<f64>| o.unwrap_or(v);
        let o = ov.copied().unwrap_or_default();
        SubsectionGrade {
            kind: Kind::Read,
            all: Total {
                earned: pick(row.earned_all, o.earned_all),
                possible: pick(row.possible_all, o.possible_all),
                first_attempted: row.first_attempted,
            },
            graded: Total {
                earned: pick(row.earned_graded, o.earned_graded),
                possible: pick(row.possible_graded, o.possible_graded),
                first_attempted: row.first_attempted,
            },
            has_override: ov.is_some(),
        }
    }

    /// `percent_graded`: `compute_percent(graded.earned, graded.possible)`; 0.0 for Zero.
    pub fn percent_graded(&self, compat: &Compat) -> f64 {
        match self.kind {
            Kind::Zero => 0.0,
            _ => compute_percent(self.graded.earned, self.graded.possible, compat.percent_rounding),
        }
    }

    /// `attempted_graded`: the graded total has a first attempt (never for Zero).
    pub fn attempted_graded(&self) -> bool {
        self.kind != Kind::Zero && self.graded.first_attempted.is_some()
    }

    /// The values this grade persists (`_persisted_model_params`), before set-once merging.
    pub(crate) fn persisted_values(&self) -> PersistedValues {
        PersistedValues {
            earned_all: self.all.earned,
            possible_all: self.all.possible,
            earned_graded: self.graded.earned,
            possible_graded: self.graded.possible,
            first_attempted: self.all.first_attempted,
        }
    }
}

/// `_should_persist_per_attempted`: a row is written when the subsection was attempted, or
/// a score was deleted, or subsections are force-updated (a full recompute).
pub(crate) fn should_persist(
    computed: &SubsectionGrade,
    score_deleted: bool,
    force_update_subsections: bool,
) -> bool {
    computed.all.first_attempted.is_some() || score_deleted || force_update_subsections
}

/// `update_or_create_grade` on an existing row: every value is replaced except
/// `first_attempted`, which is only filled when NULL (never overwritten, never cleared).
pub fn upsert(old: Option<&PersistedValues>, new: &PersistedValues) -> PersistedValues {
    PersistedValues { first_attempted: old.and_then(|o| o.first_attempted).or(new.first_attempted), ..*new }
}

/// The only-if-higher gate of `SubsectionGradeFactory.update`: keep the old row unless the
/// new graded ratio is at least the old one (`0/0` counts as 0). `old` is the row as edX
/// reads it, a `ReadSubsectionGrade` with its override applied ([`SubsectionGrade::read`]).
pub(crate) fn new_is_at_least_old(old: &SubsectionGrade, new: &SubsectionGrade) -> bool {
    is_score_higher_or_equal(
        old.graded.earned,
        old.graded.possible,
        new.graded.earned,
        new.graded.possible,
        true,
    )
    .expect("treat_undefined_as_zero never divides by zero")
}

/// `ShowCorrectness.correctness_available(show_correctness, due, has_staff_access)`
/// [`xblock/scorable.py`]: `never` and `never_but_include_grade` hide correctness even from
/// staff; staff see everything else; `past_due` shows once `due < now`; anything else shows.
pub fn correctness_available(
    show_correctness: Option<&str>,
    due: Option<Timestamp>,
    has_staff_access: bool,
    now: Timestamp,
) -> bool {
    match show_correctness.unwrap_or("") {
        "never" | "never_but_include_grade" => false,
        _ if has_staff_access => true,
        "past_due" => due.is_none_or(|d| d < now),
        _ => true,
    }
}

/// `SubsectionGradeBase.show_grades(has_staff_access)`: `never_but_include_grade` shows the
/// grade (not correctness) once due; otherwise as [`correctness_available`].
pub fn show_grades(
    show_correctness: Option<&str>,
    due: Option<Timestamp>,
    has_staff_access: bool,
    now: Timestamp,
) -> bool {
    if show_correctness == Some("never_but_include_grade") {
        due.is_none_or(|d| d < now)
    } else {
        correctness_available(show_correctness, due, has_staff_access, now)
    }
}
