//! The model the grading core works on: course structure and learners' groups (no I/O; the
//! [`crate::load`] stage builds it from the input rows).
//!
//! * [`learner`]: which groups a learner is in, from enrollments, cohorts and assignments.
//! * [`library`]: which children of randomized library blocks a learner has.
//! * [`structure`]: the block DAG of one published course version, what edX collects from
//!   it at publish time, and each learner's view of it.

pub mod learner;
pub mod library;
pub mod structure;
