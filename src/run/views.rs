//! What learners of a course share, computed once: their views of the course (one per
//! distinct set of groups) and the visible-blocks hashes of their subsections.

use std::sync::Arc;

use crate::fxhash::FxHashMap;
use crate::grade::hash::visible_blocks_hash;
use crate::grade::learner::ViewPlan;
use crate::grade::scores::BlockRecord;
use crate::load::learner::Learner;
use crate::model::learner::ViewKey;
use crate::model::structure::{CourseStructure, CourseView};
use crate::py::fmt::PyNum;
use crate::py::time::Timestamp;

/// Each learner's view of the course and its plan; learners with the same groups and library
/// selections share one (computed once per distinct key).
pub(crate) fn learner_views(
    structure: &CourseStructure,
    learners: &[Learner],
    modes: &[String],
    now: Timestamp,
) -> Vec<Arc<(CourseView, ViewPlan)>> {
    let restricting = structure.restricting_partitions();
    let mut views: FxHashMap<ViewKey, Arc<(CourseView, ViewPlan)>> = FxHashMap::default();
    let mut out = Vec::with_capacity(learners.len());
    for l in learners {
        let key = l.ctx.view_key(structure, modes, &restricting);
        let v = match views.get(&key) {
            Some(v) => v.clone(),
            None => {
                let view = structure.library_view(now, |pid| l.ctx.group_of(structure, modes, pid), &key.1);
                let plan = ViewPlan::new(structure, &view);
                let v = Arc::new((view, plan));
                views.insert(key, v.clone());
                v
            }
        };
        out.push(v);
    }
    out
}

/// Visible-blocks hashes already computed on this thread: learners mostly share the same
/// records per subsection, and the SHA-1 over the JSON is the costliest step of a learner.
/// Keyed by a fingerprint; a hit is used only when the records are bit-for-bit the same.
#[derive(Default)]
pub(crate) struct HashCache {
    entries: FxHashMap<u64, Vec<(Vec<BlockRecord>, String)>>,
}

fn num_bits(n: Option<PyNum>) -> (u8, u64) {
    match n {
        None => (0, 0),
        Some(PyNum::Int(i)) => (1, i as u64),
        Some(PyNum::Float(f)) => (2, f.to_bits()),
    }
}

fn same_records(a: &[BlockRecord], b: &[BlockRecord]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.locator == y.locator
                && x.graded == y.graded
                && num_bits(x.weight) == num_bits(y.weight)
                && num_bits(x.raw_possible) == num_bits(y.raw_possible)
        })
}

impl HashCache {
    pub(crate) fn hash(&mut self, course_id: &str, records: &[BlockRecord]) -> String {
        use std::hash::{Hash, Hasher};
        let mut h = crate::fxhash::FxHasher::default();
        for r in records {
            r.locator.hash(&mut h);
            r.graded.hash(&mut h);
            num_bits(r.weight).hash(&mut h);
            num_bits(r.raw_possible).hash(&mut h);
        }
        let bucket = self.entries.entry(h.finish()).or_default();
        if let Some((_, hash)) = bucket.iter().find(|(r, _)| same_records(r, records)) {
            return hash.clone();
        }
        let hash = visible_blocks_hash(course_id, records);
        bucket.push((records.to_vec(), hash.clone()));
        hash
    }
}
