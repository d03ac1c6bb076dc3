//! Sharded runs: one run planned once (`regrade plan --shards N`), executed as N shards that
//! may run on different machines at the same time (`regrade run --shard K`), and published once
//! every shard is done (`regrade finalize`). The union of the shards is the single run, byte
//! for byte: each course is graded by exactly one shard, with the options and input the plan
//! recorded, into the files a single run writes.
//!
//! A shard's unit is a course with all its partitions. A course's outputs are one file per
//! table, written in user id order as its partitions are graded, so one process writes them;
//! the plan balances the courses' rows over the shards (largest first, each to the shard with
//! the fewest rows so far), and the largest course bounds the slowest shard.
//!
//! | file (under `_journal/`) | written by | holds |
//! |---|---|---|
//! | `_run.json` | `plan` | the options that decide the outputs, every input file (as a run's) |
//! | `_plan.json` | `plan` | [`ShardPlan`]: the courses of each shard, the manifest's parts known at planning |
//! | `_claim.shard-K.json` | shard K, while it runs | who runs it (`run::claim`) |
//! | `course_id=<escaped>[.pending].json` | the shards | each course's files, as a run journals them |
//! | `_shard-K.json` | shard K, once done | [`ShardRecord`]: its courses, failures and timings |
//!
//! A shard is a `--resume` of its own courses: it checks the options and the input against
//! `_run.json`, keeps its courses journaled complete, removes what its interrupted courses left
//! and grades the rest, never touching another shard's courses. So rerunning a shard is
//! idempotent. `finalize` checks that every shard recorded itself and every planned course is
//! complete or failed, writes the run-level files and `manifest.json` (with the shards' timings),
//! and removes the journal.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};
use bytes::Bytes;
use object_store::ObjectStoreExt;
use serde::{Deserialize, Serialize};

use super::claim::{Claim, Holder};
use super::folder;
use super::journal::{self, Folder, JOURNAL};
use super::manifest::{self, CourseFailure, Executed, InputSummary, ManifestBase, ShardsSummary};
use super::plan::PlanSummary;
use super::{DoneBefore, Execution, Outcome, RunOptions};
use crate::error::{self, UsageError};
use crate::read;
use crate::store::{self, Location};
use crate::write::put_atomic;

/// The plan of a sharded run.
pub(crate) const PLAN_FILE: &str = "_plan.json";
/// `_plan.json`'s layout.
const FORMAT: u64 = 1;
/// The variables a shard's index is read from when `--shard` is not given, in this order:
/// Kubernetes Indexed Jobs, then Slurm job arrays.
pub const SHARD_VARIABLES: [&str; 2] = ["JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID"];

/// Whether a journal file name is the plan's or a shard's record.
pub(crate) fn is_shard_file(name: &str) -> bool {
    name == PLAN_FILE || (name.starts_with("_shard-") && name.ends_with(".json"))
}

fn record_file(shard: usize) -> String {
    format!("_shard-{shard:05}.json")
}

fn claim_file(shard: usize) -> String {
    format!("_claim.shard-{shard:05}.json")
}

/// `_journal/_plan.json`: what `plan` decided, for the shards and `finalize`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardPlan {
    pub format: u64,
    pub shards: usize,
    pub created_at: String,
    /// The command that runs a shard, `{shard}` standing for its index (as `plan` was given
    /// its job and flags): `finalize` names it for a shard that did not finish.
    pub rerun: String,
    /// The manifest's parts known once the run is planned.
    pub base: ManifestBase,
    /// The plan as the manifest shows it (memory budget, courses and their partitions).
    pub plan: PlanSummary,
    pub inputs: BTreeMap<String, InputSummary>,
    pub ignored_inputs: Vec<String>,
    pub assignment: Vec<Assignment>,
}

/// One shard's courses.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Assignment {
    pub shard: usize,
    pub courses: Vec<String>,
    /// Input rows of the shard's courses (every table, from the files' footers): its work.
    pub rows: u64,
    pub learners: u64,
    /// The largest estimated working set of one of its partitions (what a shard's memory
    /// must hold, with the run-wide lookups).
    pub largest_partition_bytes: u64,
}

/// `_journal/_shard-K.json`: a shard that finished (its failed courses included).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardRecord {
    pub shard: usize,
    /// Courses graded (kept from an earlier attempt included).
    pub courses: usize,
    pub failed: Vec<CourseFailure>,
    pub learners: usize,
    pub rows_read: usize,
    pub started_at: String,
    pub finished_at: String,
    pub seconds: f64,
}

/// Assign courses to `shards` shards, balanced by rows: largest first (ties by id), each to the
/// shard with the fewest rows so far (ties: the lowest index). Deterministic.
pub fn assign(plan: &PlanSummary, shards: usize) -> Vec<Assignment> {
    let mut out: Vec<Assignment> = (0..shards)
        .map(|shard| Assignment {
            shard,
            courses: Vec::new(),
            rows: 0,
            learners: 0,
            largest_partition_bytes: 0,
        })
        .collect();
    let mut courses: Vec<(&str, u64, u64, u64)> = plan
        .courses
        .iter()
        .map(|c| {
            let learners = c.partitions.iter().map(|p| p.learners).sum();
            let largest = c.partitions.iter().map(|p| p.estimated_bytes).max().unwrap_or_default();
            (c.course_id.as_str(), c.rows.values().sum(), learners, largest)
        })
        .collect();
    courses.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    for (id, rows, learners, largest) in courses {
        let least = out.iter_mut().min_by_key(|a| (a.rows, a.shard)).expect("at least one shard");
        least.courses.push(id.to_string());
        least.rows += rows;
        least.learners += learners;
        least.largest_partition_bytes = least.largest_partition_bytes.max(largest);
    }
    for a in &mut out {
        a.courses.sort();
    }
    out
}

/// `regrade plan --shards N`: plan the run into an empty output folder (or replace a previous
/// run's with `--overwrite`), write `_run.json` and `_plan.json`. `rerun` is the command that
/// runs a shard, with `{shard}` for its index.
pub fn plan(opts: &RunOptions, shards: usize, rerun: String) -> Result<ShardPlan> {
    if shards == 0 {
        return Err(UsageError::new("--shards must be at least 1".to_string()).into());
    }
    if opts.resume {
        return Err(UsageError::new(
            "regrade plan starts a sharded run: to go on with one, rerun its unfinished shards \
             (`regrade run ... --shard K`), then `regrade finalize`"
                .to_string(),
        )
        .into());
    }
    let rt = super::runtime(opts.threads)?;
    let input = store::open(&opts.input).map_err(error::usage)?;
    folder::check_overlap(&opts.input, &opts.output).map_err(error::usage)?;
    let output = store::open_output(&opts.output).map_err(error::usage)?;
    folder::check_links(&output)?;
    let claim = rt.block_on(Claim::take_as(&output, journal::CLAIM_FILE, "plan", opts.overwrite))?;
    let mut changed = false;
    let planned = plan_claimed(&rt, (&input, &output), opts, (shards, rerun), &mut changed);
    rt.block_on(claim.release(&output, planned.is_err() && !changed));
    planned
}

fn plan_claimed(
    rt: &tokio::runtime::Runtime,
    (input, output): (&Location, &Location),
    opts: &RunOptions,
    (shards, rerun): (usize, String),
    changed: &mut bool,
) -> Result<ShardPlan> {
    let created_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let found = rt.block_on(Folder::read(output))?;
    let prepared = folder::inspect(output, found, opts)?.context("a plan is never a resume")?;
    let opts = &prepared.opts;
    let (plan, globals, summary) = super::plan_run(rt, input, opts, None)?;
    let resolved = super::apply::resolve(rt, input, opts)?;
    let opts = resolved.as_ref().unwrap_or(opts);
    let record = journal::RunRecord::new(opts, journal::input_files(input, &plan.files))?;
    *changed = true;
    rt.block_on(folder::commit(output, &prepared, &record))?;
    let assignment = assign(&summary, shards);
    let shard_plan = ShardPlan {
        format: FORMAT,
        shards,
        created_at,
        rerun,
        base: ManifestBase::of(opts, &globals)?,
        plan: summary,
        inputs: plan.inputs,
        ignored_inputs: plan.ignored_inputs,
        assignment,
    };
    let path = output.path(&[JOURNAL, PLAN_FILE]);
    let text = serde_json::to_vec_pretty(&shard_plan)?;
    rt.block_on(put_atomic(&output.store, &path, Bytes::from(text)))?;
    Ok(shard_plan)
}

/// What `regrade run` is asked to do in an output folder.
pub(super) enum Which {
    /// A run of its own (the folder holds no plan).
    Single,
    /// Shard K of the folder's plan.
    Shard(usize, Box<ShardPlan>),
    /// The sharded run is published already.
    Finalized(String),
}

/// The plan in `output`, if any.
async fn read_plan(output: &Location) -> Result<Option<ShardPlan>> {
    let path = output.path(&[JOURNAL, PLAN_FILE]);
    let Some(v) = journal::read_json_if_any(output, &path).await? else {
        return Ok(None);
    };
    if v.get("format").and_then(|f| f.as_u64()) != Some(FORMAT) {
        anyhow::bail!(
            "'{}' was written by another regrade version: plan the run again with this one",
            output.display(&path)
        );
    }
    let plan =
        serde_json::from_value(v).with_context(|| format!("'{}' is not a plan", output.display(&path)))?;
    Ok(Some(plan))
}

/// Whether `output` holds the manifest of a finalized sharded run.
async fn sharded_manifest(output: &Location) -> bool {
    let path = output.path(&["manifest.json"]);
    journal::read_json(output, &path).await.is_ok_and(|m| m.get("shards").is_some_and(|s| !s.is_null()))
}

/// The shard index from the first of [`SHARD_VARIABLES`] that is set, read through `lookup`.
pub fn shard_from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<usize>> {
    for name in SHARD_VARIABLES {
        if let Some(value) = lookup(name) {
            let k = value.trim().parse::<usize>().map_err(|_| {
                UsageError::new(format!("{name}={value:?} is not a shard index (0, 1, 2, ...)"))
            })?;
            return Ok(Some(k));
        }
    }
    Ok(None)
}

/// Decide between a run of its own and a shard of the folder's plan: `--shard K`, or with a
/// plan and no `--shard`, the index from [`SHARD_VARIABLES`].
pub(super) fn which(rt: &tokio::runtime::Runtime, output: &Location, opts: &RunOptions) -> Result<Which> {
    let plan = rt.block_on(read_plan(output))?;
    let finalized = || rt.block_on(output.store.head(&output.path(&["manifest.json"]))).is_ok();
    let plan = match (opts.shard, plan) {
        // A scheduler's task rerun after `finalize` (the plan is gone) must not become a run of
        // its own over the published one.
        (None, None)
            if shard_from_env(|name| std::env::var(name).ok()).ok().flatten().is_some()
                && rt.block_on(sharded_manifest(output)) =>
        {
            return Ok(Which::Finalized(format!(
                "{} holds a finalized sharded run (manifest.json) and this task has a shard index ({} or \
                 {}): nothing to do; a new run needs a new folder, or `regrade plan --overwrite`",
                output.url, SHARD_VARIABLES[0], SHARD_VARIABLES[1]
            )))
        }
        (None, None) => return Ok(Which::Single),
        (Some(_), None) if finalized() => {
            return Ok(Which::Finalized(format!(
                "{} holds a finalized sharded run (manifest.json); nothing to do",
                output.url
            )))
        }
        (Some(_), None) => {
            return Err(UsageError::new(format!(
                "--shard runs one shard of a planned run, and '{}' holds no plan: plan it first with \
                 `regrade plan JOB.toml --output URL --shards N` (same job and flags)",
                output.url
            ))
            .into())
        }
        (_, Some(plan)) => plan,
    };
    let shard = match opts.shard {
        Some(k) => k,
        None => shard_from_env(|name| std::env::var(name).ok())?.ok_or_else(|| {
            UsageError::new(format!(
                "'{}' holds a run planned in {} shards: run each with --shard K (0 to {}), or let the \
                 scheduler set {} or {}; then `regrade finalize {}` publishes it",
                output.url,
                plan.shards,
                plan.shards - 1,
                SHARD_VARIABLES[0],
                SHARD_VARIABLES[1],
                output.url
            ))
        })?,
    };
    if shard >= plan.shards {
        return Err(UsageError::new(format!(
            "shard {shard} does not exist: '{}' is planned in {} shards (0 to {})",
            output.url,
            plan.shards,
            plan.shards - 1
        ))
        .into());
    }
    Ok(Which::Shard(shard, Box::new(plan)))
}

/// Run shard `shard` of `plan` (see the module docs); `claim` on `_claim.shard-K.json`.
pub(super) fn run_shard(
    exec: (&tokio::runtime::Runtime, &Location, &Location),
    opts: &RunOptions,
    (shard, plan): (usize, &ShardPlan),
    progress: bool,
) -> Result<Outcome> {
    let (rt, _, output) = exec;
    let claim =
        rt.block_on(Claim::take_as(output, &claim_file(shard), &format!("run --shard {shard}"), true))?;
    let ran = run_claimed(exec, opts, (shard, plan), progress);
    rt.block_on(claim.release(output, false));
    ran
}

fn run_claimed(
    (rt, input, output): (&tokio::runtime::Runtime, &Location, &Location),
    opts: &RunOptions,
    (shard, plan): (usize, &ShardPlan),
    progress: bool,
) -> Result<Outcome> {
    let started_at = chrono::Utc::now();
    let found = rt.block_on(Folder::read(output))?;
    // A shard is a resume of its own courses.
    let resume = RunOptions { resume: true, overwrite: false, shard: Some(shard), ..opts.clone() };
    let Some(prepared) = folder::inspect(output, found, &resume)? else {
        return Ok(Outcome::AlreadyComplete(format!(
            "{} holds a finalized sharded run (manifest.json); nothing to do",
            output.url
        )));
    };
    let opts = &prepared.opts;
    let mine: BTreeSet<String> = plan.assignment[shard].courses.iter().cloned().collect();
    let (course_plan, globals, _) = super::plan_run(rt, input, opts, Some(&mine))?;
    let resolved = super::apply::resolve(rt, input, opts)?;
    let opts = resolved.as_ref().unwrap_or(opts);
    let record = journal::RunRecord::new(opts, journal::input_files(input, &course_plan.files))?;
    folder::check_shard_input(output, shard, &prepared, &record)?;
    let found: BTreeSet<&String> = course_plan.courses.iter().map(|c| &c.course_id).collect();
    if let Some(missing) = mine.iter().find(|c| !found.contains(c)) {
        anyhow::bail!("shard {shard}: course {missing} of the plan is not in the input; plan the run again");
    }
    let kept: DoneBefore =
        prepared.folder.kept(output).into_iter().filter(|(course_id, _)| mine.contains(course_id)).collect();
    rt.block_on(journal::remove(output, &prepared.folder.not_kept(output, &kept, Some(&mine))))?;
    tracing::info!(shard, shards = plan.shards, courses = mine.len(), kept = kept.len(), "running a shard");
    let settings = super::settings_of(opts);
    let exec = Execution { rt, input, output, opts, settings: &settings, globals: &globals };
    let executed = match exec.execute(course_plan, progress, kept) {
        Ok(executed) => executed,
        Err(e) => {
            if read::is_input_error(&e) {
                // Unreadable input: nothing of this shard's attempt stays.
                let now = rt.block_on(Folder::read(output))?;
                let kept = now.kept(output).into_iter().filter(|(c, _)| mine.contains(c)).collect();
                if let Err(c) =
                    rt.block_on(journal::remove(output, &now.not_kept(output, &kept, Some(&mine))))
                {
                    tracing::warn!(error = %format!("{c:#}"), "could not remove this shard's files");
                }
            }
            return Err(e);
        }
    };
    let finished = chrono::Utc::now();
    let secs = chrono::SecondsFormat::Secs;
    let record = ShardRecord {
        shard,
        courses: executed.summaries.len(),
        learners: executed.summaries.iter().map(|s| s.learners).sum(),
        rows_read: executed.summaries.iter().map(|s| s.rows_read.values().sum::<usize>()).sum(),
        failed: executed.failed,
        started_at: started_at.to_rfc3339_opts(secs, true),
        finished_at: finished.to_rfc3339_opts(secs, true),
        seconds: (finished - started_at).num_milliseconds() as f64 / 1e3,
    };
    for f in &record.failed {
        tracing::error!(course_id = %f.course_id, error = %f.error, "course failed");
    }
    let path = output.path(&[JOURNAL, &record_file(shard)]);
    rt.block_on(put_atomic(&output.store, &path, Bytes::from(serde_json::to_vec_pretty(&record)?)))?;
    Ok(Outcome::Shard(Box::new(record)))
}

/// `regrade finalize URL`: check every shard of the folder's plan finished, then publish the
/// run (run-level files, `manifest.json`) and remove the journal.
pub fn finalize(url: &str) -> Result<Outcome> {
    let rt = super::runtime(0)?;
    let output = store::open_output(url).map_err(error::usage)?;
    let claim = rt.block_on(Claim::take_as(&output, journal::CLAIM_FILE, "finalize", true))?;
    let done = finalize_claimed(&rt, &output);
    rt.block_on(claim.release(&output, false));
    done
}

fn finalize_claimed(rt: &tokio::runtime::Runtime, output: &Location) -> Result<Outcome> {
    let found = rt.block_on(Folder::read(output))?;
    if found.manifest.is_some() {
        return Ok(Outcome::AlreadyComplete(format!("{} is finalized already (manifest.json)", output.url)));
    }
    let plan = rt.block_on(read_plan(output))?.ok_or_else(|| {
        UsageError::new(format!(
            "'{}' holds no sharded run to finalize ({JOURNAL}/{PLAN_FILE} is missing): plan one with \
             `regrade plan JOB.toml --output URL --shards N`",
            output.url
        ))
    })?;
    let records = rt.block_on(read_records(output, plan.shards))?;
    let kept = found.kept(output);
    let mut unfinished = Vec::new();
    for a in &plan.assignment {
        let record = records[a.shard].as_ref();
        let failed: BTreeSet<&str> =
            record.map(|r| r.failed.iter().map(|f| f.course_id.as_str()).collect()).unwrap_or_default();
        let open: Vec<&String> =
            a.courses.iter().filter(|c| !kept.contains_key(*c) && !failed.contains(c.as_str())).collect();
        if record.is_none() || !open.is_empty() {
            let holder = rt.block_on(claim_holder(output, a.shard));
            unfinished.push(describe_unfinished(&plan, a, &open, holder.as_ref(), &output.url));
        }
    }
    if !unfinished.is_empty() {
        anyhow::bail!(
            "{} of {} shards did not finish, so '{}' cannot be finalized:\n  {}\nThen run `regrade finalize {}` again.",
            unfinished.len(),
            plan.shards,
            output.url,
            unfinished.join("\n  "),
            output.url
        );
    }
    let planned: BTreeSet<&String> = plan.assignment.iter().flat_map(|a| &a.courses).collect();
    let mut summaries = Vec::new();
    let mut outputs = Vec::new();
    for (course_id, (summary, files)) in kept {
        if planned.contains(&course_id) {
            summaries.push(summary);
            outputs.extend(files);
        }
    }
    let records: Vec<ShardRecord> = records.into_iter().flatten().collect();
    let mut failed: Vec<CourseFailure> = plan.plan.failed.clone();
    failed.extend(records.iter().flat_map(|r| r.failed.iter().cloned()));
    failed.sort_by(|a, b| a.course_id.cmp(&b.course_id));
    summaries.sort_by(|a, b| a.course_id.cmp(&b.course_id));
    let slowest = records.iter().max_by(|a, b| a.seconds.total_cmp(&b.seconds)).map(|r| r.shard);
    let shards = ShardsSummary { count: plan.shards, shards: records, slowest };
    let executed = Executed {
        summaries,
        outputs,
        failed,
        inputs: plan.inputs.clone(),
        ignored_inputs: plan.ignored_inputs.clone(),
    };
    let started_at = chrono::DateTime::parse_from_rfc3339(&plan.created_at)
        .context("the plan's created_at")?
        .with_timezone(&chrono::Utc);
    let m =
        manifest::publish(rt, output, &plan.base, (executed, plan.plan.clone()), started_at, Some(shards))?;
    Ok(Outcome::Published(Box::new(m)))
}

/// Each shard's record, `None` where the shard has not finished.
async fn read_records(output: &Location, shards: usize) -> Result<Vec<Option<ShardRecord>>> {
    let mut out = Vec::with_capacity(shards);
    for shard in 0..shards {
        let path = output.path(&[JOURNAL, &record_file(shard)]);
        let record = match journal::read_json_if_any(output, &path).await? {
            Some(v) => Some(
                serde_json::from_value(v)
                    .with_context(|| format!("'{}' is not a shard record", output.display(&path)))?,
            ),
            None => None,
        };
        out.push(record);
    }
    Ok(out)
}

/// Who holds shard `shard`'s claim, if anyone (a shard running, or one that was killed).
async fn claim_holder(output: &Location, shard: usize) -> Option<Holder> {
    let path = output.path(&[JOURNAL, &claim_file(shard)]);
    let v = journal::read_json(output, &path).await.ok()?;
    serde_json::from_value(v).ok()
}

/// One line of `finalize`'s refusal: the shard, what is open, and the command that reruns it.
fn describe_unfinished(
    plan: &ShardPlan,
    a: &Assignment,
    open: &[&String],
    holder: Option<&Holder>,
    url: &str,
) -> String {
    let state = match holder {
        Some(h) => format!("claimed by {} (still running, or stopped without finishing)", h.describe()),
        None => "not started, or stopped without finishing".to_string(),
    };
    let shown: Vec<&str> = open.iter().take(3).map(|c| c.as_str()).collect();
    let more = if open.len() > 3 { format!(" and {} more", open.len() - 3) } else { String::new() };
    let courses =
        if open.is_empty() { String::new() } else { format!("; courses open: {}{more}", shown.join(", ")) };
    let _ = url;
    format!(
        "shard {} ({} courses): {state}{courses}; rerun it with `{}`",
        a.shard,
        a.courses.len(),
        plan.rerun.replace("{shard}", &a.shard.to_string())
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::partition::{Budget, Partition};
    use crate::run::plan::PlannedCourse;

    fn course(id: &str, rows: u64) -> PlannedCourse {
        PlannedCourse {
            course_id: id.to_string(),
            course_version: "v".to_string(),
            rows: BTreeMap::from([("courseware_studentmodule".to_string(), rows)]),
            scan_factor: 1.0,
            partitions: vec![Partition {
                users: crate::read::UserRange::ALL,
                learners: rows / 10,
                estimated_bytes: rows,
            }],
        }
    }

    fn plan_of(rows: &[u64]) -> PlanSummary {
        PlanSummary {
            memory_budget: Budget { bytes: 1 << 30, from: "test".to_string() },
            partition_bytes: 1 << 29,
            courses: rows.iter().enumerate().map(|(i, r)| course(&format!("c{i:02}"), *r)).collect(),
            failed: Vec::new(),
        }
    }

    /// Every course goes to exactly one shard, the largest first to the emptiest shard, and
    /// no shard carries more than the largest course above the lightest.
    #[test]
    fn assignment_covers_every_course_once_and_balances_rows() {
        let rows = [900, 100, 500, 500, 300, 200, 50, 700, 10, 400];
        for shards in [1, 2, 3, 7, 12] {
            let a = assign(&plan_of(&rows), shards);
            assert_eq!(a.len(), shards);
            let mut all: Vec<&String> = a.iter().flat_map(|s| &s.courses).collect();
            all.sort();
            assert_eq!(all.len(), rows.len(), "{shards} shards");
            all.dedup();
            assert_eq!(all.len(), rows.len(), "a course in two shards ({shards})");
            assert_eq!(a.iter().map(|s| s.rows).sum::<u64>(), rows.iter().sum::<u64>());
            let (max, min) =
                (a.iter().map(|s| s.rows).max().unwrap(), a.iter().map(|s| s.rows).min().unwrap());
            assert!(max - min <= 900, "{shards} shards: {max} vs {min}");
            if shards == 2 {
                // 3660 rows, largest first: 900 700 | 500 to B, 500 to A, 400 B, 300 A, 200 B,
                // 100 A, 50 A (a tie goes to the lower index), 10 B.
                assert_eq!((max, min), (1850, 1810));
            }
        }
    }

    #[test]
    fn the_shard_index_comes_from_kubernetes_then_slurm() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
        };
        assert_eq!(shard_from_env(env(&[])).unwrap(), None);
        assert_eq!(shard_from_env(env(&[("SLURM_ARRAY_TASK_ID", "4")])).unwrap(), Some(4));
        let both = env(&[("SLURM_ARRAY_TASK_ID", "4"), ("JOB_COMPLETION_INDEX", "2")]);
        assert_eq!(shard_from_env(both).unwrap(), Some(2));
        let e = shard_from_env(env(&[("JOB_COMPLETION_INDEX", "two")])).unwrap_err();
        assert!(format!("{e}").contains("JOB_COMPLETION_INDEX"), "{e}");
    }
}
