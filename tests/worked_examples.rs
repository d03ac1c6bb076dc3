//! The worked examples of `../shared/spec/edx-grading.md` §13, one test each, named after
//! them. Expected values are the spec's (recomputed there with an independent f64
//! emulation of edX's formulas), never derived from this crate's output.

mod common;

use common::*;
use regrade::grade::compat::{Absent, Compat, PercentRounding};
use regrade::grade::course::{self, passed_timestamp, read_passed, CourseGrade, GradedSubsection};
use regrade::grade::graders::{AssignmentFormatGrader, Scratch, SheetEntry, WeightedGrader};
use regrade::grade::hash::{sha1_base64, visible_blocks_hash, visible_blocks_json};
use regrade::grade::learner::{grade_learner, Rescore, ViewPlan};
use regrade::grade::numeric::{
    compare_scores, compute_percent, course_percent, round_away_from_zero, ZeroDivision,
};
use regrade::grade::policy::GradingPolicy;
use regrade::grade::scores::{
    aggregate_scores, get_score, weighted_score, BlockRecord, ContentScore, CsmScore, ProblemScore,
    SubmissionScore,
};
use regrade::grade::subsection::{self, Override, PersistedValues, SubsectionGrade};
use regrade::py::fmt::PyNum;
use regrade::py::json as pyjson;

const NEWEST: Compat = Compat {
    name: "test-current",
    summary: "",
    percent_rounding: PercentRounding::Decimals(4),
    detail_percent_decimals: 2,
    absent: Absent::Zero,
};

fn pct(e: f64, p: f64) -> f64 {
    compute_percent(e, p, PercentRounding::Decimals(4))
}

fn ps(earned: f64, possible: f64, graded: bool, t: Option<i64>) -> ProblemScore {
    ProblemScore {
        raw_earned: Some(earned),
        raw_possible: Some(possible),
        earned,
        possible,
        weight: None,
        graded,
        first_attempted: t,
    }
}

fn afg(kind: &str, min: i64, drop: i64, weight: f64) -> AssignmentFormatGrader {
    AssignmentFormatGrader {
        kind: kind.into(),
        min_count: min,
        drop_count: drop,
        category: kind.into(),
        section_type: kind.into(),
        short_label: kind.into(),
        show_only_average: false,
        hide_average: false,
        starting_index: 1,
        weight: PyNum::Float(weight),
    }
}

/// The shared grade sheet TS of `xmodule/tests/test_graders.py`.
struct Ts {
    locations: Vec<String>,
}

impl Ts {
    fn new() -> Ts {
        Ts { locations: (0..10).map(|i| format!("loc{i}")).collect() }
    }
    fn sheet(&self, kind: &str) -> Vec<SheetEntry<'_>> {
        let raw: &[(&str, f64, f64)] = match kind {
            "Homework" => &[("hw1", 2.0, 20.0), ("hw2", 16.0, 16.0)],
            "Lab" => &[
                ("lab1", 1.0, 2.0),
                ("lab2", 1.0, 1.0),
                ("lab3", 1.0, 1.0),
                ("lab4", 5.0, 25.0),
                ("lab5", 3.0, 4.0),
                ("lab6", 6.0, 7.0),
                ("lab7", 5.0, 6.0),
            ],
            "Midterm" => &[("Midterm Exam", 50.5, 100.0)],
            _ => &[],
        };
        raw.iter()
            .map(|(name, e, p)| SheetEntry {
                location: name,
                display_name: name,
                graded_earned: *e,
                graded_possible: *p,
                percent_graded: pct(*e, *p),
            })
            .collect()
    }
}

fn f(x: PyNum) -> f64 {
    match x {
        PyNum::Float(v) => v,
        PyNum::Int(i) => panic!("expected a float, got the int {i}"),
    }
}

#[test]
fn e01_aggregate_empty() {
    let (all, graded) = aggregate_scores(&[]);
    assert_eq!((all.earned, all.possible, all.first_attempted), (0.0, 0.0, None));
    assert_eq!((graded.earned, graded.possible, graded.first_attempted), (0.0, 0.0, None));
}

#[test]
fn e02_aggregate_one_ungraded() {
    let (all, graded) = aggregate_scores(&[ps(0.0, 5.0, false, None)]);
    assert_eq!((all.earned, all.possible), (0.0, 5.0));
    assert_eq!((graded.earned, graded.possible), (0.0, 0.0));
}

#[test]
fn e03_aggregate_graded_attempt() {
    let t = 1_000;
    let (all, graded) = aggregate_scores(&[ps(0.0, 5.0, false, None), ps(3.0, 5.0, true, Some(t))]);
    assert_eq!((all.earned, all.possible, all.first_attempted), (3.0, 10.0, Some(t)));
    assert_eq!((graded.earned, graded.possible, graded.first_attempted), (3.0, 5.0, Some(t)));
}

#[test]
fn e04_aggregate_adds_up() {
    let scores = [ps(0.0, 5.0, false, None), ps(3.0, 5.0, true, Some(9)), ps(2.0, 5.0, true, None)];
    let (all, graded) = aggregate_scores(&scores);
    assert_eq!((all.earned, all.possible), (5.0, 15.0));
    assert_eq!((graded.earned, graded.possible), (5.0, 10.0));
}

#[test]
fn e05_homework_min12_drop2() {
    let ts = Ts::new();
    let r = afg("Homework", 12, 2, 1.0).grade(&ts.sheet("Homework"), &NEWEST);
    assert_eq!(f(r.percent), 0.11000000000000001);
    assert_eq!(r.section_breakdown.len(), 13);
    assert_eq!(r.section_breakdown[0].label, "Homework 01");
    assert_eq!(r.section_breakdown[12].label, "Homework Avg");
    let dropped: Vec<usize> =
        r.section_breakdown.iter().enumerate().filter(|(_, e)| e.mark.is_some()).map(|(i, _)| i).collect();
    assert_eq!(dropped, vec![10, 11]);
    assert!(ts.locations.len() == 10);
}

#[test]
fn e06_homework_no_drop() {
    let r = afg("Homework", 12, 0, 1.0).grade(&Ts::new().sheet("Homework"), &NEWEST);
    assert_eq!(f(r.percent), 0.09166666666666667);
    assert_eq!(r.section_breakdown.len(), 13);
}

#[test]
fn e07_lab_overflow_min3_drop2() {
    let r = afg("Lab", 3, 2, 1.0).grade(&Ts::new().sheet("Lab"), &NEWEST);
    assert_eq!(f(r.percent), 0.8880800000000001);
    assert_eq!(r.section_breakdown.len(), 8);
    let dropped: Vec<usize> =
        r.section_breakdown.iter().enumerate().filter(|(_, e)| e.mark.is_some()).map(|(i, _)| i).collect();
    assert_eq!(dropped, vec![0, 3]);
}

#[test]
fn e08_lab_min7_drop3() {
    let r = afg("Lab", 7, 3, 1.0).grade(&Ts::new().sheet("Lab"), &NEWEST);
    assert_eq!(f(r.percent), 0.9226);
    assert_eq!(r.section_breakdown.len(), 8);
}

#[test]
fn e09_single_midterm() {
    let r = afg("Midterm", 1, 0, 1.0).grade(&Ts::new().sheet("Midterm"), &NEWEST);
    assert_eq!(f(r.percent), 0.505);
    assert_eq!(r.section_breakdown.len(), 1);
    assert_eq!(r.section_breakdown[0].label, "Midterm");
    assert_eq!(r.section_breakdown[0].detail, "Midterm = 50.50%");
    assert!(r.section_breakdown[0].prominent);
}

#[test]
fn e10_single_midterm_empty_sheet() {
    let r = afg("Midterm", 1, 0, 1.0).grade(&[], &NEWEST);
    assert_eq!(f(r.percent), 0.0);
    assert_eq!(r.section_breakdown.len(), 1);
    assert_eq!(r.section_breakdown[0].label, "Midterm");
    assert_eq!(r.section_breakdown[0].detail, "Midterm = 0.00%");
}

#[test]
fn e11_homework_empty_sheet_placeholders() {
    let r = afg("Homework", 12, 2, 1.0).grade(&[], &NEWEST);
    assert_eq!(f(r.percent), 0.0);
    assert_eq!(r.section_breakdown.len(), 13);
    assert_eq!(r.section_breakdown[0].detail, "Homework 1 Unreleased - 0% (?/?)");
    assert_eq!(r.section_breakdown[11].detail, "Homework 12 Unreleased - 0% (?/?)");
    assert_eq!(r.section_breakdown[0].sequential_id, None);
}

fn ts_weighted(w: [f64; 3]) -> WeightedGrader {
    WeightedGrader {
        subgraders: vec![afg("Homework", 12, 2, w[0]), afg("Lab", 7, 3, w[1]), afg("Midterm", 1, 0, w[2])],
    }
}

#[test]
fn e12_weighted_grader() {
    let ts = Ts::new();
    let r = ts_weighted([0.25, 0.25, 0.5]).grade(|k| ts.sheet(k), &NEWEST);
    assert_eq!(r.percent, 0.51065);
    assert_eq!(course_percent(r.percent), 0.51);
    assert_eq!(r.section_breakdown.len(), 22);
    assert_eq!(r.grade_breakdown.len(), 3);
    // The fast path gives the same number as the full grader.
    let percents: Vec<(String, Vec<f64>)> = ["Homework", "Lab", "Midterm"]
        .iter()
        .map(|k| (k.to_string(), ts.sheet(k).iter().map(|e| e.percent_graded).collect()))
        .collect();
    let fast = ts_weighted([0.25, 0.25, 0.5]).percent(
        |k| percents.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_slice()).unwrap_or(&[]),
        &mut Scratch::default(),
    );
    assert_eq!(fast, 0.51065);
}

#[test]
fn e13_weights_half() {
    let ts = Ts::new();
    let r = ts_weighted([0.5, 0.5, 0.5]).grade(|k| ts.sheet(k), &NEWEST);
    assert_eq!(r.percent, 0.7687999999999999);
    assert_eq!(course_percent(r.percent), 0.77);
}

#[test]
fn e14_zero_weights_and_empty_grader() {
    let ts = Ts::new();
    let r = ts_weighted([0.0, 0.0, 0.5]).grade(|k| ts.sheet(k), &NEWEST);
    assert_eq!(r.percent, 0.2525);
    assert_eq!(course_percent(r.percent), 0.25);
    let r = ts_weighted([0.0, 0.0, 0.0]).grade(|k| ts.sheet(k), &NEWEST);
    assert_eq!(r.percent, 0.0);
    let empty = WeightedGrader::default().grade(|k| ts.sheet(k), &NEWEST);
    assert_eq!(empty.percent, 0.0);
    assert!(empty.section_breakdown.is_empty());
    assert!(empty.grade_breakdown.is_empty());
}

#[test]
fn e15_grader_from_conf_string_min_count() {
    let policy = GradingPolicy::parse(
        r#"{"GRADER": [
            {"type": "Homework", "min_count": "12", "drop_count": 2, "short_label": "HW", "weight": 0.25},
            {"type": "Lab", "min_count": 7, "drop_count": 3, "category": "Labs", "weight": 0.25},
            {"type": "Midterm", "name": "Midterm Exam", "min_count": "0", "drop_count": 0, "weight": 0.5}
        ], "GRADE_CUTOFFS": {"Pass": 0.5}}"#,
    )
    .unwrap();
    assert_eq!(policy.warnings.len(), 1, "{:?}", policy.warnings);
    assert!(policy.warnings[0].contains("name"));
    let ts = Ts::new();
    let r = policy.grader.grade(|k| ts.sheet(k), &NEWEST);
    assert_eq!(r.percent, 0.51065);
    assert_eq!(r.section_breakdown.len(), 22);
    assert_eq!(r.grade_breakdown.len(), 3);
    assert_eq!(r.grade_breakdown[1].category, "Labs");
    // min_count 0 with one midterm: still a single entry.
    assert_eq!(r.section_breakdown[21].label, "Midterm");
}

#[test]
fn e16_invalid_grader_conf() {
    for bad in [r#"{"GRADER": [{}]}"#, r#"{"GRADER": [{"type": "Homework", "drop_count": 0}]}"#] {
        let e = GradingPolicy::parse(bad).unwrap_err();
        assert!(e.to_string().contains("Configuration has no appropriate grader class."), "{e}");
    }
    let e = GradingPolicy::parse(r#"{"GRADER": [{"type": "Homework", "min_count": 0}]}"#).unwrap_err();
    assert!(e.to_string().contains("drop_count"), "{e}");
    assert_eq!(e.path, "GRADER[0]");
}

#[test]
fn e17_sequential_ids_in_breakdown() {
    let ts = Ts::new();
    let r = ts_weighted([0.25, 0.25, 0.5]).grade(|k| ts.sheet(k), &NEWEST);
    let ids: Vec<Option<&str>> = r.section_breakdown.iter().map(|e| e.sequential_id.as_deref()).collect();
    let mut want: Vec<Option<&str>> = vec![Some("hw1"), Some("hw2")];
    want.extend(std::iter::repeat_n(None, 11));
    want.extend(["lab1", "lab2", "lab3", "lab4", "lab5", "lab6", "lab7"].map(Some));
    want.push(None);
    want.push(Some("Midterm Exam"));
    assert_eq!(ids, want);
}

#[test]
fn e18_weighted_score_unchanged() {
    let w = |x: f64| Some(PyNum::Float(x));
    assert_eq!(weighted_score(0.0, 0.0, w(1.0)), (0.0, 0.0));
    assert_eq!(weighted_score(5.0, 0.0, w(0.0)), (5.0, 0.0));
    assert_eq!(weighted_score(10.0, 0.0, None), (10.0, 0.0));
    assert_eq!(weighted_score(0.0, 5.0, None), (0.0, 5.0));
    assert_eq!(weighted_score(5.0, 10.0, None), (5.0, 10.0));
    assert_eq!(weighted_score(10.0, 10.0, None), (10.0, 10.0));
}

#[test]
fn e19_weighted_score_computed() {
    let w = |x: i64| Some(PyNum::Int(x));
    assert_eq!(weighted_score(0.0, 5.0, w(0)), (0.0, 0.0));
    assert_eq!(weighted_score(5.0, 5.0, w(0)), (0.0, 0.0));
    assert_eq!(weighted_score(2.0, 5.0, w(1)), (0.4, 1.0));
    assert_eq!(weighted_score(5.0, 5.0, w(1)), (1.0, 1.0));
    assert_eq!(weighted_score(5.0, 5.0, w(3)), (3.0, 3.0));
    assert_eq!(weighted_score(2.0, 4.0, w(6)), (3.0, 6.0));
    // weighted_score(1, None, 1) is an AssertionError in edX: raw_possible is not optional
    // here, and get_score never calls it without one (see e24 and scores with no max_score).
}

const NOW: i64 = 1_700_000_000_000_000;

fn e20_inputs() -> (SubmissionScore, CsmScore, BlockRecord, ContentScore) {
    (
        SubmissionScore { points_earned: 50.0, points_possible: 100.0, created_at: NOW },
        CsmScore { grade: Some(10.0), max_grade: Some(40.0), created: NOW - 5 },
        BlockRecord {
            locator: "p".into(),
            weight: Some(PyNum::Int(40)),
            raw_possible: Some(PyNum::Float(5.0)),
            graded: true,
        },
        ContentScore { weight: Some(20.0), max_score: Some(1.0), explicit_graded: Some(false) },
    )
}

#[test]
fn e20_get_score_submissions_win() {
    let (sub, csm, rec, content) = e20_inputs();
    let s = get_score(Some(&sub), Some(&csm), Some(&rec), &content).unwrap().unwrap();
    assert_eq!((s.raw_earned, s.raw_possible), (None, None));
    assert_eq!((s.earned, s.possible), (50.0, 100.0));
    assert_eq!(s.weight, Some(PyNum::Int(40)));
    assert!(s.graded);
    assert_eq!(s.first_attempted, Some(NOW));
}

#[test]
fn e21_get_score_csm() {
    let (_, csm, rec, content) = e20_inputs();
    let s = get_score(None, Some(&csm), Some(&rec), &content).unwrap().unwrap();
    assert_eq!((s.raw_earned, s.raw_possible), (Some(10.0), Some(40.0)));
    assert_eq!((s.earned, s.possible), (10.0, 40.0));
    assert_eq!(s.weight, Some(PyNum::Int(40)));
    assert!(s.graded);
    assert_eq!(s.first_attempted, Some(NOW - 5));
}

#[test]
fn e22_get_score_csm_null_earned() {
    let (_, mut csm, rec, content) = e20_inputs();
    csm.grade = None;
    let s = get_score(None, Some(&csm), Some(&rec), &content).unwrap().unwrap();
    assert_eq!((s.raw_earned, s.raw_possible), (Some(0.0), Some(40.0)));
    assert_eq!((s.earned, s.possible), (0.0, 40.0));
    assert!(s.graded);
    assert_eq!(s.first_attempted, None);
}

#[test]
fn e23_get_score_persisted_block() {
    let (_, _, rec, content) = e20_inputs();
    let s = get_score(None, None, Some(&rec), &content).unwrap().unwrap();
    assert_eq!((s.raw_earned, s.raw_possible), (Some(0.0), Some(5.0)));
    assert_eq!((s.earned, s.possible), (0.0, 40.0));
    assert_eq!(s.weight, Some(PyNum::Int(40)));
    assert!(s.graded);
    assert_eq!(s.first_attempted, None);
}

#[test]
fn e24_get_score_latest_content() {
    let (_, _, _, content) = e20_inputs();
    let s = get_score(None, None, None, &content).unwrap().unwrap();
    assert_eq!((s.raw_earned, s.raw_possible), (Some(0.0), Some(1.0)));
    assert_eq!((s.earned, s.possible), (0.0, 20.0));
    assert_eq!(s.weight, Some(PyNum::Float(20.0)));
    assert!(!s.graded);
}

#[test]
fn e25_graded_from_block() {
    let content = |g| ContentScore { weight: None, max_score: Some(1.0), explicit_graded: g };
    let graded =
        |c: ContentScore, rec: Option<&BlockRecord>| get_score(None, None, rec, &c).unwrap().unwrap().graded;
    assert!(graded(content(None), None));
    assert!(graded(content(Some(true)), None));
    assert!(!graded(content(Some(false)), None));
    for record_graded in [true, false] {
        let rec = BlockRecord {
            locator: "p".into(),
            weight: None,
            raw_possible: Some(PyNum::Float(1.0)),
            graded: record_graded,
        };
        for g in [None, Some(true), Some(false)] {
            assert_eq!(graded(content(g), Some(&rec)), record_graded);
        }
    }
}

#[test]
fn e26_capa_weight_and_graded_metadata() {
    let csm = CsmScore { grade: Some(1.0), max_grade: Some(2.0), created: NOW };
    let score = |w: Option<f64>| {
        let s = get_score(
            None,
            Some(&csm),
            None,
            &ContentScore { weight: w, max_score: Some(2.0), explicit_graded: None },
        )
        .unwrap()
        .unwrap();
        (s.earned, s.possible)
    };
    assert_eq!(score(Some(2.5)), (1.25, 2.5));
    assert_eq!(score(Some(27.0)), (13.5, 27.0));
    assert_eq!(score(Some(1.0)), (0.5, 1.0));
    assert_eq!(score(Some(0.0)), (0.0, 0.0));
    assert_eq!(score(None), (1.0, 2.0));
    let ungraded = get_score(
        None,
        Some(&csm),
        None,
        &ContentScore { weight: None, max_score: Some(2.0), explicit_graded: Some(false) },
    )
    .unwrap()
    .unwrap();
    let (_, graded) = aggregate_scores(&[ungraded]);
    assert_eq!((graded.earned, graded.possible), (0.0, 0.0));
}

#[test]
fn e27_submissions_for_all_problems_none_block_dropped() {
    // Seven scorable blocks; six answered through the submissions API at 3/7, one with no
    // max_score (and no score) that get_score drops. Unanswered, the content sums to 17.
    let maxes = [Some(1.0), Some(2.0), Some(3.0), Some(4.0), Some(5.0), Some(2.0), None];
    let mut rows = vec![node("course", "course", &["ch"]), node("ch", "chapter", &["seq"])];
    let keys: Vec<String> = (0..7).map(|i| format!("p{i}")).collect();
    let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    rows.push(seq("seq", "Seq", "Homework", &["v"]));
    rows.push(node("v", "vertical", &key_refs));
    for (k, m) in keys.iter().zip(maxes) {
        let mut p = problem(k, 0.0);
        p.max_score = m;
        rows.push(p);
    }
    let s = build(rows);
    let view = s.view(NOW, |_| None);
    let problems = view.problems(&s, idx(&s, "seq"));
    assert_eq!(problems.len(), 7);
    let sub = SubmissionScore { points_earned: 3.0, points_possible: 7.0, created_at: NOW };
    let content = |b: u32| {
        let r = &s.blocks[b as usize];
        ContentScore { weight: r.row.weight, max_score: r.row.max_score, explicit_graded: r.explicit_graded }
    };
    let baseline: Vec<ProblemScore> =
        problems.iter().filter_map(|&b| get_score(None, None, None, &content(b)).unwrap()).collect();
    let (all, _) = aggregate_scores(&baseline);
    assert_eq!((all.earned, all.possible), (0.0, 17.0));
    let answered: Vec<ProblemScore> = problems
        .iter()
        .filter_map(|&b| {
            let has_max = s.blocks[b as usize].row.max_score.is_some();
            get_score(has_max.then_some(&sub), None, None, &content(b)).unwrap()
        })
        .collect();
    let (all, _) = aggregate_scores(&answered);
    assert_eq!((all.earned, all.possible), (18.0, 42.0));
}

#[test]
fn e28_subsection_percent_graded() {
    assert_eq!(pct(50.0, 100.0), 0.5);
    assert_eq!(pct(0.5949, 100.0), 0.0059);
    assert_eq!(pct(0.5951, 100.0), 0.006);
    assert_eq!(pct(0.595, 100.0), 0.0059);
    assert_eq!(pct(0.605, 100.0), 0.006);
    assert_eq!(pct(1.0, 0.0), 0.0);
    // Older profiles: 2 decimals, and unrounded.
    assert_eq!(compute_percent(0.5951, 100.0, PercentRounding::Decimals(2)), 0.01);
    assert_eq!(compute_percent(1.0, 3.0, PercentRounding::None), 1.0 / 3.0);
}

/// GradeTestBase of `test_course_grade_factory.py`: Seq X (in two chapters) and Seq A.
fn grade_test_base() -> (regrade::model::structure::CourseStructure, GradingPolicy) {
    let rows = vec![
        node("course", "course", &["ch1", "ch2"]),
        node("ch1", "chapter", &["seqX"]),
        node("ch2", "chapter", &["seqX", "seqA"]),
        seq("seqX", "Test Sequential X with an & Ampersand", "Homework", &["vx"]),
        node("vx", "vertical", &["px1", "px2"]),
        problem("px1", 1.0),
        problem("px2", 1.0),
        seq("seqA", "Test Sequential A", "Homework", &["va"]),
        node("va", "vertical", &["pa"]),
        problem("pa", 1.0),
    ];
    let policy = GradingPolicy::parse(
        r#"{"GRADER": [
            {"type": "Homework", "min_count": 1, "drop_count": 0, "short_label": "HW", "weight": 1.0},
            {"type": "NoCredit", "min_count": 0, "drop_count": 0, "short_label": "NC", "weight": 0.0}
        ], "GRADE_CUTOFFS": {"Pass": 0.5}}"#,
    )
    .unwrap();
    (build(rows), policy)
}

#[test]
fn e29_course_grade_summary() {
    let (s, policy) = grade_test_base();
    let view = s.view(NOW, |_| None);
    let plan = ViewPlan::new(&s, &view);
    assert_eq!(plan.subsections.len(), 2, "Seq X counts once though it is in two chapters");
    let mut data = Data::default();
    data.csm.insert(idx(&s, "px1"), csm(1.0, 1.0, NOW));
    data.csm.insert(idx(&s, "px2"), csm(0.0, 1.0, NOW));
    let g = grade_learner(&s, &plan, &policy, &NEWEST, Rescore::Recompute, &data, &mut Scratch::default())
        .unwrap();
    assert_eq!(g.course.percent, 0.25);
    assert_eq!(g.course.letter_grade, None);

    let subs: Vec<GradedSubsection> = g
        .subsections
        .iter()
        .map(|r| {
            let b = &s.blocks[r.block as usize];
            GradedSubsection {
                location: &b.row.usage_key,
                display_name: b.row.display_name.as_deref().unwrap(),
                format: b.row.format.as_deref().unwrap(),
                graded: b.graded,
                graded_earned: r.grade.graded.earned,
                graded_possible: r.grade.graded.possible,
                percent_graded: r.grade.percent_graded(&NEWEST),
            }
        })
        .collect();
    let summary = course::summary(&policy, &subs, &NEWEST);
    let gb: Vec<(&str, PyNum, &str)> =
        summary.grade_breakdown.iter().map(|e| (e.category.as_str(), e.percent, e.detail.as_str())).collect();
    assert_eq!(
        gb,
        vec![
            ("Homework", PyNum::Float(0.25), "Homework = 25.00% of a possible 100.00%"),
            ("NoCredit", PyNum::Float(0.0), "NoCredit = 0.00% of a possible 0.00%"),
        ]
    );
    let sb: Vec<(&str, &str, PyNum, bool)> = summary
        .section_breakdown
        .iter()
        .map(|e| (e.label.as_str(), e.detail.as_str(), e.percent, e.prominent))
        .collect();
    assert_eq!(
        sb,
        vec![
            (
                "HW 01",
                "Homework 1 - Test Sequential X with an & Ampersand - 50.00% (1/2)",
                PyNum::Float(0.5),
                false
            ),
            ("HW 02", "Homework 2 - Test Sequential A - 0.00% (0/1)", PyNum::Float(0.0), false),
            ("HW Avg", "Homework Average = 25.00%", PyNum::Float(0.25), true),
            ("NC Avg", "NoCredit Average = 0.00%", PyNum::Int(0), true),
        ]
    );
}

#[test]
fn e30_read_and_update_sequence() {
    let (s, policy) = grade_test_base();
    let view = s.view(NOW, |_| None);
    let plan = ViewPlan::new(&s, &view);
    let problems = ["px1", "px2", "pa"].map(|k| idx(&s, k));
    let mut persisted: std::collections::HashMap<u32, (PersistedValues, Option<Override>)> =
        Default::default();
    let run =
        |earned: f64, possible: f64, rescore: Rescore, persisted: &mut std::collections::HashMap<_, _>| {
            let mut data = Data::default();
            for p in problems {
                data.csm.insert(p, csm(earned, possible, NOW));
            }
            data.persisted = std::mem::take(persisted);
            let g =
                grade_learner(&s, &plan, &policy, &NEWEST, rescore, &data, &mut Scratch::default()).unwrap();
            *persisted = data.persisted;
            for r in &g.subsections {
                if r.written {
                    persisted.insert(r.block, (r.row.unwrap(), None));
                }
            }
            g.course
        };
    // A first read: nothing persisted, the zero grade.
    let read = run(0.0, 1.0, Rescore::Read, &mut persisted);
    assert_eq!(read.percent, 0.0);
    assert!(!read.is_passed());
    // Forced update with 1/2 on every problem.
    let g = run(1.0, 2.0, Rescore::Recompute, &mut persisted);
    assert_eq!((g.percent, g.letter_grade.as_deref()), (0.5, Some("Pass")));
    // Unforced update with 1/4: persisted subsections are reused.
    let g = run(1.0, 4.0, Rescore::Retain, &mut persisted);
    assert_eq!(g.percent, 0.5);
    // Forced 2/2, then forced 0/0.
    let g = run(2.0, 2.0, Rescore::Recompute, &mut persisted);
    assert_eq!(g.percent, 1.0);
    let g = run(0.0, 0.0, Rescore::Recompute, &mut persisted);
    assert_eq!((g.percent, g.letter_grade), (0.0, None));
}

#[test]
fn e31_tree_scores() {
    let rows = vec![
        node("a", "course", &["b", "c"]),
        node("b", "chapter", &["d", "e", "f"]),
        node("c", "chapter", &["g"]),
        node("d", "sequential", &["h", "i"]),
        node("e", "sequential", &["j", "k", "l"]),
        node("f", "sequential", &["m"]),
        node("g", "sequential", &["n"]),
        problem("h", 5.0),
        problem("i", 5.0),
        problem("j", 1.0),
        BlockRow { block_type: "html".into(), ..node("k", "html", &[]) },
        problem("l", 3.0),
        BlockRow { block_type: "html".into(), children: None, ..node("m", "html", &[]) },
        problem("n", 10.0),
    ];
    let s = build(rows);
    let view = s.view(NOW, |_| None);
    let raw: std::collections::HashMap<&str, f64> =
        [("h", 2.0), ("i", 3.0), ("j", 0.0), ("l", 1.0), ("n", 3.0)].into();
    let score = |key: &str| -> (f64, f64) {
        let mut e = 0.0;
        let mut p = 0.0;
        for b in view.problems(&s, idx(&s, key)) {
            let row = &s.blocks[b as usize].row;
            e += raw[row.usage_key.as_str()];
            p += row.max_score.unwrap();
        }
        (e, p)
    };
    assert_eq!(score("b"), (9.0 - 3.0, 24.0 - 10.0)); // chapter b = seq d + e + f
    assert_eq!(score("a"), (9.0, 24.0));
    assert_eq!(score("c"), (3.0, 10.0));
    assert_eq!(score("d"), (5.0, 10.0));
    assert_eq!(score("e"), (1.0, 4.0));
    assert_eq!(score("f"), (0.0, 0.0));
    assert_eq!(score("h"), (2.0, 5.0));
    assert_eq!(score("m"), (0.0, 0.0));
}

use regrade::model::structure::BlockRow;

#[test]
fn e32_round_away_from_zero() {
    for (x, want) in [
        (0.5, 1.0),
        (1.49, 1.0),
        (1.5, 2.0),
        (1.51, 2.0),
        (2.5, 3.0),
        (-0.5, -1.0),
        (-1.5, -2.0),
        (-2.5, -3.0),
    ] {
        assert_eq!(round_away_from_zero(x, 0), want, "{x}");
    }
    assert_eq!(round_away_from_zero(1.45, 1), 1.5);
    let z = round_away_from_zero(-0.1, 0);
    assert_eq!(z, 0.0);
    assert!(z.is_sign_positive(), "-0.1 rounds to +0.0, as Python's int-returning ceil gives");
    assert_eq!(round_away_from_zero(0.1, 0), 0.0);
    assert_eq!(round_away_from_zero(0.0, 0), 0.0);
}

#[test]
fn e33_compare_scores() {
    assert_eq!(compare_scores(1.0, 2.0, 3.0, 4.0, false), Ok((true, 0.5, 0.75)));
    assert!(!compare_scores(3.0, 4.0, 1.0, 2.0, false).unwrap().0);
    assert!(compare_scores(1.0, 2.0, 1.0, 2.0, false).unwrap().0);
    assert!(!compare_scores(1.0, 1.0, 0.0, 1.0, false).unwrap().0);
    assert_eq!(compare_scores(1.0, 0.0, 1.0, 2.0, false), Err(ZeroDivision));
    assert_eq!(compare_scores(1.0, 2.0, 0.0, 0.0, false), Err(ZeroDivision));
    assert_eq!(compare_scores(0.0, 0.0, 0.0, 0.0, true), Ok((true, 0.0, 0.0)));
}

#[test]
fn e34_course_percent_rounding() {
    for (raw, want) in [
        (0.8944, 0.89),
        (0.8945, 0.90),
        (0.8949, 0.90),
        (0.4444, 0.44),
        (0.4445, 0.45),
        (0.0044, 0.0),
        (0.0045, 0.01),
        (0.005, 0.01),
        (1.2, 1.2),
    ] {
        assert_eq!(course_percent(raw), want, "{raw}");
    }
}

#[test]
fn e35_grading_policy_hash() {
    let default = GradingPolicy::default_policy();
    assert_eq!(
        default.merged.dumps_canonical(),
        r#"{"GRADER":[{"drop_count":2,"min_count":12,"short_label":"HW","type":"Homework","weight":0.15},{"drop_count":2,"min_count":12,"type":"Lab","weight":0.15},{"drop_count":0,"min_count":1,"short_label":"Midterm","type":"Midterm Exam","weight":0.3},{"drop_count":0,"min_count":1,"short_label":"Final","type":"Final Exam","weight":0.4}],"GRADE_CUTOFFS":{"Pass":0.5}}"#
    );
    assert_eq!(default.hash, "ChVp0lHGQGCevD0t4njna/C44zQ=");
    // An empty stored policy merges to the default.
    assert_eq!(GradingPolicy::parse("{}").unwrap().hash, "ChVp0lHGQGCevD0t4njna/C44zQ=");
    let quarter = GradingPolicy::parse(
        r#"{"GRADER": [{"type": "Homework", "min_count": 12, "drop_count": 2, "short_label": "HW", "weight": 0.25}, {"type": "Lab", "min_count": 12, "drop_count": 2, "weight": 0.25}, {"type": "Midterm Exam", "short_label": "Midterm", "min_count": 1, "drop_count": 0, "weight": 0.25}, {"type": "Final Exam", "short_label": "Final", "min_count": 1, "drop_count": 0, "weight": 0.25}], "GRADE_CUTOFFS": {"Pass": 0.5}}"#,
    )
    .unwrap();
    assert_eq!(quarter.hash, "TsbX04qWOy1WRnC0NHy+94upPd4=");
}

#[test]
fn e36_visible_blocks_json_and_hash() {
    let key = "course-v1:some_org+some_course+some_run";
    assert_eq!(
        visible_blocks_json(key, &[]),
        r#"{"blocks":[],"course_key":"course-v1:some_org+some_course+some_run","version":1}"#
    );
    assert_eq!(visible_blocks_hash(key, &[]), "oe1UNuDsYmM9qz3DvI4D+1Cx/Do=");
    let locator = "block-v1:some_org+some_course+some_run+type@problem+block@block_id_a";
    let rec = |rp: PyNum| BlockRecord {
        locator: locator.into(),
        weight: Some(PyNum::Int(1)),
        raw_possible: Some(rp),
        graded: false,
    };
    assert_eq!(visible_blocks_hash(key, &[rec(PyNum::Int(10))]), "lgmYuo+clZoKyoNCH067r2U0tEc=");
    assert_eq!(visible_blocks_hash(key, &[rec(PyNum::Float(10.0))]), "E9jzTwjQCzLBFum+SsJcBdH1r3Y=");
    let b = BlockRecord { locator: format!("{locator}b"), ..rec(PyNum::Float(10.0)) };
    let ab = visible_blocks_hash(key, &[rec(PyNum::Float(10.0)), b.clone()]);
    let ba = visible_blocks_hash(key, &[b, rec(PyNum::Float(10.0))]);
    assert_ne!(ab, ba, "order matters");
    // The JSON round-trips through the parser with types kept.
    let parsed =
        regrade::grade::hash::parse_visible_blocks(&visible_blocks_json(key, &[rec(PyNum::Int(10))]))
            .unwrap();
    assert_eq!(parsed, vec![rec(PyNum::Int(10))]);
    assert_eq!(sha1_base64("").len(), 28);
}

#[test]
fn e37_subsection_upsert_and_override() {
    let t2000 = 946_684_800_000_000;
    let start = PersistedValues {
        earned_all: 6.0,
        possible_all: 12.0,
        earned_graded: 6.0,
        possible_graded: 8.0,
        first_attempted: Some(t2000),
    };
    let updated = subsection::upsert(Some(&start), &PersistedValues { earned_all: 7.0, ..start });
    assert_eq!((updated.earned_all, updated.first_attempted), (7.0, Some(t2000)));
    let cleared = subsection::upsert(Some(&start), &PersistedValues { first_attempted: None, ..start });
    assert_eq!((cleared.earned_all, cleared.first_attempted), (6.0, Some(t2000)));
    // An override given earned_all=0 and earned_graded=0 copies the possibles (12, 8):
    let ov = Override {
        earned_all: Some(0.0),
        possible_all: Some(12.0),
        earned_graded: Some(0.0),
        possible_graded: Some(8.0),
    };
    let read = SubsectionGrade::read(&start, Some(&ov));
    assert_eq!(
        (read.all.earned, read.all.possible, read.graded.earned, read.graded.possible),
        (0.0, 12.0, 0.0, 8.0)
    );
    assert!(read.has_override);
    // ...and the grade row itself is untouched.
    assert_eq!(start.earned_all, 6.0);
    // A NULL override field uses the row's value.
    let partial = Override { earned_graded: Some(1.0), ..Override::default() };
    let read = SubsectionGrade::read(&start, Some(&partial));
    assert_eq!((read.all.earned, read.graded.earned, read.graded.possible), (6.0, 1.0, 8.0));
}

#[test]
fn e38_passed_timestamp_set_once() {
    let t = 42;
    let mut ts = passed_timestamp(None, false, 1);
    assert_eq!(ts, None);
    ts = passed_timestamp(ts, true, t);
    assert_eq!(ts, Some(t));
    ts = passed_timestamp(ts, true, t + 10);
    assert_eq!(ts, Some(t));
    ts = passed_timestamp(ts, false, t + 20);
    assert_eq!(ts, Some(t));
}

#[test]
fn e39_containing_subsections_in_dag() {
    let rows = vec![
        node("course", "course", &["chapter"]),
        node("chapter", "chapter", &["sub_A", "sub_B"]),
        node("sub_A", "sequential", &["vert_1", "vert_2", "vert_3", "sub_C"]),
        node("sub_B", "sequential", &["vert_3", "sub_C"]),
        node("sub_C", "sequential", &["prob_BCb"]),
        node("vert_1", "vertical", &["vert_A11"]),
        node("vert_A11", "vertical", &["prob_A1aa", "vert_2"]),
        node("vert_2", "vertical", &[]),
        node("vert_3", "vertical", &[]),
        problem("prob_A1aa", 1.0),
        problem("prob_BCb", 1.0),
    ];
    let s = build(rows);
    let names = |key: &str| -> Vec<String> {
        s.containing_subsections(idx(&s, key))
            .into_iter()
            .map(|b| s.blocks[b as usize].row.usage_key.clone())
            .collect()
    };
    let mut bcb = names("prob_BCb");
    bcb.sort();
    assert_eq!(bcb, ["sub_A", "sub_B", "sub_C"]);
    let mut v3 = names("vert_3");
    v3.sort();
    assert_eq!(v3, ["sub_A", "sub_B"]);
    assert_eq!(names("prob_A1aa"), ["sub_A"]);
    assert!(names("course").is_empty());
    assert!(names("chapter").is_empty());
    // A problem reachable from several subsections counts in each.
    let view = s.view(NOW, |_| None);
    for sub in ["sub_A", "sub_B", "sub_C"] {
        assert!(view.problems(&s, idx(&s, sub)).contains(&idx(&s, "prob_BCb")), "{sub}");
    }
}

#[test]
fn e40_collected_explicit_graded_and_max_score() {
    let mut rows = vec![
        node("course", "course", &["ch"]),
        node("ch", "chapter", &["seq"]),
        seq("seq", "S", "Homework", &["v"]),
    ];
    rows.push(node("v", "vertical", &["pt", "pf", "pn"]));
    for (k, g) in [("pt", Some(true)), ("pf", Some(false)), ("pn", None)] {
        rows.push(BlockRow { graded: g, ..problem(k, 2.0) });
    }
    let s = build(rows);
    assert_eq!(s.blocks[idx(&s, "pt") as usize].explicit_graded, Some(true));
    assert_eq!(s.blocks[idx(&s, "pf") as usize].explicit_graded, Some(false));
    assert_eq!(s.blocks[idx(&s, "pn") as usize].explicit_graded, None);
    let root = &s.blocks[idx(&s, "course") as usize];
    assert_eq!((root.explicit_graded, root.row.max_score), (None, None));
    // The subsection's own `graded` is never an explicit_graded (ignored types).
    assert_eq!(s.blocks[idx(&s, "seq") as usize].explicit_graded, None);
}

#[test]
fn e50_show_correctness() {
    use regrade::grade::subsection::correctness_available as ca;
    let day = 86_400_000_000;
    assert!(ca(None, None, false, NOW));
    for v in ["always", "", "other-value"] {
        assert!(ca(Some(v), None, false, NOW));
        assert!(ca(Some(v), None, true, NOW));
    }
    assert!(!ca(Some("never"), None, true, NOW));
    assert!(!ca(Some("past_due"), Some(NOW + day), false, NOW));
    assert!(ca(Some("past_due"), Some(NOW + day), true, NOW));
    // "today" in edX's test is a moment before `datetime.now()` inside the check.
    for due in [Some(NOW - day), Some(NOW - 1), None] {
        assert!(ca(Some("past_due"), due, false, NOW), "{due:?}");
    }
    assert!(!ca(Some("never_but_include_grade"), None, true, NOW));
}

#[test]
fn e51_letter_grades_and_passing() {
    let policy = GradingPolicy::parse(r#"{"GRADE_CUTOFFS": {"A": 0.9, "B": 0.8, "C": 0.7}}"#).unwrap();
    let g = CourseGrade::from_raw(&policy, 0.8945);
    assert_eq!((g.percent, g.letter_grade.as_deref(), g.passed), (0.9, Some("A"), Some(true)));
    let g = CourseGrade::from_raw(&policy, 0.6949);
    assert_eq!((g.percent, g.letter_grade.as_deref(), g.passed), (0.7, Some("C"), Some(true)));
    let g = CourseGrade::from_raw(&policy, 0.6944);
    assert_eq!((g.percent, g.letter_grade.as_deref(), g.passed), (0.69, None, Some(false)));
    // No positive cutoff: passed is None; a zero-cutoff letter still reads back as passed.
    let zero = GradingPolicy::parse(r#"{"GRADE_CUTOFFS": {"F": 0}}"#).unwrap();
    let g = CourseGrade::from_raw(&zero, 0.1);
    assert_eq!((g.letter_grade.as_deref(), g.passed), (Some("F"), None));
    assert!(read_passed(g.letter_column()));
    // Equal cutoffs: the first in dict order wins.
    let tie = GradingPolicy::parse(r#"{"GRADE_CUTOFFS": {"X": 0.5, "Y": 0.5}}"#).unwrap();
    assert_eq!(tie.letter_grade(0.6), Some("X"));
    let _ = pyjson::parse("{}").unwrap();
}
