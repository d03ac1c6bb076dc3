//! Non-finite grades traced to the input row that caused them, for the quarantine reason
//! (the math is in [`crate::grade::finite`]), and where input rows came from ([`Sources`]).

use anyhow::{anyhow, Result};
use arrow::array::RecordBatch;

use super::learner::{Data, Learner, VisibleBlocks};
use crate::fxhash::FxHashMap;
use crate::grade::compat::Compat;
use crate::grade::finite::{
    first_non_finite, largest_score, score_is_finite, subsection_non_finite, NonFinite,
};
use crate::grade::learner::{LearnerGrade, ProblemScores, ViewPlan};
use crate::grade::scores::ProblemScore;
use crate::grade::subsection::SubsectionGrade;
use crate::model::structure::CourseStructure;
use crate::py::fmt::repr;
use crate::read::batch::Columns;

/// The files a course's rows were read from, by index (rows keep a `u32`), and the file of
/// each block's `course_blocks` row.
#[derive(Default)]
pub(crate) struct Sources {
    files: Vec<String>,
    blocks: FxHashMap<u32, u32>,
}

impl Sources {
    /// The sources of the graded version's blocks.
    pub(crate) fn new(course_blocks: &[RecordBatch], structure: &CourseStructure) -> Result<Sources> {
        let mut s = Sources::default();
        for batch in course_blocks {
            let c = Columns::new("course_blocks", batch);
            let file = s.index(c.source());
            let (version, key) = (c.str_at("course_version")?, c.str_at("usage_key")?);
            for i in 0..c.len() {
                if version(i) == structure.course_version {
                    if let Some(&b) = structure.index.get(key(i)) {
                        s.blocks.insert(b, file);
                    }
                }
            }
        }
        Ok(s)
    }

    /// The index of a file (batches of one file come one after another).
    pub(crate) fn index(&mut self, file: &str) -> u32 {
        let i = match self.files.iter().rposition(|f| f == file) {
            Some(i) => i,
            None => {
                self.files.push(file.to_string());
                self.files.len() - 1
            }
        };
        u32::try_from(i).unwrap_or(u32::MAX)
    }

    fn file(&self, i: u32) -> &str {
        self.files.get(i as usize).map_or("?", String::as_str)
    }
}

/// A persisted subsection row whose values are finite but whose percent is not.
pub(crate) fn persisted_percent(
    course_id: &str,
    c: &Columns<'_>,
    row_key: &str,
    grade: &SubsectionGrade,
    has_override: bool,
) -> anyhow::Error {
    anyhow!(
        "{course_id}: persistent_subsection_grades row ({row_key}) in file {}: percent_graded, \
         earned_graded {} / possible_graded {}{}, is not finite; edX cannot grade with it: fix or \
         remove the row in the export",
        c.source(),
        repr(grade.graded.earned),
        repr(grade.graded.possible),
        if has_override { " (as its subsection_grade_overrides row sets them)" } else { "" }
    )
}

/// What tracing a non-finite value needs of its course.
pub(crate) struct Check<'a> {
    pub course_id: &'a str,
    pub structure: &'a CourseStructure,
    pub compat: &'a Compat,
    pub sources: &'a Sources,
    pub blocks: &'a VisibleBlocks,
}

impl Check<'_> {
    fn key(&self, b: u32) -> &str {
        &self.structure.blocks[b as usize].row.usage_key
    }

    fn error(&self, l: &Learner, what: String) -> anyhow::Error {
        anyhow!(
            "{}: user_id {}: {what}; edX cannot grade this (Python computes inf or nan there, and \
             MySQL stores neither): fix or remove the row in the export",
            self.course_id,
            l.user_id
        )
    }

    fn block_row(&self, b: u32) -> String {
        let file = self.sources.blocks.get(&b).map_or("?", |&f| self.sources.file(f));
        format!(
            "course_blocks row (usage_key {}, course_version {}) in file {file}",
            self.key(b),
            self.structure.course_version
        )
    }

    /// The row a problem's score came from (`content`: scored from the content alone).
    fn problem_row(&self, l: &Learner, b: u32, content: bool) -> String {
        let key = self.key(b);
        let opt = |x: Option<f64>| x.map_or("NULL".to_string(), repr);
        if !content {
            if let Some((s, id, file)) = l.submissions.get(&b).filter(|(s, _, _)| !s.is_hidden()) {
                return format!(
                    "submissions row (id {id}, user_id {}, usage_key {key}) in file {}: points_earned {}, \
                     points_possible {}",
                    l.user_id,
                    self.sources.file(*file),
                    repr(s.points_earned),
                    repr(s.points_possible)
                );
            }
            if let Some((c, file)) = l.csm.get_with_file(b).filter(|(c, _)| c.max_grade.is_some()) {
                return format!(
                    "studentmodule row (student_id {}, module_state_key {key}) in file {}: grade {}, \
                     max_grade {}",
                    l.user_id,
                    self.sources.file(file),
                    opt(c.grade),
                    opt(c.max_grade)
                );
            }
        }
        let max = self.structure.blocks[b as usize].row.max_score;
        format!("{} (content only: max_score {})", self.block_row(b), opt(max))
    }

    /// `, weighted by W (the weight of ROW)` when the score was weighted.
    fn weighting(&self, b: u32, s: &ProblemScore, record: Option<&str>) -> String {
        match (s.weight, s.raw_possible) {
            (Some(w), Some(rp)) if rp != 0.0 => {
                let from = record.map_or_else(|| self.block_row(b), |h| format!("visible_blocks row {h}"));
                format!(", weighted by {} (the weight of {from})", repr(w.as_f64()))
            }
            _ => String::new(),
        }
    }

    fn score(&self, l: &Learner, b: u32, s: &ProblemScore, content: bool, record: Option<&str>) -> String {
        format!(
            "{}'s score {}/{}, from {}{}",
            self.key(b),
            repr(s.earned),
            repr(s.possible),
            self.problem_row(l, b, content),
            self.weighting(b, s, record)
        )
    }

    fn describe(&self, l: &Learner, data: &Data<'_>, plan: &ViewPlan, nf: NonFinite) -> String {
        match nf {
            NonFinite::Score { subsection, problem, score, content } => format!(
                "in subsection {}, the weighted score is not finite: {}",
                self.key(subsection),
                self.score(l, problem, &score, content, None)
            ),
            NonFinite::Sum { subsection, problem, score, content, total, value } => format!(
                "the {total} of subsection {} overflows to {} adding {}",
                self.key(subsection),
                repr(value),
                self.score(l, problem, &score, content, None)
            ),
            NonFinite::Percent { subsection, earned, possible, problem } => {
                let top = problem
                    .and_then(|p| self.largest(data, plan, subsection).filter(|(b, _)| *b == p))
                    .map(|(b, s)| format!("; its largest is {}", self.score(l, b, &s, false, None)))
                    .unwrap_or_default();
                format!(
                    "the percent_graded of subsection {}, earned_graded {} / possible_graded {}, is not \
                     finite{top}",
                    self.key(subsection),
                    repr(earned),
                    repr(possible)
                )
            }
            NonFinite::Course { subsection, percent } => {
                let top = subsection
                    .and_then(|sub| self.largest(data, plan, sub))
                    .map(|(b, s)| format!(", whose largest is {}", self.score(l, b, &s, false, None)))
                    .unwrap_or_default();
                format!(
                    "the course percent is not finite: the grader's weighted sum of subsection percents \
                     overflowed (the largest, {}, is subsection {}'s{top}; check the GRADER weights of \
                     course_policies, course_version {})",
                    repr(percent),
                    subsection.map_or("?", |s| self.key(s)),
                    self.structure.course_version
                )
            }
        }
    }

    fn largest(&self, data: &Data<'_>, plan: &ViewPlan, sub: u32) -> Option<(u32, ProblemScore)> {
        let problems = plan.subsections.iter().find(|(s, _)| *s == sub)?;
        largest_score(self.structure, &problems.1, data)
    }

    fn persisted_row(&self, l: &Learner, b: u32) -> String {
        let file = l.persisted.get_with_file(b).map_or("?", |(_, f)| self.sources.file(f));
        format!(
            "persistent_subsection_grades row (user_id {}, usage_key {}) in file {file}",
            l.user_id,
            self.key(b)
        )
    }

    /// A learner's grade is not finite ([`LearnerGrade::is_finite`]): the first value that is
    /// not, and the row it came from.
    pub(crate) fn non_finite_grade(
        &self,
        data: &Data<'_>,
        plan: &ViewPlan,
        g: &LearnerGrade,
    ) -> anyhow::Error {
        let l = data.learner;
        let bad = g
            .subsections
            .iter()
            .find(|r| !r.grade.is_finite(self.compat) || r.row.as_ref().is_some_and(|v| !v.is_finite()));
        let what = match bad {
            Some(r) if r.written || r.row.is_none() => {
                let problems = plan.subsections.iter().find(|(s, _)| *s == r.block).map_or(&[][..], |p| &p.1);
                match subsection_non_finite(self.structure, r.block, problems, self.compat, data) {
                    Err(nf) => self.describe(l, data, plan, nf),
                    // Finite as computed: its override makes it not.
                    Ok(_) => format!(
                        "subsection {} reads as a non-finite grade with the subsection_grade_overrides row of \
                         {}",
                        self.key(r.block),
                        self.persisted_row(l, r.block)
                    ),
                }
            }
            Some(r) => format!("{} reads as a non-finite grade", self.persisted_row(l, r.block)),
            None => {
                // Every subsection is finite: the grader's sum, over the grades the course read.
                let top = g.subsections.iter().max_by(|a, b| {
                    a.grade.percent_graded(self.compat).total_cmp(&b.grade.percent_graded(self.compat))
                });
                match top {
                    Some(r) if r.row.is_some() && !r.written => format!(
                        "the course percent is not finite: the grader's weighted sum of subsection percents \
                         overflowed (the largest, {}, is that of {}; check the GRADER weights of \
                         course_policies, course_version {})",
                        repr(r.grade.percent_graded(self.compat)),
                        self.persisted_row(l, r.block),
                        self.structure.course_version
                    ),
                    _ => {
                        let nf = NonFinite::Course {
                            subsection: top.map(|r| r.block),
                            percent: top.map_or(0.0, |r| r.grade.percent_graded(self.compat)),
                        };
                        self.describe(l, data, plan, nf)
                    }
                }
            }
        };
        self.error(l, what)
    }

    /// The readiness path's displayed course grade is not finite.
    pub(crate) fn non_finite_displayed(&self, data: &Data<'_>, plan: &ViewPlan) -> anyhow::Error {
        let nf = first_non_finite(self.structure, plan, self.compat, data);
        let what = format!("the displayed course grade: {}", self.describe(data.learner, data, plan, nf));
        self.error(data.learner, what)
    }

    /// A problem report score is not finite (a persisted visible-blocks weight).
    pub(crate) fn non_finite_problem_score(&self, data: &Data<'_>, scores: &ProblemScores) -> anyhow::Error {
        let l = data.learner;
        let Some((b, s)) = scores.iter().filter(|(_, s)| !score_is_finite(s)).min_by_key(|(b, _)| *b) else {
            return self.error(l, "a problem score is not finite".into());
        };
        let key = self.key(b);
        let weight = s.weight.map(|w| w.as_f64().to_bits());
        let record = l.persisted.iter().find_map(|(_, p)| {
            let records = self.blocks.get(&p.hash)?;
            let hit =
                records.iter().any(|r| r.locator == key && r.weight.map(|w| w.as_f64().to_bits()) == weight);
            hit.then(|| p.hash.to_string())
        });
        let what = format!(
            "the problem grade report's score is not finite: {}",
            self.score(l, b, s, false, record.as_deref())
        );
        self.error(l, what)
    }
}
