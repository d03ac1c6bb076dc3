//! Problem scores and their aggregation (spec §3) [`lms/djangoapps/grades/scores.py`,
//! `xmodule/graders.py`].
//!
//! A problem's score comes from the first source that has one: the submissions API (ORA),
//! then courseware_studentmodule (CSM), then the persisted BlockRecord, then the latest
//! content. [`get_score`] reproduces that precedence and edX's weighting exactly.

use std::fmt;

use crate::py::fmt::PyNum;

use crate::py::time::Timestamp;

/// The latest submissions-API score of one item for one learner (`submissions_score`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SubmissionScore {
    pub points_earned: f64,
    pub points_possible: f64,
    pub created_at: Timestamp,
}

impl SubmissionScore {
    /// `Score.is_hidden()` in edx-submissions: a reset writes a score with 0 possible, and
    /// `get_scores` then leaves the item out.
    pub(crate) fn is_hidden(&self) -> bool {
        self.points_possible == 0.0
    }
}

/// A courseware_studentmodule row's score fields.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CsmScore {
    /// `grade` (`correct`), NULL before the first graded submission.
    pub grade: Option<f64>,
    /// `max_grade` (`total`); a row without it is ignored.
    pub max_grade: Option<f64>,
    /// `created`: the row's creation, which edX takes as the first attempt.
    pub created: Timestamp,
}

/// A persisted `BlockRecord` (one entry of a VisibleBlocks row).
#[derive(Clone, Debug, PartialEq)]
pub struct BlockRecord {
    pub locator: String,
    /// As stored in the JSON: int, float or null.
    pub weight: Option<PyNum>,
    /// As stored in the JSON (edX writes floats; hand-made rows may hold ints).
    pub raw_possible: Option<PyNum>,
    pub graded: bool,
}

/// What the latest content says about a scorable block.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ContentScore {
    pub weight: Option<f64>,
    /// The collected `max_score`, None when the block could not report one.
    pub max_score: Option<f64>,
    /// `explicit_graded` from the collected structure (None counts as True).
    pub explicit_graded: Option<bool>,
}

/// `ProblemScore` [`xmodule/graders.py`]: raw and weighted values of one problem.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProblemScore {
    pub raw_earned: Option<f64>,
    pub raw_possible: Option<f64>,
    /// Weighted earned.
    pub earned: f64,
    /// Weighted possible.
    pub possible: f64,
    /// The weight as stored (persisted record or content), not converted.
    pub weight: Option<PyNum>,
    pub graded: bool,
    pub first_attempted: Option<Timestamp>,
}

/// A score that makes edX fail the learner's grade computation (an `assert` in
/// `_get_score_from_submissions`): the submissions API promises `earned >= 0` and
/// `possible > 0`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InvalidSubmission {
    pub points_earned: f64,
    pub points_possible: f64,
}

impl fmt::Display for InvalidSubmission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "submissions score {}/{} breaks the submissions API contract (earned >= 0 and possible > 0); edX fails this learner's grade",
            self.points_earned, self.points_possible
        )
    }
}

impl std::error::Error for InvalidSubmission {}

/// `weighted_score(raw_earned, raw_possible, weight)`: unchanged when the weight is None or
/// raw_possible is 0, else `(raw_earned * weight / raw_possible, weight)`.
pub fn weighted_score(raw_earned: f64, raw_possible: f64, weight: Option<PyNum>) -> (f64, f64) {
    match weight {
        Some(w) if raw_possible != 0.0 => {
            let w = w.as_f64();
            (raw_earned * w / raw_possible, w)
        }
        _ => (raw_earned, raw_possible),
    }
}

/// `get_score(submissions_scores, csm_scores, persisted_block, block)`.
///
/// `submission` is the learner's latest submissions score for the block, if any (hidden
/// ones are skipped here). Returns `Ok(None)` when the problem has no possible score and is
/// dropped from every total.
pub fn get_score(
    submission: Option<&SubmissionScore>,
    csm: Option<&CsmScore>,
    persisted: Option<&BlockRecord>,
    content: &ContentScore,
) -> Result<Option<ProblemScore>, InvalidSubmission> {
    let weight: Option<PyNum> = match persisted {
        Some(record) => record.weight,
        None => content.weight.map(PyNum::Float),
    };

    let (raw_earned, raw_possible, earned, possible, first_attempted);
    if let Some(sub) = submission.filter(|s| !s.is_hidden()) {
        if !(sub.points_earned >= 0.0 && sub.points_possible > 0.0) {
            return Err(InvalidSubmission {
                points_earned: sub.points_earned,
                points_possible: sub.points_possible,
            });
        }
        raw_earned = None;
        raw_possible = None;
        earned = Some(sub.points_earned);
        possible = Some(sub.points_possible);
        first_attempted = Some(sub.created_at);
    } else if let Some((row, total)) = csm.and_then(|c| c.max_grade.map(|t| (c, t))) {
        let (e, fa) = match row.grade {
            Some(g) => (g, Some(row.created)),
            None => (0.0, None),
        };
        let (we, wp) = weighted_score(e, total, weight);
        raw_earned = Some(e);
        raw_possible = Some(total);
        earned = Some(we);
        possible = Some(wp);
        first_attempted = fa;
    } else {
        let rp = match persisted {
            Some(record) => record.raw_possible.map(PyNum::as_f64),
            None => content.max_score,
        };
        raw_earned = Some(0.0);
        raw_possible = rp;
        match rp {
            Some(rp) => {
                let (we, wp) = weighted_score(0.0, rp, weight);
                earned = Some(we);
                possible = Some(wp);
            }
            None => {
                earned = None;
                possible = None;
            }
        }
        first_attempted = None;
    }

    let (Some(earned), Some(possible)) = (earned, possible) else {
        return Ok(None);
    };
    let graded = if possible > 0.0 {
        match persisted {
            Some(record) => record.graded,
            None => content.explicit_graded.unwrap_or(true),
        }
    } else {
        false
    };
    Ok(Some(ProblemScore { raw_earned, raw_possible, earned, possible, weight, graded, first_attempted }))
}

/// `AggregatedScore`: a weighted total with the earliest attempt.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Total {
    pub earned: f64,
    pub possible: f64,
    pub first_attempted: Option<Timestamp>,
}

/// `aggregate_scores(scores)` -> `(all_total, graded_total)`: Python `sum` left to right in
/// problem order; `first_attempted` is the minimum of the non-null values.
pub fn aggregate_scores<'a, I>(scores: I) -> (Total, Total)
where
    I: IntoIterator<Item = &'a ProblemScore>,
{
    let mut all = Total::default();
    let mut graded = Total::default();
    for s in scores {
        all.earned += s.earned;
        all.possible += s.possible;
        all.first_attempted = min_opt(all.first_attempted, s.first_attempted);
        if s.graded {
            graded.earned += s.earned;
            graded.possible += s.possible;
            graded.first_attempted = min_opt(graded.first_attempted, s.first_attempted);
        }
    }
    (all, graded)
}

fn min_opt(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}
