//! `regrade run`: the whole pipeline, course by course.
//!
//! Planning, then execution, as in a query engine:
//!
//! 0. **The output folder** ([`folder`], [`claim`], [`journal`]): never the input, nor inside
//!    it or holding it, no symbolic links; claimed for this run alone; empty, or replaced
//!    (`--overwrite`: only what a previous run's manifest or journal lists), or resumed
//!    (`--resume`: same options, same input). Nothing in it changes before the plan below
//!    has read the input.
//! 1. **Plan.** Open the input and output URLs, list every input table once, read the course
//!    catalogue (`course_blocks`' course, version and publication columns), choose the
//!    courses and, per course, the version to grade against. Tables without a `course_id`
//!    (`users`, `id_verifications`, `subsection_grade_overrides`) are read once.
//! 2. **Execute**, `courses_in_flight` courses at a time, in parallel (rayon): read the
//!    course's rows of every table (projected, filtered by partition and row-group
//!    statistics, repetitive string columns kept dictionary-encoded: [`crate::read::tables::dictionary_for`]),
//!    then grade it in chunks of `learners_per_chunk` learners ([`course`]): each chunk is
//!    graded with the pure core, its rows diffed against its learners' persisted rows
//!    ([`crate::compare`]) and appended to the course's Parquet encoders and CSV text, chunks
//!    in parallel, in user id order. Then the course's files are listed in the journal and
//!    published, and the course is journaled complete (for `--resume`). Memory holds at
//!    most `courses_in_flight` courses' input and learners, never a course's output arrays.
//! 3. **Publish** `manifest.json` last: readers trust a run folder only when it exists.
//!
//! A course that cannot be graded (no such version, a broken structure or policy, duplicate
//! keys) is listed in the manifest and the run goes on; the command then exits 1. Unreadable
//! input (a missing required table, a corrupt file, a wrong column type) stops the run
//! (exit 2) before a manifest is written, and removes what the run wrote.

pub mod backfill;
mod backfill_files;
pub mod claim;
pub mod course;
mod finite;
pub mod folder;
pub mod journal;
pub mod names;
pub mod options;
pub mod scan;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, Result};
use bytes::Bytes;
use rayon::prelude::*;
use serde::Serialize;

pub use options::{Command, Job, RunOptions};

use self::backfill::Readiness;
use self::course::{CourseFailure, CourseOutput, CourseTables, Globals};
use crate::compare::DiffCounts;
use crate::grade::subsection::Override;
use crate::hooks;
use crate::model::load::Columns;
use crate::read::tables::{columns_for, dictionary_for, COURSE_TABLES, GLOBAL_TABLES};
use crate::read::{self, InputError, TableFile};
use crate::store::{self, Location};
use crate::write::{self, put_atomic, sha1_hex};

/// One output file, as listed in the manifest.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct OutputFile {
    pub path: String,
    pub rows: Option<usize>,
    pub bytes: usize,
    pub sha1: String,
}

/// One graded course, as listed in the manifest.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct CourseSummary {
    pub course_id: String,
    pub course_version: String,
    pub published_at: Option<String>,
    pub grading_policy_hash: String,
    pub learners: usize,
    pub learner_errors: usize,
    pub subsection_rows: usize,
    pub course_rows: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subsection_diffs: Option<DiffCounts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub course_grade_diffs: Option<DiffCounts>,
    /// `backfill` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readiness: Option<Readiness>,
    pub rows_read: BTreeMap<String, usize>,
    pub ignored_rows: BTreeMap<String, usize>,
    /// Suspicious rows kept as edX keeps them, by kind.
    pub warnings: BTreeMap<String, course::Warning>,
    pub seconds: f64,
}

/// Totals over the run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    pub courses: usize,
    pub courses_failed: usize,
    pub learners: usize,
    pub learner_errors: usize,
    pub subsection_rows: usize,
    pub course_rows: usize,
    pub rows_read: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subsection_diffs: Option<DiffCounts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub course_grade_diffs: Option<DiffCounts>,
    /// `backfill` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readiness: Option<Readiness>,
    /// Suspicious input rows kept as edX keeps them, by kind (details per course).
    pub warnings: BTreeMap<String, usize>,
}

/// What a run did: the body of `manifest.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    pub tool: &'static str,
    /// `run` or `backfill`.
    pub command: Command,
    pub tool_version: &'static str,
    pub started_at: String,
    pub finished_at: String,
    pub seconds: f64,
    pub rows_per_second: f64,
    pub options: serde_json::Value,
    /// Per input table: files and bytes listed.
    pub inputs: BTreeMap<String, InputSummary>,
    /// What under the input root is not read (paths relative to it): folders and files that
    /// are not tables, hidden files and folders, files that are not Parquet.
    pub ignored_inputs: Vec<String>,
    pub totals: Totals,
    pub courses: Vec<CourseSummary>,
    pub failed: Vec<CourseFailure>,
    pub outputs: Vec<OutputFile>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct InputSummary {
    pub files: usize,
    pub bytes: u64,
}

/// What a run did.
pub enum Outcome {
    /// The run was published: its manifest.
    Published(Box<Manifest>),
    /// `--resume` on a folder that already holds a complete run: nothing was done (exit 0);
    /// the message says so.
    AlreadyComplete(String),
}

/// Run the pipeline. `progress` shows a progress bar (on a terminal).
///
/// The output folder is checked (not the input, nor inside it or holding it; no symbolic
/// links), then claimed, then inspected; the input is planned before anything in the folder
/// changes, so a run refused for unreadable input leaves the folder as it found it.
pub fn run(opts: &RunOptions, progress: bool) -> Result<Outcome> {
    let rt = runtime(opts.threads)?;
    let input = store::open(&opts.input).map_err(read::as_input_error)?;
    folder::check_overlap(&opts.input, &opts.output).map_err(read::as_input_error)?;
    let created = store::local_dir(&opts.output).ok().flatten().filter(|d| !d.exists());
    let output = store::open_output(&opts.output).map_err(read::as_input_error)?;
    let result = folder::check_links(&output)
        .and_then(|()| rt.block_on(claim::Claim::take(&output, opts)))
        .and_then(|claim| {
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
    let started = Instant::now();
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let found = rt.block_on(journal::Folder::read(output))?;
    let Some(prepared) = folder::inspect(output, found, opts)? else {
        let why = format!("{} already holds a complete run (manifest.json); nothing to resume", output.url);
        return Ok(Outcome::AlreadyComplete(why));
    };
    crate::hooks::pause_point("output_checked");
    let opts = &prepared.opts;

    // Plan: list every table once, choose the courses, read the global tables.
    let plan = rt.block_on(plan(input, &opts.courses))?;
    let globals = rt.block_on(read_globals(input, &plan.files, opts))?;
    let record = journal::RunRecord::new(opts, journal::input_files(input, &plan.files))?;
    folder::check_input(output, &prepared, &record)?;
    // Only now does the folder change: the old run removed, or the interrupted one cleaned.
    *changed = true;
    let done_before = rt.block_on(folder::commit(output, &prepared, &record))?;
    let kept = done_before.clone();
    let ran = execute(rt, input, output, opts, progress, plan, &globals, done_before)
        .and_then(|done| publish(rt, output, opts, done, &globals, started, started_at));
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

/// What the courses gave: summaries and files of the graded ones, and the failures.
struct Executed {
    summaries: Vec<CourseSummary>,
    outputs: Vec<OutputFile>,
    failed: Vec<CourseFailure>,
    inputs: BTreeMap<String, InputSummary>,
    ignored_inputs: Vec<String>,
}

/// Grade (or backfill) the planned courses, `courses_in_flight` at a time, each journaled
/// once written; the courses an interrupted run completed (`done_before`) are kept.
#[allow(clippy::too_many_arguments)]
fn execute(
    rt: &tokio::runtime::Runtime,
    input: &Location,
    output: &Location,
    opts: &RunOptions,
    progress: bool,
    plan: Plan,
    globals: &Globals,
    done_before: DoneBefore,
) -> Result<Executed> {
    let Plan { files, inputs, ignored_inputs, courses, mut failed } = plan;
    // Courses an interrupted run completed are kept as they are.
    let courses: Vec<String> = courses.into_iter().filter(|c| !done_before.contains_key(c)).collect();
    tracing::info!(
        courses = courses.len(),
        command = ?opts.command,
        rescore = options::rescore_name(opts.rescore),
        input = %input.url,
        output = %output.url,
        "planned"
    );
    let pool = rayon::ThreadPoolBuilder::new().num_threads(opts.threads).build()?;
    let bar = progress_bar(progress, courses.len());
    let learners_done = AtomicUsize::new(0);
    let results: Vec<Result<CourseResult>> = pool.install(|| {
        let mut all = Vec::with_capacity(courses.len());
        for group in courses.chunks(opts.courses_in_flight) {
            let done: Vec<Result<CourseResult>> = group
                .par_iter()
                .map(|c| {
                    let r = match opts.command {
                        Command::Run => process_course(rt, input, output, &files, globals, opts, c),
                        Command::Backfill => {
                            backfill_files::process_backfill(rt, input, output, &files, globals, opts, c)
                        }
                    };
                    // A completed course is journaled, so that --resume can keep it.
                    let r = match r {
                        Ok(CourseResult::Graded(summary, files)) => {
                            hooks::crash_point("REGRADE_TEST_ABORT_BEFORE_JOURNAL");
                            let r = rt
                                .block_on(journal::journal_course(output, &summary, &files))
                                .map(|()| CourseResult::Graded(summary, files));
                            hooks::crash_point("REGRADE_TEST_ABORT_AFTER_JOURNAL");
                            r
                        }
                        other => other,
                    };
                    if let Ok(CourseResult::Graded(s, _)) = &r {
                        let n = learners_done.fetch_add(s.learners, Ordering::Relaxed) + s.learners;
                        bar.set_message(format!("{n} learners"));
                    }
                    bar.inc(1);
                    r
                })
                .collect();
            let stop = done
                .iter()
                .any(|r| r.is_err() || (opts.fail_fast && matches!(r, Ok(CourseResult::Failed(_)))));
            all.extend(done);
            if stop {
                break;
            }
        }
        all
    });
    bar.finish_and_clear();
    let mut summaries: Vec<CourseSummary> = Vec::new();
    let mut outputs: Vec<OutputFile> = Vec::new();
    for (course_id, (summary, files)) in done_before {
        tracing::info!(course_id = %course_id, "kept from the interrupted run (--resume)");
        summaries.push(summary);
        outputs.extend(files);
    }
    for r in results {
        match r? {
            CourseResult::Graded(summary, files) => {
                summaries.push(*summary);
                outputs.extend(files);
            }
            CourseResult::Failed(f) => {
                tracing::error!(course_id = %f.course_id, error = %f.error, "course failed");
                failed.push(f);
            }
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

/// The run's totals over its courses.
fn totals(opts: &RunOptions, summaries: &[CourseSummary], failed: usize, globals: &Globals) -> Totals {
    let mut totals = Totals { courses: summaries.len(), courses_failed: failed, ..Totals::default() };
    if opts.command == Command::Run {
        totals.subsection_diffs = Some(DiffCounts::default());
        totals.course_grade_diffs = Some(DiffCounts::default());
    }
    for s in summaries {
        totals.learners += s.learners;
        totals.learner_errors += s.learner_errors;
        totals.subsection_rows += s.subsection_rows;
        totals.course_rows += s.course_rows;
        totals.rows_read += s.rows_read.values().sum::<usize>();
        if let Some(d) = s.subsection_diffs {
            totals.subsection_diffs.get_or_insert_with(DiffCounts::default).add(d);
        }
        if let Some(d) = s.course_grade_diffs {
            totals.course_grade_diffs.get_or_insert_with(DiffCounts::default).add(d);
        }
        if let Some(r) = &s.readiness {
            totals.readiness.get_or_insert_with(|| Readiness::new(0, opts.assume_zero_if_absent)).add(r);
        }
        for (kind, w) in &s.warnings {
            *totals.warnings.entry(kind.clone()).or_default() += w.count;
            tracing::warn!(course_id = %s.course_id, kind = %kind, count = w.count, "suspicious input rows kept as edX keeps them (see warnings in manifest.json)");
        }
    }
    totals.rows_read += globals.rows_read;
    if opts.command == Command::Backfill {
        totals.readiness.get_or_insert_with(|| Readiness::new(0, opts.assume_zero_if_absent));
    }
    totals
}

/// Write the run-level files and `manifest.json` (last), then remove the journal.
fn publish(
    rt: &tokio::runtime::Runtime,
    output: &Location,
    opts: &RunOptions,
    done: Executed,
    globals: &Globals,
    started: Instant,
    started_at: String,
) -> Result<Manifest> {
    let Executed { summaries, mut outputs, failed, inputs, ignored_inputs } = done;
    let totals = totals(opts, &summaries, failed.len(), globals);
    if opts.command == Command::Backfill {
        outputs.extend(rt.block_on(backfill_files::write_scripts(output, &summaries, &outputs))?);
    }
    outputs.sort_by(|a, b| a.path.cmp(&b.path));
    let seconds = started.elapsed().as_secs_f64();
    let mut options_json = serde_json::to_value(opts)?;
    options_json["input"] = serde_json::Value::String(store::redact(&opts.input));
    options_json["output"] = serde_json::Value::String(store::redact(&opts.output));
    if let Some((path, text)) = &opts.policy {
        options_json["policy"] = serde_json::json!({ "path": path, "sha1": sha1_hex(text.as_bytes()) });
    }
    options_json["as_of"] = serde_json::Value::String(crate::py::time::fmt_time(opts.as_of));
    let manifest = Manifest {
        tool: "regrade",
        command: opts.command,
        tool_version: env!("CARGO_PKG_VERSION"),
        started_at,
        finished_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        seconds,
        rows_per_second: if seconds > 0.0 { totals.rows_read as f64 / seconds } else { 0.0 },
        options: options_json,
        inputs,
        ignored_inputs,
        totals,
        courses: summaries,
        failed,
        outputs,
    };
    hooks::crash_point("REGRADE_TEST_ABORT_BEFORE_MANIFEST");
    let text = serde_json::to_string_pretty(&manifest)? + "\n";
    rt.block_on(put_atomic(&output.store, &output.path(&["manifest.json"]), Bytes::from(text)))?;
    // The run is published: its journal is no longer needed (a leftover is harmless: a
    // folder with a manifest is complete, and --resume on it does nothing).
    if let Err(e) = rt.block_on(journal::clear_journal(output)) {
        tracing::warn!(error = %format!("{e:#}"), "could not remove the run journal (_journal/)");
    }
    Ok(manifest)
}

/// The number of threads `threads` means (0: one per core).
pub fn resolve_threads(threads: usize) -> usize {
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

/// What planning found: every table's files (listed once), the courses to process and
/// those that cannot be (not found, blank id).
pub(crate) struct Plan {
    pub files: HashMap<&'static str, Vec<TableFile>>,
    pub inputs: BTreeMap<String, InputSummary>,
    pub ignored_inputs: Vec<String>,
    pub courses: Vec<String>,
    pub failed: Vec<CourseFailure>,
}

/// List every input table once, read the course catalogue and choose the courses.
pub(crate) async fn plan(input: &Location, selection: &options::CourseSelection) -> Result<Plan> {
    let tables: Vec<&str> = COURSE_TABLES.iter().chain(GLOBAL_TABLES).copied().collect();
    let inventory = read::discover::inventory(input, &tables).await?;
    inventory.warn();
    let ignored_inputs = inventory.ignored_paths();
    let mut listed = inventory.into_files()?;
    let mut files: HashMap<&'static str, Vec<TableFile>> = HashMap::new();
    let mut inputs = BTreeMap::new();
    for t in tables {
        let listed = listed.remove(t).unwrap_or_default();
        inputs.insert(
            t.to_string(),
            InputSummary { files: listed.len(), bytes: listed.iter().map(|f| f.meta.size).sum() },
        );
        files.insert(t, listed);
    }
    let filter: Option<HashSet<String>> = match selection {
        options::CourseSelection::All => None,
        options::CourseSelection::Ids(ids) => Some(ids.iter().cloned().collect()),
    };
    let catalogue = read::read_files(
        input,
        "course_blocks",
        files["course_blocks"].clone(),
        &["course_id"],
        filter.as_ref(),
    )
    .await?;
    let mut known: BTreeSet<String> = BTreeSet::new();
    for b in &catalogue {
        let c = Columns::new("course_blocks", b);
        let id = c.str_at("course_id")?;
        for i in 0..c.len() {
            if !known.contains(id(i)) {
                known.insert(id(i).to_string());
            }
        }
    }
    drop(catalogue);
    if known.is_empty() && filter.is_none() {
        return Err(InputError::new(format!(
            "course_blocks under '{}' has no rows: there is no course to grade; check the export",
            input.url
        ))
        .into());
    }
    let (courses, mut failed): (Vec<String>, Vec<CourseFailure>) = match selection {
        options::CourseSelection::All => (known.into_iter().collect(), Vec::new()),
        options::CourseSelection::Ids(ids) => {
            let (found, missing): (Vec<String>, Vec<String>) =
                ids.iter().cloned().partition(|c| known.contains(c));
            let failed = missing
                .into_iter()
                .map(|c| CourseFailure {
                    error: format!("{c}: not found in course_blocks (check the course id and the input URL)"),
                    course_id: c,
                })
                .collect();
            (found, failed)
        }
    };
    // A blank course id is no course key: its rows cannot be told apart from a broken export.
    let (courses, blank): (Vec<String>, Vec<String>) =
        courses.into_iter().partition(|c| !c.trim().is_empty());
    failed.extend(blank.into_iter().map(|c| CourseFailure {
        error: format!("course_blocks has rows with a blank course_id ({c:?}); every row needs a course key"),
        course_id: c,
    }));
    Ok(Plan { files, inputs, ignored_inputs, courses, failed })
}

enum CourseResult {
    Graded(Box<CourseSummary>, Vec<OutputFile>),
    Failed(CourseFailure),
}

/// Courses an interrupted run completed: course id -> (summary, files).
pub(crate) type DoneBefore = BTreeMap<String, (CourseSummary, Vec<OutputFile>)>;

async fn read_globals(
    input: &Location,
    files: &HashMap<&'static str, Vec<TableFile>>,
    opts: &RunOptions,
) -> Result<Globals> {
    let mut g = Globals::default();
    if opts.outputs.reports {
        for b in read::read_files(input, "users", files["users"].clone(), columns_for("users"), None).await? {
            g.rows_read += b.num_rows();
            let c = Columns::new("users", &b);
            let (id, name, email) = (c.i64_at("id")?, c.str_at("username")?, c.str_at("email")?);
            for i in 0..c.len() {
                let uid = id(i).unwrap_or_default();
                if g.users.insert(uid, (name(i).to_string(), email(i).to_string())).is_some() {
                    // Quarantines the courses the user is enrolled in (`course::load`).
                    g.duplicate_users.entry(uid).or_insert_with(|| c.source().to_string());
                }
            }
        }
        if !g.duplicate_users.is_empty() {
            tracing::warn!(
                user_ids = g.duplicate_users.len(),
                "users has more than one row for some ids; the courses they are enrolled in are quarantined"
            );
        }
        let batches = read::read_files(
            input,
            "id_verifications",
            files["id_verifications"].clone(),
            columns_for("id_verifications"),
            None,
        )
        .await?;
        for b in batches {
            g.rows_read += b.num_rows();
            let c = Columns::new("id_verifications", &b);
            let (id, status) = (c.i64_at("user_id")?, c.str_at("status")?);
            for i in 0..c.len() {
                if status(i) == "approved" {
                    g.verified.insert(id(i).unwrap_or_default());
                }
            }
        }
    }
    let batches = read::read_files(
        input,
        "subsection_grade_overrides",
        files["subsection_grade_overrides"].clone(),
        &[],
        None,
    )
    .await?;
    for b in batches {
        g.rows_read += b.num_rows();
        let c = Columns::new("subsection_grade_overrides", &b);
        let id = c.i64_at("grade_id")?;
        let (ea, pa) = (c.f64_at("earned_all_override")?, c.f64_at("possible_all_override")?);
        let (eg, pg) = (c.f64_at("earned_graded_override")?, c.f64_at("possible_graded_override")?);
        for i in 0..c.len() {
            for (column, v) in [
                ("earned_all_override", ea(i)),
                ("possible_all_override", pa(i)),
                ("earned_graded_override", eg(i)),
                ("possible_graded_override", pg(i)),
            ] {
                if let Some(x) = v.filter(|x| !x.is_finite() || *x < 0.0) {
                    return Err(InputError::new(format!(
                        "subsection_grade_overrides (file {}): row grade_id {}: {column} is {x}; \
                         overrides must be finite and not negative (or NULL): fix or remove the row",
                        c.source(),
                        id(i).unwrap_or_default()
                    ))
                    .into());
                }
            }
            let ov = Override {
                earned_all: ea(i),
                possible_all: pa(i),
                earned_graded: eg(i),
                possible_graded: pg(i),
            };
            // One override per grade (a OneToOne field in edX): the last row wins.
            g.overrides.insert(id(i).unwrap_or_default(), ov);
        }
    }
    Ok(g)
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

pub(crate) fn rel(loc: &Location, path: &object_store::path::Path) -> String {
    path.prefix_match(&loc.prefix)
        .map(|p| p.map(|x| x.as_ref().to_string()).collect::<Vec<_>>().join("/"))
        .unwrap_or_else(|| path.to_string())
}

/// One course's rows of `tables` (input errors end the run).
fn read_course(
    rt: &tokio::runtime::Runtime,
    input: &Location,
    files: &HashMap<&'static str, Vec<TableFile>>,
    course_id: &str,
    tables: impl Iterator<Item = &'static str>,
) -> Result<CourseTables> {
    let only = HashSet::from([course_id.to_string()]);
    let mut out: CourseTables = HashMap::new();
    for t in tables {
        let read =
            read::read_files_with(input, t, files[t].clone(), columns_for(t), Some(&only), dictionary_for(t));
        let batches = rt.block_on(read)?;
        out.insert(t, batches);
    }
    Ok(out)
}

/// The course is quarantined with this error.
fn course_failed(course_id: &str, error: String) -> CourseResult {
    CourseResult::Failed(CourseFailure { course_id: course_id.to_string(), error })
}

/// Read, grade, diff and write one course. Input errors end the run; anything wrong with
/// the course's own data fails only this course.
fn process_course(
    rt: &tokio::runtime::Runtime,
    input: &Location,
    output: &Location,
    files: &HashMap<&'static str, Vec<TableFile>>,
    globals: &Globals,
    opts: &RunOptions,
    course_id: &str,
) -> Result<CourseResult> {
    let started = Instant::now();
    let mut stage = started;
    let mut lap = || std::mem::replace(&mut stage, Instant::now()).elapsed().as_secs_f64();
    let failed = |e: anyhow::Error| Ok(course_failed(course_id, format!("{e:#}")));
    if let Err(e) = names::check_course_names(course_id, opts) {
        return Ok(course_failed(course_id, e));
    }
    let tables = read_course(rt, input, files, course_id, COURSE_TABLES.iter().copied())?;
    let read_s = lap();
    let mut graded = match course::grade_course(course_id, tables, globals, opts) {
        Ok(g) => g,
        Err(e) => return failed(e),
    };
    let grade_s = lap();
    let mut summary = CourseSummary {
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
        seconds: 0.0,
    };
    let files = rt.block_on(write_course(output, graded))?;
    let write_s = lap();
    tracing::debug!(course_id, read_s, grade_s, write_s, "course stages");
    summary.seconds = started.elapsed().as_secs_f64();
    let diffs = summary.subsection_diffs.unwrap_or_default();
    tracing::info!(
        course_id,
        course_version = %summary.course_version,
        learners = summary.learners,
        learner_errors = summary.learner_errors,
        changed = diffs.changed + diffs.new,
        seconds = summary.seconds,
        "graded course"
    );
    Ok(CourseResult::Graded(Box::new(summary), files))
}

/// Publish a graded course's files: its partition of each output table and its reports,
/// listed in the journal before the first is written.
async fn write_course(output: &Location, graded: CourseOutput) -> Result<Vec<OutputFile>> {
    let mut files = Vec::new();
    for table in graded.tables {
        let path = write::course_table_path(output, &graded.course_id, &table)?;
        files.push(journal::NewFile { path, bytes: table.bytes, rows: Some(table.rows) });
    }
    let folder = sha1_hex(graded.course_id.as_bytes());
    for (name, text) in graded.reports {
        // `PathPart::parse` keeps the Unicode letters Django's `get_valid_filename` keeps
        // (`path()` would percent-encode them); the name holds only `[-\w.]`.
        let part = object_store::path::PathPart::parse(&name)
            .with_context(|| format!("invalid report file name '{name}'"))?;
        let path = output.path(&["reports", &folder]).join(part);
        files.push(journal::NewFile { path, bytes: Bytes::from(text.into_bytes()), rows: None });
    }
    journal::write_course_files(output, &graded.course_id, files).await
}

pub(crate) fn parse_path(raw: &str) -> Result<object_store::path::Path> {
    // Escaped partition segments hold no ASCII but [A-Za-z0-9_%=-]: `parse` keeps `%` as is.
    object_store::path::Path::parse(raw.trim_start_matches('/'))
        .with_context(|| format!("invalid output path '{raw}'"))
}
