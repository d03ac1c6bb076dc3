//! `regrade run`: the whole pipeline, course by course.
//!
//! Planning, then execution, as in a query engine:
//!
//! 1. **Plan.** Open the input and output URLs, list every input table once, read the course
//!    catalogue (`course_blocks`' course, version and publication columns), choose the
//!    courses and, per course, the version to grade against. Tables without a `course_id`
//!    (`users`, `id_verifications`, `subsection_grade_overrides`) are read once.
//! 2. **Execute**, `courses_in_flight` courses at a time, in parallel (rayon): read the
//!    course's rows of every table (projected, filtered by partition and row-group
//!    statistics, repetitive string columns kept dictionary-encoded: [`dictionary_for`]),
//!    then grade it in chunks of `learners_per_chunk` learners ([`course`]): each chunk is
//!    graded with the pure core, its rows diffed against its learners' persisted rows
//!    ([`crate::compare`]) and appended to the course's Parquet encoders and CSV text, chunks
//!    in parallel, in user id order. Then the course's files are published. Memory holds at
//!    most `courses_in_flight` courses' input and learners, never a course's output arrays.
//! 3. **Publish** `manifest.json` last: readers trust a run folder only when it exists.
//!
//! A course that cannot be graded (no such version, a broken structure or policy, duplicate
//! keys) is listed in the manifest and the run goes on; the command then exits 1. Unreadable
//! input (a missing required table, a corrupt file, a wrong column type) stops the run
//! (exit 2) before a manifest is written.

pub mod backfill;
pub mod course;
mod finite;
pub mod names;
pub mod options;
pub mod scan;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, Result};
use bytes::Bytes;
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use rayon::prelude::*;
use serde::Serialize;

pub use options::{Command, Job, RunOptions};

use self::backfill::{BackfillOutput, Readiness};
use self::course::{CourseFailure, CourseOutput, CourseTables, Globals, COURSE_TABLES};
use crate::compare::DiffCounts;
use crate::grade::subsection::Override;
use crate::model::load::Columns;
use crate::read::{self, InputError, TableFile};
use crate::store::{self, Location};
use crate::write::{self, put_atomic, sha1_hex};

/// The columns read from each input table (everything else is never fetched).
pub fn columns_for(table: &str) -> &'static [&'static str] {
    match table {
        "studentmodule" => &["student_id", "module_state_key", "grade", "max_grade", "created"],
        "enrollments" => &["user_id", "mode", "is_active"],
        "submissions" => &["id", "user_id", "usage_key", "points_earned", "points_possible", "created_at"],
        "persistent_course_grades" => &[
            "user_id",
            "course_version",
            "grading_policy_hash",
            "percent_grade",
            "letter_grade",
            "passed_timestamp",
        ],
        // What grading reads and the diff compares and shows (not course_id, the edit and
        // row timestamps: a third of the table's memory).
        "persistent_subsection_grades" => &[
            "id",
            "user_id",
            "usage_key",
            "course_version",
            "earned_all",
            "possible_all",
            "earned_graded",
            "possible_graded",
            "first_attempted",
            "visible_blocks_hash",
        ],
        "visible_blocks" => &["hashed", "blocks_json"],
        "users" => &["id", "username", "email"],
        "id_verifications" => &["user_id", "status"],
        // Every column: the structure needs all block fields.
        _ => &[],
    }
}

/// The columns of each input table read dictionary-encoded: many rows, few distinct values,
/// each looked up once per distinct value when the course is loaded.
pub fn dictionary_for(table: &str) -> &'static [&'static str] {
    match table {
        "studentmodule" => &["module_state_key"],
        // Decoded to strings a chunk of learners at a time, for the diff.
        "persistent_subsection_grades" => &["usage_key", "course_version", "visible_blocks_hash"],
        _ => &[],
    }
}

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
    /// Folders of the input root that are not tables of the contract (not read).
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

/// Tables read once for the whole run.
const GLOBAL_TABLES: &[&str] = &["users", "id_verifications", "subsection_grade_overrides"];

/// `--resume` on a folder whose run is complete: nothing to do (the CLI exits 0).
#[derive(Debug)]
pub struct AlreadyComplete(pub String);

impl std::fmt::Display for AlreadyComplete {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} already holds a complete run (manifest.json); nothing to resume", self.0)
    }
}

impl std::error::Error for AlreadyComplete {}

/// Run the pipeline. `progress` shows a progress bar (on a terminal).
pub fn run(opts: &RunOptions, progress: bool) -> Result<Manifest> {
    let started = Instant::now();
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let rt = runtime(opts.threads)?;
    let input = store::open(&opts.input).map_err(read::as_input_error)?;
    let output = store::open_output(&opts.output).map_err(read::as_input_error)?;
    let (opts, done_before) = rt.block_on(prepare_output(&output, opts))?;
    let opts = &opts;

    // Plan: list every table once, choose the courses.
    let Plan { files, inputs, ignored_inputs, courses, mut failed } =
        rt.block_on(plan(&input, &opts.courses))?;
    // Courses an interrupted run completed are kept as they are.
    let courses: Vec<String> = courses.into_iter().filter(|c| !done_before.contains_key(c)).collect();
    let globals = rt.block_on(read_globals(&input, &files, opts))?;
    tracing::info!(
        courses = courses.len(),
        command = ?opts.command,
        rescore = options::rescore_name(opts.rescore),
        input = %input.url,
        output = %output.url,
        "planned"
    );

    // Execute.
    let pool = rayon::ThreadPoolBuilder::new().num_threads(opts.threads).build()?;
    let bar = progress_bar(progress, courses.len());
    let learners_done = AtomicUsize::new(0);
    let mut summaries: Vec<CourseSummary> = Vec::new();
    let mut outputs: Vec<OutputFile> = Vec::new();
    let results: Vec<Result<CourseResult>> = pool.install(|| {
        let mut all = Vec::with_capacity(courses.len());
        for group in courses.chunks(opts.courses_in_flight) {
            let done: Vec<Result<CourseResult>> = group
                .par_iter()
                .map(|c| {
                    let r = match opts.command {
                        Command::Run => process_course(&rt, &input, &output, &files, &globals, opts, c),
                        Command::Backfill => {
                            process_backfill(&rt, &input, &output, &files, &globals, opts, c)
                        }
                    };
                    // A completed course is journaled, so that --resume can keep it.
                    let r = match r {
                        Ok(CourseResult::Graded(summary, files)) => {
                            crash_point("REGRADE_TEST_ABORT_BEFORE_JOURNAL");
                            let r = rt
                                .block_on(journal_course(&output, &summary, &files))
                                .map(|()| CourseResult::Graded(summary, files));
                            crash_point("REGRADE_TEST_ABORT_AFTER_JOURNAL");
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

    // Publish.
    let mut totals = Totals { courses: summaries.len(), courses_failed: failed.len(), ..Totals::default() };
    if opts.command == Command::Run {
        totals.subsection_diffs = Some(DiffCounts::default());
        totals.course_grade_diffs = Some(DiffCounts::default());
    }
    for s in &summaries {
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
        outputs.extend(rt.block_on(write_backfill_scripts(&output, &summaries, &outputs))?);
    }
    outputs.sort_by(|a, b| a.path.cmp(&b.path));
    let seconds = started.elapsed().as_secs_f64();
    let mut options_json = serde_json::to_value(opts)?;
    options_json["input"] = serde_json::Value::String(store::redact(&opts.input));
    options_json["output"] = serde_json::Value::String(store::redact(&opts.output));
    if let Some((path, text)) = &opts.policy {
        options_json["policy"] = serde_json::json!({ "path": path, "sha1": sha1_hex(text.as_bytes()) });
    }
    options_json["as_of"] = serde_json::Value::String(course::fmt_time(opts.as_of));
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
    crash_point("REGRADE_TEST_ABORT_BEFORE_MANIFEST");
    let text = serde_json::to_string_pretty(&manifest)? + "\n";
    rt.block_on(put_atomic(&output.store, &output.path(&["manifest.json"]), Bytes::from(text)))?;
    // The run is published: its journal is no longer needed (a leftover is harmless: a
    // folder with a manifest is complete, and --resume on it does nothing).
    if let Err(e) = rt.block_on(clear_journal(&output)) {
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
    let ignored_inputs = read::unknown_table_folders(input).await?;
    for folder in &ignored_inputs {
        tracing::warn!(folder = %folder, "input folder is not a table of the data contract; ignored");
    }
    let mut files: HashMap<&'static str, Vec<TableFile>> = HashMap::new();
    let mut inputs = BTreeMap::new();
    for &t in COURSE_TABLES.iter().chain(GLOBAL_TABLES) {
        let listed = read::list_input_files(input, t).await?;
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

/// Crash tests: with `VAR=n` in the environment, the process aborts (as a crash or a kill
/// would stop it) when it reaches this point for the n-th time. Never set in production.
fn crash_point(var: &str) {
    static SEEN: std::sync::Mutex<BTreeMap<String, usize>> = std::sync::Mutex::new(BTreeMap::new());
    let Some(n) = std::env::var(var).ok().and_then(|v| v.parse::<usize>().ok()) else { return };
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    let count = seen.entry(var.to_string()).or_default();
    *count += 1;
    if *count >= n {
        eprintln!("{var}={n}: aborting");
        std::process::abort();
    }
}

/// Folder of the journal of a run in progress: `_run.json` (the options it started with) and
/// one `course_id=<escaped>.json` per completed course (its summary and files). Removed once
/// the manifest is written; `--resume` reads it.
const JOURNAL: &str = "_journal";

/// The options that decide a run's outputs (not how fast it runs or how it was started), as
/// recorded in the journal and compared on `--resume`.
fn fingerprint(opts: &RunOptions) -> Result<serde_json::Value> {
    let mut v = serde_json::to_value(opts)?;
    if let Some(map) = v.as_object_mut() {
        for volatile in [
            "overwrite",
            "resume",
            "threads",
            "courses_in_flight",
            "learners_per_chunk",
            "fail_fast",
            "description",
        ] {
            map.remove(volatile);
        }
        map.insert("input".into(), store::redact(&opts.input).into());
        map.insert("output".into(), store::redact(&opts.output).into());
        map.insert("as_of".into(), course::fmt_time(opts.as_of).into());
        if let Some((path, text)) = &opts.policy {
            map.insert(
                "policy".into(),
                serde_json::json!({ "path": path, "sha1": sha1_hex(text.as_bytes()) }),
            );
        }
    }
    Ok(v)
}

#[derive(Serialize, serde::Deserialize)]
struct JournalEntry {
    summary: CourseSummary,
    files: Vec<OutputFile>,
}

async fn journal_course(output: &Location, summary: &CourseSummary, files: &[OutputFile]) -> Result<()> {
    let entry = JournalEntry { summary: summary.clone(), files: files.to_vec() };
    let name = format!("{}.json", write::partition_segment("course_id", &summary.course_id));
    let path = parse_path(&format!("{}/{JOURNAL}/{name}", output.prefix))?;
    put_atomic(&output.store, &path, Bytes::from(serde_json::to_vec_pretty(&entry)?)).await
}

async fn clear_journal(output: &Location) -> Result<()> {
    let prefix = output.path(&[JOURNAL]);
    let entries: Vec<_> =
        output.store.list(Some(&prefix)).try_collect().await.context("cannot list the run journal")?;
    for m in entries {
        output.store.delete(&m.location).await.with_context(|| format!("cannot delete '{}'", m.location))?;
    }
    Ok(())
}

enum CourseResult {
    Graded(Box<CourseSummary>, Vec<OutputFile>),
    Failed(CourseFailure),
}

/// Courses an interrupted run completed: course id -> (summary, files).
type DoneBefore = BTreeMap<String, (CourseSummary, Vec<OutputFile>)>;

/// Refuse to mix two runs in one folder; with `overwrite`, withdraw the old manifest first
/// (so readers stop trusting the folder), then delete the rest. With `resume`, read the
/// journal of the interrupted run: its options must match (a resumed run without `as_of`
/// takes the interrupted run's), and each completed course's files must still be there,
/// whole. Records this run's options in the journal. Returns the options to run with.
async fn prepare_output(output: &Location, opts: &RunOptions) -> Result<(RunOptions, DoneBefore)> {
    let mut opts = opts.clone();
    let existing: Vec<_> =
        output.store.list(Some(&output.prefix)).try_collect().await.with_context(|| {
            format!("cannot list the output folder '{}' (check the URL and the credentials)", output.url)
        })?;
    let manifest = output.path(&["manifest.json"]);
    let run_file = output.path(&[JOURNAL, "_run.json"]);
    let mut done = DoneBefore::new();
    if opts.resume && !existing.is_empty() {
        if existing.iter().any(|m| m.location == manifest) {
            return Err(AlreadyComplete(output.url.clone()).into());
        }
        if !existing.iter().any(|m| m.location == run_file) {
            return Err(InputError::new(format!(
                "cannot resume in '{}': it holds files but no run journal ({JOURNAL}/_run.json); \
                 choose a new folder or pass --overwrite",
                output.url
            ))
            .into());
        }
        let bytes = output.store.get(&run_file).await?.bytes().await?;
        let started: serde_json::Value =
            serde_json::from_slice(&bytes).context("the run journal's _run.json is not JSON")?;
        if !opts.as_of_given {
            if let Some(t) = started["as_of"].as_str() {
                opts.as_of = options::parse_time(t).context("the run journal's as_of")?;
            }
        }
        let now = fingerprint(&opts)?;
        if started != now {
            return Err(InputError::new(format!(
                "cannot resume in '{}': the interrupted run used other options ({}); rerun with the \
                 same job and flags, or pass --overwrite",
                output.url,
                differences(&started, &now).join(", ")
            ))
            .into());
        }
        let sizes: HashMap<&object_store::path::Path, u64> =
            existing.iter().map(|m| (&m.location, m.size)).collect();
        let journal = output.path(&[JOURNAL]);
        for m in existing.iter().filter(|m| m.location != run_file) {
            if m.location.prefix_match(&journal).is_none() {
                continue;
            }
            let bytes = output.store.get(&m.location).await?.bytes().await?;
            let entry: JournalEntry = serde_json::from_slice(&bytes)
                .with_context(|| format!("journal entry '{}' is not valid", m.location))?;
            // A course is kept only when every file it lists is there, whole.
            let whole = entry.files.iter().all(|f| {
                parse_path(&format!("{}/{}", output.prefix, f.path))
                    .ok()
                    .and_then(|p| sizes.get(&p).copied())
                    .is_some_and(|size| size == f.bytes as u64)
            });
            if whole {
                done.insert(entry.summary.course_id.clone(), (entry.summary, entry.files));
            }
        }
        tracing::info!(courses_kept = done.len(), output = %output.url, "resuming an interrupted run");
        return Ok((opts, done));
    }
    if !existing.is_empty() {
        if !opts.overwrite {
            return Err(InputError::new(format!(
                "the output folder '{}' is not empty ({} files); choose a new folder per run, pass \
                 --overwrite to replace it, or --resume to go on with an interrupted run",
                output.url,
                existing.len()
            ))
            .into());
        }
        if existing.iter().any(|m| m.location == manifest) {
            output.store.delete(&manifest).await.context("cannot delete the old manifest.json")?;
        }
        for m in existing.iter().filter(|m| m.location != manifest) {
            output
                .store
                .delete(&m.location)
                .await
                .with_context(|| format!("cannot delete '{}'", m.location))?;
        }
        tracing::info!(files = existing.len(), output = %output.url, "replaced the previous run");
    }
    let record = fingerprint(&opts)?;
    put_atomic(&output.store, &run_file, Bytes::from(serde_json::to_vec_pretty(&record)?)).await?;
    Ok((opts, done))
}

/// The top-level keys whose values differ between two option records.
fn differences(a: &serde_json::Value, b: &serde_json::Value) -> Vec<String> {
    let keys: BTreeSet<&String> =
        a.as_object().into_iter().chain(b.as_object()).flat_map(|m| m.keys()).collect();
    keys.into_iter().filter(|k| a.get(k.as_str()) != b.get(k.as_str())).map(|k| k.to_string()).collect()
}

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

fn listed(loc: &Location, files: Vec<write::WrittenFile>) -> Vec<OutputFile> {
    files
        .into_iter()
        .map(|f| OutputFile { path: rel(loc, &f.path), rows: Some(f.rows), bytes: f.bytes, sha1: f.sha1 })
        .collect()
}

fn rel(loc: &Location, path: &object_store::path::Path) -> String {
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
        published_at: graded.published_at.map(course::fmt_time),
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

/// Publish a graded course's files: its partition of each output table and its reports.
async fn write_course(output: &Location, graded: CourseOutput) -> Result<Vec<OutputFile>> {
    let mut out = Vec::new();
    for table in graded.tables {
        out.extend(listed(output, vec![write::put_course_table(output, &graded.course_id, table).await?]));
    }
    let folder = sha1_hex(graded.course_id.as_bytes());
    for (name, text) in graded.reports {
        // `PathPart::parse` keeps the Unicode letters Django's `get_valid_filename` keeps
        // (`path()` would percent-encode them); the name holds only `[-\w.]`.
        let part = object_store::path::PathPart::parse(&name)
            .with_context(|| format!("invalid report file name '{name}'"))?;
        let path = output.path(&["reports", &folder]).join(part);
        let bytes = Bytes::from(text.into_bytes());
        let sha1 = sha1_hex(&bytes);
        let size = bytes.len();
        put_atomic(&output.store, &path, bytes).await?;
        out.push(OutputFile { path: rel(output, &path), rows: None, bytes: size, sha1 });
    }
    Ok(out)
}

/// The input tables a backfill reads: the report-only ones are skipped.
fn backfill_tables() -> impl Iterator<Item = &'static str> {
    COURSE_TABLES
        .iter()
        .copied()
        .filter(|t| !matches!(*t, "team_memberships" | "certificate_allowlist" | "generated_certificates"))
}

/// Read and backfill one course, and write its backfill files.
fn process_backfill(
    rt: &tokio::runtime::Runtime,
    input: &Location,
    output: &Location,
    files: &HashMap<&'static str, Vec<TableFile>>,
    globals: &Globals,
    opts: &RunOptions,
    course_id: &str,
) -> Result<CourseResult> {
    let started = Instant::now();
    if let Err(e) = names::check_course_names(course_id, opts) {
        return Ok(course_failed(course_id, e));
    }
    let tables = read_course(rt, input, files, course_id, backfill_tables())?;
    let done = match backfill::backfill_course(course_id, tables, globals, opts) {
        Ok(d) => d,
        Err(e) => return Ok(course_failed(course_id, format!("{e:#}"))),
    };
    // Rendering can fail on a value MySQL cannot hold (that fails the course); storage
    // errors while writing end the run.
    let rendered = match render_backfill(&done) {
        Ok(r) => r,
        Err(e) => return Ok(course_failed(course_id, format!("{course_id}: {e:#}"))),
    };
    let written = rt.block_on(write_backfill_course(output, &done, rendered))?;
    let r = done.readiness;
    let summary = CourseSummary {
        course_id: done.course_id.clone(),
        course_version: done.course_version.clone(),
        published_at: done.published_at.map(course::fmt_time),
        grading_policy_hash: done.grading_policy_hash.clone(),
        learners: r.learners,
        learner_errors: r.learner_errors,
        subsection_rows: r.subsection_rows_to_insert,
        course_rows: r.course_grade_rows_to_insert,
        subsection_diffs: None,
        course_grade_diffs: None,
        readiness: Some(r),
        rows_read: done.rows_read.clone(),
        ignored_rows: done.ignored_rows.clone(),
        warnings: done.warnings.clone(),
        seconds: started.elapsed().as_secs_f64(),
    };
    tracing::info!(
        course_id,
        course_version = %summary.course_version,
        learners = r.learners,
        learners_missing_rows = r.learners_missing_rows,
        grade_would_change = r.grade_would_change,
        would_lose_pass = r.would_lose_pass,
        wrong_grade_today = r.wrong_grade_today,
        pass_restored = r.pass_restored,
        rows_to_insert = r.rows_to_insert,
        seconds = summary.seconds,
        "backfilled course"
    );
    Ok(CourseResult::Graded(Box::new(summary), written))
}

/// One course's backfill as text: a `LOAD DATA` CSV per non-empty table and the upsert script.
struct RenderedBackfill {
    csv: Vec<(write::mysql::MysqlTable, String)>,
    sql: Option<String>,
}

fn render_backfill(done: &BackfillOutput) -> Result<RenderedBackfill> {
    use write::mysql;
    let mut csv = Vec::new();
    let mut sql = String::new();
    for (table, batch) in done.tables() {
        if batch.num_rows() == 0 {
            continue;
        }
        csv.push((table, mysql::to_csv(batch)?));
        sql.push_str(&format!("-- {}: {} rows\n", table.name, batch.num_rows()));
        sql.push_str(&mysql::upsert_sql(&table, batch)?);
    }
    let sql = (!sql.is_empty()).then(|| {
        format!(
            "-- regrade backfill of {}: rows missing from edX's grade tables.\n{}{}",
            done.course_id.replace(['\n', '\r'], " "),
            mysql::SCRIPT_HEADER,
            sql
        )
    });
    Ok(RenderedBackfill { csv, sql })
}

/// The backfill files of one course: Parquet per edX table, the same rows as `LOAD DATA`
/// CSV, and an upsert script. Tables without rows get no files.
async fn write_backfill_course(
    output: &Location,
    done: &BackfillOutput,
    rendered: RenderedBackfill,
) -> Result<Vec<OutputFile>> {
    let folder = output.sub("backfill");
    let partition = write::partition_segment("course_id", &done.course_id);
    let mut out = Vec::new();
    for (table, batch) in done.tables() {
        if batch.num_rows() == 0 {
            continue;
        }
        let schema_name = format!("backfill_{}", table.name);
        out.extend(listed(
            output,
            write::write_output_table_as(&folder, table.name, &schema_name, std::slice::from_ref(batch))
                .await?,
        ));
    }
    for (table, text) in rendered.csv {
        let rows = done.tables().iter().find(|(t, _)| t.name == table.name).map(|(_, b)| b.num_rows());
        let path = parse_path(&format!("{}/csv/{}/{partition}/part-00000.csv", folder.prefix, table.name))?;
        out.push(put_text(output, &path, text, rows).await?);
    }
    if let Some(text) = rendered.sql {
        let path = parse_path(&format!("{}/sql/{partition}/upsert.sql", folder.prefix))?;
        out.push(put_text(output, &path, text, None).await?);
    }
    Ok(out)
}

fn parse_path(raw: &str) -> Result<object_store::path::Path> {
    // Escaped partition segments hold no ASCII but [A-Za-z0-9_%=-]: `parse` keeps `%` as is.
    object_store::path::Path::parse(raw.trim_start_matches('/'))
        .with_context(|| format!("invalid output path '{raw}'"))
}

async fn put_text(
    output: &Location,
    path: &object_store::path::Path,
    text: String,
    rows: Option<usize>,
) -> Result<OutputFile> {
    let bytes = Bytes::from(text.into_bytes());
    let sha1 = sha1_hex(&bytes);
    let size = bytes.len();
    put_atomic(&output.store, path, bytes).await?;
    Ok(OutputFile { path: rel(output, path), rows, bytes: size, sha1 })
}

/// After every course: `backfill/load_data.sql` (every CSV, in foreign-key order),
/// `backfill/upsert.sql` (sources every course's script) and `readiness.csv`.
async fn write_backfill_scripts(
    output: &Location,
    summaries: &[CourseSummary],
    files: &[OutputFile],
) -> Result<Vec<OutputFile>> {
    use write::mysql;
    let mut out = Vec::new();
    let mut load = String::from(
        "-- regrade backfill: LOAD DATA of every CSV, visible blocks first (the grades reference them).\n\
         -- Run from this folder: mariadb --local-infile=1 DATABASE < load_data.sql\n\
         -- IGNORE: rows whose unique key exists are skipped, so existing rows never change.\n",
    );
    load.push_str(mysql::SCRIPT_HEADER);
    for table in mysql::LOAD_ORDER {
        let schema = crate::schema::output(&format!("backfill_{}", table.name))?;
        let columns: Vec<&str> = schema.columns.iter().map(|c| c.name.as_str()).collect();
        let prefix = format!("backfill/csv/{}/", table.name);
        for f in files.iter().filter(|f| f.path.starts_with(&prefix)) {
            let local = f.path.trim_start_matches("backfill/");
            load.push_str(&mysql::load_data_statement(&table, local, &columns));
        }
    }
    let mut upsert = String::from(
        "-- regrade backfill: INSERT ... ON DUPLICATE KEY UPDATE, course by course.\n\
         -- Run from this folder: mariadb DATABASE < upsert.sql\n",
    );
    for f in files.iter().filter(|f| f.path.starts_with("backfill/sql/")) {
        upsert.push_str(&format!("SOURCE {};\n", f.path.trim_start_matches("backfill/")));
    }
    let mut readiness = String::from("course_id,course_version,");
    readiness.push_str(&Readiness::CSV_COLUMNS.join(","));
    readiness.push('\n');
    for s in summaries {
        let r = s.readiness.unwrap_or_default();
        let cells: Vec<String> =
            [s.course_id.clone(), s.course_version.clone()].into_iter().chain(r.csv_values()).collect();
        // Quoted like the reports, but with the header's `\n` line ends.
        readiness.push_str(crate::grade::report::csv_line(&cells).trim_end_matches("\r\n"));
        readiness.push('\n');
    }
    out.push(put_text(output, &output.path(&["backfill", "load_data.sql"]), load, None).await?);
    out.push(put_text(output, &output.path(&["backfill", "upsert.sql"]), upsert, None).await?);
    out.push(put_text(output, &output.path(&["readiness.csv"]), readiness, Some(summaries.len())).await?);
    Ok(out)
}
