//! `regrade backfill [JOB.toml]`: the rows edX's grade tables miss, as files MySQL loads, and
//! what the missing rows cost learners (per release profile); prints a summary.

use anyhow::Result;
use regrade::grade::compat::{Absent, SWITCH_REMOVED_IN};
use regrade::run::backfill::Readiness;
use regrade::run::options::RunOptions;
use regrade::run::Manifest;
use regrade::store;

use super::job::{self, JobArgs};
use super::Global;

const AFTER_HELP: &str = "\
Every enrolled learner (active or not) needs a persisted row per subsection of their course
structure and a course grade row. From the Olive release on, a missing row always reads as
zero: Olive removed the waffle switch grades.assume_zero_grade_if_absent, so learners with
missing rows already see a zero, or a wrong course grade, today. Before Olive (--compat
ginkgo or hawthorn-nutmeg) a missing row was computed on read while the switch was off
(--assume-zero-if-absent off, the default there), and the rows had to be filled before
turning it on. backfill finds the missing rows for the graded course version and computes
them as edX's forced compute (compute_grades) would: never-attempted subsections included,
with their visible blocks, grading_policy_hash, course_version and set-once timestamps
(created, modified and passed_timestamp are --as-of). Existing rows are never part of the
backfill.

Outputs (under OUTPUT):
  readiness.csv       per course: learners with missing rows; from Olive on, how many see a
                      wrong course grade today (wrong_grade_today) and how many pass only
                      once backfilled (pass_restored); before Olive with the switch off, how
                      many would see their grade change (grade_would_change) or lose a pass
                      (would_lose_pass) if it were turned on now; the rows to insert (also
                      in manifest.json)
  backfill/<table>/   Parquet per edX table (grades_visibleblocks,
                      grades_persistentsubsectiongrade, grades_persistentcoursegrade),
                      Hive-partitioned by course_id, columns in MySQL's order
  backfill/csv/       the same rows as CSV, and backfill/load_data.sql to load them all:
                        cd OUTPUT/backfill && mariadb --local-infile=1 edxapp < load_data.sql
                      (LOAD DATA ... IGNORE: existing rows are never changed)
  backfill/sql/       INSERT ... ON DUPLICATE KEY UPDATE per course, and backfill/upsert.sql
                      to run them all (never clears first_attempted or passed_timestamp)
  manifest.json       written last
The tables' DDL, from edX's migrations, is in schemas/mysql/.

Exit codes: 0 success; 1 some courses failed (listed in the manifest); 2 bad usage or
unreadable input.";

#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct Args {
    #[command(flatten)]
    pub job: JobArgs,
}

pub fn execute(args: Args, global: &Global) -> Result<()> {
    job::execute(&args.job, (args.job.flags(), None), RunOptions::resolve_backfill, print_summary, global)
}

/// What the missing rows cost, in the words of the run's release profile.
fn impact_line(r: &Readiness, opts: &RunOptions) -> String {
    if opts.assume_zero_if_absent {
        let why = match opts.compat.absent {
            Absent::Zero => format!(
                "a missing row reads as zero since {SWITCH_REMOVED_IN}, which removed grades.assume_zero_grade_if_absent"
            ),
            Absent::Switch => "grades.assume_zero_grade_if_absent is on, so a missing row reads as zero".into(),
        };
        format!(
            "{why}: {} learners see a wrong course grade today that the backfill restores, {} pass only once backfilled",
            r.wrong_grade_today.unwrap_or(0),
            r.pass_restored.unwrap_or(0)
        )
    } else {
        format!(
            "if grades.assume_zero_grade_if_absent were turned on now: {} displayed course grades would change, {} learners would lose a pass",
            r.grade_would_change.unwrap_or(0),
            r.would_lose_pass.unwrap_or(0)
        )
    }
}

/// Courses listed one per line in the summary (all are in readiness.csv).
const COURSES_SHOWN: usize = 20;

fn print_summary(m: &Manifest, opts: &RunOptions) {
    let t = &m.totals;
    let r = t.readiness.unwrap_or_default();
    println!(
        "regrade backfill: {} courses ({} failed), {} enrolled learners in {:.2}s, {} input rows ({:.0} rows/s)",
        t.courses, t.courses_failed, r.learners, m.seconds, t.rows_read, m.rows_per_second
    );
    println!(
        "  learners with missing rows: {} ({} without a course grade, {} with missing subsection grades, {} edX would fail)",
        r.learners_missing_rows,
        r.learners_missing_course_grade,
        r.learners_missing_subsection_grades,
        r.learner_errors
    );
    println!("  {}", impact_line(&r, opts));
    println!(
        "  rows to insert: {} ({} grades_persistentsubsectiongrade, {} grades_visibleblocks, {} grades_persistentcoursegrade)",
        r.rows_to_insert,
        r.subsection_rows_to_insert,
        r.visible_blocks_rows_to_insert,
        r.course_grade_rows_to_insert
    );
    for c in m.courses.iter().take(COURSES_SHOWN) {
        let r = c.readiness.unwrap_or_default();
        let impact = match (r.grade_would_change, r.would_lose_pass, r.wrong_grade_today, r.pass_restored) {
            (Some(c), Some(p), _, _) => format!("if switched on now: {c} grade changes, {p} lost passes"),
            (_, _, Some(w), Some(p)) => format!("{w} wrong grades today, {p} passes restored"),
            _ => String::new(),
        };
        println!(
            "  {}: {} of {} learners miss rows; {impact}; {} rows to insert",
            c.course_id, r.learners_missing_rows, r.learners, r.rows_to_insert
        );
    }
    if m.courses.len() > COURSES_SHOWN {
        println!("  ... {} more courses in readiness.csv", m.courses.len() - COURSES_SHOWN);
    }
    job::print_warnings(&t.warnings);
    for f in &m.failed {
        println!("  FAILED {}: {}", f.course_id, f.error);
    }
    let ready = if r.rows_to_insert == 0 && t.courses_failed == 0 {
        "nothing to backfill: every enrolled learner has every row"
    } else if opts.assume_zero_if_absent {
        "load backfill/ to restore the missing grades (see backfill/load_data.sql)"
    } else {
        "load backfill/ before turning the switch on (see backfill/load_data.sql)"
    };
    println!(
        "outputs: {} ({} files; readiness.csv, manifest.json): {ready}",
        store::redact(&opts.output),
        m.outputs.len() + 1
    );
}
