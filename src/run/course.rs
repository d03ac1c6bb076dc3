//! One course of `run`: its input rows (read, filtered to the course) loaded
//! ([`crate::load`]), every enrolled learner graded in chunks (`chunk.rs`), and the
//! course's outputs encoded in memory (Parquet files of grades and diffs, report CSVs). No
//! I/O here.
//!
//! Learners are taken in chunks by user id ([`Settings::learners_per_chunk`]): a chunk's
//! output rows are built, diffed against the persisted rows of its user id range and encoded,
//! then dropped. Chunks are graded in parallel (rayon) and appended in user id order, so
//! results do not depend on the thread count or the chunk size.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use anyhow::{Context, Result};
use arrow::array::RecordBatch;
use rayon::prelude::*;

use super::chunk::{grade_chunk, ChunkOut, CourseCtx, Tally};
use super::options::Settings;
use super::plan::CoursePlan;
use super::views::{learner_views, HashCache};
use crate::compare::DiffCounts;
use crate::grade::graders::Scratch;
use crate::grade::learner::{Rescore, ViewPlan};
use crate::load::learner::Learner;
use crate::load::{self, CourseTables, Globals, Loaded, Warning};
use crate::model::structure::CourseView;
use crate::py::time::Timestamp;
use crate::report::rows::Reports;
use crate::report::{self, GradingContext};
use crate::write::{CourseTableEncoder, EncodedTable};

/// What grading one course produced: its files, encoded, and what the manifest says of it.
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
    /// The course's partition of each output table with rows (grades, diffs), encoded.
    pub tables: Vec<EncodedTable>,
    /// (file name, CSV text) of each report.
    pub reports: Vec<(String, String)>,
    /// Rows read per table, for the manifest.
    pub rows_read: BTreeMap<String, usize>,
    /// Ignored input rows (for blocks not in the graded version, or learners not enrolled).
    pub ignored_rows: BTreeMap<String, usize>,
    /// Suspicious rows kept as edX keeps them (e.g. `earned_above_possible`).
    pub warnings: BTreeMap<String, Warning>,
}

/// A course's outputs as its chunks come in, in user id order: the Parquet files being
/// encoded, the diff counts, the report text.
struct CourseSink {
    subsections: Option<CourseTableEncoder>,
    courses: Option<CourseTableEncoder>,
    subsection_diffs: Option<CourseTableEncoder>,
    course_diffs: Option<CourseTableEncoder>,
    subsection_rows: usize,
    course_rows: usize,
    tally: Tally,
}

impl CourseSink {
    fn new(settings: &Settings) -> Result<Self> {
        let graded = settings.grading.rules.rescore != Rescore::Read;
        let grades = graded && settings.outputs.grades;
        let diffs = graded && settings.outputs.diffs;
        let encoder = |on: bool, folder: &'static str, table: &'static str| {
            on.then(|| CourseTableEncoder::new(folder, table)).transpose()
        };
        Ok(Self {
            subsections: encoder(grades, "", "subsection_grades")?,
            courses: encoder(grades, "", "course_grades")?,
            subsection_diffs: encoder(diffs, "diffs", "subsection_diffs")?,
            course_diffs: encoder(diffs, "diffs", "course_grade_diffs")?,
            subsection_rows: 0,
            course_rows: 0,
            tally: Tally::default(),
        })
    }

    fn absorb(&mut self, chunks: Vec<ChunkOut>) -> Result<()> {
        for c in chunks {
            for (batch, encoder, rows) in [
                (&c.subsections, &mut self.subsections, Some(&mut self.subsection_rows)),
                (&c.courses, &mut self.courses, Some(&mut self.course_rows)),
                (&c.subsection_diffs, &mut self.subsection_diffs, None),
                (&c.course_diffs, &mut self.course_diffs, None),
            ] {
                let Some(batch) = batch else { continue };
                if let Some(rows) = rows {
                    *rows += batch.num_rows();
                }
                if let Some(e) = encoder {
                    e.write(batch)?;
                }
            }
            self.tally.add(c.tally);
        }
        Ok(())
    }

    /// The encoded files, once every chunk is absorbed.
    fn finish(self) -> Result<Encoded> {
        let mut tables = Vec::new();
        for e in [self.subsections, self.courses, self.subsection_diffs, self.course_diffs] {
            if let Some(t) = e.map(CourseTableEncoder::finish).transpose()?.flatten() {
                tables.push(t);
            }
        }
        let (subsection_rows, course_rows, tally) = (self.subsection_rows, self.course_rows, self.tally);
        Ok(Encoded { tables, subsection_rows, course_rows, tally })
    }
}

/// A course's graded chunks, encoded: the files, the row counts and the tally.
struct Encoded {
    tables: Vec<EncodedTable>,
    subsection_rows: usize,
    course_rows: usize,
    tally: Tally,
}

/// The process's resident memory in MiB, where the OS tells it (Linux), for the debug logs of
/// the stages: what memory a course takes, without a profiler. Not read unless those logs are
/// on.
fn resident_mb() -> Option<u64> {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return None;
    }
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096 / (1024 * 1024))
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

/// Grade one course. `tables` hold only this course's rows; they are dropped once loaded,
/// except the persisted grades, which the diff reads, chunk by chunk.
pub(super) fn grade_course(
    course: &CoursePlan,
    mut tables: CourseTables,
    globals: &Globals,
    settings: &Settings,
) -> Result<CourseOutput> {
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
    let version_subsections: HashSet<String> = structure
        .collected_view()
        .subsections()
        .into_iter()
        .map(|b| structure.blocks[b as usize].row.usage_key.clone())
        .collect();
    let ctx = CourseCtx {
        course_id,
        structure,
        policy,
        blocks: &blocks,
        version_subsections: &version_subsections,
        sources: &sources,
        grading: &settings.grading,
        reports,
    };
    let t1 = std::time::Instant::now();
    let sink = grade_chunks(&ctx, &learners, &views, (old_subsections, old_course_grades), settings)?;
    tracing::debug!(
        course_id,
        load_s,
        grade_s = t1.elapsed().as_secs_f64(),
        rss_read_mb = rss_read,
        rss_loaded_mb = rss_loaded,
        rss_graded_mb = resident_mb(),
        "course grading stages"
    );
    let learners_n = learners.len();
    drop(views);
    drop(learners);
    let Encoded { tables, subsection_rows, course_rows, tally } = sink;
    let Tally { subsection_counts, course_counts, course_csv, problem_csv, learner_errors, problem_errors } =
        tally;
    let files = match &ctx.reports {
        Some(r) => r.files(course_id, (course_csv, problem_csv), &learner_errors, &problem_errors),
        None => Vec::new(),
    };
    Ok(CourseOutput {
        course_id: course_id.to_string(),
        course_version: structure.course_version.clone(),
        published_at: course.published_at,
        grading_policy_hash: policy.hash.clone(),
        learners: learners_n,
        learner_errors: learner_errors.len() + problem_errors.len(),
        subsection_rows,
        course_rows,
        subsection_diffs: subsection_counts,
        course_grade_diffs: course_counts,
        tables,
        reports: files,
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
    settings: &Settings,
) -> Result<Encoded> {
    let (ranges, starts) = chunk_ranges(learners, settings.learners_per_chunk);
    let old_subsections = split_by_user(old_subsections, &starts)?;
    let old_course_grades = split_by_user(old_course_grades, &starts)?;
    let mut sink = CourseSink::new(settings)?;
    if let Some(reports) = &ctx.reports {
        let (course, problem) = reports.headers();
        sink.tally.course_csv.push_str(&course);
        sink.tally.problem_csv.push_str(&problem);
    }
    let window = rayon::current_num_threads().max(1) * 2;
    let ids: Vec<usize> = (0..ranges.len()).collect();
    let mut pending: Vec<ChunkOut> = Vec::new();
    for group in ids.chunks(window) {
        let (absorbed, graded) = rayon::join(
            || sink.absorb(std::mem::take(&mut pending)),
            || {
                group
                    .par_iter()
                    .map_init(
                        || (Scratch::default(), HashCache::default()),
                        |state, &k| {
                            let r = ranges[k].clone();
                            let old = (old_subsections[k].as_slice(), old_course_grades[k].as_slice());
                            grade_chunk(ctx, &learners[r.clone()], &views[r], old, state)
                        },
                    )
                    .collect::<Result<Vec<_>>>()
            },
        );
        absorbed?;
        pending = graded?;
    }
    sink.absorb(pending)?;
    sink.finish()
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
