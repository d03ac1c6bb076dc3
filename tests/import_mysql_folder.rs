//! `regrade import mysql` against a real MariaDB: what happens to the output folder, and to a
//! connection that drops in the middle. A small edX database is built here with SQL (the round
//! trip of a generated dataset is `tests/import_mysql.rs`).
//!
//! Needs `mariadbd`; skipped with a message when it is not installed, unless
//! `REGRADE_REQUIRE_MARIADB=1` (set by `.ci/run`).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use common::mariadb::MariaDb;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

const DB: &str = "edxapp";
const C1: &str = "course-v1:Org+One+2026";
const C2: &str = "course-v1:Org+Two+2026";

/// A server with edX's tables (from `schemas/mysql/`), a user `regrade` (no password) that the
/// importer connects as, and a few rows: two courses, 6 learners, 40 scored problems each.
fn server() -> Option<MariaDb> {
    let db = MariaDb::start()?;
    db.exec(
        "",
        &format!(
            "CREATE DATABASE {DB}; CREATE USER regrade@'127.0.0.1'; GRANT ALL ON *.* TO regrade@'127.0.0.1';"
        ),
    );
    let mut ddl = String::from("SET FOREIGN_KEY_CHECKS=0;\n");
    for (_, text) in regrade::schema::MYSQL_DDL.iter().chain(&regrade::schema::MYSQL_SOURCE_DDL) {
        ddl.push_str(text);
        ddl.push('\n');
    }
    db.exec(DB, &ddl);
    let mut sql = String::from("SET FOREIGN_KEY_CHECKS=0;\n");
    for u in 1..=6 {
        sql.push_str(&format!(
            "INSERT INTO auth_user (id, password, is_superuser, username, first_name, last_name, email, is_staff, \
             is_active, date_joined) VALUES ({u}, '!', 0, 'learner{u}', '', '', 'l{u}@example.com', 0, 1, '2026-01-01');\n"
        ));
        for (i, c) in [C1, C2].iter().enumerate() {
            sql.push_str(&format!(
                "INSERT INTO student_courseenrollment (course_id, created, is_active, mode, user_id) \
                 VALUES ('{c}', '2026-01-0{} 00:00:00', 1, 'audit', {u});\n",
                i + 1
            ));
        }
    }
    for c in [C1, C2] {
        for p in 0..40 {
            let u = p % 6 + 1;
            sql.push_str(&format!(
                "INSERT INTO courseware_studentmodule (module_type, module_id, student_id, state, grade, created, \
                 modified, max_grade, done, course_id) VALUES ('problem', '{}+type@problem+block@p{p}', {u}, '{{}}', \
                 {}, '2026-02-01 10:00:00.{p:06}', '2026-02-02 00:00:00', 2, 'na', '{c}');\n",
                c.replace("course-v1:", "block-v1:"),
                p % 3
            ));
        }
    }
    db.exec(DB, &sql);
    Some(db)
}

fn regrade(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_regrade"));
    cmd.args(args).env_remove("MYSQL_PWD");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run regrade")
}

fn url(db: &MariaDb) -> String {
    format!("mysql://regrade@127.0.0.1:{}/{DB}", db.port())
}

fn import(db: &MariaDb, out: &Path, extra: &[&str]) -> Output {
    let (url, out) = (url(db), out.display().to_string());
    let mut args = vec!["import", "mysql", "--url", &url, "--output", &out];
    args.extend(extra);
    regrade(&args, &[])
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// A table's rows as sorted debug lines (file names differ between imports; rows must not).
fn rows(dir: &Path, table: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (name, _) in common::files_under(dir)
        .into_iter()
        .filter(|(n, _)| n.starts_with(&format!("{table}/")) && n.ends_with(".parquet"))
    {
        let file = std::fs::File::open(dir.join(&name)).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap();
        for batch in reader {
            let batch: RecordBatch = batch.unwrap();
            for r in 0..batch.num_rows() {
                let cells: Vec<String> = (0..batch.num_columns()).map(|c| cell(batch.column(c), r)).collect();
                out.push(cells.join(" | "));
            }
        }
    }
    out.sort();
    out
}

/// A value as text; timestamps without their zone (arrow's display needs chrono-tz for "UTC").
fn cell(col: &arrow::array::ArrayRef, row: usize) -> String {
    use arrow::datatypes::DataType;
    let col = match col.data_type() {
        DataType::Timestamp(unit, Some(_)) => {
            arrow::compute::cast(col, &DataType::Timestamp(*unit, None)).unwrap()
        }
        _ => col.clone(),
    };
    arrow::util::display::array_value_to_string(&col, row).unwrap()
}

fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).expect("a manifest")).unwrap()
}

#[test]
fn a_dropped_connection_goes_on_after_the_last_key_in_a_new_snapshot() {
    let Some(db) = server() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let clean = tmp.path().join("clean");
    let res = import(&db, &clean, &["--threads", "1", "--page-rows", "7"]);
    assert!(res.status.success(), "{}", text(&res));
    assert_eq!(manifest(&clean)["resnapshots"], serde_json::json!([]));

    // Pause after the first full page of studentmodule, kill the importer's connection, go on.
    let pause = tmp.path().join("go");
    let out = tmp.path().join("out");
    let child = Command::new(env!("CARGO_BIN_EXE_regrade"))
        .args(["import", "mysql", "--url", &url(&db), "--output", &out.display().to_string()])
        .args(["--threads", "1", "--page-rows", "7"])
        .env("REGRADE_TEST_PAUSE_AT", "mysql_page_studentmodule")
        .env("REGRADE_TEST_PAUSE_FILE", &pause)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let reached = PathBuf::from(format!("{}.reached", pause.display()));
    let until = Instant::now() + Duration::from_secs(60);
    while !reached.exists() {
        assert!(Instant::now() < until, "the import never reached its first studentmodule page");
        std::thread::sleep(Duration::from_millis(20));
    }
    let ids = db.query("", "SELECT id FROM information_schema.PROCESSLIST WHERE USER = 'regrade'");
    assert_eq!(ids.len(), 1, "one importer connection: {ids:?}");
    db.exec("", &format!("KILL CONNECTION {}", ids[0][0].as_deref().unwrap()));
    std::fs::write(&pause, "").unwrap();
    let res = child.wait_with_output().unwrap();
    assert!(res.status.success(), "{}", text(&res));
    assert!(text(&res).contains("no longer one point in time"), "{}", text(&res));
    let resnapshots = manifest(&out)["resnapshots"].clone();
    assert_eq!(resnapshots.as_array().map(Vec::len), Some(1), "{resnapshots}");
    assert!(resnapshots[0][0].as_str().unwrap().starts_with("studentmodule of "), "{resnapshots}");
    // Nothing lost, nothing read twice.
    for table in ["studentmodule", "enrollments", "users"] {
        assert_eq!(rows(&out, table), rows(&clean, table), "{table}");
    }
    assert_eq!(rows(&out, "studentmodule").len(), 80);
}

#[test]
fn a_failed_overwrite_leaves_the_earlier_import_as_it_was_and_other_tables_are_never_touched() {
    let Some(db) = server() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    // A table of `import olx`, which this importer leaves alone.
    let olx = out.join("course_blocks/course_id=x/version-v1.parquet");
    std::fs::create_dir_all(olx.parent().unwrap()).unwrap();
    std::fs::write(&olx, b"not ours").unwrap();

    let res = import(&db, &out, &[]);
    assert!(res.status.success(), "{}", text(&res));
    let first = common::files_under(&out);
    assert!(
        first.keys().any(|k| k.starts_with("studentmodule/course_id=course-v1%3AOrg%2BOne%2B2026/mysql-")),
        "{:?}",
        first.keys()
    );

    // Without --overwrite: refused, naming what is there, nothing changed.
    let res = import(&db, &out, &[]);
    assert_eq!(res.status.code(), Some(2), "{}", text(&res));
    assert!(text(&res).contains("--overwrite") && text(&res).contains("studentmodule/"), "{}", text(&res));
    assert_eq!(common::files_under(&out), first);

    // A library block whose state is not JSON, in the second course: the import fails on it,
    // naming it, after the first course's files were written; they are removed again.
    db.exec(
        DB,
        &format!(
            "INSERT INTO courseware_studentmodule (id, module_type, module_id, student_id, state, grade, created, modified, \
             max_grade, done, course_id) VALUES (9999, 'library_content', 'block-v1:Org+Two+2026+type@library_content+block@lib', \
             1, '{{oops', NULL, '2026-02-01', '2026-02-01', NULL, 'na', '{C2}')"
        ),
    );
    let res = import(&db, &out, &["--overwrite", "--threads", "1"]);
    assert_eq!(res.status.code(), Some(2), "{}", text(&res));
    assert!(text(&res).contains("courseware_studentmodule.state (row with key 9999)"), "{}", text(&res));
    assert_eq!(common::files_under(&out), first, "the earlier import is as it was");

    db.exec(DB, "DELETE FROM courseware_studentmodule WHERE id = 9999");
    db.exec(DB, &format!("UPDATE courseware_studentmodule SET grade = 2 WHERE course_id = '{C1}'"));
    let res = import(&db, &out, &["--overwrite"]);
    assert!(res.status.success(), "{}", text(&res));
    let second = common::files_under(&out);
    assert_eq!(
        second.get("course_blocks/course_id=x/version-v1.parquet").map(Vec::as_slice),
        Some(&b"not ours"[..])
    );
    let old_names: Vec<&String> = first.keys().filter(|k| k.contains("/mysql-")).collect();
    assert!(old_names.iter().all(|k| !second.contains_key(*k)), "the earlier import's files are gone");
    let listed: Vec<String> = manifest(&out)["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect();
    let parquet: Vec<String> = second.keys().filter(|k| k.contains("/mysql-")).cloned().collect();
    assert_eq!(listed, parquet, "the manifest lists exactly the files there");
    assert!(rows(&out, "studentmodule")
        .iter()
        .filter(|r| r.contains("Org+One"))
        .all(|r| r.contains("| 2.0 |")));
}

/// Several connections see one moment only when their snapshots start under FLUSH TABLES WITH
/// READ LOCK, which needs the RELOAD privilege: a read-only user without it reads on one
/// connection (one snapshot), says so, and the import is still complete.
#[test]
fn without_the_reload_privilege_the_import_reads_on_one_connection() {
    let Some(db) = server() else { return };
    db.exec("", &format!("CREATE USER reader@'127.0.0.1'; GRANT SELECT ON {DB}.* TO reader@'127.0.0.1';"));
    let tmp = tempfile::tempdir().unwrap();
    let (locked, plain) = (tmp.path().join("locked"), tmp.path().join("plain"));
    let res = import(&db, &locked, &["--threads", "2"]);
    assert!(res.status.success(), "{}", text(&res));
    assert_eq!(manifest(&locked)["snapshot"], "connections started under FLUSH TABLES WITH READ LOCK");

    let url = format!("mysql://reader@127.0.0.1:{}/{DB}", db.port());
    let out = plain.display().to_string();
    let res = regrade(&["import", "mysql", "--url", &url, "--output", &out, "--threads", "2"], &[]);
    assert!(res.status.success(), "{}", text(&res));
    assert!(
        text(&res).contains("RELOAD privilege") && text(&res).contains("reading on one connection"),
        "{}",
        text(&res)
    );
    assert_eq!(manifest(&plain)["snapshot"], "one connection");
    for table in ["studentmodule", "enrollments", "users"] {
        assert_eq!(rows(&plain, table), rows(&locked, table), "{table}");
    }
}

/// A learner's cohort is their `course_groups_cohortmembership` row (one per user and course),
/// not the legacy `course_groups_courseusergroup_users` table, which can disagree; only groups
/// of type `cohort` count; the course's cohort settings come from `coursecohortssettings`.
#[test]
fn cohorts_come_from_cohortmembership_not_the_legacy_table() {
    let Some(db) = server() else { return };
    db.exec(
        DB,
        &format!(
            "SET FOREIGN_KEY_CHECKS=0;
             INSERT INTO course_groups_courseusergroup (id, name, course_id, group_type) VALUES
               (1, 'Legacy', '{C1}', 'cohort'), (2, 'Current', '{C1}', 'cohort'), (3, 'Team-ish', '{C1}', 'partition');
             INSERT INTO course_groups_cohortmembership (course_id, course_user_group_id, user_id) VALUES
               ('{C1}', 2, 1), ('{C1}', 3, 2);
             INSERT INTO course_groups_courseusergroup_users (courseusergroup_id, user_id) VALUES (1, 1), (1, 3);
             INSERT INTO course_groups_courseusergrouppartitiongroup (partition_id, group_id, created_at, updated_at,
               course_user_group_id) VALUES (50, 7, '2026-01-01', '2026-01-01', 2);
             INSERT INTO course_groups_coursecohortssettings (is_cohorted, course_id, cohorted_discussions,
               always_cohort_inline_discussions) VALUES (1, '{C1}', '[]', 0);"
        ),
    );
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let res = import(&db, &out, &[]);
    assert!(res.status.success(), "{}", text(&res));
    let memberships = rows(&out, "cohort_memberships");
    assert_eq!(memberships, [format!("1 | {C1} | Current | 50 | 7")], "{memberships:?}");
    let settings = rows(&out, "course_settings");
    assert!(settings.iter().any(|r| r.starts_with(C1) && r.ends_with("| true")), "{settings:?}");
    assert!(
        settings.iter().any(|r| r.starts_with(C2) && r.ends_with("| ")),
        "no settings row: NULL, {settings:?}"
    );
}
