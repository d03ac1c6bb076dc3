//! regrade: recompute Open edX grades in bulk, bit for bit as edX computes them.
//!
//! The crate is laid out as the pipeline it runs:
//!
//! * [`grade`]: the pure edX grading math (no I/O): scores, subsection and course grades,
//!   graders, grading policies, hashes, Python-compatible number formatting.
//! * [`model`]: course structure (the block DAG of one published version), per-learner
//!   structure filtering, learners.
//! * [`report`]: edX's course and problem grade reports, cell by cell (CSV dialect, file
//!   names, formula neutralisation), built on [`grade`].

pub mod fxhash;
pub mod grade;
pub mod model;
pub mod report;

// I/O side: schemas, object stores, Parquet read/write, synthetic data.
pub mod generate;
pub mod read;
pub mod schema;
pub mod store;
pub mod write;

// Crash and pause points of the end-to-end tests (`REGRADE_TEST_*`; never set in production).
#[doc(hidden)]
pub mod hooks;

// The diff step: a hash join over the Arrow arrays of both sides.
pub mod compare;

// `regrade run`: planning and per-course execution of the whole pipeline.
pub mod run;
