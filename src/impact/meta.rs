//! What the charts need beyond the run's outputs, read from the run's input with regrade's
//! own reader (so every accepted variant of the contract reads as in the run): each course's
//! grading policy cutoffs (this run's and the side compared with), and the assignment type and
//! title of every subsection of the graded versions (`course_blocks.format`,
//! `display_name`). Usernames, for `--with-names` only, come from `users`.

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::{bail, Context, Result};

use super::source::RunFolder;
use crate::error::UsageError;
use crate::grade::policy::GradingPolicy;
use crate::read::batch::Columns;
use crate::read::read_table_blocking;
use crate::store;
use crate::write::sha1_hex;

/// A course's grading policy as the report draws it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cutoffs {
    /// `GRADE_CUTOFFS`, highest first.
    pub letters: Vec<(String, f64)>,
    /// The pass line: the smallest positive cutoff.
    pub pass: Option<f64>,
    /// Where the policy came from, in words.
    pub source: String,
}

impl Cutoffs {
    fn of(policy: &GradingPolicy, source: String) -> Cutoffs {
        let mut letters = policy.cutoffs.clone();
        letters.sort_by(|a, b| b.1.total_cmp(&a.1));
        let pass = letters.iter().map(|(_, c)| *c).filter(|c| *c > 0.0).reduce(f64::min);
        Cutoffs { letters, pass, source }
    }
}

/// One subsection of a graded version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subsection {
    pub assignment_type: String,
    pub title: String,
}

/// What the report knows of one course beyond the grades.
#[derive(Clone, Debug, Default)]
pub struct CourseMeta {
    /// This run's cutoffs.
    pub after: Cutoffs,
    /// The graded course version's own policy: the side the persisted grades were made under.
    pub before: Cutoffs,
    /// The baseline run's (its what-if policy, or its graded version's own).
    pub baseline: Cutoffs,
    /// By usage key.
    pub subsections: HashMap<String, Subsection>,
}

/// Everything read from the input, per course, and the notes made reading it.
#[derive(Clone, Debug, Default)]
pub struct Meta {
    pub courses: BTreeMap<String, CourseMeta>,
    pub notes: Vec<String>,
}

/// Where the report reads the run's input and what-if policy (overrides of the manifest's).
#[derive(Clone, Debug, Default)]
pub struct MetaOptions {
    pub input: Option<String>,
    pub policy: Option<String>,
    pub baseline_policy: Option<String>,
}

/// Reads the metadata of `run`'s courses (and `baseline`'s policies) from the run's input.
pub fn read(run: &RunFolder, baseline: Option<&RunFolder>, opts: &MetaOptions) -> Result<Meta> {
    let input = opts.input.as_deref().or(run.input()).context("the manifest names no input; give --input")?;
    let loc = store::open(input).map_err(|e| {
        UsageError::new(format!(
            "cannot open the run's input '{}' ({e:#}); give --input",
            store::redact(input)
        ))
    })?;
    let wanted: HashSet<String> = run
        .courses
        .iter()
        .chain(baseline.into_iter().flat_map(|b| b.courses.iter()))
        .map(|c| c.course_id.clone())
        .collect();
    let policies = version_policies(&loc, &wanted)?;
    let mut meta = Meta::default();
    let run_what_if = what_if(run, opts.policy.as_deref())?;
    let base_what_if = match baseline {
        Some(b) => what_if(b, opts.baseline_policy.as_deref())?,
        None => None,
    };
    for c in &run.courses {
        let own = policies.get(&(c.course_id.clone(), c.course_version.clone()));
        let (after, after_hash) = match drawn(run_what_if.as_ref(), own, &c.course_version) {
            Some((cutoffs, hash)) => (cutoffs, hash.to_string()),
            None => {
                meta.notes
                    .push(format!("{}: no grading policy of version {}", c.course_id, c.course_version));
                (Cutoffs::default(), String::new())
            }
        };
        if after_hash != c.grading_policy_hash {
            meta.notes.push(format!(
                "{}: the cutoffs drawn come from a policy whose hash ({after_hash}) is not the run's ({})",
                c.course_id, c.grading_policy_hash
            ));
        }
        let before =
            own.map(|p| Cutoffs::of(p, format!("course version {}", c.course_version))).unwrap_or_default();
        let baseline_cutoffs = baseline
            .and_then(|b| b.courses.iter().find(|bc| bc.course_id == c.course_id))
            .and_then(|bc| {
                let own = policies.get(&(bc.course_id.clone(), bc.course_version.clone()));
                drawn(base_what_if.as_ref(), own, &bc.course_version)
            })
            .map(|(cutoffs, _)| cutoffs)
            .unwrap_or_default();
        meta.courses.insert(
            c.course_id.clone(),
            CourseMeta { after, before, baseline: baseline_cutoffs, subsections: HashMap::new() },
        );
    }
    subsections(&loc, run, &mut meta)?;
    Ok(meta)
}

/// The cutoffs a run draws for a course, with its policy's hash: its what-if policy if it had
/// one, else the graded version's own (`own`, of version `version`); `None` without either.
fn drawn<'a>(
    what_if: Option<&'a (GradingPolicy, String)>,
    own: Option<&'a GradingPolicy>,
    version: &str,
) -> Option<(Cutoffs, &'a str)> {
    match (what_if, own) {
        (Some((p, path)), _) => Some((Cutoffs::of(p, format!("what-if policy {path}")), &p.hash)),
        (None, Some(p)) => Some((Cutoffs::of(p, format!("course version {version}")), &p.hash)),
        (None, None) => None,
    }
}

/// The run's what-if policy, parsed, with its path; checked against the SHA-1 the manifest
/// recorded. `over` is a file to read instead of the path the manifest names.
fn what_if(run: &RunFolder, over: Option<&str>) -> Result<Option<(GradingPolicy, String)>> {
    let Some((path, sha1)) = run.what_if_policy() else {
        return Ok(None);
    };
    let file = over.unwrap_or(path);
    let text = std::fs::read_to_string(file).map_err(|e| {
        UsageError::new(format!(
            "{}: cannot read the run's what-if policy '{file}' ({e}); give the file with --policy",
            run.dir.display()
        ))
    })?;
    if sha1_hex(text.as_bytes()) != sha1 {
        bail!(UsageError::new(format!(
            "{}: the what-if policy file '{file}' is not the one the run used (SHA-1 differs from the \
             manifest's {sha1}); give the run's file with --policy",
            run.dir.display()
        )));
    }
    let policy = GradingPolicy::parse(&text).map_err(|e| anyhow::anyhow!("what-if policy '{file}': {e}"))?;
    Ok(Some((policy, path.to_string())))
}

/// Every `(course, version)`'s grading policy of the wanted courses, parsed.
fn version_policies(
    loc: &store::Location,
    wanted: &HashSet<String>,
) -> Result<HashMap<(String, String), GradingPolicy>> {
    let columns = ["course_id", "course_version", "grading_policy"];
    let batches = read_table_blocking(loc, "course_policies", &columns, Some(wanted))?;
    let mut out = HashMap::new();
    for batch in &batches {
        let c = Columns::new("course_policies", batch);
        let (course, version, policy) =
            (c.str_at("course_id")?, c.str_at("course_version")?, c.str_at("grading_policy")?);
        for i in 0..c.len() {
            if let Ok(p) = GradingPolicy::parse(policy(i)) {
                out.insert((course(i).to_string(), version(i).to_string()), p);
            }
        }
    }
    Ok(out)
}

/// The subsections (`sequential` blocks) of each course's graded version.
fn subsections(loc: &store::Location, run: &RunFolder, meta: &mut Meta) -> Result<()> {
    let versions: HashMap<&str, &str> =
        run.courses.iter().map(|c| (c.course_id.as_str(), c.course_version.as_str())).collect();
    let wanted: HashSet<String> = versions.keys().map(|c| c.to_string()).collect();
    let columns = ["course_id", "course_version", "usage_key", "block_type", "format", "display_name"];
    let batches = read_table_blocking(loc, "course_blocks", &columns, Some(&wanted))?;
    for batch in &batches {
        let c = Columns::new("course_blocks", batch);
        let (course, version, key, kind) = (
            c.str_at("course_id")?,
            c.str_at("course_version")?,
            c.str_at("usage_key")?,
            c.str_at("block_type")?,
        );
        let (format, title) = (c.opt_str_at("format")?, c.opt_str_at("display_name")?);
        for i in 0..c.len() {
            if kind(i) != "sequential" || versions.get(course(i)) != Some(&version(i)) {
                continue;
            }
            if let Some(m) = meta.courses.get_mut(course(i)) {
                let sub = Subsection {
                    assignment_type: format(i).unwrap_or_default().to_string(),
                    title: title(i).unwrap_or_default().to_string(),
                };
                m.subsections.insert(key(i).to_string(), sub);
            }
        }
    }
    Ok(())
}

/// Usernames of `users` (for `--with-names`), from the run's input `users` table.
pub fn usernames(run: &RunFolder, input: Option<&str>, users: &HashSet<i64>) -> Result<HashMap<i64, String>> {
    let input = input.or(run.input()).context("the manifest names no input; give --input")?;
    let loc = store::open(input)?;
    let batches = read_table_blocking(&loc, "users", &["id", "username"], None)?;
    let mut out = HashMap::new();
    for batch in &batches {
        let c = Columns::new("users", batch);
        let (id, name) = (c.i64_at("id")?, c.str_at("username")?);
        for i in 0..c.len() {
            if let Some(id) = id(i).filter(|id| users.contains(id)) {
                out.insert(id, name(i).to_string());
            }
        }
    }
    Ok(out)
}
