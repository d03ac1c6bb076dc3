//! What `run` and `backfill` share on the command line: the job file and the flags that
//! choose input, output, courses and version and how the work is executed ([`JobArgs`]); the
//! flow from job file and flags to a manifest ([`execute`]); and the summary's warning lines.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::io::Write as _;

use anyhow::{bail, Result};
use regrade::load::{LIBRARY_SELECTION_CHANGED, LIBRARY_WITHOUT_SELECTION, NO_GRADED_CONTENT};
use regrade::run::options::{CourseList, Job, OnOff, RunOptions, MAX_THREADS};
use regrade::run::{self, Manifest};
use regrade::store;

use super::{Global, LogFormat};

/// The flags of `run` and `backfill` that are not about grading.
#[derive(Debug, clap::Args)]
pub struct JobArgs {
    /// Job file (TOML); its keys are the long flags' names with `_` for `-`.
    #[arg(value_name = "JOB.toml")]
    pub job: Option<String>,
    /// Input root: a directory, file://, s3://, gs://, az:// or memory:// URL.
    #[arg(long, value_name = "URL")]
    pub input: Option<String>,
    /// Output folder for this run (must be empty unless --overwrite).
    #[arg(long, value_name = "URL")]
    pub output: Option<String>,
    /// Courses to process (comma-separated ids).
    #[arg(long, value_delimiter = ',', value_name = "ID,...", conflicts_with_all = ["all_courses", "courses_file"])]
    pub courses: Option<Vec<String>>,
    /// Every course found in course_blocks (the default when no courses are given).
    #[arg(long)]
    pub all_courses: bool,
    /// A file of course ids, one per line.
    #[arg(long, value_name = "FILE", conflicts_with = "all_courses")]
    pub courses_file: Option<String>,
    /// Course version to grade against (backfill: whose rows to fill): latest, a course_version
    /// id, or as-of:RFC3339.
    #[arg(long, value_name = "latest|ID|as-of:TIME")]
    pub course_version: Option<String>,
    /// Release profile: ginkgo, hawthorn-nutmeg, olive-redwood, sumac, current (default:
    /// current). The two before Olive take --assume-zero-if-absent.
    #[arg(long, value_name = "NAME")]
    pub compat: Option<String>,
    /// Before Olive only: whether the waffle switch grades.assume_zero_grade_if_absent was on
    /// (a missing grade row reads as zero) or off (it is computed on read); default off.
    /// Olive removed the switch: later profiles always read a missing row as zero.
    #[arg(long, value_name = "on|off", value_parser = ["on", "off"])]
    pub assume_zero_if_absent: Option<String>,
    /// Worker threads, 1 to 1024 (default, or 0: one per core).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(0..=MAX_THREADS as u64))]
    pub threads: Option<u64>,
    /// The run's "now" (release dates, certificates, report file names; backfill's created,
    /// modified and passed_timestamp); default: the current time.
    #[arg(long, value_name = "RFC3339")]
    pub as_of: Option<String>,
    /// Replace a previous run in the output folder.
    #[arg(long)]
    pub overwrite: bool,
    /// Courses read and processed at once (memory grows with it; default 2).
    #[arg(long, value_name = "N")]
    pub courses_in_flight: Option<usize>,
    /// Learners of a course graded, diffed and encoded together (memory grows with it;
    /// outputs do not depend on it; default 4096).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub learners_per_chunk: Option<u64>,
    /// What the run may hold in memory, e.g. 4GiB or 512MiB (default: half the machine's, or
    /// the container's, memory). Courses larger than their share are graded in user id
    /// ranges, one after the other; outputs do not depend on it.
    #[arg(long, value_name = "SIZE")]
    pub memory_budget: Option<String>,
    /// Print the plan as JSON (the memory budget; per course its version, row counts and
    /// user id partitions) and exit, without writing anything (`--output` may be left out).
    #[arg(long)]
    pub explain: bool,
    /// Stop at the first course that fails, without writing a manifest (default: quarantine
    /// failing courses, finish the others, exit 1).
    #[arg(long)]
    pub fail_fast: bool,
    /// Go on with an interrupted run in OUTPUT: courses it completed are kept, the others
    /// are (re)computed; the options must be the same.
    #[arg(long, conflicts_with = "overwrite")]
    pub resume: bool,
    /// Regrade only these learners: a file of user ids (one per line; in every course) or of
    /// user_id,course_id pairs (edX's recalculate_learner_grades CSV, with its header; the
    /// run is then limited to those courses).
    #[arg(long, value_name = "FILE")]
    pub users: Option<String>,
}

impl JobArgs {
    /// These flags as job keys (unset ones `None`), for [`Job::overlay`].
    pub fn flags(&self) -> Job {
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
            assume_zero_if_absent: self.assume_zero_if_absent.clone().map(OnOff::Word),
            threads: self.threads.map(|n| n as usize),
            as_of: self.as_of.clone(),
            overwrite: self.overwrite.then_some(true),
            courses_in_flight: self.courses_in_flight,
            learners_per_chunk: self.learners_per_chunk.map(|n| n as usize),
            memory_budget: self.memory_budget.clone(),
            fail_fast: self.fail_fast.then_some(true),
            resume: self.resume.then_some(true),
            users: self.users.clone(),
            ..Job::default()
        }
    }
}

/// The options of a job file overlaid with `flags`, resolved with `resolve`. Bad job files
/// and options are input errors (exit 2).
pub fn options(
    args: &JobArgs,
    flags: Job,
    resolve: fn(Job, i64) -> Result<RunOptions>,
) -> Result<RunOptions> {
    let job = match &args.job {
        Some(path) => Job::load(path).map_err(regrade::error::usage)?,
        None => Job::default(),
    };
    let now = chrono::Utc::now().timestamp_micros();
    let mut job = job.overlay(flags);
    if args.explain && job.output.is_none() {
        // --explain plans without looking at the output: it needs none.
        job.output = Some("memory://explain".to_string());
    }
    resolve(job, now).map_err(regrade::error::usage)
}

/// Loads the job file, overlays `flags`, resolves the options with `resolve`, runs (shard
/// `shard` of a planned run, if given), prints `summary` (unless quiet) and fails when a
/// course failed. A `--resume` of a complete run prints why and succeeds.
pub fn execute(
    args: &JobArgs,
    (flags, shard): (Job, Option<usize>),
    resolve: fn(Job, i64) -> Result<RunOptions>,
    summary: fn(&Manifest, &RunOptions),
    global: &Global,
) -> Result<()> {
    let mut opts = options(args, flags, resolve)?;
    opts.shard = shard;
    if args.explain {
        let plan = run::explain(&opts)?;
        let mut out = std::io::stdout().lock();
        return match writeln!(out, "{}", serde_json::to_string_pretty(&plan)?) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
            _ => Ok(()),
        };
    }
    let progress = !global.quiet && global.log_format == LogFormat::Text && std::io::stderr().is_terminal();
    let manifest = match run::run(&opts, progress)? {
        run::Outcome::Published(m) => m,
        run::Outcome::AlreadyComplete(why) => {
            if !global.quiet {
                println!("{why}");
            }
            return Ok(());
        }
        run::Outcome::Shard(record) => {
            if !global.quiet {
                print_shard(&record, &opts);
            }
            return Ok(());
        }
    };
    if !global.quiet {
        summary(&manifest, &opts);
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

/// What one shard did; its failed courses fail the run at `finalize`, not here (a scheduler
/// would otherwise retry a shard whose courses' data is at fault, and hold `finalize` back).
fn print_shard(r: &run::shard::ShardRecord, opts: &RunOptions) {
    println!(
        "regrade run --shard {}: {} courses ({} failed), {} learners in {:.2}s, {} input rows",
        r.shard,
        r.courses,
        r.failed.len(),
        r.learners,
        r.seconds,
        r.rows_read
    );
    for f in &r.failed {
        println!("  FAILED {}: {}", f.course_id, f.error);
    }
    println!(
        "once every shard is done: regrade finalize {} (writes manifest.json)",
        store::redact(&opts.output)
    );
}

/// The summary's warning lines, one per kind (totals over the courses).
pub fn print_warnings(warnings: &BTreeMap<String, usize>) {
    for (kind, n) in warnings {
        if kind == NO_GRADED_CONTENT {
            println!("  warning: {n} courses with no graded content (graded 0.0 as edX does; named in manifest.json)");
        } else if kind == LIBRARY_WITHOUT_SELECTION {
            println!(
                "  warning: {n} learners without a stored library_content selection (edX would choose at \
                 random on first view; graded on the first max_count children; examples in manifest.json)"
            );
        } else if kind == LIBRARY_SELECTION_CHANGED {
            println!(
                "  warning: {n} learners whose stored library_content selection no longer fits the block \
                 (completed or cut to max_count as documented; examples in manifest.json)"
            );
        } else {
            println!(
                "  warning: {n} input rows {} (kept as edX keeps them; examples in manifest.json)",
                kind.replace('_', " ")
            );
        }
    }
}
