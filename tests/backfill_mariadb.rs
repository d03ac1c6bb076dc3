//! `regrade backfill` against a real MariaDB server: edX's three grade tables are created
//! from `schemas/mysql/`, filled with the dataset's persisted rows (as edX would hold them),
//! then the backfill is loaded with `backfill/load_data.sql` (and, in a second database,
//! `backfill/upsert.sql`). Checked: row counts, unique keys, every backfilled value read back
//! exactly (floats by bits, NULLs, timestamps to the microsecond, unicode), loading twice
//! changes nothing, upserts never clear `first_attempted` or `passed_timestamp`, and after
//! exporting the tables back to Parquet a second backfill finds nothing missing.
//!
//! Needs `mariadbd` (Debian: `mariadb-server`); skipped with a message when it is not
//! installed, unless `REGRADE_REQUIRE_MARIADB=1` (set by `.ci/run`).

mod common;
#[allow(unused_macros)]
#[macro_use]
mod run_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, TimeUnit};
use common::mariadb::MariaDb;
use run_support::*;

const DB: &str = "edxapp";
/// The three tables in creation (and load) order.
const TABLES: [&str; 3] =
    ["grades_visibleblocks", "grades_persistentsubsectiongrade", "grades_persistentcoursegrade"];
/// Where each edX table comes from in the input, and its unique key.
const INPUT_OF: [(&str, &str, &[&str]); 3] = [
    ("grades_visibleblocks", "visible_blocks", &["hashed"]),
    (
        "grades_persistentsubsectiongrade",
        "persistent_subsection_grades",
        &["course_id", "user_id", "usage_key"],
    ),
    ("grades_persistentcoursegrade", "persistent_course_grades", &["course_id", "user_id"]),
];
/// A letter grade that needs CSV quoting, SQL escaping and 4-byte UTF-8.
const LETTER: &str = "Très \"bien\", \\o/ 🎓";

fn regrade(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_regrade")).args(args).output().expect("run regrade");
    assert!(
        out.status.success(),
        "regrade {args:?} failed\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn manifest(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap()
}

/// A course with unicode in its keys and letter grades, whose learners have no rows at all.
fn unicode_course(ds: &mut Dataset) {
    let policy = format!(
        r#"{{"GRADER": [{{"type": "Homework", "min_count": 1, "drop_count": 0, "short_label": "HW", "weight": 1.0}}], "GRADE_CUTOFFS": {{{}: 0.6, "Pass": 0.3}}}}"#,
        serde_json::to_string(LETTER).unwrap()
    );
    let mut c = Course::new("course-v1:Ünï+Cödé+2026", &policy);
    c.version = "vé1".to_string();
    c.root(&["ch"]);
    c.chapter("ch", &["s-é", "s2"]);
    c.seq("s-é", "Sé", "Homework", &["v"]);
    c.seq("s2", "S2", "Homework", &["v2"]);
    c.vertical("v", &["p-ü", "q"]);
    c.vertical("v2", &["r"]);
    c.problem("p-ü", "Pü", 3.0).weight = Some(0.1);
    c.problem("q", "Q", 7.0).weight = Some(0.2);
    c.problem("r", "R", 3.0);
    c.write_to(ds);
    for u in 900_001..=900_004 {
        enroll(ds, &c.id, u, "honor", u != 900_004);
    }
    // Weighted scores with inexact sums: 1/3 * 0.1 + 5/7 * 0.2.
    csm(ds, &c, 900_001, "p-ü", Some(1.0), 3.0, COURSE_START + DAY + 123_456);
    csm(ds, &c, 900_001, "q", Some(5.0), 7.0, COURSE_START + DAY);
    csm(ds, &c, 900_002, "p-ü", Some(3.0), 3.0, COURSE_START + 2 * DAY + 1);
    csm(ds, &c, 900_002, "q", Some(7.0), 7.0, COURSE_START + 2 * DAY);
    csm(ds, &c, 900_002, "r", Some(3.0), 3.0, COURSE_START + 2 * DAY);
    csm(ds, &c, 900_003, "r", Some(2.0), 3.0, COURSE_START + 3 * DAY + 999_999);
}

/// `regrade generate` data plus the unicode course.
fn input(dir: &Path) -> PathBuf {
    let input = dir.join("in");
    regrade(&[
        "generate",
        input.to_str().unwrap(),
        "--seed",
        "11",
        "--courses",
        "3",
        "--learners",
        "150",
        "--problems-per-course",
        "24",
    ]);
    let mut ds = Dataset::default();
    unicode_course(&mut ds);
    let extra = dir.join("extra");
    ds.write(&extra);
    for entry in std::fs::read_dir(&extra).unwrap() {
        let table = entry.unwrap().path();
        let name = table.file_name().unwrap().to_owned();
        let target = input.join(&name);
        std::fs::create_dir_all(&target).unwrap();
        for f in std::fs::read_dir(&table).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(&f, target.join(format!("unicode-{}", f.file_name().unwrap().to_str().unwrap())))
                .unwrap();
        }
    }
    input
}

fn create_tables(db: &MariaDb, name: &str) {
    db.exec("", &format!("CREATE DATABASE {name}"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/mysql");
    for t in TABLES {
        let ddl = std::fs::read_to_string(root.join(format!("{t}.sql"))).unwrap();
        db.exec(name, &ddl);
    }
}

/// The input's persisted rows of a table, in the backfill table's MySQL layout (ids kept).
fn persisted_as_mysql(input: &Path, edx_table: &str, input_table: &str) -> RecordBatch {
    let schema = regrade::schema::output(&format!("backfill_{edx_table}")).unwrap().arrow_schema();
    let rows = read_parquet_rows(&input.join(input_table));
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| {
            let cells: Vec<V> = rows.iter().map(|r| r.get(f.name()).cloned().unwrap_or(V::Null)).collect();
            // `course_id` is dictionary-encoded in the schema: built as strings, cast below.
            let plain = match f.data_type() {
                DataType::Dictionary(_, v) => v.as_ref().clone(),
                t => t.clone(),
            };
            array(&plain, &cells)
        })
        .collect();
    regrade::schema::record_batch(&schema, columns).unwrap()
}

fn array(t: &DataType, cells: &[V]) -> ArrayRef {
    match t {
        DataType::Int64 => Arc::new(Int64Array::from_iter(cells.iter().map(|c| match c {
            V::I(i) => Some(*i),
            V::Null => None,
            other => panic!("{other:?} is not an integer"),
        }))),
        DataType::Float64 => Arc::new(Float64Array::from_iter(cells.iter().map(|c| match c {
            V::F(x) => Some(*x),
            V::Null => None,
            other => panic!("{other:?} is not a float"),
        }))),
        DataType::Utf8 => Arc::new(StringArray::from_iter(cells.iter().map(|c| match c {
            V::S(s) => Some(s.clone()),
            V::Null => None,
            other => panic!("{other:?} is not a string"),
        }))),
        DataType::Timestamp(TimeUnit::Microsecond, _) => Arc::new(
            TimestampMicrosecondArray::from_iter(cells.iter().map(|c| match c {
                V::T(t) => Some(*t),
                V::Null => None,
                other => panic!("{other:?} is not a timestamp"),
            }))
            .with_timezone("UTC"),
        ),
        other => panic!("unexpected type {other}"),
    }
}

/// Load the input's persisted rows into `name`, as edX's database holds them before the backfill.
fn load_persisted(db: &MariaDb, name: &str, input: &Path, work: &Path) -> BTreeMap<&'static str, usize> {
    use regrade::write::mysql;
    let mut counts = BTreeMap::new();
    let mut script = String::from(mysql::SCRIPT_HEADER);
    for (table, (edx, input_table, _)) in mysql::LOAD_ORDER.iter().zip(INPUT_OF) {
        assert_eq!(table.name, edx);
        let batch = persisted_as_mysql(input, edx, input_table);
        counts.insert(edx, batch.num_rows());
        let file = format!("persisted-{edx}.csv");
        std::fs::write(work.join(&file), mysql::to_csv(&batch).unwrap()).unwrap();
        let columns: Vec<&str> = batch.schema_ref().fields().iter().map(|f| f.name().as_str()).collect();
        script.push_str(&mysql::load_data_statement(table, &file, &columns));
    }
    let path = work.join(format!("persisted-{name}.sql"));
    std::fs::write(&path, script).unwrap();
    db.source_file(name, &path, work).unwrap_or_else(|e| panic!("loading persisted rows: {e}"));
    counts
}

fn count(db: &MariaDb, name: &str, table: &str) -> usize {
    db.query(name, &format!("SELECT COUNT(*) FROM {table}"))[0][0].as_deref().unwrap().parse().unwrap()
}

fn checksums(db: &MariaDb, name: &str) -> Vec<Vec<Option<String>>> {
    db.query(name, &format!("CHECKSUM TABLE {}", TABLES.join(", ")))
}

/// A MariaDB value as the Parquet cell it should equal, by the Parquet column's type.
fn parse_cell(t: &DataType, text: Option<&str>) -> V {
    let Some(text) = text else { return V::Null };
    match t {
        DataType::Int64 => V::I(text.parse().unwrap()),
        DataType::Float64 => V::F(text.parse().unwrap()),
        // `course_id`: a dictionary of strings in the Parquet file.
        DataType::Utf8 | DataType::Dictionary(..) => V::S(text.to_string()),
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            let t = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
                .unwrap_or_else(|e| panic!("{text}: {e}"));
            V::T(t.and_utc().timestamp_micros())
        }
        other => panic!("unexpected type {other}"),
    }
}

/// Bit-exact equality (floats by bits: `0.1 + 0.2` must not come back as `0.3`).
fn same(a: &V, b: &V) -> bool {
    match (a, b) {
        (V::F(x), V::F(y)) => x.to_bits() == y.to_bits(),
        _ => a == b,
    }
}

/// Every backfilled row, found by its unique key in the database, equals its Parquet row
/// in every column (the id excepted: MySQL assigns it). Returns the rows compared.
fn assert_round_trip(db: &MariaDb, name: &str, out: &Path) -> usize {
    let mut compared = 0;
    for (edx, _, key) in INPUT_OF {
        let schema = regrade::schema::output(&format!("backfill_{edx}")).unwrap().arrow_schema();
        let columns: Vec<&str> =
            schema.fields().iter().map(|f| f.name().as_str()).filter(|n| *n != "id").collect();
        let rows = read_parquet_rows(&out.join("backfill").join(edx));
        let select = columns.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ");
        let stored = db.query(name, &format!("SELECT {select} FROM {edx}"));
        let key_at: Vec<usize> = key.iter().map(|k| columns.iter().position(|c| c == k).unwrap()).collect();
        let types: Vec<&DataType> =
            columns.iter().map(|c| schema.field_with_name(c).unwrap().data_type()).collect();
        let mut by_key: BTreeMap<Vec<String>, Vec<V>> = BTreeMap::new();
        for r in stored {
            let cells: Vec<V> = r.iter().zip(&types).map(|(v, t)| parse_cell(t, v.as_deref())).collect();
            let k = key_at.iter().map(|&i| format!("{:?}", cells[i])).collect();
            assert!(by_key.insert(k, cells).is_none(), "{edx}: a unique key twice");
        }
        for row in &rows {
            let want: Vec<V> = columns.iter().map(|c| row[*c].clone()).collect();
            let k: Vec<String> = key_at.iter().map(|&i| format!("{:?}", want[i])).collect();
            let got =
                by_key.get(&k).unwrap_or_else(|| panic!("{edx}: backfilled row {k:?} is not in MariaDB"));
            for ((c, w), g) in columns.iter().zip(&want).zip(got) {
                assert!(same(w, g), "{edx} {k:?} column {c}: wrote {w:?}, MariaDB holds {g:?}");
            }
            compared += 1;
        }
    }
    compared
}

/// Export the three tables back into a copy of the input, as Parquet with the input schemas.
fn export(db: &MariaDb, name: &str, input: &Path, to: &Path) {
    common::copy_dir(input, to);
    for (edx, input_table, _) in INPUT_OF {
        let schema = regrade::schema::input(input_table).unwrap().arrow_schema();
        let select = schema.fields().iter().map(|f| format!("`{}`", f.name())).collect::<Vec<_>>().join(", ");
        let stored = db.query(name, &format!("SELECT {select} FROM {edx}"));
        let columns: Vec<ArrayRef> = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let t = match f.data_type() {
                    DataType::Int32 => &DataType::Int64,
                    t => t,
                };
                let cells: Vec<V> = stored.iter().map(|r| parse_cell(t, r[i].as_deref())).collect();
                let a = array(t, &cells);
                arrow::compute::cast(&a, f.data_type()).unwrap()
            })
            .collect();
        let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
        let dir = to.join(input_table);
        std::fs::remove_dir_all(&dir).unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        let file = std::fs::File::create(dir.join("export.parquet")).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(file, schema, None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    }
}

#[test]
fn backfill_loads_into_mariadb_exactly_and_idempotently() {
    let Some(db) = MariaDb::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let input = input(dir.path());
    let out = dir.path().join("out");
    regrade(&[
        "backfill",
        "--input",
        input.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--as-of",
        "2026-06-01T12:34:56.789012Z",
    ]);
    let m = manifest(&out);
    let r = &m["totals"]["readiness"];
    let to_insert = |k: &str| r[k].as_u64().unwrap() as usize;
    assert!(to_insert("subsection_rows_to_insert") > 100, "a real backfill: {r}");
    assert!(to_insert("course_grade_rows_to_insert") >= 4, "{r}");
    assert!(to_insert("visible_blocks_rows_to_insert") >= 2, "{r}");
    assert_eq!(to_insert("learner_errors"), 0, "{r}");

    // edX's database before the backfill.
    create_tables(&db, DB);
    let before = load_persisted(&db, DB, &input, dir.path());
    for (edx, _, _) in INPUT_OF {
        assert_eq!(count(&db, DB, edx), before[edx], "{edx} preloaded");
    }

    // LOAD DATA: counts grow by exactly the rows to insert (nothing skipped as a duplicate).
    let backfill = out.join("backfill");
    db.source_file(DB, &backfill.join("load_data.sql"), &backfill)
        .unwrap_or_else(|e| panic!("load_data.sql: {e}"));
    for (edx, key) in [
        ("grades_visibleblocks", "visible_blocks_rows_to_insert"),
        ("grades_persistentsubsectiongrade", "subsection_rows_to_insert"),
        ("grades_persistentcoursegrade", "course_grade_rows_to_insert"),
    ] {
        assert_eq!(count(&db, DB, edx), before[edx] + to_insert(key), "{edx} after LOAD DATA");
    }
    let compared = assert_round_trip(&db, DB, &out);
    assert_eq!(compared, to_insert("rows_to_insert"));
    let unicode = db.query(
        DB,
        &format!(
            "SELECT COUNT(*) FROM grades_persistentcoursegrade WHERE letter_grade = '{}'",
            LETTER.replace('\\', "\\\\").replace('\'', "\\'")
        ),
    );
    assert_ne!(unicode[0][0].as_deref(), Some("0"), "the unicode letter grade is stored as written");

    // Loading twice changes nothing; neither does the upsert script over the loaded rows.
    let sums = checksums(&db, DB);
    db.source_file(DB, &backfill.join("load_data.sql"), &backfill).unwrap();
    assert_eq!(checksums(&db, DB), sums, "a second LOAD DATA changed the tables");
    db.source_file(DB, &backfill.join("upsert.sql"), &backfill).unwrap_or_else(|e| panic!("upsert.sql: {e}"));
    assert_eq!(checksums(&db, DB), sums, "the upsert over identical rows changed the tables");

    // The upsert path alone, in a second database: the same rows (ids aside), twice over.
    create_tables(&db, "upserted");
    load_persisted(&db, "upserted", &input, dir.path());
    db.source_file("upserted", &backfill.join("upsert.sql"), &backfill).unwrap();
    assert_eq!(assert_round_trip(&db, "upserted", &out), compared);
    for (edx, _, _) in INPUT_OF {
        assert_eq!(count(&db, "upserted", edx), count(&db, DB, edx), "{edx}: upsert and LOAD DATA agree");
    }
    let upserted = checksums(&db, "upserted");
    db.source_file("upserted", &backfill.join("upsert.sql"), &backfill).unwrap();
    assert_eq!(checksums(&db, "upserted"), upserted, "a second upsert changed the tables");

    // Set-once columns: an attempt or a pass edX recorded since the export survives the upsert.
    db.exec(
        "upserted",
        "UPDATE grades_persistentsubsectiongrade SET first_attempted = '2026-05-05 05:05:05.050505' \
         WHERE user_id = 900004; \
         UPDATE grades_persistentcoursegrade SET passed_timestamp = '2026-05-06 06:06:06.060606' \
         WHERE user_id = 900004;",
    );
    db.source_file("upserted", &backfill.join("upsert.sql"), &backfill).unwrap();
    let kept = db.query(
        "upserted",
        "SELECT (SELECT COUNT(*) FROM grades_persistentsubsectiongrade WHERE user_id = 900004 \
         AND first_attempted = '2026-05-05 05:05:05.050505'), \
         (SELECT COUNT(*) FROM grades_persistentcoursegrade WHERE user_id = 900004 \
         AND passed_timestamp = '2026-05-06 06:06:06.060606')",
    );
    assert_eq!(kept, vec![vec![Some("2".to_string()), Some("1".to_string())]]);

    // Export the loaded tables back to Parquet: a new backfill finds nothing missing.
    let exported = dir.path().join("exported");
    export(&db, DB, &input, &exported);
    let again = dir.path().join("again");
    regrade(&["backfill", "--input", exported.to_str().unwrap(), "--output", again.to_str().unwrap()]);
    let r2 = &manifest(&again)["totals"]["readiness"];
    assert_eq!(r2["learners_missing_rows"], 0, "{r2}");
    assert_eq!(r2["rows_to_insert"], 0, "{r2}");
    assert_eq!(r2["learners"], r["learners"]);
}
