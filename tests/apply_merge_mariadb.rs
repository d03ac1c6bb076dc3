//! The apply merge (`regrade::write::mysql::merge_sql`) against a real MariaDB server: staged
//! rows go into edX's grade tables only where edX has not changed the row since the export,
//! set-once columns are only filled, `created` is kept, skipped rows are counted, and running
//! the merge twice changes nothing.
//!
//! Needs `mariadbd` (Debian: `mariadb-server`); skipped with a message when it is not
//! installed, unless `REGRADE_REQUIRE_MARIADB=1`.

mod common;

use std::path::Path;

use common::mariadb::MariaDb;
use regrade::write::mysql::{
    export_time_sql, merge_sql, staging, staging_sql, COURSE_GRADES, SCRIPT_HEADER, SUBSECTION_GRADES,
    VISIBLE_BLOCKS,
};

const DB: &str = "edxapp";
/// The apply's `modified` (the run's as-of), after the export.
const AS_OF: &str = "2026-01-20 00:00:00.000000";
const EXPORT_MICROS: i64 = 1_768_003_200_000_000; // 2026-01-10T00:00:00Z

fn create_tables(db: &MariaDb) {
    db.exec("", &format!("CREATE DATABASE {DB}"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/mysql");
    for t in [VISIBLE_BLOCKS, SUBSECTION_GRADES, COURSE_GRADES] {
        let ddl = std::fs::read_to_string(root.join(format!("{}.sql", t.name))).unwrap();
        db.exec(DB, &ddl);
    }
}

const SUB_COLUMNS: &[&str] = &[
    "id",
    "created",
    "modified",
    "user_id",
    "course_id",
    "usage_key",
    "subtree_edited_timestamp",
    "course_version",
    "earned_all",
    "possible_all",
    "earned_graded",
    "possible_graded",
    "first_attempted",
    "visible_blocks_hash",
];
const COURSE_COLUMNS: &[&str] = &[
    "id",
    "created",
    "modified",
    "user_id",
    "course_id",
    "course_edited_timestamp",
    "course_version",
    "grading_policy_hash",
    "percent_grade",
    "letter_grade",
    "passed_timestamp",
];

/// A subsection row's values: (user, earned_graded, first_attempted, created, modified).
fn sub_row(user: i64, earned: f64, first: Option<&str>, created: &str, modified: &str) -> String {
    let first = first.map_or("NULL".to_string(), |f| format!("'{f}'"));
    format!(
        "('{created}', '{modified}', {user}, 'course-v1:o+c+r', 'block-v1:o+c+r+type@sequential+block@s1', \
         NULL, 'v2', {earned}, 4.0, {earned}, 4.0, {first}, 'h2')"
    )
}

fn course_row(user: i64, percent: f64, letter: &str, passed: Option<&str>, modified: &str) -> String {
    let passed = passed.map_or("NULL".to_string(), |p| format!("'{p}'"));
    format!(
        "('2025-12-01 00:00:00', '{modified}', {user}, 'course-v1:o+c+r', NULL, 'v2', 'ph', {percent}, \
         '{letter}', {passed})"
    )
}

fn insert(table: &str, columns: &[&str], rows: &[String]) -> String {
    let cols: Vec<&str> = columns.iter().copied().filter(|c| *c != "id").collect();
    format!("INSERT INTO {table} ({}) VALUES\n{};\n", cols.join(", "), rows.join(",\n"))
}

/// The apply script for the staged rows: header, export time, staging, merges.
fn script() -> String {
    let mut s = String::from(SCRIPT_HEADER);
    s.push_str(&export_time_sql(EXPORT_MICROS));
    s.push_str(&staging_sql());
    s.push_str(&format!(
        "INSERT INTO {} (blocks_json, hashed, course_id) VALUES ('[\"new\"]', 'h2', 'course-v1:o+c+r'), \
         ('[\"old\"]', 'h1', 'course-v1:o+c+r');\n",
        staging(&VISIBLE_BLOCKS)
    ));
    // User 1: the row is older than the export (updated); user 2: changed by edX after the
    // export (left alone, counted); user 3: no row (inserted).
    s.push_str(&insert(
        &staging(&SUBSECTION_GRADES),
        SUB_COLUMNS,
        &[
            sub_row(1, 3.0, Some("2026-01-15 00:00:00"), AS_OF, AS_OF),
            sub_row(2, 3.0, Some("2026-01-15 00:00:00"), AS_OF, AS_OF),
            sub_row(3, 1.0, Some("2026-01-15 00:00:00"), AS_OF, AS_OF),
        ],
    ));
    s.push_str(&insert(
        &staging(&COURSE_GRADES),
        COURSE_COLUMNS,
        &[course_row(1, 0.75, "Pass", Some(AS_OF), AS_OF), course_row(2, 0.1, "", None, AS_OF)],
    ));
    s.push_str(&merge_sql(&VISIBLE_BLOCKS, &["id", "blocks_json", "hashed", "course_id"]));
    s.push_str(&merge_sql(&SUBSECTION_GRADES, SUB_COLUMNS));
    s.push_str(&merge_sql(&COURSE_GRADES, COURSE_COLUMNS));
    s
}

fn subsection_rows(db: &MariaDb) -> Vec<Vec<Option<String>>> {
    db.query(
        DB,
        "SELECT user_id, earned_graded, first_attempted, created, modified, visible_blocks_hash \
         FROM grades_persistentsubsectiongrade ORDER BY user_id",
    )
}

fn course_rows(db: &MariaDb) -> Vec<Vec<Option<String>>> {
    db.query(
        DB,
        "SELECT user_id, percent_grade, letter_grade, passed_timestamp, modified \
         FROM grades_persistentcoursegrade ORDER BY user_id",
    )
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

#[test]
fn the_merge_updates_only_rows_unchanged_since_the_export_and_is_idempotent() {
    let Some(db) = MariaDb::start() else { return };
    create_tables(&db);
    db.exec(
        DB,
        "INSERT INTO grades_visibleblocks (blocks_json, hashed, course_id) VALUES ('[\"old\"]', 'h1', 'course-v1:o+c+r')",
    );
    // Before the export: user 1 (first_attempted set earlier: kept). After: user 2.
    db.exec(
        DB,
        &insert(
            "grades_persistentsubsectiongrade",
            SUB_COLUMNS,
            &[
                sub_row(1, 2.0, Some("2025-12-05 00:00:00"), "2025-12-01 00:00:00", "2026-01-05 00:00:00")
                    .replace("'h2'", "'h1'"),
                sub_row(2, 4.0, None, "2025-12-01 00:00:00", "2026-01-12 00:00:00").replace("'h2'", "'h1'"),
            ],
        ),
    );
    db.exec(
        DB,
        &insert(
            "grades_persistentcoursegrade",
            COURSE_COLUMNS,
            &[
                course_row(1, 0.4, "", None, "2026-01-05 00:00:00"),
                course_row(2, 0.9, "Pass", Some("2026-01-11 00:00:00"), "2026-01-11 00:00:00"),
            ],
        ),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("apply.sql");
    std::fs::write(&path, script()).unwrap();
    let first = db.source_file(DB, &path, dir.path()).expect("the apply script runs");

    let subs = subsection_rows(&db);
    assert_eq!(
        subs,
        vec![
            // Updated: new values, first_attempted kept, created kept, modified the apply's.
            vec![
                s("1"),
                s("3"),
                s("2025-12-05 00:00:00.000000"),
                s("2025-12-01 00:00:00.000000"),
                s(AS_OF),
                s("h2")
            ],
            // Changed by edX after the export: untouched.
            vec![
                s("2"),
                s("4"),
                None,
                s("2025-12-01 00:00:00.000000"),
                s("2026-01-12 00:00:00.000000"),
                s("h1")
            ],
            // New: inserted as staged.
            vec![s("3"), s("1"), s("2026-01-15 00:00:00.000000"), s(AS_OF), s(AS_OF), s("h2")],
        ],
        "{first}"
    );
    let courses = course_rows(&db);
    assert_eq!(
        courses,
        vec![
            // passed_timestamp was NULL: filled.
            vec![s("1"), s("0.75"), s("Pass"), s(AS_OF), s(AS_OF)],
            vec![
                s("2"),
                s("0.9"),
                s("Pass"),
                s("2026-01-11 00:00:00.000000"),
                s("2026-01-11 00:00:00.000000")
            ],
        ]
    );
    let blocks = db.query(DB, "SELECT hashed, blocks_json FROM grades_visibleblocks ORDER BY hashed");
    assert_eq!(blocks, vec![vec![s("h1"), s("[\"old\"]")], vec![s("h2"), s("[\"new\"]")]]);
    // The script shows what it skipped: one subsection row and one course row.
    let report = |out: &str, table: &str| -> Vec<String> {
        let line =
            out.lines().find(|l| l.starts_with(table)).unwrap_or_else(|| panic!("no {table} line in {out}"));
        line.split('\t').map(str::to_string).collect()
    };
    assert_eq!(
        report(&first, "grades_persistentsubsectiongrade"),
        ["grades_persistentsubsectiongrade", "3", "1"]
    );
    assert_eq!(report(&first, "grades_persistentcoursegrade"), ["grades_persistentcoursegrade", "2", "1"]);

    // Twice: nothing changes, and only the row edX changed is counted again.
    let second = db.source_file(DB, &path, dir.path()).expect("the apply script runs again");
    assert_eq!(subsection_rows(&db), subs);
    assert_eq!(course_rows(&db), courses);
    assert_eq!(
        report(&second, "grades_persistentsubsectiongrade"),
        ["grades_persistentsubsectiongrade", "3", "1"]
    );
}
