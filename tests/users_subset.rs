//! `--users FILE`: a run, a backfill and an apply restricted to some learners give exactly the
//! rows the whole run gives for them, and nothing for anyone else.

mod run_support;

use std::collections::{BTreeMap, BTreeSet};

use run_support::*;

fn key(r: &BTreeMap<String, V>) -> (String, i64) {
    let course = match &r["course_id"] {
        V::S(s) => s.clone(),
        other => panic!("course_id {other:?}"),
    };
    let user = match &r["user_id"] {
        V::I(i) => *i,
        other => panic!("user_id {other:?}"),
    };
    (course, user)
}

/// Rows of a table, sorted, as text (comparable).
fn sorted(rows: Vec<BTreeMap<String, V>>) -> Vec<String> {
    let mut v: Vec<String> = rows.into_iter().map(|r| format!("{r:?}")).collect();
    v.sort();
    v
}

#[test]
fn a_run_restricted_to_learners_gives_their_rows_of_the_whole_run() {
    let dir = tempfile::tempdir().unwrap();
    let input = generated(dir.path(), 8, 120, 16);
    let enrollments = read_parquet_rows(&input.join("enrollments"));
    let mut by_course: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for e in &enrollments {
        let (c, u) = key(e);
        by_course.entry(c).or_default().push(u);
    }
    let courses: Vec<&String> = by_course.keys().collect();
    // Two learners of the first course as pairs (edX's CSV, header and all), one learner of
    // the second by id alone (every course it is in).
    let (first, second) = (courses[0].clone(), courses[1].clone());
    let pairs = [by_course[&first][3], by_course[&first][10]];
    let anywhere = by_course[&second][5];
    let file = dir.path().join("users.csv");
    std::fs::write(
        &file,
        format!("user_id,course_id\n{},{first}\n{},\"{first}\"\n{anywhere},\n", pairs[0], pairs[1]),
    )
    .unwrap();
    let selected = |c: &str, u: i64| (c == first && pairs.contains(&u)) || u == anywhere;

    let common = ["--as-of", AS_OF, "--outputs", "all,apply", "--export-time", "2026-05-30T00:00:00Z"];
    let (whole, part) = (dir.path().join("whole"), dir.path().join("part"));
    for (out, extra) in [(&whole, None), (&part, Some(file.to_str().unwrap()))] {
        let mut args = vec![
            "--input",
            input.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
            "--grades-freeze",
            "off",
        ];
        args.extend(common);
        if let Some(f) = extra {
            args.extend(["--users", f]);
        }
        let r = regrade("run", &args);
        assert_eq!(r.code, Some(0), "{}", r.stderr);
    }
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(part.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["options"]["users"]["user_course_pairs"], 2);
    assert_eq!(m["options"]["users"]["users_in_every_course"], 1);
    let mut compared = 0;
    for table in [
        "subsection_grades",
        "course_grades",
        "diffs/subsection_diffs",
        "diffs/course_grade_diffs",
        "apply/grades_persistentsubsectiongrade",
        "apply/grades_persistentcoursegrade",
    ] {
        let got = read_parquet_rows(&part.join(table));
        let users: BTreeSet<(String, i64)> = got.iter().map(key).collect();
        assert!(
            users.iter().all(|(c, u)| selected(c, *u)),
            "{table}: rows of learners not selected: {users:?}"
        );
        let want: Vec<_> = read_parquet_rows(&whole.join(table))
            .into_iter()
            .filter(|r| {
                let (c, u) = key(r);
                selected(&c, u)
            })
            .collect();
        compared += want.len();
        assert_eq!(sorted(got), sorted(want), "{table}");
    }
    assert!(compared > 30, "the selected learners have rows: {compared}");

    // The backfill too.
    let (whole_b, part_b) = (dir.path().join("whole-b"), dir.path().join("part-b"));
    for (out, extra) in [(&whole_b, None), (&part_b, Some(file.to_str().unwrap()))] {
        let mut args =
            vec!["--input", input.to_str().unwrap(), "--output", out.to_str().unwrap(), "--as-of", AS_OF];
        if let Some(f) = extra {
            args.extend(["--users", f]);
        }
        let r = regrade("backfill", &args);
        assert_eq!(r.code, Some(0), "{}", r.stderr);
    }
    let table = "backfill/grades_persistentsubsectiongrade";
    let got = read_parquet_rows(&part_b.join(table));
    assert!(got.iter().all(|r| {
        let (c, u) = key(r);
        selected(&c, u)
    }));
    let want: Vec<_> = read_parquet_rows(&whole_b.join(table))
        .into_iter()
        .filter(|r| {
            let (c, u) = key(r);
            selected(&c, u)
        })
        .collect();
    let strip = |rows: Vec<BTreeMap<String, V>>| {
        sorted(
            rows.into_iter()
                .map(|mut r| {
                    r.remove("id");
                    r
                })
                .collect(),
        )
    };
    assert_eq!(strip(got), strip(want), "{table}");
}

#[test]
fn a_bad_users_file_is_refused_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let input = generated(dir.path(), 8, 120, 16);
    let file = dir.path().join("users.txt");
    std::fs::write(&file, "12\nnot-a-number\n").unwrap();
    let out = dir.path().join("out");
    let r = regrade(
        "run",
        &[
            "--input",
            input.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
            "--users",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("line 2") && r.stderr.contains("not-a-number"), "{}", r.stderr);
    assert!(!out.exists() || !out.join("manifest.json").exists());
}
