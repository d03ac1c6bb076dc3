//! Course ids in file and folder names: every name regrade writes stays within the 255-byte
//! limit of file systems. Non-ASCII ids are written as UTF-8 (a 68-letter Cyrillic id has its
//! folders and reads back); an id that no folder name can hold is quarantined with the
//! reason, in `run` and `backfill`, and `--resume` goes on past it. Before, either aborted the
//! whole run with "Unable to open file".

#[allow(unused_macros)]
#[macro_use]
mod run_support;

use std::path::Path;

use run_support::*;

const POLICY: &str = r#"{"GRADER": [{"type": "Homework", "min_count": 1, "drop_count": 0, "short_label": "HW", "weight": 1.0}], "GRADE_CUTOFFS": {"Pass": 0.5}}"#;
const T: i64 = COURSE_START + DAY;

fn course(id: &str) -> Course {
    let mut c = Course::new(id, POLICY);
    c.root(&["ch"]);
    c.chapter("ch", &["s"]);
    c.seq("s", "S", "Homework", &["v"]);
    c.vertical("v", &["p"]);
    c.problem("p", "P", 2.0);
    c
}

/// `course-v1:` + 20 + 20 + 16 Cyrillic letters: 68 characters, 124 bytes of UTF-8 (372
/// percent-encoded).
fn cyrillic_id() -> String {
    let (org, num, run) = ("ж".repeat(20), "ы".repeat(20), "ю".repeat(16));
    let id = format!("course-v1:{org}+{num}+{run}");
    assert_eq!(id.chars().count(), 68);
    id
}

/// Adds a course with learner `user` (1 of 2 points on its problem).
fn add(ds: &mut Dataset, id: &str, user: i64) -> Course {
    let c = course(id);
    c.write_to(ds);
    users(ds, &[user]);
    enroll(ds, id, user, "honor", true);
    csm(ds, &c, user, "p", Some(1.0), 2.0, T);
    c
}

/// URL-decoding, as Hive readers decode partition folders (our own, not regrade's).
fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).expect("hex"));
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("UTF-8")
}

/// Every file and folder name under `dir`, recursively.
fn names(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        out.push(p.file_name().unwrap().to_string_lossy().into_owned());
        if p.is_dir() {
            out.extend(names(&p));
        }
    }
    out
}

/// The course ids of a table's `course_id=` folders, URL-decoded.
fn partition_ids(table: &Path) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(table)
        .unwrap_or_else(|e| panic!("{}: {e}", table.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|n| n.strip_prefix("course_id=").map(url_decode))
        .collect();
    ids.sort();
    ids
}

#[test]
fn a_long_cyrillic_course_id_gets_folders_that_decode_back_to_it() {
    let id = cyrillic_id();
    let mut ds = Dataset::default();
    add(&mut ds, &id, 1);
    add(&mut ds, "course-v1:Org+B+1", 2);
    let job = Job::new(&ds);
    let mut want = vec![id.clone(), "course-v1:Org+B+1".to_string()];
    want.sort();
    let ran = job.run("run", &["--as-of", AS_OF]);
    let backfill = job.backfill("backfill", &["--as-of", AS_OF]);
    for (what, ran) in [("run", &ran), ("backfill", &backfill)] {
        let m = ran.manifest();
        assert_eq!(m["failed"].as_array().unwrap().len(), 0, "{what}: {}", m["failed"]);
        for n in names(&ran.out) {
            assert!(n.len() <= 255, "{what}: a name of {} bytes: {n}", n.len());
        }
    }
    // The folder keeps the Cyrillic as UTF-8, escaping only ':' and '+'.
    let folder =
        format!("course_id=course-v1%3A{}%2B{}%2B{}", "ж".repeat(20), "ы".repeat(20), "ю".repeat(16));
    assert!(ran.out.join("course_grades").join(&folder).join("part-00000.parquet").is_file());
    for table in ["course_grades", "subsection_grades", "diffs/subsection_diffs"] {
        assert_eq!(partition_ids(&ran.out.join(table)), want, "{table}");
    }
    for table in ["grades_persistentsubsectiongrade", "grades_persistentcoursegrade"] {
        assert_eq!(partition_ids(&backfill.out.join("backfill").join(table)), want, "{table}");
    }
    assert_eq!(partition_ids(&backfill.out.join("backfill/csv/grades_persistentcoursegrade")), want);
    // The files' own course_id column agrees with the folder.
    let rows = read_parquet_rows(&ran.out.join("course_grades").join(&folder));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["course_id"], V::S(id.clone()));
    assert_eq!(rows[0]["percent_grade"], V::F(0.5));
    // The reports, named as edX names them.
    let prefix = format!("{}_{}_{}", "ж".repeat(20), "ы".repeat(20), "ю".repeat(16));
    assert!(ran.grade_report(&id, &prefix).contains("\r\n1,"));
}

/// regrade's own reader of Hive-partitioned inputs maps a UTF-8 folder back to the id: the
/// course's rows in `course_id=<escaped>/` folders are read for it.
#[test]
fn hive_partitioned_inputs_with_a_utf8_course_folder_are_read_for_that_course() {
    let id = cyrillic_id();
    let mut ds = Dataset::default();
    add(&mut ds, "course-v1:Org+B+1", 2);
    let mut theirs = Dataset::default();
    let c = add(&mut theirs, &id, 1);
    c.write_to(&mut ds); // the catalogue lists the course; its learners live in partitions
    let job = Job::new(&ds);
    let staged = job.output.join("staged");
    std::fs::create_dir_all(&staged).unwrap();
    theirs.write(&staged);
    let folder =
        format!("course_id=course-v1%3A{}%2B{}%2B{}", "ж".repeat(20), "ы".repeat(20), "ю".repeat(16));
    for table in ["enrollments", "studentmodule"] {
        let dir = job.input.join(table).join(&folder);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::rename(staged.join(table).join("part-0.parquet"), dir.join("part-0.parquet")).unwrap();
    }
    let ran = job.run("partitioned", &["--as-of", AS_OF, "--courses", &id]);
    let m = ran.manifest();
    assert_eq!(m["courses"][0]["course_id"], id.as_str());
    assert_eq!(m["courses"][0]["learners"], 1, "the partition's enrollment was read: {m}");
    let rows = read_parquet_rows(&ran.out.join("course_grades"));
    assert_eq!((&rows[0]["user_id"], &rows[0]["percent_grade"]), (&V::I(1), &V::F(0.5)));
}

#[test]
fn a_course_id_no_folder_name_can_hold_is_quarantined_and_resume_goes_past_it() {
    // 246 ASCII characters: 252 bytes escaped (':' and '+' take three each).
    let long = format!("course-v1:Org+{}+1", "L".repeat(230));
    let mut ds = Dataset::default();
    add(&mut ds, &long, 1);
    add(&mut ds, "course-v1:Org+B+1", 2);
    let job = Job::new(&ds);
    let check = |ran: &Ran, what: &str| {
        assert_eq!(ran.output.status.code(), Some(1), "{what}: {}\n{}", ran.stdout(), ran.stderr());
        let m = ran.manifest();
        assert_eq!(m["failed"].as_array().unwrap().len(), 1, "{what}: {}", m["failed"]);
        assert_eq!(m["failed"][0]["course_id"], long.as_str());
        let error = m["failed"][0]["error"].as_str().unwrap();
        eprintln!("{what}: {error}");
        for needle in ["too long for a folder name", "252 bytes", "255-byte limit"] {
            assert!(error.contains(needle), "{what}: error lacks {needle:?}: {error}");
        }
        assert_eq!(m["courses"][0]["course_id"], "course-v1:Org+B+1", "{what}: the other course is written");
        assert!(ran.stdout().contains(&format!("FAILED {long}")), "{what}: {}", ran.stdout());
        for n in names(&ran.out) {
            assert!(n.len() <= 255, "{what}: a name of {} bytes: {n}", n.len());
        }
    };
    for command in ["run", "backfill"] {
        let ran = job.command(command, command, &["--as-of", AS_OF]);
        check(&ran, command);
        // Interrupted before its manifest, the run resumes to the same end.
        let name = format!("{command}-crashed");
        let out = job.output.join(&name);
        let crashed = std::process::Command::new(env!("CARGO_BIN_EXE_regrade"))
            .args([command, "--input", job.input.to_str().unwrap(), "--output", out.to_str().unwrap()])
            .args(["--as-of", AS_OF])
            .env("REGRADE_TEST_ABORT_BEFORE_MANIFEST", "1")
            .output()
            .unwrap();
        assert!(!crashed.status.success() && !out.join("manifest.json").exists(), "{command}: aborted");
        let resumed = job.command(command, &name, &["--as-of", AS_OF, "--resume"]);
        check(&resumed, &format!("{command} --resume"));
        assert!(resumed.stderr().contains("courses_kept=1"), "{}", resumed.stderr());
    }
}

/// At the boundary: a course id whose escaped value is exactly the longest that fits is graded
/// by `run` and `backfill` (every file and journal entry written through its staging name
/// under 255 bytes); one byte more is quarantined. (Report file names are checked apart: an id
/// this long has report names too long for the file system, so `run` writes grades and diffs.)
#[test]
fn the_longest_course_id_that_fits_is_graded_and_one_byte_more_is_not() {
    let max = regrade::store::partition::MAX_PARTITION_VALUE_BYTES;
    // `course-v1%3AOrg%2B` + L... + `%2B1`: 22 bytes escaped besides the run of L.
    let fits = format!("course-v1:Org+{}+1", "L".repeat(max - 22));
    assert_eq!(regrade::store::partition::escape_partition_value(&fits).len(), max);
    let over = format!("course-v1:Org+{}+1", "L".repeat(max - 21));
    let mut ds = Dataset::default();
    add(&mut ds, &fits, 1);
    add(&mut ds, &over, 2);
    let job = Job::new(&ds);
    for (command, args) in [("run", &["--outputs", "grades,diffs"][..]), ("backfill", &[][..])] {
        let ran = job.command(command, command, &[&["--as-of", AS_OF][..], args].concat());
        assert_eq!(ran.output.status.code(), Some(1), "{command}: {}\n{}", ran.stdout(), ran.stderr());
        let m = ran.manifest();
        assert_eq!(m["failed"][0]["course_id"], over.as_str(), "{command}");
        assert_eq!(
            m["courses"][0]["course_id"],
            fits.as_str(),
            "{command}: the longest id that fits is graded"
        );
        for n in names(&ran.out) {
            assert!(n.len() <= 255, "{command}: a name of {} bytes: {n}", n.len());
        }
    }
}
