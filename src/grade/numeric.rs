//! edX's numeric primitives, reproduced exactly in f64 (spec §1).

use super::compat::PercentRounding;

/// `compute_percent(earned, possible)` [`lms/djangoapps/grades/scores.py`]:
/// `numpy.around(earned / possible, decimals)` when `possible > 0`, else `0.0`.
///
/// numpy's `around` computes `rint(q * 10^d) / 10^d`, `rint` rounding half to even on the
/// f64 product. The number of decimals depends on the edX release (see [`PercentRounding`]).
pub fn compute_percent(earned: f64, possible: f64, rounding: PercentRounding) -> f64 {
    if possible > 0.0 {
        let q = earned / possible;
        match rounding {
            PercentRounding::None => q,
            PercentRounding::Decimals(d) => {
                let scale = 10f64.powi(d as i32);
                (q * scale).round_ties_even() / scale
            }
        }
    } else {
        0.0
    }
}

/// `round_away_from_zero(number, digits)` [`openedx/core/lib/grade_utils.py`]. Python's
/// `floor`/`ceil` return ints, so a zero result is `+0.0`, never `-0.0`.
pub fn round_away_from_zero(number: f64, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    let r = if number >= 0.0 { (number * p + 0.5).floor() / p } else { (number * p - 0.5).ceil() / p };
    if r == 0.0 {
        0.0
    } else {
        r
    }
}

/// The persisted course percent [`course_grade.py` `CourseGrade._compute_percent`]:
/// `round_away_from_zero(grader_percent * 100 + 0.05) / 100`, a whole percentage.
pub fn course_percent(grader_percent: f64) -> f64 {
    round_away_from_zero(grader_percent * 100.0 + 0.05, 0) / 100.0
}

/// Division by zero in [`compare_scores`] without `treat_undefined_as_zero`, where Python
/// raises `ZeroDivisionError`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZeroDivision;

/// `compare_scores(e1, p1, e2, p2, treat_undefined_as_zero)`: `(e2/p2 >= e1/p1, pct1, pct2)`.
pub fn compare_scores(
    earned1: f64,
    possible1: f64,
    earned2: f64,
    possible2: f64,
    treat_undefined_as_zero: bool,
) -> Result<(bool, f64, f64), ZeroDivision> {
    let ratio = |e: f64, p: f64| -> Result<f64, ZeroDivision> {
        if p == 0.0 {
            if treat_undefined_as_zero {
                Ok(0.0)
            } else {
                Err(ZeroDivision)
            }
        } else {
            Ok(e / p)
        }
    };
    let pct1 = ratio(earned1, possible1)?;
    let pct2 = ratio(earned2, possible2)?;
    Ok((pct2 >= pct1, pct1, pct2))
}

/// `is_score_higher_or_equal`: equal counts as higher.
pub(crate) fn is_score_higher_or_equal(
    earned1: f64,
    possible1: f64,
    earned2: f64,
    possible2: f64,
    treat_undefined_as_zero: bool,
) -> Result<bool, ZeroDivision> {
    compare_scores(earned1, possible1, earned2, possible2, treat_undefined_as_zero).map(|r| r.0)
}
