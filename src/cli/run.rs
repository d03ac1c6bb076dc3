//! `regrade run [JOB.toml]`: recompute, diff and report; print a summary.

use anyhow::Result;
use regrade::run::options::{Job, RunOptions};
use regrade::run::{self, Manifest};
use regrade::store;

use super::job::{self, JobArgs};
use super::Global;

const AFTER_HELP: &str = "\
Every job-file key can be given as a flag of the same name; flags win.

Rescoring policies (edX's three, plus a read-only one):
  recompute       compute_grades / a forced update: every subsection of every enrolled
                  learner recomputed from studentmodule and submissions, and written.
  only-if-higher  recompute, but keep a persisted subsection grade unless the new graded
                  ratio is at least that of the row as edX reads it (override applied);
                  unattempted subsections are not written.
  retain          keep persisted subsection grades, compute the missing ones (written when
                  attempted), recompute course grades from them.
  read            recompute nothing: edX's report path over the persisted grades (reports only).
After only-if-higher and retain, the course grade reads every subsection back as stored; one
without a row reads as zero (from the Olive release on, or before it with the waffle switch
grades.assume_zero_grade_if_absent on: --assume-zero-if-absent on) or is computed on read
(before Olive with the switch off, the default of --compat ginkgo and hawthorn-nutmeg).

Outputs (under OUTPUT, Hive-partitioned by course_id): subsection_grades/, course_grades/,
diffs/subsection_diffs/, diffs/course_grade_diffs/, reports/<sha1(course_id)>/*.csv and
manifest.json, written last. --outputs ...,apply adds apply/: the subsection and course grade
rows that are new or differ from the persisted ones, in edX's MySQL layout (Parquet, CSV for
LOAD DATA, and per-course SQL scripts), with apply/apply.sql and apply/load_data.sql to load
them, follow_ups/ (learners passing for the first time, passing again, failing, changing
letter) and orphaned/. A row edX changed after the export (--export-time, default the
snapshot time in the input's import manifest) is never overwritten; courses whose grades are
frozen (course end + 30 days, with --grades-freeze on, the default) are left out unless
--include-frozen.

Exit codes: 0 success; 1 some courses failed (listed in the manifest); 2 bad usage or
unreadable input.";

#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct Args {
    #[command(flatten)]
    pub job: JobArgs,
    /// Rescoring policy: recompute (default), only-if-higher, retain, read.
    #[arg(long, value_name = "POLICY")]
    pub rescore: Option<String>,
    /// What-if grading policy (JSON, as stored in course_policies.grading_policy).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<String>,
    /// Outputs to write: grades, diffs, reports, apply, all (comma-separated; default all,
    /// which is grades, diffs and reports).
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub outputs: Option<Vec<String>>,
    /// apply: the export's snapshot time (RFC 3339); rows edX modified later are left alone.
    /// Default: snapshot_at of the input's manifest.json from `regrade import mysql`.
    #[arg(long, value_name = "TIME")]
    pub export_time: Option<String>,
    /// apply: write the apply files of courses whose grades are frozen too (with a warning).
    #[arg(long)]
    pub include_frozen: bool,
    /// apply: whether edX's course flag grades.enforce_freeze_grade_after_course_end is on
    /// (on/off; default on).
    #[arg(long, value_name = "ON|OFF")]
    pub grades_freeze: Option<String>,
    /// Write user-supplied text (usernames, emails, cohort/team/group names, assignment types)
    /// in the CSV reports exactly as edX does, without formula neutralisation (by default, such
    /// text starting with =, +, -, @, tab or CR gets a leading ').
    #[arg(long)]
    pub edx_csv_parity: bool,
    /// Run shard K (0-based) of the run planned in OUTPUT by `regrade plan --shards N`, beside
    /// the other shards; with a plan in OUTPUT and no --shard, K is read from
    /// JOB_COMPLETION_INDEX (Kubernetes) or SLURM_ARRAY_TASK_ID (Slurm). Same job and flags
    /// as the plan; rerunning a shard is idempotent. `regrade finalize OUTPUT` publishes the run.
    #[arg(long, value_name = "K", conflicts_with_all = ["explain", "resume"])]
    pub shard: Option<usize>,
}

impl Args {
    pub(super) fn flags(&self) -> Job {
        Job {
            rescore: self.rescore.clone(),
            policy: self.policy.clone(),
            outputs: self.outputs.clone(),
            edx_csv_parity: self.edx_csv_parity.then_some(true),
            export_time: self.export_time.clone(),
            include_frozen: self.include_frozen.then_some(true),
            grades_freeze: self.grades_freeze.clone().map(run::options::OnOff::Word),
            ..self.job.flags()
        }
    }
}

pub fn execute(args: Args, global: &Global) -> Result<()> {
    job::execute(&args.job, (args.flags(), args.shard), RunOptions::resolve, print_summary, global)
}

pub(super) fn print_summary(m: &Manifest, opts: &RunOptions) {
    let t = &m.totals;
    let s = t.subsection_diffs.unwrap_or_default();
    let c = t.course_grade_diffs.unwrap_or_default();
    println!(
        "regrade run ({}): {} courses ({} failed), {} learners ({} with errors) in {:.2}s, {} input rows ({:.0} rows/s)",
        run::options::rescore_name(opts.rescore),
        t.courses,
        t.courses_failed,
        t.learners,
        t.learner_errors,
        m.seconds,
        t.rows_read,
        m.rows_per_second
    );
    println!(
        "  subsection grades: {} rows; vs persisted: {} new, {} changed, {} orphaned, {} unchanged",
        t.subsection_rows, s.new, s.changed, s.orphaned, s.unchanged
    );
    println!(
        "  course grades: {} rows; vs persisted: {} new, {} changed, {} letter changes, {} now passing, {} now failing, {} orphaned",
        t.course_rows, c.new, c.changed, c.letter_changed, c.now_passing, c.now_failing, c.orphaned
    );
    job::print_warnings(&t.warnings);
    for f in &m.failed {
        println!("  FAILED {}: {}", f.course_id, f.error);
    }
    println!("outputs: {} ({} files; manifest.json)", store::redact(&opts.output), m.outputs.len() + 1);
}
