//! One course of a run: its input rows (already read, filtered to the course) turned into the
//! model, every enrolled learner graded with the core, and the course's outputs encoded in
//! memory (Parquet files of grades and diffs, report CSVs). No I/O here.
//!
//! Learners are taken in chunks by user id ([`RunOptions::learners_per_chunk`]): a chunk's
//! output rows are built, diffed against the persisted rows of its user id range and encoded,
//! then dropped. Chunks are graded in parallel (rayon) and appended in user id order, so
//! results do not depend on the thread count or the chunk size.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use arrow::array::{ArrayRef, RecordBatch};
use rayon::prelude::*;

use super::finite::{self, Sources};
use super::options::{RunOptions, VersionChoice};
use crate::compare::{self, DiffCounts};
use crate::fxhash::{FxHashMap, FxHashSet};
use crate::grade::course::CourseGrade;
use crate::grade::graders::Scratch;
use crate::grade::hash::{parse_visible_blocks, visible_blocks_hash};
use crate::grade::learner::{
    grade_learner, read_problem_scores, LearnerData, LearnerGrade, Rescore, Source, ViewPlan,
};
use crate::grade::policy::GradingPolicy;
use crate::py::fmt::PyNum;
use crate::grade::scores::{BlockRecord, CsmScore, InvalidSubmission, SubmissionScore};
use crate::py::time::Timestamp;
use crate::grade::subsection::{Override, PersistedValues, SubsectionGrade};
use crate::model::learner::LearnerContext;
use crate::model::load::{self, Columns, PolicyRow};
use crate::model::structure::{parse_user_partitions, CourseStructure, CourseView, Partition};
use crate::report::{
    self, csv_line, Certificate, CertificateCourse, CourseReport, GradingContext, ReadCourseGrade,
    ReportLearner,
};
use crate::write::grades::{CourseColumns, SubsectionColumns, SubsectionRow};
use crate::write::{CourseTableEncoder, EncodedTable};

/// Run-wide lookups from tables without a `course_id` column, read once.
#[derive(Debug, Default)]
pub struct Globals {
    /// `auth_user`: id -> (username, email). Only read when reports are written.
    pub users: FxHashMap<i64, (String, String)>,
    /// `auth_user` ids with more than one row -> the file of the second one. A course with
    /// such a learner enrolled is quarantined, as for any duplicate key.
    pub duplicate_users: FxHashMap<i64, String>,
    /// Users with an approved ID verification.
    pub verified: FxHashSet<i64>,
    /// Overrides by `grade_id` (the persisted subsection grade's id).
    pub overrides: FxHashMap<i64, Override>,
    /// Rows read to build these lookups (for the manifest).
    pub rows_read: usize,
}

/// Input rows edX accepts but that look wrong, counted per kind with a few examples.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Warning {
    pub count: usize,
    /// The first few rows, by key (user ids and usage keys, never names).
    pub examples: Vec<String>,
}

/// The warning kind of a course with no graded subsection.
pub const NO_GRADED_CONTENT: &str = "no_graded_content";

/// Examples kept per warning kind.
const WARNING_EXAMPLES: usize = 5;

fn warn(warnings: &mut BTreeMap<String, Warning>, kind: &str, example: impl FnOnce() -> String) {
    let w = warnings.entry(kind.to_string()).or_default();
    w.count += 1;
    if w.examples.len() < WARNING_EXAMPLES {
        w.examples.push(example());
    }
}

/// A score edX cannot grade with: NaN, infinite or negative.
fn bad_score(course_id: &str, c: &Columns<'_>, key: &str, column: &str, value: f64) -> anyhow::Error {
    anyhow::anyhow!(
        "{course_id}: {} row ({key}): {column} is {value}; scores must be finite and not negative \
         (file {}); fix or remove the row in the export",
        c.table(),
        c.source()
    )
}

fn check_score(v: Option<f64>) -> Option<f64> {
    v.filter(|x| !x.is_finite() || *x < 0.0)
}

/// One course's input batches, by table.
pub type CourseTables = HashMap<&'static str, Vec<RecordBatch>>;

/// A course that could not be graded, with the reason (shown in the manifest).
#[derive(Debug, Clone, serde::Serialize)]
pub struct CourseFailure {
    pub course_id: String,
    pub error: String,
}

/// What grading one course produced: its files, encoded, and what the manifest says of it.
pub struct CourseOutput {
    pub course_id: String,
    pub course_version: String,
    pub published_at: Option<Timestamp>,
    pub grading_policy_hash: String,
    pub learners: usize,
    pub learner_errors: usize,
    /// Rows of `subsection_grades` and `course_grades` (whether or not they are written).
    pub subsection_rows: usize,
    pub course_rows: usize,
    /// Diff counts (all zero when nothing was regraded: `--rescore read`).
    pub subsection_diffs: DiffCounts,
    pub course_grade_diffs: DiffCounts,
    /// The course's partition of each output table with rows (grades, diffs), encoded.
    pub tables: Vec<EncodedTable>,
    /// (file name, CSV text) of each report.
    pub reports: Vec<(String, String)>,
    /// Rows read per table, for the manifest.
    pub rows_read: BTreeMap<String, usize>,
    /// Ignored input rows (for blocks not in the graded version, or learners not enrolled).
    pub ignored_rows: BTreeMap<String, usize>,
    /// Suspicious rows kept as edX keeps them (e.g. `earned_above_possible`).
    pub warnings: BTreeMap<String, Warning>,
}

pub(super) fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(|b| b.num_rows()).sum()
}

pub(super) fn table<'a>(tables: &'a CourseTables, name: &str) -> &'a [RecordBatch] {
    tables.get(name).map(Vec::as_slice).unwrap_or(&[])
}

/// Pick the version to grade from `(version, published_at)` pairs.
pub fn choose_version(
    course_id: &str,
    versions: &[(String, Option<Timestamp>)],
    choice: &VersionChoice,
) -> Result<(String, Option<Timestamp>)> {
    let key = |v: &&(String, Option<Timestamp>)| (v.1.unwrap_or(i64::MIN), v.0.clone());
    let found = match choice {
        VersionChoice::Latest => versions.iter().max_by_key(key),
        VersionChoice::Named(name) => versions.iter().find(|(v, _)| v == name),
        VersionChoice::AsOf(t) => versions.iter().filter(|(_, p)| p.is_some_and(|p| p <= *t)).max_by_key(key),
    };
    match found {
        Some(v) => Ok(v.clone()),
        None => {
            let listed: Vec<&str> = versions.iter().map(|(v, _)| v.as_str()).collect();
            let what = match choice {
                VersionChoice::Latest => "any version".to_string(),
                VersionChoice::Named(n) => format!("version '{n}'"),
                VersionChoice::AsOf(t) => format!("a version published at or before {}", crate::py::time::fmt_time(*t)),
            };
            if listed.is_empty() {
                bail!("{course_id}: course_blocks has no rows for this course");
            }
            bail!("{course_id}: course_blocks has no {what}; versions found: {}", listed.join(", "))
        }
    }
}

/// A learner's rows keyed by block, sorted by block once loaded ([`ByBlock::seal`]): about
/// half the memory of a hash map, and a lookup is a binary search over a few dozen entries.
/// Each row keeps the index of its file in [`Sources`] (in what was the block's padding).
pub(super) struct ByBlock<T>(Vec<Entry<T>>);

struct Entry<T> {
    block: u32,
    file: u32,
    value: T,
}

impl<T> Default for ByBlock<T> {
    fn default() -> Self {
        ByBlock(Vec::new())
    }
}

impl<T> ByBlock<T> {
    fn push(&mut self, block: u32, file: u32, value: T) {
        self.0.push(Entry { block, file, value });
    }

    /// Sort by block and give back spare capacity; `Err(block)` for a block pushed twice.
    fn seal(&mut self) -> Result<(), u32> {
        self.0.sort_unstable_by_key(|e| e.block);
        if let Some(w) = self.0.windows(2).find(|w| w[0].block == w[1].block) {
            return Err(w[0].block);
        }
        self.0.shrink_to_fit();
        Ok(())
    }

    pub(super) fn get(&self, block: u32) -> Option<&T> {
        self.get_with_file(block).map(|(v, _)| v)
    }

    /// The row and the index of its file in [`Sources`].
    pub(super) fn get_with_file(&self, block: u32) -> Option<(&T, u32)> {
        let i = self.0.binary_search_by_key(&block, |e| e.block).ok()?;
        Some((&self.0[i].value, self.0[i].file))
    }

    /// Every (block, row), by block.
    pub(super) fn iter(&self) -> impl Iterator<Item = (u32, &T)> {
        self.0.iter().map(|e| (e.block, &e.value))
    }

    pub(super) fn contains(&self, block: u32) -> bool {
        self.get(block).is_some()
    }
}

/// A persisted subsection row as grading and the outputs need it.
pub(super) struct PersistedRow {
    values: PersistedValues,
    /// Rare: boxed.
    ov: Option<Box<Override>>,
    /// `visible_blocks_hash` and `course_version`, interned per course.
    pub(super) hash: Arc<str>,
    version: Arc<str>,
}

/// One enrolled learner with everything grading and the reports need.
#[derive(Default)]
pub(super) struct Learner {
    pub(super) user_id: i64,
    pub(super) ctx: LearnerContext,
    pub(super) csm: ByBlock<CsmScore>,
    /// Latest submission per block, with its id (for picking the latest) and its file.
    pub(super) submissions: FxHashMap<u32, (SubmissionScore, i64, u32)>,
    /// Persisted subsection rows by block.
    pub(super) persisted: ByBlock<PersistedRow>,
    /// Persisted course grade: (percent_grade, letter_grade, passed_timestamp).
    pub(super) course_row: Option<(f64, String, Option<Timestamp>)>,
    cohort_name: Option<String>,
    team_name: Option<String>,
    /// Submissions rows edX's grading rejects (negative earned or possible): (block, row id,
    /// where the row is). Rare; named in the learner's error if the row is the latest.
    invalid_submissions: Vec<(u32, i64, String)>,
    allowlisted: bool,
    certificate: Option<Certificate>,
}

impl Learner {
    /// The learner's grading error, with the submissions rows edX rejected, by file and key.
    pub(super) fn explain(&self, e: InvalidSubmission) -> String {
        let rows: Vec<&str> = self
            .invalid_submissions
            .iter()
            .filter(|(b, id, _)| self.submissions.get(b).is_some_and(|(_, latest, _)| latest == id))
            .map(|(_, _, at)| at.as_str())
            .collect();
        if rows.is_empty() {
            e.to_string()
        } else {
            format!("{e}: {}", rows.join("; "))
        }
    }
}

/// The learner's data as the grading core sees it.
pub(super) struct Data<'a> {
    pub(super) learner: &'a Learner,
    pub(super) blocks: &'a VisibleBlocks,
}

impl LearnerData for Data<'_> {
    fn submission(&self, block: u32) -> Option<&SubmissionScore> {
        self.learner.submissions.get(&block).map(|(s, _, _)| s)
    }
    fn csm(&self, block: u32) -> Option<&CsmScore> {
        self.learner.csm.get(block)
    }
    fn persisted(&self, subsection: u32) -> Option<(&PersistedValues, Option<&Override>)> {
        self.learner.persisted.get(subsection).map(|p| (&p.values, p.ov.as_deref()))
    }
    fn persisted_blocks(&self, subsection: u32) -> Option<&[BlockRecord]> {
        self.blocks.get(&self.learner.persisted.get(subsection)?.hash)
    }
}

/// The learner's data after the run, as edX's report path would read it back: rows this run
/// wrote replace the persisted ones, with their new visible blocks.
struct AfterRun<'a> {
    before: &'a Data<'a>,
    rows: FxHashMap<u32, (PersistedValues, Option<&'a Override>)>,
    blocks: FxHashMap<u32, &'a [BlockRecord]>,
}

impl LearnerData for AfterRun<'_> {
    fn submission(&self, block: u32) -> Option<&SubmissionScore> {
        self.before.submission(block)
    }
    fn csm(&self, block: u32) -> Option<&CsmScore> {
        self.before.csm(block)
    }
    fn persisted(&self, subsection: u32) -> Option<(&PersistedValues, Option<&Override>)> {
        match self.rows.get(&subsection) {
            Some((v, o)) => Some((v, *o)),
            // A subsection this run did not grade (outside the learner's structure) keeps its row.
            None => self.before.persisted(subsection),
        }
    }
    fn persisted_blocks(&self, subsection: u32) -> Option<&[BlockRecord]> {
        match self.blocks.get(&subsection) {
            Some(b) => Some(b),
            None => self.before.persisted_blocks(subsection),
        }
    }
}

/// Parsed `grades_visibleblocks` rows of the course, by hash.
#[derive(Default)]
pub(super) struct VisibleBlocks {
    parsed: FxHashMap<String, Vec<BlockRecord>>,
    /// Every hash of the course's `visible_blocks` rows (referenced or not).
    pub(super) known: FxHashSet<String>,
}

impl VisibleBlocks {
    pub(super) fn get(&self, hash: &str) -> Option<&[BlockRecord]> {
        self.parsed.get(hash).map(Vec::as_slice)
    }
}

/// The course as loaded: structure, policy, learners.
pub(super) struct Loaded {
    pub(super) structure: CourseStructure,
    pub(super) policy: GradingPolicy,
    pub(super) policy_row: PolicyRow,
    pub(super) published_at: Option<Timestamp>,
    pub(super) learners: Vec<Learner>,
    pub(super) blocks: VisibleBlocks,
    pub(super) ignored: BTreeMap<String, usize>,
    pub(super) warnings: BTreeMap<String, Warning>,
    /// Split-test (`random` scheme) partitions, active or not: `get_split_user_partitions`
    /// does not look at `active`, so inactive split tests get a report column too.
    pub(super) experiments: Vec<Partition>,
    /// The files rows came from, and each block's `course_blocks` file.
    pub(super) sources: Sources,
}

/// One shared copy of each distinct string.
fn intern(seen: &mut FxHashMap<String, Arc<str>>, s: &str) -> Arc<str> {
    match seen.get(s) {
        Some(s) => s.clone(),
        None => {
            let new: Arc<str> = Arc::from(s);
            seen.insert(s.to_string(), new.clone());
            new
        }
    }
}

fn dup(course_id: &str, table: &str, what: String) -> anyhow::Error {
    anyhow::anyhow!(
        "{course_id}: {table} has two rows for {what}; edX keeps one row per key: de-duplicate the export"
    )
}

pub(super) fn load(
    course_id: &str,
    tables: &CourseTables,
    globals: &Globals,
    opts: &RunOptions,
) -> Result<Loaded> {
    // Structure and policy of the chosen version.
    let mut versions = load::course_blocks(table(tables, "course_blocks"))?;
    versions.retain(|(c, _), _| c == course_id);
    let listed: Vec<(String, Option<Timestamp>)> =
        versions.iter().map(|((_, v), vb)| (v.clone(), vb.published_at)).collect();
    let (version, published_at) = choose_version(course_id, &listed, &opts.course_version)?;
    let blocks = versions.remove(&(course_id.to_string(), version.clone())).expect("chosen from these").rows;
    let mut policy_rows: Vec<PolicyRow> = load::course_policies(table(tables, "course_policies"))?
        .into_iter()
        .filter(|p| p.course_id == course_id && p.course_version == version)
        .collect();
    if policy_rows.len() > 1 {
        return Err(dup(course_id, "course_policies", format!("course_version '{version}'")));
    }
    let policy_row = policy_rows.pop().with_context(|| {
        format!("{course_id}: course_policies has no row for course version '{version}'; export it")
    })?;
    let policy_text = opts.policy.as_ref().map(|(_, t)| t.as_str()).unwrap_or(&policy_row.grading_policy);
    let policy = GradingPolicy::parse(policy_text).map_err(|e| match &opts.policy {
        Some((path, _)) => anyhow::anyhow!("{course_id}: what-if policy '{path}': {e}"),
        None => anyhow::anyhow!("{course_id}: course_policies.grading_policy of version '{version}': {e}"),
    })?;
    let partitions = match &policy_row.user_partitions {
        Some(text) => parse_user_partitions(text)
            .map_err(|e| anyhow::anyhow!("{course_id}: course_policies.user_partitions: {e}"))?,
        None => Vec::new(),
    };
    let experiments = partitions.iter().filter(|p| p.scheme == "random").cloned().collect();
    let structure = CourseStructure::build(
        course_id,
        &version,
        blocks,
        partitions,
        &policy_row.course_modes,
        policy_row.course_start,
    )
    .map_err(|e| anyhow::anyhow!("{course_id}: course_blocks of version '{version}': {e}"))?;

    // Learners, in user id order.
    let mut learners: Vec<Learner> = Vec::new();
    for batch in table(tables, "enrollments") {
        let c = Columns::new("enrollments", batch);
        let (uid, mode, active) = (c.i64_at("user_id")?, c.str_at("mode")?, c.bool_at("is_active")?);
        for i in 0..c.len() {
            learners.push(Learner {
                user_id: uid(i).unwrap_or_default(),
                ctx: LearnerContext {
                    mode: mode(i).to_string(),
                    is_active: active(i).unwrap_or(false),
                    ..LearnerContext::default()
                },
                ..Learner::default()
            });
        }
    }
    learners.sort_by_key(|l| l.user_id);
    if let Some(w) = learners.windows(2).find(|w| w[0].user_id == w[1].user_id) {
        return Err(dup(course_id, "enrollments", format!("user_id {}", w[0].user_id)));
    }
    if !globals.duplicate_users.is_empty() {
        if let Some((uid, file)) =
            learners.iter().find_map(|l| globals.duplicate_users.get_key_value(&l.user_id))
        {
            return Err(dup(course_id, "users", format!("id {uid} (the second in file {file})")));
        }
    }
    let at: FxHashMap<i64, usize> = learners.iter().enumerate().map(|(i, l)| (l.user_id, i)).collect();
    let mut ignored: BTreeMap<String, usize> = BTreeMap::new();
    let mut ignore = |t: &str| *ignored.entry(t.to_string()).or_default() += 1;
    let mut warnings: BTreeMap<String, Warning> = BTreeMap::new();
    // edX grades a course without graded subsections (every grade 0.0); say so, as it is
    // more likely a wrong export or version than a course meant to be graded that way.
    let blocks_ = &structure.blocks;
    let graded = blocks_[structure.root as usize].children.iter().any(|&ch| {
        blocks_[ch as usize].children.iter().any(|&s| {
            let b = &blocks_[s as usize];
            b.graded && b.row.format.as_deref().is_some_and(|f| !f.is_empty())
        })
    });
    if !graded {
        warn(&mut warnings, NO_GRADED_CONTENT, || {
            format!("{course_id}: no graded subsection in version {}", structure.course_version)
        });
    }

    let mut sources = Sources::new(table(tables, "course_blocks"), &structure)?;
    for batch in table(tables, "studentmodule") {
        let c = Columns::new("studentmodule", batch);
        let file = sources.index(c.source());
        let (uid, keys) = (c.i64_at("student_id")?, c.keyed_str_at("module_state_key")?);
        let (grade, max, created) = (c.f64_at("grade")?, c.f64_at("max_grade")?, c.ts_at("created")?);
        // Usage keys are looked up once per distinct value of a dictionary-encoded column.
        let block_of = keys.map(|k| structure.index.get(k).copied());
        let key = |i: usize| keys.value(i);
        for i in 0..c.len() {
            let (Some(&l), Some(b)) = (at.get(&uid(i).unwrap_or_default()), block_of(i)) else {
                ignore("studentmodule");
                continue;
            };
            let key_of = || format!("student_id {}, module_state_key {}", learners[l].user_id, key(i));
            for (column, v) in [("grade", grade(i)), ("max_grade", max(i))] {
                if let Some(x) = check_score(v) {
                    return Err(bad_score(course_id, &c, &key_of(), column, x));
                }
            }
            if let (Some(g), Some(m)) = (grade(i), max(i)) {
                if g > m {
                    warn(&mut warnings, "earned_above_possible", || {
                        format!("studentmodule {}: {g} > {m}", key_of())
                    });
                }
            }
            let score =
                CsmScore { grade: grade(i), max_grade: max(i), created: created(i).unwrap_or_default() };
            learners[l].csm.push(b, file, score);
        }
    }
    for l in &mut learners {
        if let Err(b) = l.csm.seal() {
            let key = &structure.blocks[b as usize].row.usage_key;
            let what = format!("(student_id {}, module_state_key {key})", l.user_id);
            return Err(dup(course_id, "studentmodule", what));
        }
    }
    for batch in table(tables, "submissions") {
        let c = Columns::new("submissions", batch);
        let file = sources.index(c.source());
        let (id, uid, key) = (c.i64_at("id")?, c.i64_at("user_id")?, c.str_at("usage_key")?);
        let (earned, possible, at_) =
            (c.f64_at("points_earned")?, c.f64_at("points_possible")?, c.ts_at("created_at")?);
        for i in 0..c.len() {
            let (Some(&l), Some(&b)) = (at.get(&uid(i).unwrap_or_default()), structure.index.get(key(i)))
            else {
                ignore("submissions");
                continue;
            };
            let user_id = learners[l].user_id;
            let key_of =
                || format!("id {}, user_id {user_id}, usage_key {}", id(i).unwrap_or_default(), key(i));
            for (column, v) in [("points_earned", earned(i)), ("points_possible", possible(i))] {
                // NaN and infinity cannot come from MySQL: the export is broken. A finite
                // negative score is edX's to reject: it fails that learner (error CSVs).
                if let Some(x) = check_score(v).filter(|x| !x.is_finite()) {
                    return Err(bad_score(course_id, &c, &key_of(), column, x));
                }
            }
            if earned(i).unwrap_or_default() < 0.0 || possible(i).unwrap_or_default() < 0.0 {
                let at = format!("submissions row ({}) in file {}", key_of(), c.source());
                learners[l].invalid_submissions.push((b, id(i).unwrap_or_default(), at));
            }
            if let (Some(e), Some(p)) = (earned(i), possible(i)) {
                if e > p {
                    warn(&mut warnings, "earned_above_possible", || {
                        format!("submissions {}: {e} > {p}", key_of())
                    });
                }
            }
            let score = SubmissionScore {
                points_earned: earned(i).unwrap_or_default(),
                points_possible: possible(i).unwrap_or_default(),
                created_at: at_(i).unwrap_or_default(),
            };
            let row_id = id(i).unwrap_or_default();
            // edx-submissions returns the latest score of each item.
            let slot = learners[l].submissions.entry(b).or_insert((score, row_id, file));
            if (score.created_at, row_id) > (slot.0.created_at, slot.1) {
                *slot = (score, row_id, file);
            }
        }
    }
    // Persisted subsection rows of learners, by subsection of the graded version.
    // Interned: learners share a few hashes per subsection and a few versions.
    let mut hashes: FxHashMap<String, Arc<str>> = FxHashMap::default();
    let mut versions: FxHashMap<String, Arc<str>> = FxHashMap::default();
    for batch in table(tables, "persistent_subsection_grades") {
        let c = Columns::new("persistent_subsection_grades", batch);
        let file = sources.index(c.source());
        let (id, uid, keys) = (c.i64_at("id")?, c.i64_at("user_id")?, c.keyed_str_at("usage_key")?);
        let block_of = keys.map(|k| structure.index.get(k).copied());
        let key = |i: usize| keys.value(i);
        let (ea, pa, eg, pg) = (
            c.f64_at("earned_all")?,
            c.f64_at("possible_all")?,
            c.f64_at("earned_graded")?,
            c.f64_at("possible_graded")?,
        );
        let first = c.ts_at("first_attempted")?;
        let hash = c.keyed_str_at("visible_blocks_hash")?.map(|h| intern(&mut hashes, h));
        let version = c.keyed_str_at("course_version")?.map(|v| intern(&mut versions, v));
        for i in 0..c.len() {
            let (Some(&l), Some(b)) = (at.get(&uid(i).unwrap_or_default()), block_of(i)) else {
                continue; // orphaned or not enrolled: the diff reports it
            };
            for (column, v) in [
                ("earned_all", ea(i)),
                ("possible_all", pa(i)),
                ("earned_graded", eg(i)),
                ("possible_graded", pg(i)),
            ] {
                if let Some(x) = check_score(v) {
                    let row_key = format!(
                        "id {}, user_id {}, usage_key {}",
                        id(i).unwrap_or_default(),
                        learners[l].user_id,
                        key(i)
                    );
                    return Err(bad_score(course_id, &c, &row_key, column, x));
                }
            }
            let values = PersistedValues {
                earned_all: ea(i).unwrap_or_default(),
                possible_all: pa(i).unwrap_or_default(),
                earned_graded: eg(i).unwrap_or_default(),
                possible_graded: pg(i).unwrap_or_default(),
                first_attempted: first(i),
            };
            let ov = globals.overrides.get(&id(i).unwrap_or_default()).map(|o| Box::new(*o));
            // A finite row whose percent is not (earned far above a tiny possible).
            let read = SubsectionGrade::read(&values, ov.as_deref());
            if !read.percent_graded(&opts.compat).is_finite() {
                let uid = learners[l].user_id;
                let row_key =
                    format!("id {}, user_id {uid}, usage_key {}", id(i).unwrap_or_default(), key(i));
                return Err(finite::persisted_percent(course_id, &c, &row_key, &read, ov.is_some()));
            }
            learners[l].persisted.push(
                b,
                file,
                PersistedRow { values, ov, hash: hash(i), version: version(i) },
            );
        }
    }
    for l in &mut learners {
        if let Err(b) = l.persisted.seal() {
            let key = &structure.blocks[b as usize].row.usage_key;
            let what = format!("(user_id {}, usage_key {key})", l.user_id);
            return Err(dup(course_id, "persistent_subsection_grades", what));
        }
    }
    for batch in table(tables, "persistent_course_grades") {
        let c = Columns::new("persistent_course_grades", batch);
        let (uid, pct, letter) =
            (c.i64_at("user_id")?, c.f64_at("percent_grade")?, c.str_at("letter_grade")?);
        let passed_at = c.ts_at("passed_timestamp")?;
        for i in 0..c.len() {
            let Some(&l) = at.get(&uid(i).unwrap_or_default()) else { continue };
            if let Some(x) = check_score(pct(i)) {
                return Err(bad_score(
                    course_id,
                    &c,
                    &format!("user_id {}", learners[l].user_id),
                    "percent_grade",
                    x,
                ));
            }
            let row = (pct(i).unwrap_or_default(), letter(i).to_string(), passed_at(i));
            if learners[l].course_row.replace(row).is_some() {
                return Err(dup(
                    course_id,
                    "persistent_course_grades",
                    format!("user_id {}", learners[l].user_id),
                ));
            }
        }
    }
    // Visible blocks referenced by persisted rows, parsed once per hash.
    let mut visible = VisibleBlocks::default();
    for batch in table(tables, "visible_blocks") {
        let c = Columns::new("visible_blocks", batch);
        let (hashed, json) = (c.str_at("hashed")?, c.str_at("blocks_json")?);
        for i in 0..c.len() {
            let h = hashed(i);
            if !visible.known.contains(h) {
                visible.known.insert(h.to_string());
            }
            if !hashes.contains_key(h) || visible.parsed.contains_key(h) {
                continue;
            }
            let records = parse_visible_blocks(json(i))
                .map_err(|e| anyhow::anyhow!("{course_id}: visible_blocks row '{h}': blocks_json: {e}"))?;
            visible.parsed.insert(h.to_string(), records);
        }
    }
    // Groups, cohorts, teams, certificates.
    for batch in table(tables, "cohort_memberships") {
        let c = Columns::new("cohort_memberships", batch);
        let (uid, name, pid, gid) = (
            c.i64_at("user_id")?,
            c.str_at("cohort_name")?,
            c.i64_at("partition_id")?,
            c.i64_at("group_id")?,
        );
        for i in 0..c.len() {
            let Some(&l) = at.get(&uid(i).unwrap_or_default()) else { continue };
            learners[l].cohort_name = Some(name(i).to_string());
            learners[l].ctx.cohort_group = pid(i).zip(gid(i));
        }
    }
    for batch in table(tables, "partition_groups") {
        let c = Columns::new("partition_groups", batch);
        let (uid, pid, gid) = (c.i64_at("user_id")?, c.i64_at("partition_id")?, c.i64_at("group_id")?);
        for i in 0..c.len() {
            let Some(&l) = at.get(&uid(i).unwrap_or_default()) else { continue };
            let (p, g) = (pid(i).unwrap_or_default(), gid(i).unwrap_or_default());
            let groups = &mut learners[l].ctx.partition_groups;
            match groups.iter_mut().find(|(x, _)| *x == p) {
                Some(slot) => slot.1 = g,
                None => groups.push((p, g)),
            }
        }
    }
    for batch in table(tables, "team_memberships") {
        let c = Columns::new("team_memberships", batch);
        let (uid, name) = (c.i64_at("user_id")?, c.str_at("team_name")?);
        for i in 0..c.len() {
            if let Some(&l) = at.get(&uid(i).unwrap_or_default()) {
                learners[l].team_name = Some(name(i).to_string()); // the last one wins, as in edX
            }
        }
    }
    for batch in table(tables, "certificate_allowlist") {
        let c = Columns::new("certificate_allowlist", batch);
        let (uid, allow) = (c.i64_at("user_id")?, c.bool_at("allowlist")?);
        for i in 0..c.len() {
            if let Some(&l) = at.get(&uid(i).unwrap_or_default()) {
                learners[l].allowlisted |= allow(i).unwrap_or(false);
            }
        }
    }
    for batch in table(tables, "generated_certificates") {
        let c = Columns::new("generated_certificates", batch);
        let (uid, status, mode) = (c.i64_at("user_id")?, c.str_at("status")?, c.str_at("mode")?);
        for i in 0..c.len() {
            if let Some(&l) = at.get(&uid(i).unwrap_or_default()) {
                learners[l].certificate =
                    Some(Certificate { status: status(i).to_string(), mode: mode(i).to_string() });
            }
        }
    }
    Ok(Loaded {
        structure,
        policy,
        policy_row,
        published_at,
        learners,
        blocks: visible,
        ignored,
        warnings,
        experiments,
        sources,
    })
}

/// One subsection of a learner's outcome, reduced to what the outputs need (the problem
/// scores and visible-block records are dropped as soon as the learner is graded, so memory
/// holds a few numbers per learner and subsection, not their scores).
struct SubOut {
    block: u32,
    grade: SubsectionGrade,
    /// The row after the run (persisted or written), if any.
    row: Option<PersistedValues>,
    written: bool,
    source: Source,
    hash: String,
    /// A kept row's own `course_version` (None: the graded version).
    kept_version: Option<Arc<str>>,
}

struct Graded {
    subsections: Vec<SubOut>,
    course: CourseGrade,
    /// Set once: the persisted value, else now if the learner passes.
    passed_timestamp: Option<Timestamp>,
}

/// Visible-blocks hashes already computed on this thread: learners mostly share the same
/// records per subsection, and the SHA-1 over the JSON is the costliest step of a learner.
/// Keyed by a fingerprint; a hit is used only when the records are bit-for-bit the same.
#[derive(Default)]
pub(super) struct HashCache {
    entries: FxHashMap<u64, Vec<(Vec<BlockRecord>, String)>>,
}

fn num_bits(n: Option<PyNum>) -> (u8, u64) {
    match n {
        None => (0, 0),
        Some(PyNum::Int(i)) => (1, i as u64),
        Some(PyNum::Float(f)) => (2, f.to_bits()),
    }
}

fn same_records(a: &[BlockRecord], b: &[BlockRecord]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.locator == y.locator
                && x.graded == y.graded
                && num_bits(x.weight) == num_bits(y.weight)
                && num_bits(x.raw_possible) == num_bits(y.raw_possible)
        })
}

impl HashCache {
    pub(super) fn hash(&mut self, course_id: &str, records: &[BlockRecord]) -> String {
        use std::hash::{Hash, Hasher};
        let mut h = crate::fxhash::FxHasher::default();
        for r in records {
            r.locator.hash(&mut h);
            r.graded.hash(&mut h);
            num_bits(r.weight).hash(&mut h);
            num_bits(r.raw_possible).hash(&mut h);
        }
        let bucket = self.entries.entry(h.finish()).or_default();
        if let Some((_, hash)) = bucket.iter().find(|(r, _)| same_records(r, records)) {
            return hash.clone();
        }
        let hash = visible_blocks_hash(course_id, records);
        bucket.push((records.to_vec(), hash.clone()));
        hash
    }
}

fn compact(course_id: &str, l: &Learner, g: LearnerGrade, now: Timestamp, cache: &mut HashCache) -> Graded {
    let subsections = g
        .subsections
        .into_iter()
        .map(|r| {
            let (hash, kept_version) = match &r.visible_blocks {
                // A written row, or a grade without a row: its own blocks.
                Some(records) => (cache.hash(course_id, records), None),
                // A kept row is output as it is: its own blocks and version.
                None => match l.persisted.get(r.block) {
                    Some(p) => (p.hash.to_string(), Some(p.version.clone())),
                    None => (String::new(), None),
                },
            };
            SubOut {
                block: r.block,
                grade: r.grade,
                row: r.row,
                written: r.written,
                source: r.source,
                hash,
                kept_version,
            }
        })
        .collect();
    let old = l.course_row.as_ref().and_then(|r| r.2);
    let passed_timestamp = crate::grade::course::passed_timestamp(old, g.course.passed.unwrap_or(false), now);
    Graded { subsections, course: g.course, passed_timestamp }
}

/// Each learner's view of the course and its plan; learners with the same groups share one
/// (computed once per distinct group key).
pub(super) fn learner_views(
    structure: &CourseStructure,
    learners: &[Learner],
    modes: &[String],
    now: Timestamp,
) -> Vec<Arc<(CourseView, ViewPlan)>> {
    let restricting = structure.restricting_partitions();
    let mut views: FxHashMap<Vec<Option<i64>>, Arc<(CourseView, ViewPlan)>> = FxHashMap::default();
    let mut out = Vec::with_capacity(learners.len());
    for l in learners {
        let key = l.ctx.view_key(structure, modes, &restricting);
        let v = views
            .entry(key)
            .or_insert_with(|| {
                let view = structure.view(now, |pid| l.ctx.group_of(structure, modes, pid));
                let plan = ViewPlan::new(structure, &view);
                Arc::new((view, plan))
            })
            .clone();
        out.push(v);
    }
    out
}

/// What chunks add up to besides their rows: diff counts, report text and learners' errors,
/// in user id order.
#[derive(Default)]
struct Tally {
    subsection_counts: DiffCounts,
    course_counts: DiffCounts,
    course_csv: String,
    problem_csv: String,
    learner_errors: Vec<(i64, String)>,
    problem_errors: Vec<(i64, String)>,
}

impl Tally {
    /// Append the next chunk's tally.
    fn add(&mut self, next: Tally) {
        self.subsection_counts.add(next.subsection_counts);
        self.course_counts.add(next.course_counts);
        self.course_csv.push_str(&next.course_csv);
        self.problem_csv.push_str(&next.problem_csv);
        self.learner_errors.extend(next.learner_errors);
        self.problem_errors.extend(next.problem_errors);
    }
}

/// What one chunk of learners produced, in user id order.
#[derive(Default)]
struct ChunkOut {
    subsections: Option<RecordBatch>,
    courses: Option<RecordBatch>,
    subsection_diffs: Option<RecordBatch>,
    course_diffs: Option<RecordBatch>,
    tally: Tally,
}

/// What every chunk of a course reads.
struct CourseCtx<'a> {
    course_id: &'a str,
    structure: &'a CourseStructure,
    policy: &'a GradingPolicy,
    report: &'a CourseReport<'a>,
    problem_columns: &'a [(u32, [String; 2])],
    blocks: &'a VisibleBlocks,
    version_subsections: &'a HashSet<String>,
    opts: &'a RunOptions,
    globals: &'a Globals,
    sources: &'a Sources,
}

impl CourseCtx<'_> {
    fn check(&self) -> finite::Check<'_> {
        finite::Check {
            course_id: self.course_id,
            structure: self.structure,
            compat: &self.opts.compat,
            sources: self.sources,
            blocks: self.blocks,
        }
    }
}

/// Grade a chunk of learners (in user id order) and diff them against `old_*`, the persisted
/// rows of every user id in the chunk's range (enrolled or not).
fn grade_chunk(
    ctx: &CourseCtx<'_>,
    learners: &[Learner],
    views: &[Arc<(CourseView, ViewPlan)>],
    (old_subsections, old_courses): (&[RecordBatch], &[RecordBatch]),
    (scratch, cache): &mut (Scratch, HashCache),
) -> Result<ChunkOut> {
    let (opts, structure, course_id) = (ctx.opts, ctx.structure, ctx.course_id);
    let graded_run = opts.rescore != Rescore::Read;
    let version = &structure.course_version;
    let mut out = ChunkOut::default();
    let mut sub = SubsectionColumns::default();
    let mut written = SubsectionColumns::default();
    let mut course_rows = CourseColumns::default();
    for (l, v) in learners.iter().zip(views) {
        let data = Data { learner: l, blocks: ctx.blocks };
        let g = match grade_learner(structure, &v.1, ctx.policy, &opts.compat, opts.rules(), &data, scratch) {
            Ok(g) => g,
            Err(e) => {
                out.tally.learner_errors.push((l.user_id, l.explain(e)));
                continue;
            }
        };
        if !g.is_finite(&opts.compat) {
            return Err(ctx.check().non_finite_grade(&data, &v.1, &g));
        }
        if opts.outputs.reports {
            let (course_csv, problem_csv) = (&mut out.tally.course_csv, &mut out.tally.problem_csv);
            let r = report_rows(
                ctx,
                ctx.report,
                ctx.problem_columns,
                l,
                &data,
                &g,
                &v.0,
                opts,
                ctx.globals,
                course_csv,
                problem_csv,
            )?;
            if let Err(e) = r {
                out.tally.problem_errors.push((l.user_id, e));
            }
        }
        if !graded_run {
            continue;
        }
        let g = compact(course_id, l, g, opts.as_of, cache);
        let user_id = l.user_id;
        for r in &g.subsections {
            let key = &structure.blocks[r.block as usize].row.usage_key;
            let first = match r.row {
                Some(row) => row.first_attempted,
                None => r.grade.all.first_attempted,
            };
            sub.push(SubsectionRow {
                user_id,
                usage_key: key,
                course_version: r.kept_version.as_deref().unwrap_or(version),
                values: PersistedValues {
                    earned_all: r.grade.all.earned,
                    possible_all: r.grade.all.possible,
                    earned_graded: r.grade.graded.earned,
                    possible_graded: r.grade.graded.possible,
                    first_attempted: first,
                },
                percent_graded: Some(r.grade.percent_graded(&opts.compat)),
                attempted_graded: Some(r.grade.attempted_graded()),
                hash: &r.hash,
                source: Some(r.source.as_str()),
            });
            if r.written {
                let row = r.row.expect("a written subsection has its row");
                written.push(SubsectionRow {
                    user_id,
                    usage_key: key,
                    course_version: version,
                    values: row,
                    percent_graded: None,
                    attempted_graded: None,
                    hash: &r.hash,
                    source: None,
                });
            }
        }
        course_rows.push(user_id, version, &ctx.policy.hash, &g.course, g.passed_timestamp);
    }
    if graded_run {
        let written = written.finish(course_id, false)?;
        let (courses, written_courses) = course_rows.finish(course_id)?;
        // The chunk's persisted rows as the diff reads them: dictionary columns as plain strings.
        let old_subsections = plain_strings(old_subsections)?;
        let (sd, sc) =
            compare::subsection_diffs(course_id, &written, &old_subsections, ctx.version_subsections)?;
        let (cd, cc) = compare::course_grade_diffs(course_id, &written_courses, old_courses)?;
        out.subsections = Some(sub.finish(course_id, true)?);
        out.courses = Some(courses);
        (out.subsection_diffs, out.tally.subsection_counts) = (Some(sd), sc);
        (out.course_diffs, out.tally.course_counts) = (Some(cd), cc);
    }
    Ok(out)
}

/// A course's outputs as its chunks come in, in user id order: the Parquet files being
/// encoded, the diff counts, the report text.
struct CourseSink {
    subsections: Option<CourseTableEncoder>,
    courses: Option<CourseTableEncoder>,
    subsection_diffs: Option<CourseTableEncoder>,
    course_diffs: Option<CourseTableEncoder>,
    subsection_rows: usize,
    course_rows: usize,
    tally: Tally,
}

impl CourseSink {
    fn new(opts: &RunOptions) -> Result<Self> {
        let graded = opts.rescore != Rescore::Read;
        let grades = graded && opts.outputs.grades;
        let diffs = graded && opts.outputs.diffs;
        let encoder = |on: bool, folder: &'static str, table: &'static str| {
            on.then(|| CourseTableEncoder::new(folder, table)).transpose()
        };
        Ok(Self {
            subsections: encoder(grades, "", "subsection_grades")?,
            courses: encoder(grades, "", "course_grades")?,
            subsection_diffs: encoder(diffs, "diffs", "subsection_diffs")?,
            course_diffs: encoder(diffs, "diffs", "course_grade_diffs")?,
            subsection_rows: 0,
            course_rows: 0,
            tally: Tally::default(),
        })
    }

    fn absorb(&mut self, chunks: Vec<ChunkOut>) -> Result<()> {
        for c in chunks {
            for (batch, encoder, rows) in [
                (&c.subsections, &mut self.subsections, Some(&mut self.subsection_rows)),
                (&c.courses, &mut self.courses, Some(&mut self.course_rows)),
                (&c.subsection_diffs, &mut self.subsection_diffs, None),
                (&c.course_diffs, &mut self.course_diffs, None),
            ] {
                let Some(batch) = batch else { continue };
                if let Some(rows) = rows {
                    *rows += batch.num_rows();
                }
                if let Some(e) = encoder {
                    e.write(batch)?;
                }
            }
            self.tally.add(c.tally);
        }
        Ok(())
    }

    fn tables(&mut self) -> Result<Vec<EncodedTable>> {
        let encoders =
            [&mut self.subsections, &mut self.courses, &mut self.subsection_diffs, &mut self.course_diffs];
        let mut out = Vec::new();
        for e in encoders {
            if let Some(t) = e.take().map(CourseTableEncoder::finish).transpose()?.flatten() {
                out.push(t);
            }
        }
        Ok(out)
    }
}

/// The process's resident memory in MiB, where the OS tells it (Linux), for the debug logs of
/// the stages: what memory a course takes, without a profiler. Not read unless those logs are
/// on.
fn resident_mb() -> Option<u64> {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return None;
    }
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096 / (1024 * 1024))
}

/// Batches with every dictionary-encoded column (as the reader returns the columns of
/// [`super::dictionary_for`]) decoded to plain `Utf8`, the schema's metadata kept.
fn plain_strings(batches: &[RecordBatch]) -> Result<Vec<RecordBatch>> {
    use arrow::datatypes::{DataType, Field, Schema};
    batches
        .iter()
        .map(|b| {
            if !b.schema().fields().iter().any(|f| matches!(f.data_type(), DataType::Dictionary(_, _))) {
                return Ok(b.clone());
            }
            let mut fields: Vec<Field> = Vec::with_capacity(b.num_columns());
            let mut columns: Vec<ArrayRef> = Vec::with_capacity(b.num_columns());
            for (f, c) in b.schema().fields().iter().zip(b.columns()) {
                if matches!(f.data_type(), DataType::Dictionary(_, _)) {
                    columns.push(arrow::compute::cast(c, &DataType::Utf8)?);
                    fields.push(f.as_ref().clone().with_data_type(DataType::Utf8));
                } else {
                    columns.push(c.clone());
                    fields.push(f.as_ref().clone());
                }
            }
            let schema = Schema::new_with_metadata(fields, b.schema().metadata().clone());
            Ok(RecordBatch::try_new(Arc::new(schema), columns)?)
        })
        .collect()
}

/// Split persisted rows by learner chunk: chunk `k` gets the rows whose `user_id` is at least
/// `starts[k]` and below `starts[k + 1]` (`starts[0]` is `i64::MIN`), so every key of the
/// course is diffed in exactly one chunk. Row order is kept within each chunk.
fn split_by_user(batches: Vec<RecordBatch>, starts: &[i64]) -> Result<Vec<Vec<RecordBatch>>> {
    use arrow::array::{AsArray, UInt32Array};
    use arrow::datatypes::Int64Type;
    let mut out: Vec<Vec<RecordBatch>> = vec![Vec::new(); starts.len()];
    for batch in batches {
        let users = batch.column_by_name("user_id").and_then(|c| c.as_primitive_opt::<Int64Type>());
        let Some(users) = users.filter(|_| starts.len() > 1) else {
            // One chunk, or a batch the diff will reject with its own message.
            out[0].push(batch);
            continue;
        };
        let mut rows: Vec<Vec<u32>> = vec![Vec::new(); starts.len()];
        for (i, u) in users.iter().enumerate() {
            let k = starts.partition_point(|&s| s <= u.unwrap_or(i64::MIN)).saturating_sub(1);
            rows[k].push(u32::try_from(i).context("batch too large")?);
        }
        for (k, rows) in rows.into_iter().enumerate() {
            if rows.len() == batch.num_rows() {
                out[k].push(batch.clone());
            } else if !rows.is_empty() {
                out[k].push(arrow::compute::take_record_batch(&batch, &UInt32Array::from(rows))?);
            }
        }
    }
    Ok(out)
}

/// Grade one course. `tables` hold only this course's rows; they are dropped once loaded,
/// except the persisted grades, which the diff reads, chunk by chunk.
pub fn grade_course(
    course_id: &str,
    mut tables: CourseTables,
    globals: &Globals,
    opts: &RunOptions,
) -> Result<CourseOutput> {
    let t0 = std::time::Instant::now();
    let rss_read = resident_mb();
    let loaded = load(course_id, &tables, globals, opts)?;
    let load_s = t0.elapsed().as_secs_f64();
    let rss_loaded = resident_mb();
    let rows_read: BTreeMap<String, usize> = tables.iter().map(|(t, b)| (t.to_string(), rows(b))).collect();
    let old_subsections = tables.remove("persistent_subsection_grades").unwrap_or_default();
    let old_course_grades = tables.remove("persistent_course_grades").unwrap_or_default();
    drop(tables);
    let Loaded {
        structure,
        policy,
        policy_row,
        published_at,
        learners,
        blocks,
        ignored,
        warnings,
        experiments,
        sources,
    } = loaded;
    let (structure, policy, policy_row) = (&structure, &policy, &policy_row);
    let now = opts.as_of;
    let modes = &policy_row.course_modes;

    let learner_view = learner_views(structure, &learners, modes, now);

    // Report set-up (course-wide).
    let context = GradingContext::new(structure, policy);
    let experiments: Vec<&Partition> = experiments.iter().collect();
    let report = CourseReport {
        structure,
        policy,
        context: &context,
        cohorted: policy_row.cohorted.unwrap_or(false),
        experiments: experiments.clone(),
        teams_enabled: policy_row.teams_enabled.unwrap_or(false),
        certificates: CertificateCourse {
            self_paced: policy_row.self_paced.unwrap_or(false),
            display_behavior: policy_row.certificates_display_behavior.clone(),
            certificate_available_date: policy_row.certificate_available_date,
            course_end: policy_row.course_end,
            course_modes: policy_row.course_modes.clone(),
        },
    };
    let problem_columns = report::problem_columns(structure, &context);
    let want_reports = opts.outputs.reports;
    let version_subsections: HashSet<String> = structure
        .collected_view()
        .subsections()
        .into_iter()
        .map(|b| structure.blocks[b as usize].row.usage_key.clone())
        .collect();
    let ctx = CourseCtx {
        course_id,
        structure,
        policy,
        report: &report,
        problem_columns: &problem_columns,
        blocks: &blocks,
        version_subsections: &version_subsections,
        opts,
        globals,
        sources: &sources,
    };

    // Chunks of learners by user id; the persisted rows split the same way (one empty chunk
    // for a course without learners, whose persisted rows are still diffed). A chunk's
    // learners are graded, their rows built, diffed and encoded together, so a course's
    // outputs never exist in memory as whole-course Arrow arrays, only as the compressed files
    // being encoded.
    let chunk = opts.learners_per_chunk.max(1);
    let mut ranges: Vec<std::ops::Range<usize>> =
        (0..learners.len()).step_by(chunk).map(|s| s..(s + chunk).min(learners.len())).collect();
    if ranges.is_empty() {
        ranges.push(0..0);
    }
    let starts: Vec<i64> = ranges
        .iter()
        .enumerate()
        .map(|(k, r)| if k == 0 { i64::MIN } else { learners[r.start].user_id })
        .collect();
    let old_subsections = split_by_user(old_subsections, &starts)?;
    let old_course_grades = split_by_user(old_course_grades, &starts)?;

    // Chunks are graded a window at a time, in parallel; the previous window is encoded
    // meanwhile. Memory holds two windows of rows, whatever the course's size.
    let t1 = std::time::Instant::now();
    let mut sink = CourseSink::new(opts)?;
    if want_reports {
        // Staff-named assignment types start header cells: they go through `user_text`.
        let texts = |fields: &[String]| -> Vec<String> {
            fields.iter().map(|f| report::user_text(f, opts.edx_csv_parity).into_owned()).collect()
        };
        sink.tally.course_csv.push_str(&csv_line(&texts(&report.header())));
        sink.tally.problem_csv.push_str(&csv_line(&texts(&report::problem_header(&problem_columns))));
    }
    let window = rayon::current_num_threads().max(1) * 2;
    let ids: Vec<usize> = (0..ranges.len()).collect();
    let mut pending: Vec<ChunkOut> = Vec::new();
    for group in ids.chunks(window) {
        let (absorbed, graded) = rayon::join(
            || sink.absorb(std::mem::take(&mut pending)),
            || {
                group
                    .par_iter()
                    .map_init(
                        || (Scratch::default(), HashCache::default()),
                        |state, &k| {
                            let r = ranges[k].clone();
                            let old = (old_subsections[k].as_slice(), old_course_grades[k].as_slice());
                            grade_chunk(&ctx, &learners[r.clone()], &learner_view[r], old, state)
                        },
                    )
                    .collect::<Result<Vec<_>>>()
            },
        );
        absorbed?;
        pending = graded?;
    }
    sink.absorb(pending)?;
    let tables = sink.tables()?;
    tracing::debug!(
        course_id,
        load_s,
        grade_s = t1.elapsed().as_secs_f64(),
        rss_read_mb = rss_read,
        rss_loaded_mb = rss_loaded,
        rss_graded_mb = resident_mb(),
        "course grading stages"
    );
    let learners_n = learners.len();
    drop(learner_view);
    drop(learners);
    drop(blocks);

    // Reports: the `_err` files' username, email and error text are free text: all go through
    // `user_text` (see `report::Cell`).
    let parity = opts.edx_csv_parity;
    let (subsection_rows, course_rows) = (sink.subsection_rows, sink.course_rows);
    let Tally { subsection_counts, course_counts, course_csv, problem_csv, learner_errors, problem_errors } =
        sink.tally;
    let n_errors = learner_errors.len() + problem_errors.len();
    let mut reports = Vec::new();
    if want_reports {
        reports.push((report::report_file_name(course_id, "grade_report", now), course_csv));
        reports.push((report::report_file_name(course_id, "problem_grade_report", now), problem_csv));
        if !learner_errors.is_empty() {
            let mut err = csv_line(&["Student ID", "Username", "Error"]);
            for (uid, e) in &learner_errors {
                let (username, _) = globals.users.get(uid).cloned().unwrap_or_default();
                let [username, e] = [username.as_str(), e.as_str()].map(|t| report::user_text(t, parity));
                err.push_str(&csv_line(&[uid.to_string().into(), username, e]));
            }
            reports.push((report::report_file_name(course_id, "grade_report_err", now), err));
        }
        let mut failed: Vec<&(i64, String)> = learner_errors.iter().chain(&problem_errors).collect();
        failed.sort_by_key(|(uid, _)| *uid);
        if !failed.is_empty() {
            let mut perr = csv_line(&["Student ID", "Email", "Username", "error_msg"]);
            for (uid, e) in failed {
                let (username, email) = globals.users.get(uid).cloned().unwrap_or_default();
                let msg = if e.is_empty() { "Unknown error".to_string() } else { e.clone() };
                let [email, username, msg] = [&email, &username, &msg].map(|t| report::user_text(t, parity));
                perr.push_str(&csv_line(&[uid.to_string().into(), email, username, msg]));
            }
            reports.push((report::report_file_name(course_id, "problem_grade_report_err", now), perr));
        }
    }
    Ok(CourseOutput {
        course_id: course_id.to_string(),
        course_version: structure.course_version.clone(),
        published_at,
        grading_policy_hash: policy.hash.clone(),
        learners: learners_n,
        learner_errors: n_errors,
        subsection_rows,
        course_rows,
        subsection_diffs: subsection_counts,
        course_grade_diffs: course_counts,
        tables,
        reports,
        rows_read,
        ignored_rows: ignored,
        warnings,
    })
}

/// Append a learner's course grade report line and problem grade report line, read after the
/// run; `Ok(Err)`: why edX would fail the learner in the problem report (no problem line then);
/// `Err`: a non-finite problem score, which fails the course.
#[allow(clippy::too_many_arguments)]
fn report_rows(
    ctx: &CourseCtx<'_>,
    report: &CourseReport<'_>,
    problem_columns: &[(u32, [String; 2])],
    l: &Learner,
    data: &Data<'_>,
    g: &LearnerGrade,
    view: &CourseView,
    opts: &RunOptions,
    globals: &Globals,
    course_csv: &mut String,
    problem_csv: &mut String,
) -> Result<Result<(), String>> {
    let structure = report.structure;
    let (username, email) = globals.users.get(&l.user_id).cloned().unwrap_or_default();
    let experiment_groups = report
        .experiments
        .iter()
        .map(|p| {
            let gid = l.ctx.partition_groups.iter().find(|(pid, _)| *pid == p.id).map(|(_, g)| *g)?;
            p.groups.iter().find(|(id, _)| *id == gid).map(|(_, name)| name.clone())
        })
        .collect();
    let who = ReportLearner {
        user_id: l.user_id,
        email,
        username,
        mode: l.ctx.mode.clone(),
        is_active: l.ctx.is_active,
        cohort_name: l.cohort_name.clone(),
        experiment_groups,
        team_name: l.team_name.clone(),
        id_verified: globals.verified.contains(&l.user_id),
        allowlisted: l.allowlisted,
        certificate: l.certificate.clone(),
    };
    let absent_reads_zero = opts.assume_zero_if_absent;
    let (course_grade, after) = if opts.rescore == Rescore::Read {
        let grade = match &l.course_row {
            Some((percent, letter, _)) => {
                ReadCourseGrade::Persisted { percent: *percent, letter_grade: letter.clone() }
            }
            // Before Olive with the switch off, a missing course grade is computed on read.
            None if !absent_reads_zero => ReadCourseGrade::Persisted {
                percent: g.course.percent,
                letter_grade: g.course.letter_grade.clone().unwrap_or_default(),
            },
            None => ReadCourseGrade::Zero,
        };
        (grade, None)
    } else {
        let grade = ReadCourseGrade::Persisted {
            percent: g.course.percent,
            letter_grade: g.course.letter_grade.clone().unwrap_or_default(),
        };
        let mut rows = FxHashMap::default();
        let mut blocks = FxHashMap::default();
        for r in &g.subsections {
            let ov = data.persisted(r.block).and_then(|(_, o)| o);
            if let Some(row) = r.row {
                rows.insert(r.block, (row, ov));
            }
            if let (true, Some(records)) = (r.written, &r.visible_blocks) {
                blocks.insert(r.block, records.as_slice());
            }
        }
        (grade, Some(AfterRun { before: data, rows, blocks }))
    };
    // What edX's report reads back: this run's rows, or the persisted ones (`read`).
    let stored: &dyn LearnerData = match &after {
        Some(a) => a,
        None => data,
    };
    // `CourseGrade.subsection_grade` reads a persisted row whether or not the learner can see
    // the subsection now; without a row the cell is a zero grade, or before Olive with the
    // switch off the grade computed on read.
    let lookup = |b: u32| match stored.persisted(b) {
        Some((row, ov)) => Some(SubsectionGrade::read(row, ov)),
        None if !absent_reads_zero => g.subsections.iter().find(|r| r.block == b).map(|r| r.grade),
        None => None,
    };
    let cells = report.row(&who, &course_grade, lookup, &opts.compat, opts.as_of);
    report::push_csv_cells(course_csv, &cells, opts.edx_csv_parity);
    let is_zero = matches!(course_grade, ReadCourseGrade::Zero);
    let scores = match read_problem_scores(structure, view, is_zero, absent_reads_zero, stored) {
        Ok(s) => s,
        Err(e) => return Ok(Err(data.learner.explain(e))),
    };
    if !scores.values().all(|s| s.earned.is_finite() && s.possible.is_finite()) {
        return Err(ctx.check().non_finite_problem_score(data, &scores));
    }
    let pcells = report::problem_row(&who, &course_grade, problem_columns, |b| scores.get(&b).copied());
    report::push_csv_cells(problem_csv, &pcells, opts.edx_csv_parity);
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{AsArray, Int64Array, StringArray};
    use arrow::datatypes::Int64Type;

    fn batch(users: &[Option<i64>]) -> RecordBatch {
        let tags: Vec<String> = (0..users.len()).map(|i| format!("r{i}")).collect();
        RecordBatch::try_from_iter([
            ("user_id", Arc::new(Int64Array::from(users.to_vec())) as ArrayRef),
            ("tag", Arc::new(StringArray::from(tags)) as ArrayRef),
        ])
        .unwrap()
    }

    fn users(chunk: &[RecordBatch]) -> Vec<Option<i64>> {
        chunk
            .iter()
            .flat_map(|b| b.column(0).as_primitive::<Int64Type>().iter().collect::<Vec<_>>())
            .collect()
    }

    #[test]
    fn split_by_user_puts_every_row_in_the_chunk_of_its_user_id_range() {
        // Chunks start at learners 10, 20 and 30; users 5 and 25 are not enrolled.
        let starts = [i64::MIN, 20, 30];
        let input = vec![batch(&[Some(30), Some(5), Some(10), Some(25), None]), batch(&[Some(19), Some(99)])];
        let out = split_by_user(input, &starts).unwrap();
        assert_eq!(out.len(), 3);
        assert_eq!(users(&out[0]), [Some(5), Some(10), None, Some(19)], "row order is kept");
        assert_eq!(users(&out[1]), [Some(25)]);
        assert_eq!(users(&out[2]), [Some(30), Some(99)]);
        // The other columns follow their rows.
        let tags: Vec<&str> =
            out[2].iter().flat_map(|b| b.column(1).as_string::<i32>().iter().flatten()).collect();
        assert_eq!(tags, ["r0", "r1"]);
        // One chunk: batches are passed through whole.
        let one = split_by_user(vec![batch(&[Some(3), Some(1)])], &[i64::MIN]).unwrap();
        assert_eq!(users(&one[0]), [Some(3), Some(1)]);
    }
}
