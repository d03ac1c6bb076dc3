//! Issue 13 through the binary: what `regrade run` writes for rows only-if-higher and retain
//! keep (the row as it is: its own totals as read, visible blocks and `course_version`), for
//! an unattempted subsection without a row (a zero grade, content possibles, not written),
//! and that the course grade and the grade report read the same grades.

#[allow(unused_macros)]
#[macro_use]
mod run_support;

use std::collections::BTreeMap;

use run_support::*;

const POLICY: &str = r#"{"GRADER": [{"type": "Homework", "min_count": 1, "drop_count": 0, "short_label": "HW", "weight": 1.0}], "GRADE_CUTOFFS": {"Pass": 0.5}}"#;
const T1: i64 = COURSE_START + 2 * DAY;

/// s1 (p1, 2 points), s2 (p2, 2 points), graded version "v2".
fn course() -> Course {
    let mut c = Course::new("course-v1:Org+Keep+2026", POLICY);
    c.version = "v2".into();
    c.root(&["ch"]);
    c.chapter("ch", &["s1", "s2"]);
    c.seq("s1", "One", "Homework", &["p1"]);
    c.seq("s2", "Two", "Homework", &["p2"]);
    c.problem("p1", "P1", 2.0);
    c.problem("p2", "P2", 2.0);
    c
}

/// Learner 1: p1 now scores 1/2, but s1's row, stored under the older version "v1" when p1
/// was worth 4 points, holds 3/4 (a rescore lowered it since). p2 viewed, never answered,
/// its studentmodule row carrying a max_grade of 5: no s2 row.
fn dataset(c: &Course) -> (Dataset, String) {
    let mut ds = Dataset::default();
    c.write_to(&mut ds);
    users(&mut ds, &[1]);
    enroll(&mut ds, &c.id, 1, "honor", true);
    csm(&mut ds, c, 1, "p1", Some(1.0), 2.0, T1);
    csm(&mut ds, c, 1, "p2", None, 5.0, T1);
    let (json, hash) =
        visible_blocks(c, &[Record { block: "p1", weight: None, raw_possible: Some(4.0), graded: true }]);
    row!(ds, "visible_blocks", { hashed: &hash, blocks_json: json, course_id: &c.id });
    row!(ds, "persistent_subsection_grades", {
        id: 7i64, user_id: 1i64, course_id: &c.id, usage_key: c.key("s1"),
        course_version: "v1", subtree_edited_timestamp: ts(COURSE_START - DAY),
        earned_all: 3.0, possible_all: 4.0, earned_graded: 3.0, possible_graded: 4.0,
        first_attempted: ts(T1), visible_blocks_hash: &hash,
        created: ts(COURSE_START + DAY), modified: ts(COURSE_START + DAY),
    });
    (ds, hash)
}

fn by_key(rows: &[BTreeMap<String, V>], c: &Course, key: &str) -> BTreeMap<String, V> {
    let usage_key = V::S(c.key(key));
    rows.iter().find(|r| r["usage_key"] == usage_key).cloned().unwrap_or_else(|| panic!("no row for {key}"))
}

#[test]
fn kept_rows_are_written_as_the_rows_they_are_and_missing_ones_read_as_zero() {
    let c = course();
    let (ds, old_hash) = dataset(&c);
    let job = Job::new(&ds);
    for (rescore, source) in [("only-if-higher", "kept_higher"), ("retain", "retained")] {
        let ran = job.run(rescore, &["--rescore", rescore, "--as-of", AS_OF]);
        let subs = read_parquet_rows(&ran.out.join("subsection_grades"));
        assert_eq!(subs.len(), 2, "{rescore}");
        let s1 = by_key(&subs, &c, "s1");
        assert_eq!(s1["source"], V::S(source.into()), "{rescore}");
        assert_eq!(s1["course_version"], V::S("v1".into()), "{rescore}: the row's own version");
        assert_eq!(s1["visible_blocks_hash"], V::S(old_hash.clone()), "{rescore}");
        assert_eq!(
            [&s1["earned_graded"], &s1["possible_graded"], &s1["first_attempted"]],
            [&V::F(3.0), &V::F(4.0), &V::T(T1)],
            "{rescore}"
        );
        assert_eq!(s1["attempted_graded"], V::B(true), "{rescore}");
        // s2: not attempted, no row: a zero grade over the content's 2 points, not written.
        let s2 = by_key(&subs, &c, "s2");
        assert_eq!(s2["source"], V::S("zero".into()), "{rescore}");
        assert_eq!(s2["course_version"], V::S("v2".into()), "{rescore}");
        assert_eq!([&s2["earned_graded"], &s2["possible_graded"]], [&V::F(0.0), &V::F(2.0)], "{rescore}");
        assert_eq!(s2["attempted_graded"], V::B(false), "{rescore}");
        // Nothing written: no subsection diffs.
        let m = ran.manifest();
        assert_eq!(m["totals"]["subsection_diffs"]["new"], 0, "{rescore}");
        assert_eq!(m["totals"]["subsection_diffs"]["changed"], 0, "{rescore}");
        // The course grade reads s1 as stored (75%) and s2 as zero: (0.75 + 0) / 2.
        let course_rows = read_parquet_rows(&ran.out.join("course_grades"));
        assert_eq!(course_rows[0]["percent_grade"], V::F(0.38), "{rescore}");
        // The grade report after the run reads the same: 0.38, s1 0.75, s2 Not Attempted, the
        // homework average 0.375.
        let report = ran.grade_report(&c.id, "Org_Keep_2026");
        let line = report.lines().nth(1).unwrap_or_default();
        assert!(line.contains(",0.38,0.75,Not Attempted,0.375,"), "{rescore}: {line}");
    }
    // A forced recompute writes both from today's scores, under the graded version; s2 from
    // its studentmodule row (0 of 5), attempted or not.
    let ran = job.run("recompute", &["--rescore", "recompute", "--as-of", AS_OF]);
    let subs = read_parquet_rows(&ran.out.join("subsection_grades"));
    let (s1, s2) = (by_key(&subs, &c, "s1"), by_key(&subs, &c, "s2"));
    assert_eq!((&s1["source"], &s1["course_version"]), (&V::S("recomputed".into()), &V::S("v2".into())));
    assert_eq!([&s1["earned_graded"], &s1["possible_graded"]], [&V::F(1.0), &V::F(2.0)]);
    assert_eq!([&s2["earned_graded"], &s2["possible_graded"]], [&V::F(0.0), &V::F(5.0)]);
}
