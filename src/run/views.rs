//! What learners of a course share, computed once: their views of the course (one per
//! distinct set of groups) and the visible-blocks hashes of their subsections.

use std::sync::Arc;

use crate::fxhash::FxHashMap;
use crate::grade::hash::visible_blocks_hash;
use crate::grade::learner::{block_records, ViewPlan};
use crate::grade::scores::ProblemScore;
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
/// A subsection's records are a function of its problems' blocks and of each score's weight,
/// possible and graded flag ([`block_records`]), so the cache is keyed by those, without
/// building the records (or copying a usage key) unless the hash is new. Keyed by a
/// fingerprint; a hit is used only when every block and value is bit-for-bit the same. A
/// cache serves one course version at a time: asked for another, it starts again.
#[derive(Default)]
pub(crate) struct HashCache {
    entries: FxHashMap<u64, Vec<Entry>>,
    /// The course and version the entries are of.
    serves: Option<(String, String)>,
}

/// A list of records as the cache knows it, and its hash.
type Entry = (Vec<RecordKey>, Arc<str>);

/// What a `BlockRecord` holds of a scored block: the block, its graded flag, and the bits of
/// its weight and raw possible (as they are stored).
type RecordKey = (u32, bool, (u8, u64), (u8, u64));

fn num_bits(n: Option<PyNum>) -> (u8, u64) {
    match n {
        None => (0, 0),
        Some(PyNum::Int(i)) => (1, i as u64),
        Some(PyNum::Float(f)) => (2, f.to_bits()),
    }
}

fn record_key(&(b, s): &(u32, ProblemScore)) -> RecordKey {
    (b, s.graded, num_bits(s.weight), num_bits(s.raw_possible.map(PyNum::Float)))
}

impl HashCache {
    /// The visible-blocks hash of a subsection graded with `scored` (block and score, in
    /// problem order) in `course_id`, whose blocks are `structure`'s.
    pub(crate) fn hash(
        &mut self,
        course_id: &str,
        structure: &CourseStructure,
        scored: &[(u32, ProblemScore)],
    ) -> Arc<str> {
        use std::hash::{Hash, Hasher};
        let serves = |(c, v): &(String, String)| c == course_id && *v == structure.course_version;
        if !self.serves.as_ref().is_some_and(serves) {
            self.entries.clear();
            self.serves = Some((course_id.to_string(), structure.course_version.clone()));
        }
        let mut h = crate::fxhash::FxHasher::default();
        for s in scored {
            record_key(s).hash(&mut h);
        }
        let bucket = self.entries.entry(h.finish()).or_default();
        let same = |keys: &[RecordKey]| {
            keys.len() == scored.len() && keys.iter().zip(scored).all(|(k, s)| *k == record_key(s))
        };
        if let Some((_, hash)) = bucket.iter().find(|(keys, _)| same(keys)) {
            return hash.clone();
        }
        let hash: Arc<str> = visible_blocks_hash(course_id, &block_records(structure, scored)).into();
        bucket.push((scored.iter().map(record_key).collect(), hash.clone()));
        hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::structure::BlockRow;

    fn structure() -> CourseStructure {
        structure_of("v1", "p")
    }

    /// A course version whose problems are `{problem}1` and `{problem}2`.
    fn structure_of(version: &str, problem: &str) -> CourseStructure {
        let row = |key: &str, kind: &str, kids: &[&str]| BlockRow {
            usage_key: key.to_string(),
            block_type: kind.to_string(),
            children: Some(kids.iter().map(|k| k.to_string()).collect()),
            has_score: kind == "problem",
            max_score: (kind == "problem").then_some(2.0),
            start: Some(0),
            ..Default::default()
        };
        let rows = vec![
            row("course", "course", &["ch"]),
            row("ch", "chapter", &["seq"]),
            row("seq", "sequential", &[&format!("{problem}1"), &format!("{problem}2")]),
            row(&format!("{problem}1"), "problem", &[]),
            row(&format!("{problem}2"), "problem", &[]),
        ];
        CourseStructure::build("course-v1:o+c+r", version, rows, vec![], &[], None).expect("a valid course")
    }

    fn score(weight: Option<f64>, raw_possible: Option<f64>, graded: bool) -> ProblemScore {
        ProblemScore {
            raw_earned: Some(1.0),
            raw_possible,
            earned: 1.0,
            possible: 2.0,
            weight: weight.map(PyNum::Float),
            graded,
            first_attempted: None,
        }
    }

    #[test]
    fn the_cache_gives_the_hash_of_the_records_and_tells_apart_what_they_hold() {
        let s = structure();
        let (p1, p2) = (s.index["p1"], s.index["p2"]);
        let lists = [
            vec![(p1, score(None, Some(2.0), true)), (p2, score(None, Some(2.0), true))],
            vec![(p2, score(None, Some(2.0), true)), (p1, score(None, Some(2.0), true))],
            vec![(p1, score(Some(3.0), Some(2.0), true)), (p2, score(None, Some(2.0), true))],
            vec![(p1, score(None, Some(4.0), true)), (p2, score(None, Some(2.0), true))],
            vec![(p1, score(None, None, true)), (p2, score(None, Some(2.0), true))],
            vec![(p1, score(None, Some(2.0), false)), (p2, score(None, Some(2.0), true))],
            vec![(p1, score(None, Some(2.0), true))],
            vec![],
        ];
        let mut cache = HashCache::default();
        let mut hashes = std::collections::BTreeSet::new();
        // Twice: the second round is answered from the cache.
        for _ in 0..2 {
            for scored in &lists {
                let expected = visible_blocks_hash("course-v1:o+c+r", &block_records(&s, scored));
                assert_eq!(&*cache.hash("course-v1:o+c+r", &s, scored), expected.as_str());
                hashes.insert(expected);
            }
        }
        assert_eq!(hashes.len(), lists.len(), "every list has its own hash");
        // Only what the records hold matters: an earned score does not.
        let mut other = lists[0].clone();
        other[0].1.earned = 0.0;
        other[0].1.raw_earned = Some(0.0);
        let expected = visible_blocks_hash("course-v1:o+c+r", &block_records(&s, &lists[0]));
        assert_eq!(&*cache.hash("course-v1:o+c+r", &s, &other), expected.as_str());
    }

    #[test]
    fn a_cache_asked_for_another_course_version_does_not_answer_from_the_first() {
        let (v1, v2) = (structure_of("v1", "p"), structure_of("v2", "q"));
        // The same block indices and scores name other problems in the second version.
        let scored = vec![(v1.index["p1"], score(None, Some(2.0), true))];
        assert_eq!(v2.index["q1"], v1.index["p1"]);
        let mut cache = HashCache::default();
        let first = cache.hash("course-v1:o+c+r", &v1, &scored);
        let second = cache.hash("course-v1:o+c+r", &v2, &scored);
        assert_eq!(&*second, visible_blocks_hash("course-v1:o+c+r", &block_records(&v2, &scored)).as_str());
        assert_ne!(first, second);
        // And another course with the same version strings.
        let other = cache.hash("course-v1:o+other+r", &v2, &scored);
        assert_eq!(
            &*other,
            visible_blocks_hash("course-v1:o+other+r", &block_records(&v2, &scored)).as_str()
        );
    }
}
