//! A course's report files as its learners are graded: the course grade report and the
//! problem grade report, a line per learner read back as edX's report path reads it after
//! the run, and the two error reports (`Reports`).

use crate::fxhash::FxHashMap;
use crate::grade::compat::Compat;
use crate::grade::learner::{read_problem_scores_into, LearnerData, LearnerGrade, ProblemScores};
use crate::grade::policy::GradingPolicy;
use crate::grade::subsection::SubsectionGrade;
use crate::load::catalog::PolicyRow;
use crate::load::finite::Check;
use crate::load::learner::{AfterRun, Data, Learner};
use crate::load::Globals;
use crate::model::structure::{CourseStructure, CourseView, Partition};
use crate::py::time::Timestamp;

use super::{
    csv_line, problem_header, problem_row, push_csv_cells, report_file_name, user_text, CertificateCourse,
    CourseReport, GradingContext, ReadCourseGrade, ReportLearner,
};

/// What the reports take of the run's options.
#[derive(Clone, Copy, Debug)]
pub struct ReportSettings {
    /// Write text exactly as edX does (no formula neutralisation).
    pub edx_csv_parity: bool,
    /// The run's "now": certificate dates and file names.
    pub as_of: Timestamp,
    pub compat: Compat,
    /// The `read` rescoring policy: the reports read the persisted grades as they are.
    pub persisted_only: bool,
    /// A missing row reads as zero (from Olive on, or before it with the switch on); else it
    /// is computed on read.
    pub absent_reads_zero: bool,
}

/// The course-wide part of the course grade report, from the graded version's settings.
pub(crate) fn course_report<'a>(
    structure: &'a CourseStructure,
    policy: &'a GradingPolicy,
    context: &'a GradingContext,
    settings: &PolicyRow,
    experiments: &'a [Partition],
) -> CourseReport<'a> {
    CourseReport {
        structure,
        policy,
        context,
        cohorted: settings.cohorted.unwrap_or(false),
        experiments: experiments.iter().collect(),
        teams_enabled: settings.teams_enabled.unwrap_or(false),
        certificates: CertificateCourse {
            self_paced: settings.self_paced.unwrap_or(false),
            display_behavior: settings.certificates_display_behavior.clone(),
            certificate_available_date: settings.certificate_available_date,
            course_end: settings.course_end,
            course_modes: settings.course_modes.clone(),
        },
    }
}

/// One course's reports: the course-wide part, built once, and the lookups each line needs.
pub(crate) struct Reports<'a> {
    pub(crate) report: &'a CourseReport<'a>,
    pub(crate) problem_columns: &'a [(u32, [String; 2])],
    pub(crate) globals: &'a Globals,
    pub(crate) settings: &'a ReportSettings,
}

impl Reports<'_> {
    /// The header lines of the course and problem grade reports.
    pub(crate) fn headers(&self) -> (String, String) {
        // Staff-named assignment types start header cells: they go through `user_text`.
        let parity = self.settings.edx_csv_parity;
        let texts = |fields: &[String]| -> Vec<String> {
            fields.iter().map(|f| user_text(f, parity).into_owned()).collect()
        };
        let course = csv_line(&texts(&self.report.header()));
        let problem = csv_line(&texts(&problem_header(self.problem_columns)));
        (course, problem)
    }

    /// The learner's identity and enrollment facts.
    fn who(&self, l: &Learner) -> ReportLearner {
        let (username, email) = self.globals.users.get(&l.user_id).cloned().unwrap_or_default();
        let experiment_groups = self
            .report
            .experiments
            .iter()
            .map(|p| {
                let gid = l.ctx.partition_groups.iter().find(|(pid, _)| *pid == p.id).map(|(_, g)| *g)?;
                p.groups.iter().find(|(id, _)| *id == gid).map(|(_, name)| name.clone())
            })
            .collect();
        ReportLearner {
            user_id: l.user_id,
            email,
            username,
            mode: l.ctx.mode.clone(),
            is_active: l.ctx.is_active,
            cohort_name: l.cohort_name.clone(),
            experiment_groups,
            team_name: l.team_name.clone(),
            id_verified: self.globals.verified.contains(&l.user_id),
            allowlisted: l.allowlisted,
            certificate: l.certificate.clone(),
        }
    }

    /// The course grade the report shows, and the learner's rows after the run (`None`
    /// under `read`: the persisted ones).
    fn course_grade<'b>(
        &self,
        data: &'b Data<'b>,
        g: &'b LearnerGrade,
    ) -> (ReadCourseGrade, Option<AfterRun<'b>>) {
        let persisted = |percent: f64, letter: &Option<String>| ReadCourseGrade::Persisted {
            percent,
            letter_grade: letter.clone().unwrap_or_default(),
        };
        if self.settings.persisted_only {
            let grade = match &data.learner.course_row {
                Some((percent, letter, _)) => {
                    ReadCourseGrade::Persisted { percent: *percent, letter_grade: letter.clone() }
                }
                // Before Olive with the switch off, a missing course grade is computed on read.
                None if !self.settings.absent_reads_zero => {
                    persisted(g.course.percent, &g.course.letter_grade)
                }
                None => ReadCourseGrade::Zero,
            };
            return (grade, None);
        }
        let mut rows = FxHashMap::default();
        let mut written = FxHashMap::default();
        for r in &g.subsections {
            let ov = data.persisted(r.block).and_then(|(_, o)| o);
            if let Some(row) = r.row {
                rows.insert(r.block, (row, ov));
            }
            if let (true, Some(scored)) = (r.written, g.visible_blocks(r)) {
                written.insert(r.block, scored);
            }
        }
        let grade = persisted(g.course.percent, &g.course.letter_grade);
        (grade, Some(AfterRun { before: data, rows, written }))
    }

    /// Append a learner's course grade report line and problem grade report line, read after
    /// the run; `Ok(Err)`: why edX would fail the learner in the problem report (no problem
    /// line then); `Err`: a non-finite problem score, which fails the course.
    pub(crate) fn learner_lines(
        &self,
        check: &Check<'_>,
        (data, g, view): (&Data<'_>, &LearnerGrade, &CourseView),
        scores: &mut ProblemScores,
        course_csv: &mut String,
        problem_csv: &mut String,
    ) -> anyhow::Result<Result<(), String>> {
        let settings = self.settings;
        let who = self.who(data.learner);
        let absent_reads_zero = settings.absent_reads_zero;
        let (course_grade, after) = self.course_grade(data, g);
        // What edX's report reads back: this run's rows, or the persisted ones (`read`).
        let stored: &dyn LearnerData = match &after {
            Some(a) => a,
            None => data,
        };
        // `CourseGrade.subsection_grade` reads a persisted row whether or not the learner can
        // see the subsection now; without a row the cell is a zero grade, or before Olive with
        // the switch off the grade computed on read.
        let lookup = |b: u32| match stored.persisted(b) {
            Some((row, ov)) => Some(SubsectionGrade::read(row, ov)),
            None if !absent_reads_zero => g.subsections.iter().find(|r| r.block == b).map(|r| r.grade),
            None => None,
        };
        let cells = self.report.row(&who, &course_grade, lookup, &settings.compat, settings.as_of);
        push_csv_cells(course_csv, &cells, settings.edx_csv_parity);
        let is_zero = matches!(course_grade, ReadCourseGrade::Zero);
        let structure = self.report.structure;
        if let Err(e) = read_problem_scores_into(structure, view, is_zero, absent_reads_zero, stored, scores)
        {
            return Ok(Err(data.learner.explain(e)));
        }
        if !scores.values().all(|s| s.earned.is_finite() && s.possible.is_finite()) {
            return Err(check.non_finite_problem_score(data, scores));
        }
        let pcells = problem_row(&who, &course_grade, self.problem_columns, |b| scores.get(&b).copied());
        push_csv_cells(problem_csv, &pcells, settings.edx_csv_parity);
        Ok(Ok(()))
    }

    /// The names of the course's two report files: the course grade report, then the problem
    /// grade report.
    pub(crate) fn names(course_id: &str, settings: &ReportSettings) -> [String; 2] {
        ["grade_report", "problem_grade_report"].map(|kind| report_file_name(course_id, kind, settings.as_of))
    }

    /// The names of the course's error reports.
    pub(crate) fn error_names(course_id: &str, settings: &ReportSettings) -> [String; 2] {
        ["grade_report_err", "problem_grade_report_err"]
            .map(|kind| report_file_name(course_id, kind, settings.as_of))
    }

    /// The course's error report files, (file name, CSV text), for learners edX would fail
    /// (`learner_errors`: in both; `problem_errors`: in the problem report only), by user id.
    /// Usernames, emails and error texts are free text: all go through `user_text` (see
    /// `super::Cell`).
    pub(crate) fn error_files(
        course_id: &str,
        (settings, globals): (&ReportSettings, &Globals),
        learner_errors: &[(i64, String)],
        problem_errors: &[(i64, String)],
    ) -> Vec<(String, String)> {
        let (parity, users) = (settings.edx_csv_parity, &globals.users);
        let [course_err, problem_err] = Self::error_names(course_id, settings);
        let mut reports = Vec::new();
        if !learner_errors.is_empty() {
            let mut err = csv_line(&["Student ID", "Username", "Error"]);
            for (uid, e) in learner_errors {
                let (username, _) = users.get(uid).cloned().unwrap_or_default();
                let [username, e] = [username.as_str(), e.as_str()].map(|t| user_text(t, parity));
                err.push_str(&csv_line(&[uid.to_string().into(), username, e]));
            }
            reports.push((course_err, err));
        }
        let mut failed: Vec<&(i64, String)> = learner_errors.iter().chain(problem_errors).collect();
        failed.sort_by_key(|(uid, _)| *uid);
        if !failed.is_empty() {
            let mut perr = csv_line(&["Student ID", "Email", "Username", "error_msg"]);
            for (uid, e) in failed {
                let (username, email) = users.get(uid).cloned().unwrap_or_default();
                let msg = if e.is_empty() { "Unknown error".to_string() } else { e.clone() };
                let [email, username, msg] = [&email, &username, &msg].map(|t| user_text(t, parity));
                perr.push_str(&csv_line(&[uid.to_string().into(), email, username, msg]));
            }
            reports.push((problem_err, perr));
        }
        reports
    }
}
