//! Course structure, policy and learners.
