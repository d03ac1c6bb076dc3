//! Criterion benchmarks of the grading kernels (`make bench`). Timing targets live here,
//! never in tests.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use regrade::grade::compat::Compat;
use regrade::grade::graders::{total_with_drops, Scratch};
use regrade::grade::hash::visible_blocks_hash;
use regrade::grade::learner::{grade_learner, LearnerData, Rescore, ViewPlan};
use regrade::grade::numeric::compute_percent;
use regrade::grade::policy::GradingPolicy;
use regrade::grade::scores::{BlockRecord, CsmScore, SubmissionScore};
use regrade::grade::subsection::{Override, PersistedValues};
use regrade::model::structure::{BlockRow, CourseStructure};
use regrade::py::fmt::{self as pyfmt, PyNum};

/// A course of `subsections` Homework subsections with `per` problems each.
fn course(subsections: usize, per: usize) -> (CourseStructure, GradingPolicy) {
    let mut rows = vec![];
    let seqs: Vec<String> = (0..subsections).map(|i| format!("s{i}")).collect();
    rows.push(BlockRow {
        usage_key: "course".into(),
        block_type: "course".into(),
        children: Some(vec!["ch".into()]),
        start: Some(0),
        ..Default::default()
    });
    rows.push(BlockRow {
        usage_key: "ch".into(),
        block_type: "chapter".into(),
        children: Some(seqs.clone()),
        ..Default::default()
    });
    for s in &seqs {
        let probs: Vec<String> = (0..per).map(|j| format!("{s}_p{j}")).collect();
        rows.push(BlockRow {
            usage_key: s.clone(),
            block_type: "sequential".into(),
            display_name: Some(s.clone()),
            graded: Some(true),
            format: Some("Homework".into()),
            children: Some(vec![format!("{s}_v")]),
            ..Default::default()
        });
        rows.push(BlockRow {
            usage_key: format!("{s}_v"),
            block_type: "vertical".into(),
            children: Some(probs.clone()),
            ..Default::default()
        });
        for (j, p) in probs.into_iter().enumerate() {
            rows.push(BlockRow {
                usage_key: p,
                block_type: "problem".into(),
                has_score: true,
                max_score: Some(1.0 + (j % 3) as f64),
                weight: (j % 2 == 0).then_some(2.0),
                ..Default::default()
            });
        }
    }
    let s = CourseStructure::build("course-v1:o+c+r", "v1", rows, vec![], &[], None).unwrap();
    let policy = GradingPolicy::parse(
        r#"{"GRADER": [{"type": "Homework", "min_count": 12, "drop_count": 2, "weight": 1.0}],
            "GRADE_CUTOFFS": {"A": 0.9, "Pass": 0.5}}"#,
    )
    .unwrap();
    (s, policy)
}

/// Scores in a dense vector by block index.
struct Dense(Vec<Option<CsmScore>>);

impl LearnerData for Dense {
    fn submission(&self, _: u32) -> Option<&SubmissionScore> {
        None
    }
    fn csm(&self, block: u32) -> Option<&CsmScore> {
        self.0[block as usize].as_ref()
    }
    fn persisted(&self, _: u32) -> Option<(&PersistedValues, Option<&Override>)> {
        None
    }
}

fn bench_learner(c: &mut Criterion) {
    let mut group = c.benchmark_group("grade_learner");
    for (subs, per) in [(12, 8), (40, 10)] {
        let (s, policy) = course(subs, per);
        let view = s.view(1, |_| None);
        let plan = ViewPlan::new(&s, &view);
        let data = Dense(
            s.blocks
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    (b.row.has_score && i % 3 != 0).then_some(CsmScore {
                        grade: Some((i % 2) as f64),
                        max_grade: b.row.max_score,
                        created: i as i64,
                    })
                })
                .collect(),
        );
        let problems = (subs * per) as u64;
        group.throughput(Throughput::Elements(problems));
        let compat = Compat::newest();
        let mut scratch = Scratch::default();
        group.bench_with_input(BenchmarkId::new("recompute", format!("{subs}x{per}")), &(), |b, _| {
            b.iter(|| {
                grade_learner(&s, &plan, &policy, &compat, Rescore::Recompute, black_box(&data), &mut scratch)
                    .unwrap()
            })
        });
    }
    group.finish();
}

fn bench_kernels(c: &mut Criterion) {
    let percents: Vec<f64> = (0..14).map(|i| (i * 7 % 10) as f64 / 10.0).collect();
    let mut dropped = Vec::new();
    c.bench_function("total_with_drops/14", |b| {
        b.iter(|| total_with_drops(black_box(&percents), 2, &mut dropped))
    });
    c.bench_function("compute_percent", |b| {
        b.iter(|| {
            compute_percent(
                black_box(7.0),
                black_box(9.0),
                regrade::grade::compat::PercentRounding::Decimals(4),
            )
        })
    });
    c.bench_function("py_repr", |b| b.iter(|| pyfmt::repr(black_box(0.16666666666666666))));
    let records: Vec<BlockRecord> = (0..10)
        .map(|i| BlockRecord {
            locator: format!("block-v1:o+c+r+type@problem+block@{i:032x}"),
            weight: Some(PyNum::Float(1.0)),
            raw_possible: Some(PyNum::Float(2.0)),
            graded: true,
        })
        .collect();
    c.bench_function("visible_blocks_hash/10", |b| {
        b.iter(|| visible_blocks_hash(black_box("course-v1:o+c+r"), black_box(&records)))
    });
}

criterion_group!(benches, bench_learner, bench_kernels);
criterion_main!(benches);
