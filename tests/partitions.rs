//! Partitioned execution, through the binary: a course cut into user id ranges gives the same
//! bytes as the course graded whole (`run` and `backfill`), the plan says so (`--explain`, the
//! manifest), and an export not sorted by learner is still graded exactly, and called
//! unsorted.

mod common;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch, UInt32Array};
use arrow::datatypes::Int64Type;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;

const AS_OF: &str = "2026-11-01T00:00:00Z";
/// Small enough to cut the generated courses into several partitions.
const SMALL_PARTITIONS: &str = "150000";

fn regrade(args: &[&str], envs: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_regrade"))
        .args(args)
        .envs(envs.iter().copied())
        .output()
        .expect("run regrade")
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "exit {:?}\n{}", o.status.code(), String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok_stdout(o: &Output) -> Vec<u8> {
    ok(o);
    o.stdout.clone()
}

/// A generated dataset of three courses (the largest with 300 learners).
fn dataset(dir: &Path) -> PathBuf {
    let input = dir.join("in");
    ok(&regrade(
        &["generate", input.to_str().unwrap(), "--seed", "5", "--courses", "3", "--learners", "300", "-q"],
        &[],
    ));
    input
}

/// `regrade COMMAND` over `input` into `out`, with extra args and environment; its stderr.
fn graded(command: &str, input: &Path, out: &Path, args: &[&str], envs: &[(&str, &str)]) -> String {
    let mut all = vec![command, "--input", input.to_str().unwrap(), "--output", out.to_str().unwrap()];
    all.extend(["--as-of", AS_OF]);
    all.extend(args);
    ok(&regrade(&all, envs))
}

fn manifest(out: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap()
}

/// Every output file but the manifest.
fn outputs(out: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut files = common::files_under(out);
    files.remove("manifest.json");
    files
}

/// The manifest without what partitioning may change: times, URLs, the plan, partition counts.
fn comparable(out: &Path) -> serde_json::Value {
    let mut m = common::normalised_manifest(&std::fs::read(out.join("manifest.json")).unwrap());
    m["plan"] = serde_json::Value::Null;
    for c in m["courses"].as_array_mut().unwrap() {
        c["partitions"] = serde_json::Value::Null;
    }
    m
}

/// The plan's partitions of each course, checked to cover every user id once, in order.
fn planned_partitions(plan: &serde_json::Value) -> Vec<usize> {
    plan["courses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let parts = c["partitions"].as_array().unwrap();
            assert!(parts[0]["users"]["from"].is_null(), "the first range starts at the lowest id");
            assert!(parts.last().unwrap()["users"]["to"].is_null(), "the last range ends at the highest id");
            for w in parts.windows(2) {
                assert_eq!(w[0]["users"]["to"], w[1]["users"]["from"], "ranges meet");
                assert!(w[0]["users"]["to"].as_i64().is_some());
            }
            let learners: u64 = parts.iter().map(|p| p["learners"].as_u64().unwrap()).sum();
            assert_eq!(learners, c["rows"]["enrollments"].as_u64().unwrap(), "{}", c["course_id"]);
            parts.len()
        })
        .collect()
}

#[test]
fn partitions_give_the_bytes_of_whole_courses_in_run_and_backfill() {
    let dir = tempfile::tempdir().unwrap();
    let input = dataset(dir.path());
    let small = [("REGRADE_TEST_PARTITION_BYTES", SMALL_PARTITIONS)];
    for (command, args) in [
        ("run", &[][..]),
        ("run", &["--rescore", "only-if-higher", "--threads", "1"][..]),
        ("run", &["--rescore", "read"][..]),
        ("backfill", &[][..]),
    ] {
        let whole = dir.path().join(format!("{command}-{}-whole", args.len()));
        let parts = dir.path().join(format!("{command}-{}-parts", args.len()));
        graded(command, &input, &whole, args, &[]);
        graded(command, &input, &parts, args, &small);
        let (w, p) = (outputs(&whole), outputs(&parts));
        assert!(w.len() > 3, "{command} {args:?} wrote files");
        assert_eq!(
            w.keys().collect::<Vec<_>>(),
            p.keys().collect::<Vec<_>>(),
            "{command} {args:?}: the same files"
        );
        for (name, bytes) in &w {
            assert!(
                bytes == &p[name],
                "{command} {args:?}: {name} differs between whole and partitioned courses"
            );
        }
        assert_eq!(comparable(&whole), comparable(&parts), "{command} {args:?}: the manifests' counts");
        let (mw, mp) = (manifest(&whole), manifest(&parts));
        assert!(planned_partitions(&mw["plan"]).iter().all(|&n| n == 1), "a large budget: whole courses");
        let cut = planned_partitions(&mp["plan"]);
        assert!(cut.iter().max().unwrap() >= &4, "{command}: the largest course cut: {cut:?}");
        let done: Vec<u64> =
            mp["courses"].as_array().unwrap().iter().map(|c| c["partitions"].as_u64().unwrap()).collect();
        assert_eq!(
            done.iter().map(|&n| n as usize).collect::<Vec<_>>(),
            cut,
            "each course graded in its partitions"
        );
        assert_eq!(mp["plan"]["partition_bytes"], 150000);
        assert!(mp["plan"]["memory_budget"]["bytes"].as_u64().unwrap() > 0);
    }
}

#[test]
fn explain_prints_the_plan_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let input = dataset(dir.path());
    let out = dir.path().join("never");
    let o = regrade(
        &["run", "--input", input.to_str().unwrap(), "--output", out.to_str().unwrap(), "--explain"],
        &[("REGRADE_TEST_PARTITION_BYTES", SMALL_PARTITIONS)],
    );
    ok(&o);
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).expect("the plan is JSON");
    assert_eq!(plan["courses"].as_array().unwrap().len(), 3);
    assert!(planned_partitions(&plan).iter().any(|&n| n > 1));
    assert!(!out.exists(), "--explain writes nothing");
    // No output is needed to plan.
    let o = regrade(&["run", "--input", input.to_str().unwrap(), "--explain"], &[]);
    let plan: serde_json::Value = serde_json::from_slice(&ok_stdout(&o)).expect("the plan is JSON");
    assert_eq!(plan["courses"].as_array().unwrap().len(), 3);
    // The budget is given in sizes people write, and a wrong one is a usage error naming it.
    let o = regrade(
        &["run", "--input", input.to_str().unwrap(), "--output", out.to_str().unwrap(), "--explain"],
        &[],
    );
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(plan["memory_budget"]["from"].as_str().unwrap().starts_with("half of"), "{plan}");
    let args = |budget: &str| {
        let i = input.to_str().unwrap().to_string();
        let o = out.to_str().unwrap().to_string();
        vec![
            "run".to_string(),
            "--input".into(),
            i,
            "--output".into(),
            o,
            "--explain".into(),
            "--memory-budget".into(),
            budget.into(),
        ]
    };
    let with = |budget: &str| {
        let a = args(budget);
        regrade(&a.iter().map(String::as_str).collect::<Vec<_>>(), &[])
    };
    let o = with("3GiB");
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(plan["memory_budget"]["bytes"], 3u64 << 30);
    assert_eq!(plan["memory_budget"]["from"], "memory_budget");
    for bad in ["lots", "12 parsecs", "1MiB"] {
        let o = with(bad);
        assert_eq!(o.status.code(), Some(2), "{bad}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("memory_budget"), "{bad}");
    }
}

/// Rewrite every `studentmodule` file of `input` with row groups of `group_rows` rows, its rows
/// sorted by learner or in an order that mixes learners.
fn rewrite_studentmodule(input: &Path, group_rows: usize, sorted: bool) {
    for (name, _) in common::files_under(&input.join("studentmodule")) {
        let path = input.join("studentmodule").join(&name);
        let reader =
            ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap()).unwrap().build().unwrap();
        let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
        let schema = batches[0].schema();
        let all = arrow::compute::concat_batches(&schema, &batches).unwrap();
        let users: Vec<i64> =
            all.column_by_name("student_id").unwrap().as_primitive::<Int64Type>().values().to_vec();
        let mut order: Vec<u32> = (0..all.num_rows() as u32).collect();
        if sorted {
            order.sort_by_key(|&i| users[i as usize]);
        } else {
            // Rows `stride` apart together: each row group holds learners from all over the range.
            let stride = (all.num_rows() / group_rows).max(1) as u32;
            order.sort_by_key(|&i| (i % stride, i));
        }
        let rows = arrow::compute::take_record_batch(&all, &UInt32Array::from(order)).unwrap();
        let props = WriterProperties::builder().set_max_row_group_row_count(Some(group_rows)).build();
        let mut w =
            ArrowWriter::try_new(File::create(&path).unwrap(), Arc::clone(&schema), Some(props)).unwrap();
        w.write(&rows).unwrap();
        w.close().unwrap();
    }
}

#[test]
fn an_unsorted_export_is_graded_exactly_and_called_unsorted() {
    let dir = tempfile::tempdir().unwrap();
    let input = dataset(dir.path());
    let whole = dir.path().join("whole");
    graded("run", &input, &whole, &[], &[]);
    let small = [("REGRADE_TEST_PARTITION_BYTES", SMALL_PARTITIONS)];
    for sorted in [true, false] {
        rewrite_studentmodule(&input, 100, sorted);
        let out = dir.path().join(format!("parts-{sorted}"));
        let stderr = graded("run", &input, &out, &[], &small);
        let (w, p) = (outputs(&whole), outputs(&out));
        assert!(w == p, "sorted={sorted}: the outputs of a partitioned run are those of whole courses");
        let m = manifest(&out);
        let largest = m["plan"]["courses"]
            .as_array()
            .unwrap()
            .iter()
            .max_by_key(|c| c["rows"]["studentmodule"].as_u64().unwrap())
            .unwrap()
            .clone();
        let factor = largest["scan_factor"].as_f64().unwrap();
        let parts = largest["partitions"].as_array().unwrap().len();
        assert!(parts >= 4, "{parts}");
        let warned = stderr.contains("not sorted by learner");
        if sorted {
            assert!(factor < 1.5, "a sorted export: each range reads its own row groups ({factor})");
            assert!(!warned, "{stderr}");
        } else {
            assert!(
                factor > parts as f64 * 0.8,
                "an unsorted export: every range reads most groups ({factor})"
            );
            assert!(warned, "the run says the export is unsorted and how to sort it: {stderr}");
            assert!(stderr.contains("ORDER BY"), "{stderr}");
        }
    }
}
