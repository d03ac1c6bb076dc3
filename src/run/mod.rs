//! `regrade run`: the whole pipeline, course by course.
//!
//! Planning, then execution, as in a query engine:
//!
//! 0. **The output folder** ([`folder`], [`claim`], [`journal`]): never the input, nor inside
//!    it or holding it, no symbolic links; claimed for this run alone; empty, or replaced
//!    (`--overwrite`: only what a previous run's manifest or journal lists), or resumed
//!    (`--resume`: same options, same input). Nothing in it changes before the plan below
//!    has read the input.
//! 1. **Plan** ([`plan`]). Open the input and output URLs, list every input table once, read
//!    the course catalogue (`course_blocks`' course, version and publication columns), choose the
//!    courses and, per course, the version to grade against. Tables without a `course_id`
//!    (`users`, `id_verifications`, `subsection_grade_overrides`) are read once.
//! 2. **Execute**, `courses_in_flight` courses at a time, in parallel (rayon): read the
//!    course's rows of the plan's tables ([`crate::load`]) (projected, filtered by partition and row-group
//!    statistics, repetitive string columns kept dictionary-encoded: [`crate::read::tables::dictionary_for`]),
//!    then grade it in chunks of `learners_per_chunk` learners ([`course`], `chunk`): each chunk is
//!    graded with the pure core, its rows diffed against its learners' persisted rows
//!    ([`crate::compare`]) and appended to the course's Parquet encoders and CSV text, chunks
//!    in parallel, in user id order. Then the course's files are listed in the journal and
//!    published, and the course is journaled complete (for `--resume`). Memory holds at
//!    most `courses_in_flight` courses' input and learners, never a course's output arrays.
//! 3. **Publish** `manifest.json` last ([`manifest`]): readers trust a run folder only when it exists.
//!
//! A course that cannot be graded (no such version, a broken structure or policy, duplicate
//! keys) is listed in the manifest and the run goes on; the command then exits 1. Unreadable
//! input (a missing required table, a corrupt file, a wrong column type) stops the run
//! (exit 2) before a manifest is written, and removes what the run wrote.

pub mod apply;
pub mod backfill;
mod backfill_files;
mod chunk;
pub(crate) mod claim;
pub(crate) mod course;
pub(crate) mod folder;
pub(crate) mod journal;
pub mod manifest;
pub(crate) mod names;
pub mod options;
pub mod partition;
pub mod plan;
pub mod scan;
pub mod shard;
pub mod users;
mod views;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, Result};
use rayon::prelude::*;

use self::manifest::Executed;
pub use self::manifest::{CourseFailure, CourseSummary, InputSummary, Manifest, Totals};
pub use self::options::{Command, Job, RunOptions, Settings};
use self::plan::{CoursePlan, Plan, PlanSettings};
use crate::error;
use crate::hooks;
use crate::load::globals::{read_course, read_globals};
use crate::load::{self, Globals};
use crate::read::tables::user_column;
use crate::read::UserRange;
use crate::read::{self, TableFile};
use crate::store::{self, Location};
use crate::write::WrittenFile;

/// What a run did.
pub enum Outcome {
    /// The run was published: its manifest.
    Published(Box<Manifest>),
    /// `--resume` on a folder that already holds a complete run: nothing was done (exit 0);
    /// the message says so.
    AlreadyComplete(String),
    /// One shard of a planned run finished ([`shard`]): its record.
    Shard(Box<shard::ShardRecord>),
}

/// Run the pipeline. `progress` shows a progress bar (on a terminal).
///
/// The output folder is checked (not the input, nor inside it or holding it; no symbolic
/// links), then claimed, then inspected; the input is planned before anything in the folder
/// changes, so a run refused for unreadable input leaves the folder as it found it.
pub fn run(opts: &RunOptions, progress: bool) -> Result<Outcome> {
    let rt = runtime(opts.threads)?;
    let input = store::open(&opts.input).map_err(error::usage)?;
    folder::check_overlap(&opts.input, &opts.output).map_err(error::usage)?;
    let created = store::local_dir(&opts.output).ok().flatten().filter(|d| !d.exists());
    let output = store::open_output(&opts.output).map_err(error::usage)?;
    folder::check_links(&output)?;
    match shard::which(&rt, &output, opts)? {
        shard::Which::Single => {}
        shard::Which::Shard(k, plan) => {
            return shard::run_shard((&rt, &input, &output), opts, (k, &plan), progress)
        }
        shard::Which::Finalized(why) => return Ok(Outcome::AlreadyComplete(why)),
    }
    let result = rt.block_on(claim::Claim::take(&output, opts)).and_then(|claim| {
        let mut changed = false;
        let r = run_claimed(&rt, &input, &output, opts, progress, &mut changed);
        // A stale claim taken over is put back when the run did nothing to the folder.
        let published = matches!(r, Ok(Outcome::Published(_)));
        rt.block_on(claim.release(&output, !published && !changed));
        r
    });
    if result.is_err() {
        if let Some(dir) = created {
            folder::remove_if_empty(&dir);
        }
    }
    result
}

/// Plan a run without running it (`--explain`): the courses, their versions and partitions,
/// and the memory budget. Nothing is written; the output folder is not looked at.
pub fn explain(opts: &RunOptions) -> Result<plan::PlanSummary> {
    let rt = runtime(opts.threads)?;
    let input = store::open(&opts.input).map_err(error::usage)?;
    Ok(plan_run(&rt, &input, opts, None)?.2)
}

/// Plan: list every table once, choose the courses and versions, read the global tables, and
/// cut the courses into partitions within the memory budget. With `only` (a shard's courses),
/// the other courses, and the courses that cannot be planned, are left out.
fn plan_run(
    rt: &tokio::runtime::Runtime,
    input: &Location,
    opts: &RunOptions,
    only: Option<&std::collections::BTreeSet<String>>,
) -> Result<(Plan, Globals, plan::PlanSummary)> {
    let mut plan = rt.block_on(plan::plan(input, &PlanSettings::of(opts)))?;
    if let Some(only) = only {
        plan.courses.retain(|c| only.contains(&c.course_id));
        plan.failed.clear();
    }
    let globals = rt.block_on(read_globals(input, &plan.files, opts.outputs.reports))?;
    let per_partition =
        partition::partition_budget(&opts.memory_budget, globals.memory_estimate(), opts.execution());
    let summary = rt.block_on(plan.partition(input, &opts.memory_budget, per_partition))?;
    Ok((plan, globals, summary))
}

/// [`run`] once the output folder is claimed; `changed` is set once the folder may have
/// changed.
fn run_claimed(
    rt: &tokio::runtime::Runtime,
    input: &Location,
    output: &Location,
    opts: &RunOptions,
    progress: bool,
    changed: &mut bool,
) -> Result<Outcome> {
    let started_at = chrono::Utc::now();
    let found = rt.block_on(journal::Folder::read(output))?;
    let Some(prepared) = folder::inspect(output, found, opts)? else {
        let why = format!("{} already holds a complete run (manifest.json); nothing to resume", output.url);
        return Ok(Outcome::AlreadyComplete(why));
    };
    crate::hooks::pause_point("output_checked");
    let opts = &prepared.opts;

    let (plan, globals, summary) = plan_run(rt, input, opts, None)?;
    let resolved = apply::resolve(rt, input, opts)?;
    let opts = resolved.as_ref().unwrap_or(opts);
    let record = journal::RunRecord::new(opts, journal::input_files(input, &plan.files))?;
    folder::check_input(output, &prepared, &record)?;
    // Only now does the folder change: the old run removed, or the interrupted one cleaned.
    *changed = true;
    let done_before = rt.block_on(folder::commit(output, &prepared, &record))?;
    let kept = done_before.clone();
    let settings = settings_of(opts);
    let exec = Execution { rt, input, output, opts, settings: &settings, globals: &globals };
    let ran = exec.execute(plan, progress, done_before).and_then(|done| {
        let base = manifest::ManifestBase::of(opts, &globals)?;
        manifest::publish(rt, output, &base, (done, summary), started_at, None)
    });
    match ran {
        Err(e) if read::is_input_error(&e) => {
            // Unreadable input found while reading a course: nothing of this run stays.
            if let Err(c) = rt.block_on(folder::abandon(output, prepared.mode, &kept)) {
                tracing::warn!(error = %format!("{c:#}"), "could not remove this run's files");
            }
            Err(e)
        }
        other => other.map(|m| Outcome::Published(Box::new(m))),
    }
}

/// The stages' settings of resolved options (the apply's export time known).
fn settings_of(opts: &RunOptions) -> Settings {
    let mut settings = opts.settings();
    settings.apply = opts.apply.and_then(|a| {
        let export_time = a.export_time?;
        Some(options::ApplySettings {
            export_time,
            include_frozen: a.include_frozen,
            grades_freeze: a.grades_freeze,
        })
    });
    settings
}

/// Why a course did not complete.
pub(crate) enum CourseError {
    /// Something is wrong with the course's own data (no such version, a broken structure or
    /// policy, duplicate keys, a name that cannot be written): the course is listed in the
    /// manifest and the run goes on.
    Quarantined(CourseFailure),
    /// The run cannot go on (unreadable input, a store that keeps failing): nothing is
    /// published.
    Stop(anyhow::Error),
}

impl CourseError {
    /// The course is quarantined with this error.
    fn quarantine(course_id: &str, error: String) -> Self {
        CourseError::Quarantined(CourseFailure { course_id: course_id.to_string(), error })
    }
}

impl From<anyhow::Error> for CourseError {
    fn from(e: anyhow::Error) -> Self {
        CourseError::Stop(e)
    }
}

/// A completed course: its summary and files.
type CourseDone = (Box<CourseSummary>, Vec<WrittenFile>);

/// Courses an interrupted run completed: course id -> (summary, files).
pub(crate) type DoneBefore = BTreeMap<String, (CourseSummary, Vec<WrittenFile>)>;

/// What executing the plan's courses needs: the stores, the run-wide lookups and the
/// stages' settings.
struct Execution<'a> {
    rt: &'a tokio::runtime::Runtime,
    input: &'a Location,
    output: &'a Location,
    opts: &'a RunOptions,
    settings: &'a Settings,
    globals: &'a Globals,
}

impl Execution<'_> {
    /// Grade (or backfill) the planned courses, `courses_in_flight` at a time, each journaled
    /// once written; the courses an interrupted run completed (`done_before`) are kept.
    fn execute(&self, plan: Plan, progress: bool, done_before: DoneBefore) -> Result<Executed> {
        let Plan { files, course_tables, inputs, ignored_inputs, courses, mut failed } = plan;
        let opts = self.opts;
        // Courses an interrupted run completed are kept as they are.
        let courses: Vec<CoursePlan> =
            courses.into_iter().filter(|c| !done_before.contains_key(&c.course_id)).collect();
        tracing::info!(
            courses = courses.len(),
            command = ?opts.command,
            rescore = options::rescore_name(opts.rescore),
            input = %self.input.url,
            output = %self.output.url,
            "planned"
        );
        let pool = rayon::ThreadPoolBuilder::new().num_threads(opts.threads).build()?;
        let bar = progress_bar(progress, courses.len());
        let learners_done = AtomicUsize::new(0);
        let results: Vec<Result<CourseDone, CourseError>> = pool.install(|| {
            let mut all = Vec::with_capacity(courses.len());
            for group in courses.chunks(opts.courses_in_flight) {
                let done: Vec<Result<CourseDone, CourseError>> = group
                    .par_iter()
                    .map(|c| {
                        let r = self.course(&files, course_tables, c);
                        if let Ok((s, _)) = &r {
                            let n = learners_done.fetch_add(s.learners, Ordering::Relaxed) + s.learners;
                            bar.set_message(format!("{n} learners"));
                        }
                        bar.inc(1);
                        r
                    })
                    .collect();
                let stop = done.iter().any(|r| match r {
                    Err(CourseError::Stop(_)) => true,
                    Err(CourseError::Quarantined(_)) => opts.fail_fast,
                    Ok(_) => false,
                });
                all.extend(done);
                if stop {
                    break;
                }
            }
            all
        });
        bar.finish_and_clear();
        let mut summaries: Vec<CourseSummary> = Vec::new();
        let mut outputs: Vec<WrittenFile> = Vec::new();
        for (course_id, (summary, files)) in done_before {
            tracing::info!(course_id = %course_id, "kept from the interrupted run (--resume)");
            summaries.push(summary);
            outputs.extend(files);
        }
        for r in results {
            match r {
                Ok((summary, files)) => {
                    summaries.push(*summary);
                    outputs.extend(files);
                }
                Err(CourseError::Quarantined(f)) => {
                    tracing::error!(course_id = %f.course_id, error = %f.error, "course failed");
                    failed.push(f);
                }
                Err(CourseError::Stop(e)) => return Err(e),
            }
        }
        failed.sort_by(|a, b| a.course_id.cmp(&b.course_id));
        summaries.sort_by(|a, b| a.course_id.cmp(&b.course_id));
        if opts.fail_fast {
            if let Some(f) = failed.first() {
                anyhow::bail!(
                    "--fail-fast: {} failed: {}; stopped without writing manifest.json (completed courses \
                     are kept for --resume)",
                    f.course_id,
                    f.error
                );
            }
        }
        Ok(Executed { summaries, outputs, failed, inputs, ignored_inputs })
    }

    /// Read, process and write one course, then journal it complete (for `--resume`).
    fn course(
        &self,
        files: &HashMap<&'static str, Vec<TableFile>>,
        course_tables: &'static [&'static str],
        course: &CoursePlan,
    ) -> Result<CourseDone, CourseError> {
        let course_id = course.course_id.as_str();
        names::check_course_names(course_id, self.settings)
            .map_err(|e| CourseError::quarantine(course_id, e))?;
        let (summary, files) = match self.opts.command {
            Command::Run => self.grade(files, course_tables, course)?,
            Command::Backfill => {
                let started = Instant::now();
                let quarantine = |e: anyhow::Error| CourseError::quarantine(course_id, format!("{e:#}"));
                let mut seen = std::collections::HashSet::new();
                let mut done: Option<backfill::BackfillOutput> = None;
                let settings = (self.globals, self.settings);
                self.for_each_partition(files, course_tables, course, |tables| {
                    let part =
                        backfill::backfill_course(course, tables, settings, &mut seen).map_err(quarantine)?;
                    match &mut done {
                        Some(d) => d.append(part).map_err(quarantine)?,
                        None => done = Some(part),
                    }
                    Ok(())
                })?;
                let done = done.expect("a course has at least one partition");
                backfill_files::process_backfill(self, done, started)?
            }
        };
        hooks::crash_point("REGRADE_TEST_ABORT_BEFORE_JOURNAL");
        self.rt.block_on(journal::journal_course(self.output, &summary, &files))?;
        hooks::crash_point("REGRADE_TEST_ABORT_AFTER_JOURNAL");
        Ok((summary, files))
    }

    /// Read a course partition by partition and hand each partition's tables to `f`, in user
    /// id order: the course-wide tables are read once, each partition's rows of the others in
    /// turn (unreadable input stops the run).
    fn for_each_partition(
        &self,
        files: &HashMap<&'static str, Vec<TableFile>>,
        course_tables: &'static [&'static str],
        course: &CoursePlan,
        mut f: impl FnMut(load::CourseTables) -> Result<(), CourseError>,
    ) -> Result<(), CourseError> {
        let course_id = course.course_id.as_str();
        let (by_learner, whole): (Vec<&'static str>, Vec<&'static str>) =
            course_tables.iter().partition(|t| user_column(t).is_some());
        let wide = read_course(self.rt, self.input, files, course_id, whole.into_iter(), UserRange::ALL)?;
        let many = course.partitions.partitions.len() > 1;
        for p in &course.partitions.partitions {
            let mut tables =
                read_course(self.rt, self.input, files, course_id, by_learner.iter().copied(), p.users)?;
            if let Some(selection) = &self.opts.users {
                for (t, batches) in tables.iter_mut() {
                    let column = user_column(t).expect("a table read by learner");
                    *batches = selection.filter(course_id, std::mem::take(batches), column)?;
                }
            }
            tables.extend(wide.iter().map(|(t, b)| (*t, b.clone())));
            f(tables)?;
            if many {
                release_freed_memory();
                tracing::debug!(course_id, users = %p.users, learners = p.learners, "partition done");
            }
        }
        Ok(())
    }

    /// Grade, diff and write one course, partition by partition ([`Self::for_each_partition`]).
    /// Anything wrong with the course's own data quarantines it; a failing store stops the run.
    fn grade(
        &self,
        files: &HashMap<&'static str, Vec<TableFile>>,
        course_tables: &'static [&'static str],
        course: &CoursePlan,
    ) -> Result<CourseDone, CourseError> {
        let started = Instant::now();
        let course_id = course.course_id.as_str();
        let quarantine = |e: anyhow::Error| CourseError::quarantine(course_id, format!("{e:#}"));
        let mut run =
            course::CourseRun::new(course, self.output, (self.globals, self.settings), self.rt.handle())
                .map_err(quarantine)?;
        let paths = run.paths(self.output).map_err(quarantine)?;
        self.rt.block_on(journal::journal_pending(self.output, course_id, paths))?;
        let graded = self.for_each_partition(files, course_tables, course, |tables| {
            run.partition(tables).map_err(|e| match e {
                course::PartitionError::Course(e) => quarantine(e),
                course::PartitionError::Store(e) => CourseError::Stop(e),
            })
        });
        if let Err(e) = graded {
            run.abort();
            return Err(e);
        }
        let (mut graded, files) = run.finish(self.output).map_err(CourseError::Stop)?;
        let summary = CourseSummary {
            course_id: graded.course_id.clone(),
            course_version: graded.course_version.clone(),
            published_at: graded.published_at.map(crate::py::time::fmt_time),
            grading_policy_hash: graded.grading_policy_hash.clone(),
            learners: graded.learners,
            learner_errors: graded.learner_errors,
            subsection_rows: graded.subsection_rows,
            course_rows: graded.course_rows,
            subsection_diffs: Some(graded.subsection_diffs),
            course_grade_diffs: Some(graded.course_grade_diffs),
            readiness: None,
            rows_read: std::mem::take(&mut graded.rows_read),
            ignored_rows: std::mem::take(&mut graded.ignored_rows),
            warnings: std::mem::take(&mut graded.warnings),
            partitions: course.partitions.partitions.len(),
            apply: graded.apply,
            grades_frozen: graded.grades_frozen,
            seconds: started.elapsed().as_secs_f64(),
        };
        let diffs = summary.subsection_diffs.unwrap_or_default();
        tracing::info!(
            course_id,
            course_version = %summary.course_version,
            learners = summary.learners,
            learner_errors = summary.learner_errors,
            partitions = summary.partitions,
            changed = diffs.changed + diffs.new,
            seconds = summary.seconds,
            "graded course"
        );
        Ok((Box::new(summary), files))
    }
}

/// The number of threads `threads` means (0: one per core).
pub(crate) fn resolve_threads(threads: usize) -> usize {
    if threads > 0 {
        threads
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }
}

/// The I/O and decoding runtime: as many workers as the run has threads, so `--threads 1`
/// really is one thread of work.
pub(crate) fn runtime(threads: usize) -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(resolve_threads(threads))
        .enable_all()
        .build()?)
}

fn progress_bar(show: bool, courses: usize) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(courses as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} courses, {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar
}

pub(crate) fn parse_path(raw: &str) -> Result<object_store::path::Path> {
    // Escaped partition segments hold no ASCII but [A-Za-z0-9_%=-]: `parse` keeps `%` as is.
    object_store::path::Path::parse(raw.trim_start_matches('/'))
        .with_context(|| format!("invalid output path '{raw}'"))
}

/// Give the memory a partition freed back to the OS now, on every thread of the pool the
/// courses run on, this one included (mimalloc otherwise keeps pages that a few longer-lived
/// values still share, and resident memory creeps up partition after partition).
fn release_freed_memory() {
    // SAFETY: mi_collect only frees what the calling thread's heap no longer uses.
    rayon::broadcast(|_| unsafe { libmimalloc_sys::mi_collect(true) });
}
