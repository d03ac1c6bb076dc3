//! One chunk of a course's learners, in user id order: graded with the core, their output
//! rows built, diffed against the chunk's persisted rows ([`crate::compare`]) and their
//! report lines written ([`crate::report::rows`]). Chunks are independent: a course's chunks
//! are graded in parallel and appended in user id order.

use std::collections::HashSet;
use std::sync::Arc;

use anyhow::Result;
use arrow::array::{ArrayRef, RecordBatch};

use super::views::HashCache;
use crate::compare::{self, DiffCounts};
use crate::fxhash::FxHashMap;
use crate::grade::compat::Compat;
use crate::grade::course::CourseGrade;
use crate::grade::graders::Scratch;
use crate::grade::learner::{grade_learner, LearnerGrade, ProblemScores, Rescore, Rules, Source, ViewPlan};
use crate::grade::policy::GradingPolicy;
use crate::grade::subsection::{PersistedValues, SubsectionGrade};
use crate::load::finite::{Check, Sources};
use crate::load::learner::{Data, Learner, VisibleBlocks};
use crate::model::structure::{CourseStructure, CourseView};
use crate::py::time::Timestamp;
use crate::report::rows::Reports;
use crate::write::apply::{apply_chunk, ApplyChunk, ApplyCtx, Passed};
use crate::write::grades::{CourseColumns, SubsectionColumns, SubsectionRow};

/// One subsection of a learner's outcome, reduced to what the outputs need (the problem
/// scores and visible-block records are dropped as soon as the learner is graded, so memory
/// holds a few numbers per learner and subsection, not their scores).
struct SubOut {
    block: u32,
    grade: SubsectionGrade,
    /// The row after the run (persisted or written), if any.
    row: Option<PersistedValues>,
    written: bool,
    source: Source,
    hash: Arc<str>,
    /// A kept row's own `course_version` (None: the graded version).
    kept_version: Option<Arc<str>>,
}

struct Graded {
    subsections: Vec<SubOut>,
    course: CourseGrade,
    /// Set once: the persisted value, else now if the learner passes.
    passed_timestamp: Option<Timestamp>,
}

/// A learner's outcome reduced to its output rows. `new_blocks`, when given, gets the JSON of
/// each visible-block list a written row references that the course's table does not hold.
fn compact(
    ctx: &CourseCtx<'_>,
    l: &Learner,
    g: LearnerGrade,
    cache: &mut HashCache,
    mut new_blocks: Option<&mut FxHashMap<Arc<str>, Arc<str>>>,
) -> Graded {
    let subsections = g
        .subsections
        .iter()
        .map(|r| {
            let (hash, kept_version) = match g.visible_blocks(r) {
                // A written row, or a grade without a row: its own blocks.
                Some(scored) => {
                    let hash = cache.hash(ctx.course_id, ctx.structure, scored);
                    if let Some(blocks) = new_blocks.as_deref_mut().filter(|_| r.written) {
                        if !ctx.blocks.known.contains(&*hash) && !blocks.contains_key(&hash) {
                            let records = crate::grade::learner::block_records(ctx.structure, scored);
                            let json = crate::grade::hash::visible_blocks_json(ctx.course_id, &records);
                            blocks.insert(hash.clone(), json.into());
                        }
                    }
                    (hash, None)
                }
                // A kept row is output as it is: its own blocks and version.
                None => match l.persisted.get(r.block) {
                    Some(p) => (p.hash.clone(), Some(p.version.clone())),
                    None => (Arc::from(""), None),
                },
            };
            SubOut {
                block: r.block,
                grade: r.grade,
                row: r.row,
                written: r.written,
                source: r.source,
                hash,
                kept_version,
            }
        })
        .collect();
    let old = l.course_row.as_ref().and_then(|r| r.2);
    let passed = g.course.passed.unwrap_or(false);
    let passed_timestamp = crate::grade::course::passed_timestamp(old, passed, ctx.grading.as_of);
    Graded { subsections, course: g.course, passed_timestamp }
}

/// What a thread keeps from chunk to chunk of a partition: the course grade's scratch
/// space, the visible-blocks hashes it has computed and its problem score slots.
#[derive(Default)]
pub(super) struct ThreadState {
    scratch: Scratch,
    cache: HashCache,
    scores: ProblemScores,
}

/// One [`ThreadState`] per rayon thread, kept for a course's chunks, partition after
/// partition (a course's partitions load the same structure, so block indices and the
/// visible-blocks hashes cached by them hold across partitions).
pub(super) struct ThreadStates(Vec<std::sync::Mutex<ThreadState>>);

impl Default for ThreadStates {
    /// A state for each thread of the current rayon pool.
    fn default() -> ThreadStates {
        ThreadStates((0..rayon::current_num_threads().max(1)).map(|_| Default::default()).collect())
    }
}

impl ThreadStates {
    /// Run `f` with the current thread's state (a fresh one if it is in use further up this
    /// thread's stack, as it can be when rayon runs another chunk while this one waits).
    pub(super) fn with<T>(&self, f: impl FnOnce(&mut ThreadState) -> T) -> T {
        let k = rayon::current_thread_index().unwrap_or(0) % self.0.len();
        match self.0[k].try_lock() {
            Ok(mut state) => f(&mut state),
            Err(_) => f(&mut ThreadState::default()),
        }
    }
}

/// What chunks add up to besides their rows: diff counts, report text and learners' errors,
/// in user id order.
#[derive(Default)]
pub(super) struct Tally {
    pub(super) subsection_counts: DiffCounts,
    pub(super) course_counts: DiffCounts,
    pub(super) course_csv: String,
    pub(super) problem_csv: String,
    pub(super) learner_errors: Vec<(i64, String)>,
    pub(super) problem_errors: Vec<(i64, String)>,
}

impl Tally {
    /// Append the next chunk's tally.
    pub(super) fn add(&mut self, next: Tally) {
        self.subsection_counts.add(next.subsection_counts);
        self.course_counts.add(next.course_counts);
        self.course_csv.push_str(&next.course_csv);
        self.problem_csv.push_str(&next.problem_csv);
        self.learner_errors.extend(next.learner_errors);
        self.problem_errors.extend(next.problem_errors);
    }
}

/// What one chunk of learners produced, in user id order.
#[derive(Default)]
pub(super) struct ChunkOut {
    pub(super) subsections: Option<RecordBatch>,
    pub(super) courses: Option<RecordBatch>,
    pub(super) subsection_diffs: Option<RecordBatch>,
    pub(super) course_diffs: Option<RecordBatch>,
    /// The rows to apply (`--outputs apply`).
    pub(super) apply: Option<ApplyChunk>,
    pub(super) tally: Tally,
}

/// What grading a course takes of the run's options.
#[derive(Clone, Copy, Debug)]
pub struct GradeSettings {
    /// The rescoring policy and what a missing row reads as.
    pub rules: Rules,
    pub compat: Compat,
    /// The run's "now" (release dates, `passed_timestamp`).
    pub as_of: Timestamp,
}

/// What every chunk of a course reads.
pub(super) struct CourseCtx<'a> {
    pub(super) course_id: &'a str,
    pub(super) structure: &'a CourseStructure,
    pub(super) policy: &'a GradingPolicy,
    pub(super) blocks: &'a VisibleBlocks,
    pub(super) version_subsections: &'a HashSet<String>,
    pub(super) sources: &'a Sources,
    pub(super) grading: &'a GradeSettings,
    /// The course's reports, when they are written.
    pub(super) reports: Option<Reports<'a>>,
    /// Report text buffers handed back once written, so chunks reuse them.
    pub(super) text: &'a TextBuffers,
    /// What the chunks' apply rows take, when the course's apply files are written.
    pub(super) apply: Option<ApplyCtx<'a>>,
}

/// Report text buffers passed from chunk to chunk: a chunk takes a pair, the course's sink
/// writes them out and gives them back emptied, their capacity kept (a chunk's report text is
/// then neither grown by doubling nor faulted in afresh).
#[derive(Default)]
pub(super) struct TextBuffers(std::sync::Mutex<Vec<(String, String)>>);

impl TextBuffers {
    fn take(&self) -> (String, String) {
        self.0.lock().map(|mut v| v.pop()).ok().flatten().unwrap_or_default()
    }

    /// Give back a written pair.
    pub(super) fn give(&self, mut course: String, mut problem: String) {
        course.clear();
        problem.clear();
        if let Ok(mut v) = self.0.lock() {
            v.push((course, problem));
        }
    }
}

impl CourseCtx<'_> {
    fn check(&self) -> Check<'_> {
        Check {
            course_id: self.course_id,
            structure: self.structure,
            compat: &self.grading.compat,
            sources: self.sources,
            blocks: self.blocks,
        }
    }
}

/// Grade a chunk of learners (in user id order) and diff them against `old_*`, the persisted
/// rows of every user id in the chunk's range (enrolled or not).
pub(super) fn grade_chunk(
    ctx: &CourseCtx<'_>,
    learners: &[Learner],
    views: &[Arc<(CourseView, ViewPlan)>],
    (old_subsections, old_courses): (&[RecordBatch], &[RecordBatch]),
    state: &mut ThreadState,
) -> Result<ChunkOut> {
    let ThreadState { scratch, cache, scores } = state;
    let (settings, structure, course_id) = (ctx.grading, ctx.structure, ctx.course_id);
    let graded_run = settings.rules.rescore != Rescore::Read;
    let mut out = ChunkOut::default();
    if ctx.reports.is_some() {
        (out.tally.course_csv, out.tally.problem_csv) = ctx.text.take();
    }
    let mut rows = if graded_run { Rows::sized(structure, views) } else { Rows::default() };
    let mut passed: Vec<Passed> = Vec::new();
    let mut new_blocks: FxHashMap<Arc<str>, Arc<str>> = FxHashMap::default();
    for (l, v) in learners.iter().zip(views) {
        let data = Data { learner: l, blocks: ctx.blocks };
        let g = match grade_learner(
            structure,
            &v.1,
            ctx.policy,
            &settings.compat,
            settings.rules,
            &data,
            scratch,
        ) {
            Ok(g) => g,
            Err(e) => {
                out.tally.learner_errors.push((l.user_id, l.explain(e)));
                continue;
            }
        };
        if !g.is_finite(&settings.compat) {
            return Err(ctx.check().non_finite_grade(&data, &v.1, &g));
        }
        if let Some(reports) = &ctx.reports {
            let (course_csv, problem_csv) = (&mut out.tally.course_csv, &mut out.tally.problem_csv);
            let r =
                reports.learner_lines(&ctx.check(), (&data, &g, &v.0), scores, course_csv, problem_csv)?;
            if let Err(e) = r {
                out.tally.problem_errors.push((l.user_id, e));
            }
        }
        if graded_run {
            let applying = ctx.apply.is_some();
            let graded = compact(ctx, l, g, cache, applying.then_some(&mut new_blocks));
            if applying {
                let before = l.course_row.as_ref().and_then(|r| r.2);
                passed.push(Passed { user_id: l.user_id, before, after: graded.passed_timestamp });
            }
            rows.push(ctx, l, graded);
        }
    }
    if graded_run {
        let written = rows.written.finish(course_id, false)?;
        let (courses, written_courses) = rows.courses.finish(course_id)?;
        // The chunk's persisted rows as the diff reads them: dictionary columns as plain strings.
        let old_subsections = plain_strings(old_subsections)?;
        let (sd, sc) =
            compare::subsection_diffs(course_id, &written, &old_subsections, ctx.version_subsections)?;
        let (cd, cc) = compare::course_grade_diffs(course_id, &written_courses, old_courses)?;
        if let Some(actx) = &ctx.apply {
            out.apply = Some(apply_chunk(actx, (&sd, &cd), &passed, &new_blocks)?);
        }
        out.subsections = Some(rows.subsections.finish(course_id, true)?);
        out.courses = Some(courses);
        (out.subsection_diffs, out.tally.subsection_counts) = (Some(sd), sc);
        (out.course_diffs, out.tally.course_counts) = (Some(cd), cc);
    }
    Ok(out)
}

/// A chunk's output rows: `subsection_grades` (every subsection as read after the run), the
/// rows the run writes (what the diff compares), and `course_grades`.
#[derive(Default)]
struct Rows {
    subsections: SubsectionColumns,
    written: SubsectionColumns,
    courses: CourseColumns,
}

impl Rows {
    /// Columns allocated once for the chunk's rows: every subsection of every learner's view
    /// (a row each in `subsection_grades`, and at most that many written).
    fn sized(structure: &CourseStructure, views: &[Arc<(CourseView, ViewPlan)>]) -> Rows {
        let (mut rows, mut key_bytes) = (0, 0);
        for v in views {
            rows += v.1.subsections.len();
            key_bytes +=
                v.1.subsections
                    .iter()
                    .map(|(s, _)| structure.blocks[*s as usize].row.usage_key.len())
                    .sum::<usize>();
        }
        let version = structure.course_version.len();
        Rows {
            subsections: SubsectionColumns::with_capacity(rows, key_bytes, version),
            written: SubsectionColumns::with_capacity(rows, key_bytes, version),
            courses: CourseColumns::with_capacity(views.len()),
        }
    }

    /// Add a graded learner's rows.
    fn push(&mut self, ctx: &CourseCtx<'_>, l: &Learner, g: Graded) {
        let version = &ctx.structure.course_version;
        let user_id = l.user_id;
        for r in &g.subsections {
            let key = &ctx.structure.blocks[r.block as usize].row.usage_key;
            let first = match r.row {
                Some(row) => row.first_attempted,
                None => r.grade.all.first_attempted,
            };
            self.subsections.push(SubsectionRow {
                user_id,
                usage_key: key,
                course_version: r.kept_version.as_deref().unwrap_or(version),
                values: PersistedValues {
                    earned_all: r.grade.all.earned,
                    possible_all: r.grade.all.possible,
                    earned_graded: r.grade.graded.earned,
                    possible_graded: r.grade.graded.possible,
                    first_attempted: first,
                },
                percent_graded: Some(r.grade.percent_graded(&ctx.grading.compat)),
                attempted_graded: Some(r.grade.attempted_graded()),
                hash: &r.hash,
                source: Some(r.source.as_str()),
            });
            if r.written {
                let row = r.row.expect("a written subsection has its row");
                self.written.push(SubsectionRow {
                    user_id,
                    usage_key: key,
                    course_version: version,
                    values: row,
                    percent_graded: None,
                    attempted_graded: None,
                    hash: &r.hash,
                    source: None,
                });
            }
        }
        self.courses.push(user_id, version, &ctx.policy.hash, &g.course, g.passed_timestamp);
    }
}

/// Batches with every dictionary-encoded column (as the reader returns the columns of
/// [`crate::read::tables::dictionary_for`]) decoded to plain `Utf8`, the schema's metadata kept.
fn plain_strings(batches: &[RecordBatch]) -> Result<Vec<RecordBatch>> {
    use arrow::datatypes::{DataType, Field, Schema};
    batches
        .iter()
        .map(|b| {
            if !b.schema().fields().iter().any(|f| matches!(f.data_type(), DataType::Dictionary(_, _))) {
                return Ok(b.clone());
            }
            let mut fields: Vec<Field> = Vec::with_capacity(b.num_columns());
            let mut columns: Vec<ArrayRef> = Vec::with_capacity(b.num_columns());
            for (f, c) in b.schema().fields().iter().zip(b.columns()) {
                if matches!(f.data_type(), DataType::Dictionary(_, _)) {
                    columns.push(arrow::compute::cast(c, &DataType::Utf8)?);
                    fields.push(f.as_ref().clone().with_data_type(DataType::Utf8));
                } else {
                    columns.push(c.clone());
                    fields.push(f.as_ref().clone());
                }
            }
            let schema = Schema::new_with_metadata(fields, b.schema().metadata().clone());
            Ok(RecordBatch::try_new(Arc::new(schema), columns)?)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_buffers_come_back_empty_with_their_capacity() {
        let pool = TextBuffers::default();
        assert_eq!(pool.take(), (String::new(), String::new()), "an empty pool gives new buffers");
        let (mut course, mut problem) = pool.take();
        course.push_str(&"x".repeat(1000));
        problem.push('y');
        pool.give(course, problem);
        let (course, problem) = pool.take();
        assert!(course.is_empty() && problem.is_empty(), "no text of an earlier chunk is left");
        assert!(course.capacity() >= 1000, "the capacity is kept");
    }

    #[test]
    fn a_state_in_use_on_this_thread_is_not_handed_out_twice() {
        let states = ThreadStates::default();
        states.with(|outer| {
            outer.scores.reset(4);
            let score = crate::grade::scores::ProblemScore {
                raw_earned: None,
                raw_possible: None,
                earned: 1.0,
                possible: 1.0,
                weight: None,
                graded: true,
                first_attempted: None,
            };
            outer.scores.insert(1, score);
            // Nested use on the same thread (rayon running another chunk while this one
            // waits) gets a fresh state instead of deadlocking or sharing.
            states.with(|inner| assert_eq!(inner.scores.len(), 0));
        });
    }
}
