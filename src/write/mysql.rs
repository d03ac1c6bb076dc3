//! Backfill files for edX's MySQL tables: CSV for `LOAD DATA` and an idempotent upsert script.
//!
//! Both are written from the `backfill_grades_*` batches (columns in MySQL's order), so they
//! hold exactly the values of the Parquet backfill files.
//!
//! # CSV (`LOAD DATA ... IGNORE`)
//! RFC 4180 with a header line: fields separated by `,`, lines ended by `\n`, every string
//! quoted with `"` (a `"` inside is doubled), and SQL NULL written as the bare word `NULL`.
//! With `FIELDS OPTIONALLY ENCLOSED BY '"' ESCAPED BY ''`, MySQL and MariaDB read a bare
//! `NULL` as NULL and a quoted `"NULL"` as the string, and nothing else is escaped, so
//! backslashes (the `\uXXXX` of `blocks_json`) load as written. `IGNORE` skips rows whose
//! unique key already exists: a load never changes an existing row, so loading twice is the
//! same as loading once.
//!
//! # SQL upsert
//! `INSERT ... ON DUPLICATE KEY UPDATE` in batches, as edX's `update_or_create` does: an
//! existing row takes the new values except `first_attempted` and `passed_timestamp`, which
//! are only filled when NULL (`COALESCE`), never overwritten or cleared. Visible blocks are
//! immutable (their key is their content's hash): a duplicate is left as it is.
//!
//! Values: floats are written as Python's shortest repr (round-trip exact; in SQL with an
//! exponent so they parse as doubles, not decimals), timestamps as
//! `YYYY-MM-DD HH:MM:SS.ffffff` (UTC, edX's `datetime(6)` columns), strings as UTF-8.
//! The script strips `NO_BACKSLASH_ESCAPES` from the session's `sql_mode`, so its
//! backslash escapes mean the same on every server.

use std::fmt::Write as _;

use anyhow::{bail, Context, Result};
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int32Type, Int64Type, TimeUnit, TimestampMicrosecondType};

use crate::py::fmt as pyfmt;

/// Rows per `INSERT` statement of the upsert script (well under `max_allowed_packet`).
pub(crate) const ROWS_PER_INSERT: usize = 500;

/// How an upsert treats an existing row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnDuplicate {
    /// Leave the existing row as it is (`grades_visibleblocks`).
    Keep,
    /// Take the new values, except these columns, filled only when NULL.
    Update { set_once: &'static [&'static str] },
}

/// The MySQL layout of one backfill table.
#[derive(Clone, Copy, Debug)]
pub struct MysqlTable {
    /// edX's table name.
    pub name: &'static str,
    /// The columns of the table's unique key (besides `id`).
    pub key: &'static [&'static str],
    /// Columns never written by an upsert (MySQL assigns `id`; `created` is kept).
    pub insert_only: &'static [&'static str],
    pub on_duplicate: OnDuplicate,
}

pub const VISIBLE_BLOCKS: MysqlTable = MysqlTable {
    name: "grades_visibleblocks",
    key: &["hashed"],
    insert_only: &["id"],
    on_duplicate: OnDuplicate::Keep,
};
pub const SUBSECTION_GRADES: MysqlTable = MysqlTable {
    name: "grades_persistentsubsectiongrade",
    key: &["course_id", "user_id", "usage_key"],
    insert_only: &["id", "created"],
    on_duplicate: OnDuplicate::Update { set_once: &["first_attempted"] },
};
pub const COURSE_GRADES: MysqlTable = MysqlTable {
    name: "grades_persistentcoursegrade",
    key: &["course_id", "user_id"],
    insert_only: &["id", "created"],
    on_duplicate: OnDuplicate::Update { set_once: &["passed_timestamp"] },
};

/// The tables in load order (grades reference visible blocks by hash).
pub const LOAD_ORDER: [MysqlTable; 3] = [VISIBLE_BLOCKS, SUBSECTION_GRADES, COURSE_GRADES];

fn timestamp(micros: i64) -> String {
    match chrono::DateTime::from_timestamp_micros(micros) {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
        None => micros.to_string(),
    }
}

/// Append one cell to `out`: its text, or the bare word `NULL`. `sql`: strings and timestamps
/// as SQL literals, floats with an exponent. Written in place (no string per cell): the apply
/// and backfill files have millions of cells.
fn push_cell(out: &mut String, batch: &RecordBatch, col: usize, row: usize, sql: bool) -> Result<()> {
    let array = batch.column(col);
    if array.is_null(row) {
        out.push_str("NULL");
        return Ok(());
    }
    let name = || batch.schema_ref().field(col).name().clone();
    match array.data_type() {
        DataType::Int64 => {
            let _ = write!(out, "{}", array.as_primitive::<Int64Type>().value(row));
        }
        DataType::Float64 => {
            let x = array.as_primitive::<Float64Type>().value(row);
            if !x.is_finite() {
                bail!("column {}, row {row}: {x} cannot be stored in a MySQL DOUBLE", name());
            }
            let start = out.len();
            pyfmt::push_repr(out, x);
            if sql && !out[start..].contains('e') {
                out.push_str("e0");
            }
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            let micros = array.as_primitive::<TimestampMicrosecondType>().value(row);
            if sql {
                out.push('\'');
            }
            match chrono::DateTime::from_timestamp_micros(micros) {
                Some(t) => {
                    let _ = write!(out, "{}", t.format("%Y-%m-%d %H:%M:%S%.6f"));
                }
                None => {
                    let _ = write!(out, "{micros}");
                }
            }
            if sql {
                out.push('\'');
            }
        }
        DataType::Utf8 => push_string(out, array.as_string::<i32>().value(row), sql),
        // `course_id`, written dictionary-encoded (`schema::DICTIONARY_UTF8`).
        DataType::Dictionary(k, v) if **k == DataType::Int32 && **v == DataType::Utf8 => {
            let dict = array.as_dictionary::<Int32Type>();
            let key = usize::try_from(dict.keys().value(row)).context("negative dictionary key")?;
            push_string(out, dict.values().as_string::<i32>().value(key), sql)
        }
        other => bail!("column {}: type {other} has no MySQL mapping here", name()),
    }
    Ok(())
}

fn push_string(out: &mut String, s: &str, sql: bool) {
    if sql {
        push_sql_string(out, s);
    } else {
        out.push('"');
        for c in s.chars() {
            if c == '"' {
                out.push('"');
            }
            out.push(c);
        }
        out.push('"');
    }
}

/// A SQL string literal with backslash escapes (the script turns `NO_BACKSLASH_ESCAPES` off).
fn sql_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_sql_string(&mut out, s);
    out
}

fn push_sql_string(out: &mut String, s: &str) {
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\0' => out.push_str("\\0"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\u{1a}' => out.push_str("\\Z"),
            c => out.push(c),
        }
    }
    out.push('\'');
}

/// The batch as a `LOAD DATA` CSV: a header of column names, then one line per row.
pub fn to_csv(batch: &RecordBatch) -> Result<String> {
    let mut out = csv_header(batch);
    csv_rows(batch, &mut out)?;
    Ok(out)
}

/// The header line of a batch's CSV.
pub(crate) fn csv_header(batch: &RecordBatch) -> String {
    let schema = batch.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    names.join(",") + "\n"
}

/// The batch's CSV lines, without the header, appended to `out` (a file written chunk after
/// chunk).
pub(crate) fn csv_rows(batch: &RecordBatch, out: &mut String) -> Result<()> {
    for row in 0..batch.num_rows() {
        for col in 0..batch.num_columns() {
            if col > 0 {
                out.push(',');
            }
            push_cell(out, batch, col, row, false)?;
        }
        out.push('\n');
    }
    Ok(())
}

/// The `LOAD DATA LOCAL INFILE` statement for one CSV file (`path` relative to where the
/// client runs), with the CSV's columns in order.
pub fn load_data_statement(table: &MysqlTable, path: &str, columns: &[&str]) -> String {
    load_data_into(table.name, path, columns)
}

/// [`load_data_statement`] into the table named `into` (a staging table).
pub fn load_data_into(into: &str, path: &str, columns: &[&str]) -> String {
    format!(
        "LOAD DATA LOCAL INFILE {} IGNORE INTO TABLE {} CHARACTER SET utf8mb4\n  FIELDS TERMINATED BY ',' \
         OPTIONALLY ENCLOSED BY '\"' ESCAPED BY ''\n  LINES TERMINATED BY '\\n' IGNORE 1 LINES\n  ({});\n",
        sql_string(path),
        into,
        columns.join(", ")
    )
}

/// Session set-up at the top of every script.
pub const SCRIPT_HEADER: &str = "SET NAMES utf8mb4;\n\
SET SESSION time_zone = '+00:00';\n\
SET SESSION sql_mode = REPLACE(@@SESSION.sql_mode, 'NO_BACKSLASH_ESCAPES', '');\n";

/// The upsert statements for one table's rows (empty when there are none).
pub(crate) fn upsert_sql(table: &MysqlTable, batch: &RecordBatch) -> Result<String> {
    let list = insert_columns(batch);
    let update = match table.on_duplicate {
        OnDuplicate::Keep => {
            let key = list.iter().find(|n| **n == "hashed").copied().unwrap_or(list[0]);
            format!("{key} = {key}")
        }
        OnDuplicate::Update { set_once } => list
            .iter()
            .filter(|n| !table.insert_only.contains(n))
            .map(|n| {
                if set_once.contains(n) {
                    format!("{n} = COALESCE({n}, VALUES({n}))")
                } else {
                    format!("{n} = VALUES({n})")
                }
            })
            .collect::<Vec<_>>()
            .join(",\n  "),
    };
    insert_statements(table.name, batch, &format!("\nON DUPLICATE KEY UPDATE\n  {update};\n"))
}

/// The batch's columns an insert names: all but `id`, which MySQL assigns.
fn insert_columns(batch: &RecordBatch) -> Vec<&str> {
    let schema = batch.schema_ref();
    schema.fields().iter().map(|f| f.name().as_str()).filter(|n| *n != "id").collect()
}

/// `INSERT INTO {into} (...) VALUES ...{end}`, `ROWS_PER_INSERT` rows a statement.
fn insert_statements(into: &str, batch: &RecordBatch, end: &str) -> Result<String> {
    let mut out = String::new();
    let mut inserts = Inserts::new(into, batch, end);
    inserts.rows(batch, &mut out)?;
    inserts.close(&mut out);
    Ok(out)
}

/// A batch's rows as SQL value tuples, `(v1, v2, ...)` each, `id` left out: the text and where
/// each row ends in it.
#[derive(Debug, Default)]
pub struct Tuples {
    text: String,
    ends: Vec<usize>,
}

impl Tuples {
    /// Render a batch's rows.
    pub fn of(batch: &RecordBatch) -> Result<Tuples> {
        let cols: Vec<usize> = batch
            .schema_ref()
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| f.name() != "id")
            .map(|(i, _)| i)
            .collect();
        let mut t = Tuples { text: String::new(), ends: Vec::with_capacity(batch.num_rows()) };
        for row in 0..batch.num_rows() {
            t.text.push('(');
            for (k, col) in cols.iter().enumerate() {
                if k > 0 {
                    t.text.push_str(", ");
                }
                push_cell(&mut t.text, batch, *col, row, true)?;
            }
            t.text.push(')');
            t.ends.push(t.text.len());
        }
        Ok(t)
    }
}

/// `INSERT INTO {into} (...) VALUES ...` statements written as rows come, batch after batch:
/// a statement holds [`ROWS_PER_INSERT`] rows whatever batches they came in (so a file written
/// chunk by chunk does not depend on the chunks), and the last is ended by [`Inserts::close`].
/// `id` is left out (MySQL assigns it).
pub struct Inserts {
    head: String,
    end: String,
    /// Rows in the open statement (0: none open).
    open: usize,
}

impl Inserts {
    /// Statements into `into` with `like`'s columns, each ended by `end` (`";\n"`, or an
    /// `ON DUPLICATE KEY UPDATE` clause and `;`).
    pub fn new(into: &str, like: &RecordBatch, end: &str) -> Inserts {
        Inserts {
            head: format!("INSERT INTO {into} ({}) VALUES\n", insert_columns(like).join(", ")),
            end: end.to_string(),
            open: 0,
        }
    }

    /// Append the batch's rows to `out`.
    pub fn rows(&mut self, batch: &RecordBatch, out: &mut String) -> Result<()> {
        let tuples = Tuples::of(batch)?;
        self.tuples(&tuples, out);
        Ok(())
    }

    /// Append rows rendered already ([`Tuples::of`], which can run elsewhere) to `out`.
    pub fn tuples(&mut self, tuples: &Tuples, out: &mut String) {
        let mut start = 0;
        for &end in &tuples.ends {
            if self.open == 0 {
                out.push_str(&self.head);
            } else {
                out.push_str(",\n");
            }
            out.push_str(&tuples.text[start..end]);
            start = end;
            self.open += 1;
            if self.open == ROWS_PER_INSERT {
                self.close(out);
            }
        }
    }

    /// End the open statement, if any.
    pub fn close(&mut self, out: &mut String) {
        if self.open > 0 {
            out.push_str(&self.end);
            self.open = 0;
        }
    }
}

/// The session's staging table for `table`'s rows of an apply: an empty temporary copy.
pub fn staging(table: &MysqlTable) -> String {
    format!("regrade_apply_{}", table.name)
}

/// Statements that (re)create the staging tables of every table, in load order.
pub fn staging_sql() -> String {
    let mut out = String::new();
    for t in LOAD_ORDER {
        let s = staging(&t);
        let _ =
            writeln!(out, "DROP TEMPORARY TABLE IF EXISTS {s};\nCREATE TEMPORARY TABLE {s} LIKE {};", t.name);
    }
    out
}

/// The session variable holding the export's snapshot time, which the merge compares
/// `modified` with.
pub const EXPORT_TIME_VARIABLE: &str = "@regrade_export_time";

/// `SET @regrade_export_time = '...';`
pub fn export_time_sql(micros: i64) -> String {
    format!("SET {EXPORT_TIME_VARIABLE} = '{}';\n", timestamp(micros))
}

/// Merge the staged rows of `table` (columns `columns`, in the staging table's order) into
/// edX's table, then show what happened. Visible blocks are inserted where their hash is new.
/// A grade row is inserted where its key is new; an existing row takes the staged values only
/// when its `modified` is not later than the export's snapshot time
/// ([`EXPORT_TIME_VARIABLE`]), so nothing edX wrote after the export is overwritten; set-once
/// columns are only filled when NULL, `created` is kept, and `modified` is assigned last (the
/// conditions read the row's own `modified`). The staged rows of an existing row that was
/// changed after the export (its `modified` later than the snapshot and not this apply's) are
/// counted first, and a final `SELECT` shows the count.
pub fn merge_sql(table: &MysqlTable, columns: &[&str]) -> String {
    let (t, s) = (table.name, staging(table));
    let list: Vec<&str> = columns.iter().copied().filter(|c| *c != "id").collect();
    let mut out = String::new();
    let _ = writeln!(out, "SELECT COUNT(*) INTO @regrade_staged FROM {s};");
    let update = match table.on_duplicate {
        OnDuplicate::Keep => {
            let _ = writeln!(out, "SET @regrade_skipped = 0;");
            let key = table.key[0];
            format!("{t}.{key} = {t}.{key}")
        }
        OnDuplicate::Update { set_once } => {
            let on: Vec<String> = table.key.iter().map(|k| format!("g.{k} = s.{k}")).collect();
            let _ = writeln!(
                out,
                "SELECT COUNT(*) INTO @regrade_skipped FROM {s} s JOIN {t} g ON {}\n  \
                 WHERE g.modified > {EXPORT_TIME_VARIABLE} AND g.modified <> s.modified;",
                on.join(" AND ")
            );
            let guard = format!("{t}.modified <= {EXPORT_TIME_VARIABLE}");
            let assign = |c: &str| {
                let new = if set_once.contains(&c) {
                    format!("COALESCE({t}.{c}, VALUES({c}))")
                } else {
                    format!("VALUES({c})")
                };
                format!("{t}.{c} = IF({guard}, {new}, {t}.{c})")
            };
            let mut sets: Vec<String> = list
                .iter()
                .filter(|c| !table.insert_only.contains(c) && !table.key.contains(c) && **c != "modified")
                .map(|c| assign(c))
                .collect();
            sets.push(assign("modified"));
            sets.join(",\n  ")
        }
    };
    let cols = list.join(", ");
    let _ = writeln!(
        out,
        "INSERT INTO {t} ({cols})\n  SELECT {cols} FROM {s}\nON DUPLICATE KEY UPDATE\n  {update};"
    );
    let _ = writeln!(
        out,
        "SELECT '{t}' AS edx_table, @regrade_staged AS rows_in_apply, \
         @regrade_skipped AS skipped_modified_after_export;"
    );
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Float64Array, Int64Array, StringArray, TimestampMicrosecondArray};

    use super::*;

    fn batch() -> RecordBatch {
        RecordBatch::try_from_iter([
            ("id", Arc::new(Int64Array::from(vec![None, Some(7)])) as _),
            ("name", Arc::new(StringArray::from(vec![Some("a \"q\" \\u00e9, é"), Some("NULL")])) as _),
            ("x", Arc::new(Float64Array::from(vec![0.1 + 0.2, 1e-5])) as _),
            (
                "first_attempted",
                Arc::new(TimestampMicrosecondArray::from(vec![Some(1_700_000_000_123_456), None])) as _,
            ),
        ])
        .unwrap()
    }

    #[test]
    fn csv_quotes_strings_and_writes_bare_null() {
        let csv = to_csv(&batch()).unwrap();
        assert_eq!(
            csv,
            "id,name,x,first_attempted\n\
             NULL,\"a \"\"q\"\" \\u00e9, é\",0.30000000000000004,2023-11-14 22:13:20.123456\n\
             7,\"NULL\",1e-05,NULL\n"
        );
    }

    #[test]
    fn upsert_keeps_set_once_columns_and_skips_id() {
        let table = MysqlTable {
            name: "t",
            key: &["name"],
            insert_only: &["id", "created"],
            on_duplicate: OnDuplicate::Update { set_once: &["first_attempted"] },
        };
        let sql = upsert_sql(&table, &batch()).unwrap();
        assert_eq!(
            sql,
            "INSERT INTO t (name, x, first_attempted) VALUES\n\
             ('a \"q\" \\\\u00e9, é', 0.30000000000000004e0, '2023-11-14 22:13:20.123456'),\n\
             ('NULL', 1e-05, NULL)\n\
             ON DUPLICATE KEY UPDATE\n  name = VALUES(name),\n  x = VALUES(x),\n  \
             first_attempted = COALESCE(first_attempted, VALUES(first_attempted));\n"
        );
    }

    #[test]
    fn non_finite_floats_are_refused_with_the_column() {
        let b =
            RecordBatch::try_from_iter([("earned_all", Arc::new(Float64Array::from(vec![f64::NAN])) as _)])
                .unwrap();
        let err = to_csv(&b).unwrap_err().to_string();
        assert!(err.contains("earned_all") && err.contains("row 0"), "{err}");
    }

    #[test]
    fn upserts_are_batched() {
        let n = ROWS_PER_INSERT + 3;
        let b = RecordBatch::try_from_iter([(
            "hashed",
            Arc::new(StringArray::from_iter_values((0..n).map(|i| i.to_string()))) as _,
        )])
        .unwrap();
        let sql = upsert_sql(&VISIBLE_BLOCKS, &b).unwrap();
        assert_eq!(sql.matches("INSERT INTO grades_visibleblocks").count(), 2);
        assert_eq!(sql.matches("ON DUPLICATE KEY UPDATE\n  hashed = hashed;").count(), 2);
    }
}
