//! edX's grade reports, cell by cell (spec §8, §11)
//! [`lms/djangoapps/instructor_task/tasks_helper/grades.py`, `lms/djangoapps/grades/context.py`,
//! `lms/djangoapps/certificates/api.py`, `common/djangoapps/util/file.py`].
//!
//! The reports *read* grades: a learner's persisted course grade (or zero), and persisted
//! subsection grades (or zero). Columns come from the grading context of the collected
//! (not per-learner) structure: every graded subsection that is not staff-only, grouped by
//! format in order of first appearance. Cells are Python `str()` of the values; rows are
//! written with Python's `csv` excel dialect ([`csv_line`]).
//!
//! edX's quirks are kept: `(Avg)` columns average with the type's `drop_count` but without
//! `min_count` padding; a format whose grader cannot be found by *category* gets an
//! `(Avg)` header but no value, shifting the rest of the row left.
//!
//! One deliberate difference, on by default: text from user- or staff-controlled strings that
//! a spreadsheet would take for a formula is neutralised ([`neutralise_formula`], [`Cell::Text`]);
//! `edx_csv_parity` writes it exactly as edX does.
//!
//! [`rows`] builds a course's report files line by line as its learners are graded.

pub mod rows;

use std::borrow::Cow;
use std::fmt;

use crate::grade::compat::Compat;
use crate::grade::graders::total_with_drops;
use crate::grade::policy::GradingPolicy;
use crate::grade::scores::ProblemScore;
use crate::grade::subsection::SubsectionGrade;
use crate::model::learner::Certificate;
use crate::model::structure::{CourseStructure, Partition};
use crate::py::fmt::{self as pyfmt, PyNum};
use crate::py::time::Timestamp;

/// `CourseMode.VERIFIED_MODES`.
pub const VERIFIED_MODES: &[&str] = &[
    "verified",
    "professional",
    "masters",
    "executive-education",
    "paid-executive-education",
    "paid-bootcamp",
];

/// One report cell: Python's `str()` of an int, a float or a string.
///
/// Strings are [`Cell::Text`] when they come from a user- or staff-controlled string and
/// [`Cell::Str`] when they are regrade's or edX's own vocabulary. Text cells:
/// - `Email`, `Username` (`auth_user`, chosen by the learner: edX usernames may start with
///   `-`, `+` or `@`, an email's local part with `=`, `+` or `-`);
/// - `Cohort Name` (named by course staff), `Experiment Group (...)` values (group names
///   staff type into a course's `user_partitions`), `Team Name` (staff, or learners in
///   open teamsets).
///
/// Not text: `Student ID` and the grade cells (numbers; a number must stay a number),
/// `Not Attempted` / `Not Available`, `Enrollment Track` and `Certificate Type` (course mode
/// slugs, a short list configured by site operators, not free text), `Verification Status`,
/// `Certificate Eligible` / `Delivered` (`Y`/`N`) and `Enrollment Status` (fixed strings).
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Int(i64),
    Float(f64),
    /// Fixed vocabulary, written as is (borrowed when it is a constant: a problem report line
    /// holds two such cells per problem).
    Str(Cow<'static, str>),
    /// A user- or staff-controlled string (see above): neutralised when written
    /// ([`Cell::csv_text`]).
    Text(String),
}

impl Cell {
    fn s(s: &'static str) -> Cell {
        Cell::Str(Cow::Borrowed(s))
    }

    fn t(s: &str) -> Cell {
        Cell::Text(s.to_string())
    }

    /// The cell as the report writes it: Python's `str()`, except that a [`Cell::Text`] is
    /// [`neutralise_formula`]d unless `edx_parity`.
    pub fn csv_text(&self, edx_parity: bool) -> Cow<'_, str> {
        match self {
            Cell::Text(s) => user_text(s, edx_parity),
            Cell::Str(s) => Cow::Borrowed(s.as_ref()),
            other => Cow::Owned(other.to_string()),
        }
    }
}

/// The first characters that make a spreadsheet read a cell as a formula, as OWASP lists
/// them ("CSV Injection"): `=`, `+`, `-`, `@`, and tab and carriage return, which some
/// spreadsheets skip before looking at the next character.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// OWASP's defence against CSV (formula) injection: text starting with one of
/// [`FORMULA_STARTS`] gets a leading `'`, which spreadsheets show as text, not evaluate.
/// Only the first character counts (`a=b` is left alone), and every such start is
/// neutralised, even a lone `-` or a negative-looking `-1`: the cell holds text, not a
/// number, and a rule without exceptions is one nobody has to second-guess. CSV quoting
/// comes after ([`csv_line`]).
pub(crate) fn neutralise_formula(s: &str) -> Cow<'_, str> {
    if s.starts_with(FORMULA_STARTS) {
        Cow::Owned(format!("'{s}"))
    } else {
        Cow::Borrowed(s)
    }
}

/// A user- or staff-controlled string as a report writes it: neutralised, or exactly as edX
/// writes it (which does not neutralise) when `edx_parity`.
pub(crate) fn user_text(s: &str, edx_parity: bool) -> Cow<'_, str> {
    if edx_parity {
        Cow::Borrowed(s)
    } else {
        neutralise_formula(s)
    }
}

impl From<PyNum> for Cell {
    fn from(n: PyNum) -> Cell {
        match n {
            PyNum::Int(i) => Cell::Int(i),
            PyNum::Float(f) => Cell::Float(f),
        }
    }
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cell::Int(i) => write!(f, "{i}"),
            Cell::Float(x) => f.write_str(&pyfmt::repr(*x)),
            Cell::Str(s) => f.write_str(s),
            Cell::Text(s) => f.write_str(s),
        }
    }
}

/// One graded subsection of the grading context and its scored descendants.
#[derive(Clone, Debug, PartialEq)]
pub struct SubsectionInfo {
    pub block: u32,
    /// Scorable blocks below it in the collected structure, in post-order.
    pub scored: Vec<u32>,
}

/// One assignment type (a subsection `format`) of the grading context.
#[derive(Clone, Debug, PartialEq)]
pub struct AssignmentType {
    pub format: String,
    /// In course order, repeated if a subsection is listed in two chapters.
    pub infos: Vec<SubsectionInfo>,
    /// The policy subgrader whose *category* equals the format, if any.
    pub grader: Option<usize>,
}

impl AssignmentType {
    /// Whether there are per-subsection columns plus `(Avg)`.
    pub(crate) fn separate_avg(&self) -> bool {
        self.infos.len() > 1
    }

    /// `(location, header)` per distinct subsection: first position, last header
    /// (Python `OrderedDict` assignment).
    pub(crate) fn subsection_headers(&self, structure: &CourseStructure) -> Vec<(u32, String)> {
        let mut out: Vec<(u32, String)> = Vec::new();
        for (k, info) in self.infos.iter().enumerate() {
            let name = structure.blocks[info.block as usize].row.display_name.as_deref().unwrap_or("");
            let header = format!("{} {}: {}", self.format, k + 1, name);
            match out.iter_mut().find(|(b, _)| *b == info.block) {
                Some(slot) => slot.1 = header,
                None => out.push((info.block, header)),
            }
        }
        out
    }
}

/// `grading_context(course, collected_structure)`.
#[derive(Clone, Debug, PartialEq)]
pub struct GradingContext {
    pub types: Vec<AssignmentType>,
}

impl GradingContext {
    pub fn new(structure: &CourseStructure, policy: &GradingPolicy) -> GradingContext {
        let collected = structure.collected_view();
        let mut types: Vec<AssignmentType> = Vec::new();
        for &chapter in &structure.blocks[structure.root as usize].children {
            for &sub in &structure.blocks[chapter as usize].children {
                let block = &structure.blocks[sub as usize];
                if block.staff_only || !block.graded {
                    continue;
                }
                let format = block.row.format.clone().unwrap_or_default();
                let info = SubsectionInfo { block: sub, scored: collected.problems(structure, sub) };
                match types.iter_mut().find(|t| t.format == format) {
                    Some(t) => t.infos.push(info),
                    None => {
                        // `get_subsection_type_graders` keys graders by category; the last
                        // grader of a category wins, as in a dict comprehension.
                        let grader = policy.grader.subgraders.iter().rposition(|g| g.category == format);
                        types.push(AssignmentType { format, infos: vec![info], grader })
                    }
                }
            }
        }
        GradingContext { types }
    }
}

/// What the course grade report shows as the learner's course grade (a read).
#[derive(Clone, Debug, PartialEq)]
pub enum ReadCourseGrade {
    /// No persisted course grade: `ZeroCourseGrade` (percent 0.0, not attempted; every
    /// subsection reads as zero, even where subsection rows exist).
    Zero,
    Persisted {
        percent: f64,
        letter_grade: String,
    },
}

impl ReadCourseGrade {
    pub fn percent(&self) -> f64 {
        match self {
            ReadCourseGrade::Zero => 0.0,
            ReadCourseGrade::Persisted { percent, .. } => *percent,
        }
    }

    /// `letter_grade or None`.
    pub fn letter(&self) -> Option<&str> {
        match self {
            ReadCourseGrade::Persisted { letter_grade, .. } if !letter_grade.is_empty() => Some(letter_grade),
            _ => None,
        }
    }
}

/// The course-level facts the certificate columns need.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CertificateCourse {
    pub self_paced: bool,
    pub display_behavior: Option<String>,
    pub certificate_available_date: Option<Timestamp>,
    pub course_end: Option<Timestamp>,
    pub course_modes: Vec<String>,
}

/// `certificate_info_for_user`: `[Eligible, Delivered, Type]`.
pub fn certificate_info(
    course: &CertificateCourse,
    letter_grade: Option<&str>,
    enrollment_mode: &str,
    allowlisted: bool,
    cert: Option<&Certificate>,
    now: Timestamp,
) -> [String; 3] {
    // certificate_status: an audit certificate in a course without an honor mode is "auditing".
    let status = match cert {
        None => "unavailable",
        Some(c) if c.mode == "audit" && !course.course_modes.iter().any(|m| m == "honor") => "auditing",
        Some(c) => c.status.as_str(),
    };
    let generated = status == "downloadable";
    let user_is_verified = letter_grade.is_some() && VERIFIED_MODES.contains(&enrollment_mode);
    let eligible = allowlisted || user_is_verified || generated;
    let has_ended = course.course_end.is_some_and(|e| e < now);
    let visible = course.self_paced
        || matches!(course.display_behavior.as_deref(), Some("early_with_info" | "early_no_info"))
        || course.certificate_available_date.is_some_and(|d| d < now)
        || (course.certificate_available_date.is_none() && has_ended);
    let delivered = generated && visible;
    let yn = |b: bool| if b { "Y" } else { "N" }.to_string();
    let kind = match cert {
        Some(c) if delivered => c.mode.clone(),
        _ => "N/A".to_string(),
    };
    [yn(eligible), yn(delivered), kind]
}

/// `verification_status_for_user`.
pub fn verification_status(enrollment_mode: &str, id_verified: bool) -> &'static str {
    if !VERIFIED_MODES.contains(&enrollment_mode) {
        "N/A"
    } else if id_verified {
        "ID Verified"
    } else {
        "Not ID Verified"
    }
}

/// The course-wide options of the course grade report.
#[derive(Clone, Debug)]
pub struct CourseReport<'a> {
    pub structure: &'a CourseStructure,
    pub policy: &'a GradingPolicy,
    pub context: &'a GradingContext,
    pub cohorted: bool,
    /// Split-test (`random` scheme) partitions of the course.
    pub experiments: Vec<&'a Partition>,
    pub teams_enabled: bool,
    pub certificates: CertificateCourse,
}

/// One learner's identity and enrollment facts for a report row.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReportLearner {
    pub user_id: i64,
    pub email: String,
    pub username: String,
    pub mode: String,
    pub is_active: bool,
    pub cohort_name: Option<String>,
    /// Group name per experiment partition of [`CourseReport::experiments`].
    pub experiment_groups: Vec<Option<String>>,
    pub team_name: Option<String>,
    pub id_verified: bool,
    pub allowlisted: bool,
    pub certificate: Option<Certificate>,
}

impl ReportLearner {
    pub(crate) fn enrollment_status(&self) -> &'static str {
        if self.is_active {
            "enrolled"
        } else {
            "unenrolled"
        }
    }
}

impl CourseReport<'_> {
    /// The course grade report's header row. An assignment column's header starts with the
    /// subsection's `format`, an assignment type named by course staff: written through
    /// [`user_text`] like [`Cell::Text`] (the fixed headers never start a formula).
    pub fn header(&self) -> Vec<String> {
        let mut h: Vec<String> = vec!["Student ID".into(), "Email".into(), "Username".into(), "Grade".into()];
        for t in &self.context.types {
            if t.separate_avg() {
                h.extend(t.subsection_headers(self.structure).into_iter().map(|(_, name)| name));
                h.push(format!("{} (Avg)", t.format));
            } else {
                h.push(t.format.clone());
            }
        }
        if self.cohorted {
            h.push("Cohort Name".into());
        }
        h.extend(self.experiments.iter().map(|p| format!("Experiment Group ({})", p.name)));
        if self.teams_enabled {
            h.push("Team Name".into());
        }
        h.extend(
            [
                "Enrollment Track",
                "Verification Status",
                "Certificate Eligible",
                "Certificate Delivered",
                "Certificate Type",
                "Enrollment Status",
            ]
            .map(String::from),
        );
        h
    }

    /// One learner's row. `persisted(subsection)` gives the learner's persisted subsection
    /// grade (override applied) or None; it is not consulted for a zero course grade.
    pub fn row<F>(
        &self,
        learner: &ReportLearner,
        grade: &ReadCourseGrade,
        mut persisted: F,
        compat: &Compat,
        now: Timestamp,
    ) -> Vec<Cell>
    where
        F: FnMut(u32) -> Option<SubsectionGrade>,
    {
        let mut row = vec![Cell::Int(learner.user_id), Cell::t(&learner.email), Cell::t(&learner.username)];
        row.push(Cell::Float(grade.percent()));
        let attempted = !matches!(grade, ReadCourseGrade::Zero);
        for t in &self.context.types {
            let mut percents = Vec::new();
            for (block, _) in t.subsection_headers(self.structure) {
                let sg = if attempted { persisted(block) } else { None };
                let (cell, percent) = match sg {
                    Some(g) => {
                        let p = g.percent_graded(compat);
                        let cell = if g.attempted_graded() || g.has_override {
                            Cell::Float(p)
                        } else {
                            Cell::s("Not Attempted")
                        };
                        (cell, p)
                    }
                    None => (Cell::s("Not Attempted"), 0.0),
                };
                row.push(cell);
                percents.push(percent);
            }
            if t.separate_avg() {
                if let Some(gi) = t.grader {
                    if attempted {
                        let drop = self.policy.grader.subgraders[gi].drop_count;
                        row.push(total_with_drops(&percents, drop, &mut Vec::new()).into());
                    } else {
                        row.push(Cell::Float(0.0));
                    }
                }
            }
        }
        if self.cohorted {
            row.push(Cell::t(learner.cohort_name.as_deref().unwrap_or("")));
        }
        for i in 0..self.experiments.len() {
            row.push(Cell::t(learner.experiment_groups.get(i).cloned().flatten().as_deref().unwrap_or("")));
        }
        if self.teams_enabled {
            row.push(Cell::t(learner.team_name.as_deref().unwrap_or("")));
        }
        row.push(Cell::Str(Cow::Owned(learner.mode.clone())));
        row.push(Cell::s(verification_status(&learner.mode, learner.id_verified)));
        let cert = certificate_info(
            &self.certificates,
            grade.letter(),
            &learner.mode,
            learner.allowlisted,
            learner.certificate.as_ref(),
            now,
        );
        row.extend(cert.into_iter().map(|c| Cell::Str(c.into())));
        row.push(Cell::s(learner.enrollment_status()));
        row
    }
}

/// The problem grade report's columns: one (Earned, Possible) pair per scorable block of
/// the grading context, keyed by block (first position, last header).
pub fn problem_columns(structure: &CourseStructure, context: &GradingContext) -> Vec<(u32, [String; 2])> {
    let mut out: Vec<(u32, [String; 2])> = Vec::new();
    for t in &context.types {
        for (k, info) in t.infos.iter().enumerate() {
            let sub_name = structure.blocks[info.block as usize].row.display_name.as_deref().unwrap_or("");
            for &b in &info.scored {
                let block_name = structure.blocks[b as usize].row.display_name.as_deref().unwrap_or("");
                let base = format!("{} {}: {} - {}", t.format, k + 1, sub_name, block_name);
                let pair = [format!("{base} (Earned)"), format!("{base} (Possible)")];
                match out.iter_mut().find(|(x, _)| *x == b) {
                    Some(slot) => slot.1 = pair,
                    None => out.push((b, pair)),
                }
            }
        }
    }
    out
}

/// The problem grade report's header row (assignment type first, as in
/// [`CourseReport::header`]).
pub fn problem_header(columns: &[(u32, [String; 2])]) -> Vec<String> {
    let mut h: Vec<String> =
        ["Student ID", "Email", "Username", "Enrollment Status", "Grade"].map(String::from).to_vec();
    for (_, pair) in columns {
        h.extend(pair.iter().cloned());
    }
    h
}

/// One learner's problem grade report row. `score(block)` is the learner's problem score
/// from their read course grade (`course_grade.problem_scores`), None when the block is not
/// in their structure or has no score.
pub fn problem_row<F>(
    learner: &ReportLearner,
    grade: &ReadCourseGrade,
    columns: &[(u32, [String; 2])],
    mut score: F,
) -> Vec<Cell>
where
    F: FnMut(u32) -> Option<ProblemScore>,
{
    let mut row = vec![
        Cell::Int(learner.user_id),
        Cell::t(&learner.email),
        Cell::t(&learner.username),
        Cell::s(learner.enrollment_status()),
        Cell::Float(grade.percent()),
    ];
    for (b, _) in columns {
        match score(*b) {
            None => row.extend([Cell::s("Not Available"), Cell::s("Not Available")]),
            Some(s) if s.first_attempted.is_some() => {
                row.extend([Cell::Float(s.earned), Cell::Float(s.possible)])
            }
            Some(s) => row.extend([Cell::s("Not Attempted"), Cell::Float(s.possible)]),
        }
    }
    row
}

/// Django's `get_valid_filename`: strip, spaces to `_`, drop everything outside `[-\w.]`.
pub(crate) fn valid_filename(s: &str) -> String {
    s.trim()
        .replace(' ', "_")
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
        .collect()
}

/// `course_filename_prefix_generator`: `{org}_{course}_{run}` of a course key, made a
/// valid file name. Works for `course-v1:ORG+COURSE+RUN` and old `ORG/COURSE/RUN` keys.
pub fn course_filename_prefix(course_id: &str) -> String {
    let body = course_id.strip_prefix("course-v1:").unwrap_or(course_id);
    let parts: Vec<&str> = if course_id.starts_with("course-v1:") {
        body.split('+').collect()
    } else {
        body.split('/').collect()
    };
    let joined = match parts.as_slice() {
        [org, course, run, ..] => format!("{org}_{course}_{run}"),
        _ => body.replace(['+', '/'], "_"),
    };
    valid_filename(&joined)
}

/// A report file name: `{prefix}_{csv_name}_{YYYY-mm-dd-HHMM}.csv` (UTC).
pub fn report_file_name(course_id: &str, csv_name: &str, at: Timestamp) -> String {
    let secs = at.div_euclid(1_000_000);
    let stamp = chrono::DateTime::from_timestamp(secs, 0)
        .map(|d| d.format("%Y-%m-%d-%H%M").to_string())
        .unwrap_or_else(|| "0000-00-00-0000".to_string());
    format!("{}_{}_{}.csv", course_filename_prefix(course_id), csv_name, stamp)
}

/// One CSV record in Python's `csv` excel dialect: `,` separated, fields quoted only when
/// they hold `,`, `"`, `\r` or `\n` (quotes doubled), a lone empty field quoted, `\r\n` ends.
pub fn csv_line<S: AsRef<str>>(fields: &[S]) -> String {
    let mut out = String::new();
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_field(&mut out, f.as_ref(), fields.len());
    }
    out.push_str("\r\n");
    out
}

/// One CSV field of a line of `n` fields, quoted as Python's `csv` module quotes it.
fn push_field(out: &mut String, f: &str, n: usize) {
    if f.contains([',', '"', '\r', '\n']) || (n == 1 && f.is_empty()) {
        out.push('"');
        out.push_str(&f.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(f);
    }
}

/// Append the CSV line of `cells` to `out`: the same text as [`csv_line`] of their
/// [`Cell::csv_text`]s, written in place (numbers never need quoting).
pub(crate) fn push_csv_cells(out: &mut String, cells: &[Cell], edx_parity: bool) {
    use std::fmt::Write;
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match c {
            Cell::Int(v) => {
                let _ = write!(out, "{v}");
            }
            Cell::Float(x) => pyfmt::push_repr(out, *x),
            Cell::Str(s) => push_field(out, s, cells.len()),
            Cell::Text(s) => push_field(out, &user_text(s, edx_parity), cells.len()),
        }
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn any_cell() -> impl proptest::strategy::Strategy<Value = Cell> {
        use proptest::prelude::*;
        prop_oneof![
            any::<i64>().prop_map(Cell::Int),
            any::<f64>().prop_map(Cell::Float),
            (-1e17f64..1e17).prop_map(|x| Cell::Float(x.trunc())),
            Just(Cell::Float(-0.0)),
            "[a-z,\"=+\\-@\t\r\n ]{0,6}".prop_map(|s| Cell::Str(s.into())),
            "[a-z,\"=+\\-@\t\r\n ]{0,6}".prop_map(Cell::Text),
        ]
    }

    proptest::proptest! {
        #[test]
        fn push_csv_cells_writes_what_csv_line_of_csv_text_writes(
            cells in proptest::collection::vec(any_cell(), 0..6),
            parity: bool,
        ) {
            let mut out = String::from("before\r\n");
            push_csv_cells(&mut out, &cells, parity);
            let texts: Vec<_> = cells.iter().map(|c| c.csv_text(parity)).collect();
            proptest::prop_assert_eq!(out, format!("before\r\n{}", csv_line(&texts)));
        }
    }

    fn n(s: &str) -> String {
        neutralise_formula(s).into_owned()
    }

    #[test]
    fn each_formula_start_gets_a_quote() {
        assert_eq!(n("=HYPERLINK(\"http://x\")"), "'=HYPERLINK(\"http://x\")");
        assert_eq!(n("+1"), "'+1");
        assert_eq!(n("-2+3"), "'-2+3");
        assert_eq!(n("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(n("\tTAB"), "'\tTAB");
        assert_eq!(n("\rCR"), "'\rCR");
        // Only one quote, whatever follows.
        assert_eq!(n("==1"), "'==1");
        assert_eq!(n("'=1"), "'=1", "already starts with a quote: not a formula");
    }

    #[test]
    fn empty_and_lone_minus() {
        assert!(matches!(neutralise_formula(""), Cow::Borrowed("")));
        assert_eq!(n("-"), "'-");
        assert_eq!(n("-1"), "'-1");
    }

    #[test]
    fn only_the_first_character_counts() {
        for s in ["a=b", "user+tag@example.com", "Team -1", " =1", "x\t", "x\r", "1-2", "\n=1"] {
            assert!(matches!(neutralise_formula(s), Cow::Borrowed(b) if b == s), "{s:?}");
        }
    }

    #[test]
    fn unicode() {
        assert_eq!(n("=Ünïcödé"), "'=Ünïcödé");
        assert_eq!(n("@用户"), "'@用户");
        // Multi-byte first characters are text, including look-alikes of the ASCII starts
        // (fullwidth equals and plus, the minus sign): OWASP's list is ASCII.
        for s in ["Ünï=1", "用户", "\u{FF1D}1", "\u{FF0B}1", "\u{2212}1", "😀=1"] {
            assert_eq!(n(s), s, "{s:?}");
        }
    }

    #[test]
    fn parity_writes_text_as_is() {
        assert_eq!(user_text("=1", true), "=1");
        assert_eq!(user_text("=1", false), "'=1");
        let cells = [Cell::Text("+1".into()), Cell::Str("-".into()), Cell::Float(-0.5), Cell::Int(-3)];
        let default: Vec<_> = cells.iter().map(|c| c.csv_text(false).into_owned()).collect();
        assert_eq!(default, ["'+1", "-", "-0.5", "-3"], "only Text cells are neutralised");
        let parity: Vec<_> = cells.iter().map(|c| c.csv_text(true).into_owned()).collect();
        assert_eq!(parity, ["+1", "-", "-0.5", "-3"]);
        assert_eq!(cells[0].to_string(), "+1", "Display stays Python's str()");
    }

    #[test]
    fn neutralised_cells_are_then_quoted() {
        let fields = [neutralise_formula("=A1,\"x\""), neutralise_formula("\rCR"), neutralise_formula("\tT")];
        assert_eq!(csv_line(&fields), "\"'=A1,\"\"x\"\"\",\"'\rCR\",'\tT\r\n");
    }

    #[test]
    fn learner_text_cells_of_both_reports() {
        let learner = ReportLearner {
            user_id: 7,
            email: "+x@example.com".into(),
            username: "-u".into(),
            mode: "honor".into(),
            ..ReportLearner::default()
        };
        let row = problem_row(&learner, &ReadCourseGrade::Zero, &[], |_| None);
        let texts: Vec<_> = row.iter().map(|c| c.csv_text(false).into_owned()).collect();
        assert_eq!(texts, ["7", "'+x@example.com", "'-u", "unenrolled", "0.0"]);
        let texts: Vec<_> = row.iter().map(|c| c.csv_text(true).into_owned()).collect();
        assert_eq!(texts, ["7", "+x@example.com", "-u", "unenrolled", "0.0"]);
    }
}
