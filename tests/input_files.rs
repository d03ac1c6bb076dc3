//! Which files under the input root make a table (issue 14, item 3), through the binary.
//!
//! A table is every Parquet file under `<root>/<table>/`, whatever its name (a file is Parquet
//! when it starts with Parquet's magic bytes), or one file `<root>/<table>.parquet`. Anything
//! else under the root is either refused (exit 2) or listed under `ignored_inputs` with a
//! warning; a table whose folder holds files is never read as empty. `check`, `scan`, `run`
//! and `backfill` share the reader, so each case is run through all four.

#[allow(unused_macros)]
#[macro_use]
mod run_support;

use std::fs;
use std::path::Path;

use run_support::*;

const POLICY: &str = r#"{"GRADER": [{"type": "Homework", "min_count": 1, "drop_count": 0, "short_label": "HW", "weight": 1.0}], "GRADE_CUTOFFS": {"Pass": 0.5}}"#;
const T: i64 = COURSE_START + DAY;
const PSG: &str = "persistent_subsection_grades";

/// One course, one learner who scored 1/2 on p and whose subsection grade is persisted as
/// regrade computes it: read, the row is unchanged; missed, it would be "new".
fn dataset() -> Dataset {
    let mut c = Course::new("course-v1:Org+A+1", POLICY);
    c.root(&["ch"]);
    c.chapter("ch", &["s"]);
    c.seq("s", "S", "Homework", &["v"]);
    c.vertical("v", &["p"]);
    c.problem("p", "P", 2.0);
    let mut ds = Dataset::default();
    c.write_to(&mut ds);
    users(&mut ds, &[1]);
    enroll(&mut ds, &c.id, 1, "honor", true);
    csm(&mut ds, &c, 1, "p", Some(1.0), 2.0, T);
    let records = vec![Record { block: "p", weight: None, raw_possible: Some(2.0), graded: true }];
    persisted_subsection(
        &mut ds,
        &c,
        SubsectionRow {
            id: 5,
            user: 1,
            subsection: "s",
            values: [1.0, 2.0, 1.0, 2.0],
            first_attempted: Some(T),
            records,
        },
    );
    ds
}

/// The table's one file in the standard layout (`<table>/part-0.parquet`) moved to `to`.
fn move_file(job: &Job, table: &str, to: &str) {
    let from = job.input.join(table).join("part-0.parquet");
    let to = job.input.join(to);
    fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
    fs::rename(&from, &to).expect("move");
    if fs::read_dir(job.input.join(table)).is_ok_and(|mut d| d.next().is_none()) {
        fs::remove_dir(job.input.join(table)).expect("rmdir");
    }
}

fn write(path: &Path, bytes: &[u8]) {
    fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    fs::write(path, bytes).expect("write");
}

/// The row of `table` in `check`'s table: (files, rows, result).
fn check_line(out: &Out, table: &str) -> (String, String, String) {
    let line = out
        .stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(table))
        .unwrap_or_else(|| panic!("no line for {table}:\n{}", out.stdout));
    let cells: Vec<&str> = line.split_whitespace().collect();
    (cells[1].to_string(), cells[2].to_string(), cells[3].to_string())
}

#[test]
fn table_files_are_read_whatever_their_names() {
    let ds = dataset();
    let base_job = Job::new(&ds);
    let base = base_job.run("base", &["--as-of", AS_OF]);
    let unchanged = &base.manifest()["totals"]["subsection_diffs"];
    assert_eq!(unchanged["unchanged"], 1, "the persisted row is read: {unchanged}");
    for to in [
        "persistent_subsection_grades.parquet",
        "persistent_subsection_grades/000000_0",
        "persistent_subsection_grades/part-00000-5b1c9a3e-2f4d-4e0a-9c11-3f1d2e4b5a6c-c000",
        "persistent_subsection_grades/part-0.pq",
        "persistent_subsection_grades/PART-0.PARQUET",
        "persistent_subsection_grades/course_id=course-v1%3AOrg%2BA%2B1/000001_0",
    ] {
        let job = Job::new(&ds);
        move_file(&job, PSG, to);
        let check = regrade("check", &[job.input.to_str().unwrap()]);
        assert_eq!(check.code, Some(0), "{to}: {}{}", check.stdout, check.stderr);
        assert_eq!(check_line(&check, PSG), ("1".into(), "1".into(), "ok".into()), "{to}");
        let ran = job.run("out", &["--as-of", AS_OF]);
        let m = ran.manifest();
        assert_eq!(m["inputs"][PSG]["files"], 1, "{to}");
        assert_eq!(m["totals"]["subsection_diffs"], *unchanged, "{to}: the persisted row was read");
        assert_eq!(ran.output_sha1s(), base.output_sha1s(), "{to}");
        assert_eq!(m["ignored_inputs"], serde_json::json!([]), "{to}");
    }
}

#[test]
fn files_that_are_not_read_are_listed_and_warned_about() {
    let ds = dataset();
    let base_job = Job::new(&ds);
    let base = base_job.run("base", &["--as-of", AS_OF]);
    let job = Job::new(&ds);
    let dir = job.input.join(PSG);
    let data = fs::read(dir.join("part-0.parquet")).unwrap();
    // Left by Spark and Hadoop writers: markers and checksums are skipped without a word...
    write(&dir.join("_SUCCESS"), b"");
    write(&dir.join(".part-0.parquet.crc"), b"crc");
    write(&dir.join("._SUCCESS.crc"), b"crc");
    write(&dir.join("_committed_8017"), br#"{"added":["part-0.parquet"]}"#);
    write(&dir.join("_started_8017"), b"");
    // ...everything else that is not read is listed: an unfinished write (a copy of the data
    // under _temporary/, which must not be read twice), hidden files, a text file.
    write(&dir.join("_temporary/0/_temporary/attempt_1/part-0.parquet"), &data);
    write(&dir.join(".DS_Store"), b"\0\0\0\x01Bud1");
    write(&dir.join("README.txt"), b"exported 2026-05-31\n");
    write(&dir.join("part-1.csv"), b"id,user_id\n");
    write(&job.input.join("notes.txt"), b"hello");
    write(&job.input.join("exports_2026/x.parquet"), b"x");
    let expected = [
        "exports_2026",
        "notes.txt",
        "persistent_subsection_grades/.DS_Store",
        "persistent_subsection_grades/README.txt",
        "persistent_subsection_grades/_temporary",
        "persistent_subsection_grades/part-1.csv",
    ];
    for out in every_command(&job, "extras") {
        assert_eq!(out.code, Some(0), "{}: {}{}", out.command, out.stdout, out.stderr);
        for path in expected {
            let warned = out.stderr.lines().any(|l| l.contains("WARN") && l.contains(path));
            assert!(warned, "{}: no warning names {path}:\n{}", out.command, out.stderr);
        }
        for skipped in ["_SUCCESS", ".crc", "_committed_", "_started_"] {
            assert!(
                !out.stderr.contains(skipped),
                "{}: {skipped} warned about:\n{}",
                out.command,
                out.stderr
            );
        }
    }
    let ran = job.run("again", &["--as-of", AS_OF]);
    assert_eq!(ran.manifest()["ignored_inputs"], serde_json::json!(expected));
    assert_eq!(ran.output_sha1s(), base.output_sha1s(), "only the data file was read, once");
    let check = regrade("check", &[job.input.to_str().unwrap()]);
    assert!(check.stdout.contains("not read: 6 inputs"), "{}", check.stdout);
}

#[test]
fn a_table_folder_with_files_but_no_parquet_is_refused_not_read_as_empty() {
    let ds = dataset();
    let job = Job::new(&ds);
    let dir = job.input.join(PSG);
    let data = fs::read(dir.join("part-0.parquet")).unwrap();
    fs::remove_file(dir.join("part-0.parquet")).unwrap();
    write(&dir.join("part-0.csv"), b"id,user_id\n5,1\n");
    write(&dir.join("_SUCCESS"), b"");
    let shown = format!("{}/", dir.display());
    assert_refused(&job, "csv", &[PSG, &shown, "part-0.csv", "no Parquet data file", "not Parquet"]);

    // A write still in progress (or one that failed): only staged files.
    fs::remove_file(dir.join("part-0.csv")).unwrap();
    write(&dir.join("_temporary/0/part-0.parquet"), &data);
    assert_refused(&job, "staged", &[PSG, "_temporary", "no Parquet data file"]);

    // A required table likewise, and the message still says the table is missing.
    let enrollments = job.input.join("enrollments");
    fs::remove_file(enrollments.join("part-0.parquet")).unwrap();
    write(&enrollments.join("part-0.txt"), b"user_id,course_id\n1,course-v1:Org+A+1\n");
    fs::remove_dir_all(dir.join("_temporary")).unwrap();
    assert_refused(&job, "required", &["enrollments: required table not found", "part-0.txt"]);
}

#[test]
fn a_table_both_at_the_root_and_in_a_folder_is_refused() {
    let ds = dataset();
    let job = Job::new(&ds);
    fs::copy(
        job.input.join(PSG).join("part-0.parquet"),
        job.input.join("persistent_subsection_grades.parquet"),
    )
    .unwrap();
    let file = format!("{}/persistent_subsection_grades.parquet", job.input.display());
    assert_refused(&job, "both", &[PSG, &file, "both", "keep one"]);

    // Two single files of one table.
    move_file(&job, PSG, "persistent_subsection_grades.pq");
    assert_refused(&job, "two", &[PSG, &file, "persistent_subsection_grades.pq", "keep one"]);
}

#[test]
fn a_root_file_named_as_a_table_but_not_parquet_or_misspelt_is_refused() {
    let ds = dataset();
    let job = Job::new(&ds);
    fs::remove_dir_all(job.input.join(PSG)).unwrap();
    write(&job.input.join("persistent_subsection_grades.csv"), b"id,user_id\n5,1\n");
    assert_refused(&job, "csv", &["persistent_subsection_grades.csv", "not Parquet", "PAR1"]);

    fs::remove_file(job.input.join("persistent_subsection_grades.csv")).unwrap();
    let job2 = Job::new(&ds);
    move_file(&job2, PSG, "persistent_subsection_grade.parquet");
    assert_refused(&job2, "typo", &["persistent_subsection_grade.parquet", "did you mean"]);
}
