//! A regrade input root put back into edX's own MySQL layout: the inverse of every mapping of
//! `regrade import mysql` (`src/import/mysql/`), so that importing the loaded database gives
//! the input back (what the importer cannot see aside: users without an enrollment, every
//! submission score but the latest per item, ids the contract does not keep).
//!
//! [`load`] creates edX's tables from `schemas/mysql/*.sql` in a new database, writes one TSV
//! file per table and loads them with `LOAD DATA LOCAL INFILE`, then checks every table's row
//! count. The input is read with the `parquet` crate (any integer width, float32/64, dictionary
//! strings, Hive `course_id=` folders), independently of regrade's own readers.
//!
//! | contract table | edX tables |
//! |---|---|
//! | `users` | `auth_user` |
//! | `enrollments` | `student_courseenrollment` |
//! | `studentmodule` | `courseware_studentmodule` (`state` `'{}'`) |
//! | `library_selections` | `courseware_studentmodule` rows of the block's type, `state` `{"selected": [[type, id], ...]}` |
//! | `submissions` | `student_anonymoususerid` (one per user and course), `submissions_studentitem`, `_submission`, `_score`, `_scoresummary` (`latest_id`: the latest by (created_at, id)) |
//! | `persistent_*`, `visible_blocks`, `subsection_grade_overrides` | `grades_*` (grade ids kept) |
//! | `id_verifications` | `verify_student_*` rows giving that status at `as_of` |
//! | `cohort_memberships` | `course_groups_courseusergroup`, `_coursecohort`, `_cohortmembership`, `_courseusergrouppartitiongroup` |
//! | `course_policies.cohorted`, `.course_modes` | `course_groups_coursecohortssettings`, `course_modes_coursemode` |
//! | `partition_groups` | `user_api_usercoursetag` |
//! | `team_memberships` | `teams_courseteam`, `teams_courseteammembership` |
//! | `certificate_allowlist`, `generated_certificates` | `certificates_*` |
//! | `course_blocks` versions | `split_modulestore_django_splitmodulestorecourseindex` (newest) and its history (every one) |

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float32Type, Float64Type, TimeUnit, TimestampMicrosecondType};

use super::mariadb::MariaDb;

mod tables;

/// One microsecond day.
const DAY: i64 = 86_400_000_000;

/// One cell of an input row.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Null,
    I(i64),
    F(f64),
    B(bool),
    S(String),
    /// Microseconds since the epoch, UTC.
    T(i64),
    L(Vec<String>),
}

/// One input row by column name.
pub type Row = BTreeMap<String, Cell>;

trait Get {
    fn int(&self, c: &str) -> i64;
    fn opt_int(&self, c: &str) -> Option<i64>;
    fn float(&self, c: &str) -> f64;
    fn string(&self, c: &str) -> String;
    fn opt_string(&self, c: &str) -> Option<String>;
    fn time(&self, c: &str) -> Option<i64>;
    fn boolean(&self, c: &str) -> Option<bool>;
    fn list(&self, c: &str) -> Option<Vec<String>>;
    fn cell(&self, c: &str) -> &Cell;
}

impl Get for Row {
    fn cell(&self, c: &str) -> &Cell {
        self.get(c).unwrap_or(&Cell::Null)
    }
    fn opt_int(&self, c: &str) -> Option<i64> {
        match self.cell(c) {
            Cell::I(i) => Some(*i),
            Cell::Null => None,
            other => panic!("{c}: {other:?} is not an integer"),
        }
    }
    fn int(&self, c: &str) -> i64 {
        self.opt_int(c).unwrap_or_else(|| panic!("{c}: NULL"))
    }
    fn float(&self, c: &str) -> f64 {
        match self.cell(c) {
            Cell::F(f) => *f,
            Cell::I(i) => *i as f64,
            other => panic!("{c}: {other:?} is not a float"),
        }
    }
    fn opt_string(&self, c: &str) -> Option<String> {
        match self.cell(c) {
            Cell::S(s) => Some(s.clone()),
            Cell::Null => None,
            other => panic!("{c}: {other:?} is not a string"),
        }
    }
    fn string(&self, c: &str) -> String {
        self.opt_string(c).unwrap_or_else(|| panic!("{c}: NULL"))
    }
    fn time(&self, c: &str) -> Option<i64> {
        match self.cell(c) {
            Cell::T(t) => Some(*t),
            Cell::Null => None,
            other => panic!("{c}: {other:?} is not a timestamp"),
        }
    }
    fn boolean(&self, c: &str) -> Option<bool> {
        match self.cell(c) {
            Cell::B(b) => Some(*b),
            Cell::Null => None,
            other => panic!("{c}: {other:?} is not a bool"),
        }
    }
    fn list(&self, c: &str) -> Option<Vec<String>> {
        match self.cell(c) {
            Cell::L(l) => Some(l.clone()),
            Cell::Null => None,
            other => panic!("{c}: {other:?} is not a list"),
        }
    }
}

/// Every row of `<root>/<table>/` (all `*.parquet` below it, Hive `course_id=` folders filling
/// a `course_id` the files lack); an absent table has no rows.
pub fn read_table(root: &Path, table: &str) -> Vec<Row> {
    let mut files: Vec<(PathBuf, Option<String>)> = Vec::new();
    let mut stack = vec![(root.join(table), None::<String>)];
    while let Some((dir, course)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries {
            let p = e.expect("dir entry").path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if p.is_dir() {
                let c = name
                    .strip_prefix("course_id=")
                    .map(|v| {
                        regrade::store::partition::unescape_partition_value(v)
                            .expect("a UTF-8 partition value")
                    })
                    .or(course.clone());
                stack.push((p, c));
            } else if name.ends_with(".parquet") {
                files.push((p, course.clone()));
            }
        }
    }
    files.sort();
    let mut rows = Vec::new();
    for (f, course) in files {
        let file = std::fs::File::open(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .expect("parquet reader")
            .build()
            .expect("build reader");
        for batch in reader {
            let batch = batch.expect("batch");
            let schema = batch.schema();
            for i in 0..batch.num_rows() {
                let mut row = Row::new();
                for (c, field) in schema.fields().iter().enumerate() {
                    row.insert(field.name().clone(), cell(batch.column(c).as_ref(), i));
                }
                if let Some(course) = &course {
                    row.entry("course_id".to_string()).or_insert_with(|| Cell::S(course.clone()));
                }
                rows.push(row);
            }
        }
    }
    rows
}

fn cell(a: &dyn Array, i: usize) -> Cell {
    if a.is_null(i) {
        return Cell::Null;
    }
    match a.data_type() {
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 | DataType::UInt8 => {
            let v = arrow::compute::cast(&a.slice(i, 1), &DataType::Int64).expect("an integer");
            Cell::I(v.as_primitive::<arrow::datatypes::Int64Type>().value(0))
        }
        DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => {
            let v = arrow::compute::cast(&a.slice(i, 1), &DataType::Int64).expect("an integer");
            Cell::I(v.as_primitive::<arrow::datatypes::Int64Type>().value(0))
        }
        DataType::Float64 => Cell::F(a.as_primitive::<Float64Type>().value(i)),
        DataType::Float32 => Cell::F(a.as_primitive::<Float32Type>().value(i) as f64),
        DataType::Boolean => Cell::B(a.as_boolean().value(i)),
        DataType::Utf8 => Cell::S(a.as_string::<i32>().value(i).to_string()),
        DataType::LargeUtf8 => Cell::S(a.as_string::<i64>().value(i).to_string()),
        DataType::Utf8View => Cell::S(a.as_string_view().value(i).to_string()),
        DataType::Dictionary(..) => {
            let s = arrow::compute::cast(&a.slice(i, 1), &DataType::Utf8).expect("dictionary of strings");
            Cell::S(s.as_string::<i32>().value(0).to_string())
        }
        DataType::Timestamp(_, tz) => {
            // Same zone, microseconds: the instant is unchanged.
            let s =
                arrow::compute::cast(&a.slice(i, 1), &DataType::Timestamp(TimeUnit::Microsecond, tz.clone()))
                    .expect("a timestamp");
            Cell::T(s.as_primitive::<TimestampMicrosecondType>().value(0))
        }
        DataType::List(_) | DataType::LargeList(_) => {
            let l = arrow::compute::cast(
                &a.slice(i, 1),
                &DataType::List(std::sync::Arc::new(arrow::datatypes::Field::new(
                    "item",
                    DataType::Utf8,
                    true,
                ))),
            )
            .expect("a list of strings");
            let values = l.as_list::<i32>().value(0);
            let s = values.as_string::<i32>();
            Cell::L((0..s.len()).map(|j| s.value(j).to_string()).collect())
        }
        other => panic!("unexpected input type {other}"),
    }
}

/// A value written into a TSV field of `LOAD DATA` (default escaping: `\` escapes, `\N` NULL).
#[derive(Clone, Debug)]
pub enum Sql {
    Null,
    I(i64),
    F(f64),
    S(String),
    /// A naive UTC `datetime(6)`.
    T(i64),
}

impl From<&str> for Sql {
    fn from(s: &str) -> Sql {
        Sql::S(s.to_string())
    }
}
impl From<String> for Sql {
    fn from(s: String) -> Sql {
        Sql::S(s)
    }
}
impl From<i64> for Sql {
    fn from(i: i64) -> Sql {
        Sql::I(i)
    }
}
impl From<bool> for Sql {
    fn from(b: bool) -> Sql {
        Sql::I(b as i64)
    }
}
impl From<f64> for Sql {
    fn from(f: f64) -> Sql {
        Sql::F(f)
    }
}
impl<T: Into<Sql>> From<Option<T>> for Sql {
    fn from(o: Option<T>) -> Sql {
        o.map_or(Sql::Null, Into::into)
    }
}

impl From<&Cell> for Sql {
    fn from(c: &Cell) -> Sql {
        match c {
            Cell::Null => Sql::Null,
            Cell::I(i) => Sql::I(*i),
            Cell::F(f) => Sql::F(*f),
            Cell::B(b) => Sql::I(*b as i64),
            Cell::S(s) => Sql::S(s.clone()),
            Cell::T(t) => Sql::T(*t),
            Cell::L(l) => panic!("a list ({l:?}) has no edX column"),
        }
    }
}

/// A row's values of `columns`, for an edX table whose columns have the contract's names.
fn same_named(r: &Row, columns: &[&str]) -> Vec<Sql> {
    columns.iter().map(|c| r.get(*c).map_or(Sql::Null, Sql::from)).collect()
}

/// `YYYY-MM-DD HH:MM:SS.ffffff` of a UTC moment, as edX's naive UTC columns hold it.
pub fn datetime(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .expect("a representable moment")
        .format("%Y-%m-%d %H:%M:%S%.6f")
        .to_string()
}

fn tsv_field(out: &mut String, v: &Sql) {
    match v {
        Sql::Null => out.push_str("\\N"),
        Sql::I(i) => write!(out, "{i}").unwrap(),
        Sql::F(f) => {
            assert!(f.is_finite(), "a non-finite double cannot be stored");
            write!(out, "{f:?}").unwrap()
        }
        Sql::T(t) => out.push_str(&datetime(*t)),
        Sql::S(s) => {
            for c in s.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\t' => out.push_str("\\t"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\0' => out.push_str("\\0"),
                    c => out.push(c),
                }
            }
        }
    }
}

/// Rows for one edX table, by explicit column list.
struct Table {
    name: &'static str,
    columns: &'static [&'static str],
    tsv: String,
    rows: usize,
}

impl Table {
    fn new(name: &'static str, columns: &'static [&'static str]) -> Table {
        Table { name, columns, tsv: String::new(), rows: 0 }
    }
    fn push(&mut self, values: Vec<Sql>) {
        assert_eq!(values.len(), self.columns.len(), "{}: values for {:?}", self.name, self.columns);
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                self.tsv.push('\t');
            }
            tsv_field(&mut self.tsv, v);
        }
        self.tsv.push('\n');
        self.rows += 1;
    }
}

/// The DDL files in `schemas/mysql/`, in name order.
pub fn ddl_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/mysql");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    files
}

/// Creates database `database` with every edX table of `schemas/mysql/` (foreign keys checked
/// from then on).
pub fn create_tables(db: &MariaDb, database: &str) {
    db.exec("", &format!("CREATE DATABASE `{database}`"));
    let mut sql = String::from("SET FOREIGN_KEY_CHECKS = 0;\n");
    for f in ddl_files() {
        sql.push_str(&std::fs::read_to_string(&f).unwrap());
        sql.push('\n');
    }
    db.exec(database, &sql);
}

/// `(block_type, block_id)` of a usage key (`block-v1:…+type@T+block@ID` or `i4x://o/n/T/ID`).
pub fn type_and_id(usage_key: &str) -> (String, String) {
    if let Some(rest) = usage_key.strip_prefix("i4x://") {
        let parts: Vec<&str> = rest.split('/').collect();
        assert_eq!(parts.len(), 4, "not an i4x key: {usage_key}");
        return (parts[2].to_string(), parts[3].to_string());
    }
    let t = usage_key.find("+type@").unwrap_or_else(|| panic!("no +type@ in {usage_key}"));
    let b = usage_key.find("+block@").unwrap_or_else(|| panic!("no +block@ in {usage_key}"));
    (usage_key[t + 6..b].to_string(), usage_key[b + 7..].to_string())
}

/// The anonymous id given to (user, course) by [`load`]: 32 characters, unique.
pub fn anonymous_id(n: usize) -> String {
    format!("anon{n:028x}")
}

/// Row counts per edX table after a [`load`].
pub type Counts = BTreeMap<&'static str, usize>;

/// Creates edX's tables in a new database `database` and fills them from the input root
/// `input_root`; verification rows are dated relative to `as_of` (microseconds, UTC) so that
/// each learner's status at `as_of` is the input's. Returns the rows loaded per table (each
/// checked against `COUNT(*)`).
pub fn load(db: &MariaDb, database: &str, input_root: &Path, as_of: i64) -> Counts {
    create_tables(db, database);
    let tables = tables::build(input_root, as_of);
    let work = tempfile::tempdir().expect("tempdir");
    let mut script =
        String::from("SET FOREIGN_KEY_CHECKS = 1;\nSET SESSION sql_mode = 'STRICT_ALL_TABLES';\n");
    let mut counts = Counts::new();
    for t in &tables {
        let file = format!("{}.tsv", t.name);
        std::fs::write(work.path().join(&file), &t.tsv).unwrap();
        let cols: Vec<String> = t.columns.iter().map(|c| format!("`{c}`")).collect();
        writeln!(
            script,
            "LOAD DATA LOCAL INFILE '{file}' INTO TABLE `{}` CHARACTER SET utf8mb4 \
             FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' ({});",
            t.name,
            cols.join(", ")
        )
        .unwrap();
        *counts.entry(t.name).or_default() += t.rows;
    }
    let path = work.path().join("load.sql");
    std::fs::write(&path, &script).unwrap();
    db.source_file(database, &path, work.path()).unwrap_or_else(|e| panic!("loading {database}: {e}"));
    // Every row arrived (LOAD DATA skips duplicates of a unique key with a warning only).
    let union: Vec<String> = counts.keys().map(|t| format!("SELECT '{t}', COUNT(*) FROM `{t}`")).collect();
    for row in db.query(database, &union.join(" UNION ALL ")) {
        let (t, n) = (row[0].clone().unwrap(), row[1].clone().unwrap().parse::<usize>().unwrap());
        assert_eq!(n, counts[t.as_str()], "{t}: rows in the table after LOAD DATA");
    }
    counts
}

/// The course versions of `course_blocks`: course -> [(published_at, version)], oldest first.
fn versions(root: &Path) -> BTreeMap<String, Vec<(i64, String)>> {
    let mut seen: BTreeMap<String, BTreeSet<(i64, String)>> = BTreeMap::new();
    for r in read_table(root, "course_blocks") {
        let at = r.time("published_at").expect("published_at");
        seen.entry(r.string("course_id")).or_default().insert((at, r.string("course_version")));
    }
    seen.into_iter().map(|(c, v)| (c, v.into_iter().collect())).collect()
}
