//! `regrade backfill [JOB.toml]`: the rows edX's grade tables miss, as files MySQL loads, and
//! how ready each course is for `grades.assume_zero_if_absent`; prints a summary.

use std::io::IsTerminal;

use anyhow::{bail, Result};
use regrade::run::options::{CourseList, Job, RunOptions};
use regrade::run::{self, Manifest};
use regrade::store;

use super::{Global, LogFormat};

const AFTER_HELP: &str = "\
Before turning on the waffle switch grades.assume_zero_if_absent, every enrolled learner
(active or not) needs a persisted row per subsection of their course structure and a course
grade row: once the switch is on, a missing row reads as zero. backfill finds the missing
rows for the graded course version and computes them as edX's forced compute
(compute_grades) would: never-attempted subsections included, with their visible blocks,
grading_policy_hash, course_version and set-once timestamps (created, modified and
passed_timestamp are --as-of). Existing rows are never part of the backfill.

Outputs (under OUTPUT):
  readiness.csv       per course: learners with missing rows, how many would see their
                      displayed course grade change or lose a pass if the switch were turned
                      on now, and the rows to insert (also in manifest.json)
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
    /// Job file (TOML); its keys are the long flags' names with `_` for `-`.
    #[arg(value_name = "JOB.toml")]
    pub job: Option<String>,
    /// Input root: a directory, file://, s3://, gs://, az:// or memory:// URL.
    #[arg(long, value_name = "URL")]
    pub input: Option<String>,
    /// Output folder (must be empty unless --overwrite).
    #[arg(long, value_name = "URL")]
    pub output: Option<String>,
    /// Courses to backfill (comma-separated ids).
    #[arg(long, value_delimiter = ',', value_name = "ID,...", conflicts_with_all = ["all_courses", "courses_file"])]
    pub courses: Option<Vec<String>>,
    /// Every course found in course_blocks (the default when no courses are given).
    #[arg(long)]
    pub all_courses: bool,
    /// A file of course ids, one per line.
    #[arg(long, value_name = "FILE", conflicts_with = "all_courses")]
    pub courses_file: Option<String>,
    /// Version whose subsections must have rows: latest, a course_version id, or as-of:RFC3339.
    #[arg(long, value_name = "latest|ID|as-of:TIME")]
    pub course_version: Option<String>,
    /// Release profile: ginkgo, hawthorn-redwood, sumac, current (default: newest).
    #[arg(long, value_name = "NAME")]
    pub compat: Option<String>,
    /// Worker threads (default: one per core).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// The backfill's "now" (release dates; created, modified, passed_timestamp); default: now.
    #[arg(long, value_name = "RFC3339")]
    pub as_of: Option<String>,
    /// Replace a previous run in the output folder.
    #[arg(long)]
    pub overwrite: bool,
    /// Courses read and computed at once (memory grows with it; default 2).
    #[arg(long, value_name = "N")]
    pub courses_in_flight: Option<usize>,
    /// Stop at the first course that fails, without writing a manifest (default: quarantine
    /// failing courses, finish the others, exit 1).
    #[arg(long)]
    pub fail_fast: bool,
    /// Go on with an interrupted run in OUTPUT: courses it completed are kept, the others
    /// are (re)computed; the options must be the same.
    #[arg(long, conflicts_with = "overwrite")]
    pub resume: bool,
}

impl Args {
    fn flags(&self) -> Job {
        let courses = match (&self.courses, self.all_courses) {
            (Some(ids), _) => Some(CourseList::Ids(ids.clone())),
            (None, true) => Some(CourseList::All("all".into())),
            _ => None,
        };
        Job {
            input: self.input.clone(),
            output: self.output.clone(),
            courses,
            courses_file: self.courses_file.clone(),
            course_version: self.course_version.clone(),
            compat: self.compat.clone(),
            threads: self.threads,
            as_of: self.as_of.clone(),
            overwrite: self.overwrite.then_some(true),
            courses_in_flight: self.courses_in_flight,
            fail_fast: self.fail_fast.then_some(true),
            resume: self.resume.then_some(true),
            ..Job::default()
        }
    }
}

pub fn execute(args: Args, global: &Global) -> Result<()> {
    let job = match &args.job {
        Some(path) => Job::load(path).map_err(regrade::read::as_input_error)?,
        None => Job::default(),
    };
    let now = chrono::Utc::now().timestamp_micros();
    let opts = RunOptions::resolve_backfill(job.overlay(args.flags()), now)
        .map_err(regrade::read::as_input_error)?;
    let progress = !global.quiet && global.log_format == LogFormat::Text && std::io::stderr().is_terminal();
    let manifest = match run::run(&opts, progress) {
        Ok(m) => m,
        Err(e) if e.downcast_ref::<run::AlreadyComplete>().is_some() => {
            if !global.quiet {
                println!("{e}");
            }
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    if !global.quiet {
        print_summary(&manifest, &opts);
    }
    if !manifest.failed.is_empty() {
        bail!(
            "{} of {} courses failed (see failed in {}/manifest.json)",
            manifest.failed.len(),
            manifest.failed.len() + manifest.courses.len(),
            store::redact(&opts.output)
        );
    }
    Ok(())
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
    println!(
        "  if grades.assume_zero_if_absent were turned on now: {} displayed course grades would change, {} learners would lose a pass",
        r.grade_would_change, r.would_lose_pass
    );
    println!(
        "  rows to insert: {} ({} grades_persistentsubsectiongrade, {} grades_visibleblocks, {} grades_persistentcoursegrade)",
        r.rows_to_insert,
        r.subsection_rows_to_insert,
        r.visible_blocks_rows_to_insert,
        r.course_grade_rows_to_insert
    );
    for c in m.courses.iter().take(COURSES_SHOWN) {
        let r = c.readiness.unwrap_or_default();
        println!(
            "  {}: {} of {} learners miss rows; if switched on now: {} grade changes, {} lost passes; {} rows to insert",
            c.course_id,
            r.learners_missing_rows,
            r.learners,
            r.grade_would_change,
            r.would_lose_pass,
            r.rows_to_insert
        );
    }
    if m.courses.len() > COURSES_SHOWN {
        println!("  ... {} more courses in readiness.csv", m.courses.len() - COURSES_SHOWN);
    }
    for (kind, n) in &t.warnings {
        println!(
            "  warning: {n} input rows {} (kept as edX keeps them; examples in manifest.json)",
            kind.replace('_', " ")
        );
    }
    for f in &m.failed {
        println!("  FAILED {}: {}", f.course_id, f.error);
    }
    let ready = if r.rows_to_insert == 0 && t.courses_failed == 0 {
        "nothing to backfill: every enrolled learner has every row"
    } else {
        "load backfill/ before turning the switch on (see backfill/load_data.sql)"
    };
    println!(
        "outputs: {} ({} files; readiness.csv, manifest.json): {ready}",
        store::redact(&opts.output),
        m.outputs.len() + 1
    );
}
