//! A learner as loaded: every input row of theirs that grading and the reports read
//! ([`Learner`]), and the views of it the grading core reads through [`LearnerData`]: the
//! persisted rows ([`Data`]) or the rows a run leaves behind ([`AfterRun`]).

use std::sync::Arc;

use crate::fxhash::{FxHashMap, FxHashSet};
use crate::grade::learner::LearnerData;
use crate::grade::scores::{BlockRecord, CsmScore, InvalidSubmission, ProblemScore, SubmissionScore};
use crate::grade::subsection::{Override, PersistedValues};
use crate::model::learner::{Certificate, LearnerContext};
use crate::py::time::Timestamp;

/// A learner's rows keyed by block, sorted by block once loaded ([`ByBlock::seal`]): about
/// half the memory of a hash map, and a lookup is a binary search over a few dozen entries.
/// Each row keeps the index of its file in [`super::finite::Sources`] (in what was the block's padding).
pub(crate) struct ByBlock<T>(Vec<Entry<T>>);

struct Entry<T> {
    block: u32,
    file: u32,
    value: T,
}

impl<T> Default for ByBlock<T> {
    fn default() -> Self {
        ByBlock(Vec::new())
    }
}

impl<T> ByBlock<T> {
    pub(crate) fn push(&mut self, block: u32, file: u32, value: T) {
        self.0.push(Entry { block, file, value });
    }

    /// Sort by block and give back spare capacity; `Err(block)` for a block pushed twice.
    pub(crate) fn seal(&mut self) -> Result<(), u32> {
        self.0.sort_unstable_by_key(|e| e.block);
        if let Some(w) = self.0.windows(2).find(|w| w[0].block == w[1].block) {
            return Err(w[0].block);
        }
        self.0.shrink_to_fit();
        Ok(())
    }

    pub(crate) fn get(&self, block: u32) -> Option<&T> {
        self.get_with_file(block).map(|(v, _)| v)
    }

    /// The row and the index of its file in [`super::finite::Sources`].
    pub(crate) fn get_with_file(&self, block: u32) -> Option<(&T, u32)> {
        let i = self.0.binary_search_by_key(&block, |e| e.block).ok()?;
        Some((&self.0[i].value, self.0[i].file))
    }

    /// Every (block, row), by block.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, &T)> {
        self.0.iter().map(|e| (e.block, &e.value))
    }

    pub(crate) fn contains(&self, block: u32) -> bool {
        self.get(block).is_some()
    }
}

/// A persisted subsection row as grading and the outputs need it.
pub(crate) struct PersistedRow {
    pub(crate) values: PersistedValues,
    /// Rare: boxed.
    pub(crate) ov: Option<Box<Override>>,
    /// `visible_blocks_hash` and `course_version`, interned per course.
    pub(crate) hash: Arc<str>,
    pub(crate) version: Arc<str>,
}

/// One enrolled learner with everything grading and the reports need.
#[derive(Default)]
pub(crate) struct Learner {
    pub(crate) user_id: i64,
    pub(crate) ctx: LearnerContext,
    pub(crate) csm: ByBlock<CsmScore>,
    /// Latest submission per block, with its id (for picking the latest) and its file.
    pub(crate) submissions: FxHashMap<u32, (SubmissionScore, i64, u32)>,
    /// Persisted subsection rows by block.
    pub(crate) persisted: ByBlock<PersistedRow>,
    /// Persisted course grade: (percent_grade, letter_grade, passed_timestamp).
    pub(crate) course_row: Option<(f64, String, Option<Timestamp>)>,
    pub(crate) cohort_name: Option<String>,
    pub(crate) team_name: Option<String>,
    /// Submissions rows edX's grading rejects (negative earned or possible): (block, row id,
    /// where the row is). Rare; named in the learner's error if the row is the latest.
    pub(crate) invalid_submissions: Vec<(u32, i64, String)>,
    pub(crate) allowlisted: bool,
    pub(crate) certificate: Option<Certificate>,
}

impl Learner {
    /// The learner's grading error, with the submissions rows edX rejected, by file and key.
    pub(crate) fn explain(&self, e: InvalidSubmission) -> String {
        let rows: Vec<&str> = self
            .invalid_submissions
            .iter()
            .filter(|(b, id, _)| self.submissions.get(b).is_some_and(|(_, latest, _)| latest == id))
            .map(|(_, _, at)| at.as_str())
            .collect();
        if rows.is_empty() {
            e.to_string()
        } else {
            format!("{e}: {}", rows.join("; "))
        }
    }
}

/// The learner's data as the grading core sees it.
pub(crate) struct Data<'a> {
    pub(crate) learner: &'a Learner,
    pub(crate) blocks: &'a VisibleBlocks,
}

impl LearnerData for Data<'_> {
    fn submission(&self, block: u32) -> Option<&SubmissionScore> {
        self.learner.submissions.get(&block).map(|(s, _, _)| s)
    }
    fn csm(&self, block: u32) -> Option<&CsmScore> {
        self.learner.csm.get(block)
    }
    fn persisted(&self, subsection: u32) -> Option<(&PersistedValues, Option<&Override>)> {
        self.learner.persisted.get(subsection).map(|p| (&p.values, p.ov.as_deref()))
    }
    fn persisted_blocks(&self, subsection: u32) -> Option<&[BlockRecord]> {
        self.blocks.get(&self.learner.persisted.get(subsection)?.hash)
    }
}

/// The learner's data after the run, as edX's report path would read it back: rows this run
/// wrote replace the persisted ones, with their new visible blocks (`written`: the scores
/// they were graded with, by block).
pub(crate) struct AfterRun<'a> {
    pub(crate) before: &'a Data<'a>,
    pub(crate) rows: FxHashMap<u32, (PersistedValues, Option<&'a Override>)>,
    pub(crate) written: FxHashMap<u32, &'a [(u32, ProblemScore)]>,
}

impl LearnerData for AfterRun<'_> {
    fn submission(&self, block: u32) -> Option<&SubmissionScore> {
        self.before.submission(block)
    }
    fn csm(&self, block: u32) -> Option<&CsmScore> {
        self.before.csm(block)
    }
    fn persisted(&self, subsection: u32) -> Option<(&PersistedValues, Option<&Override>)> {
        match self.rows.get(&subsection) {
            Some((v, o)) => Some((v, *o)),
            // A subsection this run did not grade (outside the learner's structure) keeps its row.
            None => self.before.persisted(subsection),
        }
    }
    /// A written row's blocks are its [`LearnerData::written_scores`], not records.
    fn persisted_blocks(&self, subsection: u32) -> Option<&[BlockRecord]> {
        if self.written.contains_key(&subsection) {
            return None;
        }
        self.before.persisted_blocks(subsection)
    }
    fn written_scores(&self, subsection: u32) -> Option<&[(u32, ProblemScore)]> {
        self.written.get(&subsection).copied()
    }
}

/// Parsed `grades_visibleblocks` rows of the course, by hash.
#[derive(Default)]
pub(crate) struct VisibleBlocks {
    pub(crate) parsed: FxHashMap<String, Vec<BlockRecord>>,
    /// Every hash of the course's `visible_blocks` rows (referenced or not).
    pub(crate) known: FxHashSet<String>,
}

impl VisibleBlocks {
    pub(crate) fn get(&self, hash: &str) -> Option<&[BlockRecord]> {
        self.parsed.get(hash).map(Vec::as_slice)
    }
}
