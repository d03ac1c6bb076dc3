//! One learner's grades in one course, under a rescoring policy (spec §4.4, §5.6, §10).
//!
//! This is edX's `CourseGradeFactory` / `SubsectionGradeFactory` logic for one learner,
//! as a pure function of the learner's course view, scores and persisted rows:
//!
//! * [`Rescore::Recompute`]: `update(force_update_subsections=True)`, as `compute_grades`
//!   does: every subsection recomputed and written, attempted or not; the course grade
//!   uses the computed grades (re-read from the row where it has an override).
//! * [`Rescore::OnlyIfHigher`]: every subsection recomputed; a persisted row is kept unless
//!   the new graded ratio is at least that of the row *as edX reads it* (its override
//!   applied); attempted subsections are written; then the course grade is an unforced
//!   update that reads every subsection back as stored.
//! * [`Rescore::Retain`]: persisted subsection rows are kept; missing attempted ones are
//!   computed and written; the course grade reads them back as stored.
//! * [`Rescore::Read`]: the read path of the grade reports: persisted rows, nothing written.
//!
//! Where a course grade reads a subsection without a row, [`Rules::absent_reads_zero`]
//! decides between a `ZeroSubsectionGrade` (Olive onwards) and a computed grade (before
//! Olive, with `grades.assume_zero_grade_if_absent` off). Overrides apply in every mode;
//! `first_attempted` is set once.

use super::compat::Compat;
use super::course::{self, CourseGrade, GradedSubsection};
use super::graders::Scratch;
use super::policy::GradingPolicy;
use super::scores::{
    get_score, BlockRecord, ContentScore, CsmScore, InvalidSubmission, ProblemScore, SubmissionScore,
};
use super::subsection::{self, Override, PersistedValues, SubsectionGrade};
use crate::model::structure::{CourseStructure, CourseView};
use crate::py::fmt::PyNum;

/// The rescoring policy of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rescore {
    Recompute,
    OnlyIfHigher,
    Retain,
    Read,
}

/// Where a subsection grade came from (the `source` column).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    Recomputed,
    Retained,
    KeptHigher,
    /// An override replaced at least one value.
    Override,
    /// Read path only: no row, a zero grade.
    Zero,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Recomputed => "recomputed",
            Source::Retained => "retained",
            Source::KeptHigher => "kept_higher",
            Source::Override => "override",
            Source::Zero => "zero",
        }
    }
}

/// A learner's scores and persisted rows, looked up by block index.
pub trait LearnerData {
    /// The latest submissions score of a block, if any.
    fn submission(&self, block: u32) -> Option<&SubmissionScore>;
    /// The courseware_studentmodule score of a block, if any.
    fn csm(&self, block: u32) -> Option<&CsmScore>;
    /// The persisted subsection row and its override, if any.
    fn persisted(&self, subsection: u32) -> Option<(&PersistedValues, Option<&Override>)>;
    /// The persisted row's visible blocks (its `grades_visibleblocks` entry), if known.
    fn persisted_blocks(&self, _subsection: u32) -> Option<&[BlockRecord]> {
        None
    }
    /// The scores a row this run writes was graded with, by block in problem order (the
    /// row's visible blocks before they become `BlockRecord`s), if this run wrote it.
    fn written_scores(&self, _subsection: u32) -> Option<&[(u32, ProblemScore)]> {
        None
    }
}

/// The problems of each subsection in one learner view, computed once per view.
#[derive(Clone, Debug, PartialEq)]
pub struct ViewPlan {
    /// (subsection, its problems in post-order), course order, each subsection once.
    pub subsections: Vec<(u32, Vec<u32>)>,
    /// The problems of every subsection, counted once per subsection they are in.
    pub problems: usize,
}

impl ViewPlan {
    pub fn new(structure: &CourseStructure, view: &CourseView) -> ViewPlan {
        let subsections: Vec<(u32, Vec<u32>)> =
            view.subsections().into_iter().map(|s| (s, view.problems(structure, s))).collect();
        let problems = subsections.iter().map(|(_, p)| p.len()).sum();
        ViewPlan { subsections, problems }
    }
}

/// One subsection's outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct SubsectionResult {
    pub block: u32,
    /// The grade the course grade used: the row as edX reads it back (override applied,
    /// set-once `first_attempted`), or, for a forced update's row without an override, the
    /// computed grade edX keeps in memory; without a row, zero or computed (see [`Rules`]).
    pub grade: SubsectionGrade,
    pub source: Source,
    /// The persisted row after this run (None when no row exists or would be written).
    pub row: Option<PersistedValues>,
    /// Whether this run writes the row.
    pub written: bool,
    /// Where the visible blocks of a written row or of a grade without a row are in
    /// [`LearnerGrade::scored`] (None for a row kept as it is, whose blocks are the persisted
    /// ones, and on the read path, which outputs no subsection rows). Read them with
    /// [`LearnerGrade::visible_blocks`].
    pub scored: Option<std::ops::Range<u32>>,
}

/// One learner's outcome in one course.
#[derive(Clone, Debug, PartialEq)]
pub struct LearnerGrade {
    pub subsections: Vec<SubsectionResult>,
    pub course: CourseGrade,
    /// The scores the subsections were graded with, subsection after subsection in problem
    /// order, each subsection's a range of it ([`SubsectionResult::scored`]): one list per
    /// learner rather than one per subsection.
    pub scored: Vec<(u32, ProblemScore)>,
}

impl LearnerGrade {
    /// The visible blocks of a subsection's written row or of its grade without a row, in
    /// problem order: each problem's block and the score it was graded with (None for a row
    /// kept as it is and on the read path). [`block_records`] gives them as the persisted
    /// `BlockRecord`s.
    pub fn visible_blocks(&self, r: &SubsectionResult) -> Option<&[(u32, ProblemScore)]> {
        r.scored.as_ref().map(|range| slice(&self.scored, range))
    }
}

/// The rules a learner is graded under: the rescoring policy, and what a subsection without
/// a persisted row reads as when the course grade reads it (spec §4.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rules {
    pub rescore: Rescore,
    /// `ZeroSubsectionGrade` for a missing row (Olive onwards, or before Olive with the waffle
    /// switch `grades.assume_zero_grade_if_absent` on); false: computed on read, as before
    /// Olive with the switch off.
    pub absent_reads_zero: bool,
}

impl From<Rescore> for Rules {
    /// The rescoring policy under current releases: a missing row reads as zero.
    fn from(rescore: Rescore) -> Rules {
        Rules { rescore, absent_reads_zero: true }
    }
}

pub(super) fn content_score(structure: &CourseStructure, b: u32) -> ContentScore {
    let block = &structure.blocks[b as usize];
    ContentScore {
        weight: block.row.weight,
        max_score: block.row.max_score,
        explicit_graded: block.explicit_graded,
    }
}

pub(super) fn scores<D: LearnerData + ?Sized>(
    structure: &CourseStructure,
    problems: &[u32],
    data: Option<&D>,
) -> Result<Vec<(u32, ProblemScore)>, InvalidSubmission> {
    let mut out = Vec::with_capacity(problems.len());
    for &p in problems {
        let (sub, csm) = match data {
            Some(d) => (d.submission(p), d.csm(p)),
            None => (None, None),
        };
        if let Some(s) = get_score(sub, csm, None, &content_score(structure, p))? {
            out.push((p, s));
        }
    }
    Ok(out)
}

/// The learner's scores of `problems`, pushed onto `out`; returns where they are in it. Each
/// problem is scored once per learner: one scored for an earlier subsection that shares it
/// is copied from where `index` says it is in `out`.
fn learner_scores<D: LearnerData + ?Sized>(
    structure: &CourseStructure,
    problems: &[u32],
    data: &D,
    index: &mut ScoreIndex,
    out: &mut Vec<(u32, ProblemScore)>,
) -> Result<std::ops::Range<u32>, InvalidSubmission> {
    let start = out.len() as u32;
    for &p in problems {
        if let Some(at) = index.get(p) {
            out.push(out[at]);
            continue;
        }
        // A problem without a possible score is not indexed: scoring it again where a
        // subsection shares it gives `None` again.
        if let Some(s) = get_score(data.submission(p), data.csm(p), None, &content_score(structure, p))? {
            index.set(p, out.len());
            out.push((p, s));
        }
    }
    Ok(start..out.len() as u32)
}

/// Where each problem's score is in the list of the learner being graded: a dense slot per
/// block of the course, kept by a thread from learner to learner. A slot holds the learner
/// it was set for, so moving on to the next learner (or course) empties every slot at once.
#[derive(Clone, Debug, Default)]
pub struct ScoreIndex {
    learner: u32,
    /// (learner, position in the list), by block index.
    slots: Vec<(u32, u32)>,
}

impl ScoreIndex {
    /// Empty, for the next learner, in a course of `blocks` blocks.
    pub(crate) fn next_learner(&mut self, blocks: usize) {
        self.learner = self.learner.wrapping_add(1);
        if self.learner == 0 {
            self.slots.fill((0, 0));
            self.learner = 1;
        }
        if self.slots.len() < blocks {
            self.slots.resize(blocks, (0, 0));
        }
    }

    fn get(&self, block: u32) -> Option<usize> {
        let (learner, at) = self.slots[block as usize];
        (learner == self.learner).then_some(at as usize)
    }

    fn set(&mut self, block: u32, at: usize) {
        self.slots[block as usize] = (self.learner, at as u32);
    }
}

/// The `BlockRecord`s edX persists for a subsection graded with `scores` (its visible blocks).
pub fn block_records(structure: &CourseStructure, scores: &[(u32, ProblemScore)]) -> Vec<BlockRecord> {
    scores
        .iter()
        .map(|(b, s)| BlockRecord {
            locator: structure.blocks[*b as usize].row.usage_key.clone(),
            weight: s.weight,
            raw_possible: s.raw_possible.map(PyNum::Float),
            graded: s.graded,
        })
        .collect()
}

/// Grades one learner (spec §4.4, §5.6). Errors when a score makes edX fail this learner.
///
/// Two steps per subsection, as edX runs them:
///
/// 1. the policy's subsection update decides which row stands afterwards: `recompute`
///    writes every subsection (`update(force_update_subsections=True)`); `only-if-higher`
///    keeps a row whose graded ratio, read with its override applied, is above the new one,
///    and otherwise writes attempted subsections; `retain` keeps every row and writes the
///    attempted subsections that have none; `read` writes nothing. A write keeps a set
///    `first_attempted` (`update_or_create_grade`).
/// 2. the course grade reads each subsection: after a forced update, the computed grade,
///    re-read from the stored row when it has an override (`update_or_create_model`);
///    otherwise (an unforced `CourseGrade.update`, or the read path) the row as stored after
///    step 1 with its override applied, and without a row a `ZeroSubsectionGrade` (content
///    possibles, never a studentmodule `max_grade`) or, before Olive with the switch off,
///    a grade computed from the scores.
pub fn grade_learner<D: LearnerData + ?Sized>(
    structure: &CourseStructure,
    plan: &ViewPlan,
    policy: &GradingPolicy,
    compat: &Compat,
    rules: impl Into<Rules>,
    data: &D,
    scratch: &mut Scratch,
) -> Result<LearnerGrade, InvalidSubmission> {
    let rules = rules.into();
    let mut results = Vec::with_capacity(plan.subsections.len());
    let mut scored = Vec::with_capacity(plan.problems);
    let index = scratch.score_index(structure.blocks.len());
    for (sub, problems) in &plan.subsections {
        let step = Step { structure, rules, sub: *sub, problems };
        results.push(step.grade(data, index, &mut scored)?);
    }
    let graded: Vec<GradedSubsection<'_>> = results
        .iter()
        .map(|r| {
            let block = &structure.blocks[r.block as usize];
            GradedSubsection {
                location: &block.row.usage_key,
                display_name: block.row.display_name.as_deref().unwrap_or(""),
                format: block.row.format.as_deref().unwrap_or(""),
                graded: block.graded,
                graded_earned: r.grade.graded.earned,
                graded_possible: r.grade.graded.possible,
                percent_graded: r.grade.percent_graded(compat),
            }
        })
        .collect();
    let course = course::compute(policy, &graded, scratch);
    Ok(LearnerGrade { subsections: results, course, scored })
}

/// One subsection of a learner to grade under `rules`: its problems, in post-order.
struct Step<'a> {
    structure: &'a CourseStructure,
    rules: Rules,
    sub: u32,
    problems: &'a [u32],
}

impl Step<'_> {
    /// Both steps of [`grade_learner`] for the subsection. The scores it is graded with are
    /// pushed onto `scored` (the learner's list; the result holds their range), copied where
    /// `index` says a problem was scored before. Scores pushed are never taken back, so what
    /// `index` points at stays the learner's score.
    fn grade<D: LearnerData + ?Sized>(
        &self,
        data: &D,
        index: &mut ScoreIndex,
        scored: &mut Vec<(u32, ProblemScore)>,
    ) -> Result<SubsectionResult, InvalidSubmission> {
        let (structure, rules, sub, problems) = (self.structure, self.rules, self.sub, self.problems);
        let old = data.persisted(sub);
        let (old_row, ov) = (old.map(|(r, _)| *r), old.and_then(|(_, o)| o));
        let kept = |source| SubsectionResult {
            block: sub,
            grade: SubsectionGrade::read(old_row.as_ref().expect("a kept row exists"), ov),
            source,
            row: old_row,
            written: false,
            scored: None,
        };
        // Step 1: the subsection update.
        let computed = match (rules.rescore, old_row) {
            (Rescore::Read, Some(_)) => {
                return Ok(kept(if ov.is_some() { Source::Override } else { Source::Retained }))
            }
            (Rescore::Retain, Some(_)) => return Ok(kept(Source::Retained)),
            (Rescore::Read, None) => None,
            _ => Some(learner_scores(structure, problems, data, index, scored)?),
        };
        if let Some(range) = &computed {
            let created = SubsectionGrade::create(slice(scored, range).iter().map(|(_, s)| s));
            let force = rules.rescore == Rescore::Recompute;
            let lower = rules.rescore == Rescore::OnlyIfHigher
                && old.is_some_and(|(row, o)| {
                    !subsection::new_is_at_least_old(&SubsectionGrade::read(row, o), &created)
                });
            if lower {
                return Ok(kept(Source::KeptHigher));
            }
            if subsection::should_persist(&created, false, force) {
                let row = subsection::upsert(old_row.as_ref(), &created.persisted_values());
                // A forced update's course grade keeps the computed grade unless the row has an
                // override; every other path reads the stored row back.
                let grade = if force && ov.is_none() { created } else { SubsectionGrade::read(&row, ov) };
                return Ok(SubsectionResult {
                    block: sub,
                    grade,
                    source: if ov.is_some() { Source::Override } else { Source::Recomputed },
                    row: Some(row),
                    written: true,
                    scored: computed,
                });
            }
            if old_row.is_some() {
                // Not attempted now: nothing is written and the row stands.
                return Ok(kept(Source::Retained));
            }
        }
        // No row after step 1: zero, or computed on read (before Olive, switch off).
        let (grade, source, range) = if rules.absent_reads_zero {
            let start = scored.len() as u32;
            scored.extend(scores::<D>(structure, problems, None)?);
            let range = start..scored.len() as u32;
            (SubsectionGrade::zero(slice(scored, &range).iter().map(|(_, s)| s)), Source::Zero, range)
        } else {
            let range = match computed {
                Some(r) => r,
                None => learner_scores(structure, problems, data, index, scored)?,
            };
            (SubsectionGrade::create(slice(scored, &range).iter().map(|(_, s)| s)), Source::Recomputed, range)
        };
        // The read path outputs no subsection rows (reports, the readiness report, generated
        // course grades): no visible blocks.
        let visible = (rules.rescore != Rescore::Read).then_some(range);
        Ok(SubsectionResult { block: sub, grade, source, row: None, written: false, scored: visible })
    }
}

fn slice<'s>(scored: &'s [(u32, ProblemScore)], r: &std::ops::Range<u32>) -> &'s [(u32, ProblemScore)] {
    &scored[r.start as usize..r.end as usize]
}

/// A learner's problem scores by block index: a dense slot per block of the course, and
/// the blocks filled, in fill order. One per thread is reused learner after learner
/// ([`read_problem_scores_into`]), so a score is stored and looked up without hashing and
/// without allocating.
#[derive(Clone, Debug, Default)]
pub struct ProblemScores {
    slots: Vec<Option<ProblemScore>>,
    filled: Vec<u32>,
}

impl ProblemScores {
    /// Empty, with a slot for each of `blocks` blocks.
    pub(crate) fn reset(&mut self, blocks: usize) {
        for b in self.filled.drain(..) {
            self.slots[b as usize] = None;
        }
        if self.slots.len() < blocks {
            self.slots.resize(blocks, None);
        }
    }

    /// Set a block's score; a later one replaces an earlier one (edX's dict update).
    pub(crate) fn insert(&mut self, block: u32, score: ProblemScore) {
        let slot = &mut self.slots[block as usize];
        if slot.is_none() {
            self.filled.push(block);
        }
        *slot = Some(score);
    }

    pub fn get(&self, block: &u32) -> Option<&ProblemScore> {
        self.slots.get(*block as usize).and_then(Option::as_ref)
    }

    /// The scores held, by block, in the order their blocks were first filled.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &ProblemScore)> + '_ {
        self.filled.iter().filter_map(|&b| Some((b, self.slots[b as usize].as_ref()?)))
    }

    pub fn values(&self) -> impl Iterator<Item = &ProblemScore> + '_ {
        self.iter().map(|(_, s)| s)
    }

    pub fn len(&self) -> usize {
        self.filled.len()
    }

    pub fn is_empty(&self) -> bool {
        self.filled.is_empty()
    }
}

/// `course_grade.problem_scores` of a *read* course grade, for the problem grade report:
/// a persisted subsection re-scores its persisted visible blocks that are still in the
/// learner's structure against current CSM and submissions; a zero one (no row, or a zero
/// course grade) scores the learner's problems from content only, and a subsection without
/// a row that is computed on read (`absent_reads_zero` false: before Olive, switch off)
/// from the learner's scores. Later subsections overwrite earlier ones for a shared block,
/// as edX's dict update does.
///
/// A row this run wrote ([`LearnerData::written_scores`]) is not re-scored: re-scoring its
/// blocks against the data it was just graded from gives back the scores it was graded with
/// (its records hold their weight, possible and graded flag; the submissions and
/// studentmodule rows are the same), so those are taken as they are.
pub fn read_problem_scores<D: LearnerData + ?Sized>(
    structure: &CourseStructure,
    view: &CourseView,
    course_is_zero: bool,
    absent_reads_zero: bool,
    data: &D,
) -> Result<ProblemScores, InvalidSubmission> {
    let mut out = ProblemScores::default();
    read_problem_scores_into(structure, view, course_is_zero, absent_reads_zero, data, &mut out)?;
    Ok(out)
}

/// [`read_problem_scores`] into a reused `out` (emptied first).
pub fn read_problem_scores_into<D: LearnerData + ?Sized>(
    structure: &CourseStructure,
    view: &CourseView,
    course_is_zero: bool,
    absent_reads_zero: bool,
    data: &D,
    out: &mut ProblemScores,
) -> Result<(), InvalidSubmission> {
    out.reset(structure.blocks.len());
    for (_, subs) in view.chapters() {
        for sub in subs {
            if let Some(scored) = data.written_scores(sub).filter(|_| !course_is_zero) {
                for &(b, s) in scored {
                    out.insert(b, s);
                }
                continue;
            }
            let records =
                if course_is_zero { None } else { data.persisted(sub).map(|_| data.persisted_blocks(sub)) };
            match records {
                Some(records) => {
                    for record in records.unwrap_or(&[]) {
                        let Some(&b) = structure.index.get(&record.locator) else { continue };
                        if !view.present[b as usize] {
                            continue;
                        }
                        let content = content_score(structure, b);
                        if let Some(s) = get_score(data.submission(b), data.csm(b), Some(record), &content)? {
                            out.insert(b, s);
                        }
                    }
                }
                None => {
                    let scored = (!course_is_zero && !absent_reads_zero).then_some(data);
                    for (b, s) in scores(structure, &view.problems(structure, sub), scored)? {
                        out.insert(b, s);
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(earned: f64) -> ProblemScore {
        ProblemScore {
            raw_earned: Some(earned),
            raw_possible: Some(1.0),
            earned,
            possible: 1.0,
            weight: None,
            graded: true,
            first_attempted: None,
        }
    }

    /// A learner whose only score is a studentmodule row for every problem, counting how often
    /// grading looks each block's score up.
    #[derive(Default)]
    struct Counting {
        csm: std::collections::HashMap<u32, CsmScore>,
        rows: std::collections::HashMap<u32, PersistedValues>,
        lookups: std::cell::RefCell<std::collections::HashMap<u32, usize>>,
    }

    impl LearnerData for Counting {
        fn submission(&self, _block: u32) -> Option<&SubmissionScore> {
            None
        }
        fn csm(&self, block: u32) -> Option<&CsmScore> {
            *self.lookups.borrow_mut().entry(block).or_default() += 1;
            self.csm.get(&block)
        }
        fn persisted(&self, subsection: u32) -> Option<(&PersistedValues, Option<&Override>)> {
            self.rows.get(&subsection).map(|r| (r, None))
        }
    }

    #[test]
    fn a_problem_shared_by_two_subsections_is_scored_once_and_both_are_graded_with_its_score() {
        use crate::model::structure::BlockRow;
        let row = |key: &str, kind: &str, kids: &[&str]| BlockRow {
            usage_key: key.to_string(),
            block_type: kind.to_string(),
            children: Some(kids.iter().map(|k| k.to_string()).collect()),
            has_score: kind == "problem",
            max_score: (kind == "problem").then_some(2.0),
            format: (kind == "sequential").then(|| "Homework".to_string()),
            graded: Some(kind == "sequential"),
            start: Some(0),
            ..Default::default()
        };
        let rows = vec![
            row("course", "course", &["ch"]),
            row("ch", "chapter", &["s1", "s2"]),
            row("s1", "sequential", &["p1", "shared"]),
            row("s2", "sequential", &["shared", "p2"]),
            row("p1", "problem", &[]),
            row("shared", "problem", &[]),
            row("p2", "problem", &[]),
        ];
        let s =
            CourseStructure::build("course-v1:o+c+r", "v1", rows, vec![], &[], None).expect("a valid course");
        let policy = GradingPolicy::parse(
            r#"{"GRADER": [{"type": "Homework", "min_count": 2, "drop_count": 0, "weight": 1.0}],
                "GRADE_CUTOFFS": {"Pass": 0.5}}"#,
        )
        .unwrap();
        let view = s.view(1, |_| None);
        let plan = ViewPlan::new(&s, &view);
        assert_eq!(plan.problems, 4, "the shared problem counts in each subsection");
        let mut data = Counting::default();
        for (key, earned) in [("p1", 1.0), ("shared", 2.0), ("p2", 0.5)] {
            data.csm.insert(s.index[key], CsmScore { grade: Some(earned), max_grade: Some(2.0), created: 1 });
        }
        let mut scratch = Scratch::default();
        for _ in 0..2 {
            data.lookups.borrow_mut().clear();
            let g =
                grade_learner(&s, &plan, &policy, &Compat::newest(), Rescore::Recompute, &data, &mut scratch)
                    .unwrap();
            let shared = s.index["shared"];
            assert_eq!(data.lookups.borrow()[&shared], 1, "the shared problem is scored once per learner");
            let earned = |r: &SubsectionResult| {
                g.visible_blocks(r).unwrap().iter().map(|(b, p)| (*b, p.earned)).collect::<Vec<_>>()
            };
            assert_eq!(earned(&g.subsections[0]), [(s.index["p1"], 1.0), (shared, 2.0)]);
            assert_eq!(earned(&g.subsections[1]), [(shared, 2.0), (s.index["p2"], 0.5)]);
            assert_eq!(g.subsections[1].grade.all.earned, 2.5);
        }
        // The first subsection's row is higher than its new grade: only-if-higher keeps it,
        // and the second is still graded with the shared problem's score.
        let full = PersistedValues {
            earned_all: 4.0,
            possible_all: 4.0,
            earned_graded: 4.0,
            possible_graded: 4.0,
            first_attempted: Some(1),
        };
        data.rows.insert(s.index["s1"], full);
        for _ in 0..3 {
            let g = grade_learner(
                &s,
                &plan,
                &policy,
                &Compat::newest(),
                Rescore::OnlyIfHigher,
                &data,
                &mut scratch,
            )
            .unwrap();
            assert_eq!(
                (g.subsections[0].source, g.subsections[0].scored.clone()),
                (Source::KeptHigher, None)
            );
            let second: Vec<_> =
                g.visible_blocks(&g.subsections[1]).unwrap().iter().map(|(b, p)| (*b, p.earned)).collect();
            assert_eq!(second, [(s.index["shared"], 2.0), (s.index["p2"], 0.5)]);
        }
    }

    #[test]
    fn the_score_index_forgets_the_previous_learner_even_when_its_counter_wraps() {
        let mut index = ScoreIndex::default();
        index.next_learner(4);
        index.set(2, 7);
        assert_eq!(index.get(2), Some(7));
        index.next_learner(4);
        assert_eq!(index.get(2), None, "the next learner starts empty");
        index.set(3, 1);
        index.learner = u32::MAX;
        index.slots[3] = (1, 1);
        index.next_learner(6);
        assert_eq!(index.learner, 1, "the counter wraps past zero");
        assert_eq!(index.get(3), None, "slots set for learner 1 before the wrap are emptied");
        assert_eq!(index.get(5), None, "a larger course grows the slots");
    }

    #[test]
    fn problem_scores_keep_the_last_score_of_a_block_and_forget_everything_on_reset() {
        let mut s = ProblemScores::default();
        s.reset(8);
        s.insert(5, score(1.0));
        s.insert(2, score(0.5));
        s.insert(5, score(0.25));
        assert_eq!(s.len(), 2);
        assert_eq!(s.get(&5).map(|p| p.earned), Some(0.25), "a later subsection replaces the score");
        assert_eq!(s.iter().map(|(b, p)| (b, p.earned)).collect::<Vec<_>>(), [(5, 0.25), (2, 0.5)]);
        assert!(s.get(&3).is_none() && s.get(&100).is_none());
        // Reused for the next learner: nothing of the previous one is left.
        s.reset(8);
        assert!(s.is_empty());
        assert!(s.get(&5).is_none() && s.get(&2).is_none());
        s.insert(7, score(1.0));
        assert_eq!(s.values().map(|p| p.earned).collect::<Vec<_>>(), [1.0]);
        // A larger course grows the slots.
        s.reset(20);
        s.insert(19, score(0.0));
        assert_eq!(s.get(&19).map(|p| p.earned), Some(0.0));
    }
}
