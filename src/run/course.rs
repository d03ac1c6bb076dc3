//! One course of `run`, partition by partition ([`CourseRun`]): each partition's input rows
//! (read, filtered to the course and its user id range) loaded ([`crate::load`]), its enrolled
//! learners graded in chunks (`chunk.rs`), and their output rows appended to the course's
//! files, which are uploaded as they grow and published once the course is complete.
//!
//! Learners are taken in chunks by user id ([`Settings::learners_per_chunk`]): a chunk's
//! output rows are built, diffed against the persisted rows of its user id range and encoded,
//! then dropped. Chunks are graded in parallel (rayon) and appended in user id order, and the
//! partitions are user id ranges taken in order, so results do not depend on the thread
//! count, the chunk size or the partitioning.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use anyhow::{Context, Result};
use arrow::array::RecordBatch;
use object_store::path::Path;
use rayon::prelude::*;

use super::chunk::{grade_chunk, ChunkOut, CourseCtx, Tally, TextBuffers, ThreadStates};
use super::options::Settings;
use super::plan::CoursePlan;
use super::views::learner_views;
use crate::compare::DiffCounts;
use crate::grade::learner::{Rescore, ViewPlan};
use crate::load::learner::Learner;
use crate::load::{self, CourseTables, Globals, Loaded, Warning};
use crate::model::structure::CourseView;
use crate::py::time::Timestamp;
use crate::report::rows::Reports;
use crate::report::{self, GradingContext};
use crate::store::Location;
use crate::write::apply::{ApplyCounts, ApplyCtx, ApplyFiles};
use crate::write::stream::{write_text, Streamed, StreamedFile};
use crate::write::{sha1_hex, CourseTableEncoder, WrittenFile};

/// What grading one course produced, for the manifest (its files are published by
/// [`CourseRun::finish`]).
#[derive(Default)]
pub(crate) struct CourseOutput {
    pub course_id: String,
    pub course_version: String,
    pub published_at: Option<Timestamp>,
    pub grading_policy_hash: String,
    pub learners: usize,
    pub learner_errors: usize,
    /// Rows of `subsection_grades` and `course_grades` (whether or not they are written).
    pub subsection_rows: usize,
    pub course_rows: usize,
    /// Diff counts (all zero when nothing was regraded: `--rescore read`).
    pub subsection_diffs: DiffCounts,
    pub course_grade_diffs: DiffCounts,
    /// Rows read per table, for the manifest.
    pub rows_read: BTreeMap<String, usize>,
    /// Ignored input rows (for blocks not in the graded version, or learners not enrolled).
    pub ignored_rows: BTreeMap<String, usize>,
    /// Suspicious rows kept as edX keeps them (e.g. `earned_above_possible`).
    pub warnings: BTreeMap<String, Warning>,
    /// What the course's apply files hold (None: no apply files, as without `apply` or for
    /// a frozen course left out).
    pub apply: Option<ApplyCounts>,
    /// The course's grades are frozen (`apply` only).
    pub grades_frozen: bool,
}

/// A course's outputs as its chunks come in, in user id order: the Parquet files being
/// encoded and uploaded, the report files, the diff counts and the learners' errors.
struct CourseSink {
    subsections: Option<CourseTableEncoder>,
    courses: Option<CourseTableEncoder>,
    subsection_diffs: Option<CourseTableEncoder>,
    course_diffs: Option<CourseTableEncoder>,
    /// The course and problem grade reports, when written.
    reports: Option<[StreamedFile; 2]>,
    /// The apply files, when written.
    apply: Option<ApplyFiles>,
    subsection_rows: usize,
    course_rows: usize,
    tally: Tally,
}

impl CourseSink {
    fn new(
        output: &Location,
        course_id: &str,
        settings: &Settings,
        rt: &tokio::runtime::Handle,
    ) -> Result<Self> {
        let graded = settings.grading.rules.rescore != Rescore::Read;
        let grades = graded && settings.outputs.grades;
        let diffs = graded && settings.outputs.diffs;
        let encoder = |on: bool, folder: &'static str, table: &'static str| {
            on.then(|| CourseTableEncoder::new(output, course_id, (folder, table), rt)).transpose()
        };
        let reports = match settings.outputs.reports {
            true => {
                let [course, problem] = Reports::names(course_id, &settings.reports);
                let file = |name: &str| -> Result<StreamedFile> {
                    Ok(StreamedFile::new(
                        output.store.clone(),
                        report_path(output, course_id, name)?,
                        rt.clone(),
                    ))
                };
                Some([file(&course)?, file(&problem)?])
            }
            false => None,
        };
        let apply = match settings.apply {
            Some(a) if graded => Some(ApplyFiles::new(output, course_id, a.export_time, rt)?),
            _ => None,
        };
        Ok(Self {
            subsections: encoder(grades, "", "subsection_grades")?,
            courses: encoder(grades, "", "course_grades")?,
            subsection_diffs: encoder(diffs, "diffs", "subsection_diffs")?,
            course_diffs: encoder(diffs, "diffs", "course_grade_diffs")?,
            reports,
            apply,
            subsection_rows: 0,
            course_rows: 0,
            tally: Tally::default(),
        })
    }

    fn encoders(&self) -> impl Iterator<Item = &CourseTableEncoder> {
        [&self.subsections, &self.courses, &self.subsection_diffs, &self.course_diffs].into_iter().flatten()
    }

    /// The course's files: its tables' encoders, its reports, and what the chunks added up to.
    fn into_files(
        self,
    ) -> (impl Iterator<Item = CourseTableEncoder>, impl Iterator<Item = StreamedFile>, Tally) {
        let tables =
            [self.subsections, self.courses, self.subsection_diffs, self.course_diffs].into_iter().flatten();
        (tables, self.reports.into_iter().flatten(), self.tally)
    }

    /// The store's error, if an upload of one of the course's files failed.
    fn failed(&self) -> Option<String> {
        let reports = self.reports.iter().flatten().filter_map(|f| f.failed());
        let found = self.encoders().filter_map(|e| e.failed()).chain(reports).next().map(str::to_string);
        found.or_else(|| self.apply.as_ref().and_then(ApplyFiles::failed))
    }

    /// Encode a window of chunks, in user id order: each of the four tables and the two
    /// reports on its own rayon task (they share nothing but the chunks), then the tallies;
    /// the report text buffers go back to `text` for the next chunks.
    fn absorb(&mut self, chunks: Vec<ChunkOut>, text: &TextBuffers) -> Result<()> {
        for c in &chunks {
            self.subsection_rows += c.subsections.as_ref().map_or(0, RecordBatch::num_rows);
            self.course_rows += c.courses.as_ref().map_or(0, RecordBatch::num_rows);
        }
        fn table(c: &ChunkOut, i: usize) -> Option<&RecordBatch> {
            [&c.subsections, &c.courses, &c.subsection_diffs, &c.course_diffs][i].as_ref()
        }
        let encoders =
            [&mut self.subsections, &mut self.courses, &mut self.subsection_diffs, &mut self.course_diffs];
        let reports = self.reports.as_mut();
        let apply = self.apply.as_mut();
        let applied = || -> Result<()> {
            let Some(files) = apply else { return Ok(()) };
            chunks.iter().filter_map(|c| c.apply.as_ref()).try_for_each(|a| files.write(a))
        };
        let ((tables, texts), applied) = rayon::join(
            || {
                rayon::join(
                    || {
                        encoders.into_par_iter().enumerate().try_for_each(|(i, e)| -> Result<()> {
                            let Some(e) = e else { return Ok(()) };
                            chunks.iter().filter_map(|c| table(c, i)).try_for_each(|b| e.write(b))
                        })
                    },
                    || -> Result<()> {
                        let Some(files) = reports else { return Ok(()) };
                        files.par_iter_mut().enumerate().try_for_each(|(i, f)| {
                            chunks.iter().try_for_each(|c| {
                                write_text(f, if i == 0 { &c.tally.course_csv } else { &c.tally.problem_csv })
                            })
                        })
                    },
                )
            },
            applied,
        );
        tables?;
        texts?;
        applied?;
        for mut c in chunks {
            let (course, problem) =
                (std::mem::take(&mut c.tally.course_csv), std::mem::take(&mut c.tally.problem_csv));
            text.give(course, problem);
            self.tally.add(c.tally);
        }
        Ok(())
    }

    /// Publish the course's files, once every chunk is absorbed: the grade tables, the
    /// reports and the error reports.
    fn finish(mut self, output: &Location, course_id: &str, run: &CourseRun<'_>) -> Result<Vec<WrittenFile>> {
        let apply = self.apply.take();
        let (tables, reports, tally) = self.into_files();
        let written = |path: &Path, rows, done: Streamed| WrittenFile {
            path: output.relative(path),
            rows,
            bytes: done.bytes,
            sha1: done.sha1,
        };
        let mut files = Vec::new();
        for e in tables {
            if let Some(t) = e.finish()? {
                files.push(written(&t.path, Some(t.rows), t.file));
            }
        }
        let mut reports: Vec<StreamedFile> = reports.collect();
        if run.settings.outputs.reports {
            let (settings, globals) = (&run.settings.reports, run.globals);
            let errors = Reports::error_files(
                course_id,
                (settings, globals),
                &tally.learner_errors,
                &tally.problem_errors,
            );
            for (name, text) in errors {
                let path = report_path(output, course_id, &name)?;
                let mut f = StreamedFile::new(output.store.clone(), path, run.rt.clone());
                write_text(&mut f, &text)?;
                reports.push(f);
            }
        }
        for f in reports {
            let path = f.path().clone();
            files.push(written(&path, None, f.finish()?));
        }
        if let Some(apply) = apply {
            files.extend(apply.finish()?);
        }
        Ok(files)
    }

    /// Give the course's files up: nothing of them becomes visible.
    fn abort(mut self) {
        if let Some(apply) = self.apply.take() {
            apply.abort();
        }
        let (tables, reports, _) = self.into_files();
        tables.for_each(CourseTableEncoder::abort);
        reports.for_each(StreamedFile::abort);
    }
}

/// Where one of a course's reports goes: `reports/<sha1 of the course id>/<name>`.
fn report_path(output: &Location, course_id: &str, name: &str) -> Result<Path> {
    // `PathPart::parse` keeps the Unicode letters Django's `get_valid_filename` keeps
    // (`path()` would percent-encode them); the name holds only `[-\w.]`.
    let part = object_store::path::PathPart::parse(name)
        .with_context(|| format!("invalid report file name '{name}'"))?;
    Ok(output.path(&["reports", &sha1_hex(course_id.as_bytes())]).join(part))
}

/// `GRADEBOOK_FREEZE_DAYS` (30) in microseconds: edX freezes a course's grades this long after
/// its end when `grades.enforce_freeze_grade_after_course_end` is on (`are_grades_frozen`).
const GRADEBOOK_FREEZE: Timestamp = 30 * 86_400 * 1_000_000;

/// Why a course's partition failed.
pub(crate) enum PartitionError {
    /// The course's own data: it is quarantined.
    Course(anyhow::Error),
    /// The store failed under the course's files: the run stops.
    Store(anyhow::Error),
}

/// One course being graded, partition after partition, into its files.
pub(crate) struct CourseRun<'a> {
    course: &'a CoursePlan,
    globals: &'a Globals,
    settings: &'a Settings,
    rt: tokio::runtime::Handle,
    sink: Option<CourseSink>,
    /// What the manifest says of the course, as the partitions add to it.
    out: CourseOutput,
    partitions_done: usize,
    /// What the course's partitions hand on to the next: each thread's grading state and the
    /// report text buffers, so a partition does not allocate and fault them in afresh.
    reuse: Reuse,
}

/// Per-thread grading state and report text buffers, kept across a course's partitions.
#[derive(Default)]
struct Reuse {
    states: ThreadStates,
    text: TextBuffers,
}

impl<'a> CourseRun<'a> {
    /// Start a course: its files are not written before its first rows.
    pub(crate) fn new(
        course: &'a CoursePlan,
        output: &Location,
        (globals, settings): (&'a Globals, &'a Settings),
        rt: &tokio::runtime::Handle,
    ) -> Result<Self> {
        let sink = CourseSink::new(output, &course.course_id, settings, rt)?;
        let out = CourseOutput {
            course_id: course.course_id.clone(),
            course_version: course.version.clone(),
            published_at: course.published_at,
            ..CourseOutput::default()
        };
        let reuse = Reuse::default();
        Ok(CourseRun {
            course,
            globals,
            settings,
            rt: rt.clone(),
            sink: Some(sink),
            out,
            partitions_done: 0,
            reuse,
        })
    }

    /// Every file the course may write, relative to the output (for the journal, before the
    /// first is written).
    pub(crate) fn paths(&self, output: &Location) -> Result<Vec<String>> {
        let sink = self.sink.as_ref().context("course already finished")?;
        let mut paths: Vec<String> = sink.encoders().map(|e| output.relative(e.path())).collect();
        paths.extend(sink.reports.iter().flatten().map(|f| output.relative(f.path())));
        if self.settings.outputs.reports {
            for name in Reports::error_names(&self.course.course_id, &self.settings.reports) {
                paths.push(output.relative(&report_path(output, &self.course.course_id, &name)?));
            }
        }
        if sink.apply.is_some() {
            let apply = ApplyFiles::paths(output, &self.course.course_id)?;
            paths.extend(apply.iter().map(|p| output.relative(p)));
        }
        Ok(paths)
    }

    /// Grade one partition (its tables: the course-wide ones and the partition's rows of the
    /// others) into the course's files.
    pub(crate) fn partition(&mut self, tables: CourseTables) -> Result<(), PartitionError> {
        let sink = self.sink.as_mut().expect("a course is graded before it is finished");
        let r = grade_partition(
            self.course,
            tables,
            (self.globals, self.settings),
            (sink, &self.reuse),
            self.partitions_done == 0,
        );
        match r {
            Ok(part) => {
                self.add(part);
                self.partitions_done += 1;
                Ok(())
            }
            Err(e) => match sink.failed() {
                Some(store) => Err(PartitionError::Store(e.context(store))),
                None => Err(PartitionError::Course(e)),
            },
        }
    }

    /// Add a partition's facts to the course's.
    fn add(&mut self, part: PartitionOutput) {
        let out = &mut self.out;
        if self.partitions_done == 0 {
            out.course_version = part.course_version;
            out.grading_policy_hash = part.grading_policy_hash;
        }
        out.learners += part.learners;
        out.grades_frozen |= part.grades_frozen;
        load::merge_rows_read(&mut out.rows_read, part.rows_read, self.partitions_done == 0);
        for (t, n) in part.ignored_rows {
            *out.ignored_rows.entry(t).or_default() += n;
        }
        load::merge_warnings(&mut out.warnings, part.warnings, self.partitions_done == 0);
    }

    /// Publish the course's files and say what the course gave. Publishing fails only when
    /// the store does.
    pub(crate) fn finish(mut self, output: &Location) -> Result<(CourseOutput, Vec<WrittenFile>)> {
        let sink = self.sink.take().expect("finished once");
        let mut out = std::mem::take(&mut self.out);
        (out.subsection_diffs, out.course_grade_diffs) =
            (sink.tally.subsection_counts, sink.tally.course_counts);
        (out.subsection_rows, out.course_rows) = (sink.subsection_rows, sink.course_rows);
        out.apply = sink.apply.as_ref().map(|a| a.counts);
        out.learner_errors = sink.tally.learner_errors.len() + sink.tally.problem_errors.len();
        let files = sink.finish(output, &self.course.course_id, &self)?;
        Ok((out, files))
    }

    /// Give the course up: nothing of its files becomes visible.
    pub(crate) fn abort(mut self) {
        if let Some(sink) = self.sink.take() {
            sink.abort();
        }
    }
}

/// What one partition gave, besides its rows (which went into the course's files).
struct PartitionOutput {
    /// The course's grades are frozen (`apply` only).
    grades_frozen: bool,
    course_version: String,
    grading_policy_hash: String,
    learners: usize,
    rows_read: BTreeMap<String, usize>,
    ignored_rows: BTreeMap<String, usize>,
    warnings: BTreeMap<String, Warning>,
}

/// The process's resident memory in MiB, where the OS tells it (Linux), for the debug logs of
/// the stages: what memory a course takes, without a profiler. Not read unless those logs are
/// on.
fn resident_mb() -> Option<u64> {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return None;
    }
    Some(super::partition::resident_bytes()? >> 20)
}

/// Split persisted rows by learner chunk: chunk `k` gets the rows whose `user_id` is at least
/// `starts[k]` and below `starts[k + 1]` (`starts[0]` is `i64::MIN`), so every key of the
/// course is diffed in exactly one chunk. Row order is kept within each chunk.
fn split_by_user(batches: Vec<RecordBatch>, starts: &[i64]) -> Result<Vec<Vec<RecordBatch>>> {
    use arrow::array::{AsArray, UInt32Array};
    use arrow::datatypes::Int64Type;
    let mut out: Vec<Vec<RecordBatch>> = vec![Vec::new(); starts.len()];
    for batch in batches {
        let users = batch.column_by_name("user_id").and_then(|c| c.as_primitive_opt::<Int64Type>());
        let Some(users) = users.filter(|_| starts.len() > 1) else {
            // One chunk, or a batch the diff will reject with its own message.
            out[0].push(batch);
            continue;
        };
        let mut rows: Vec<Vec<u32>> = vec![Vec::new(); starts.len()];
        for (i, u) in users.iter().enumerate() {
            let k = starts.partition_point(|&s| s <= u.unwrap_or(i64::MIN)).saturating_sub(1);
            rows[k].push(u32::try_from(i).context("batch too large")?);
        }
        for (k, rows) in rows.into_iter().enumerate() {
            if rows.len() == batch.num_rows() {
                out[k].push(batch.clone());
            } else if !rows.is_empty() {
                out[k].push(arrow::compute::take_record_batch(&batch, &UInt32Array::from(rows))?);
            }
        }
    }
    Ok(out)
}

/// The chunk size for `learners` graded `window` chunks at a time: at most `most` learners,
/// and a whole number of full windows, the learners shared evenly. A partition smaller than
/// one chunk of `--learners-per-chunk` is still graded on every thread, and no window ends
/// with one thread alone. Outputs do not depend on the chunk size.
fn even_chunk(learners: usize, most: usize, window: usize) -> usize {
    let window = window.max(1);
    let windows = learners.div_ceil(most.max(1) * window).max(1);
    learners.div_ceil(windows * window).clamp(1, most.max(1))
}

/// Learner chunks by user id: the ranges of `learners` and each chunk's first user id
/// (`i64::MIN` for the first), one empty chunk for a course without learners, whose
/// persisted rows are still diffed.
fn chunk_ranges(learners: &[Learner], chunk: usize) -> (Vec<std::ops::Range<usize>>, Vec<i64>) {
    let chunk = chunk.max(1);
    let mut ranges: Vec<std::ops::Range<usize>> =
        (0..learners.len()).step_by(chunk).map(|s| s..(s + chunk).min(learners.len())).collect();
    if ranges.is_empty() {
        ranges.push(0..0);
    }
    let starts = ranges
        .iter()
        .enumerate()
        .map(|(k, r)| if k == 0 { i64::MIN } else { learners[r.start].user_id })
        .collect();
    (ranges, starts)
}

/// Grade one partition of a course into its sink (`first`: the course's first partition,
/// which writes the reports' headers), with the state the course's partitions reuse.
/// `tables` hold only the partition's rows; they are dropped once loaded, except the
/// persisted grades, which the diff reads, chunk by chunk.
fn grade_partition(
    course: &CoursePlan,
    mut tables: CourseTables,
    (globals, settings): (&Globals, &Settings),
    (sink, reuse): (&mut CourseSink, &Reuse),
    first: bool,
) -> Result<PartitionOutput> {
    let course_id = course.course_id.as_str();
    let t0 = std::time::Instant::now();
    let rss_read = resident_mb();
    let loaded = load::load(course_id, &course.version, &tables, globals, &settings.load())?;
    let load_s = t0.elapsed().as_secs_f64();
    let rss_loaded = resident_mb();
    let rows_read: BTreeMap<String, usize> =
        tables.iter().map(|(t, b)| (t.to_string(), load::rows(b))).collect();
    let old_subsections = tables.remove("persistent_subsection_grades").unwrap_or_default();
    let old_course_grades = tables.remove("persistent_course_grades").unwrap_or_default();
    drop(tables);
    let Loaded { structure, policy, policy_row, learners, blocks, ignored, warnings, experiments, sources } =
        loaded;
    let (structure, policy) = (&structure, &policy);
    let views = learner_views(structure, &learners, &policy_row.course_modes, settings.grading.as_of);

    // Report set-up (course-wide).
    let context = GradingContext::new(structure, policy);
    let report = report::rows::course_report(structure, policy, &context, &policy_row, &experiments);
    let problem_columns = report::problem_columns(structure, &context);
    let reports = settings.outputs.reports.then_some(Reports {
        report: &report,
        problem_columns: &problem_columns,
        globals,
        settings: &settings.reports,
    });
    if let (Some(r), Some([course_file, problem_file]), true) = (&reports, &mut sink.reports, first) {
        let (course_header, problem_header) = r.headers();
        write_text(course_file, &course_header)?;
        write_text(problem_file, &problem_header)?;
    }
    let version_subsections: HashSet<String> = structure
        .collected_view()
        .subsections()
        .into_iter()
        .map(|b| structure.blocks[b as usize].row.usage_key.clone())
        .collect();
    let grades_frozen = settings.apply.is_some_and(|a| a.grades_freeze)
        && policy_row.course_end.is_some_and(|end| settings.grading.as_of > end + GRADEBOOK_FREEZE);
    if grades_frozen && sink.apply.is_some() {
        if settings.apply.is_some_and(|a| a.include_frozen) {
            tracing::warn!(
                course_id,
                "grades are frozen (course end + 30 days); apply files written (--include-frozen)"
            );
        } else {
            tracing::warn!(
                course_id,
                "grades are frozen (course end + 30 days): no apply files (--include-frozen writes them)"
            );
            if let Some(files) = sink.apply.take() {
                files.abort();
            }
        }
    }
    let apply = sink.apply.as_ref().map(|_| ApplyCtx {
        course_id,
        structure,
        policy_hash: &policy.hash,
        as_of: settings.grading.as_of,
    });
    let ctx = CourseCtx {
        course_id,
        structure,
        policy,
        blocks: &blocks,
        version_subsections: &version_subsections,
        sources: &sources,
        grading: &settings.grading,
        reports,
        text: &reuse.text,
        apply,
    };
    let t1 = std::time::Instant::now();
    let old = (old_subsections, old_course_grades);
    grade_chunks(&ctx, &learners, &views, old, (settings, &reuse.states), sink)?;
    tracing::debug!(
        course_id,
        load_s,
        grade_s = t1.elapsed().as_secs_f64(),
        learners = learners.len(),
        rss_read_mb = rss_read,
        rss_loaded_mb = rss_loaded,
        rss_graded_mb = resident_mb(),
        "partition grading stages"
    );
    Ok(PartitionOutput {
        grades_frozen,
        course_version: structure.course_version.clone(),
        grading_policy_hash: policy.hash.clone(),
        learners: learners.len(),
        rows_read,
        ignored_rows: ignored,
        warnings,
    })
}

/// Grade a course's learners chunk by chunk, a window of chunks at a time in parallel while
/// the previous window is encoded: memory holds two windows of rows, whatever the course's
/// size, and a course's outputs never exist as whole-course Arrow arrays, only as the
/// compressed files being encoded.
fn grade_chunks(
    ctx: &CourseCtx<'_>,
    learners: &[Learner],
    views: &[Arc<(CourseView, ViewPlan)>],
    (old_subsections, old_course_grades): (Vec<RecordBatch>, Vec<RecordBatch>),
    (settings, states): (&Settings, &ThreadStates),
    sink: &mut CourseSink,
) -> Result<()> {
    // Two chunks per thread at once, so a thread that finishes early has another to take.
    let window = rayon::current_num_threads().max(1) * 2;
    let chunk = even_chunk(learners.len(), settings.learners_per_chunk, window);
    let (ranges, starts) = chunk_ranges(learners, chunk);
    let old_subsections = split_by_user(old_subsections, &starts)?;
    let old_course_grades = split_by_user(old_course_grades, &starts)?;
    let ids: Vec<usize> = (0..ranges.len()).collect();
    let mut pending: Vec<ChunkOut> = Vec::new();
    for group in ids.chunks(window) {
        let (absorbed, graded) = rayon::join(
            || sink.absorb(std::mem::take(&mut pending), ctx.text),
            || {
                group
                    .par_iter()
                    .map(|&k| {
                        let r = ranges[k].clone();
                        let old = (old_subsections[k].as_slice(), old_course_grades[k].as_slice());
                        states.with(|state| grade_chunk(ctx, &learners[r.clone()], &views[r], old, state))
                    })
                    .collect::<Result<Vec<_>>>()
            },
        );
        absorbed?;
        pending = graded?;
    }
    sink.absorb(pending, ctx.text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, AsArray, Int64Array, StringArray};
    use arrow::datatypes::Int64Type;

    fn batch(users: &[Option<i64>]) -> RecordBatch {
        let tags: Vec<String> = (0..users.len()).map(|i| format!("r{i}")).collect();
        RecordBatch::try_from_iter([
            ("user_id", Arc::new(Int64Array::from(users.to_vec())) as ArrayRef),
            ("tag", Arc::new(StringArray::from(tags)) as ArrayRef),
        ])
        .unwrap()
    }

    fn users(chunk: &[RecordBatch]) -> Vec<Option<i64>> {
        chunk
            .iter()
            .flat_map(|b| b.column(0).as_primitive::<Int64Type>().iter().collect::<Vec<_>>())
            .collect()
    }

    #[test]
    fn chunks_fill_whole_windows_of_every_thread_and_never_exceed_the_setting() {
        for (learners, most, threads) in [
            (2900, 4096, 2),
            (18_813, 4096, 2),
            (176_841, 4096, 2),
            (5, 4096, 2),
            (0, 4096, 2),
            (10_000, 1, 3),
        ] {
            let window = 2 * threads;
            let chunk = even_chunk(learners, most, window);
            assert!((1..=most).contains(&chunk), "{learners} learners: chunk {chunk}");
            let chunks = learners.div_ceil(chunk);
            if learners >= 100 * window && most > 1 {
                // Every window of chunks is full but the last, which is at least nearly full.
                assert!(chunks >= window, "{learners} learners in {chunks} chunks");
                assert!(chunks % window == 0 || chunks % window >= window - 1, "{learners}: {chunks} chunks");
            }
        }
        // A partition smaller than one chunk is still shared by the threads.
        assert_eq!(even_chunk(2900, 4096, 4), 725);
        assert_eq!(even_chunk(176_841, 4096, 4), 4020);
    }

    #[test]
    fn split_by_user_puts_every_row_in_the_chunk_of_its_user_id_range() {
        // Chunks start at learners 10, 20 and 30; users 5 and 25 are not enrolled.
        let starts = [i64::MIN, 20, 30];
        let input = vec![batch(&[Some(30), Some(5), Some(10), Some(25), None]), batch(&[Some(19), Some(99)])];
        let out = split_by_user(input, &starts).unwrap();
        assert_eq!(out.len(), 3);
        assert_eq!(users(&out[0]), [Some(5), Some(10), None, Some(19)], "row order is kept");
        assert_eq!(users(&out[1]), [Some(25)]);
        assert_eq!(users(&out[2]), [Some(30), Some(99)]);
        // The other columns follow their rows.
        let tags: Vec<&str> =
            out[2].iter().flat_map(|b| b.column(1).as_string::<i32>().iter().flatten()).collect();
        assert_eq!(tags, ["r0", "r1"]);
        // One chunk: batches are passed through whole.
        let one = split_by_user(vec![batch(&[Some(3), Some(1)])], &[i64::MIN]).unwrap();
        assert_eq!(users(&one[0]), [Some(3), Some(1)]);
    }
}
