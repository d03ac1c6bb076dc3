//! One learner's grades in one course, under a rescoring policy (spec §4.4, §5.6).
//!
//! This is edX's `CourseGradeFactory` / `SubsectionGradeFactory` logic for one learner,
//! as a pure function of the learner's course view, scores and persisted rows:
//!
//! * [`Rescore::Recompute`]: `update(force_update_subsections=True)`, as `compute_grades`
//!   does: every subsection recomputed and written, attempted or not.
//! * [`Rescore::OnlyIfHigher`]: every subsection recomputed, but a persisted row is kept
//!   unless the new graded ratio is at least as high.
//! * [`Rescore::Retain`]: persisted subsection rows are kept; missing ones are computed and
//!   written; the course grade is recomputed from them.
//! * [`Rescore::Read`]: the read path of the grade reports: persisted rows or zero.
//!
//! Overrides apply in every mode; `first_attempted` is set once.

use super::compat::Compat;
use super::course::{self, CourseGrade, GradedSubsection};
use super::graders::Scratch;
use super::policy::GradingPolicy;
use super::pyfmt::PyNum;
use super::scores::{
    get_score, BlockRecord, ContentScore, CsmScore, InvalidSubmission, ProblemScore, SubmissionScore,
};
use super::subsection::{self, Override, PersistedValues, SubsectionGrade};
use crate::model::structure::{CourseStructure, CourseView};

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
}

/// The problems of each subsection in one learner view, computed once per view.
#[derive(Clone, Debug, PartialEq)]
pub struct ViewPlan {
    /// (subsection, its problems in post-order), course order, each subsection once.
    pub subsections: Vec<(u32, Vec<u32>)>,
}

impl ViewPlan {
    pub fn new(structure: &CourseStructure, view: &CourseView) -> ViewPlan {
        ViewPlan {
            subsections: view.subsections().into_iter().map(|s| (s, view.problems(structure, s))).collect(),
        }
    }
}

/// One subsection's outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct SubsectionResult {
    pub block: u32,
    /// The grade the course grade used (overrides applied).
    pub grade: SubsectionGrade,
    pub source: Source,
    /// The persisted row after this run (None when no row exists or would be written).
    pub row: Option<PersistedValues>,
    /// Whether this run writes the row.
    pub written: bool,
    /// The visible blocks of a recomputed grade, in problem order.
    pub visible_blocks: Option<Vec<BlockRecord>>,
    /// The problem scores, by block, for the problem grade report.
    pub problem_scores: Vec<(u32, ProblemScore)>,
}

/// One learner's outcome in one course.
#[derive(Clone, Debug, PartialEq)]
pub struct LearnerGrade {
    pub subsections: Vec<SubsectionResult>,
    pub course: CourseGrade,
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

fn records(structure: &CourseStructure, scores: &[(u32, ProblemScore)]) -> Vec<BlockRecord> {
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

/// Grades one learner. Errors when a score makes edX fail this learner.
pub fn grade_learner<D: LearnerData>(
    structure: &CourseStructure,
    plan: &ViewPlan,
    policy: &GradingPolicy,
    compat: &Compat,
    rescore: Rescore,
    data: &D,
    scratch: &mut Scratch,
) -> Result<LearnerGrade, InvalidSubmission> {
    let mut results = Vec::with_capacity(plan.subsections.len());
    for (sub, problems) in &plan.subsections {
        let old = data.persisted(*sub);
        let keep_old = matches!((rescore, old), (Rescore::Retain | Rescore::Read, Some(_)));
        let result = if keep_old {
            let (row, ov) = old.expect("checked above");
            SubsectionResult {
                block: *sub,
                grade: SubsectionGrade::read(row, ov),
                source: if ov.is_some() { Source::Override } else { Source::Retained },
                row: Some(*row),
                written: false,
                visible_blocks: None,
                problem_scores: Vec::new(),
            }
        } else if rescore == Rescore::Read {
            let content = scores::<D>(structure, problems, None)?;
            SubsectionResult {
                block: *sub,
                grade: SubsectionGrade::zero(content.iter().map(|(_, s)| s)),
                source: Source::Zero,
                row: None,
                written: false,
                visible_blocks: None,
                problem_scores: Vec::new(),
            }
        } else {
            let computed = scores(structure, problems, Some(data))?;
            let created = SubsectionGrade::create(computed.iter().map(|(_, s)| s));
            // A forced update writes every subsection; the other paths write only attempted
            // ones (`_should_persist_per_attempted`), and only-if-higher compares only then.
            let persist = rescore == Rescore::Recompute || subsection::should_persist(&created, false, false);
            let kept = match (rescore, old) {
                (Rescore::OnlyIfHigher, Some((row, _))) if persist => {
                    !subsection::new_is_at_least_old(row, &created)
                }
                _ => false,
            };
            match old {
                Some((row, ov)) if kept || !persist => SubsectionResult {
                    block: *sub,
                    grade: SubsectionGrade::read(row, ov),
                    source: match (ov.is_some(), kept) {
                        (true, _) => Source::Override,
                        (false, true) => Source::KeptHigher,
                        (false, false) => Source::Retained,
                    },
                    row: Some(*row),
                    written: false,
                    visible_blocks: None,
                    problem_scores: computed,
                },
                None if !persist => SubsectionResult {
                    block: *sub,
                    grade: created,
                    source: Source::Recomputed,
                    row: None,
                    written: false,
                    visible_blocks: Some(records(structure, &computed)),
                    problem_scores: computed,
                },
                _ => {
                    let ov = old.and_then(|(_, o)| o);
                    let new_row = subsection::upsert(old.map(|(r, _)| r), &created.persisted_values());
                    SubsectionResult {
                        block: *sub,
                        grade: created.with_override(ov),
                        source: if ov.is_some() { Source::Override } else { Source::Recomputed },
                        row: Some(new_row),
                        written: true,
                        visible_blocks: Some(records(structure, &computed)),
                        problem_scores: computed,
                    }
                }
            }
        };
        results.push(result);
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
    Ok(LearnerGrade { subsections: results, course })
}

/// `course_grade.problem_scores` of a *read* course grade, for the problem grade report:
/// a persisted subsection re-scores its persisted visible blocks that are still in the
/// learner's structure against current CSM and submissions; a zero one (no row, or a zero
/// course grade) scores the learner's problems from content only. Later subsections
/// overwrite earlier ones for a shared block, as edX's dict update does.
pub fn read_problem_scores<D: LearnerData + ?Sized>(
    structure: &CourseStructure,
    view: &CourseView,
    course_is_zero: bool,
    data: &D,
) -> Result<crate::fxhash::FxHashMap<u32, ProblemScore>, InvalidSubmission> {
    let mut out = crate::fxhash::FxHashMap::default();
    for (_, subs) in view.chapters() {
        for sub in subs {
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
                    for (b, s) in scores::<D>(structure, &view.problems(structure, sub), None)? {
                        out.insert(b, s);
                    }
                }
            }
        }
    }
    Ok(out)
}
