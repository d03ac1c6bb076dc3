//! The outputs load in DuckDB as analysts load them: `SELECT * FROM 'out/course_grades/**/*.parquet'`
//! (Hive partitions decoded back to the course ids). Uses DuckDB's Python package; without it
//! the test is skipped with a message, unless `REGRADE_REQUIRE_DUCKDB=1` (set by `.ci/run`,
//! which installs it).

use std::path::Path;
use std::process::Command;

fn duckdb_available() -> bool {
    let ok = Command::new("python3").args(["-c", "import duckdb"]).output().is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var("REGRADE_REQUIRE_DUCKDB").as_deref() == Ok("1") {
            panic!("REGRADE_REQUIRE_DUCKDB=1 but `python3 -c 'import duckdb'` fails; pip install duckdb");
        }
        eprintln!("DuckDB's Python package is not installed: skipping (pip install duckdb)");
    }
    ok
}

fn regrade(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_regrade")).args(args).output().expect("run regrade");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Run a DuckDB query and return its rows as tab-separated lines.
fn duckdb(dir: &Path, sql: &str) -> Vec<String> {
    let script = "import duckdb, sys\nfor row in duckdb.sql(sys.argv[1]).fetchall():\n    print('\\t'.join(str(v) for v in row))\n";
    let out =
        Command::new("python3").arg("-c").arg(script).arg(sql).current_dir(dir).output().expect("python3");
    assert!(out.status.success(), "duckdb failed on {sql}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect()
}

#[test]
fn outputs_load_in_duckdb() {
    if !duckdb_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (input, out) = (tmp.path().join("input"), tmp.path().join("out"));
    regrade(&[
        "generate",
        input.to_str().unwrap(),
        "--seed",
        "3",
        "--courses",
        "3",
        "--learners",
        "60",
        "-q",
    ]);
    regrade(&["run", "--input", input.to_str().unwrap(), "--output", out.to_str().unwrap(), "-q"]);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();

    // The query from the issue, on the course grades.
    let rows = duckdb(
        tmp.path(),
        "SELECT course_id, count(*), count(DISTINCT user_id) FROM 'out/course_grades/**/*.parquet' \
         GROUP BY course_id ORDER BY course_id",
    );
    let mut expected: Vec<String> = manifest["courses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| format!("{}\t{}\t{}", c["course_id"].as_str().unwrap(), c["course_rows"], c["course_rows"]))
        .collect();
    expected.sort();
    assert_eq!(rows, expected, "course ids decode from the Hive folders and every row is there");

    // Every column of the subsection grades and diffs, by name, with their types.
    let rows = duckdb(
        tmp.path(),
        "SELECT count(*), sum(CASE WHEN first_attempted IS NULL THEN 1 ELSE 0 END) >= 0, \
         min(percent_graded) >= 0, max(percent_graded) <= 1, count(DISTINCT source) > 0 \
         FROM 'out/subsection_grades/**/*.parquet'",
    );
    assert_eq!(rows, vec![format!("{}\tTrue\tTrue\tTrue\tTrue", manifest["totals"]["subsection_rows"])]);
    let rows = duckdb(
        tmp.path(),
        "SELECT typeof(first_attempted), typeof(user_id), typeof(percent_graded) \
         FROM 'out/subsection_grades/**/*.parquet' LIMIT 1",
    );
    assert_eq!(rows, vec!["TIMESTAMP WITH TIME ZONE\tBIGINT\tDOUBLE".to_string()]);
    let diffs = manifest["totals"]["course_grade_diffs"].clone();
    let written: u64 = ["new", "changed", "orphaned", "letter_changed", "now_passing", "now_failing"]
        .iter()
        .map(|k| diffs[k].as_u64().unwrap())
        .sum();
    if written > 0 {
        let rows = duckdb(tmp.path(), "SELECT count(*) FROM 'out/diffs/course_grade_diffs/**/*.parquet'");
        assert_eq!(rows, vec![written.to_string()]);
    }
}
