//! The grade report worked examples E41-E49 of `../shared/spec/edx-grading.md` §13, cell
//! by cell. Grades are first persisted the way edX would have (a learner answers, edX
//! updates and stores the grades), then the report reads them.

mod common;

use common::*;
use regrade::grade::compat::Compat;
use regrade::grade::graders::Scratch;
use regrade::grade::learner::{block_records, grade_learner, read_problem_scores, Rescore, ViewPlan};
use regrade::grade::policy::GradingPolicy;
use regrade::grade::subsection::{Override, SubsectionGrade};
use regrade::model::learner::{Certificate, LearnerContext};
use regrade::model::structure::{parse_user_partitions, BlockRow, CourseStructure, CourseView};
use regrade::report::*;

const NOW: i64 = 1_700_000_000_000_000;
const DAY: i64 = 86_400_000_000;

/// Grades a learner as edX's update after an answer does, stores the written rows into
/// `data`, and returns the persisted course grade.
fn persist(
    s: &CourseStructure,
    view: &CourseView,
    policy: &GradingPolicy,
    data: &mut Data,
    rescore: Rescore,
) -> ReadCourseGrade {
    let plan = ViewPlan::new(s, view);
    let g =
        grade_learner(s, &plan, policy, &Compat::newest(), rescore, data, &mut Scratch::default()).unwrap();
    for r in &g.subsections {
        if r.written {
            let ov = data.persisted.get(&r.block).and_then(|(_, o)| *o);
            data.persisted.insert(r.block, (r.row.unwrap(), ov));
            data.blocks.insert(r.block, block_records(s, g.visible_blocks(r).unwrap()));
        }
    }
    ReadCourseGrade::Persisted {
        percent: g.course.percent,
        letter_grade: g.course.letter_column().to_string(),
    }
}

fn read_subsection(data: &Data) -> impl FnMut(u32) -> Option<SubsectionGrade> + '_ {
    |b| data.persisted.get(&b).map(|(row, ov)| SubsectionGrade::read(row, ov.as_ref()))
}

fn learner(id: i64, mode: &str) -> ReportLearner {
    ReportLearner {
        user_id: id,
        email: format!("u{id}@example.invalid"),
        username: format!("u{id}"),
        mode: mode.into(),
        is_active: true,
        ..Default::default()
    }
}

fn strs(cells: &[Cell]) -> Vec<String> {
    cells.iter().map(ToString::to_string).collect()
}

/// E41's course: Homework min 4, drop 0; Subsection, Hidden, Unattempted, Empty, Unreleased.
fn e41_course() -> (CourseStructure, GradingPolicy) {
    let rows = vec![
        node("course", "course", &["ch"]),
        node("ch", "chapter", &["sub", "hidden", "unatt", "empty", "unrel"]),
        seq("sub", "Subsection", "Homework", &["v1"]),
        node("v1", "vertical", &["p1"]),
        problem("p1", 2.0),
        BlockRow { visible_to_staff_only: Some(true), ..seq("hidden", "Hidden", "Homework", &["v2"]) },
        node("v2", "vertical", &["p2"]),
        problem("p2", 2.0),
        seq("unatt", "Unattempted", "Homework", &["v3"]),
        node("v3", "vertical", &["p3"]),
        problem("p3", 2.0),
        seq("empty", "Empty", "Homework", &[]),
        BlockRow { start: Some(NOW + DAY), ..seq("unrel", "Unreleased", "Homework", &["v4"]) },
        node("v4", "vertical", &["p4"]),
        problem("p4", 2.0),
    ];
    let policy = GradingPolicy::parse(
        r#"{"GRADER": [{"type": "Homework", "min_count": 4, "drop_count": 0, "short_label": "HW", "weight": 1.0}],
            "GRADE_CUTOFFS": {"Pass": 0.5}}"#,
    )
    .unwrap();
    (build(rows), policy)
}

fn report<'a>(
    s: &'a CourseStructure,
    policy: &'a GradingPolicy,
    ctx: &'a GradingContext,
) -> CourseReport<'a> {
    CourseReport {
        structure: s,
        policy,
        context: ctx,
        cohorted: false,
        experiments: vec![],
        teams_enabled: false,
        certificates: CertificateCourse::default(),
    }
}

/// E41/E42's learner answered 1 of 2 on "Subsection": edX stores the rows of `keys`
/// (computed as a recompute would) and reads everything else as zero.
fn e41_answered(s: &CourseStructure, view: &CourseView, policy: &GradingPolicy, keys: &[&str]) -> Data {
    let mut data = Data::default();
    data.csm.insert(idx(s, "p1"), csm(1.0, 2.0, NOW - 10));
    let plan = ViewPlan::new(s, view);
    let g = grade_learner(
        s,
        &plan,
        policy,
        &Compat::newest(),
        Rescore::Recompute,
        &data,
        &mut Scratch::default(),
    )
    .unwrap();
    for key in keys {
        let r = g.subsections.iter().find(|r| r.block == idx(s, key)).unwrap();
        data.persisted.insert(r.block, (r.row.unwrap(), None));
    }
    data
}

#[test]
fn e41_course_grade_report() {
    let (s, policy) = e41_course();
    let view = s.view(NOW, |_| None);
    let mut data = e41_answered(&s, &view, &policy, &["sub"]);
    let grade = persist(&s, &view, &policy, &mut data, Rescore::Read);
    assert_eq!(grade, ReadCourseGrade::Persisted { percent: 0.13, letter_grade: String::new() });

    let ctx = GradingContext::new(&s, &policy);
    let r = report(&s, &policy, &ctx);
    let header = r.header();
    assert_eq!(
        header[..9],
        [
            "Student ID",
            "Email",
            "Username",
            "Grade",
            "Homework 1: Subsection",
            "Homework 2: Unattempted",
            "Homework 3: Empty",
            "Homework 4: Unreleased",
            "Homework (Avg)"
        ]
    );
    assert!(!header.iter().any(|h| h.contains("Hidden")));
    let row = strs(&r.row(&learner(1, "audit"), &grade, read_subsection(&data), &Compat::newest(), NOW));
    assert_eq!(row.len(), header.len());
    assert_eq!(row[3..9], ["0.13", "0.5", "Not Attempted", "Not Attempted", "Not Attempted", "0.125"]);
    assert_eq!(row[9..], ["audit", "N/A", "N", "N", "N/A", "enrolled"]);
}

#[test]
fn e42_course_grade_report_with_override() {
    let (s, policy) = e41_course();
    let view = s.view(NOW, |_| None);
    // The override API first stores a zero-earned row for the never-attempted subsection.
    let mut data = e41_answered(&s, &view, &policy, &["sub", "unatt"]);
    let unatt = idx(&s, "unatt");
    let row = data.persisted[&unatt].0;
    assert_eq!((row.earned_graded, row.possible_graded, row.first_attempted), (0.0, 2.0, None));
    // earned_graded_override=2.0; the other fields are copies of the row's values.
    let ov = Override {
        earned_all: Some(row.earned_all),
        possible_all: Some(row.possible_all),
        earned_graded: Some(2.0),
        possible_graded: Some(row.possible_graded),
    };
    data.persisted.get_mut(&unatt).unwrap().1 = Some(ov);
    let grade = persist(&s, &view, &policy, &mut data, Rescore::Read);
    assert_eq!(grade.percent(), 0.38);

    let ctx = GradingContext::new(&s, &policy);
    let r = report(&s, &policy, &ctx);
    let row = strs(&r.row(&learner(1, "audit"), &grade, read_subsection(&data), &Compat::newest(), NOW));
    assert_eq!(row[3..9], ["0.38", "0.5", "1.0", "Not Attempted", "Not Attempted", "0.375"]);
}

#[test]
fn e43_certificate_and_enrollment_columns() {
    let course = CertificateCourse {
        self_paced: false,
        display_behavior: None,
        certificate_available_date: Some(NOW - DAY),
        course_end: Some(NOW - 2 * DAY),
        course_modes: vec!["honor".into(), "verified".into()],
    };
    let cert = |status: &str, mode: &str| Certificate { status: status.into(), mode: mode.into() };
    let row = |mode: &str, letter: Option<&str>, idv: bool, c: Certificate| {
        let mut v = vec![mode.to_string(), verification_status(mode, idv).to_string()];
        v.extend(certificate_info(&course, letter, mode, true, Some(&c), NOW));
        v
    };
    assert_eq!(
        row("verified", None, true, cert("notpassing", "honor")),
        ["verified", "ID Verified", "Y", "N", "N/A"]
    );
    assert_eq!(
        row("verified", None, true, cert("downloadable", "verified")),
        ["verified", "ID Verified", "Y", "Y", "verified"]
    );
    assert_eq!(
        row("honor", Some("Pass"), false, cert("restricted", "honor")),
        ["honor", "N/A", "Y", "N", "N/A"]
    );
    assert_eq!(
        row("verified", Some("Pass"), false, cert("downloadable", "honor")),
        ["verified", "Not ID Verified", "Y", "Y", "honor"]
    );
}

#[test]
fn e44_certificate_eligibility_without_allowlist() {
    let course =
        CertificateCourse { course_modes: vec!["audit".into(), "verified".into()], ..Default::default() };
    let eligible = |mode: &str, letter: Option<&str>| {
        certificate_info(&course, letter, mode, false, None, NOW)[0].clone()
    };
    assert_eq!(eligible("audit", None), "N");
    assert_eq!(eligible("audit", None), "N", "a persisted failing grade has no letter");
    assert_eq!(eligible("audit", Some("pass")), "N");
    assert_eq!(eligible("verified", Some("pass")), "Y");
}

/// One Homework subsection with one problem (max 2), under the default policy.
fn e45_course() -> CourseStructure {
    build(vec![
        node("course", "course", &["ch"]),
        node("ch", "chapter", &["sub"]),
        seq("sub", "Subsection", "Homework", &["v"]),
        node("v", "vertical", &["p"]),
        BlockRow { display_name: Some("Problem1".into()), ..problem("p", 2.0) },
    ])
}

#[test]
fn e45_problem_grade_report() {
    let s = e45_course();
    let policy = GradingPolicy::default_policy();
    let view = s.view(NOW, |_| None);
    let ctx = GradingContext::new(&s, &policy);
    let cols = problem_columns(&s, &ctx);
    assert_eq!(
        problem_header(&cols),
        [
            "Student ID",
            "Email",
            "Username",
            "Enrollment Status",
            "Grade",
            "Homework 1: Subsection - Problem1 (Earned)",
            "Homework 1: Subsection - Problem1 (Possible)"
        ]
    );
    // Student 1 answers 1 of 2.
    let mut d1 = Data::default();
    d1.csm.insert(idx(&s, "p"), csm(1.0, 2.0, NOW - 10));
    let g1 = persist(&s, &view, &policy, &mut d1, Rescore::Recompute);
    let scores1 = read_problem_scores(&s, &view, false, true, &d1).unwrap();
    let row1 = strs(&problem_row(&learner(1, "audit"), &g1, &cols, |b| scores1.get(&b).copied()));
    assert_eq!(row1[3..], ["enrolled", "0.01", "1.0", "2.0"]);
    // Student 2 never answered: no grade at all.
    let d2 = Data::default();
    let scores2 = read_problem_scores(&s, &view, true, true, &d2).unwrap();
    let row2 =
        strs(&problem_row(&learner(2, "audit"), &ReadCourseGrade::Zero, &cols, |b| scores2.get(&b).copied()));
    assert_eq!(row2[3..], ["enrolled", "0.0", "Not Attempted", "2.0"]);
    // An inactive learner.
    let inactive = ReportLearner { is_active: false, ..learner(3, "audit") };
    let row3 = strs(&problem_row(&inactive, &ReadCourseGrade::Zero, &cols, |b| scores2.get(&b).copied()));
    assert_eq!(row3[3..], ["unenrolled", "0.0", "Not Attempted", "2.0"]);
}

fn one_homework_policy() -> GradingPolicy {
    GradingPolicy::parse(
        r#"{"GRADER": [{"type": "Homework", "min_count": 1, "drop_count": 0, "weight": 1.0}]}"#,
    )
    .unwrap()
}

#[test]
fn e46_problem_report_with_split_test() {
    let partitions = parse_user_partitions(
        r#"[{"id": 0, "name": "Experiment", "scheme": "random", "groups": [{"id": 0, "name": "A"}, {"id": 1, "name": "B"}]}]"#,
    )
    .unwrap();
    let s = build_with(
        vec![
            node("course", "course", &["ch"]),
            node("ch", "chapter", &["sub"]),
            seq("sub", "Subsection", "Homework", &["v"]),
            node("v", "vertical", &["split"]),
            node("split", "split_test", &["va", "vb"]),
            BlockRow { group_access: Some(r#"{"0": [0]}"#.into()), ..node("va", "vertical", &["pa"]) },
            BlockRow { group_access: Some(r#"{"0": [1]}"#.into()), ..node("vb", "vertical", &["pb"]) },
            problem("pa", 2.0),
            problem("pb", 2.0),
        ],
        partitions,
        &[],
    );
    let policy = one_homework_policy();
    let ctx = GradingContext::new(&s, &policy);
    let cols = problem_columns(&s, &ctx);
    assert_eq!(cols.len(), 2, "the report lists every split-test branch");
    let row = |group: i64, problem: &str, earned: f64| {
        let c = LearnerContext { partition_groups: vec![(0, group)], ..Default::default() };
        let view = s.view(NOW, |pid| c.group_of(&s, &[], pid));
        let mut d = Data::default();
        d.csm.insert(idx(&s, problem), csm(earned, 2.0, NOW - 10));
        let g = persist(&s, &view, &policy, &mut d, Rescore::Recompute);
        let scores = read_problem_scores(&s, &view, false, true, &d).unwrap();
        strs(&problem_row(&learner(1, "audit"), &g, &cols, |b| scores.get(&b).copied()))[4..].to_vec()
    };
    assert_eq!(row(0, "pa", 2.0), ["1.0", "2.0", "2.0", "Not Available", "Not Available"]);
    assert_eq!(row(1, "pb", 1.0), ["0.5", "Not Available", "Not Available", "1.0", "2.0"]);
}

#[test]
fn e47_problem_report_with_cohort_content_groups() {
    let partitions = parse_user_partitions(
        r#"[{"id": 101, "name": "Content groups", "scheme": "cohort", "groups": [{"id": 1, "name": "alpha"}, {"id": 2, "name": "beta"}]}]"#,
    )
    .unwrap();
    let s = build_with(
        vec![
            node("course", "course", &["ch"]),
            node("ch", "chapter", &["sub"]),
            seq("sub", "Subsection", "Homework", &["v"]),
            node("v", "vertical", &["p0", "p1"]),
            BlockRow { group_access: Some(r#"{"101": [1]}"#.into()), ..problem("p0", 2.0) },
            BlockRow { group_access: Some(r#"{"101": [2]}"#.into()), ..problem("p1", 2.0) },
        ],
        partitions,
        &[],
    );
    let policy = one_homework_policy();
    let ctx = GradingContext::new(&s, &policy);
    let cols = problem_columns(&s, &ctx);
    let answered = |view: &CourseView, problem: Option<(&str, f64)>| {
        let mut d = Data::default();
        let grade = match problem {
            Some((p, earned)) => {
                d.csm.insert(idx(&s, p), csm(earned, 2.0, NOW - 10));
                persist(&s, view, &policy, &mut d, Rescore::Recompute)
            }
            None => ReadCourseGrade::Zero,
        };
        let scores = read_problem_scores(&s, view, grade == ReadCourseGrade::Zero, true, &d).unwrap();
        strs(&problem_row(&learner(1, "audit"), &grade, &cols, |b| scores.get(&b).copied()))[4..].to_vec()
    };
    let cohort = |g: Option<i64>| {
        let c = LearnerContext { cohort_group: g.map(|g| (101, g)), ..Default::default() };
        s.view(NOW, |pid| c.group_of(&s, &[], pid))
    };
    assert_eq!(answered(&s.staff_view(NOW), None), ["0.0", "Not Attempted", "2.0", "Not Attempted", "2.0"]);
    assert_eq!(
        answered(&cohort(Some(1)), Some(("p0", 2.0))),
        ["1.0", "2.0", "2.0", "Not Available", "Not Available"]
    );
    assert_eq!(
        answered(&cohort(Some(2)), Some(("p1", 1.0))),
        ["0.5", "Not Available", "Not Available", "1.0", "2.0"]
    );
    assert_eq!(
        answered(&cohort(None), None),
        ["0.0", "Not Available", "Not Available", "Not Available", "Not Available"]
    );
}

#[test]
fn e48_problem_report_without_graded_problems() {
    let s = build(vec![
        node("course", "course", &["ch"]),
        node("ch", "chapter", &["sub"]),
        node("sub", "sequential", &[]),
    ]);
    let policy = GradingPolicy::default_policy();
    let ctx = GradingContext::new(&s, &policy);
    let cols = problem_columns(&s, &ctx);
    assert!(cols.is_empty());
    let row = strs(&problem_row(&learner(7, "audit"), &ReadCourseGrade::Zero, &cols, |_| None));
    assert_eq!(row, ["7", "u7@example.invalid", "u7", "enrolled", "0.0"]);
}

#[test]
fn e49_report_file_names() {
    let at = 1_577_836_800_000_000; // 2020-01-01T00:00:00Z
    let course = "course-v1:edx+1.23x+test_course";
    assert_eq!(
        report_file_name(course, "student_state_from_blkid", at),
        "edx_1.23x_test_course_student_state_from_blkid_2020-01-01-0000.csv"
    );
    assert_eq!(
        report_file_name(course, "student_state_from_blkid_for_poll,survey", at),
        "edx_1.23x_test_course_student_state_from_blkid_for_poll,survey_2020-01-01-0000.csv"
    );
    assert_eq!(
        report_file_name(course, "grade_report", at),
        "edx_1.23x_test_course_grade_report_2020-01-01-0000.csv"
    );
    assert_eq!(
        report_file_name("course-v1:edX+DemoX+Demo_Course", "grade_report", 1_714_573_920_000_000),
        "edX_DemoX_Demo_Course_grade_report_2024-05-01-1432.csv"
    );
    // Old-style keys and characters Django's get_valid_filename drops.
    assert_eq!(course_filename_prefix("MITx/6.002x/2012_Fall"), "MITx_6.002x_2012_Fall");
    assert_eq!(course_filename_prefix("course-v1:a b+c/d+e:f"), "a_b_cd_ef");
}

#[test]
fn csv_lines_follow_pythons_excel_dialect() {
    assert_eq!(
        csv_line(&["a", "b,c", "say \"hi\"", "x\ny", ""]),
        "a,\"b,c\",\"say \"\"hi\"\"\",\"x\ny\",\r\n"
    );
    assert_eq!(csv_line(&[""]), "\"\"\r\n");
    assert_eq!(csv_line(&["0.16666666666666666", "1.0"]), "0.16666666666666666,1.0\r\n");
}

#[test]
fn avg_column_is_skipped_when_no_grader_matches_the_category() {
    // The format "Homework" has a grader whose category is "HW": the (Avg) header is
    // written but no value, shifting the rest of the row left (edX's behaviour).
    let s = build(vec![
        node("course", "course", &["ch"]),
        node("ch", "chapter", &["a", "b"]),
        seq("a", "A", "Homework", &[]),
        seq("b", "B", "Homework", &[]),
    ]);
    let policy = GradingPolicy::parse(
        r#"{"GRADER": [{"type": "Homework", "category": "HW", "min_count": 2, "drop_count": 0, "weight": 1.0}]}"#,
    )
    .unwrap();
    let ctx = GradingContext::new(&s, &policy);
    let r = report(&s, &policy, &ctx);
    let grade = ReadCourseGrade::Persisted { percent: 0.0, letter_grade: String::new() };
    let row = r.row(&learner(1, "audit"), &grade, |_| None, &Compat::newest(), NOW);
    assert_eq!(r.header().len(), row.len() + 1);
}
