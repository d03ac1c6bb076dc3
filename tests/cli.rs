//! The `regrade` binary: exit codes and output of `generate`, `schema` and `scan`.

use std::process::{Command, Output};

fn regrade(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_regrade"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run regrade")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn generate_exits_0_and_prints_a_summary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("data");
    let out_s = out.to_str().expect("utf8");
    let o = regrade(&["generate", "--seed", "1", "--learners", "1000", out_s]);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", text(&o.stderr));
    let stdout = text(&o.stdout);
    assert!(stdout.contains("generated 17 tables"), "{stdout}");
    // `import mysql`'s own tables are not generated: course_policies carries their facts.
    for t in regrade::schema::inputs()
        .filter(|t| !["course_versions", "course_settings"].contains(&t.table.as_str()))
    {
        assert!(stdout.contains(&t.table), "summary lists {}", t.table);
        assert!(out.join(&t.table).is_dir(), "{} written", t.table);
    }
    // No personal data in logs.
    let stderr = text(&o.stderr);
    assert!(!stderr.contains("@example.invalid") && !stderr.contains("learner1"), "{stderr}");

    // A second run into the same place fails (1), and says what to do.
    let o = regrade(&["generate", "--seed", "1", "--learners", "1000", out_s]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).starts_with("error: "), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("--overwrite"));
}

#[test]
fn bad_usage_exits_2() {
    let o = regrade(&["generate"]);
    assert_eq!(o.status.code(), Some(2));
    let o = regrade(&["generate", "x", "--learners", "lots"]);
    assert_eq!(o.status.code(), Some(2));
    let o = regrade(&["frobnicate"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn schema_lists_every_table() {
    let o = regrade(&["schema"]);
    assert_eq!(o.status.code(), Some(0));
    let stdout = text(&o.stdout);
    for s in regrade::schema::all() {
        assert!(stdout.contains(&format!("{} (", s.table)), "missing {}", s.table);
        for c in &s.columns {
            assert!(stdout.contains(&c.name), "missing {}.{}", s.table, c.name);
        }
    }
}

#[test]
fn schema_mysql_prints_the_ddl_files_in_creation_order() {
    let o = regrade(&["schema", "--mysql"]);
    assert_eq!(o.status.code(), Some(0));
    let stdout = text(&o.stdout);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/mysql");
    let mut at = 0;
    for t in ["grades_visibleblocks", "grades_persistentsubsectiongrade", "grades_persistentcoursegrade"] {
        let ddl = std::fs::read_to_string(root.join(format!("{t}.sql"))).unwrap();
        let found = stdout.find(ddl.trim_end()).unwrap_or_else(|| panic!("{t} DDL not printed"));
        assert!(found >= at, "{t} out of order");
        at = found;
    }
    assert_eq!(regrade(&["schema", "--mysql", "--json"]).status.code(), Some(2));
}

#[test]
fn schema_of_one_table_text_and_json() {
    let o = regrade(&["schema", "studentmodule"]);
    assert_eq!(o.status.code(), Some(0));
    let stdout = text(&o.stdout);
    assert!(stdout.starts_with("studentmodule (input, required)"), "{stdout}");
    assert!(!stdout.contains("enrollments ("));

    let o = regrade(&["schema", "studentmodule", "--json"]);
    assert_eq!(o.status.code(), Some(0));
    let printed: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let file: serde_json::Value =
        serde_json::from_str(include_str!("../schemas/input/studentmodule.json")).expect("json");
    assert_eq!(printed, file);

    let o = regrade(&["schema", "--json"]);
    let all: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(all.len(), regrade::schema::all().len());
}

#[test]
fn unknown_schema_exits_2_listing_valid_names() {
    let o = regrade(&["schema", "nope"]);
    assert_eq!(o.status.code(), Some(2));
    let stderr = text(&o.stderr);
    assert!(stderr.starts_with("error: unknown table 'nope'"), "{stderr}");
    for name in ["studentmodule", "course_blocks", "course_grades", "backfill_grades_visibleblocks"] {
        assert!(stderr.contains(name), "{stderr}");
    }
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"));
}

#[test]
fn json_logs_are_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("d");
    let o = regrade(&[
        "--log-format",
        "json",
        "generate",
        "--courses",
        "1",
        "--learners",
        "5",
        out.to_str().expect("utf8"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let stderr = text(&o.stderr);
    assert!(!stderr.is_empty());
    for line in stderr.lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("each log line is JSON");
    }
}

/// `regrade scan` (the read floor of `make bench`) decodes exactly the rows `run` reads: per
/// table, over every course and for one course, and in total (with the global tables).
#[test]
fn scan_reads_what_run_reads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let data_s = data.to_str().expect("utf8");
    let o = regrade(&["generate", "--seed", "3", "--courses", "3", "--learners", "150", data_s]);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", text(&o.stderr));

    let scan = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec!["--log-format", "json", "scan", "--input", data_s];
        args.extend_from_slice(extra);
        let o = regrade(&args);
        assert_eq!(o.status.code(), Some(0), "stderr: {}", text(&o.stderr));
        let stdout = text(&o.stdout);
        serde_json::from_str(stdout.lines().last().expect("a JSON line")).expect("JSON")
    };
    let all = scan(&["--threads", "1"]);
    assert_eq!(all["courses"], 3);
    assert_eq!(all["threads"], 1);

    let out = dir.path().join("run");
    let o = regrade(&["-q", "run", "--input", data_s, "--output", out.to_str().expect("utf8")]);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", text(&o.stderr));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).expect("manifest")).expect("JSON");
    let courses = manifest["courses"].as_array().expect("courses");
    assert_eq!(courses.len(), 3);
    let mut per_table: std::collections::BTreeMap<String, u64> = Default::default();
    for c in courses {
        for (t, n) in c["rows_read"].as_object().expect("rows_read") {
            *per_table.entry(t.clone()).or_default() += n.as_u64().expect("count");
        }
    }
    assert!(per_table["studentmodule"] > 1000, "{per_table:?}");
    for (t, n) in &per_table {
        assert_eq!(all["rows"][t].as_u64(), Some(*n), "table {t}");
    }
    assert_eq!(all["total_rows"], manifest["totals"]["rows_read"]);

    // One course: its own rows only.
    let first = courses[0]["course_id"].as_str().expect("id");
    let one = scan(&["--courses", first]);
    assert_eq!(one["courses"], 1);
    for (t, n) in courses[0]["rows_read"].as_object().expect("rows_read") {
        assert_eq!(&one["rows"][t], n, "table {t} of {first}");
    }

    // Unreadable input is exit 2, as for run: no such folder, or a folder without the tables.
    let o = regrade(&["scan", "--input", dir.path().join("nothing").to_str().expect("utf8")]);
    assert_eq!(o.status.code(), Some(2), "stderr: {}", text(&o.stderr));
    assert!(text(&o.stderr).contains("is not a directory"), "{}", text(&o.stderr));
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let o = regrade(&["scan", "--input", empty.to_str().expect("utf8")]);
    assert_eq!(o.status.code(), Some(2), "stderr: {}", text(&o.stderr));
    assert!(text(&o.stderr).contains("required table not found"), "{}", text(&o.stderr));
    // A bad flag is a usage error (exit 2), as `run`'s courses_in_flight = 0 is.
    let o = regrade(&["scan", "--input", data_s, "--courses-in-flight", "0"]);
    assert_eq!(o.status.code(), Some(2), "stderr: {}", text(&o.stderr));
    assert!(text(&o.stderr).contains("--courses-in-flight"), "{}", text(&o.stderr));
}

/// `--threads` beyond what any machine has cores for is a usage error (exit 2) naming the
/// bound, in `run`, `backfill`, `scan` and the job file's `threads`, not a panic (it used to
/// abort with exit 134 creating the pools); `0` still means one per core.
#[test]
fn threads_out_of_range_is_a_usage_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let data_s = data.to_str().expect("utf8");
    let o = regrade(&["generate", "--seed", "1", "--courses", "1", "--learners", "5", "-q", data_s]);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", text(&o.stderr));
    let out = |name: &str| dir.path().join(name).to_str().expect("utf8").to_string();
    let refused = |args: &[&str], needles: &[&str]| {
        let o = regrade(args);
        let stderr = text(&o.stderr);
        eprintln!("{args:?}: {stderr}");
        assert_eq!(o.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        for n in needles {
            assert!(stderr.contains(n), "{args:?}: stderr lacks {n:?}: {stderr}");
        }
    };
    for command in ["run", "backfill"] {
        let o = out(command);
        refused(&[command, "--input", data_s, "--output", &o, "--threads", "100000"], &["--threads", "1024"]);
        refused(&[command, "--input", data_s, "--output", &o, "--threads", "1025"], &["--threads", "1024"]);
        assert!(!dir.path().join(command).exists(), "{command}: nothing written");
    }
    refused(&["scan", "--input", data_s, "--threads", "100000"], &["--threads", "1024"]);
    let job = dir.path().join("job.toml");
    let toml = format!("input = {data_s:?}\noutput = {:?}\nthreads = 100000\n", out("from-job"));
    std::fs::write(&job, toml).expect("job file");
    refused(&["run", job.to_str().expect("utf8")], &["threads must be between 0 (one per core) and 1024"]);
    assert!(!dir.path().join("from-job").exists(), "nothing written");
    // 0 (one per core) and the bound itself are accepted.
    let o = regrade(&["-q", "run", "--input", data_s, "--output", &out("zero"), "--threads", "0"]);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", text(&o.stderr));
    let o = regrade(&["-q", "scan", "--input", data_s, "--threads", "1024"]);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", text(&o.stderr));
}

/// `import mysql`'s flags are checked before any connection is made: each bad one exits 2,
/// naming the flag (the URL points at a closed port, so reaching the server would fail otherwise).
#[test]
fn import_mysql_flags_are_checked_before_connecting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let out = out.to_str().expect("utf8");
    let url = "mysql://ro@127.0.0.1:1/edxapp";
    for (flags, needle) in [
        (&["--as-of", "yesterday"][..], "--as-of 'yesterday' is not an RFC 3339 time"),
        (&["--threads", "0"][..], "--threads must be at least 1"),
        (&["--page-rows", "0"][..], "--page-rows must be at least 1"),
        (&["--days-good-for=-1"][..], "--days-good-for must not be negative"),
        (&[][..], "cannot connect"),
    ] {
        let mut args = vec!["import", "mysql", "--url", url, "--output", out];
        args.extend(flags);
        let o = regrade(&args);
        assert_eq!(o.status.code(), Some(2), "{flags:?}: {}", text(&o.stderr));
        assert!(text(&o.stderr).contains(needle), "{flags:?}: {}", text(&o.stderr));
    }
    assert!(!dir.path().join("out").join("manifest.json").exists());
}
