//! `regrade run --outputs apply` end to end against a real MariaDB server holding edX's tables
//! (`schemas/mysql/`, filled by `common::edx_layout` from a generated dataset):
//!
//! * the dataset is imported with `regrade import mysql` (its manifest's `snapshot_at` is the
//!   export time), its content changed (a problem of every course weighs three times as much)
//!   and graded under a what-if policy (`jobs/policies/what-if.json`): grades change;
//! * after the export, edX changes a subsection row and a course row the apply touches;
//! * `apply/apply.sql` is sourced into one database, `apply/load_data.sql` into another loaded
//!   identically: both give the same tables, the rows staged are the manifest's, the two rows
//!   edX changed are left alone and counted, every other staged row is merged (new keys
//!   inserted, `modified` the run's as-of), and loading either script twice changes nothing;
//! * the same run in many partitions and small chunks writes the same apply files (but for the
//!   course scripts' statement grouping), and its `apply.sql` loads the same tables;
//! * re-imported and graded again with the same content and policy: nothing new, nothing
//!   changed but the two rows edX changed (whose apply then changes nothing); `--rescore read`
//!   over the applied rows reports what the recompute reports, for every other learner;
//! * a course whose grades are frozen (course end + 30 days) gets no apply files unless
//!   `--include-frozen`, in partitions too (this test needs no server);
//! * a run interrupted and resumed writes the apply files of an uninterrupted one (no server).
//!
//! Needs `mariadbd` (Debian: `mariadb-server`); the server test is skipped with a message when
//! it is not installed, unless `REGRADE_REQUIRE_MARIADB=1`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use arrow::array::{Array, AsArray, Float64Array, RecordBatch};
use arrow::datatypes::{DataType, TimestampMicrosecondType};
use common::edx_layout::{self, Cell, Row};
use common::mariadb::MariaDb;

/// The run's "now". The generated course `course-v1:edX+CS101+2024_T1` ended on 2024-06-26: its
/// grades are frozen at this moment (with `--grades-freeze on`); the other two have no end.
const AS_OF: &str = "2026-06-01T00:00:00Z";
const AS_OF_US: i64 = 1_780_272_000_000_000;
/// `AS_OF` as the apply writes `modified`.
const AS_OF_SQL: &str = "2026-06-01 00:00:00.000000";
/// Database A takes `apply.sql`, B `load_data.sql`.
const A: &str = "edx_a";
const B: &str = "edx_b";
/// C takes the `apply.sql` of the same run in many partitions and small chunks.
const C: &str = "edx_c";
/// Partitions of a few learners each (`src/hooks.rs`).
const SMALL_PARTITIONS: (&str, &str) = ("REGRADE_TEST_PARTITION_BYTES", "20000");
/// edX's grade tables, in load order, with their unique keys.
const TABLES: [(&str, &str); 3] = [
    ("grades_visibleblocks", "hashed"),
    ("grades_persistentsubsectiongrade", "course_id, user_id, usage_key"),
    ("grades_persistentcoursegrade", "course_id, user_id"),
];
/// The values edX wrote after the export (exact in binary, found nowhere else).
const EDX_EARNED: &str = "0.015625";
const EDX_PERCENT: &str = "0.0078125";

fn regrade(args: &[&str]) -> String {
    regrade_with(args, &[])
}

/// `regrade ARGS` with the environment variables `env` set; its stdout (it must succeed).
fn regrade_with(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_regrade"));
    cmd.args(args).env_remove("MYSQL_PWD").env_remove("REGRADE_MYSQL_URL");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run regrade");
    assert!(
        out.status.success(),
        "regrade {args:?} failed ({})\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

fn generate(out: &Path) {
    regrade(&["generate", s(out), "-q", "--seed", "3", "--courses", "3", "--learners", "150"]);
}

/// `regrade import mysql` of database `name` into `out`, with the course content of `content`
/// (the importer reads neither course_blocks nor course_policies).
fn import(db: &MariaDb, name: &str, out: &Path, content: &Path) {
    regrade(&["import", "mysql", "-q", "--url", &db.url(name), "--output", s(out), "--as-of", AS_OF]);
    for t in ["course_blocks", "course_policies"] {
        common::copy_dir(&content.join(t), &out.join(t));
    }
}

fn what_if_policy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("jobs/policies/what-if.json")
}

/// `regrade run` of `input` into `out` at [`AS_OF`] under the what-if policy, plus `extra`.
fn run(input: &Path, out: &Path, extra: &[&str]) -> serde_json::Value {
    run_with(input, out, extra, &[])
}

/// [`run`] with the environment variables `env` set.
fn run_with(input: &Path, out: &Path, extra: &[&str], env: &[(&str, &str)]) -> serde_json::Value {
    let policy = what_if_policy();
    let mut args =
        vec!["run", "-q", "--input", s(input), "--output", s(out), "--as-of", AS_OF, "--policy", s(&policy)];
    args.extend_from_slice(extra);
    regrade_with(&args, env);
    manifest(out)
}

fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).expect("manifest")
}

fn n(v: &serde_json::Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("{v} is not a count"))
}

/// The parquet files under `dir`, sorted.
fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = common::files_under(dir)
        .into_keys()
        .filter(|p| p.ends_with(".parquet"))
        .map(|p| dir.join(p))
        .collect();
    out.sort();
    out
}

/// A change of content: in every course, the first problem (by usage key) of its newest version
/// with a weight above zero weighs three times as much, in every version. Rewrites
/// `root/course_blocks` in place; returns the problems changed.
fn triple_a_weight(root: &Path) -> Vec<String> {
    let mut changed = Vec::new();
    for file in parquet_files(&root.join("course_blocks")) {
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            std::fs::File::open(&file).unwrap(),
        )
        .unwrap();
        let schema = reader.schema().clone();
        let batches: Vec<RecordBatch> = reader.build().unwrap().map(|b| b.unwrap()).collect();
        let batch = arrow::compute::concat_batches(&schema, &batches).unwrap();
        let col = |name: &str| batch.column_by_name(name).unwrap_or_else(|| panic!("no {name}")).clone();
        let strings = |name: &str| {
            let a = arrow::compute::cast(&col(name), &DataType::Utf8).unwrap();
            a.as_string::<i32>().iter().map(|v| v.unwrap_or("").to_string()).collect::<Vec<_>>()
        };
        let (keys, types, versions) =
            (strings("usage_key"), strings("block_type"), strings("course_version"));
        let published = col("published_at");
        let published = published.as_primitive::<TimestampMicrosecondType>();
        let weight = col("weight");
        let weight = weight.as_primitive::<arrow::datatypes::Float64Type>();
        let newest = (0..batch.num_rows()).max_by_key(|&i| published.value(i)).expect("blocks");
        let target = (0..batch.num_rows())
            .filter(|&i| versions[i] == versions[newest] && types[i] == "problem")
            .filter(|&i| weight.is_valid(i) && weight.value(i) > 0.0)
            .map(|i| keys[i].clone())
            .min()
            .unwrap_or_else(|| panic!("{}: no weighted problem", file.display()));
        let tripled: Float64Array = (0..batch.num_rows())
            .map(|i| weight.is_valid(i).then(|| weight.value(i) * if keys[i] == target { 3.0 } else { 1.0 }))
            .collect();
        let at = schema.index_of("weight").unwrap();
        let mut columns = batch.columns().to_vec();
        columns[at] = Arc::new(tripled);
        let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&file).unwrap(), schema, None)
            .unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        changed.push(target);
    }
    changed
}

/// Every row of a grade table but its `id`, sorted by the table's unique key.
fn table_rows(db: &MariaDb, name: &str, table: &str, key: &str) -> Vec<Vec<Option<String>>> {
    let columns: Vec<String> = db
        .query(
            name,
            &format!(
                "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '{name}' \
                 AND TABLE_NAME = '{table}' AND COLUMN_NAME <> 'id' ORDER BY ORDINAL_POSITION"
            ),
        )
        .into_iter()
        .map(|r| r[0].clone().unwrap())
        .collect();
    db.query(name, &format!("SELECT {} FROM {table} ORDER BY {key}", columns.join(", ")))
}

fn count(db: &MariaDb, name: &str, table: &str) -> u64 {
    db.query(name, &format!("SELECT COUNT(*) FROM {table}"))[0][0].as_deref().unwrap().parse().unwrap()
}

fn checksums(db: &MariaDb, name: &str) -> Vec<Vec<Option<String>>> {
    let tables: Vec<&str> = TABLES.iter().map(|(t, _)| *t).collect();
    db.query(name, &format!("CHECKSUM TABLE {}", tables.join(", ")))
}

/// The script's report lines (`edx_table`, `rows_in_apply`, `skipped_modified_after_export`),
/// added up per table over its courses.
fn report(out: &str) -> BTreeMap<String, (u64, u64)> {
    let mut sums: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for line in out.lines().filter(|l| l.starts_with("grades_")) {
        let cells: Vec<&str> = line.split('\t').collect();
        assert_eq!(cells.len(), 3, "a report line: {line:?}");
        let e = sums.entry(cells[0].to_string()).or_default();
        e.0 += cells[1].parse::<u64>().unwrap();
        e.1 += cells[2].parse::<u64>().unwrap();
    }
    sums
}

fn string(r: &Row, c: &str) -> String {
    match r.get(c) {
        Some(Cell::S(v)) => v.clone(),
        other => panic!("{c}: {other:?}"),
    }
}

fn int(r: &Row, c: &str) -> i64 {
    match r.get(c) {
        Some(Cell::I(v)) => *v,
        other => panic!("{c}: {other:?}"),
    }
}

/// The first diff row (by course, user and usage key) of kind `change` of a learner other than
/// `not_of`: (course, user, usage key).
fn first_of(rows: &[Row], change: &str, not_of: Option<i64>) -> (String, i64, String) {
    rows.iter()
        .filter(|r| string(r, "change") == change && Some(int(r, "user_id")) != not_of)
        .map(|r| {
            let key = match r.get("usage_key") {
                Some(Cell::S(k)) => k.clone(),
                _ => String::new(),
            };
            (string(r, "course_id"), int(r, "user_id"), key)
        })
        .min()
        .unwrap_or_else(|| panic!("no diff row of kind {change}"))
}

/// `YYYY-MM-DD HH:MM:SS.ffffff` of an RFC 3339 time plus `hours`.
fn sql_time_after(rfc3339: &str, hours: i64) -> String {
    let t = chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap_or_else(|e| panic!("{rfc3339}: {e}"));
    (t.with_timezone(&chrono::Utc) + chrono::Duration::hours(hours))
        .format("%Y-%m-%d %H:%M:%S%.6f")
        .to_string()
}

#[test]
fn apply_loads_into_mariadb_guarded_idempotent_and_leaves_nothing_to_change() {
    let Some(db) = MariaDb::start() else { return };
    let started = std::time::Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let gen = dir.join("gen");
    generate(&gen);
    for name in [A, B, C] {
        edx_layout::load(&db, name, &gen, AS_OF_US);
    }

    // The export, the content change, the what-if regrade with its apply files.
    let imported = dir.join("imported");
    import(&db, A, &imported, &gen);
    let snapshot = manifest(&imported)["snapshot_at"].as_str().expect("snapshot_at").to_string();
    let reweighted = triple_a_weight(&imported);
    assert_eq!(reweighted.len(), 3, "{reweighted:?}");
    let run1 = dir.join("run1");
    let m1 = run(&imported, &run1, &["--outputs", "all,apply", "--grades-freeze", "off"]);
    let apply = &m1["apply"];
    assert_eq!(
        apply["export_time"].as_str(),
        Some(snapshot.as_str()),
        "the export time is the import's snapshot"
    );
    assert_eq!(apply["frozen_courses_left_out"], serde_json::json!([]));
    let (sd, cd) = (&m1["totals"]["subsection_diffs"], &m1["totals"]["course_grade_diffs"]);
    let totals = &apply["totals"];
    let (sub_rows, course_rows, vb_rows) =
        (n(&totals["subsection_rows"]), n(&totals["course_rows"]), n(&totals["visible_blocks_rows"]));
    assert_eq!(sub_rows, n(&sd["new"]) + n(&sd["changed"]), "{m1}");
    let course_changes = ["new", "changed", "letter_changed", "now_passing", "now_failing"];
    assert_eq!(course_rows, course_changes.iter().map(|k| n(&cd[k])).sum::<u64>(), "{m1}");
    assert!(n(&sd["changed"]) > 50 && n(&sd["new"]) > 50, "a regrade that changes grades: {sd}");
    assert!(n(&cd["changed"]) > 10 && n(&cd["letter_changed"]) > 0, "{cd}");
    assert!(vb_rows > 0, "the new weights give new visible block lists: {totals}");

    // After the export, edX regrades a subsection of one learner and the course of another,
    // both rows the apply changes (and whose change is a plain `changed`).
    let sub_diffs = edx_layout::read_table(&run1.join("diffs"), "subsection_diffs");
    let course_diffs = edx_layout::read_table(&run1.join("diffs"), "course_grade_diffs");
    let (sub_course, sub_user, sub_key) = first_of(&sub_diffs, "changed", None);
    let (course_course, course_user, _) = first_of(&course_diffs, "changed", Some(sub_user));
    assert_ne!(sub_user, course_user);
    let later = sql_time_after(&snapshot, 1);
    let edx_updates = [
        format!(
            "UPDATE grades_persistentsubsectiongrade SET earned_all = {EDX_EARNED}, \
             earned_graded = {EDX_EARNED}, modified = '{later}' WHERE course_id = '{sub_course}' \
             AND user_id = {sub_user} AND usage_key = '{sub_key}'; SELECT ROW_COUNT();"
        ),
        format!(
            "UPDATE grades_persistentcoursegrade SET percent_grade = {EDX_PERCENT}, modified = '{later}' \
             WHERE course_id = '{course_course}' AND user_id = {course_user}; SELECT ROW_COUNT();"
        ),
    ];
    let before: BTreeMap<&str, u64> = TABLES.iter().map(|(t, _)| (*t, count(&db, A, t))).collect();
    for name in [A, B, C] {
        for update in &edx_updates {
            assert_eq!(db.query(name, update), vec![vec![Some("1".to_string())]], "{update}");
        }
    }
    let edx_rows = |name: &str| {
        db.query(
            name,
            &format!(
                "SELECT (SELECT CONCAT(earned_all, ' ', earned_graded, ' ', modified) \
                 FROM grades_persistentsubsectiongrade WHERE course_id = '{sub_course}' AND user_id = {sub_user} \
                 AND usage_key = '{sub_key}'), (SELECT CONCAT(percent_grade, ' ', modified) \
                 FROM grades_persistentcoursegrade WHERE course_id = '{course_course}' AND user_id = {course_user})"
            ),
        )
    };
    let edx_values = vec![vec![
        Some(format!("{EDX_EARNED} {EDX_EARNED} {later}")),
        Some(format!("{EDX_PERCENT} {later}")),
    ]];
    assert_eq!(edx_rows(A), edx_values);

    // Load the apply: A with the SQL scripts, B with LOAD DATA.
    let apply_dir = run1.join("apply");
    let out_a = db
        .source_file(A, &apply_dir.join("apply.sql"), &apply_dir)
        .unwrap_or_else(|e| panic!("apply.sql: {e}"));
    let out_b = db
        .source_file(B, &apply_dir.join("load_data.sql"), &apply_dir)
        .unwrap_or_else(|e| panic!("load_data.sql: {e}"));
    let expected_report = BTreeMap::from([
        ("grades_persistentcoursegrade".to_string(), (course_rows, 1)),
        ("grades_persistentsubsectiongrade".to_string(), (sub_rows, 1)),
        ("grades_visibleblocks".to_string(), (vb_rows, 0)),
    ]);
    assert_eq!(report(&out_a), expected_report, "apply.sql's report:\n{out_a}");
    assert_eq!(report(&out_b), expected_report, "load_data.sql's report:\n{out_b}");
    for (t, key) in TABLES {
        assert_eq!(
            table_rows(&db, A, t, key),
            table_rows(&db, B, t, key),
            "{t}: apply.sql and load_data.sql differ"
        );
    }
    // New keys inserted, nothing else.
    let added = |t: &str| count(&db, A, t) - before[t];
    assert_eq!(added("grades_visibleblocks"), vb_rows);
    assert_eq!(added("grades_persistentsubsectiongrade"), n(&sd["new"]));
    assert_eq!(added("grades_persistentcoursegrade"), n(&cd["new"]));
    // The rows edX changed after the export are as edX left them.
    assert_eq!(edx_rows(A), edx_values);
    assert_eq!(edx_rows(B), edx_values);
    // Every other row of the apply took its values, with the run's as-of as `modified`.
    let applied = db.query(
        A,
        &format!(
            "SELECT (SELECT COUNT(*) FROM grades_persistentsubsectiongrade WHERE modified = '{AS_OF_SQL}'), \
             (SELECT COUNT(*) FROM grades_persistentcoursegrade WHERE modified = '{AS_OF_SQL}')"
        ),
    );
    assert_eq!(applied, vec![vec![Some((sub_rows - 1).to_string()), Some((course_rows - 1).to_string())]]);

    // Loading twice changes nothing; the rows edX changed are counted again.
    for (name, script, out) in [(A, "apply.sql", &out_a), (B, "load_data.sql", &out_b)] {
        let sums = checksums(&db, name);
        let again = db.source_file(name, &apply_dir.join(script), &apply_dir).unwrap();
        assert_eq!(checksums(&db, name), sums, "{script} a second time changed the tables");
        assert_eq!(report(&again), report(out), "{script} a second time");
    }

    // The same run in partitions of a few learners and chunks of 7: the same apply files, but
    // for the course scripts, whose INSERT statements follow the chunks; they load the same.
    let parted = dir.join("run1-partitioned");
    let mp = run_with(
        &imported,
        &parted,
        &["--outputs", "all,apply", "--grades-freeze", "off", "--learners-per-chunk", "7"],
        &[SMALL_PARTITIONS],
    );
    let partitions: Vec<u64> =
        mp["courses"].as_array().unwrap().iter().map(|c| n(&c["partitions"])).collect();
    assert!(partitions.iter().all(|&p| p > 3), "{partitions:?}");
    assert_eq!(mp["apply"], m1["apply"]);
    let (whole, parts) = (common::files_under(&apply_dir), common::files_under(&parted.join("apply")));
    assert_eq!(whole.keys().collect::<Vec<_>>(), parts.keys().collect::<Vec<_>>());
    for (f, bytes) in whole.iter() {
        assert!(*bytes == parts[f], "{f}: differs when the courses are graded in partitions");
    }
    let out_c = db
        .source_file(C, &parted.join("apply/apply.sql"), &parted.join("apply"))
        .unwrap_or_else(|e| panic!("partitioned apply.sql: {e}"));
    assert_eq!(report(&out_c), expected_report, "the partitioned apply.sql's report:\n{out_c}");
    for (t, key) in TABLES {
        assert_eq!(table_rows(&db, A, t, key), table_rows(&db, C, t, key), "{t}: partitioned apply differs");
    }

    // Export A again and regrade it as before: nothing left to apply but the two rows edX changed.
    let reimported = dir.join("reimported");
    import(&db, A, &reimported, &imported);
    let run2 = dir.join("run2");
    let m2 = run(&reimported, &run2, &["--outputs", "all,apply", "--grades-freeze", "off"]);
    let (sd2, cd2) = (&m2["totals"]["subsection_diffs"], &m2["totals"]["course_grade_diffs"]);
    assert_eq!((n(&sd2["new"]), n(&sd2["changed"])), (0, 1), "subsection diffs after the apply: {sd2}");
    assert_eq!(n(&sd2["orphaned"]), n(&sd["orphaned"]), "{sd2}");
    assert_eq!(
        course_changes.iter().map(|k| (*k, n(&cd2[k]))).collect::<Vec<_>>(),
        [("new", 0), ("changed", 1), ("letter_changed", 0), ("now_passing", 0), ("now_failing", 0)],
        "course grade diffs after the apply: {cd2}"
    );
    assert_eq!(m2["totals"]["subsection_rows"], m1["totals"]["subsection_rows"]);
    assert_eq!(m2["totals"]["course_rows"], m1["totals"]["course_rows"]);
    let left: Vec<(String, i64, String)> = edx_layout::read_table(&run2.join("diffs"), "subsection_diffs")
        .iter()
        .filter(|r| string(r, "change") != "orphaned")
        .map(|r| (string(r, "course_id"), int(r, "user_id"), string(r, "usage_key")))
        .collect();
    assert_eq!(left, [(sub_course.clone(), sub_user, sub_key.clone())]);
    let left: Vec<(String, i64)> = edx_layout::read_table(&run2.join("diffs"), "course_grade_diffs")
        .iter()
        .filter(|r| string(r, "change") != "orphaned")
        .map(|r| (string(r, "course_id"), int(r, "user_id")))
        .collect();
    assert_eq!(left, [(course_course.clone(), course_user)]);
    let totals2 = &m2["apply"]["totals"];
    assert_eq!(
        (n(&totals2["subsection_rows"]), n(&totals2["course_rows"]), n(&totals2["visible_blocks_rows"])),
        (1, 1, 0),
        "{totals2}"
    );
    // Its apply changes nothing: both rows are still edX's.
    let sums = checksums(&db, A);
    let out2 = db
        .source_file(A, &run2.join("apply/apply.sql"), &run2.join("apply"))
        .unwrap_or_else(|e| panic!("the second apply.sql: {e}"));
    assert_eq!(
        report(&out2),
        BTreeMap::from([
            ("grades_persistentcoursegrade".to_string(), (1, 1)),
            ("grades_persistentsubsectiongrade".to_string(), (1, 1)),
            ("grades_visibleblocks".to_string(), (0, 0)),
        ]),
        "{out2}"
    );
    assert_eq!(checksums(&db, A), sums, "the second apply changed the tables");
    assert_eq!(edx_rows(A), edx_values);

    // edX's report path over the applied rows: the recompute's reports, but for the two
    // learners whose rows edX changed.
    let read = dir.join("read");
    run(&reimported, &read, &["--rescore", "read"]);
    assert_eq!(
        differing_report_learners(&run2, &read),
        BTreeSet::from([sub_user, course_user]),
        "the learners whose reports differ between the recompute and --rescore read"
    );
    eprintln!("apply round trip: {:.1}s", started.elapsed().as_secs_f64());
}

/// The learners whose lines differ between the reports of two runs (the same files, each with
/// the same learners; the first column is the user id).
fn differing_report_learners(a: &Path, b: &Path) -> BTreeSet<i64> {
    let (ra, rb) = (common::files_under(&a.join("reports")), common::files_under(&b.join("reports")));
    assert_eq!(ra.keys().collect::<Vec<_>>(), rb.keys().collect::<Vec<_>>(), "report files");
    let by_learner = |bytes: &[u8]| -> BTreeMap<String, String> {
        let text = String::from_utf8(bytes.to_vec()).expect("UTF-8 reports");
        let mut lines = text.lines();
        let header = lines.next().expect("a header").to_string();
        let mut rows: BTreeMap<String, String> =
            lines.map(|l| (l.split(',').next().unwrap().to_string(), l.to_string())).collect();
        rows.insert(String::new(), header);
        rows
    };
    let (mut differing, mut compared) = (BTreeSet::new(), 0);
    for (name, bytes) in &ra {
        let (x, y) = (by_learner(bytes), by_learner(&rb[name]));
        assert_eq!(x.keys().collect::<Vec<_>>(), y.keys().collect::<Vec<_>>(), "{name}: learners");
        assert_eq!(x[""], y[""], "{name}: header");
        for (user, line) in x.iter().filter(|(u, _)| !u.is_empty()) {
            if *line != y[user] {
                differing
                    .insert(user.parse::<i64>().unwrap_or_else(|e| panic!("{name}: user id {user}: {e}")));
            }
            compared += 1;
        }
    }
    assert!(compared > 200, "{compared} report lines compared");
    differing
}

/// Courses whose grades are frozen at [`AS_OF`] (course end + 30 days, edX's
/// `GRADEBOOK_FREEZE_DAYS`), by the input's course_policies.
fn frozen_at_as_of(input: &Path) -> (BTreeSet<String>, BTreeSet<String>) {
    const FREEZE_DAYS: i64 = 30 * 86_400_000_000;
    let mut ends: BTreeMap<String, BTreeSet<Option<i64>>> = BTreeMap::new();
    for r in edx_layout::read_table(input, "course_policies") {
        let end = match r.get("course_end") {
            Some(Cell::T(t)) => Some(*t),
            _ => None,
        };
        ends.entry(string(&r, "course_id")).or_default().insert(end);
    }
    let mut frozen = BTreeSet::new();
    for (course, e) in &ends {
        assert_eq!(e.len(), 1, "{course}: one end date for every version");
        if e.first().unwrap().is_some_and(|end| AS_OF_US > end + FREEZE_DAYS) {
            frozen.insert(course.clone());
        }
    }
    (ends.into_keys().collect(), frozen)
}

/// Where a course's apply script is.
fn course_script(run: &Path, course: &str) -> PathBuf {
    let segment = regrade::store::partition::escape_partition_value(course);
    run.join("apply/sql").join(format!("course_id={segment}")).join("apply.sql")
}

#[test]
fn frozen_courses_are_left_out_unless_include_frozen() {
    let tmp = tempfile::tempdir().unwrap();
    let gen = tmp.path().join("gen");
    generate(&gen);
    let (courses, frozen) = frozen_at_as_of(&gen);
    assert!(!frozen.is_empty() && frozen.len() < courses.len(), "{frozen:?} of {courses:?}");
    let export = ["--outputs", "all,apply", "--export-time", "2026-12-01T00:00:00Z"];
    let sorted = |v: &serde_json::Value| -> BTreeSet<String> {
        v.as_array().expect("a list").iter().map(|c| c.as_str().unwrap().to_string()).collect()
    };

    // --grades-freeze on (the default): the frozen course has no apply files.
    let left_out = tmp.path().join("left-out");
    let m = run(&gen, &left_out, &export);
    assert_eq!(sorted(&m["apply"]["frozen_courses_left_out"]), frozen, "{}", m["apply"]);
    assert_eq!(sorted(&m["apply"]["frozen_courses_included"]), BTreeSet::new());
    let apply_sql = std::fs::read_to_string(left_out.join("apply/apply.sql")).unwrap();
    let load_data = std::fs::read_to_string(left_out.join("apply/load_data.sql")).unwrap();
    for c in m["courses"].as_array().unwrap() {
        let course = c["course_id"].as_str().unwrap();
        let segment = regrade::store::partition::escape_partition_value(course);
        let is_frozen = frozen.contains(course);
        // `grades_frozen` is written when true.
        assert_eq!(c["grades_frozen"].as_bool().unwrap_or(false), is_frozen, "{course}");
        assert_eq!(c["apply"].is_null(), is_frozen, "{course}: {}", c["apply"]);
        assert_eq!(course_script(&left_out, course).exists(), !is_frozen, "{course}");
        assert_eq!(apply_sql.contains(&segment), !is_frozen, "{course} in apply.sql:\n{apply_sql}");
        assert_eq!(load_data.contains(&segment), !is_frozen, "{course} in load_data.sql");
        if is_frozen {
            let files = common::files_under(&left_out.join("apply"));
            assert!(!files.keys().any(|f| f.contains(&segment)), "{course}: {:?}", files.keys());
            // Graded and diffed all the same.
            assert!(n(&c["subsection_rows"]) > 0, "{c}");
        }
    }

    // The same in partitions of a few learners: the frozen course's first partition decides.
    let parted = tmp.path().join("left-out-partitioned");
    let mp = run_with(&gen, &parted, &export, &[SMALL_PARTITIONS]);
    assert!(mp["courses"].as_array().unwrap().iter().all(|c| n(&c["partitions"]) > 1), "{mp}");
    assert_eq!(mp["apply"], m["apply"]);
    let all = |dir: &Path| -> BTreeMap<String, Vec<u8>> { common::files_under(&dir.join("apply")) };
    assert!(all(&parted) == all(&left_out), "partitions change the apply files");
    for course in &frozen {
        assert!(!course_script(&parted, course).exists(), "{course}");
    }

    // --include-frozen: written, and listed as included.
    let included = tmp.path().join("included");
    let mut args = export.to_vec();
    args.push("--include-frozen");
    let m = run(&gen, &included, &args);
    assert_eq!(sorted(&m["apply"]["frozen_courses_left_out"]), BTreeSet::new());
    assert_eq!(sorted(&m["apply"]["frozen_courses_included"]), frozen);
    for course in &courses {
        assert!(course_script(&included, course).exists(), "{course}");
    }
    let apply_sql = std::fs::read_to_string(included.join("apply/apply.sql")).unwrap();
    assert_eq!(apply_sql.matches("SOURCE ").count(), courses.len(), "{apply_sql}");

    // --grades-freeze off: nothing is frozen.
    let off = tmp.path().join("off");
    let mut args = export.to_vec();
    args.extend(["--grades-freeze", "off"]);
    let m = run(&gen, &off, &args);
    assert_eq!(sorted(&m["apply"]["frozen_courses_left_out"]), BTreeSet::new());
    assert_eq!(sorted(&m["apply"]["frozen_courses_included"]), BTreeSet::new());
    for course in &courses {
        assert!(course_script(&off, course).exists(), "{course}");
    }
    // The frozen course's files are the same, frozen and included or not frozen at all.
    let strip = |files: BTreeMap<String, Vec<u8>>| -> BTreeMap<String, Vec<u8>> {
        files
            .into_iter()
            .filter(|(p, _)| {
                frozen.iter().any(|c| p.contains(&regrade::store::partition::escape_partition_value(c)))
            })
            .collect()
    };
    let (a, b) =
        (strip(common::files_under(&included.join("apply"))), strip(common::files_under(&off.join("apply"))));
    assert!(!a.is_empty());
    assert_eq!(a, b);
}

/// A run interrupted after some courses and resumed writes the apply files of an uninterrupted
/// one, byte for byte, `apply.sql` and `load_data.sql` included (their courses in path order,
/// whichever courses the interrupted run completed).
#[test]
fn a_resumed_run_writes_the_same_apply_files() {
    let tmp = tempfile::tempdir().unwrap();
    let gen = tmp.path().join("gen");
    // Six courses, graded all at once: the small ones (BerkeleyX, UQx) finish first, though
    // UQx comes fifth in course id order.
    regrade(&["generate", s(&gen), "-q", "--seed", "3", "--courses", "6", "--learners", "400"]);
    let args = [
        "--outputs",
        "all,apply",
        "--export-time",
        "2026-12-01T00:00:00Z",
        "--grades-freeze",
        "off",
        "--courses-in-flight",
        "6",
        "--threads",
        "6",
    ];
    let fresh = tmp.path().join("fresh");
    run(&gen, &fresh, &args);
    let resumed = tmp.path().join("resumed");
    let policy = what_if_policy();
    let mut crash = vec!["run", "-q", "--input", s(&gen), "--output", s(&resumed), "--as-of", AS_OF];
    crash.extend(["--policy", s(&policy)]);
    crash.extend(args);
    let crashed = Command::new(env!("CARGO_BIN_EXE_regrade"))
        .args(&crash)
        .env("REGRADE_TEST_ABORT_AFTER_JOURNAL", "2")
        .output()
        .unwrap();
    assert!(!crashed.status.success(), "the run was meant to abort after two courses");
    let mut again = args.to_vec();
    again.push("--resume");
    run(&gen, &resumed, &again);
    let (a, b) = (common::files_under(&fresh.join("apply")), common::files_under(&resumed.join("apply")));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (f, bytes) in &a {
        assert!(*bytes == b[f], "{f} differs after --resume:\n{}", String::from_utf8_lossy(&b[f]));
    }
}
