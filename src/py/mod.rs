//! Python's own ways of writing numbers, JSON and times, where edX's output depends on them:
//! the bottom of the pipeline, imported by the model, the grading core, the reports and the
//! writers, and importing nothing of regrade.
//!
//! * [`fmt`]: `repr(float)`, `format(x, '.2%')`, `'.3n'`, and [`fmt::PyNum`] (Python's
//!   int/float distinction);
//! * [`json`]: `json.loads` / `json.dumps(sort_keys=True)` as the two edX hashes need them;
//! * [`time`]: timestamps as regrade holds them ([`time::Timestamp`]) and writes them.

pub mod fmt;
pub mod json;
pub mod time;
