//! The persisted grade tables of a generated course: `persistent_subsection_grades`,
//! `visible_blocks`, `subsection_grade_overrides` and `persistent_course_grades`.
//!
//! Grades are computed with the real grading core (`crate::grade`), so most persisted rows
//! are exactly what edX would have stored, and a recompute reproduces them. Some are made
//! to differ in the ways production data does:
//!
//! * **missing**: edX stores a subsection row only once it was attempted (unless a forced
//!   recompute ran); some learners have no rows at all, some have subsection rows but no
//!   course row;
//! * **stale**: some learners were last graded under the previous published version (other
//!   weights, other problems), and carry that version's id and visible blocks;
//! * **rescored**: about 6% of rows hold more or fewer earned points than a recompute
//!   gives (scores rescored since), so only-if-higher keeps some rows and replaces others;
//! * **overridden**: about 1% of rows (and always the course's first row) get a proctoring
//!   or gradebook override, some with NULL fields (the row's value applies), and the course
//!   grade is then recomputed from the persisted rows, as edX does after an override.
//!
//! The learners' studentmodule rows include problems viewed without an answer (grade NULL),
//! some with a `max_grade` that differs from today's max score.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use anyhow::{Context, Result};

use super::course::{Course, Version, DAY, STREAM_PERSISTED};
use super::learners::LearnerOutcome;
use super::rng::Rng;
use super::table::{TableBuilder, V};
use crate::grade::compat::Compat;
use crate::grade::course::{passed_timestamp, CourseGrade};
use crate::grade::graders::Scratch;
use crate::grade::hash::{visible_blocks_hash, visible_blocks_json};
use crate::grade::learner::{block_records, grade_learner, LearnerData, Rescore, SubsectionResult, ViewPlan};
use crate::grade::policy::GradingPolicy;
use crate::grade::scores::ProblemScore;
use crate::grade::scores::{CsmScore, SubmissionScore};
use crate::grade::subsection::{Override, PersistedValues};
use crate::model::learner::{LearnerContext, ViewKey};
use crate::model::library::StoredSelection;
use crate::model::structure::{parse_user_partitions, CourseStructure};

/// The moment the generated grades were computed: 2026-01-01T00:00:00Z. Subsections
/// starting later are unreleased.
pub(crate) const GRADED_AT: i64 = 1_767_225_600_000_000;

/// Builders of the persisted-grade tables of one course.
pub(crate) struct PersistedTables<'a> {
    pub persistent_subsection_grades: &'a mut TableBuilder,
    pub subsection_grade_overrides: &'a mut TableBuilder,
    pub persistent_course_grades: &'a mut TableBuilder,
    pub visible_blocks: &'a mut TableBuilder,
}

/// One version ready to grade with.
struct Graded<'a> {
    version: &'a Version,
    structure: CourseStructure,
    policy: GradingPolicy,
    /// Block index in this version by usage key.
    index: HashMap<&'a str, usize>,
    /// View plans by the learner's groups in the restricting partitions.
    plans: HashMap<ViewKey, Arc<ViewPlan>>,
    restricting: Vec<i64>,
}

impl<'a> Graded<'a> {
    fn new(course: &'a Course, version: &'a Version) -> Result<Self> {
        let rows = version.block_rows();
        let partitions = match &course.user_partitions {
            Some(json) => parse_user_partitions(json).map_err(anyhow::Error::msg)?,
            None => Vec::new(),
        };
        let structure = CourseStructure::build(
            &course.id,
            &version.id,
            rows,
            partitions,
            &course.modes,
            course.course_start,
        )
        .with_context(|| format!("generated course {} version {}", course.id, version.id))?;
        let policy = GradingPolicy::parse(&version.policy.json())
            .with_context(|| format!("generated grading policy of {}", course.id))?;
        let index = version.blocks.iter().enumerate().map(|(i, b)| (b.usage_key.as_str(), i)).collect();
        let restricting = structure.restricting_partitions();
        Ok(Graded { version, structure, policy, index, plans: HashMap::new(), restricting })
    }

    fn plan(&mut self, ctx: &LearnerContext, modes: &[String]) -> Arc<ViewPlan> {
        let key = ctx.view_key(&self.structure, modes, &self.restricting);
        let structure = &self.structure;
        if let Some(plan) = self.plans.get(&key) {
            return plan.clone();
        }
        let view = structure.library_view(GRADED_AT, |pid| ctx.group_of(structure, modes, pid), &key.1);
        let plan = Arc::new(ViewPlan::new(structure, &view));
        self.plans.insert(key, plan.clone());
        plan
    }
}

/// A learner's scores seen from one version (scores are keyed by the latest version's
/// block indices; an older version maps through usage keys).
struct Scores<'a> {
    outcome: &'a LearnerOutcome,
    /// Block index of the grading version -> block index of the latest version.
    to_latest: Vec<Option<usize>>,
    persisted: HashMap<u32, (PersistedValues, Option<Override>)>,
}

impl LearnerData for Scores<'_> {
    fn submission(&self, block: u32) -> Option<&SubmissionScore> {
        self.to_latest[block as usize].and_then(|b| self.outcome.submissions.get(&b))
    }
    fn csm(&self, block: u32) -> Option<&CsmScore> {
        self.to_latest[block as usize].and_then(|b| self.outcome.csm.get(&b))
    }
    fn persisted(&self, subsection: u32) -> Option<(&PersistedValues, Option<&Override>)> {
        self.persisted.get(&subsection).map(|(v, o)| (v, o.as_ref()))
    }
}

/// Per-course state: the latest and previous versions, ready to grade.
pub(crate) struct CoursePersisted<'a> {
    course: &'a Course,
    latest: Graded<'a>,
    previous: Option<Graded<'a>>,
    /// Maps from each graded version's block index to the latest version's.
    latest_map: Vec<Option<usize>>,
    previous_map: Vec<Option<usize>>,
    hashes_written: HashSet<String>,
    next_grade_id: i64,
    next_course_grade_id: i64,
    scratch: Scratch,
}

impl<'a> CoursePersisted<'a> {
    pub(crate) fn new(course: &'a Course) -> Result<Self> {
        let latest = Graded::new(course, course.latest())?;
        let previous = match course.versions.len() {
            n if n >= 2 => Some(Graded::new(course, &course.versions[n - 2])?),
            _ => None,
        };
        let map = |g: &Graded<'_>| -> Vec<Option<usize>> {
            g.version.blocks.iter().map(|b| latest.index.get(b.usage_key.as_str()).copied()).collect()
        };
        let latest_map = map(&latest);
        let previous_map = previous.as_ref().map(map).unwrap_or_default();
        Ok(Self {
            course,
            latest,
            previous,
            latest_map,
            previous_map,
            hashes_written: HashSet::new(),
            next_grade_id: ((course.index as i64) + 1) << 36,
            next_course_grade_id: ((course.index as i64) + 1) << 36,
            scratch: Scratch::default(),
        })
    }

    /// The persisted rows of one learner.
    pub(crate) fn learner(
        &mut self,
        seed: u64,
        learner: &LearnerOutcome,
        out: &mut PersistedTables<'_>,
    ) -> Result<()> {
        let mut rng = Rng::new(seed, &[STREAM_PERSISTED, self.course.index as u64, learner.user_id as u64]);
        if rng.chance(0.12) {
            return Ok(()); // never graded: no rows at all
        }
        let stale = self.previous.is_some() && rng.chance(0.1);
        let forced = rng.chance(0.3); // a forced recompute stored every subsection
        let modes = self.course.modes.clone();
        let cid = self.course.id.clone();
        let latest = self.course.latest();
        let (graded, to_latest) = match (stale, self.previous.as_mut()) {
            (true, Some(prev)) => (prev, self.previous_map.clone()),
            _ => (&mut self.latest, self.latest_map.clone()),
        };
        let cohorts = self.course.content_groups.as_ref().map(|(p, _)| *p);
        let ctx = learner_context(learner, latest, &graded.structure, cohorts);
        let plan = graded.plan(&ctx, &modes);
        let graded: &Graded<'_> = graded;
        let compat = Compat::newest();
        let mut data = Scores { outcome: learner, to_latest, persisted: HashMap::new() };
        let first = grade_learner(
            &graded.structure,
            &plan,
            &graded.policy,
            &compat,
            Rescore::Recompute,
            &data,
            &mut self.scratch,
        )
        .with_context(|| format!("grading a generated learner of {cid}"))?;

        // Which rows edX would hold: attempted subsections, or every one after a forced run.
        let kept: Vec<&SubsectionResult> = first
            .subsections
            .iter()
            .filter(|r| forced || r.row.is_some_and(|v| v.first_attempted.is_some()))
            .collect();
        let mut rows = LearnerRows {
            rng,
            learner,
            course_index: self.course.index,
            cid: &cid,
            graded,
            hashes_written: &mut self.hashes_written,
            next_grade_id: &mut self.next_grade_id,
            out,
        };
        let mut last_modified = learner.enrolled_at;
        for r in kept {
            let (values, ov, modified) = rows.subsection(r, first.visible_blocks(r).unwrap_or(&[]))?;
            last_modified = last_modified.max(modified);
            data.persisted.insert(r.block, (values, ov));
        }

        // The course grade edX stored last: an update that reads the persisted subsections
        // (zero where absent), as after an override or a single-problem change.
        if rows.rng.chance(0.05) {
            return Ok(()); // subsection rows but no course row
        }
        let course_grade = grade_learner(
            &graded.structure,
            &plan,
            &graded.policy,
            &compat,
            Rescore::Read,
            &data,
            &mut self.scratch,
        )
        .with_context(|| format!("grading a generated learner of {cid}"))?
        .course;
        self.next_course_grade_id += 1;
        rows.course_row(self.next_course_grade_id, &course_grade, last_modified)
    }
}

/// The learner's context for their view of the course: mode, activity, cohort content group
/// and their groups in the other partitions.
fn learner_context(
    learner: &LearnerOutcome,
    latest: &Version,
    structure: &CourseStructure,
    cohorts: Option<i64>,
) -> LearnerContext {
    // Library selections are stored by usage key; resolved against the grading version.
    let block = |b: usize| structure.index.get(latest.blocks[b].usage_key.as_str()).copied();
    let library_selections = learner
        .library
        .iter()
        .filter_map(|(lib, selected)| {
            let lib = block(*lib).filter(|l| structure.libraries.contains(l))?;
            Some(StoredSelection { block: lib, selected: selected.iter().map(|&c| block(c)).collect() })
        })
        .collect();
    LearnerContext {
        mode: learner.mode.to_string(),
        is_active: learner.is_active,
        cohort_group: learner.groups.iter().copied().find(|(p, _)| Some(*p) == cohorts),
        partition_groups: learner.groups.iter().copied().filter(|(p, _)| Some(*p) != cohorts).collect(),
        library_selections,
    }
}

/// One learner's persisted rows in the making: their random stream, the version they are
/// graded with, and the course's counters and tables the rows go to.
struct LearnerRows<'r, 't> {
    rng: Rng,
    learner: &'r LearnerOutcome,
    course_index: usize,
    cid: &'r str,
    graded: &'r Graded<'r>,
    hashes_written: &'r mut HashSet<String>,
    next_grade_id: &'r mut i64,
    out: &'r mut PersistedTables<'t>,
}

impl LearnerRows<'_, '_> {
    /// The stored row of one kept subsection (with its visible blocks, and sometimes an
    /// override): returns the row's values, its override and its modification time.
    fn subsection(
        &mut self,
        r: &SubsectionResult,
        scored: &[(u32, ProblemScore)],
    ) -> Result<(PersistedValues, Option<Override>, i64)> {
        let rng = &mut self.rng;
        let learner = self.learner;
        let cid = self.cid;
        let mut values = r.row.expect("recomputed rows are written");
        // Scores rescored since the row was stored: about 3% of rows hold more earned
        // points than a recompute gives (only-if-higher keeps those), 3% fewer.
        if values.possible_graded > 0.0 && rng.chance(0.06) {
            let earned = if rng.chance(0.5) { values.possible_graded } else { values.earned_graded * 0.5 };
            values.earned_all += earned - values.earned_graded;
            values.earned_graded = earned;
        }
        let block = &self.graded.structure.blocks[r.block as usize].row;
        let records = block_records(&self.graded.structure, scored);
        let hash = visible_blocks_hash(cid, &records);
        if self.hashes_written.insert(hash.clone()) {
            let json = visible_blocks_json(cid, &records);
            self.out.visible_blocks.row(&[V::Str(&hash), V::Str(&json), V::Str(cid)])?;
        }
        let created = values.first_attempted.unwrap_or(learner.enrolled_at) + DAY;
        let modified = created + (rng.range(0, 30) as i64) * DAY;
        *self.next_grade_id += 1;
        let id = *self.next_grade_id;
        self.out.persistent_subsection_grades.row(&[
            V::Int(id),
            V::Int(learner.user_id),
            V::Str(cid),
            V::Str(&block.usage_key),
            V::Str(&self.graded.version.id),
            V::opt_ts(block.subtree_edited_on),
            V::Float(values.earned_all),
            V::Float(values.possible_all),
            V::Float(values.earned_graded),
            V::Float(values.possible_graded),
            V::opt_ts(values.first_attempted),
            V::Str(&hash),
            V::Ts(created),
            V::Ts(modified),
        ])?;
        // About 1% of rows, and always the course's first one (small datasets get one too).
        let first_of_course = id == (((self.course_index as i64) + 1) << 36) + 1;
        let ov = if self.rng.chance(0.01) || first_of_course {
            Some(self.override_row(id, &values, modified)?)
        } else {
            None
        };
        Ok((values, ov, modified))
    }

    /// An override of subsection row `id` (proctoring or gradebook), written to its table.
    fn override_row(&mut self, id: i64, values: &PersistedValues, modified: i64) -> Result<Override> {
        let rng = &mut self.rng;
        // Override fields not given are copies of the row's values (edX's
        // `_prepare_override_params`): proctoring zeroes the earned values; the
        // gradebook sets the graded earned to full marks.
        let proctoring = rng.chance(0.5);
        let o = if rng.chance(0.3) {
            // Fields passed explicitly as None stay NULL: the row's own value applies.
            Override {
                earned_all: None,
                possible_all: rng.chance(0.5).then_some(values.possible_all),
                earned_graded: Some(if proctoring { 0.0 } else { values.possible_graded }),
                possible_graded: None,
            }
        } else if proctoring {
            Override {
                earned_all: Some(0.0),
                possible_all: Some(values.possible_all),
                earned_graded: Some(0.0),
                possible_graded: Some(values.possible_graded),
            }
        } else {
            Override {
                earned_all: Some(values.earned_all),
                possible_all: Some(values.possible_all),
                earned_graded: Some(values.possible_graded),
                possible_graded: Some(values.possible_graded),
            }
        };
        self.out.subsection_grade_overrides.row(&[
            V::Int(id),
            V::opt_float(o.earned_all),
            V::opt_float(o.possible_all),
            V::opt_float(o.earned_graded),
            V::opt_float(o.possible_graded),
            V::Str(if proctoring { "PROCTORING" } else { "GRADEBOOK" }),
            V::opt_str((!proctoring).then_some("regrade after appeal")),
            V::Ts(modified + DAY),
            V::Ts(modified + DAY),
        ])?;
        Ok(o)
    }

    /// The learner's course grade row `id`, last modified at `last_modified`.
    fn course_row(&mut self, id: i64, course_grade: &CourseGrade, last_modified: i64) -> Result<()> {
        let graded = self.graded;
        let root = &graded.structure.blocks[graded.structure.root as usize].row;
        self.out.persistent_course_grades.row(&[
            V::Int(id),
            V::Int(self.learner.user_id),
            V::Str(self.cid),
            V::Str(&graded.version.id),
            V::opt_ts(root.subtree_edited_on),
            V::Str(&graded.policy.hash),
            V::Float(course_grade.percent),
            V::Str(course_grade.letter_column()),
            V::opt_ts(passed_timestamp(None, course_grade.is_passed(), last_modified)),
            V::Ts(self.learner.enrolled_at + DAY),
            V::Ts(last_modified),
        ])?;
        Ok(())
    }
}
