//! Learners: what decides which blocks a learner has (spec §2.3, partition schemes).
//!
//! A learner's group in each partition comes from a different source per scheme, as in
//! edX's partition schemes:
//!
//! * `cohort`: the learner's cohort, if it is linked to a group of *this* partition;
//! * `enrollment_track` (partition 50): the enrollment mode of an *active* enrollment
//!   (`credit` counts as `verified`; a mode the course does not offer counts as `audit`);
//! * `random` (split tests) and any other scheme: the stored assignment
//!   (`user_api_usercoursetag`, the `partition_groups` table). edX assigns a random group
//!   on first access; a learner without a stored one has not been assigned, and is treated
//!   as having no group.

use super::library::{LibraryChoice, StoredSelection};
use super::structure::{CourseStructure, ENROLLMENT_TRACK_GROUPS, ENROLLMENT_TRACK_PARTITION_ID};

/// What makes two learners' course views equal: their groups in the restricting partitions
/// and their children of the randomized library blocks.
pub(crate) type ViewKey = (Vec<Option<i64>>, LibraryChoice);

/// What the grading structure needs to know about one enrolled learner.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LearnerContext {
    pub mode: String,
    pub is_active: bool,
    /// The cohort's linked content group: (partition id, group id).
    pub cohort_group: Option<(i64, i64)>,
    /// Stored group assignments: (partition id, group id).
    pub partition_groups: Vec<(i64, i64)>,
    /// Stored selections of randomized library blocks (`library_selections`), at most one
    /// per block.
    pub library_selections: Vec<StoredSelection>,
}

/// A learner's `certificates_generatedcertificate` row.
#[derive(Clone, Debug, PartialEq)]
pub struct Certificate {
    pub status: String,
    pub mode: String,
}

impl LearnerContext {
    /// The learner's group in a partition of this course, or None.
    pub fn group_of(
        &self,
        structure: &CourseStructure,
        course_modes: &[String],
        partition_id: i64,
    ) -> Option<i64> {
        let partition = structure.partitions.iter().find(|p| p.id == partition_id)?;
        match partition.scheme.as_str() {
            "cohort" => self.cohort_group.filter(|(pid, _)| *pid == partition_id).map(|(_, g)| g),
            "enrollment_track" if partition_id == ENROLLMENT_TRACK_PARTITION_ID => {
                if !self.is_active {
                    return None;
                }
                let mode = if self.mode == "credit" { "verified" } else { self.mode.as_str() };
                let offered = course_modes.iter().any(|m| m == mode || (m == "credit" && mode == "verified"));
                let slug = if offered { mode } else { "audit" };
                ENROLLMENT_TRACK_GROUPS.iter().find(|(s, _)| *s == slug).map(|(_, id)| *id)
            }
            _ => self.partition_groups.iter().find(|(pid, _)| *pid == partition_id).map(|(_, g)| *g),
        }
    }

    /// The learner's groups in the partitions that restrict blocks, and their children of
    /// the library blocks: learners with equal keys have identical course views, so views can
    /// be computed once per key ([`CourseStructure::library_view`] with the key's choice).
    pub(crate) fn view_key(
        &self,
        structure: &CourseStructure,
        course_modes: &[String],
        restricting: &[i64],
    ) -> ViewKey {
        let groups = restricting.iter().map(|&pid| self.group_of(structure, course_modes, pid)).collect();
        (groups, structure.library_choice(&self.library_selections).0)
    }
}
