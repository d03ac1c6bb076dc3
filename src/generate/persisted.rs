//! Placeholder persisted grades: `persistent_subsection_grades`, `visible_blocks`,
//! `subsection_grade_overrides` and `persistent_course_grades`.
//!
//! **These values are plausible, not what edX would have stored.** They are derived from the
//! generated scores with a simplified formula (weighted sums, no per-learner structure
//! filtering, no graders, drops or rounding rules) so that the tables have the right shape:
//! earned <= possible, percent and letter consistent with the course's cutoffs, some learners
//! with no rows, a few overrides pointing at existing grade ids, and `visible_blocks` rows with
//! `blocks_json` in edX's format. They will be replaced by the real computation of the grading
//! core (`src/grade/`) once it lands, so the dataset carries persisted grades that match (or
//! deliberately differ from) a recomputation.

use anyhow::Result;
use base64::Engine;
use sha1::{Digest, Sha1};

use super::course::{Course, Subsection, Version, DAY, STREAM_PERSISTED};
use super::learners::LearnerOutcome;
use super::rng::Rng;
use super::table::{TableBuilder, V};

/// Builders of the persisted-grade tables of one course.
pub struct PersistedTables<'a> {
    pub persistent_subsection_grades: &'a mut TableBuilder,
    pub subsection_grade_overrides: &'a mut TableBuilder,
    pub persistent_course_grades: &'a mut TableBuilder,
}

/// Per-course state: subsections of the latest version with their visible-blocks hashes.
pub struct CoursePersisted<'a> {
    course: &'a Course,
    version: &'a Version,
    subsections: Vec<Subsection>,
    hashes: Vec<String>,
    policy_hash: String,
    next_grade_id: i64,
    next_course_grade_id: i64,
}

/// `base64(sha1(text))`, edX's hash of visible blocks and grading policies (edx-grading.md §7).
pub fn edx_hash(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha1::digest(text.as_bytes()))
}

/// A float as Python's `repr` writes the usual values (`2.0`, `0.5`).
fn py_float(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e16 {
        format!("{x:.1}")
    } else {
        format!("{x}")
    }
}

impl<'a> CoursePersisted<'a> {
    /// Set up the course and write its `visible_blocks` rows (one per subsection).
    pub fn new(course: &'a Course, visible_blocks: &mut TableBuilder) -> Result<Self> {
        let version = course.latest();
        let subsections = version.subsections();
        let mut hashes = Vec::with_capacity(subsections.len());
        for s in &subsections {
            let blocks: Vec<String> = s
                .problems
                .iter()
                .map(|&b| {
                    let block = &version.blocks[b];
                    let raw_possible = match block.block_type {
                        "openassessment" => "null".to_string(),
                        _ => py_float(block.max_score.unwrap_or(0.0)),
                    };
                    let weight = block.weight.map_or("null".to_string(), py_float);
                    format!(
                        "{{\"graded\":{},\"locator\":\"{}\",\"raw_possible\":{raw_possible},\"weight\":{weight}}}",
                        block.graded.unwrap_or(true),
                        block.usage_key
                    )
                })
                .collect();
            let json = format!(
                "{{\"blocks\":[{}],\"course_key\":\"{}\",\"version\":1}}",
                blocks.join(","),
                course.id
            );
            let hash = edx_hash(&json);
            visible_blocks.row(&[V::Str(&hash), V::Str(&json), V::Str(&course.id)])?;
            hashes.push(hash);
        }
        Ok(Self {
            course,
            version,
            subsections,
            hashes,
            policy_hash: edx_hash(&version.policy.json()),
            next_grade_id: ((course.index as i64) + 1) << 36,
            next_course_grade_id: ((course.index as i64) + 1) << 36,
        })
    }

    /// Persisted rows of one learner: most learners have them, some have none.
    pub fn learner(
        &mut self,
        seed: u64,
        learner: &LearnerOutcome,
        out: &mut PersistedTables<'_>,
    ) -> Result<()> {
        let mut rng = Rng::new(seed, &[STREAM_PERSISTED, self.course.index as u64, learner.user_id as u64]);
        if rng.chance(0.15) {
            return Ok(());
        }
        let cid = self.course.id.as_str();
        let (mut course_earned, mut course_possible) = (0.0, 0.0);
        let mut last_modified = learner.enrolled_at;
        for (s, hash) in self.subsections.iter().zip(&self.hashes) {
            let seq = &self.version.blocks[s.block];
            let (mut earned, mut possible, mut first): (f64, f64, Option<i64>) = (0.0, 0.0, None);
            for &b in &s.problems {
                let block = &self.version.blocks[b];
                let raw_possible = block.max_score.unwrap_or(0.0);
                let (raw_earned, at) = match learner.scores.get(&b) {
                    Some(&(e, _, at)) => (e, Some(at)),
                    None => (0.0, None),
                };
                let (e, p) = match block.weight {
                    Some(w) if raw_possible != 0.0 => (raw_earned.min(raw_possible) * w / raw_possible, w),
                    _ => (raw_earned.min(raw_possible), raw_possible),
                };
                earned += e;
                possible += p;
                first = match (first, at) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            if first.is_none() && rng.chance(0.7) {
                continue; // never attempted: usually no row
            }
            let graded = seq.graded == Some(true);
            let created = first.unwrap_or(learner.enrolled_at) + DAY;
            let modified = created + (rng.range(0, 30) as i64) * DAY;
            last_modified = last_modified.max(modified);
            self.next_grade_id += 1;
            let id = self.next_grade_id;
            let (eg, pg) = if graded { (earned, possible) } else { (0.0, 0.0) };
            out.persistent_subsection_grades.row(&[
                V::Int(id),
                V::Int(learner.user_id),
                V::Str(cid),
                V::Str(&seq.usage_key),
                V::Str(&self.version.id),
                V::Ts(seq.subtree_edited_on),
                V::Float(earned),
                V::Float(possible),
                V::Float(eg),
                V::Float(pg),
                V::opt_ts(first),
                V::Str(hash),
                V::Ts(created),
                V::Ts(modified),
            ])?;
            if graded {
                course_earned += eg;
                course_possible += pg;
            }
            // About 1% of rows, and always the course's first one (small datasets get one too).
            let first_of_course = id == (((self.course.index as i64) + 1) << 36) + 1;
            if rng.chance(0.01) || first_of_course {
                let proctoring = rng.chance(0.5);
                out.subsection_grade_overrides.row(&[
                    V::Int(id),
                    V::Float(if proctoring { 0.0 } else { (earned + 1.0).min(possible) }),
                    V::Float(possible),
                    V::opt_float((!proctoring).then_some((eg + 1.0).min(pg))),
                    V::Float(pg),
                    V::Str(if proctoring { "PROCTORING" } else { "GRADEBOOK" }),
                    V::opt_str((!proctoring).then_some("regrade after appeal")),
                    V::Ts(modified + DAY),
                    V::Ts(modified + DAY),
                ])?;
            }
        }
        let percent = if course_possible > 0.0 {
            (course_earned / course_possible * 100.0).round() / 100.0
        } else {
            0.0
        };
        let letter = self.version.policy.letter(percent);
        let passed = percent >= self.version.policy.pass_cutoff();
        self.next_course_grade_id += 1;
        out.persistent_course_grades.row(&[
            V::Int(self.next_course_grade_id),
            V::Int(learner.user_id),
            V::Str(cid),
            V::Str(&self.version.id),
            V::Ts(self.version.blocks[0].subtree_edited_on),
            V::Str(&self.policy_hash),
            V::Float(percent),
            V::Str(letter),
            V::opt_ts(passed.then_some(last_modified)),
            V::Ts(learner.enrolled_at + DAY),
            V::Ts(last_modified),
        ])?;
        Ok(())
    }
}
