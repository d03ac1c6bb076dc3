//! `regrade run --outputs apply` on local files: the apply rows are exactly the diff's new and
//! changed keys with the run's values, the CSV holds the Parquet's rows, the follow-ups agree
//! with the course diffs and the persisted `passed_timestamp`, the files do not depend on
//! chunks or partitions, frozen courses are left out unless asked for, and the export time is
//! required.

mod common;
mod run_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::files_under as files;
use run_support::*;

const EXPORT: &str = "2026-05-30T00:00:00Z";

fn run_apply(input: &Path, out: &Path, extra: &[&str]) -> Out {
    run_apply_env(input, out, extra, &[])
}

/// [`run_apply`] with environment variables set (the partition test hook).
fn run_apply_env(input: &Path, out: &Path, extra: &[&str], env: &[(&str, &str)]) -> Out {
    let mut args = vec![
        "--input",
        input.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--as-of",
        AS_OF,
        "--outputs",
        "all,apply",
        "--export-time",
        EXPORT,
        "--grades-freeze",
        "off",
    ];
    args.extend_from_slice(extra);
    regrade_env("run", &args, env)
}

fn manifest(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap()
}

fn s(row: &BTreeMap<String, V>, k: &str) -> String {
    match &row[k] {
        V::S(s) => s.clone(),
        V::I(i) => i.to_string(),
        other => format!("{other:?}"),
    }
}

#[test]
fn apply_rows_are_the_new_and_changed_keys_with_the_runs_values() {
    let dir = tempfile::tempdir().unwrap();
    let input = generated(dir.path(), 5, 160, 20);
    let out = dir.path().join("out");
    let r = run_apply(&input, &out, &[]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);

    // Subsections: the diff's new and changed keys, with the values of subsection_grades.
    let diffs = read_parquet_rows(&out.join("diffs/subsection_diffs"));
    let wanted: BTreeSet<(String, String, String)> = diffs
        .iter()
        .filter(|d| matches!(s(d, "change").as_str(), "new" | "changed"))
        .map(|d| (s(d, "course_id"), s(d, "user_id"), s(d, "usage_key")))
        .collect();
    assert!(wanted.len() > 100, "a real regrade changes rows: {}", wanted.len());
    let applied = read_parquet_rows(&out.join("apply/grades_persistentsubsectiongrade"));
    let keys: BTreeSet<(String, String, String)> =
        applied.iter().map(|a| (s(a, "course_id"), s(a, "user_id"), s(a, "usage_key"))).collect();
    assert_eq!(keys.len(), applied.len(), "each key once");
    assert_eq!(keys, wanted);
    let graded: BTreeMap<(String, String, String), &BTreeMap<String, V>> =
        diffs.iter().map(|d| ((s(d, "course_id"), s(d, "user_id"), s(d, "usage_key")), d)).collect();
    for a in &applied {
        let d = graded[&(s(a, "course_id"), s(a, "user_id"), s(a, "usage_key"))];
        for c in ["earned_all", "possible_all", "earned_graded", "possible_graded", "first_attempted"] {
            assert_eq!(a[c], d[&format!("new_{c}")], "{c}");
        }
        assert_eq!(a["visible_blocks_hash"], d["new_visible_blocks_hash"]);
        assert_eq!(a["modified"], V::T(AS_OF_US));
    }
    // Every hash an applied row names is in the input's visible blocks or in the apply's.
    let known: BTreeSet<String> =
        read_parquet_rows(&input.join("visible_blocks")).iter().map(|r| s(r, "hashed")).collect();
    let new_blocks = read_parquet_rows(&out.join("apply/grades_visibleblocks"));
    let added: BTreeSet<String> = new_blocks.iter().map(|r| s(r, "hashed")).collect();
    assert_eq!(added.len(), new_blocks.len(), "each new list once");
    assert!(added.is_disjoint(&known), "only lists the table does not hold");
    for a in &applied {
        let h = s(a, "visible_blocks_hash");
        assert!(known.contains(&h) || added.contains(&h), "hash {h} is nowhere");
    }
    for b in &new_blocks {
        assert_eq!(sha1_b64(&s(b, "blocks_json")), s(b, "hashed"), "a list's hash is its JSON's");
    }

    // Course grades: every course diff key but the orphaned ones.
    let course_diffs = read_parquet_rows(&out.join("diffs/course_grade_diffs"));
    let wanted: BTreeSet<(String, String)> = course_diffs
        .iter()
        .filter(|d| s(d, "change") != "orphaned")
        .map(|d| (s(d, "course_id"), s(d, "user_id")))
        .collect();
    let courses = read_parquet_rows(&out.join("apply/grades_persistentcoursegrade"));
    let got: BTreeSet<(String, String)> =
        courses.iter().map(|c| (s(c, "course_id"), s(c, "user_id"))).collect();
    assert_eq!(got, wanted);

    // Follow-ups: independently, from the course diffs and the persisted passed_timestamp.
    let persisted: BTreeMap<(String, String), V> = read_parquet_rows(&input.join("persistent_course_grades"))
        .iter()
        .map(|r| ((s(r, "course_id"), s(r, "user_id")), r["passed_timestamp"].clone()))
        .collect();
    let mut expected: BTreeSet<(String, String, &str)> = BTreeSet::new();
    for d in course_diffs.iter().filter(|d| s(d, "change") != "orphaned") {
        let key = (s(d, "course_id"), s(d, "user_id"));
        let never_passed = persisted.get(&key).is_none_or(|t| *t == V::Null);
        let kind = match s(d, "change").as_str() {
            _ if d["new_passed"] == V::B(true) && never_passed => "passed_first_time",
            "now_passing" => "now_passing",
            "now_failing" => "now_failing",
            "letter_changed" => "letter_changed",
            _ => continue,
        };
        expected.insert((key.0, key.1, kind));
    }
    let mut listed: BTreeSet<(String, String, &str)> = BTreeSet::new();
    let kinds = ["passed_first_time", "now_passing", "now_failing", "letter_changed"];
    for (path, bytes) in files(&out.join("apply/follow_ups")) {
        let text = String::from_utf8(bytes).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some(FOLLOW_UP_HEADER), "{path}");
        for l in lines {
            let f = parse_line(l);
            let kind = kinds.iter().find(|k| **k == f[2]).unwrap_or_else(|| panic!("{l}"));
            assert!(listed.insert((f[0].clone(), f[1].clone(), kind)), "listed twice: {l}");
        }
    }
    assert!(expected.iter().any(|e| e.2 == "passed_first_time"), "the sample has first passes");
    assert_eq!(listed, expected);

    // The manifest's totals count the files' rows.
    let totals = &manifest(&out)["apply"]["totals"];
    assert_eq!(totals["subsection_rows"], applied.len());
    assert_eq!(totals["course_rows"], courses.len());
    assert_eq!(totals["visible_blocks_rows"], new_blocks.len());
    assert_eq!(manifest(&out)["apply"]["export_time"], EXPORT);

    // The CSVs hold the Parquet rows: one line per row, after the header.
    for (table, n) in [
        ("grades_persistentsubsectiongrade", applied.len()),
        ("grades_persistentcoursegrade", courses.len()),
        ("grades_visibleblocks", new_blocks.len()),
    ] {
        let csv: usize = files(&out.join("apply/csv").join(table))
            .values()
            .map(|b| std::str::from_utf8(b).unwrap().lines().count() - 1)
            .sum();
        assert_eq!(csv, n, "{table}");
    }
    let scripts = scripts(&out);
    assert_eq!(scripts.len(), 3, "one script per course");
    for text in scripts.values() {
        let text = std::str::from_utf8(text).unwrap();
        assert!(text.contains("SET @regrade_export_time = '2026-05-30 00:00:00.000000';"));
        assert_eq!(text.matches("ON DUPLICATE KEY UPDATE").count(), 3, "one merge per table");
    }
    let top = std::fs::read_to_string(out.join("apply/apply.sql")).unwrap();
    assert_eq!(top.matches("SOURCE sql/").count(), 3);
}

/// The per-course `apply.sql` scripts of a run.
fn scripts(out: &Path) -> BTreeMap<String, Vec<u8>> {
    files(&out.join("apply/sql")).into_iter().filter(|(k, _)| k.ends_with("/apply.sql")).collect()
}

const FOLLOW_UP_HEADER: &str =
    "course_id,user_id,follow_up,old_percent_grade,new_percent_grade,old_letter_grade,new_letter_grade";

fn sha1_b64(s: &str) -> String {
    use base64::Engine;
    use sha1::Digest;
    base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(s.as_bytes()))
}

#[test]
fn apply_files_do_not_depend_on_chunks_partitions_or_threads() {
    let dir = tempfile::tempdir().unwrap();
    let input = generated(dir.path(), 5, 160, 20);
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    assert_eq!(run_apply(&input, &a, &["--threads", "1"]).code, Some(0));
    // Small partitions (the test hook the partition tests use) and chunks of 7 learners.
    let small = [("REGRADE_TEST_PARTITION_BYTES", "150000")];
    let r = run_apply_env(&input, &b, &["--threads", "2", "--learners-per-chunk", "7"], &small);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(manifest(&b)["courses"].as_array().unwrap().iter().any(|c| c["partitions"].as_u64() > Some(1)));
    let (fa, fb) = (files(&a.join("apply")), files(&b.join("apply")));
    assert!(fa.len() > 10, "{:?}", fa.keys());
    assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
    for (k, v) in &fa {
        assert!(v == &fb[k], "{k} differs");
    }
}

#[test]
fn frozen_courses_are_left_out_unless_included() {
    let dir = tempfile::tempdir().unwrap();
    let input = generated(dir.path(), 5, 160, 20);
    // Every generated course ended long before this.
    let late = ["--as-of", "2031-01-01T00:00:00Z", "--export-time", "2030-12-31T00:00:00Z"];
    let out = dir.path().join("frozen");
    let args = |o: &Path, extra: &[&'static str]| {
        let mut v = vec!["--input".to_string(), input.to_str().unwrap().into(), "--output".into()];
        v.push(o.to_str().unwrap().into());
        v.extend(["--outputs", "all,apply"].map(String::from));
        v.extend(late.map(String::from));
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let run = |o: &Path, extra: &[&'static str]| {
        let a = args(o, extra);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        regrade("run", &a)
    };
    let r = run(&out, &[]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let m = manifest(&out);
    assert_eq!(m["apply"]["frozen_courses_left_out"].as_array().unwrap().len(), 3, "{}", m["apply"]);
    assert!(!out.join("apply/sql").exists(), "no script for a frozen course");
    assert!(out.join("diffs/subsection_diffs").exists(), "the run's other outputs are written");

    let included = dir.path().join("included");
    assert_eq!(run(&included, &["--include-frozen"]).code, Some(0));
    let m = manifest(&included);
    assert_eq!(m["apply"]["frozen_courses_included"].as_array().unwrap().len(), 3);
    assert_eq!(scripts(&included).len(), 3);

    // With the flag off, nothing is frozen.
    let off = dir.path().join("off");
    assert_eq!(run(&off, &["--grades-freeze", "off"]).code, Some(0));
    assert_eq!(manifest(&off)["apply"]["frozen_courses_left_out"].as_array().unwrap().len(), 0);
    assert_eq!(files(&off.join("apply/sql")), files(&included.join("apply/sql")));
}

#[test]
fn apply_needs_the_export_time_and_its_options_need_apply() {
    let dir = tempfile::tempdir().unwrap();
    let input = generated(dir.path(), 5, 160, 20);
    let out = dir.path().join("out");
    let i = input.to_str().unwrap();
    let o = out.to_str().unwrap();
    let r = regrade("run", &["--input", i, "--output", o, "--outputs", "apply"]);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("--export-time") && r.stderr.contains("manifest.json"), "{}", r.stderr);
    assert!(!out.join("manifest.json").exists());
    let r = regrade("run", &["--input", i, "--output", o, "--export-time", EXPORT]);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("add apply to outputs"), "{}", r.stderr);
    let r = regrade("run", &["--input", i, "--output", o, "--outputs", "reports,apply", "--rescore", "read"]);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("nothing to apply"), "{}", r.stderr);
    // An import manifest gives the export time.
    std::fs::write(
        input.join("manifest.json"),
        r#"{"tool": "regrade", "command": "import mysql", "snapshot_at": "2026-05-29T01:02:03Z"}"#,
    )
    .unwrap();
    let r = regrade(
        "run",
        &["--input", i, "--output", o, "--as-of", AS_OF, "--outputs", "apply", "--grades-freeze", "off"],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(manifest(&out)["apply"]["export_time"], "2026-05-29T01:02:03Z");
}
