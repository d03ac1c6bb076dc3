//! Every Parquet output table loads in pandas and pyarrow as analysts load them, a folder at a
//! time (`pd.read_parquet("out/course_grades")`, `pq.read_table("out/subsection_grades")`),
//! with the Hive folder key and the `course_id` column of the files merged into one column
//! (the files write it dictionary-encoded, the type pyarrow gives a Hive key). Polars is
//! checked too when installed. DuckDB has its own test (`tests/duckdb.rs`).
//!
//! Uses the Python packages; without pandas and pyarrow the test is skipped with a message,
//! unless `REGRADE_REQUIRE_PANDAS=1` (set by `.ci/run`, which installs them).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

fn available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import pandas, pyarrow"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var("REGRADE_REQUIRE_PANDAS").as_deref() == Ok("1") {
            panic!("REGRADE_REQUIRE_PANDAS=1 but `python3 -c 'import pandas, pyarrow'` fails; pip install pandas pyarrow");
        }
        eprintln!("pandas/pyarrow are not installed: skipping (pip install pandas pyarrow)");
    }
    ok
}

fn regrade(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_regrade")).args(args).output().expect("run regrade");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// For each table folder: `reader<TAB>table<TAB>course_id<TAB>rows`, per reader.
const SCRIPT: &str = r#"
import sys
import pandas as pd, pyarrow.parquet as pq
readers = {
    "pandas": lambda d: pd.read_parquet(d).groupby("course_id", observed=True).size().items(),
    "pyarrow": lambda d: pq.read_table(d).group_by("course_id").aggregate([([], "count_all")]).to_pylist(),
}
try:
    import polars as pl
    readers["polars"] = lambda d: pl.read_parquet(d + "/**/*.parquet", hive_partitioning=True).group_by("course_id").len().rows()
except ImportError:
    pass
for table in sys.argv[1:]:
    for name, read in readers.items():
        for item in read(table):
            if isinstance(item, dict):
                course, n = item["course_id"], item["count_all"]
            else:
                course, n = item
            print(f"{name}\t{table}\t{course}\t{n}")
"#;

/// (table folder, course id) -> rows, from the manifest's list of output files.
fn expected(out: &Path) -> BTreeMap<(String, String), u64> {
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let mut counts = BTreeMap::new();
    for f in manifest["outputs"].as_array().unwrap() {
        let path = f["path"].as_str().unwrap();
        if !path.ends_with(".parquet") {
            continue;
        }
        let (table, rest) = path.split_once("/course_id=").expect("Hive-partitioned");
        let escaped = rest.split('/').next().unwrap();
        let course = regrade::store::partition::unescape_partition_value(escaped).expect("a valid escape");
        *counts.entry((table.to_string(), course)).or_default() += f["rows"].as_u64().unwrap();
    }
    counts
}

fn check(out: &Path) -> usize {
    let counts = expected(out);
    let tables: Vec<String> = counts
        .keys()
        .map(|(t, _)| t.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert!(!tables.is_empty());
    let run = Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .args(&tables)
        .current_dir(out)
        .output()
        .expect("python3");
    assert!(run.status.success(), "a reader failed:\n{}", String::from_utf8_lossy(&run.stderr));
    let mut by_reader: BTreeMap<String, BTreeMap<(String, String), u64>> = BTreeMap::new();
    for line in String::from_utf8(run.stdout).unwrap().lines() {
        let cells: Vec<&str> = line.split('\t').collect();
        let n: u64 = cells[3].parse().unwrap();
        by_reader
            .entry(cells[0].to_string())
            .or_default()
            .insert((cells[1].to_string(), cells[2].to_string()), n);
    }
    for reader in ["pandas", "pyarrow"] {
        assert_eq!(by_reader.get(reader), Some(&counts), "{reader}: rows per table and course");
    }
    if let Some(polars) = by_reader.get("polars") {
        assert_eq!(polars, &counts, "polars: rows per table and course");
    }
    tables.len()
}

#[test]
fn every_output_table_loads_in_pandas_and_pyarrow() {
    if !available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("input");
    let (run, backfill) = (tmp.path().join("run"), tmp.path().join("backfill"));
    let i = input.to_str().unwrap();
    regrade(&["generate", i, "--seed", "5", "--courses", "3", "--learners", "60", "-q"]);
    regrade(&["run", "--input", i, "--output", run.to_str().unwrap(), "-q"]);
    regrade(&["backfill", "--input", i, "--output", backfill.to_str().unwrap(), "-q"]);
    // subsection_grades, course_grades and both diffs; the three backfill tables.
    assert_eq!(check(&run), 4);
    assert_eq!(check(&backfill), 3);
}
