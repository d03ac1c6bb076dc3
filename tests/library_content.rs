//! Randomized library content (`library_content`, `itembank`): a learner is graded on the
//! children they were assigned (`library_selections`), in the stored order; a learner without
//! a stored selection gets the first `max_count` children and is counted in the manifest.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{build, csm, idx, node, problem, seq, Data};
use regrade::grade::compat::Compat;
use regrade::grade::graders::Scratch;
use regrade::grade::hash::visible_blocks_hash;
use regrade::grade::learner::{block_records, grade_learner, LearnerGrade, Rescore, ViewPlan};
use regrade::grade::policy::GradingPolicy;
use regrade::model::library::StoredSelection;
use regrade::model::structure::{BlockRow, CourseStructure};

const NOW: i64 = 1_700_000_000_000_000;
const KIDS: [&str; 6] = ["l0", "l1", "l2", "l3", "l4", "l5"];

/// One graded subsection: a plain problem `q` (max 1) and a library of six problems
/// `l0`..`l5` (max scores 1, 2, 4, 8, 16, 32) showing `max_count` of them.
fn course(max_count: Option<i64>) -> CourseStructure {
    let mut rows = vec![
        node("course", "course", &["ch"]),
        node("ch", "chapter", &["hw"]),
        seq("hw", "HW 1", "Homework", &["v"]),
        node("v", "vertical", &["q", "lib"]),
        BlockRow { max_count, ..node("lib", "library_content", &KIDS) },
        problem("q", 1.0),
    ];
    for (i, k) in KIDS.iter().enumerate() {
        rows.push(problem(k, f64::from(1u32 << i)));
    }
    build(rows)
}

fn policy() -> GradingPolicy {
    GradingPolicy::parse(
        r#"{"GRADER": [{"type": "Homework", "min_count": 1, "drop_count": 0, "weight": 1.0}],
            "GRADE_CUTOFFS": {"Pass": 0.5}}"#,
    )
    .unwrap()
}

/// The learner's stored selection of `lib`, by key.
fn stored(s: &CourseStructure, keys: &[&str]) -> Vec<StoredSelection> {
    vec![StoredSelection {
        block: idx(s, "lib"),
        selected: keys.iter().map(|k| s.index.get(*k).copied()).collect(),
    }]
}

fn grade(s: &CourseStructure, selections: &[StoredSelection], data: &Data) -> (LearnerGrade, Vec<u32>) {
    let (choice, _) = s.library_choice(selections);
    let view = s.library_view(NOW, |_| None, &choice);
    let plan = ViewPlan::new(s, &view);
    let problems = plan.subsections[0].1.clone();
    let g = grade_learner(
        s,
        &plan,
        &policy(),
        &Compat::newest(),
        Rescore::Recompute,
        data,
        &mut Scratch::default(),
    )
    .unwrap();
    (g, problems)
}

fn hash(s: &CourseStructure, g: &LearnerGrade) -> String {
    let records = block_records(s, g.visible_blocks(&g.subsections[0]).unwrap());
    visible_blocks_hash("course-v1:org+c+run", &records)
}

#[test]
fn possible_comes_from_the_two_selected_children_only() {
    let s = course(Some(2));
    let mut data = Data::default();
    data.csm.insert(idx(&s, "l4"), csm(16.0, 16.0, 5));
    data.csm.insert(idx(&s, "l0"), csm(1.0, 1.0, 5)); // not selected: not counted
    let (g, problems) = grade(&s, &stored(&s, &["l4", "l1"]), &data);
    let all = g.subsections[0].grade.all;
    assert_eq!((all.earned, all.possible), (16.0, 1.0 + 16.0 + 2.0));
    // In the stored order, after the plain problem.
    assert_eq!(problems, [idx(&s, "q"), idx(&s, "l4"), idx(&s, "l1")]);

    // Another pair: other totals, other visible blocks, another hash.
    let (other, _) = grade(&s, &stored(&s, &["l0", "l5"]), &data);
    assert_eq!(other.subsections[0].grade.all.possible, 1.0 + 1.0 + 32.0);
    assert_ne!(hash(&s, &g), hash(&s, &other));
    // The same pair in another order: the same totals here, but the order of the blocks (and
    // so the hash) follows the stored order.
    let (swapped, _) = grade(&s, &stored(&s, &["l1", "l4"]), &data);
    assert_eq!(swapped.subsections[0].grade.all.possible, 19.0);
    assert_ne!(hash(&s, &g), hash(&s, &swapped));
}

#[test]
fn without_a_selection_the_first_max_count_children_count() {
    let s = course(Some(2));
    let (choice, guessed) = s.library_choice(&[]);
    assert_eq!(choice.0, [vec![idx(&s, "l0"), idx(&s, "l1")]]);
    assert_eq!(guessed.len(), 1);
    let (g, _) = grade(&s, &[], &Data::default());
    assert_eq!(g.subsections[0].grade.all.possible, 1.0 + 1.0 + 2.0);
    // `view` (no selections) is the same view.
    assert_eq!(s.view(NOW, |_| None), s.library_view(NOW, |_| None, &choice));

    // max_count -1 or null: every child.
    for all in [Some(-1), None] {
        let s = course(all);
        let (g, _) = grade(&s, &stored(&s, &["l2"]), &Data::default());
        assert_eq!(g.subsections[0].grade.all.possible, 64.0, "max_count {all:?}");
    }
}

#[test]
fn stale_entries_are_dropped_and_a_lowered_max_count_keeps_the_first() {
    let s = course(Some(2));
    // "gone" is no block of the version: dropped, the gap filled with the first free child.
    let sel = vec![StoredSelection { block: idx(&s, "lib"), selected: vec![None, Some(idx(&s, "l3"))] }];
    let (g, problems) = grade(&s, &sel, &Data::default());
    assert_eq!(problems, [idx(&s, "q"), idx(&s, "l3"), idx(&s, "l0")]);
    assert_eq!(g.subsections[0].grade.all.possible, 1.0 + 8.0 + 1.0);
    let s1 = course(Some(1));
    let (g, _) = grade(&s1, &stored(&s1, &["l5", "l1"]), &Data::default());
    assert_eq!(g.subsections[0].grade.all.possible, 1.0 + 32.0);
}

fn regrade(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_regrade")).args(args).output().expect("run regrade")
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every file under `dir` but the manifest, by relative path.
fn files(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n != "manifest.json") {
                out.insert(
                    p.strip_prefix(dir).unwrap().to_string_lossy().into_owned(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

/// The generated dataset's library selections: (user id, usage key) of every row.
fn selection_rows(input: &Path) -> Vec<(i64, String)> {
    use arrow::array::AsArray;
    use arrow::datatypes::Int64Type;
    let mut out = Vec::new();
    for f in files(&input.join("library_selections")).keys() {
        let file = std::fs::File::open(input.join("library_selections").join(f)).unwrap();
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            let uid = batch.column_by_name("user_id").unwrap().as_primitive::<Int64Type>();
            let key = batch.column_by_name("usage_key").unwrap().as_string::<i32>();
            for i in 0..batch.num_rows() {
                out.push((uid.value(i), key.value(i).to_string()));
            }
        }
    }
    out
}

#[test]
fn a_generated_run_counts_learners_without_a_selection_and_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input");
    let input_s = input.to_str().unwrap();
    ok(&regrade(&["generate", input_s, "--seed", "11", "--courses", "1", "--learners", "60", "-q"]));
    let rows = selection_rows(&input);
    assert!(!rows.is_empty(), "course 0 always has a library block");

    let run = |name: &str, threads: &str| {
        let out = dir.path().join(name);
        let args =
            ["run", "--input", input_s, "--output", out.to_str().unwrap(), "--as-of", "2026-06-01T00:00:00Z"];
        ok(&regrade(&[&args[..], &["--threads", threads, "--learners-per-chunk", "7", "-q"]].concat()));
        out
    };
    let (a, b) = (run("a", "1"), run("b", "2"));
    assert_eq!(files(&a), files(&b), "two runs differ");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(a.join("manifest.json")).unwrap()).unwrap();
    let course = &manifest["courses"][0];
    let learners = course["learners"].as_u64().unwrap() as usize;
    let with_row: std::collections::BTreeSet<i64> = rows.iter().map(|(u, _)| *u).collect();
    let without = &course["warnings"]["library_content_without_selection"];
    assert_eq!(without["count"].as_u64().unwrap() as usize, learners - with_row.len(), "{without}");
    let example = without["examples"][0].as_str().unwrap();
    assert!(example.starts_with("user_id ") && example.contains("type@"), "{example}");
    assert_eq!(course["rows_read"]["library_selections"].as_u64().unwrap() as usize, rows.len());
    assert!(course["ignored_rows"].get("library_selections").is_none());

    // Subsection grades: recomputed equals persisted for learners graded on the latest
    // version with their selection (the generator grades with the same rule), so the
    // selections reach the grades: a run without them differs.
    std::fs::remove_dir_all(input.join("library_selections")).unwrap();
    let c = run("c", "1");
    let manifest_c: serde_json::Value =
        serde_json::from_slice(&std::fs::read(c.join("manifest.json")).unwrap()).unwrap();
    let all = manifest_c["courses"][0]["warnings"]["library_content_without_selection"]["count"].as_u64();
    assert_eq!(all.map(|n| n as usize), Some(learners));
    let grades = |d: &Path| files(&d.join("subsection_grades"));
    assert_ne!(grades(&a), grades(&c), "selections did not change any grade");
}
