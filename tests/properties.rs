//! Property tests: invariants of edX's grading math that must hold for any input.

mod common;

use common::*;
use proptest::prelude::*;
use rayon::prelude::*;
use regrade::grade::compat::{Compat, PercentRounding};
use regrade::grade::graders::{total_with_drops, Scratch};
use std::collections::HashMap;

use regrade::grade::learner::{
    block_records, grade_learner, read_problem_scores, LearnerData, LearnerGrade, ProblemScores, Rescore,
    ViewPlan,
};
use regrade::grade::numeric::{compute_percent, course_percent};
use regrade::grade::policy::GradingPolicy;
use regrade::grade::scores::{CsmScore, ProblemScore, SubmissionScore};
use regrade::grade::subsection::{Override, PersistedValues};
use regrade::model::library::{make_selection, SelectionSource};
use regrade::model::structure::{BlockRow, CourseStructure};
use regrade::py::fmt::{self as pyfmt, PyNum};
use regrade::py::json::{self as pyjson, Json};

fn avg(ps: &[f64], drop: i64) -> f64 {
    total_with_drops(ps, drop, &mut Vec::new()).as_f64()
}

/// Subsection percents as edX produces them (4-decimal fractions in [0, 1]).
fn percents() -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec((0u32..=10_000).prop_map(|k| k as f64 / 10_000.0), 0..20)
}

proptest! {
    #[test]
    fn dropping_never_lowers_an_average(ps in percents(), drop in 0i64..5) {
        prop_assume!((drop as usize) < ps.len());
        // The mean of the highest n-d values is at least the mean of all n.
        prop_assert!(avg(&ps, drop) >= avg(&ps, 0) - 1e-12, "{:?} drop {}", ps, drop);
    }

    #[test]
    fn dropping_more_never_lowers_an_average(ps in percents(), drop in 0i64..5) {
        prop_assume!(((drop + 1) as usize) < ps.len());
        prop_assert!(avg(&ps, drop + 1) >= avg(&ps, drop) - 1e-12);
    }

    #[test]
    fn percent_within_bounds_when_weights_sum_to_one(
        w in prop::collection::vec(1u32..100, 1..5),
        sheets in prop::collection::vec(percents(), 5),
        mins in prop::collection::vec(0i64..6, 5),
        drops in prop::collection::vec(0i64..3, 5),
    ) {
        let total: u32 = w.iter().sum();
        let graders: Vec<String> = w.iter().enumerate().map(|(i, wi)| format!(
            r#"{{"type": "T{i}", "min_count": {}, "drop_count": {}, "weight": {}}}"#,
            mins[i], drops[i], *wi as f64 / total as f64
        )).collect();
        let policy = GradingPolicy::parse(&format!(r#"{{"GRADER": [{}]}}"#, graders.join(","))).unwrap();
        let raw = policy.grader.percent(
            |kind| { let i: usize = kind[1..].parse().unwrap(); sheets[i].as_slice() },
            &mut Scratch::default(),
        );
        prop_assert!((0.0..=1.0 + 1e-12).contains(&raw), "raw {}", raw);
        let p = course_percent(raw);
        prop_assert!((0.0..=1.0).contains(&p), "rounded {}", p);
        // The rounded percent is a whole percentage.
        prop_assert_eq!((p * 100.0).round() / 100.0, p);
    }

    #[test]
    fn compute_percent_is_a_fraction(e in 0u32..1000, p in 1u32..1000) {
        let (e, p) = (e.min(p) as f64, p as f64);
        for r in [PercentRounding::None, PercentRounding::Decimals(2), PercentRounding::Decimals(4)] {
            let x = compute_percent(e, p, r);
            prop_assert!((0.0..=1.0).contains(&x));
        }
    }

    #[test]
    fn python_repr_round_trips(bits in any::<u64>()) {
        let x = f64::from_bits(bits);
        prop_assume!(x.is_finite());
        let s = pyfmt::repr(x);
        prop_assert_eq!(s.parse::<f64>().unwrap().to_bits(), x.to_bits(), "{}", s);
        prop_assert!(s.contains('.') || s.contains('e'), "a float repr always shows it is a float: {}", s);
    }

    #[test]
    fn canonical_json_is_a_fixed_point(keys in prop::collection::vec("[a-zé😀\"\\\\]{0,6}", 0..6), x in any::<f64>(), n in any::<i64>()) {
        prop_assume!(x.is_finite());
        // Built through `set`, like a Python dict: a repeated key keeps its first position.
        let mut obj = Json::Object(Vec::new());
        for (i, k) in keys.iter().enumerate() {
            obj.set(k, if i % 2 == 0 { Json::Float(x) } else { Json::Int(n.to_string()) });
        }
        let once = obj.dumps_canonical();
        prop_assert!(once.is_ascii());
        let twice = pyjson::parse(&once).unwrap().dumps_canonical();
        prop_assert_eq!(once, twice);
    }

    #[test]
    fn json_parser_never_panics(s in "\\PC{0,40}") {
        let _ = pyjson::parse(&s);
        let _ = GradingPolicy::parse(&s);
    }

    /// A library selection has min(max_count, children) distinct children (all when
    /// max_count is negative or null), keeps a valid stored selection as it is, and otherwise
    /// keeps the stored children first, in stored order.
    #[test]
    fn library_selections_are_the_right_size_and_keep_the_stored_order(
        n in 0u32..8,
        max_count in prop::option::of(-1i64..9),
        stored in prop::option::of(prop::collection::vec(prop::option::of(0u32..10), 0..8)),
    ) {
        let children: Vec<u32> = (0..n).collect();
        let (selected, source) = make_selection(&children, max_count, stored.as_deref());
        let want = match max_count { Some(m) if m >= 0 => (m as usize).min(children.len()), _ => children.len() };
        prop_assert_eq!(selected.len(), want);
        let mut distinct = selected.clone();
        distinct.sort_unstable();
        distinct.dedup();
        prop_assert_eq!(distinct.len(), selected.len());
        prop_assert!(selected.iter().all(|c| children.contains(c)));
        // The stored children that survive come first, in their stored (last-occurrence) order.
        let kept: Vec<u32> = stored.iter().flatten().flatten().copied().filter(|c| children.contains(c)).collect();
        let mut order: Vec<u32> = Vec::new();
        for (i, c) in kept.iter().enumerate() {
            if !kept[i + 1..].contains(c) {
                order.push(*c);
            }
        }
        order.truncate(want);
        prop_assert_eq!(&selected[..order.len()], &order[..]);
        if source == SelectionSource::Stored {
            prop_assert_eq!(selected, order);
        }
    }
}

/// A course with DAG-shared problems and drop rules, and `n` learners with varied scores.
fn workload(n: usize) -> (CourseStructure, GradingPolicy, Vec<Data>) {
    let mut rows = vec![node("course", "course", &["ch1", "ch2"])];
    rows.push(node("ch1", "chapter", &["hw1", "hw2", "hw3"]));
    rows.push(node("ch2", "chapter", &["hw4", "lab1", "final"]));
    let mut problems = Vec::new();
    for (s, fmt) in [
        ("hw1", "Homework"),
        ("hw2", "Homework"),
        ("hw3", "Homework"),
        ("hw4", "Homework"),
        ("lab1", "Lab"),
        ("final", "Final Exam"),
    ] {
        let v = format!("v_{s}");
        let ps: Vec<String> = (0..4).map(|i| format!("{s}_p{i}")).collect();
        let mut kids: Vec<&str> = ps.iter().map(String::as_str).collect();
        if s == "hw2" {
            kids.push("hw1_p0"); // shared with hw1
        }
        rows.push(BlockRow {
            children: Some(kids.iter().map(|k| k.to_string()).collect()),
            ..node(&v, "vertical", &[])
        });
        rows.push(seq(s, s, fmt, &[&v]));
        for (i, p) in ps.into_iter().enumerate() {
            rows.push(BlockRow {
                weight: if i == 1 { Some(3.0) } else { None },
                ..problem(&p, (i + 1) as f64)
            });
            problems.push(p);
        }
    }
    let s = build(rows);
    let policy = GradingPolicy::parse(
        r#"{"GRADER": [{"type": "Homework", "min_count": 5, "drop_count": 2, "weight": 0.3},
                       {"type": "Lab", "min_count": 2, "drop_count": 0, "weight": 0.2},
                       {"type": "Final Exam", "min_count": 1, "drop_count": 0, "weight": 0.5}],
            "GRADE_CUTOFFS": {"A": 0.9, "B": 0.7, "Pass": 0.5}}"#,
    )
    .unwrap();
    let mut learners = Vec::with_capacity(n);
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..n {
        let mut d = Data::default();
        for p in &problems {
            let r = next();
            if r % 3 != 0 {
                let b = idx(&s, p);
                let max = s.blocks[b as usize].row.max_score.unwrap();
                let grade = (r >> 8) % ((max as u64) * 10 + 1);
                d.csm.insert(b, csm(grade as f64 / 10.0, max, (r >> 20) as i64 % 1_000_000));
            }
        }
        learners.push(d);
    }
    (s, policy, learners)
}

fn grade_all(
    threads: usize,
    s: &CourseStructure,
    policy: &GradingPolicy,
    learners: &[Data],
) -> Vec<LearnerGrade> {
    let view = s.view(1_700_000_000_000_000, |_| None);
    let plan = ViewPlan::new(s, &view);
    let compat = Compat::newest();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    pool.install(|| {
        learners
            .par_iter()
            .map_init(Scratch::default, |scratch, d| {
                grade_learner(s, &plan, policy, &compat, Rescore::Recompute, d, scratch).unwrap()
            })
            .collect()
    })
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let (s, policy, learners) = workload(2_000);
    let one = grade_all(1, &s, &policy, &learners);
    let many = grade_all(4, &s, &policy, &learners);
    assert_eq!(one.len(), 2_000);
    let bits = |g: &[LearnerGrade]| -> Vec<(u64, Vec<u64>)> {
        g.iter()
            .map(|l| {
                (
                    l.course.raw_percent.to_bits(),
                    l.subsections.iter().map(|s| s.grade.graded.earned.to_bits()).collect(),
                )
            })
            .collect()
    };
    assert_eq!(bits(&one), bits(&many));
    assert_eq!(one, many);
    // The workload is not degenerate: grades vary across learners.
    let distinct: std::collections::BTreeSet<u64> = one.iter().map(|l| l.course.percent.to_bits()).collect();
    assert!(distinct.len() > 10, "only {} distinct course percents", distinct.len());
    let _ = PyNum::Int(0);
}

/// A learner's data after a run, as the run's problem report reads it: the rows written, and
/// for each the scores it was graded with (`written_scores`), not its records.
struct Written<'a> {
    before: &'a Data,
    rows: HashMap<u32, (PersistedValues, Option<Override>)>,
    scores: HashMap<u32, &'a [(u32, ProblemScore)]>,
}

impl LearnerData for Written<'_> {
    fn submission(&self, block: u32) -> Option<&SubmissionScore> {
        self.before.submission(block)
    }
    fn csm(&self, block: u32) -> Option<&CsmScore> {
        self.before.csm(block)
    }
    fn persisted(&self, subsection: u32) -> Option<(&PersistedValues, Option<&Override>)> {
        self.rows.get(&subsection).map(|(v, o)| (v, o.as_ref()))
    }
    fn written_scores(&self, subsection: u32) -> Option<&[(u32, ProblemScore)]> {
        self.scores.get(&subsection).copied()
    }
}

/// The problem report takes a written row's scores as they were graded instead of re-scoring
/// the row's visible blocks against the same data: the two must agree bit for bit, on
/// submissions (hidden ones too), studentmodule rows with and without a grade, weights and
/// blocks shared between subsections.
#[test]
fn written_rows_read_back_the_scores_they_were_graded_with() {
    let (s, policy, mut learners) = workload(400);
    let view = s.view(1_700_000_000_000_000, |_| None);
    let plan = ViewPlan::new(&s, &view);
    for (i, d) in learners.iter_mut().enumerate() {
        let keys: Vec<u32> = d.csm.keys().copied().collect();
        for (k, b) in keys.into_iter().enumerate() {
            match (i + k) % 7 {
                0 => {
                    let possible = if (i + k) % 3 == 0 { 0.0 } else { 4.0 };
                    let created_at = (i * 1000 + k) as i64;
                    d.submissions.insert(
                        b,
                        SubmissionScore { points_earned: 1.5, points_possible: possible, created_at },
                    );
                }
                1 => d.csm.get_mut(&b).unwrap().grade = None,
                _ => {}
            }
        }
    }
    let bits = |p: &ProblemScores| -> Vec<(u32, [u64; 4], bool)> {
        let f = |x: Option<f64>| x.map_or(u64::MAX, f64::to_bits);
        p.iter()
            .map(|(b, s)| {
                (b, [s.earned.to_bits(), s.possible.to_bits(), f(s.raw_earned), f(s.raw_possible)], s.graded)
            })
            .collect()
    };
    let (mut compared, mut varied) = (0, std::collections::BTreeSet::new());
    for d in &learners {
        let g = grade_learner(
            &s,
            &plan,
            &policy,
            &Compat::newest(),
            Rescore::Recompute,
            d,
            &mut Scratch::default(),
        )
        .unwrap();
        let mut records = Data { submissions: d.submissions.clone(), csm: d.csm.clone(), ..Data::default() };
        let mut written = Written { before: d, rows: HashMap::new(), scores: HashMap::new() };
        for r in g.subsections.iter().filter(|r| r.written) {
            let scored = g.visible_blocks(r).expect("a written row has its blocks");
            records.persisted.insert(r.block, (r.row.unwrap(), None));
            records.blocks.insert(r.block, block_records(&s, scored));
            written.rows.insert(r.block, (r.row.unwrap(), None));
            written.scores.insert(r.block, scored);
        }
        let rescored = read_problem_scores(&s, &view, false, true, &records).unwrap();
        let taken = read_problem_scores(&s, &view, false, true, &written).unwrap();
        assert_eq!(bits(&taken), bits(&rescored));
        compared += rescored.len();
        varied.extend(bits(&rescored).into_iter().map(|(_, v, _)| v[0]));
    }
    assert!(compared > 400 * 20, "only {compared} scores compared");
    assert!(varied.len() > 10, "scores do not vary: {}", varied.len());
}
