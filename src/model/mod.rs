//! The model between reading and grading: course structure, policy, learners.
//!
//! * [`structure`]: the block DAG of one published course version, what edX collects from
//!   it at publish time, and each learner's view of it.

pub mod structure;
