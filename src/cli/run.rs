//! `regrade run [JOB.toml]`: recompute, diff and report; print a summary.

use std::io::IsTerminal;

use anyhow::{bail, Result};
use regrade::run::options::{CourseList, Job, RunOptions};
use regrade::run::{self, Manifest};
use regrade::store;

use super::{Global, LogFormat};

const AFTER_HELP: &str = "\
Every job-file key can be given as a flag of the same name; flags win.

Rescoring policies (edX's three, plus a read-only one):
  recompute       compute_grades / a forced update: every subsection of every enrolled
                  learner recomputed from studentmodule and submissions, and written.
  only-if-higher  recompute, but keep a persisted subsection grade unless the new graded
                  ratio is at least as high; unattempted subsections are not written.
  retain          keep persisted subsection grades, compute the missing ones (written when
                  attempted), recompute course grades from them.
  read            recompute nothing: edX's report path over the persisted grades (reports only).

Outputs (under OUTPUT, Hive-partitioned by course_id): subsection_grades/, course_grades/,
diffs/subsection_diffs/, diffs/course_grade_diffs/, reports/<sha1(course_id)>/*.csv and
manifest.json, written last.

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
    /// Output folder for this run (must be empty unless --overwrite).
    #[arg(long, value_name = "URL")]
    pub output: Option<String>,
    /// Courses to grade (comma-separated ids).
    #[arg(long, value_delimiter = ',', value_name = "ID,...", conflicts_with_all = ["all_courses", "courses_file"])]
    pub courses: Option<Vec<String>>,
    /// Grade every course found in course_blocks (the default when no courses are given).
    #[arg(long)]
    pub all_courses: bool,
    /// A file of course ids, one per line.
    #[arg(long, value_name = "FILE", conflicts_with = "all_courses")]
    pub courses_file: Option<String>,
    /// Version to grade against: latest, a course_version id, or as-of:RFC3339.
    #[arg(long, value_name = "latest|ID|as-of:TIME")]
    pub course_version: Option<String>,
    /// Rescoring policy: recompute (default), only-if-higher, retain, read.
    #[arg(long, value_name = "POLICY")]
    pub rescore: Option<String>,
    /// What-if grading policy (JSON, as stored in course_policies.grading_policy).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<String>,
    /// Release profile: ginkgo, hawthorn-redwood, sumac, current (default: newest).
    #[arg(long, value_name = "NAME")]
    pub compat: Option<String>,
    /// Worker threads (default: one per core).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// The run's "now" (release dates, certificates, report file names); default: the current time.
    #[arg(long, value_name = "RFC3339")]
    pub as_of: Option<String>,
    /// Outputs to write: grades, diffs, reports, all (comma-separated; default all).
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub outputs: Option<Vec<String>>,
    /// Replace a previous run in the output folder.
    #[arg(long)]
    pub overwrite: bool,
    /// Courses read and graded at once (memory grows with it; default 2).
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
    /// Write user-supplied text (usernames, emails, cohort/team/group names, assignment types)
    /// in the CSV reports exactly as edX does, without formula neutralisation (by default, such
    /// text starting with =, +, -, @, tab or CR gets a leading ').
    #[arg(long)]
    pub edx_csv_parity: bool,
}

impl Args {
    fn flags(&self) -> Job {
        let courses = match (&self.courses, self.all_courses) {
            (Some(ids), _) => Some(CourseList::Ids(ids.clone())),
            (None, true) => Some(CourseList::All("all".into())),
            _ => None,
        };
        Job {
            description: None,
            input: self.input.clone(),
            output: self.output.clone(),
            courses,
            courses_file: self.courses_file.clone(),
            course_version: self.course_version.clone(),
            rescore: self.rescore.clone(),
            policy: self.policy.clone(),
            compat: self.compat.clone(),
            threads: self.threads,
            as_of: self.as_of.clone(),
            outputs: self.outputs.clone(),
            overwrite: self.overwrite.then_some(true),
            courses_in_flight: self.courses_in_flight,
            fail_fast: self.fail_fast.then_some(true),
            resume: self.resume.then_some(true),
            edx_csv_parity: self.edx_csv_parity.then_some(true),
        }
    }
}

pub fn execute(args: Args, global: &Global) -> Result<()> {
    let job = match &args.job {
        Some(path) => Job::load(path).map_err(regrade::read::as_input_error)?,
        None => Job::default(),
    };
    let now = chrono::Utc::now().timestamp_micros();
    let opts = RunOptions::resolve(job.overlay(args.flags()), now).map_err(regrade::read::as_input_error)?;
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

fn print_summary(m: &Manifest, opts: &RunOptions) {
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
    for (kind, n) in &t.warnings {
        if kind == run::course::NO_GRADED_CONTENT {
            println!("  warning: {n} courses with no graded content (graded 0.0 as edX does; named in manifest.json)");
            continue;
        }
        println!(
            "  warning: {n} input rows {} (kept as edX keeps them; examples in manifest.json)",
            kind.replace('_', " ")
        );
    }
    for f in &m.failed {
        println!("  FAILED {}: {}", f.course_id, f.error);
    }
    println!("outputs: {} ({} files; manifest.json)", store::redact(&opts.output), m.outputs.len() + 1);
}
