//! The pure edX grading math: no I/O, plain data in, plain data out.
//!
//! Everything here reproduces `../shared/spec/edx-grading.md` bit for bit in f64:
//!
//! * Python's float repr, `%`/`g` formatting and `json.dumps` are in [`crate::py`].
//! * [`numeric`]: `compute_percent`, `round_away_from_zero`, the course percent, `compare_scores`.
//! * [`compat`]: the release-dependent rules, chosen by profile name.
//! * [`scores`]: problem scores (`get_score`, `weighted_score`, `aggregate_scores`).
//! * [`subsection`]: subsection grades, overrides, set-once and only-if-higher rules.
//! * [`graders`], [`policy`], [`course`]: graders, grading policies, course grades.
//! * [`hash`]: the VisibleBlocks and grading-policy hashes.
//! * [`learner`]: one learner's subsection and course grades under a rescoring policy.
//! * [`finite`]: whether a learner's grades are finite, and the first score that is not.
//! * [`absent`]: what a learner's course grade reads as with missing rows computed or read as
//!   zero (`grades.assume_zero_grade_if_absent`, removed in Olive; the backfill's readiness).

pub mod absent;
pub mod compat;
pub mod course;
pub mod finite;
pub mod graders;
pub mod hash;
pub mod learner;
pub mod numeric;
pub mod policy;
pub mod scores;
pub mod subsection;
