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
                let c = name.strip_prefix("course_id=").map(percent_decode).or(course.clone());
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

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).expect("a UTF-8 partition value")
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
    let tables = build(input_root, as_of);
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

fn build(root: &Path, as_of: i64) -> Vec<Table> {
    let mut out = Vec::new();
    let versions = versions(root);
    let long_ago = as_of - 1000 * DAY;

    // auth_user
    let mut t = Table::new(
        "auth_user",
        &[
            "id",
            "password",
            "last_login",
            "is_superuser",
            "username",
            "first_name",
            "last_name",
            "email",
            "is_staff",
            "is_active",
            "date_joined",
        ],
    );
    for r in read_table(root, "users") {
        t.push(vec![
            r.int("id").into(),
            "!".into(),
            Sql::Null,
            false.into(),
            r.string("username").into(),
            "".into(),
            "".into(),
            r.string("email").into(),
            false.into(),
            true.into(),
            Sql::T(long_ago),
        ]);
    }
    out.push(t);

    // student_courseenrollment
    let mut t = Table::new(
        "student_courseenrollment",
        &["id", "course_id", "created", "is_active", "mode", "user_id"],
    );
    for (i, r) in read_table(root, "enrollments").iter().enumerate() {
        t.push(vec![
            (i as i64 + 1).into(),
            r.string("course_id").into(),
            r.time("created").map_or(Sql::Null, Sql::T),
            r.boolean("is_active").expect("is_active").into(),
            r.string("mode").into(),
            r.int("user_id").into(),
        ]);
    }
    out.push(t);

    // courseware_studentmodule: scores, then library selections
    let mut t = Table::new(
        "courseware_studentmodule",
        &[
            "id",
            "module_type",
            "module_id",
            "course_id",
            "state",
            "grade",
            "max_grade",
            "done",
            "created",
            "modified",
            "student_id",
        ],
    );
    let mut id = 0i64;
    for r in read_table(root, "studentmodule") {
        id += 1;
        t.push(vec![
            id.into(),
            r.string("module_type").into(),
            r.string("module_state_key").into(),
            r.string("course_id").into(),
            "{}".into(),
            opt_float(&r, "grade"),
            opt_float(&r, "max_grade"),
            "na".into(),
            Sql::T(r.time("created").expect("created")),
            Sql::T(r.time("modified").expect("modified")),
            r.int("student_id").into(),
        ]);
    }
    for r in read_table(root, "library_selections") {
        id += 1;
        let key = r.string("usage_key");
        let (kind, _) = type_and_id(&key);
        let selected: Vec<serde_json::Value> = r
            .list("selected")
            .unwrap_or_default()
            .iter()
            .map(|k| {
                let (t, i) = type_and_id(k);
                serde_json::json!([t, i])
            })
            .collect();
        let state = serde_json::json!({ "selected": selected }).to_string();
        t.push(vec![
            id.into(),
            kind.into(),
            key.into(),
            r.string("course_id").into(),
            state.into(),
            Sql::Null,
            Sql::Null,
            "na".into(),
            Sql::T(long_ago),
            Sql::T(long_ago),
            r.int("user_id").into(),
        ]);
    }
    out.push(t);

    out.extend(submissions(root));
    out.extend(grades(root));
    out.extend(verifications(root, as_of));
    out.extend(cohorts(root, &versions));

    // user_api_usercoursetag
    let mut t = Table::new("user_api_usercoursetag", &["id", "key", "course_id", "value", "user_id"]);
    for (i, r) in read_table(root, "partition_groups").iter().enumerate() {
        t.push(vec![
            (i as i64 + 1).into(),
            format!("xblock.partition_service.partition_{}", r.int("partition_id")).into(),
            r.string("course_id").into(),
            r.int("group_id").to_string().into(),
            r.int("user_id").into(),
        ]);
    }
    out.push(t);

    out.extend(teams(root, long_ago));
    out.extend(certificates(root, long_ago));
    out.extend(course_index(root, &versions));
    out
}

fn opt_float(r: &Row, c: &str) -> Sql {
    match r.cell(c) {
        Cell::Null => Sql::Null,
        _ => Sql::F(r.float(c)),
    }
}

/// A score edX stores as `int unsigned`.
fn points(r: &Row, c: &str) -> Sql {
    let v = r.float(c);
    assert!(v >= 0.0 && v.fract() == 0.0, "submissions.{c} = {v}: edX stores whole points only");
    Sql::I(v as i64)
}

fn submissions(root: &Path) -> Vec<Table> {
    let mut anon =
        Table::new("student_anonymoususerid", &["id", "anonymous_user_id", "course_id", "user_id"]);
    let mut items =
        Table::new("submissions_studentitem", &["id", "student_id", "course_id", "item_id", "item_type"]);
    let mut subs = Table::new(
        "submissions_submission",
        &[
            "id",
            "uuid",
            "attempt_number",
            "submitted_at",
            "created_at",
            "raw_answer",
            "student_item_id",
            "status",
            "team_submission_id",
        ],
    );
    let mut scores = Table::new(
        "submissions_score",
        &[
            "id",
            "points_earned",
            "points_possible",
            "created_at",
            "reset",
            "student_item_id",
            "submission_id",
        ],
    );
    let mut summaries =
        Table::new("submissions_scoresummary", &["id", "highest_id", "latest_id", "student_item_id"]);
    let mut rows = read_table(root, "submissions");
    // Score ids in the order regrade ranks them (created_at, id): the contract's ids may not
    // fit edX's int column, their order is what counts.
    rows.sort_by_key(|r| (r.time("created_at").expect("created_at"), r.int("id")));
    let mut anon_ids: BTreeMap<(i64, String), String> = BTreeMap::new();
    let mut item_ids: BTreeMap<(i64, String, String), i64> = BTreeMap::new();
    // item -> (latest score id, highest (earned, score id), attempts)
    let mut summary: BTreeMap<i64, (i64, (i64, i64), i64)> = BTreeMap::new();
    for (n, r) in rows.iter().enumerate() {
        let (uid, course, key) = (r.int("user_id"), r.string("course_id"), r.string("usage_key"));
        let next_anon = anon_ids.len() + 1;
        let a = anon_ids.entry((uid, course.clone())).or_insert_with(|| {
            let a = anonymous_id(next_anon);
            anon.push(vec![(next_anon as i64).into(), a.clone().into(), course.clone().into(), uid.into()]);
            a
        });
        let next_item = item_ids.len() as i64 + 1;
        let item = *item_ids.entry((uid, course.clone(), key.clone())).or_insert_with(|| {
            let (kind, _) = type_and_id(&key);
            items.push(vec![
                next_item.into(),
                a.clone().into(),
                course.clone().into(),
                key.clone().into(),
                kind.into(),
            ]);
            next_item
        });
        let id = n as i64 + 1;
        let at = r.time("created_at").expect("created_at");
        let s = summary.entry(item).or_insert((id, (i64::MIN, 0), 0));
        s.0 = id;
        s.2 += 1;
        subs.push(vec![
            id.into(),
            format!("{id:032x}").into(),
            s.2.into(),
            Sql::T(at),
            Sql::T(at),
            "{}".into(),
            item.into(),
            "A".into(),
            Sql::Null,
        ]);
        let earned = points(r, "points_earned");
        if let Sql::I(e) = earned {
            if e >= s.1 .0 {
                s.1 = (e, id);
            }
        }
        scores.push(vec![
            id.into(),
            earned,
            points(r, "points_possible"),
            Sql::T(at),
            false.into(),
            item.into(),
            id.into(),
        ]);
    }
    for (i, (item, (latest, (_, highest), _))) in summary.iter().enumerate() {
        summaries.push(vec![(i as i64 + 1).into(), (*highest).into(), (*latest).into(), (*item).into()]);
    }
    vec![anon, items, subs, scores, summaries]
}

fn grades(root: &Path) -> Vec<Table> {
    let mut vb = Table::new("grades_visibleblocks", &["id", "blocks_json", "hashed", "course_id"]);
    for (i, r) in read_table(root, "visible_blocks").iter().enumerate() {
        vb.push(vec![
            (i as i64 + 1).into(),
            r.string("blocks_json").into(),
            r.string("hashed").into(),
            r.string("course_id").into(),
        ]);
    }
    let mut psg = Table::new(
        "grades_persistentsubsectiongrade",
        &[
            "created",
            "modified",
            "id",
            "user_id",
            "course_id",
            "usage_key",
            "subtree_edited_timestamp",
            "course_version",
            "earned_all",
            "possible_all",
            "earned_graded",
            "possible_graded",
            "visible_blocks_hash",
            "first_attempted",
        ],
    );
    for r in read_table(root, "persistent_subsection_grades") {
        psg.push(vec![
            Sql::T(r.time("created").unwrap()),
            Sql::T(r.time("modified").unwrap()),
            r.int("id").into(),
            r.int("user_id").into(),
            r.string("course_id").into(),
            r.string("usage_key").into(),
            r.time("subtree_edited_timestamp").map_or(Sql::Null, Sql::T),
            r.string("course_version").into(),
            r.float("earned_all").into(),
            r.float("possible_all").into(),
            r.float("earned_graded").into(),
            r.float("possible_graded").into(),
            r.string("visible_blocks_hash").into(),
            r.time("first_attempted").map_or(Sql::Null, Sql::T),
        ]);
    }
    let mut ov = Table::new(
        "grades_persistentsubsectiongradeoverride",
        &[
            "id",
            "created",
            "modified",
            "earned_all_override",
            "possible_all_override",
            "earned_graded_override",
            "possible_graded_override",
            "grade_id",
            "override_reason",
            "system",
        ],
    );
    for (i, r) in read_table(root, "subsection_grade_overrides").iter().enumerate() {
        ov.push(vec![
            (i as i64 + 1).into(),
            Sql::T(r.time("created").unwrap()),
            Sql::T(r.time("modified").unwrap()),
            opt_float(r, "earned_all_override"),
            opt_float(r, "possible_all_override"),
            opt_float(r, "earned_graded_override"),
            opt_float(r, "possible_graded_override"),
            r.int("grade_id").into(),
            r.opt_string("override_reason").into(),
            r.opt_string("system").into(),
        ]);
    }
    let mut pcg = Table::new(
        "grades_persistentcoursegrade",
        &[
            "created",
            "modified",
            "id",
            "user_id",
            "course_id",
            "course_edited_timestamp",
            "course_version",
            "grading_policy_hash",
            "percent_grade",
            "letter_grade",
            "passed_timestamp",
        ],
    );
    for r in read_table(root, "persistent_course_grades") {
        pcg.push(vec![
            Sql::T(r.time("created").unwrap()),
            Sql::T(r.time("modified").unwrap()),
            r.int("id").into(),
            r.int("user_id").into(),
            r.string("course_id").into(),
            r.time("course_edited_timestamp").map_or(Sql::Null, Sql::T),
            r.string("course_version").into(),
            r.string("grading_policy_hash").into(),
            r.float("percent_grade").into(),
            r.string("letter_grade").into(),
            r.time("passed_timestamp").map_or(Sql::Null, Sql::T),
        ]);
    }
    vec![vb, psg, ov, pcg]
}

/// One verification row per learner, in the table edX would hold it in, dated so that its
/// status at `as_of` is the input's: `approved` a few days old, `expired` an approval of more
/// than 365 days ago, the others a row of that status.
fn verifications(root: &Path, as_of: i64) -> Vec<Table> {
    let mut sspv = Table::new(
        "verify_student_softwaresecurephotoverification",
        &[
            "id",
            "status",
            "status_changed",
            "name",
            "face_image_url",
            "photo_id_image_url",
            "receipt_id",
            "created_at",
            "updated_at",
            "display",
            "submitted_at",
            "reviewing_service",
            "error_msg",
            "error_code",
            "photo_id_key",
            "user_id",
        ],
    );
    let mut sso = Table::new(
        "verify_student_ssoverification",
        &[
            "id",
            "status",
            "status_changed",
            "name",
            "created_at",
            "updated_at",
            "identity_provider_type",
            "identity_provider_slug",
            "user_id",
        ],
    );
    let mut manual = Table::new(
        "verify_student_manualverification",
        &["id", "status", "status_changed", "name", "created_at", "updated_at", "reason", "user_id"],
    );
    let mut attempt = Table::new(
        "verify_student_verificationattempt",
        &["id", "name", "status", "user_id", "created_at", "status_changed", "updated_at"],
    );
    for r in read_table(root, "id_verifications") {
        let uid = r.int("user_id");
        let status = r.string("status");
        let (stored, at) = match status.as_str() {
            "approved" => ("approved", as_of - 3 * DAY - uid),
            "expired" => ("approved", as_of - 400 * DAY - uid),
            "must_retry" | "denied" | "pending" => (status.as_str(), as_of - 10 * DAY - uid),
            other => panic!("id_verifications: unknown status {other}"),
        };
        let t = Sql::T(at);
        match (status.as_str(), uid % 2) {
            ("pending", _) => {
                let n = attempt.rows as i64 + 1;
                attempt.push(vec![
                    n.into(),
                    "".into(),
                    "pending".into(),
                    uid.into(),
                    t.clone(),
                    t.clone(),
                    t,
                ]);
            }
            ("denied", _) => {
                let n = manual.rows as i64 + 1;
                manual.push(vec![
                    n.into(),
                    stored.into(),
                    t.clone(),
                    "".into(),
                    t.clone(),
                    t,
                    "".into(),
                    uid.into(),
                ]);
            }
            ("approved" | "expired", 1) => {
                let n = sso.rows as i64 + 1;
                sso.push(vec![
                    n.into(),
                    stored.into(),
                    t.clone(),
                    "".into(),
                    t.clone(),
                    t,
                    "common.djangoapps.third_party_auth.models.SAMLProviderConfig".into(),
                    "default".into(),
                    uid.into(),
                ]);
            }
            _ => {
                let n = sspv.rows as i64 + 1;
                sspv.push(vec![
                    n.into(),
                    stored.into(),
                    t.clone(),
                    "".into(),
                    "".into(),
                    "".into(),
                    format!("receipt-{n}").into(),
                    t.clone(),
                    t.clone(),
                    true.into(),
                    t,
                    "".into(),
                    "".into(),
                    "".into(),
                    "".into(),
                    uid.into(),
                ]);
            }
        }
    }
    vec![sspv, sso, manual, attempt]
}

/// The policy row of each course's newest published version (else its first row).
fn newest_policies(root: &Path, versions: &BTreeMap<String, Vec<(i64, String)>>) -> BTreeMap<String, Row> {
    let mut out: BTreeMap<String, Row> = BTreeMap::new();
    for r in read_table(root, "course_policies") {
        let course = r.string("course_id");
        let newest = versions.get(&course).and_then(|v| v.last()).map(|(_, v)| v.clone());
        let is_newest = newest.as_deref() == Some(r.string("course_version").as_str());
        if is_newest || !out.contains_key(&course) {
            out.insert(course, r);
        }
    }
    out
}

fn cohorts(root: &Path, versions: &BTreeMap<String, Vec<(i64, String)>>) -> Vec<Table> {
    let mut groups = Table::new("course_groups_courseusergroup", &["id", "name", "course_id", "group_type"]);
    let mut cohort =
        Table::new("course_groups_coursecohort", &["id", "assignment_type", "course_user_group_id"]);
    let mut linked = Table::new(
        "course_groups_courseusergrouppartitiongroup",
        &["id", "partition_id", "group_id", "created_at", "updated_at", "course_user_group_id"],
    );
    let mut members =
        Table::new("course_groups_cohortmembership", &["id", "course_id", "course_user_group_id", "user_id"]);
    let mut settings = Table::new(
        "course_groups_coursecohortssettings",
        &["id", "is_cohorted", "course_id", "cohorted_discussions", "always_cohort_inline_discussions"],
    );
    let mut ids: BTreeMap<(String, String), i64> = BTreeMap::new();
    for (i, r) in read_table(root, "cohort_memberships").iter().enumerate() {
        let (course, name) = (r.string("course_id"), r.string("cohort_name"));
        let next = ids.len() as i64 + 1;
        let gid = *ids.entry((course.clone(), name.clone())).or_insert_with(|| {
            groups.push(vec![next.into(), name.clone().into(), course.clone().into(), "cohort".into()]);
            cohort.push(vec![next.into(), "random".into(), next.into()]);
            if let (Some(p), Some(g)) = (r.opt_int("partition_id"), r.opt_int("group_id")) {
                let n = linked.rows as i64 + 1;
                linked.push(vec![n.into(), p.into(), g.into(), Sql::T(0), Sql::T(0), next.into()]);
            }
            next
        });
        members.push(vec![(i as i64 + 1).into(), course.into(), gid.into(), r.int("user_id").into()]);
    }
    let mut modes = Table::new(
        "course_modes_coursemode",
        &[
            "id",
            "course_id",
            "mode_slug",
            "mode_display_name",
            "min_price",
            "currency",
            "suggested_prices",
            "expiration_datetime_is_explicit",
        ],
    );
    for (course, p) in newest_policies(root, versions) {
        if let Some(cohorted) = p.boolean("cohorted") {
            let n = settings.rows as i64 + 1;
            settings.push(vec![n.into(), cohorted.into(), course.clone().into(), "[]".into(), true.into()]);
        }
        for m in p.list("course_modes").unwrap_or_default() {
            let n = modes.rows as i64 + 1;
            modes.push(vec![
                n.into(),
                course.clone().into(),
                m.clone().into(),
                m.into(),
                0i64.into(),
                "usd".into(),
                "".into(),
                false.into(),
            ]);
        }
    }
    vec![groups, cohort, linked, members, settings, modes]
}

fn teams(root: &Path, at: i64) -> Vec<Table> {
    let mut teams = Table::new(
        "teams_courseteam",
        &[
            "id",
            "team_id",
            "discussion_topic_id",
            "name",
            "course_id",
            "topic_id",
            "date_created",
            "description",
            "country",
            "language",
            "last_activity_at",
            "team_size",
            "organization_protected",
        ],
    );
    let mut members = Table::new(
        "teams_courseteammembership",
        &["id", "date_joined", "last_activity_at", "team_id", "user_id"],
    );
    let mut ids: BTreeMap<(String, String), i64> = BTreeMap::new();
    for (i, r) in read_table(root, "team_memberships").iter().enumerate() {
        let (course, name) = (r.string("course_id"), r.string("team_name"));
        let next = ids.len() as i64 + 1;
        let tid = *ids.entry((course.clone(), name.clone())).or_insert_with(|| {
            teams.push(vec![
                next.into(),
                format!("team-{next}").into(),
                format!("topic-{next}").into(),
                name.clone().into(),
                course.clone().into(),
                "topic".into(),
                Sql::T(at),
                "".into(),
                "".into(),
                "".into(),
                Sql::T(at),
                0i64.into(),
                false.into(),
            ]);
            next
        });
        members.push(vec![
            (i as i64 + 1).into(),
            Sql::T(at),
            Sql::T(at),
            tid.into(),
            r.int("user_id").into(),
        ]);
    }
    vec![teams, members]
}

fn certificates(root: &Path, at: i64) -> Vec<Table> {
    let mut allow = Table::new(
        "certificates_certificateallowlist",
        &["id", "created", "modified", "course_id", "allowlist", "notes", "user_id"],
    );
    for (i, r) in read_table(root, "certificate_allowlist").iter().enumerate() {
        allow.push(vec![
            (i as i64 + 1).into(),
            Sql::T(at),
            Sql::T(at),
            r.string("course_id").into(),
            r.boolean("allowlist").expect("allowlist").into(),
            Sql::Null,
            r.int("user_id").into(),
        ]);
    }
    let mut gen = Table::new(
        "certificates_generatedcertificate",
        &[
            "id",
            "course_id",
            "verify_uuid",
            "download_uuid",
            "download_url",
            "grade",
            "key",
            "distinction",
            "status",
            "mode",
            "name",
            "created_date",
            "modified_date",
            "error_reason",
            "user_id",
        ],
    );
    for (i, r) in read_table(root, "generated_certificates").iter().enumerate() {
        gen.push(vec![
            (i as i64 + 1).into(),
            r.string("course_id").into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            false.into(),
            r.string("status").into(),
            r.string("mode").into(),
            "".into(),
            Sql::T(at),
            Sql::T(at),
            "".into(),
            r.int("user_id").into(),
        ]);
    }
    vec![allow, gen]
}

const INDEX_COLUMNS: &[&str] = &[
    "id",
    "objectid",
    "course_id",
    "org",
    "draft_version",
    "published_version",
    "library_version",
    "wiki_slug",
    "base_store",
    "edited_on",
    "last_update",
];

fn course_index(_root: &Path, versions: &BTreeMap<String, Vec<(i64, String)>>) -> Vec<Table> {
    let mut index = Table::new("split_modulestore_django_splitmodulestorecourseindex", INDEX_COLUMNS);
    let mut history = Table::new(
        "split_modulestore_django_historicalsplitmodulestorecourseindex",
        &[
            "id",
            "objectid",
            "course_id",
            "org",
            "draft_version",
            "published_version",
            "library_version",
            "wiki_slug",
            "base_store",
            "edited_on",
            "last_update",
            "history_date",
            "history_type",
        ],
    );
    for (n, (course, list)) in versions.iter().enumerate() {
        let id = n as i64 + 1;
        let objectid = format!("{id:024x}");
        let org =
            course.strip_prefix("course-v1:").and_then(|r| r.split('+').next()).unwrap_or("").to_string();
        let row = |version: &str, at: i64| -> Vec<Sql> {
            vec![
                id.into(),
                objectid.clone().into(),
                course.clone().into(),
                org.clone().into(),
                version.into(),
                version.into(),
                "".into(),
                "".into(),
                "mongodb".into(),
                Sql::T(at),
                Sql::T(at),
            ]
        };
        for (i, (at, version)) in list.iter().enumerate() {
            let mut h = row(version, *at);
            h.push(Sql::T(*at));
            h.push(if i == 0 { "+" } else { "~" }.into());
            history.push(h);
        }
        let (at, version) = list.last().expect("a version");
        index.push(row(version, *at));
    }
    vec![index, history]
}
