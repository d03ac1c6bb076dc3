//! What a run says of itself: `manifest.json` ([`Manifest`]), the per-course summaries that
//! `run` and `backfill` share ([`CourseSummary`]), the run's totals, and publishing the
//! manifest, last.

use std::collections::BTreeMap;

use anyhow::Result;
use bytes::Bytes;
use serde::Serialize;

use super::backfill::Readiness;
use super::backfill_files;
use super::journal;
use super::options::{Command, RunOptions};
use super::plan::PlanSummary;
use crate::compare::DiffCounts;
use crate::hooks;
use crate::load::{Globals, Warning};
use crate::store::{self, Location};
use crate::write::apply::ApplyCounts;
use crate::write::{put_atomic, sha1_hex, WrittenFile};

/// A course that could not be graded, with the reason (shown in the manifest).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CourseFailure {
    pub course_id: String,
    pub error: String,
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
    pub warnings: BTreeMap<String, Warning>,
    /// The user id ranges the course was graded in (1: whole; see `plan.courses`).
    #[serde(default = "one")]
    pub partitions: usize,
    /// `apply` only: what the course's apply files hold (absent for a frozen course left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply: Option<ApplyCounts>,
    /// `apply` only: the course's grades are frozen (course end + 30 days).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub grades_frozen: bool,
    pub seconds: f64,
}

fn one() -> usize {
    1
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
    pub outputs: Vec<WrittenFile>,
    /// The plan: the memory budget and each course's partitions.
    pub plan: PlanSummary,
    /// `apply` only: the export time, the totals of every course's apply files and the courses
    /// left out because their grades are frozen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apply: Option<ApplySummary>,
    /// A sharded run: its shards, each with its courses and timings, and the slowest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shards: Option<ShardsSummary>,
}

/// The `shards` part of a sharded run's manifest ([`super::shard`]).
#[derive(Debug, Clone, Serialize)]
pub struct ShardsSummary {
    pub count: usize,
    pub shards: Vec<super::shard::ShardRecord>,
    /// The shard that took longest.
    pub slowest: Option<usize>,
}

/// The `apply` part of a run's manifest.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ApplySummary {
    /// Rows edX modified after this are never overwritten.
    pub export_time: String,
    pub totals: ApplyCounts,
    /// Courses whose grades are frozen and whose apply files were not written.
    pub frozen_courses_left_out: Vec<String>,
    /// Courses whose grades are frozen and whose apply files were written (`include_frozen`).
    pub frozen_courses_included: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct InputSummary {
    pub files: usize,
    pub bytes: u64,
}

/// What a run's options and run-wide lookups put into its manifest: known once the run is
/// planned, so a sharded run's plan carries it to `finalize` ([`super::shard`]).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ManifestBase {
    pub command: Command,
    pub assume_zero_if_absent: bool,
    /// `apply` only: the export time (RFC 3339).
    pub export_time: Option<String>,
    /// The options as the manifest shows them (URLs redacted, the policy by SHA-1).
    pub options: serde_json::Value,
    /// Rows of the run-wide tables (users, overrides, ...).
    pub global_rows_read: usize,
}

impl ManifestBase {
    pub(super) fn of(opts: &RunOptions, globals: &Globals) -> Result<Self> {
        let mut options = serde_json::to_value(opts)?;
        options["input"] = serde_json::Value::String(store::redact(&opts.input));
        options["output"] = serde_json::Value::String(store::redact(&opts.output));
        if let Some((path, text)) = &opts.policy {
            options["policy"] = serde_json::json!({ "path": path, "sha1": sha1_hex(text.as_bytes()) });
        }
        options["as_of"] = serde_json::Value::String(crate::py::time::fmt_time(opts.as_of));
        Ok(ManifestBase {
            command: opts.command,
            assume_zero_if_absent: opts.assume_zero_if_absent,
            export_time: opts.apply.and_then(|a| a.export_time).map(crate::py::time::fmt_time),
            options,
            global_rows_read: globals.rows_read,
        })
    }
}

/// What the courses gave: summaries and files of the graded ones, and the failures.
pub(super) struct Executed {
    pub(super) summaries: Vec<CourseSummary>,
    pub(super) outputs: Vec<WrittenFile>,
    pub(super) failed: Vec<CourseFailure>,
    pub(super) inputs: BTreeMap<String, InputSummary>,
    pub(super) ignored_inputs: Vec<String>,
}

/// The run's totals over its courses.
pub(super) fn totals(base: &ManifestBase, summaries: &[CourseSummary], failed: usize) -> Totals {
    let mut totals = Totals { courses: summaries.len(), courses_failed: failed, ..Totals::default() };
    if base.command == Command::Run {
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
            totals.readiness.get_or_insert_with(|| Readiness::new(0, base.assume_zero_if_absent)).add(r);
        }
        for (kind, w) in &s.warnings {
            *totals.warnings.entry(kind.clone()).or_default() += w.count;
            tracing::warn!(course_id = %s.course_id, kind = %kind, count = w.count, "input warnings: rows kept as edX keeps them, or learners graded on a documented choice (see warnings in manifest.json)");
        }
    }
    totals.rows_read += base.global_rows_read;
    if base.command == Command::Backfill {
        totals.readiness.get_or_insert_with(|| Readiness::new(0, base.assume_zero_if_absent));
    }
    totals
}

/// Write the run-level files and `manifest.json` (last), then remove the journal. `started_at`
/// is when the run (a sharded run: its plan) started; `shards` the shards' own timings.
pub(super) fn publish(
    rt: &tokio::runtime::Runtime,
    output: &Location,
    base: &ManifestBase,
    (done, plan): (Executed, PlanSummary),
    started_at: chrono::DateTime<chrono::Utc>,
    shards: Option<ShardsSummary>,
) -> Result<Manifest> {
    let Executed { summaries, mut outputs, failed, inputs, ignored_inputs } = done;
    let totals = totals(base, &summaries, failed.len());
    if base.command == Command::Backfill {
        outputs.extend(rt.block_on(backfill_files::write_scripts(output, &summaries, &outputs))?);
    }
    let export_time = base.export_time.as_deref().map(crate::py::time::parse_time).transpose()?;
    let apply = match export_time {
        Some(export_time) => {
            outputs.extend(rt.block_on(super::apply::write_scripts(output, &outputs, export_time))?);
            let mut s =
                ApplySummary { export_time: crate::py::time::fmt_time(export_time), ..Default::default() };
            for c in &summaries {
                if let Some(counts) = &c.apply {
                    s.totals.add(counts);
                }
                match (c.grades_frozen, c.apply.is_some()) {
                    (true, false) => s.frozen_courses_left_out.push(c.course_id.clone()),
                    (true, true) => s.frozen_courses_included.push(c.course_id.clone()),
                    _ => {}
                }
            }
            Some(s)
        }
        None => None,
    };
    outputs.sort_by(|a, b| a.path.cmp(&b.path));
    let finished = chrono::Utc::now();
    let seconds = (finished - started_at).num_microseconds().unwrap_or_default() as f64 / 1e6;
    let secs = chrono::SecondsFormat::Secs;
    let manifest = Manifest {
        tool: "regrade",
        command: base.command,
        tool_version: env!("CARGO_PKG_VERSION"),
        started_at: started_at.to_rfc3339_opts(secs, true),
        finished_at: finished.to_rfc3339_opts(secs, true),
        seconds,
        rows_per_second: if seconds > 0.0 { totals.rows_read as f64 / seconds } else { 0.0 },
        options: base.options.clone(),
        inputs,
        ignored_inputs,
        totals,
        courses: summaries,
        failed,
        outputs,
        plan,
        apply,
        shards,
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
