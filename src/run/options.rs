//! What a run does: the job file (TOML a scheduler runs) merged with command-line flags into
//! one resolved [`RunOptions`].
//!
//! Every job key can also be given as a flag of the same name (`--input` for `input`, ...);
//! a flag wins over the job file. String values may use `${NAME}` to take an environment
//! variable (for example `output = "s3://grades/runs/${RUN_DATE}"`); an unset variable is an
//! error rather than an empty string. Relative paths are relative to the working directory.

use std::collections::BTreeSet;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use std::sync::Arc;

use super::chunk::GradeSettings;
use super::partition::Budget;
use super::users::UserSelection;
use crate::grade::compat::Compat;
use crate::grade::learner::{Rescore, Rules};
use crate::load::catalog::VersionChoice;
use crate::load::LoadSettings;
use crate::py::time::{parse_time, Timestamp};
use crate::report::rows::ReportSettings;

/// A job file: every key optional, unknown keys rejected (a typo must not silently change
/// what a scheduled job does).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Job {
    /// Free text shown in the manifest.
    pub description: Option<String>,
    pub input: Option<String>,
    pub output: Option<String>,
    /// `"all"` or a list of course ids.
    pub courses: Option<CourseList>,
    /// A file of course ids, one per line (`#` comments and blank lines ignored).
    pub courses_file: Option<String>,
    /// `latest`, a course version id, or `as-of:RFC3339`.
    pub course_version: Option<String>,
    /// `recompute`, `only-if-higher`, `retain`, or `read` (no recompute: edX's report path).
    pub rescore: Option<String>,
    /// A what-if grading policy (JSON file) used instead of each version's own.
    pub policy: Option<String>,
    /// Release profile (`regrade run --help` lists them).
    pub compat: Option<String>,
    /// Before Olive: whether the waffle switch `grades.assume_zero_grade_if_absent` was on
    /// (`on`/`off` or a boolean; default off). Olive removed the switch: later profiles refuse
    /// `off`.
    pub assume_zero_if_absent: Option<OnOff>,
    /// Worker threads (0 = one per core).
    pub threads: Option<usize>,
    /// The run's "now": release dates, certificate columns, report file names.
    pub as_of: Option<String>,
    /// Which outputs to write: any of `grades`, `diffs`, `reports`.
    pub outputs: Option<Vec<String>>,
    /// Replace an existing run folder.
    pub overwrite: Option<bool>,
    /// Courses read and graded at once (memory grows with it).
    pub courses_in_flight: Option<usize>,
    /// Learners graded, diffed and encoded together (memory and parallelism; outputs do not
    /// depend on it).
    pub learners_per_chunk: Option<usize>,
    /// What the run may hold in memory (`4GiB`, `512MiB`; default half the machine's or the
    /// container's memory): courses larger than their share are graded in user id ranges.
    pub memory_budget: Option<String>,
    /// Stop at the first failing course, without a manifest.
    pub fail_fast: Option<bool>,
    /// Go on with an interrupted run in the output folder.
    pub resume: Option<bool>,
    /// Write user-supplied text in the CSV reports exactly as edX does, without formula
    /// neutralisation.
    pub edx_csv_parity: Option<bool>,
    /// A file of user ids, or `user_id,course_id` pairs (edX's `recalculate_learner_grades`
    /// CSV): regrade only those learners ([`super::users`]).
    pub users: Option<String>,
    /// `apply` output: the export's snapshot time (RFC 3339); default the `snapshot_at` of the
    /// input's `manifest.json` written by `regrade import mysql`.
    pub export_time: Option<String>,
    /// `apply` output: write the apply files of courses whose grades are frozen too.
    pub include_frozen: Option<bool>,
    /// `apply` output: whether edX's course flag `grades.enforce_freeze_grade_after_course_end`
    /// is on (`on`/`off`; default on: a course ended more than 30 days ago counts as frozen).
    pub grades_freeze: Option<OnOff>,
}

/// A switch in a job file: `"on"`/`"off"` or `true`/`false`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum OnOff {
    Bool(bool),
    Word(String),
}

impl OnOff {
    pub fn parse(&self, key: &str) -> Result<bool> {
        match self {
            OnOff::Bool(b) => Ok(*b),
            OnOff::Word(w) => match w.trim() {
                "on" | "true" => Ok(true),
                "off" | "false" => Ok(false),
                other => bail!("{key} must be on or off, not '{other}'"),
            },
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum CourseList {
    All(String),
    Ids(Vec<String>),
}

impl Job {
    /// Parse a job file's text; `shown` names it in errors.
    pub fn parse(text: &str, shown: &str) -> Result<Job> {
        let job: Job =
            toml::from_str(text).with_context(|| format!("job file '{shown}' is not a valid job"))?;
        if let Some(CourseList::All(s)) = &job.courses {
            if s != "all" {
                bail!("job file '{shown}': courses must be \"all\" or a list of course ids, not \"{s}\"");
            }
        }
        Ok(job)
    }

    pub fn load(path: &str) -> Result<Job> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read job file '{path}'"))?;
        Job::parse(&text, path)
    }

    /// Overlay: every key set in `flags` replaces the one here.
    pub fn overlay(mut self, flags: Job) -> Job {
        let (named, listed) = (flags.courses.is_some(), flags.courses_file.is_some());
        macro_rules! take {
            ($($f:ident),*) => { $( if flags.$f.is_some() { self.$f = flags.$f; } )* };
        }
        take!(
            description,
            input,
            output,
            courses,
            courses_file,
            course_version,
            rescore,
            policy,
            compat,
            assume_zero_if_absent,
            threads,
            as_of,
            outputs,
            overwrite,
            courses_in_flight,
            learners_per_chunk,
            memory_budget,
            fail_fast,
            resume,
            edx_csv_parity,
            export_time,
            include_frozen,
            grades_freeze,
            users
        );
        // Naming courses on the command line replaces a job's courses file, and vice versa.
        if named && !listed {
            self.courses_file = None;
        }
        if listed && !named {
            self.courses = None;
        }
        self
    }
}

/// The outputs a run writes (the manifest is always written).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Outputs {
    pub grades: bool,
    pub diffs: bool,
    pub reports: bool,
    /// The rows that are new or changed as files that load into edX's MySQL tables, and the
    /// follow-ups (`apply/`); never part of `all`.
    pub apply: bool,
}

impl Outputs {
    pub fn parse(names: &[String]) -> Result<Outputs> {
        let mut o = Outputs { grades: false, diffs: false, reports: false, apply: false };
        for n in names {
            match n.trim() {
                "grades" => o.grades = true,
                "diffs" => o.diffs = true,
                "reports" => o.reports = true,
                "apply" => o.apply = true,
                "all" => o = Outputs { apply: o.apply, ..Outputs::all() },
                other => bail!("unknown output '{other}'; use grades, diffs, reports, apply or all"),
            }
        }
        Ok(o)
    }

    /// Grades, diffs and reports (apply is asked for by name).
    pub fn all() -> Outputs {
        Outputs { grades: true, diffs: true, reports: true, apply: false }
    }
}

/// What the `apply` output takes of the options.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ApplyOptions {
    /// The export's snapshot time, when given; otherwise read from the input's import manifest.
    #[serde(serialize_with = "ser_opt_time")]
    pub export_time: Option<Timestamp>,
    pub include_frozen: bool,
    /// Whether `grades.enforce_freeze_grade_after_course_end` is on for the courses.
    pub grades_freeze: bool,
}

fn ser_users<S: serde::Serializer>(u: &Option<Arc<UserSelection>>, s: S) -> Result<S::Ok, S::Error> {
    match u {
        Some(u) => u.serialize(s),
        None => s.serialize_none(),
    }
}

fn ser_opt_time<S: serde::Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&crate::py::time::fmt_time(*t)),
        None => s.serialize_none(),
    }
}

/// The courses to grade.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CourseSelection {
    All,
    Ids(BTreeSet<String>),
}

/// Everything a run needs, resolved and validated.
/// What a job does with the graded courses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    /// `regrade run`: grades, diffs and reports.
    Run,
    /// `regrade backfill`: the missing persisted rows and the readiness report.
    Backfill,
}

/// The most worker threads a run, backfill or scan takes (`0` means one per core). Far above
/// what a machine has cores for, and far below what makes creating the pools fail.
pub const MAX_THREADS: usize = 1024;

/// Learners per chunk unless told: a chunk's rows are a few MB, and a course has enough
/// chunks to keep every thread busy.
pub(crate) const DEFAULT_LEARNERS_PER_CHUNK: usize = 4096;

#[derive(Clone, Debug, Serialize)]
pub struct RunOptions {
    pub command: Command,
    pub description: Option<String>,
    pub input: String,
    pub output: String,
    pub courses: CourseSelection,
    pub course_version: VersionChoice,
    #[serde(serialize_with = "ser_rescore")]
    pub rescore: Rescore,
    /// The what-if policy file's path and its text.
    pub policy: Option<(String, String)>,
    #[serde(serialize_with = "ser_compat")]
    pub compat: Compat,
    /// Whether a missing grade row reads as zero: always from Olive on; before Olive, the
    /// setting of `grades.assume_zero_grade_if_absent` (default off).
    pub assume_zero_if_absent: bool,
    pub threads: usize,
    pub as_of: Timestamp,
    /// Whether `as_of` was given (a resumed run otherwise takes the started run's).
    #[serde(skip)]
    pub as_of_given: bool,
    pub outputs: Outputs,
    /// The `apply` output's options (None without it).
    pub apply: Option<ApplyOptions>,
    /// The learners the run is restricted to (`users`), if any.
    #[serde(serialize_with = "ser_users")]
    pub users: Option<Arc<UserSelection>>,
    pub overwrite: bool,
    pub courses_in_flight: usize,
    /// Learners per chunk of a course: graded, diffed and encoded together.
    pub learners_per_chunk: usize,
    /// What the run may hold in memory ([`super::partition`]).
    pub memory_budget: Budget,
    /// Stop at the first course that fails (no manifest is written).
    pub fail_fast: bool,
    /// Skip the courses an interrupted run in the same output folder completed.
    pub resume: bool,
    /// Report cells from user- or staff-controlled text (usernames, emails, cohort, team and
    /// experiment group names, assignment types) are written as edX writes them. Off: such
    /// text starting with `=`, `+`, `-`, `@`, tab or CR gets a leading `'` so a spreadsheet
    /// does not run it as a formula (`report::neutralise_formula`).
    pub edx_csv_parity: bool,
    /// `run --shard K`: run shard K of the output folder's plan ([`super::shard`]).
    #[serde(skip)]
    pub shard: Option<usize>,
}

fn ser_rescore<S: serde::Serializer>(r: &Rescore, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(rescore_name(*r))
}

fn ser_compat<S: serde::Serializer>(c: &Compat, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(c.name)
}

pub fn rescore_name(r: Rescore) -> &'static str {
    match r {
        Rescore::Recompute => "recompute",
        Rescore::OnlyIfHigher => "only-if-higher",
        Rescore::Retain => "retain",
        Rescore::Read => "read",
    }
}

pub(crate) fn parse_rescore(s: &str) -> Result<Rescore> {
    Ok(match s.trim() {
        "recompute" => Rescore::Recompute,
        "only-if-higher" | "only_if_higher" => Rescore::OnlyIfHigher,
        "retain" => Rescore::Retain,
        "read" => Rescore::Read,
        other => bail!("unknown rescoring policy '{other}'; use recompute, only-if-higher, retain or read"),
    })
}

/// Replace `${NAME}` with the environment variable NAME.
pub(crate) fn expand_env(s: &str) -> Result<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { bail!("unclosed '${{' in '{s}'") };
        let name = &after[..end];
        let value = std::env::var(name).with_context(|| {
            format!("'{s}' uses ${{{name}}}, but the environment variable {name} is not set")
        })?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn parse_course_file(path: &str) -> Result<BTreeSet<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read courses file '{path}'"))?;
    let ids: BTreeSet<String> = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    if ids.is_empty() {
        bail!("courses file '{path}' lists no course ids");
    }
    Ok(ids)
}

impl RunOptions {
    /// Resolve a job (already overlaid with flags). `now` is the default `as_of`.
    pub fn resolve(job: Job, now: Timestamp) -> Result<RunOptions> {
        let ex = |v: &Option<String>| v.as_deref().map(expand_env).transpose();
        let input =
            ex(&job.input)?.context("no input: give --input URL or `input = \"...\"` in the job file")?;
        let output =
            ex(&job.output)?.context("no output: give --output URL or `output = \"...\"` in the job file")?;
        let courses = match (&job.courses, ex(&job.courses_file)?) {
            (Some(_), Some(_)) => bail!("give either courses or courses_file, not both"),
            (None, Some(f)) => CourseSelection::Ids(parse_course_file(&f)?),
            (Some(CourseList::Ids(ids)), None) => {
                let ids: BTreeSet<String> =
                    ids.iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
                if ids.is_empty() {
                    bail!("the course list is empty; name courses or use --all-courses");
                }
                CourseSelection::Ids(ids)
            }
            _ => CourseSelection::All,
        };
        let users = ex(&job.users)?.map(|f| UserSelection::load(&f)).transpose()?;
        // A users file of `user_id,course_id` pairs limits the run to its courses.
        let courses = match (courses, users.as_ref().and_then(|u| u.courses())) {
            (c, None) => c,
            (CourseSelection::All, Some(listed)) => CourseSelection::Ids(listed),
            (CourseSelection::Ids(ids), Some(listed)) => {
                let both: BTreeSet<String> = ids.intersection(&listed).cloned().collect();
                if both.is_empty() {
                    bail!("the users file pairs its learners with none of the courses named; name one of its courses");
                }
                CourseSelection::Ids(both)
            }
        };
        let course_version = VersionChoice::parse(&ex(&job.course_version)?.unwrap_or_default())?;
        let rescore = parse_rescore(job.rescore.as_deref().unwrap_or("recompute"))?;
        let policy = match ex(&job.policy)? {
            Some(path) => {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read the what-if policy file '{path}'"))?;
                crate::grade::policy::GradingPolicy::parse(&text)
                    .map_err(|e| anyhow::anyhow!("what-if policy file '{path}': {e}"))?;
                Some((path, text))
            }
            None => None,
        };
        let compat = match job.compat.as_deref() {
            None => Compat::newest(),
            Some(name) => Compat::by_name(name)?,
        };
        let switch =
            job.assume_zero_if_absent.as_ref().map(|s| s.parse("assume_zero_if_absent")).transpose()?;
        let assume_zero_if_absent = compat.absent_reads_zero(switch).map_err(anyhow::Error::msg)?;
        let as_of_text = ex(&job.as_of)?;
        let as_of = match &as_of_text {
            Some(s) => parse_time(s).context("as_of")?,
            None => now,
        };
        let (overwrite, resume) = (job.overwrite.unwrap_or(false), job.resume.unwrap_or(false));
        if overwrite && resume {
            bail!("give either overwrite (start again) or resume (go on with an interrupted run), not both");
        }
        let outputs = match &job.outputs {
            Some(names) => Outputs::parse(names)?,
            None if rescore == Rescore::Read => Outputs { reports: true, ..Outputs::parse(&[])? },
            None => Outputs::all(),
        };
        if rescore == Rescore::Read && (outputs.grades || outputs.diffs) {
            bail!(
                "rescore = read recomputes nothing, so it writes reports only; drop grades/diffs from outputs"
            );
        }
        if rescore == Rescore::Read && outputs.apply {
            bail!("rescore = read recomputes nothing, so there is nothing to apply; drop apply from outputs");
        }
        if !(outputs.grades || outputs.diffs || outputs.reports || outputs.apply) {
            bail!("no outputs selected; use any of grades, diffs, reports, apply");
        }
        let apply = if outputs.apply {
            let export_time =
                ex(&job.export_time)?.map(|t| parse_time(&t).context("export_time")).transpose()?;
            let grades_freeze =
                job.grades_freeze.as_ref().map(|s| s.parse("grades_freeze")).transpose()?.unwrap_or(true);
            Some(ApplyOptions {
                export_time,
                include_frozen: job.include_frozen.unwrap_or(false),
                grades_freeze,
            })
        } else {
            if job.export_time.is_some() || job.include_frozen.is_some() || job.grades_freeze.is_some() {
                bail!("export_time, include_frozen and grades_freeze only apply to the apply output; add apply to outputs");
            }
            None
        };
        let courses_in_flight = job.courses_in_flight.unwrap_or(2);
        if courses_in_flight == 0 {
            bail!("courses_in_flight must be at least 1");
        }
        let threads = job.threads.unwrap_or(0);
        if threads > MAX_THREADS {
            bail!(
                "threads must be between 0 (one per core) and {MAX_THREADS}, not {threads}; a machine has \
                 fewer cores than that: use 0 or the number of cores"
            );
        }
        let learners_per_chunk = job.learners_per_chunk.unwrap_or(DEFAULT_LEARNERS_PER_CHUNK);
        if learners_per_chunk == 0 {
            bail!("learners_per_chunk must be at least 1");
        }
        let memory_budget = match ex(&job.memory_budget)? {
            Some(text) => Budget::parse(&text)?,
            None => Budget::default_for_machine(),
        };
        Ok(RunOptions {
            command: Command::Run,
            description: job.description,
            input,
            output,
            courses,
            course_version,
            rescore,
            policy,
            compat,
            assume_zero_if_absent,
            threads,
            as_of,
            as_of_given: as_of_text.is_some(),
            outputs,
            apply,
            users,
            overwrite,
            courses_in_flight,
            learners_per_chunk,
            memory_budget,
            fail_fast: job.fail_fast.unwrap_or(false),
            resume,
            edx_csv_parity: job.edx_csv_parity.unwrap_or(false),
            shard: None,
        })
    }
}

/// The run's options as the stages take them, resolved once ([`RunOptions::settings`]): each
/// stage is handed its own part, never the whole [`RunOptions`].
#[derive(Clone, Debug)]
pub struct Settings {
    /// A what-if grading policy replacing every course's: (path, text).
    pub what_if: Option<(String, String)>,
    pub grading: GradeSettings,
    pub reports: ReportSettings,
    pub outputs: Outputs,
    /// The `apply` output, once its export time is known (None without it).
    pub apply: Option<ApplySettings>,
    /// Learners of a course graded, diffed and encoded together.
    pub learners_per_chunk: usize,
}

/// What writing the `apply` output takes.
#[derive(Clone, Copy, Debug)]
pub struct ApplySettings {
    /// An existing row is only updated when its `modified` is not later than this.
    pub export_time: Timestamp,
    pub include_frozen: bool,
    pub grades_freeze: bool,
}

impl Settings {
    /// What loading a course takes.
    pub fn load(&self) -> LoadSettings<'_> {
        LoadSettings { what_if: self.what_if.as_ref(), compat: &self.grading.compat }
    }
}

impl RunOptions {
    /// The grading rules of this run: its rescoring policy and what a missing row reads as.
    pub fn rules(&self) -> Rules {
        Rules { rescore: self.rescore, absent_reads_zero: self.assume_zero_if_absent }
    }

    /// How the run executes, as its memory budget sees it.
    pub(crate) fn execution(&self) -> super::partition::Execution {
        super::partition::Execution {
            courses_in_flight: self.courses_in_flight,
            threads: super::resolve_threads(self.threads),
            learners_per_chunk: self.learners_per_chunk,
        }
    }

    /// The stages' settings.
    pub fn settings(&self) -> Settings {
        Settings {
            what_if: self.policy.clone(),
            grading: GradeSettings { rules: self.rules(), compat: self.compat, as_of: self.as_of },
            reports: ReportSettings {
                edx_csv_parity: self.edx_csv_parity,
                as_of: self.as_of,
                compat: self.compat,
                persisted_only: self.rescore == Rescore::Read,
                absent_reads_zero: self.assume_zero_if_absent,
            },
            outputs: self.outputs,
            apply: None,
            learners_per_chunk: self.learners_per_chunk,
        }
    }

    /// Options of `regrade backfill`: the input, output, course, version and execution keys of
    /// `run`. A backfill writes what edX's forced compute would write under the course's own
    /// policy, so `rescore`, `policy` and `outputs` are refused rather than ignored; it writes
    /// no reports, so `edx_csv_parity` is refused too.
    pub fn resolve_backfill(job: Job, now: Timestamp) -> Result<RunOptions> {
        if job.edx_csv_parity.is_some() {
            bail!(
                "backfill does not take `edx_csv_parity`: it writes no CSV reports (its LOAD DATA \
                 files always hold the values exactly); remove it from the job file"
            );
        }
        for (key, set) in [
            ("rescore", job.rescore.is_some()),
            ("policy", job.policy.is_some()),
            ("outputs", job.outputs.is_some()),
        ] {
            if set {
                bail!(
                    "backfill does not take `{key}`: it writes the rows edX's forced compute would \
                     write, under the course's own grading policy; remove it from the job file or flags"
                );
            }
        }
        let job = Job { rescore: Some("recompute".into()), ..job };
        let mut opts = RunOptions::resolve(job, now)?;
        opts.command = Command::Backfill;
        opts.outputs = Outputs::parse(&[])?;
        Ok(opts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_job_keys() {
        let job = Job::parse("input = \"a\"\noutput = \"b\"\nrescore = \"retain\"\ncourses = [\"x\"]", "j")
            .unwrap();
        let flags =
            Job { output: Some("c".into()), courses: Some(CourseList::All("all".into())), ..Job::default() };
        let o = RunOptions::resolve(job.overlay(flags), 0).unwrap();
        assert_eq!(o.input, "a");
        assert_eq!(o.output, "c");
        assert_eq!(o.rescore, Rescore::Retain);
        assert_eq!(o.courses, CourseSelection::All);
    }

    #[test]
    fn learners_per_chunk_has_a_default_is_a_job_key_and_must_be_positive() {
        let base = "input = \"a\"\noutput = \"b\"";
        let o = RunOptions::resolve(Job::parse(base, "j").unwrap(), 0).unwrap();
        assert_eq!(o.learners_per_chunk, DEFAULT_LEARNERS_PER_CHUNK);
        let job = Job::parse(&format!("{base}\nlearners_per_chunk = 7"), "j").unwrap();
        assert_eq!(RunOptions::resolve(job, 0).unwrap().learners_per_chunk, 7);
        let job = Job::parse(&format!("{base}\nlearners_per_chunk = 0"), "j").unwrap();
        let e = RunOptions::resolve(job, 0).unwrap_err();
        assert!(format!("{e:#}").contains("learners_per_chunk must be at least 1"), "{e:#}");
    }

    #[test]
    fn edx_csv_parity_is_off_unless_asked() {
        let base = "input = \"a\"\noutput = \"b\"";
        let o = RunOptions::resolve(Job::parse(base, "j").unwrap(), 0).unwrap();
        assert!(!o.edx_csv_parity);
        let job = Job::parse(&format!("{base}\nedx_csv_parity = true"), "j").unwrap();
        assert!(RunOptions::resolve(job.clone(), 0).unwrap().edx_csv_parity);
        // A flag wins over the job key, both ways.
        let off = Job { edx_csv_parity: Some(false), ..Job::default() };
        assert!(!RunOptions::resolve(job.overlay(off), 0).unwrap().edx_csv_parity);
        let on = Job { edx_csv_parity: Some(true), ..Job::default() };
        let o = RunOptions::resolve(Job::parse(base, "j").unwrap().overlay(on), 0).unwrap();
        assert!(o.edx_csv_parity);
        assert_eq!(serde_json::to_value(&o).unwrap()["edx_csv_parity"], true, "in the manifest's options");
        let bad = Job::parse(&format!("{base}\nedx_csv_parity = \"yes\""), "j");
        assert!(bad.is_err(), "a boolean");
        let e = RunOptions::resolve_backfill(
            Job::parse(&format!("{base}\nedx_csv_parity = false"), "j").unwrap(),
            0,
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("edx_csv_parity"), "{e:#}");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        let e = Job::parse("inptu = \"a\"", "j.toml").unwrap_err();
        assert!(format!("{e:#}").contains("inptu"), "{e:#}");
        let job = Job::parse("input = \"a\"\noutput = \"b\"\nrescore = \"sometimes\"", "j").unwrap();
        assert!(format!("{:#}", RunOptions::resolve(job, 0).unwrap_err()).contains("sometimes"));
        let job =
            Job::parse("input = \"a\"\noutput = \"b\"\ncourse_version = \"as-of:yesterday\"", "j").unwrap();
        assert!(RunOptions::resolve(job, 0).is_err());
        assert!(Job::parse("courses = \"some\"", "j").is_err());
    }

    #[test]
    fn backfill_refuses_run_only_keys() {
        let job = Job::parse("input = \"a\"\noutput = \"b\"\ncourses = [\"x\"]", "j").unwrap();
        let o = RunOptions::resolve_backfill(job.clone(), 0).unwrap();
        assert_eq!((o.command, o.rescore), (Command::Backfill, Rescore::Recompute));
        for key in ["rescore = \"retain\"", "policy = \"p.json\"", "outputs = [\"grades\"]"] {
            let bad = Job::parse(&format!("input = \"a\"\noutput = \"b\"\n{key}"), "j").unwrap();
            let e = format!("{:#}", RunOptions::resolve_backfill(bad, 0).unwrap_err());
            assert!(e.contains(key.split(' ').next().unwrap()), "{e}");
        }
    }

    #[test]
    fn versions_and_times() {
        assert_eq!(VersionChoice::parse("latest").unwrap(), VersionChoice::Latest);
        assert_eq!(VersionChoice::parse("abc").unwrap(), VersionChoice::Named("abc".into()));
        assert_eq!(
            VersionChoice::parse("as-of:2026-01-01T00:00:01Z").unwrap(),
            VersionChoice::AsOf(1_767_225_601_000_000)
        );
        assert_eq!(parse_time("2026-01-01").unwrap(), 1_767_225_600_000_000);
    }

    #[test]
    fn env_expansion() {
        // PATH is set in every test environment.
        let path = std::env::var("PATH").unwrap();
        assert_eq!(expand_env("x/${PATH}/y").unwrap(), format!("x/{path}/y"));
        let e = expand_env("${REGRADE_SURELY_UNSET_VARIABLE}").unwrap_err();
        assert!(format!("{e:#}").contains("REGRADE_SURELY_UNSET_VARIABLE"));
        assert!(expand_env("${OPEN").is_err());
    }
}
