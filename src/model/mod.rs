//! The model between reading and grading: course structure, policy, learners.
//!
//! * [`learner`]: which groups a learner is in, from enrollments, cohorts and assignments.
//! * [`load`]: normalised Arrow batches to the model's rows.
//! * [`structure`]: the block DAG of one published course version, what edX collects from
//!   it at publish time, and each learner's view of it.

pub mod learner;
pub mod load;
pub mod structure;
