//! Support for end-to-end tests of `regrade run`: hand-written input tables written as
//! Parquet, the real binary run over them, and the CSV reports compared line by line and
//! cell by cell with expectations worked out by hand.
//!
//! Independent of regrade's own code on purpose: Parquet files are written with parquet's
//! `ArrowWriter`, report folders are named with our own SHA-1, CSV lines are split and
//! encoded (Python `csv` excel dialect) here. Only the input schemas (`schemas/input/`, the
//! data contract) are taken from regrade, to give each column its contract type.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, ListBuilder, RecordBatch, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, TimeUnit};
use base64::Engine;
use parquet::arrow::ArrowWriter;
use sha1::{Digest, Sha1};

/// One microsecond-timestamp day.
pub const DAY: i64 = 86_400_000_000;
/// The run's "now" of most tests: 2026-06-01T00:00:00Z.
pub const AS_OF: &str = "2026-06-01T00:00:00Z";
/// [`AS_OF`] in microseconds (1_780_272_000 s).
pub const AS_OF_US: i64 = 1_780_272_000_000_000;
/// The report timestamp of [`AS_OF`].
pub const AS_OF_STAMP: &str = "2026-06-01-0000";
/// Course start of every test course: 2026-01-01T00:00:00Z.
pub const COURSE_START: i64 = 1_767_225_600_000_000;

/// One cell of an input row.
#[derive(Clone, Debug, PartialEq)]
pub enum V {
    Null,
    S(String),
    I(i64),
    F(f64),
    B(bool),
    /// A timestamp, microseconds since the epoch (UTC).
    T(i64),
    L(Vec<String>),
}

impl From<&str> for V {
    fn from(s: &str) -> V {
        V::S(s.to_string())
    }
}
impl From<String> for V {
    fn from(s: String) -> V {
        V::S(s)
    }
}
impl From<&String> for V {
    fn from(s: &String) -> V {
        V::S(s.clone())
    }
}
impl From<i64> for V {
    fn from(i: i64) -> V {
        V::I(i)
    }
}
impl From<f64> for V {
    fn from(f: f64) -> V {
        V::F(f)
    }
}
impl From<bool> for V {
    fn from(b: bool) -> V {
        V::B(b)
    }
}
impl<T: Into<V>> From<Option<T>> for V {
    fn from(o: Option<T>) -> V {
        o.map_or(V::Null, Into::into)
    }
}

/// A timestamp cell.
pub fn ts(micros: i64) -> V {
    V::T(micros)
}

/// An optional timestamp cell.
pub fn ts_opt(micros: Option<i64>) -> V {
    micros.map_or(V::Null, V::T)
}

/// A list-of-strings cell.
pub fn list(items: &[&str]) -> V {
    V::L(items.iter().map(|s| s.to_string()).collect())
}

/// `row!(ds, "table", { col: value, ... })` adds a row to a dataset.
#[macro_export]
macro_rules! row {
    ($ds:expr, $table:expr, { $($k:ident : $v:expr),* $(,)? }) => {
        $ds.row($table, vec![$((stringify!($k), $crate::run_support::V::from($v))),*])
    };
}

/// Input tables, row by row; columns left out are null.
#[derive(Default)]
pub struct Dataset {
    tables: BTreeMap<String, Vec<Vec<(String, V)>>>,
}

impl Dataset {
    pub fn row(&mut self, table: &str, cells: Vec<(&str, V)>) {
        let row = cells.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        self.tables.entry(table.to_string()).or_default().push(row);
    }

    /// Writes every table as `<root>/<table>/part-0.parquet` (contract types); required
    /// tables without rows are written empty.
    pub fn write(&self, root: &Path) {
        let mut tables: BTreeMap<&str, &[Vec<(String, V)>]> =
            self.tables.iter().map(|(t, rows)| (t.as_str(), rows.as_slice())).collect();
        for s in regrade::schema::inputs().filter(|s| s.required == Some(true)) {
            tables.entry(s.table.as_str()).or_insert(&[]);
        }
        for (table, rows) in tables {
            let schema = regrade::schema::input(table).unwrap_or_else(|e| panic!("{e}")).arrow_schema();
            for row in rows {
                for (k, _) in row {
                    assert!(schema.field_with_name(k).is_ok(), "test bug: table {table} has no column {k}");
                }
            }
            let columns: Vec<ArrayRef> = schema
                .fields()
                .iter()
                .map(|f| {
                    let cells: Vec<&V> = rows
                        .iter()
                        .map(|r| r.iter().find(|(k, _)| k == f.name()).map(|(_, v)| v).unwrap_or(&V::Null))
                        .collect();
                    assert!(
                        f.is_nullable() || cells.iter().all(|v| **v != V::Null),
                        "test bug: {table}.{} is required",
                        f.name()
                    );
                    array(f.data_type(), &cells, table, f.name())
                })
                .collect();
            let batch = RecordBatch::try_new(schema.clone(), columns).expect("batch");
            let dir = root.join(table);
            fs::create_dir_all(&dir).expect("mkdir");
            let file = fs::File::create(dir.join("part-0.parquet")).expect("create");
            let mut w = ArrowWriter::try_new(file, schema, None).expect("writer");
            w.write(&batch).expect("write");
            w.close().expect("close");
        }
    }
}

fn array(t: &DataType, cells: &[&V], table: &str, col: &str) -> ArrayRef {
    let bad = |v: &V| -> ! { panic!("test bug: {table}.{col} is {t:?}, got {v:?}") };
    match t {
        DataType::Utf8 => {
            let mut b = StringBuilder::new();
            for v in cells {
                match v {
                    V::Null => b.append_null(),
                    V::S(s) => b.append_value(s),
                    v => bad(v),
                }
            }
            Arc::new(b.finish())
        }
        DataType::Int64 => {
            let mut b = Int64Builder::new();
            for v in cells {
                match v {
                    V::Null => b.append_null(),
                    V::I(i) => b.append_value(*i),
                    v => bad(v),
                }
            }
            Arc::new(b.finish())
        }
        DataType::Float64 => {
            let mut b = Float64Builder::new();
            for v in cells {
                match v {
                    V::Null => b.append_null(),
                    V::F(x) => b.append_value(*x),
                    V::I(i) => b.append_value(*i as f64),
                    v => bad(v),
                }
            }
            Arc::new(b.finish())
        }
        DataType::Boolean => {
            let mut b = BooleanBuilder::new();
            for v in cells {
                match v {
                    V::Null => b.append_null(),
                    V::B(x) => b.append_value(*x),
                    v => bad(v),
                }
            }
            Arc::new(b.finish())
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            let mut b = TimestampMicrosecondBuilder::new();
            for v in cells {
                match v {
                    V::Null => b.append_null(),
                    V::T(x) => b.append_value(*x),
                    v => bad(v),
                }
            }
            Arc::new(b.finish().with_timezone("UTC"))
        }
        DataType::List(_) => {
            let mut b = ListBuilder::new(StringBuilder::new());
            for v in cells {
                match v {
                    V::Null => b.append_null(),
                    V::L(items) => {
                        for s in items {
                            b.values().append_value(s);
                        }
                        b.append(true);
                    }
                    v => bad(v),
                }
            }
            Arc::new(b.finish())
        }
        other => panic!("test bug: unexpected contract type {other:?} for {table}.{col}"),
    }
}

/// One block of a course version.
#[derive(Clone, Debug, Default)]
pub struct Blk {
    pub id: String,
    pub block_type: String,
    pub display_name: Option<String>,
    pub children: Vec<String>,
    pub graded: Option<bool>,
    pub format: Option<String>,
    pub weight: Option<f64>,
    pub max_score: Option<f64>,
    pub has_score: bool,
    pub start: Option<i64>,
    pub staff_only: Option<bool>,
    pub group_access: Option<String>,
    /// `library_content` / `itembank`: children shown to each learner.
    pub max_count: Option<i64>,
}

/// A course: one published version's blocks and its policy row.
#[derive(Clone, Debug)]
pub struct Course {
    pub id: String,
    pub version: String,
    pub blocks: Vec<Blk>,
    pub grading_policy: String,
    pub course_start: Option<i64>,
    pub course_end: Option<i64>,
    pub self_paced: Option<bool>,
    pub certificate_available_date: Option<i64>,
    pub certificates_display_behavior: Option<String>,
    pub cohorted: Option<bool>,
    pub teams_enabled: Option<bool>,
    pub user_partitions: Option<String>,
    pub course_modes: Vec<String>,
}

impl Course {
    /// A course with a root block `course` (children added with [`Course::root`]).
    pub fn new(id: &str, grading_policy: &str) -> Course {
        Course {
            id: id.to_string(),
            version: "v1".to_string(),
            blocks: Vec::new(),
            grading_policy: grading_policy.to_string(),
            course_start: Some(COURSE_START),
            course_end: None,
            self_paced: Some(false),
            certificate_available_date: None,
            certificates_display_behavior: None,
            cohorted: Some(false),
            teams_enabled: Some(false),
            user_partitions: None,
            course_modes: vec!["honor".to_string()],
        }
    }

    /// `block-v1:ORG+COURSE+RUN+type@TYPE+block@ID` for a `course-v1:ORG+COURSE+RUN` id.
    pub fn usage_key(&self, block_type: &str, id: &str) -> String {
        let body = self.id.strip_prefix("course-v1:").expect("course-v1 id");
        format!("block-v1:{body}+type@{block_type}+block@{id}")
    }

    /// The usage key of a block added under the short id `id`.
    pub fn key(&self, id: &str) -> String {
        let b = self.blocks.iter().find(|b| b.id == id).unwrap_or_else(|| panic!("test bug: no block {id}"));
        self.usage_key(&b.block_type, id)
    }

    pub fn add(&mut self, block_type: &str, id: &str, name: &str, children: &[&str]) -> &mut Blk {
        self.blocks.push(Blk {
            id: id.to_string(),
            block_type: block_type.to_string(),
            display_name: Some(name.to_string()),
            children: children.iter().map(|c| c.to_string()).collect(),
            ..Blk::default()
        });
        self.blocks.last_mut().expect("just pushed")
    }

    pub fn root(&mut self, chapters: &[&str]) -> &mut Blk {
        self.add("course", "course", "Test Course", chapters)
    }

    pub fn chapter(&mut self, id: &str, subsections: &[&str]) -> &mut Blk {
        self.add("chapter", id, id, subsections)
    }

    /// A graded subsection of the given format.
    pub fn seq(&mut self, id: &str, name: &str, format: &str, children: &[&str]) -> &mut Blk {
        let b = self.add("sequential", id, name, children);
        b.graded = Some(true);
        b.format = Some(format.to_string());
        b
    }

    pub fn vertical(&mut self, id: &str, children: &[&str]) -> &mut Blk {
        self.add("vertical", id, id, children)
    }

    /// A scorable CAPA problem with a collected max score.
    pub fn problem(&mut self, id: &str, name: &str, max_score: f64) -> &mut Blk {
        let b = self.add("problem", id, name, &[]);
        b.has_score = true;
        b.max_score = Some(max_score);
        b
    }

    /// Adds the course's `course_blocks` and `course_policies` rows.
    pub fn write_to(&self, ds: &mut Dataset) {
        let published = COURSE_START - DAY;
        for b in &self.blocks {
            let children: Vec<String> = b.children.iter().map(|c| self.key(c)).collect();
            let children: Vec<&str> = children.iter().map(String::as_str).collect();
            row!(ds, "course_blocks", {
                course_id: &self.id,
                course_version: &self.version,
                published_at: ts(published),
                usage_key: self.usage_key(&b.block_type, &b.id),
                block_type: &b.block_type,
                display_name: b.display_name.clone(),
                children: list(&children),
                graded: b.graded,
                format: b.format.clone(),
                weight: b.weight,
                max_score: b.max_score,
                has_score: b.has_score,
                start: ts_opt(b.start),
                visible_to_staff_only: b.staff_only,
                group_access: b.group_access.clone(),
                subtree_edited_on: ts(published),
                max_count: b.max_count,
            });
        }
        let modes: Vec<&str> = self.course_modes.iter().map(String::as_str).collect();
        row!(ds, "course_policies", {
            course_id: &self.id,
            course_version: &self.version,
            grading_policy: &self.grading_policy,
            course_start: ts_opt(self.course_start),
            course_end: ts_opt(self.course_end),
            self_paced: self.self_paced,
            certificate_available_date: ts_opt(self.certificate_available_date),
            certificates_display_behavior: self.certificates_display_behavior.clone(),
            cohorted: self.cohorted,
            teams_enabled: self.teams_enabled,
            user_partitions: self.user_partitions.clone(),
            course_modes: list(&modes),
        });
    }
}

/// `auth_user` rows: username `user<id>`, email `user<id>@example.com`.
pub fn users(ds: &mut Dataset, ids: &[i64]) {
    for &id in ids {
        row!(ds, "users", { id: id, username: format!("user{id}"), email: format!("user{id}@example.com") });
    }
}

/// The first three cells of a learner's course grade report row.
pub fn who(id: i64) -> Vec<String> {
    vec![id.to_string(), format!("user{id}@example.com"), format!("user{id}")]
}

pub fn enroll(ds: &mut Dataset, course: &str, user: i64, mode: &str, active: bool) {
    row!(ds, "enrollments", {
        user_id: user, course_id: course, mode: mode, is_active: active, created: ts(COURSE_START),
    });
}

/// A studentmodule row (`grade` None: viewed, never graded).
pub fn csm(ds: &mut Dataset, course: &Course, user: i64, block: &str, grade: Option<f64>, max: f64, at: i64) {
    let key = course.key(block);
    let module_type = course.blocks.iter().find(|b| b.id == block).expect("block").block_type.clone();
    row!(ds, "studentmodule", {
        student_id: user, course_id: &course.id, module_state_key: key, module_type: module_type,
        grade: grade, max_grade: max, created: ts(at), modified: ts(at),
    });
}

/// A visible-blocks record: (block id, weight, raw_possible, graded).
pub struct Record<'a> {
    pub block: &'a str,
    pub weight: Option<f64>,
    pub raw_possible: Option<f64>,
    pub graded: bool,
}

/// Python's float repr for the simple values used in records (`2.0`, `0.5`).
fn py_float(x: f64) -> String {
    let s = format!("{x}");
    if s.contains('.') || s.contains('e') {
        s
    } else {
        format!("{s}.0")
    }
}

/// The `grades_visibleblocks` JSON of records (spec §7.1) and its hash.
pub fn visible_blocks(course: &Course, records: &[Record<'_>]) -> (String, String) {
    let blocks: Vec<String> = records
        .iter()
        .map(|r| {
            format!(
                r#"{{"graded":{},"locator":"{}","raw_possible":{},"weight":{}}}"#,
                r.graded,
                course.key(r.block),
                r.raw_possible.map_or("null".to_string(), py_float),
                r.weight.map_or("null".to_string(), py_float),
            )
        })
        .collect();
    let json = format!(r#"{{"blocks":[{}],"course_key":"{}","version":1}}"#, blocks.join(","), course.id);
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha1::digest(json.as_bytes()));
    (json, hash)
}

/// A persisted subsection grade (and its visible blocks row).
pub struct SubsectionRow<'a> {
    pub id: i64,
    pub user: i64,
    pub subsection: &'a str,
    /// earned_all, possible_all, earned_graded, possible_graded
    pub values: [f64; 4],
    pub first_attempted: Option<i64>,
    pub records: Vec<Record<'a>>,
}

pub fn persisted_subsection(ds: &mut Dataset, course: &Course, r: SubsectionRow<'_>) {
    let (json, hash) = visible_blocks(course, &r.records);
    row!(ds, "visible_blocks", { hashed: &hash, blocks_json: json, course_id: &course.id });
    let [ea, pa, eg, pg] = r.values;
    row!(ds, "persistent_subsection_grades", {
        id: r.id, user_id: r.user, course_id: &course.id, usage_key: course.key(r.subsection),
        course_version: &course.version, subtree_edited_timestamp: ts(COURSE_START - DAY),
        earned_all: ea, possible_all: pa, earned_graded: eg, possible_graded: pg,
        first_attempted: ts_opt(r.first_attempted), visible_blocks_hash: hash,
        created: ts(COURSE_START + DAY), modified: ts(COURSE_START + DAY),
    });
}

/// A persisted course grade.
pub fn persisted_course_grade(
    ds: &mut Dataset,
    course: &Course,
    id: i64,
    user: i64,
    percent: f64,
    letter: &str,
) {
    row!(ds, "persistent_course_grades", {
        id: id, user_id: user, course_id: &course.id, course_version: &course.version,
        grading_policy_hash: "not-checked", percent_grade: percent, letter_grade: letter,
        created: ts(COURSE_START + DAY), modified: ts(COURSE_START + DAY),
    });
}

/// A temp folder with `in/` (the dataset) and `out/` (the run).
pub struct Job {
    _dir: tempfile::TempDir,
    pub input: PathBuf,
    pub output: PathBuf,
}

impl Job {
    pub fn new(ds: &Dataset) -> Job {
        let dir = tempfile::tempdir().expect("tempdir");
        let input = dir.path().join("in");
        fs::create_dir_all(&input).expect("mkdir");
        ds.write(&input);
        let output = dir.path().join("out");
        Job { _dir: dir, input, output }
    }

    /// Runs `regrade run --input IN --output OUT/<name> ARGS...` and asserts exit 0.
    pub fn run(&self, name: &str, args: &[&str]) -> Ran {
        self.command_ok("run", name, args)
    }

    /// Runs `regrade backfill --input IN --output OUT/<name> ARGS...` and asserts exit 0.
    pub fn backfill(&self, name: &str, args: &[&str]) -> Ran {
        self.command_ok("backfill", name, args)
    }

    /// Runs `regrade COMMAND --input IN --output OUT/<name> ARGS...`, whatever its exit code.
    pub fn command(&self, command: &str, name: &str, args: &[&str]) -> Ran {
        let out = self.output.join(name);
        let output = Command::new(env!("CARGO_BIN_EXE_regrade"))
            .arg(command)
            .arg("--input")
            .arg(&self.input)
            .arg("--output")
            .arg(&out)
            .args(args)
            .output()
            .expect("run regrade");
        Ran { out, output }
    }

    fn command_ok(&self, command: &str, name: &str, args: &[&str]) -> Ran {
        let ran = self.command(command, name, args);
        assert_eq!(
            ran.output.status.code(),
            Some(0),
            "regrade {command} {args:?} failed\nstdout:\n{}\nstderr:\n{}",
            ran.stdout(),
            ran.stderr()
        );
        ran
    }
}

/// A finished run.
pub struct Ran {
    pub out: PathBuf,
    pub output: Output,
}

impl Ran {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// `reports/<sha1 hex of course_id>/`.
    pub fn report_dir(&self, course_id: &str) -> PathBuf {
        self.out.join("reports").join(sha1_hex(course_id))
    }

    /// The sorted file names in a course's report folder.
    pub fn report_files(&self, course_id: &str) -> Vec<String> {
        let dir = self.report_dir(course_id);
        let mut names: Vec<String> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("no report folder {}: {e}", dir.display()))
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// A report's text: `<prefix>_<csv_name>_<stamp>.csv` in the course's folder.
    pub fn report(&self, course_id: &str, prefix: &str, csv_name: &str, stamp: &str) -> String {
        let path = self.report_dir(course_id).join(format!("{prefix}_{csv_name}_{stamp}.csv"));
        let bytes = fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "cannot read {}: {e}; the folder holds {:?}\nstderr:\n{}",
                path.display(),
                fs::read_dir(self.report_dir(course_id))
                    .map(|d| d.map(|e| e.unwrap().file_name()).collect::<Vec<_>>())
                    .unwrap_or_default(),
                self.stderr()
            )
        });
        assert!(!bytes.starts_with(&[0xEF, 0xBB, 0xBF]), "{}: no BOM expected", path.display());
        String::from_utf8(bytes).expect("UTF-8 report")
    }

    /// The grade report of a course named by its file prefix, at [`AS_OF_STAMP`].
    pub fn grade_report(&self, course_id: &str, prefix: &str) -> String {
        self.report(course_id, prefix, "grade_report", AS_OF_STAMP)
    }

    /// The problem grade report of a course, at [`AS_OF_STAMP`].
    pub fn problem_report(&self, course_id: &str, prefix: &str) -> String {
        self.report(course_id, prefix, "problem_grade_report", AS_OF_STAMP)
    }

    pub fn manifest(&self) -> serde_json::Value {
        let text = fs::read_to_string(self.out.join("manifest.json")).expect("manifest.json");
        serde_json::from_str(&text).expect("manifest JSON")
    }

    /// Every output the manifest lists, as (path, SHA-1), in the manifest's order.
    pub fn output_sha1s(&self) -> Vec<(String, String)> {
        self.manifest()["outputs"]
            .as_array()
            .expect("outputs in the manifest")
            .iter()
            .map(|f| (f["path"].as_str().unwrap().to_string(), f["sha1"].as_str().unwrap().to_string()))
            .collect()
    }
}

pub fn sha1_hex(s: &str) -> String {
    Sha1::digest(s.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Cells from string slices.
pub fn cells(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// A row: the learner's identity cells, then `rest`.
pub fn learner_row(id: i64, rest: &[&str]) -> Vec<String> {
    let mut r = who(id);
    r.extend(cells(rest));
    r
}

/// A problem report row: identity, enrollment status, then `rest`.
pub fn problem_row(id: i64, rest: &[&str]) -> Vec<String> {
    learner_row(id, rest)
}

/// One record as Python's `csv.writer` (excel dialect, QUOTE_MINIMAL) writes it.
pub fn excel_line(fields: &[String]) -> String {
    let quoted: Vec<String> = fields
        .iter()
        .map(|f| {
            if f.contains([',', '"', '\r', '\n']) || (fields.len() == 1 && f.is_empty()) {
                format!("\"{}\"", f.replace('"', "\"\""))
            } else {
                f.clone()
            }
        })
        .collect();
    format!("{}\r\n", quoted.join(","))
}

/// Splits one CSV record (no embedded line breaks) into fields.
pub fn parse_line(line: &str) -> Vec<String> {
    let mut records = parse_records(&format!("{line}\r\n"));
    assert_eq!(records.len(), 1, "one record expected in {line:?}");
    records.remove(0)
}

/// Compares a report with the expected records: `\r\n` line ends, then every line cell by
/// cell (naming the column), then every line byte for byte (quoting), then the line count.
pub fn assert_csv(what: &str, actual: &str, expected: &[Vec<String>]) {
    assert!(actual.ends_with("\r\n"), "{what}: the file must end with \\r\\n:\n{actual}");
    assert!(
        !actual.replace("\r\n", "").contains(['\n', '\r']),
        "{what}: every line must end with \\r\\n (excel dialect):\n{actual:?}"
    );
    let lines: Vec<&str> = actual[..actual.len() - 2].split("\r\n").collect();
    let header = &expected[0];
    for (i, (line, want)) in lines.iter().zip(expected).enumerate() {
        let got = parse_line(line);
        let n = got.len().max(want.len());
        for j in 0..n {
            let column = header.get(j).map(String::as_str).unwrap_or("<past the header>");
            assert_eq!(
                got.get(j),
                want.get(j),
                "{what}: line {} (record {i}), cell {j} (column {column:?})\n got line: {line}\nwant line: {}",
                i + 1,
                excel_line(want).trim_end()
            );
        }
        assert_eq!(format!("{line}\r\n"), excel_line(want), "{what}: line {} quoted differently", i + 1);
    }
    assert_eq!(
        lines.len(),
        expected.len(),
        "{what}: {} lines, expected {} (header + rows):\n{actual}",
        lines.len(),
        expected.len()
    );
}

/// Splits a whole CSV text (excel dialect) into records: quoted fields may hold `\r` and
/// `\n`; every record ends with `\r\n`.
pub fn parse_records(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut cur = String::new();
    let mut chars = text.chars().peekable();
    let mut in_quotes = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        match (in_quotes, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            (true, '"') => in_quotes = false,
            (true, c) => cur.push(c),
            (false, '"') if cur.is_empty() && !was_quoted => {
                in_quotes = true;
                was_quoted = true;
            }
            (false, ',') => {
                record.push(std::mem::take(&mut cur));
                was_quoted = false;
            }
            (false, '\r') if chars.peek() == Some(&'\n') => {
                chars.next();
                record.push(std::mem::take(&mut cur));
                records.push(std::mem::take(&mut record));
                was_quoted = false;
            }
            (false, '\r' | '\n') => panic!("a line break outside quotes, not \\r\\n, in {text:?}"),
            (false, c) => cur.push(c),
        }
    }
    assert!(!in_quotes, "unterminated quote in {text:?}");
    assert!(cur.is_empty() && record.is_empty(), "the last record must end with \\r\\n: {text:?}");
    records
}

/// [`assert_csv`] for reports whose cells may hold `\r` or `\n` (quoted): every record cell
/// by cell (naming the column), the record count, then the whole file byte for byte.
pub fn assert_csv_records(what: &str, actual: &str, expected: &[Vec<String>]) {
    let got = parse_records(actual);
    let header = &expected[0];
    for (i, (g, w)) in got.iter().zip(expected).enumerate() {
        for j in 0..g.len().max(w.len()) {
            let column = header.get(j).map(String::as_str).unwrap_or("<past the header>");
            assert_eq!(
                g.get(j),
                w.get(j),
                "{what}: record {i}, cell {j} (column {column:?})\n got: {g:?}\nwant: {w:?}"
            );
        }
    }
    assert_eq!(
        got.len(),
        expected.len(),
        "{what}: {} records, expected {}:\n{actual:?}",
        got.len(),
        expected.len()
    );
    let want: String = expected.iter().map(|r| excel_line(r)).collect();
    assert_eq!(actual, want, "{what}: quoted differently");
}

/// Every row of the Parquet files under `dir` (recursively, in path order), as column -> cell.
pub fn read_parquet_rows(dir: &Path) -> Vec<BTreeMap<String, V>> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Float64Type, Int64Type, TimestampMicrosecondType};
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else { continue };
        for e in entries {
            let p = e.expect("dir entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut rows = Vec::new();
    for f in files {
        let file = fs::File::open(&f).expect("open parquet");
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .expect("parquet reader")
            .build()
            .expect("build reader");
        for batch in reader {
            let batch = batch.expect("batch");
            let schema = batch.schema();
            for i in 0..batch.num_rows() {
                let mut row = BTreeMap::new();
                for (c, field) in schema.fields().iter().enumerate() {
                    let a = batch.column(c);
                    let v = if a.is_null(i) {
                        V::Null
                    } else {
                        match a.data_type() {
                            DataType::Int64 => V::I(a.as_primitive::<Int64Type>().value(i)),
                            DataType::Float64 => V::F(a.as_primitive::<Float64Type>().value(i)),
                            DataType::Boolean => V::B(a.as_boolean().value(i)),
                            DataType::Utf8 => V::S(a.as_string::<i32>().value(i).to_string()),
                            // `course_id` is written dictionary-encoded.
                            DataType::Dictionary(..) => {
                                let s =
                                    arrow::compute::cast(a, &DataType::Utf8).expect("dictionary of strings");
                                V::S(s.as_string::<i32>().value(i).to_string())
                            }
                            DataType::Timestamp(TimeUnit::Microsecond, _) => {
                                V::T(a.as_primitive::<TimestampMicrosecondType>().value(i))
                            }
                            other => panic!("{}: unexpected type {other}", field.name()),
                        }
                    };
                    row.insert(field.name().clone(), v);
                }
                rows.push(row);
            }
        }
    }
    rows
}

/// `regrade generate` into `dir/in`: three courses of `learners` learners and `problems`
/// problems each, from `seed`.
pub fn generated(dir: &Path, seed: u64, learners: usize, problems: usize) -> std::path::PathBuf {
    let input = dir.join("in");
    let (seed, learners, problems) = (seed.to_string(), learners.to_string(), problems.to_string());
    let args = [input.to_str().unwrap(), "-q", "--seed", &seed, "--courses", "3", "--learners", &learners];
    let out = regrade("generate", &[&args[..], &["--problems-per-course", &problems]].concat());
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    input
}

/// A command's exit code, stdout and stderr.
pub struct Out {
    pub command: &'static str,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

pub fn regrade(command: &'static str, args: &[&str]) -> Out {
    regrade_env(command, args, &[])
}

/// [`regrade`] with environment variables set (test hooks).
pub fn regrade_env(command: &'static str, args: &[&str], env: &[(&str, &str)]) -> Out {
    let out = Command::new(env!("CARGO_BIN_EXE_regrade"))
        .arg(command)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run");
    Out {
        command,
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `check`, `scan`, `run` and `backfill` over the job's input (outputs under `out/<name>-*`).
pub fn every_command(job: &Job, name: &str) -> Vec<Out> {
    let input = job.input.to_str().expect("utf8");
    let out = |c: &str| job.output.join(format!("{name}-{c}")).to_str().expect("utf8").to_string();
    let (run_out, backfill_out) = (out("run"), out("backfill"));
    vec![
        regrade("check", &[input]),
        regrade("scan", &["--input", input]),
        regrade("run", &["--input", input, "--output", &run_out, "--as-of", AS_OF]),
        regrade("backfill", &["--input", input, "--output", &backfill_out, "--as-of", AS_OF]),
    ]
}

/// Every command exits 2 (unreadable input), no manifest, and its stderr has every needle.
pub fn assert_refused(job: &Job, name: &str, needles: &[&str]) {
    for out in every_command(job, name) {
        assert_eq!(out.code, Some(2), "{}: exit 2 expected\n{}{}", out.command, out.stdout, out.stderr);
        for n in needles {
            assert!(out.stderr.contains(n), "{}: stderr lacks {n:?}:\n{}", out.command, out.stderr);
        }
        assert!(!job.output.join(format!("{name}-{}/manifest.json", out.command)).exists());
    }
    let check = regrade("check", &[job.input.to_str().expect("utf8")]);
    let first = check.stderr.lines().find(|l| l.starts_with("error:")).unwrap_or_default();
    eprintln!("{name}: {first}");
}
