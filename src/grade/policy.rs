//! Grading policies: parsing, edX's validation, letter grades and pass/fail (spec §5.1,
//! §5.5, §7.2) [`xmodule/course_block.py`, `xmodule/graders.py` `grader_from_conf`,
//! `lms/djangoapps/grades/course_grade.py`].
//!
//! The stored policy is a JSON object `{"GRADER": [...], "GRADE_CUTOFFS": {...}}`. As in
//! `CourseBlock.set_grading_policy`, a missing `GRADER` or `GRADE_CUTOFFS` is filled in from
//! `DEFAULT_GRADING_POLICY`; the merged dict (with any extra keys) is what edX hashes.
//!
//! Validation follows `grader_from_conf`: an entry without `min_count` has "no appropriate
//! grader class", a missing `drop_count` or `type` is an error, unknown keys are dropped
//! with a warning, `min_count` may be a string (`int(float(min_count))`). Values that would
//! make edX fail later, at grading time (a string weight, a float `drop_count`), are
//! rejected here with the reason.

use std::fmt;

use super::graders::{AssignmentFormatGrader, WeightedGrader};
use super::hash;
use crate::py::fmt::PyNum;
use crate::py::json::{self as pyjson, Json};

/// `DEFAULT_GRADING_POLICY` [`xmodule/course_metadata_utils.py`], as stored JSON.
pub const DEFAULT_GRADING_POLICY: &str = r#"{"GRADER": [{"type": "Homework", "min_count": 12, "drop_count": 2, "short_label": "HW", "weight": 0.15}, {"type": "Lab", "min_count": 12, "drop_count": 2, "weight": 0.15}, {"type": "Midterm Exam", "short_label": "Midterm", "min_count": 1, "drop_count": 0, "weight": 0.3}, {"type": "Final Exam", "short_label": "Final", "min_count": 1, "drop_count": 0, "weight": 0.4}], "GRADE_CUTOFFS": {"Pass": 0.5}}"#;

/// The keyword arguments `AssignmentFormatGrader.__init__` accepts (besides `self`).
const GRADER_ARGS: &[&str] = &[
    "type",
    "min_count",
    "drop_count",
    "category",
    "section_type",
    "short_label",
    "show_only_average",
    "hide_average",
    "starting_index",
];

/// A grading policy ready to grade with.
#[derive(Clone, Debug, PartialEq)]
pub struct GradingPolicy {
    /// The merged policy dict, as edX hashes it.
    pub merged: Json,
    pub grader: WeightedGrader,
    /// `GRADE_CUTOFFS` in dict order.
    pub cutoffs: Vec<(String, f64)>,
    /// Indices into `cutoffs` by cutoff descending, dict order among equals (Python's
    /// stable `sorted(..., reverse=True)`), for [`GradingPolicy::letter_grade`].
    letter_order: Vec<usize>,
    /// The smallest positive cutoff, for [`GradingPolicy::passed`].
    pass_cutoff: Option<f64>,
    /// `grading_policy_hash`: base64 SHA-1 of the merged dict's canonical JSON.
    pub hash: String,
    /// What edX would log as warnings (ignored keys).
    pub warnings: Vec<String>,
}

/// A policy edX would refuse (or fail on while grading).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyError {
    /// Where in the policy: `GRADER[2]`, `GRADE_CUTOFFS.A`, or empty for the whole.
    pub path: String,
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for PolicyError {}

fn err(path: impl Into<String>, message: impl Into<String>) -> PolicyError {
    PolicyError { path: path.into(), message: message.into() }
}

/// Python truthiness of a JSON value.
fn truthy(v: &Json) -> bool {
    match v {
        Json::Null => false,
        Json::Bool(b) => *b,
        Json::Int(d) => d != "0",
        Json::Float(x) => *x != 0.0,
        Json::Str(s) => !s.is_empty(),
        Json::Array(a) => !a.is_empty(),
        Json::Object(o) => !o.is_empty(),
    }
}

/// A Python int (or bool, which is an int) that fits an i64.
fn as_int(v: &Json) -> Option<i64> {
    match v {
        Json::Int(d) => d.parse().ok(),
        Json::Bool(b) => Some(*b as i64),
        _ => None,
    }
}

/// A number as Python arithmetic sees it (bools are ints).
fn as_num(v: &Json) -> Option<PyNum> {
    match v {
        Json::Float(x) => Some(PyNum::Float(*x)),
        other => as_int(other).map(PyNum::Int),
    }
}

/// Python's `float(s)` for a string: surrounding whitespace allowed, `_` only between two
/// digits (`1_000.5`, not `1_.5` or `1e_5`).
fn py_float_from_str(s: &str) -> Option<f64> {
    let t = s.trim();
    let b = t.as_bytes();
    let digit = |i: Option<usize>| i.and_then(|i| b.get(i)).is_some_and(u8::is_ascii_digit);
    let underscores_ok =
        b.iter().enumerate().all(|(i, c)| *c != b'_' || (digit(i.checked_sub(1)) && digit(Some(i + 1))));
    if t.is_empty() || !underscores_ok {
        return None;
    }
    t.replace('_', "").parse::<f64>().ok()
}

/// `int(float(min_count))`.
fn min_count_of(v: &Json, path: &str) -> Result<i64, PolicyError> {
    let x = match v {
        Json::Int(_) | Json::Bool(_) => {
            let n = as_int(v).ok_or_else(|| err(path, "min_count is out of range"))?;
            return check_min_count(n, path);
        }
        Json::Float(x) => *x,
        Json::Str(s) => py_float_from_str(s).ok_or_else(|| {
            err(path, format!("min_count {s:?} is not a number (edX reads it with int(float(min_count)))"))
        })?,
        other => return Err(err(path, format!("min_count is a {}, expected a number", other.type_name()))),
    };
    if !x.is_finite() {
        return Err(err(path, format!("min_count {x} cannot be converted to an integer")));
    }
    let t = x.trunc();
    if t.abs() > 9.0e15 {
        return Err(err(path, "min_count is out of range"));
    }
    check_min_count(t as i64, path)
}

/// The largest `min_count` regrade grades with. edX pads every learner's gradebook to
/// `min_count` entries (each a dict with its display strings), so a larger value exhausts the
/// worker's memory on the first learner; regrade says so instead of trying.
pub(crate) const MAX_MIN_COUNT: i64 = 100_000;

fn check_min_count(n: i64, path: &str) -> Result<i64, PolicyError> {
    if n > MAX_MIN_COUNT {
        return Err(err(
            path,
            format!(
                "min_count {n} is more than {MAX_MIN_COUNT}: edX would pad every learner's gradebook to \
                 {n} entries and run out of memory; fix the grading policy"
            ),
        ));
    }
    Ok(n)
}

fn opt_string(conf: &[(String, Json)], key: &str, path: &str) -> Result<Option<String>, PolicyError> {
    match conf.iter().find(|(k, _)| k == key).map(|(_, v)| v) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::Str(s)) if s.is_empty() => Ok(None),
        Some(Json::Str(s)) => Ok(Some(s.clone())),
        Some(other) => Err(err(path, format!("{key} is a {}, expected a string", other.type_name()))),
    }
}

/// Builds one `AssignmentFormatGrader` from a GRADER entry, as `grader_from_conf` does.
fn subgrader_from_conf(
    entry: &Json,
    path: &str,
    warnings: &mut Vec<String>,
) -> Result<AssignmentFormatGrader, PolicyError> {
    let Json::Object(conf) = entry else {
        return Err(err(path, format!("a GRADER entry must be an object, found a {}", entry.type_name())));
    };
    let mut conf = conf.clone();
    let weight = match conf.iter().position(|(k, _)| k == "weight") {
        Some(i) => {
            let (_, w) = conf.remove(i);
            as_num(&w).ok_or_else(|| {
                err(path, format!("weight is a {}, expected a number (edX multiplies by it)", w.type_name()))
            })?
        }
        None => PyNum::Int(0),
    };
    if !conf.iter().any(|(k, _)| k == "min_count") {
        return Err(err(
            path,
            "Configuration has no appropriate grader class. (every GRADER entry needs min_count)",
        ));
    }
    if conf.iter().any(|(k, _)| k == "self") {
        return Err(err(path, "'self' is not a valid grader argument"));
    }
    let bad: Vec<String> =
        conf.iter().map(|(k, _)| k.clone()).filter(|k| !GRADER_ARGS.contains(&k.as_str())).collect();
    if !bad.is_empty() {
        warnings.push(format!("{path}: invalid arguments for a subgrader, ignored: {}", bad.join(", ")));
        conf.retain(|(k, _)| GRADER_ARGS.contains(&k.as_str()));
    }
    let get = |key: &str| conf.iter().find(|(k, _)| k == key).map(|(_, v)| v);

    let kind = match get("type") {
        Some(Json::Str(s)) => s.clone(),
        Some(other) => return Err(err(path, format!("type is a {}, expected a string", other.type_name()))),
        None => return Err(err(path, "missing required argument 'type'")),
    };
    let min_count = min_count_of(get("min_count").expect("checked above"), path)?;
    let drop_count = match get("drop_count") {
        None => return Err(err(path, "missing required argument 'drop_count'")),
        Some(v) => as_int(v).ok_or_else(|| {
            err(
                path,
                format!(
                    "drop_count is a {}, expected an integer (edX slices the scores by it)",
                    v.type_name()
                ),
            )
        })?,
    };
    let category = opt_string(&conf, "category", path)?.unwrap_or_else(|| kind.clone());
    let section_type = opt_string(&conf, "section_type", path)?.unwrap_or_else(|| kind.clone());
    let short_label = opt_string(&conf, "short_label", path)?.unwrap_or_else(|| kind.clone());
    let show_only_average = get("show_only_average").is_some_and(truthy);
    let hide_average = get("hide_average").is_some_and(truthy);
    let starting_index = match get("starting_index") {
        None => 1,
        Some(v) => as_int(v).ok_or_else(|| {
            err(path, format!("starting_index is a {}, expected an integer", v.type_name()))
        })?,
    };
    Ok(AssignmentFormatGrader {
        kind,
        min_count,
        drop_count,
        category,
        section_type,
        short_label,
        show_only_average,
        hide_average,
        starting_index,
        weight,
    })
}

impl GradingPolicy {
    /// Parses a stored grading policy (the course's `grading_policy` JSON).
    pub fn parse(text: &str) -> Result<GradingPolicy, PolicyError> {
        let stored =
            pyjson::parse(text).map_err(|e| err("", format!("grading policy is not valid JSON: {e}")))?;
        GradingPolicy::from_json(stored)
    }

    /// The default policy (`DEFAULT_GRADING_POLICY`).
    pub fn default_policy() -> GradingPolicy {
        GradingPolicy::parse(DEFAULT_GRADING_POLICY).expect("the default policy is valid")
    }

    /// Builds a policy from a parsed stored dict, merging in the defaults.
    pub(crate) fn from_json(stored: Json) -> Result<GradingPolicy, PolicyError> {
        let mut merged = match stored {
            Json::Object(_) => stored,
            other => {
                return Err(err(
                    "",
                    format!("grading policy must be a JSON object, found a {}", other.type_name()),
                ))
            }
        };
        let defaults = pyjson::parse(DEFAULT_GRADING_POLICY).expect("the default policy is valid JSON");
        for key in ["GRADER", "GRADE_CUTOFFS"] {
            if merged.get(key).is_none() {
                merged.set(key, defaults.get(key).expect("defaults have both keys").clone());
            }
        }

        let mut warnings = Vec::new();
        let entries = match merged.get("GRADER") {
            Some(Json::Array(items)) => items,
            Some(other) => {
                return Err(err("GRADER", format!("must be a list, found a {}", other.type_name())))
            }
            None => unreachable!("filled in above"),
        };
        let mut subgraders = Vec::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            subgraders.push(subgrader_from_conf(entry, &format!("GRADER[{i}]"), &mut warnings)?);
        }

        let cutoffs = match merged.get("GRADE_CUTOFFS") {
            Some(Json::Object(items)) => items
                .iter()
                .map(|(letter, v)| {
                    let c = as_num(v).ok_or_else(|| {
                        err(
                            format!("GRADE_CUTOFFS.{letter}"),
                            format!("is a {}, expected a number", v.type_name()),
                        )
                    })?;
                    let c = c.as_f64();
                    if c.is_nan() {
                        return Err(err(format!("GRADE_CUTOFFS.{letter}"), "is NaN"));
                    }
                    Ok((letter.clone(), c))
                })
                .collect::<Result<Vec<_>, _>>()?,
            Some(other) => {
                return Err(err("GRADE_CUTOFFS", format!("must be an object, found a {}", other.type_name())))
            }
            None => unreachable!("filled in above"),
        };

        let hash = hash::grading_policy_hash(&merged);
        let mut letter_order: Vec<usize> = (0..cutoffs.len()).collect();
        letter_order
            .sort_by(|&a, &b| cutoffs[b].1.partial_cmp(&cutoffs[a].1).unwrap_or(std::cmp::Ordering::Equal));
        let pass_cutoff = cutoffs.iter().map(|(_, c)| *c).filter(|c| *c > 0.0).reduce(f64::min);
        Ok(GradingPolicy {
            merged,
            grader: WeightedGrader { subgraders },
            cutoffs,
            letter_order,
            pass_cutoff,
            hash,
            warnings,
        })
    }

    /// `_compute_letter_grade`: the first cutoff (by value descending, dict order on ties)
    /// that the rounded percent reaches with `>=`.
    pub fn letter_grade(&self, percent: f64) -> Option<&str> {
        self.letter_order
            .iter()
            .map(|&i| &self.cutoffs[i])
            .find(|(_, c)| percent >= *c)
            .map(|(l, _)| l.as_str())
    }

    /// `_compute_passed`: None when no cutoff is positive, else `percent >= min(positive)`.
    pub fn passed(&self, percent: f64) -> Option<bool> {
        self.pass_cutoff.map(|min| percent >= min)
    }
}
