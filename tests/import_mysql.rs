//! `regrade import mysql` against a real MariaDB server holding edX's tables
//! (`schemas/mysql/`), filled by `common::edx_layout` from a regrade dataset.
//!
//! * The round trip: a generated dataset, loaded into edX's layout and imported back, grades
//!   byte for byte as the original (grade tables, diffs, reports; the manifest's counts).
//! * Targeted cases the round trip cannot show (anonymous ids, reset and soft-deleted scores,
//!   verification windows, odd tags, two teams, a server not in UTC), each read back from the
//!   imported Parquet.
//! * Bad input: exit code 2 and a message naming what is wrong.
//!
//! Needs `mariadbd` (Debian: `mariadb-server`); skipped with a message when it is not
//! installed, unless `REGRADE_REQUIRE_MARIADB=1`.

mod common;
#[allow(unused_macros)]
#[macro_use]
mod run_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::edx_layout::{self, Cell, Row};
use common::learner_order;
use common::mariadb::MariaDb;
use run_support::{AS_OF, AS_OF_US, DAY};

const DB: &str = "edxapp";

/// A finished `regrade` command.
struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Out {
    fn ok(self, what: &str) -> Out {
        assert_eq!(self.code, Some(0), "{what} failed\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }
    /// Exit 2, with every one of `needles` in stderr.
    fn usage_error(&self, needles: &[&str]) {
        assert_eq!(self.code, Some(2), "expected exit 2\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        for n in needles {
            assert!(self.stderr.contains(n), "stderr does not name {n:?}:\n{}", self.stderr);
        }
    }
}

fn regrade(args: &[&str], env: &[(&str, &str)]) -> Out {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_regrade"));
    cmd.args(args).env_remove("MYSQL_PWD").env_remove("REGRADE_MYSQL_URL");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run regrade");
    Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `regrade import mysql --url URL --output OUT --as-of AS_OF EXTRA...`.
fn import(url: &str, out: &Path, extra: &[&str], env: &[(&str, &str)]) -> Out {
    let mut args =
        vec!["import", "mysql", "-q", "--url", url, "--output", out.to_str().unwrap(), "--as-of", AS_OF];
    args.extend_from_slice(extra);
    regrade(&args, env)
}

fn generate(out: &Path, seed: &str, courses: &str, learners: &str) {
    let out_s = out.to_str().unwrap();
    regrade(&["generate", out_s, "-q", "--seed", seed, "--courses", courses, "--learners", learners], &[])
        .ok("regrade generate");
}

/// The manifest's counts: totals and per-course figures, without times and rows read.
fn manifest_counts(run: &Path) -> serde_json::Value {
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("manifest.json")).unwrap()).expect("manifest");
    let mut totals = m["totals"].clone();
    totals.as_object_mut().expect("totals").remove("rows_read");
    let mut courses = m["courses"].clone();
    for c in courses.as_array_mut().expect("courses") {
        let c = c.as_object_mut().unwrap();
        c.remove("seconds");
        c.remove("rows_read");
    }
    serde_json::json!({ "totals": totals, "courses": courses, "failed": m["failed"] })
}

fn rows(root: &Path, table: &str) -> Vec<Row> {
    edx_layout::read_table(root, table)
}

/// A table's rows as sorted strings of the given columns.
fn keyed(rows: &[Row], columns: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = rows
        .iter()
        .map(|r| format!("{:?}", columns.iter().map(|c| r.get(*c).cloned()).collect::<Vec<_>>()))
        .collect();
    out.sort();
    out
}

fn s(r: &Row, c: &str) -> String {
    match r.get(c) {
        Some(Cell::S(s)) => s.clone(),
        other => panic!("{c}: {other:?}"),
    }
}

fn i(r: &Row, c: &str) -> i64 {
    match r.get(c) {
        Some(Cell::I(i)) => *i,
        other => panic!("{c}: {other:?}"),
    }
}

fn t(r: &Row, c: &str) -> i64 {
    match r.get(c) {
        Some(Cell::T(t)) => *t,
        other => panic!("{c}: {other:?}"),
    }
}

fn f(r: &Row, c: &str) -> f64 {
    match r.get(c) {
        Some(Cell::F(f)) => *f,
        other => panic!("{c}: {other:?}"),
    }
}

/// The imported rows of `table` are the expected ones (else: up to 5 of each difference).
fn assert_same_rows(table: &str, imported: &[String], expected: &[String]) {
    let (a, b): (BTreeSet<&String>, BTreeSet<&String>) =
        (imported.iter().collect(), expected.iter().collect());
    let extra: Vec<_> = a.difference(&b).take(5).collect();
    let missing: Vec<_> = b.difference(&a).take(5).collect();
    assert!(
        imported == expected,
        "{table}: {} rows imported, {} expected; imported only: {extra:#?}; expected only: {missing:#?}",
        imported.len(),
        expected.len()
    );
}

/// Grades `input` with `regrade run` into `out`.
fn run(input: &Path, out: &Path) {
    let (i, o) = (input.to_str().unwrap(), out.to_str().unwrap());
    regrade(
        &[
            "run",
            "-q",
            "--input",
            i,
            "--output",
            o,
            "--as-of",
            AS_OF,
            "--compat",
            "current",
            "--outputs",
            "all",
        ],
        &[],
    )
    .ok("regrade run");
}

/// Two run folders hold the same files with the same bytes; their manifests the same counts.
fn assert_same_runs(a: &Path, b: &Path) {
    let (fa, fb) = (common::files_under(a), common::files_under(b));
    assert_eq!(
        fa.keys().collect::<Vec<_>>(),
        fb.keys().collect::<Vec<_>>(),
        "the two runs wrote different files"
    );
    assert!(fa.keys().any(|p| p.starts_with("reports")), "no reports written");
    assert!(fa.keys().any(|p| p.starts_with("diffs")), "no diffs written");
    for (p, x) in fa.iter().filter(|(p, _)| p.as_str() != "manifest.json") {
        assert!(Some(x) == fb.get(p), "{p} differs between the generated and the imported input");
    }
    assert_eq!(manifest_counts(a), manifest_counts(b), "manifest counts differ");
}

/// The contract tables `regrade import mysql` writes (all but course_blocks / course_policies).
const IMPORTED: &[&str] = &[
    "users",
    "enrollments",
    "studentmodule",
    "library_selections",
    "submissions",
    "persistent_subsection_grades",
    "visible_blocks",
    "subsection_grade_overrides",
    "persistent_course_grades",
    "id_verifications",
    "cohort_memberships",
    "partition_groups",
    "team_memberships",
    "certificate_allowlist",
    "generated_certificates",
];

#[test]
fn round_trip_grades_byte_identical() {
    let Some(db) = MariaDb::start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let gen = tmp.path().join("gen");
    // REGRADE_ROUNDTRIP_SEED=N[,COURSES[,LEARNERS]] tries another dataset.
    let spec = std::env::var("REGRADE_ROUNDTRIP_SEED").unwrap_or_else(|_| "3,3,200".to_string());
    let spec: Vec<&str> = spec.split(',').collect();
    let arg = |n: usize, default: &'static str| *spec.get(n).unwrap_or(&default);
    let (seed, courses, learners) = (arg(0, "3"), arg(1, "3"), arg(2, "200"));
    generate(&gen, seed, courses, learners);
    for t in IMPORTED {
        assert!(!rows(&gen, t).is_empty(), "seed {seed} generates no {t}: pick another seed");
    }
    let counts = edx_layout::load(&db, DB, &gen, AS_OF_US);
    assert!(counts["submissions_score"] > counts["submissions_scoresummary"], "no item with several scores");

    // A tag for a partition no course has (imported; `regrade run` must ignore it) and one
    // whose value is no group id (not imported).
    let first = &rows(&gen, "enrollments")[0];
    let (tagged, tag_course) = (i(first, "user_id"), s(first, "course_id"));
    db.exec(
        DB,
        &format!(
            "INSERT INTO user_api_usercoursetag (`key`, course_id, value, user_id) VALUES
               ('xblock.partition_service.partition_987654', '{tag_course}', '3', {tagged}),
               ('xblock.partition_service.partition_987655', '{tag_course}', 'x', {tagged})"
        ),
    );
    scramble_ids(&db);
    let imp = tmp.path().join("imported");
    import(&db.url(DB), &imp, &["--threads", "3", "--page-rows", "97", "--part-rows", "500"], &[])
        .ok("regrade import mysql");
    // Pages of 97 rows and parts of 500: several files per course for the largest table, whose
    // largest courses are read in several key ranges at once (three connections).
    let parts = common::files_under(&imp.join("studentmodule")).len();
    assert!(parts > courses.parse::<usize>().unwrap(), "{parts} studentmodule files");
    assert_sorted_by_learner(&imp, 500);
    // One connection: no course read in key ranges.
    let one = tmp.path().join("imported-one-connection");
    import(&db.url(DB), &one, &["--threads", "1", "--page-rows", "97", "--part-rows", "500"], &[])
        .ok("regrade import mysql --threads 1");
    assert_sorted_by_learner(&one, 500);
    for table in IMPORTED {
        assert_eq!(rows(&one, table).len(), rows(&imp, table).len(), "{table}");
    }
    // Table by table, what the importer reads back is what was loaded.
    let enrolled: BTreeSet<i64> = rows(&gen, "enrollments").iter().map(|r| i(r, "user_id")).collect();
    for table in IMPORTED {
        let (g, m) = (rows(&gen, table), rows(&imp, table));
        let schema = regrade::schema::input(table).unwrap();
        let mut cols: Vec<&str> = schema.columns.iter().map(|c| c.name.as_str()).collect();
        let mut g: Vec<Row> = match *table {
            // The importer exports users of the imported courses only.
            "users" => g.into_iter().filter(|r| enrolled.contains(&i(r, "id"))).collect(),
            "id_verifications" => g.into_iter().filter(|r| enrolled.contains(&i(r, "user_id"))).collect(),
            // One score per item, the latest by (created_at, id); score ids are edX's own.
            "submissions" => {
                cols.retain(|c| *c != "id");
                let mut latest: BTreeMap<(i64, String), Row> = BTreeMap::new();
                for r in g {
                    let k = (i(&r, "user_id"), s(&r, "usage_key"));
                    let newer =
                        |old: &Row| (t(old, "created_at"), i(old, "id")) < (t(&r, "created_at"), i(&r, "id"));
                    if latest.get(&k).is_none_or(newer) {
                        latest.insert(k, r);
                    }
                }
                latest.into_values().collect()
            }
            "partition_groups" => {
                let mut extra = Row::new();
                extra.insert("user_id".into(), Cell::I(tagged));
                extra.insert("course_id".into(), Cell::S(tag_course.clone()));
                extra.insert("partition_id".into(), Cell::I(987_654));
                extra.insert("group_id".into(), Cell::I(3));
                g.into_iter().chain([extra]).collect()
            }
            _ => g,
        };
        if *table == "submissions" {
            for r in &mut g {
                r.remove("id");
            }
        }
        assert_same_rows(table, &keyed(&m, &cols), &keyed(&g, &cols));
    }
    // course_versions: every published version of course_blocks, the newest current;
    // course_settings: the newest version's modes and cohorted flag.
    let mut published: BTreeMap<String, BTreeSet<(i64, String)>> = BTreeMap::new();
    for r in rows(&gen, "course_blocks") {
        published
            .entry(s(&r, "course_id"))
            .or_default()
            .insert((t(&r, "published_at"), s(&r, "course_version")));
    }
    let mut expected = Vec::new();
    let mut settings = Vec::new();
    let policies = rows(&gen, "course_policies");
    for (course, versions) in &published {
        let newest = &versions.last().unwrap().1;
        for (at, v) in versions {
            expected.push(format!("{course} {v} {at} {}", v == newest));
        }
        let p = policies
            .iter()
            .find(|p| s(p, "course_id") == *course && s(p, "course_version") == *newest)
            .unwrap();
        settings.push(format!("{course} {:?} {:?}", p.get("course_modes"), p.get("cohorted")));
    }
    let got: Vec<String> = rows(&imp, "course_versions")
        .iter()
        .map(|r| {
            format!(
                "{} {} {} {:?}",
                s(r, "course_id"),
                s(r, "course_version"),
                t(r, "published_at"),
                r["current"]
            )
        })
        .map(|line| line.replace("B(true)", "true").replace("B(false)", "false"))
        .collect();
    expected.sort();
    let mut got = got;
    got.sort();
    assert_same_rows("course_versions", &got, &expected);
    let mut got: Vec<String> = rows(&imp, "course_settings")
        .iter()
        .map(|r| format!("{} {:?} {:?}", s(r, "course_id"), r.get("course_modes"), r.get("cohorted")))
        .collect();
    got.sort();
    settings.sort();
    assert_same_rows("course_settings", &got, &settings);
    for t in ["course_blocks", "course_policies"] {
        common::copy_dir(&gen.join(t), &imp.join(t));
    }
    let (run_gen, run_imp) = (tmp.path().join("run-gen"), tmp.path().join("run-imp"));
    run(&gen, &run_gen);
    run(&imp, &run_imp);
    assert_same_runs(&run_gen, &run_imp);
}

/// Renumber the rows of the tables read in primary-key order so that key order is not learner
/// order, as on a real server (rows are created as learners work, all of them at once), where
/// the loader made them in learner order: `id` becomes `id * 7919 mod 1000003` (a bijection for
/// ids below that prime), through a disjoint range so no two rows ever share an id; references
/// to a student item follow it.
fn scramble_ids(db: &MariaDb) {
    let tables: &[(&str, &[&str])] = &[
        ("courseware_studentmodule", &[]),
        ("student_courseenrollment", &[]),
        ("user_api_usercoursetag", &[]),
        ("certificates_generatedcertificate", &[]),
        ("course_groups_cohortmembership", &[]),
        (
            "submissions_studentitem",
            &["submissions_submission", "submissions_score", "submissions_scoresummary"],
        ),
    ];
    let mut sql = String::from("SET FOREIGN_KEY_CHECKS = 0;\n");
    for (table, referencing) in tables {
        let max = db.query(DB, &format!("SELECT MAX(id) FROM {table}"));
        let max: i64 = max[0][0].as_deref().unwrap_or("0").parse().unwrap();
        assert!(max < 1_000_003, "{table}: ids up to {max}");
        let columns =
            std::iter::once((*table, "id")).chain(referencing.iter().map(|t| (*t, "student_item_id")));
        for (t, c) in columns {
            sql += &format!("UPDATE {t} SET {c} = {c} + 2000000;\n");
            sql += &format!("UPDATE {t} SET {c} = ({c} - 2000000) * 7919 % 1000003;\n");
        }
    }
    sql += "SET FOREIGN_KEY_CHECKS = 1;\n";
    db.exec(DB, &sql);
}

/// Every learner table of an import is laid out by learner within each course: each file
/// sorted by learner; a course's table in one file, or in files whose row groups each lie within
/// one learner bucket (so row groups of different buckets overlap at most at their edges), or
/// hold at most a sixteenth of a part (a job's last, nearly empty buckets together); and a
/// reader of a quarter of the learners fetches little more than a quarter of the rows.
fn assert_sorted_by_learner(root: &Path, part_rows: i64) {
    let mut enrolled: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
    for r in rows(root, "enrollments") {
        let course = regrade::store::partition::escape_partition_value(&s(&r, "course_id"));
        enrolled.entry(course).or_default().insert(i(&r, "user_id"));
    }
    let mut spread = 0;
    for (table, column) in learner_order::LEARNER_TABLES {
        for (course, files) in learner_order::layout(root, table, column) {
            let what = format!("{table} of {course}");
            for f in &files {
                assert!(f.sorted, "{what}: {} is not sorted by {column}", f.name);
            }
            let rows: i64 = files.iter().flat_map(|f| &f.groups).map(|g| g.rows).sum();
            if files.len() == 1 {
                assert!(rows <= part_rows + 97, "{what}: {rows} rows in one file");
                continue;
            }
            let learners: Vec<i64> = enrolled[&course].iter().copied().collect();
            // The course's learner buckets as the importer cuts them: at most 16, at the
            // quantiles of its enrolled user ids.
            let k = learners.len().clamp(1, 16);
            let cuts: Vec<i64> = (1..k).map(|i| learners[i * learners.len() / k]).collect();
            let bucket = |u: i64| cuts.partition_point(|&c| c <= u);
            for f in &files {
                for g in &f.groups {
                    assert!(
                        bucket(g.min) == bucket(g.max) || g.rows * 16 <= part_rows,
                        "{what}: a row group of {} ({} rows) spans learners {}..={}, buckets {}..={} of {cuts:?}",
                        f.name,
                        g.rows,
                        g.min,
                        g.max,
                        bucket(g.min),
                        bucket(g.max)
                    );
                }
            }
            // What partitions are for: a course's table of several parts' worth of rows (the
            // key ranges of a split course each hold few rows of its small tables).
            if rows >= 2 * part_rows {
                let waste = learner_order::read_amplification(files.iter(), &learners, 4);
                assert!(waste <= 1.5, "{what}: reading it in 4 learner ranges fetches {waste:.2}x its rows");
                eprintln!(
                    "{what}: {} files, {rows} rows, read in 4 learner ranges: {waste:.2}x",
                    files.len()
                );
                spread += 1;
            }
        }
    }
    assert!(spread >= 3, "only {spread} (table, course) pairs span several files: nothing was checked");
}

/// The course of the targeted tests.
const C: &str = "course-v1:Org+T+1";

fn key(kind: &str, id: &str) -> String {
    format!("block-v1:Org+T+1+type@{kind}+block@{id}")
}

/// A server with database `name` holding edX's empty tables, users 1..=5 enrolled in [`C`].
fn minimal(db: &MariaDb, name: &str) {
    edx_layout::create_tables(db, name);
    let users: Vec<String> = (1..=5)
        .map(|u| format!("({u}, '!', 0, 'u{u}', '', '', 'u{u}@example.invalid', 0, 1, '2020-01-01')"))
        .collect();
    let enrollments: Vec<String> =
        (1..=5).map(|u| format!("({u}, '{C}', '2024-03-01 12:34:56.789012', 1, 'audit', {u})")).collect();
    db.exec(
        name,
        &format!(
            "INSERT INTO auth_user (id, password, is_superuser, username, first_name, last_name, email, is_staff, \
             is_active, date_joined) VALUES {};
             INSERT INTO student_courseenrollment (id, course_id, created, is_active, mode, user_id) VALUES {};",
            users.join(", "),
            enrollments.join(", ")
        ),
    );
}

/// Imports `name` at `as_of` (plus `extra`) into a new folder under `tmp`, and returns it.
fn import_ok(db: &MariaDb, name: &str, tmp: &Path, as_of: &str, extra: &[&str]) -> PathBuf {
    let out = tmp.join(format!("import-{name}-{}", files_in(tmp)));
    let mut args = vec!["--as-of", as_of];
    args.extend_from_slice(extra);
    let url = db.url(name);
    let mut all = vec!["import", "mysql", "-q", "--url", &url, "--output", out.to_str().unwrap()];
    all.extend_from_slice(&args);
    regrade(&all, &[]).ok("regrade import mysql");
    out
}

fn files_in(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn submissions_are_the_latest_scores_under_the_newest_anonymous_id() {
    let Some(db) = MariaDb::start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    minimal(&db, DB);
    let (p1, p2, p3, p4, p5) = (
        key("problem", "p1"),
        key("problem", "p2"),
        key("problem", "p3"),
        key("openassessment", "p4"),
        key("problem", "p5"),
    );
    db.exec(
        DB,
        &format!(
            "INSERT INTO student_anonymoususerid (id, anonymous_user_id, course_id, user_id) VALUES
               (1, 'old', '{C}', 1), (2, 'new', '{C}', 1), (3, 'agnostic', '', 1);
             INSERT INTO submissions_studentitem (id, student_id, course_id, item_id, item_type) VALUES
               (1, 'old', '{C}', '{p1}', 'problem'), (2, 'new', '{C}', '{p2}', 'problem'),
               (3, 'agnostic', '{C}', '{p5}', 'problem'), (4, 'new', '{C}', '{p3}', 'problem'),
               (5, 'new', '{C}', '{p4}', 'openassessment');
             INSERT INTO submissions_submission (id, uuid, attempt_number, submitted_at, created_at, raw_answer,
               student_item_id, status) VALUES
               (1, 'a1', 1, '2024-05-01', '2024-05-01', '{{}}', 1, 'A'), (2, 'a2', 1, '2024-05-01', '2024-05-01', '{{}}', 2, 'A'),
               (3, 'a3', 1, '2024-05-01', '2024-05-01', '{{}}', 3, 'A'), (4, 'a4', 1, '2024-05-01', '2024-05-01', '{{}}', 4, 'A'),
               (5, 'a5', 1, '2024-05-01', '2024-05-01', '{{}}', 5, 'D');
             INSERT INTO submissions_score (id, points_earned, points_possible, created_at, reset, student_item_id,
               submission_id) VALUES
               (1, 5, 10, '2024-05-02', 0, 1, 1), (2, 7, 10, '2024-05-02', 0, 2, 2), (3, 9, 10, '2024-05-02', 0, 3, 3),
               (4, 8, 10, '2024-05-02', 0, 4, 4), (5, 0, 0, '2024-05-03 10:00:00.000001', 1, 4, NULL),
               (6, 3, 4, '2024-05-02', 0, 5, 5);
             INSERT INTO submissions_scoresummary (id, highest_id, latest_id, student_item_id) VALUES
               (1, 1, 1, 1), (2, 2, 2, 2), (3, 3, 3, 3), (4, 4, 5, 4), (5, 6, 6, 5);"
        ),
    );
    let out = import_ok(&db, DB, tmp.path(), AS_OF, &[]);
    let got: BTreeMap<String, (i64, f64, f64, i64)> = rows(&out, "submissions")
        .iter()
        .map(|r| {
            (
                s(r, "usage_key"),
                (i(r, "user_id"), f(r, "points_earned"), f(r, "points_possible"), t(r, "created_at")),
            )
        })
        .collect();
    let may_3 = 1_714_730_400_000_001; // 2024-05-03T10:00:00.000001Z
    let may_2 = 1_714_608_000_000_000;
    let expected = BTreeMap::from([
        // the newest anonymous id's score
        (p2, (1, 7.0, 10.0, may_2)),
        // reset: the latest score, 0/0, not the earlier 8/10
        (p3, (1, 0.0, 0.0, may_3)),
        // a soft-deleted submission keeps its score
        (p4, (1, 3.0, 4.0, may_2)),
    ]);
    // p1 (an older anonymous id) and p5 (the course-agnostic id '') are not imported.
    assert_eq!(got, expected);
}

#[test]
fn verification_status_at_as_of() {
    let Some(db) = MariaDb::start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    minimal(&db, DB);
    db.exec(
        DB,
        "INSERT INTO verify_student_softwaresecurephotoverification (id, status, status_changed, name, face_image_url,
           photo_id_image_url, receipt_id, created_at, updated_at, display, reviewing_service, error_msg, error_code,
           photo_id_key, user_id) VALUES
           (1, 'approved', '2018-06-01', '', '', '', 'r1', '2018-06-01', '2018-06-01', 1, '', '', '', '', 1),
           (2, 'approved', '2019-10-01', '', '', '', 'r2', '2019-10-01', '2019-10-01', 1, '', '', '', '', 2),
           (3, 'approved', '2021-01-01', '', '', '', 'r3', '2021-01-01', '2021-01-01', 1, '', '', '', '', 4);
         INSERT INTO verify_student_manualverification (id, status, status_changed, name, created_at, updated_at,
           reason, user_id) VALUES (1, 'denied', '2019-12-20', '', '2019-12-20', '2019-12-20', '', 2);
         INSERT INTO verify_student_ssoverification (id, status, status_changed, name, created_at, updated_at,
           identity_provider_type, identity_provider_slug, user_id) VALUES
           (1, 'approved', '2019-12-01', '', '2019-12-01', '2019-12-01', 'saml', 'default', 3);
         INSERT INTO verify_student_verificationattempt (id, name, status, user_id, created_at, status_changed,
           updated_at) VALUES (1, '', 'pending', 5, '2019-12-30', '2019-12-30', '2019-12-30');",
    );
    let statuses = |out: &Path| -> BTreeMap<i64, String> {
        rows(out, "id_verifications").iter().map(|r| (i(r, "user_id"), s(r, "status"))).collect()
    };
    let at = "2020-01-01T00:00:00Z";
    let out = import_ok(&db, DB, tmp.path(), at, &[]);
    let expected = BTreeMap::from([
        // approved more than 365 days before --as-of
        (1, "expired".to_string()),
        // a newer denial does not cancel a valid approval
        (2, "approved".to_string()),
        // approved 31 days before --as-of (by the wall clock, years ago: expired)
        (3, "approved".to_string()),
        // user 4's only approval is after --as-of: not seen
        (5, "pending".to_string()),
    ]);
    assert_eq!(statuses(&out), expected);
    let out = import_ok(&db, DB, tmp.path(), at, &["--days-good-for", "20"]);
    assert_eq!(statuses(&out)[&3], "expired", "--days-good-for 20: a 31-day-old approval has expired");
    assert_eq!(statuses(&out)[&2], "expired", "--days-good-for 20: a 92-day-old approval has expired");
}

#[test]
fn partition_tags_and_teams() {
    let Some(db) = MariaDb::start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    minimal(&db, DB);
    db.exec(
        DB,
        &format!(
            "INSERT INTO user_api_usercoursetag (id, `key`, course_id, value, user_id) VALUES
               (1, 'xblock.partition_service.partition_50', '{C}', '1', 1),
               (2, 'xblock.partition_service.partition_51', '{C}', 'abc', 1),
               (3, 'xblock.partition_service.partition_52', '{C}', '', 2),
               (4, 'some.other.tag', '{C}', '7', 2),
               (5, 'xblock.partition_service.partition_50', '{C}', '0', 3);
             INSERT INTO teams_courseteam (id, team_id, discussion_topic_id, name, course_id, topic_id, date_created,
               description, country, language, last_activity_at, team_size, organization_protected) VALUES
               (5, 't5', 'd5', 'Zeta', '{C}', 'x', '2024-01-01', '', '', '', '2024-01-01', 2, 0),
               (9, 't9', 'd9', 'Alpha', '{C}', 'x', '2024-01-01', '', '', '', '2024-01-01', 1, 0);
             INSERT INTO teams_courseteammembership (id, date_joined, last_activity_at, team_id, user_id) VALUES
               (1, '2024-01-02', '2024-01-02', 9, 1), (2, '2024-01-02', '2024-01-02', 5, 1),
               (3, '2024-01-02', '2024-01-02', 5, 2);"
        ),
    );
    let out = import_ok(&db, DB, tmp.path(), AS_OF, &[]);
    let tags: Vec<(i64, i64, i64)> = {
        let mut v: Vec<_> = rows(&out, "partition_groups")
            .iter()
            .map(|r| (i(r, "user_id"), i(r, "partition_id"), i(r, "group_id")))
            .collect();
        v.sort();
        v
    };
    // Non-numeric or empty values and other tags are not groups.
    assert_eq!(tags, [(1, 50, 1), (3, 50, 0)]);
    let teams: BTreeMap<i64, String> =
        rows(&out, "team_memberships").iter().map(|r| (i(r, "user_id"), s(r, "team_name"))).collect();
    // Two teams: the one with the highest team id, whatever the names' or memberships' order.
    assert_eq!(teams, BTreeMap::from([(1, "Alpha".to_string()), (2, "Zeta".to_string())]));
}

#[test]
fn datetimes_stay_utc_when_the_server_is_not() {
    let Some(db) = MariaDb::start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    minimal(&db, DB);
    let now = chrono::Utc::now().timestamp_micros();
    let (fresh, stale) = (now - 365 * DAY + 2 * 3_600_000_000, now - 365 * DAY - 2 * 3_600_000_000);
    let (fresh, stale) = (edx_layout::datetime(fresh), edx_layout::datetime(stale));
    db.exec(
        DB,
        &format!(
            "INSERT INTO verify_student_ssoverification (id, status, status_changed, name, created_at, updated_at,
               identity_provider_type, identity_provider_slug, user_id) VALUES
               (1, 'approved', '{fresh}', '', '{fresh}', '{fresh}', 'saml', 'default', 1),
               (2, 'approved', '{stale}', '', '{stale}', '{stale}', 'saml', 'default', 2);
             INSERT INTO split_modulestore_django_splitmodulestorecourseindex (id, objectid, course_id, org,
               draft_version, published_version, library_version, wiki_slug, base_store, edited_on, last_update)
               VALUES (1, '000000000000000000000001', '{C}', 'Org', 'aaaaaaaaaaaaaaaaaaaaaaaa',
               'aaaaaaaaaaaaaaaaaaaaaaaa', '', '', 'mongodb', '2024-02-01 08:00:00', '2024-02-01 08:00:00');
             SET GLOBAL time_zone = '+05:00';"
        ),
    );
    assert_eq!(db.query("", "SELECT @@global.time_zone")[0][0].as_deref(), Some("+05:00"));
    let out = tmp.path().join("imported");
    // No --as-of: the snapshot's moment, which must be UTC too.
    let url = db.url(DB);
    regrade(&["import", "mysql", "-q", "--url", &url, "--output", out.to_str().unwrap()], &[]).ok("import");
    let created: BTreeSet<i64> = rows(&out, "enrollments").iter().map(|r| t(r, "created")).collect();
    // 2024-03-01T12:34:56.789012Z
    assert_eq!(created, BTreeSet::from([1_709_296_496_789_012]));
    let versions = rows(&out, "course_versions");
    assert_eq!(versions.len(), 1);
    assert_eq!(t(&versions[0], "published_at"), 1_706_774_400_000_000, "2024-02-01T08:00:00Z");
    let statuses: BTreeMap<i64, String> =
        rows(&out, "id_verifications").iter().map(|r| (i(r, "user_id"), s(r, "status"))).collect();
    // Off by the server's five hours, one of these would flip.
    assert_eq!(statuses, BTreeMap::from([(1, "approved".to_string()), (2, "expired".to_string())]));
}

#[test]
fn bad_input_exits_2_naming_the_problem() {
    let Some(db) = MariaDb::start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    minimal(&db, DB);
    let port = db.port();
    let out = |n: &str| tmp.path().join(n);

    // A wrong password (given as MYSQL_PWD), then the right one.
    db.exec(
        "",
        &format!("CREATE USER 'ro'@'127.0.0.1' IDENTIFIED BY 'right-pw'; GRANT SELECT ON {DB}.* TO 'ro'@'127.0.0.1';"),
    );
    let ro = format!("mysql://ro@127.0.0.1:{port}/{DB}");
    let bad = import(&ro, &out("pw"), &[], &[("MYSQL_PWD", "wrong-pw")]);
    bad.usage_error(&["'ro'", "MYSQL_PWD"]);
    assert!(bad.stderr.to_lowercase().contains("access denied"), "{}", bad.stderr);
    assert!(!bad.stderr.contains("wrong-pw"), "the password is echoed:\n{}", bad.stderr);
    import(&ro, &out("pw-ok"), &["--threads", "1"], &[("MYSQL_PWD", "right-pw")])
        .ok("import with the right password");

    // An unreachable host: a closed port.
    let closed = common::free_port();
    let url = format!("mysql://root@127.0.0.1:{closed}/{DB}");
    import(&url, &out("closed"), &[], &[]).usage_error(&[&format!("127.0.0.1:{closed}")]);

    // --courses naming a course the server does not have.
    let url = db.url(DB);
    import(&url, &out("courses"), &["--courses", &format!("{C},course-v1:No+Such+Course")], &[])
        .usage_error(&["course-v1:No+Such+Course"]);

    // TLS required of a server without TLS.
    import(&format!("{url}?ssl-mode=REQUIRED"), &out("tls"), &[], &[]).usage_error(&["TLS", "REQUIRED"]);

    // A password inside the URL: refused, not echoed.
    let with_pw = format!("mysql://root:hunter2secret@127.0.0.1:{port}/{DB}");
    let refused = import(&with_pw, &out("url-pw"), &[], &[]);
    refused.usage_error(&["password"]);
    assert!(!refused.stderr.contains("hunter2secret"), "the password is echoed:\n{}", refused.stderr);
    assert!(!out("url-pw").join("users").exists(), "nothing is written");

    // A required table missing.
    minimal(&db, "no_enrollments");
    db.exec("no_enrollments", "DROP TABLE student_courseenrollment");
    import(&db.url("no_enrollments"), &out("table"), &[], &[]).usage_error(&["student_courseenrollment"]);

    // A column missing.
    minimal(&db, "no_max_grade");
    db.exec("no_max_grade", "ALTER TABLE courseware_studentmodule DROP COLUMN max_grade");
    import(&db.url("no_max_grade"), &out("column"), &[], &[])
        .usage_error(&["courseware_studentmodule", "max_grade"]);
}
