//! One course of `regrade backfill`: the rows edX's forced compute would write for every
//! enrolled learner (active or not) whose persisted rows are missing for the graded
//! version, and what the missing rows cost its learners ([`Readiness`]).
//!
//! For each learner, the subsections of the learner's structure without a persisted row are
//! missing, and so is the course grade when it has no row. A learner with anything missing
//! is graded as `compute_grades` does it (`update(force_update_subsections=True)`, see
//! [`Rescore::Recompute`]); only the missing rows are kept for the backfill:
//!
//! * `grades_persistentsubsectiongrade`: every missing subsection, attempted or not (a forced
//!   update writes unattempted ones too), with `first_attempted` from the scores,
//!   `subtree_edited_timestamp` of the subsection and the graded `course_version`;
//! * `grades_visibleblocks`: the visible-block lists of those rows whose hash the course's
//!   `visible_blocks` table does not hold yet (each once);
//! * `grades_persistentcoursegrade`: the forced course grade, with the policy hash, the course
//!   block's `subtree_edited_on`, and `passed_timestamp` = the run's time when it passes.
//!
//! `created` and `modified` are the run's `as_of`. Existing rows are never part of the
//! backfill: they are what edX reads already, with or without the switch.
//!
//! Readiness ([`Readiness`]): per learner with missing rows, the displayed course grade with
//! missing rows computed and read as zero ([`crate::grade::absent`]).

use std::collections::{BTreeMap, HashSet};

use anyhow::{bail, Result};
use arrow::array::RecordBatch;
use rayon::prelude::*;
use serde::Serialize;

use super::chunk::GradeSettings;
use super::manifest::CourseSummary;
use super::options::Settings;
use super::plan::CoursePlan;
use super::views::{learner_views, HashCache};
use crate::grade::absent::switch_impact;
use crate::grade::graders::Scratch;
use crate::grade::hash::visible_blocks_json;
use crate::grade::learner::{block_records, grade_learner, Rescore, ViewPlan};
use crate::grade::policy::GradingPolicy;
use crate::grade::scores::BlockRecord;
use crate::grade::subsection::PersistedValues;
use crate::load::finite::Check;
use crate::load::learner::{Data, Learner, VisibleBlocks};
use crate::load::{self, CourseTables, Globals, Loaded, Warning};
use crate::model::structure::CourseStructure;
use crate::py::time::Timestamp;
use crate::write::backfill::{CourseColumns, SubsectionColumns, VisibleBlocksColumns};

/// How ready one course is, and what the backfill inserts.
///
/// What the missing rows cost depends on the release profile (`crate::grade::compat`):
///
/// * before Olive with `grades.assume_zero_grade_if_absent` off, missing rows are computed
///   on read, so nothing is wrong yet: `grade_would_change` and `would_lose_pass` say what
///   turning the switch on before the backfill would do;
/// * from Olive on (or with the switch on), a missing row already reads as zero:
///   `wrong_grade_today` counts learners whose displayed course grade today differs from the
///   one the backfill restores, `pass_restored` those who do not pass today and pass once
///   backfilled.
///
/// The pair that does not apply is `None` (empty in `readiness.csv`, null in the manifest).
#[derive(Debug, Clone, Copy, Default, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Readiness {
    /// Enrolled learners, active or not.
    pub learners: usize,
    /// Learners with at least one missing row (subsection or course grade).
    pub learners_missing_rows: usize,
    /// Learners without a course grade row.
    pub learners_missing_course_grade: usize,
    /// Learners with at least one subsection of their structure without a row.
    pub learners_missing_subsection_grades: usize,
    /// Before Olive, switch off: learners whose displayed course grade (percent or letter)
    /// would change if the switch were turned on now, before the backfill.
    pub grade_would_change: Option<usize>,
    /// Before Olive, switch off: learners passing now who would not pass once it is on.
    pub would_lose_pass: Option<usize>,
    /// Olive onwards: learners whose displayed course grade is wrong today (a zero where a
    /// row is missing) and is restored by the backfill.
    pub wrong_grade_today: Option<usize>,
    /// Olive onwards: learners who do not pass today and pass once backfilled.
    pub pass_restored: Option<usize>,
    /// Learners edX would fail to grade (a broken submission); no rows for them.
    pub learner_errors: usize,
    pub subsection_rows_to_insert: usize,
    pub visible_blocks_rows_to_insert: usize,
    pub course_grade_rows_to_insert: usize,
    /// The three above together.
    pub rows_to_insert: usize,
}

fn add_opt(a: &mut Option<usize>, b: Option<usize>) {
    if let Some(b) = b {
        *a = Some(a.unwrap_or(0) + b);
    }
}

impl Readiness {
    /// An empty readiness whose impact counts are those of the profile's meaning of a missing
    /// row (`absent_reads_zero`: Olive onwards, or the switch on).
    pub fn new(learners: usize, absent_reads_zero: bool) -> Readiness {
        let (today, switch) = if absent_reads_zero { (Some(0), None) } else { (None, Some(0)) };
        Readiness {
            learners,
            grade_would_change: switch,
            would_lose_pass: switch,
            wrong_grade_today: today,
            pass_restored: today,
            ..Readiness::default()
        }
    }

    pub fn add(&mut self, o: &Readiness) {
        self.learners += o.learners;
        self.learners_missing_rows += o.learners_missing_rows;
        self.learners_missing_course_grade += o.learners_missing_course_grade;
        self.learners_missing_subsection_grades += o.learners_missing_subsection_grades;
        add_opt(&mut self.grade_would_change, o.grade_would_change);
        add_opt(&mut self.would_lose_pass, o.would_lose_pass);
        add_opt(&mut self.wrong_grade_today, o.wrong_grade_today);
        add_opt(&mut self.pass_restored, o.pass_restored);
        self.learner_errors += o.learner_errors;
        self.subsection_rows_to_insert += o.subsection_rows_to_insert;
        self.visible_blocks_rows_to_insert += o.visible_blocks_rows_to_insert;
        self.course_grade_rows_to_insert += o.course_grade_rows_to_insert;
        self.rows_to_insert += o.rows_to_insert;
    }

    /// Counts one learner's impact: `changes`, the displayed grade differs with and without
    /// the missing rows; `pass`, the learner passes with them and not without.
    fn impact(&mut self, changes: bool, pass: bool) {
        for (count, hit) in [
            (&mut self.grade_would_change, changes),
            (&mut self.would_lose_pass, pass),
            (&mut self.wrong_grade_today, changes),
            (&mut self.pass_restored, pass),
        ] {
            if let Some(n) = count {
                *n += usize::from(hit);
            }
        }
    }

    /// The columns of `readiness.csv`, after `course_id` and `course_version`.
    pub(crate) const CSV_COLUMNS: [&'static str; 13] = [
        "learners",
        "learners_missing_rows",
        "learners_missing_course_grade",
        "learners_missing_subsection_grades",
        "grade_would_change",
        "would_lose_pass",
        "wrong_grade_today",
        "pass_restored",
        "learner_errors",
        "subsection_rows_to_insert",
        "visible_blocks_rows_to_insert",
        "course_grade_rows_to_insert",
        "rows_to_insert",
    ];

    /// The cells of `readiness.csv` (empty where a count does not apply).
    pub(crate) fn csv_values(&self) -> [String; 13] {
        let n = |v: usize| v.to_string();
        let o = |v: Option<usize>| v.map(|v| v.to_string()).unwrap_or_default();
        [
            n(self.learners),
            n(self.learners_missing_rows),
            n(self.learners_missing_course_grade),
            n(self.learners_missing_subsection_grades),
            o(self.grade_would_change),
            o(self.would_lose_pass),
            o(self.wrong_grade_today),
            o(self.pass_restored),
            n(self.learner_errors),
            n(self.subsection_rows_to_insert),
            n(self.visible_blocks_rows_to_insert),
            n(self.course_grade_rows_to_insert),
            n(self.rows_to_insert),
        ]
    }
}

/// What backfilling one course produced.
pub(crate) struct BackfillOutput {
    pub course_id: String,
    pub course_version: String,
    pub published_at: Option<Timestamp>,
    pub grading_policy_hash: String,
    pub readiness: Readiness,
    /// `backfill_grades_visibleblocks`, `backfill_grades_persistentsubsectiongrade`,
    /// `backfill_grades_persistentcoursegrade` rows (output schemas), in that (load) order.
    pub visible_blocks: RecordBatch,
    pub subsection_grades: RecordBatch,
    pub course_grades: RecordBatch,
    pub rows_read: BTreeMap<String, usize>,
    pub ignored_rows: BTreeMap<String, usize>,
    pub warnings: BTreeMap<String, Warning>,
    /// The partitions appended into this one.
    pub partitions: usize,
}

impl BackfillOutput {
    /// Append the next partition of the course (in user id order).
    pub(crate) fn append(&mut self, next: BackfillOutput) -> Result<()> {
        let concat = |a: &RecordBatch, b: &RecordBatch| arrow::compute::concat_batches(&a.schema(), [a, b]);
        self.visible_blocks = concat(&self.visible_blocks, &next.visible_blocks)?;
        self.subsection_grades = concat(&self.subsection_grades, &next.subsection_grades)?;
        self.course_grades = concat(&self.course_grades, &next.course_grades)?;
        self.readiness.add(&next.readiness);
        load::merge_rows_read(&mut self.rows_read, next.rows_read, false);
        for (t, n) in next.ignored_rows {
            *self.ignored_rows.entry(t).or_default() += n;
        }
        load::merge_warnings(&mut self.warnings, next.warnings, false);
        self.partitions += next.partitions;
        Ok(())
    }

    /// What the manifest says of the course.
    pub(crate) fn summary(&self, seconds: f64) -> CourseSummary {
        let r = self.readiness;
        CourseSummary {
            course_id: self.course_id.clone(),
            course_version: self.course_version.clone(),
            published_at: self.published_at.map(crate::py::time::fmt_time),
            grading_policy_hash: self.grading_policy_hash.clone(),
            learners: r.learners,
            learner_errors: r.learner_errors,
            subsection_rows: r.subsection_rows_to_insert,
            course_rows: r.course_grade_rows_to_insert,
            subsection_diffs: None,
            course_grade_diffs: None,
            readiness: Some(r),
            rows_read: self.rows_read.clone(),
            ignored_rows: self.ignored_rows.clone(),
            warnings: self.warnings.clone(),
            partitions: self.partitions,
            apply: None,
            grades_frozen: false,
            seconds,
        }
    }

    /// The three tables with their MySQL layout, in load order.
    pub(crate) fn tables(&self) -> [(crate::write::mysql::MysqlTable, &RecordBatch); 3] {
        use crate::write::mysql::{COURSE_GRADES, SUBSECTION_GRADES, VISIBLE_BLOCKS};
        [
            (VISIBLE_BLOCKS, &self.visible_blocks),
            (SUBSECTION_GRADES, &self.subsection_grades),
            (COURSE_GRADES, &self.course_grades),
        ]
    }
}

/// One learner's share of the backfill.
#[derive(Default)]
struct LearnerBackfill {
    /// (subsection, row, visible-blocks hash, the records when the hash is new).
    subsections: Vec<(u32, PersistedValues, String, Option<Vec<BlockRecord>>)>,
    /// (percent, letter, passed_timestamp).
    course: Option<(f64, String, Option<Timestamp>)>,
    missing_subsections: bool,
    grade_changes: bool,
    loses_pass: bool,
    error: bool,
}

/// What every learner of a course reads.
struct CourseCtx<'a> {
    course_id: &'a str,
    structure: &'a CourseStructure,
    policy: &'a GradingPolicy,
    blocks: &'a VisibleBlocks,
    check: Check<'a>,
    grading: &'a GradeSettings,
}

/// Backfill one partition of a course. `tables` hold only this course's rows (of the
/// partition's learners); `seen`: the visible-blocks hashes earlier partitions of the course
/// already backfill.
pub(crate) fn backfill_course(
    course: &CoursePlan,
    tables: CourseTables,
    (globals, settings): (&Globals, &Settings),
    seen: &mut HashSet<String>,
) -> Result<BackfillOutput> {
    let course_id = course.course_id.as_str();
    let loaded = load::load(course_id, &course.version, &tables, globals, &settings.load())?;
    let rows_read: BTreeMap<String, usize> =
        tables.iter().map(|(t, b)| (t.to_string(), load::rows(b))).collect();
    drop(tables);
    let Loaded { structure, policy, policy_row, learners, blocks, ignored, warnings, sources, .. } = loaded;
    let (structure, policy, grading) = (&structure, &policy, &settings.grading);
    let views = learner_views(structure, &learners, &policy_row.course_modes, grading.as_of);
    let check = Check { course_id, structure, compat: &grading.compat, sources: &sources, blocks: &blocks };
    let ctx = CourseCtx { course_id, structure, policy, blocks: &blocks, check, grading };
    let per_learner: Vec<Option<LearnerBackfill>> = learners
        .par_iter()
        .zip(views.par_iter())
        .map_init(
            || (Scratch::default(), HashCache::default()),
            |state, (l, v)| backfill_learner(&ctx, l, &v.1, state),
        )
        .collect::<Result<_>>()?;
    let mut out = assemble(&ctx, &learners, per_learner, seen)?;
    out.published_at = course.published_at;
    out.rows_read = rows_read;
    out.ignored_rows = ignored;
    out.warnings = warnings;
    Ok(out)
}

/// A learner's missing rows as edX's forced compute would write them, and what they cost
/// the learner; `None` when nothing is missing.
fn backfill_learner(
    ctx: &CourseCtx<'_>,
    l: &Learner,
    plan: &ViewPlan,
    (scratch, cache): &mut (Scratch, HashCache),
) -> Result<Option<LearnerBackfill>> {
    let (structure, policy, compat) = (ctx.structure, ctx.policy, &ctx.grading.compat);
    let missing: HashSet<u32> =
        plan.subsections.iter().map(|(s, _)| *s).filter(|s| !l.persisted.contains(*s)).collect();
    let has_course_row = l.course_row.is_some();
    if missing.is_empty() && has_course_row {
        return Ok(None);
    }
    let data = Data { learner: l, blocks: ctx.blocks };
    let mut out = LearnerBackfill { missing_subsections: !missing.is_empty(), ..LearnerBackfill::default() };
    let forced = grade_learner(structure, plan, policy, compat, Rescore::Recompute, &data, scratch);
    let impact = switch_impact(structure, plan, policy, compat, &data, has_course_row, scratch);
    let (forced, impact) = match (forced, impact) {
        (Ok(f), Ok(i)) => (f, i),
        _ => {
            out.error = true;
            return Ok(Some(out));
        }
    };
    // A non-finite grade fails the course, naming the row that caused it.
    if !forced.is_finite(compat) {
        return Err(ctx.check.non_finite_grade(&data, plan, &forced));
    }
    if ![impact.before.percent, impact.after.percent].iter().all(|p| p.is_finite()) {
        return Err(ctx.check.non_finite_displayed(&data, plan));
    }
    out.grade_changes = impact.grade_changes();
    out.loses_pass = impact.loses_pass();
    for r in &forced.subsections {
        if !missing.contains(&r.block) {
            continue;
        }
        let row = r.row.expect("a forced update writes every subsection");
        let scored = forced.visible_blocks(r).unwrap_or_default();
        let hash = cache.hash(ctx.course_id, ctx.structure, scored).to_string();
        let new = (!ctx.blocks.known.contains(&hash)).then(|| block_records(ctx.structure, scored));
        out.subsections.push((r.block, row, hash, new));
    }
    if !has_course_row {
        let passed_at =
            crate::grade::course::passed_timestamp(None, forced.course.is_passed(), ctx.grading.as_of);
        out.course = Some((forced.course.percent, forced.course.letter_column().to_string(), passed_at));
    }
    Ok(Some(out))
}

/// The backfill's tables and readiness, in user id order; each new visible-blocks list once,
/// where first needed. A value MySQL cannot store fails the course.
fn assemble(
    ctx: &CourseCtx<'_>,
    learners: &[Learner],
    per_learner: Vec<Option<LearnerBackfill>>,
    seen: &mut HashSet<String>,
) -> Result<BackfillOutput> {
    let (course_id, structure, now) = (ctx.course_id, ctx.structure, ctx.grading.as_of);
    let mut r = Readiness::new(learners.len(), ctx.grading.rules.absent_reads_zero);
    let version = structure.course_version.as_str();
    let mut vb = VisibleBlocksColumns::default();
    let mut sub = SubsectionColumns::default();
    let mut course_cols = CourseColumns::default();
    let course_edited = structure.blocks[structure.root as usize].row.subtree_edited_on;
    for (l, b) in learners.iter().zip(per_learner) {
        let Some(b) = b else { continue };
        r.learners_missing_rows += 1;
        r.learners_missing_course_grade += usize::from(l.course_row.is_none());
        r.learners_missing_subsection_grades += usize::from(b.missing_subsections);
        if b.error {
            r.learner_errors += 1;
            continue;
        }
        r.impact(b.grade_changes, b.loses_pass);
        for (block, row, hash, records) in b.subsections {
            if let Some(records) = records {
                if seen.insert(hash.clone()) {
                    vb.push(&visible_blocks_json(course_id, &records), &hash);
                }
            }
            let key = &structure.blocks[block as usize].row.usage_key;
            let edited = structure.blocks[block as usize].row.subtree_edited_on;
            for (what, x) in [
                ("earned_all", row.earned_all),
                ("possible_all", row.possible_all),
                ("earned_graded", row.earned_graded),
                ("possible_graded", row.possible_graded),
            ] {
                if !x.is_finite() {
                    bail!(
                        "{course_id}: user_id {}, usage_key {key}: the computed {what} is {x}, which MySQL \
                         cannot store; check the learner's studentmodule and submissions scores",
                        l.user_id
                    );
                }
            }
            sub.push(l.user_id, key, edited, version, &row, &hash);
        }
        if let Some((percent, letter, passed_at)) = b.course {
            if !percent.is_finite() {
                bail!(
                    "{course_id}: user_id {}: the computed percent_grade is {percent}, which MySQL cannot \
                     store; check the learner's studentmodule and submissions scores",
                    l.user_id
                );
            }
            course_cols.push(l.user_id, percent, letter, passed_at);
        }
    }
    r.subsection_rows_to_insert = sub.len();
    r.visible_blocks_rows_to_insert = vb.len();
    r.course_grade_rows_to_insert = course_cols.len();
    r.rows_to_insert =
        r.subsection_rows_to_insert + r.visible_blocks_rows_to_insert + r.course_grade_rows_to_insert;
    let policy_hash = &ctx.policy.hash;
    Ok(BackfillOutput {
        course_id: course_id.to_string(),
        course_version: version.to_string(),
        published_at: None,
        grading_policy_hash: policy_hash.clone(),
        readiness: r,
        visible_blocks: vb.finish(course_id)?,
        subsection_grades: sub.finish(course_id, now)?,
        course_grades: course_cols.finish(course_id, version, policy_hash, course_edited, now)?,
        rows_read: BTreeMap::new(),
        ignored_rows: BTreeMap::new(),
        warnings: BTreeMap::new(),
        partitions: 1,
    })
}
