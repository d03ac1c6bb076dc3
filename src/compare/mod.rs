//! Recomputed grades against persisted ones: the `diffs/` output of the data contract.
//!
//! Pure: no I/O. The callers hand in the rows a run writes and the course's persisted rows
//! (`persistent_subsection_grades`, `persistent_course_grades`, as the reader normalised them) and
//! get back the batch of differences to write (`schemas/output/subsection_diffs.json`,
//! `schemas/output/course_grade_diffs.json`) and the counts of every kind of change for the
//! manifest, unchanged keys included.
//!
//! The relational work is a hash join that knows its keys: the persisted side is indexed by
//! `(user_id, usage_key)` (borrowed from the batches, nothing copied), every recomputed row
//! probes it, the keys left over are the persisted-only ones. The rows to write are sorted
//! by key and gathered column by column from the input arrays (Arrow's `interleave`), so
//! values are moved, never re-parsed or converted.
//!
//! # Rules
//!
//! * Subsections are keyed by `(user_id, usage_key)`. A key only recomputed is `new`; a key on
//!   both sides is `changed` when any of `course_version`, the four totals, `first_attempted` or
//!   `visible_blocks_hash` differ, else `unchanged`. A key only persisted is `orphaned` when its
//!   subsection is not in the graded course version, else `untouched` (the run did not regrade
//!   that learner there; edX's row stands). `unchanged` and `untouched` keys are counted, not
//!   written.
//! * Course grades are keyed by `user_id`: `new`, `orphaned` (only persisted), and for keys on
//!   both sides the first that applies of `now_passing` (persisted not passed, recomputed passed),
//!   `now_failing`, `letter_changed`, `changed` (`percent_grade` or `course_version` differ), else
//!   `unchanged`. A persisted grade is passed when its `letter_grade` is not empty: that is how
//!   edX reads a `PersistentCourseGrade` back (`passed=(row.letter_grade != '')`), whatever the
//!   cutoffs say.
//! * Values are compared exactly: floats by value (`0.1 + 0.2` differs from `0.3`; `0.0` equals
//!   `-0.0`, as MySQL stores them alike), and a null equals a null (`first_attempted`).
//! * A key present twice on one side is an error naming the course and the key: a diff over it
//!   would be meaningless.
//! * Output rows are sorted by the key, so the same inputs always give the same batch, and the
//!   batch is checked against its output schema before it is returned.

use std::collections::HashSet;

use std::sync::Arc;

use anyhow::{bail, Context, Result};
use arrow::array::{
    new_null_array, Array, ArrayRef, AsArray, BooleanArray, Int64Array, RecordBatch, StringArray,
};
use arrow::compute::interleave;
use arrow::datatypes::{DataType, Float64Type, Int64Type, TimestampMicrosecondType};
use serde::Serialize;

use crate::fxhash::FxHashMap;
use crate::read::tables::SUBSECTION_GRADE_VALUES as SUBSECTION_VALUES;
use crate::schema::{self, Schema};

/// The `change` values of the diff tables.
pub mod change {
    /// Recomputed, no persisted row.
    pub(crate) const NEW: &str = "new";
    /// On both sides, values differ (course grades: and no pass or letter change).
    pub(crate) const CHANGED: &str = "changed";
    /// Persisted, not recomputed (subsections: and absent from the graded course version).
    pub(crate) const ORPHANED: &str = "orphaned";
    /// Course grades: the letter differs, the passed state does not.
    pub(crate) const LETTER_CHANGED: &str = "letter_changed";
    /// Course grades: persisted not passed, recomputed passed.
    pub(crate) const NOW_PASSING: &str = "now_passing";
    /// Course grades: persisted passed, recomputed not passed.
    pub(crate) const NOW_FAILING: &str = "now_failing";
    /// On both sides and equal: counted, not written.
    pub(crate) const UNCHANGED: &str = "unchanged";
    /// Subsections: persisted only, in a subsection of the graded version: counted, not written.
    pub(crate) const UNTOUCHED: &str = "untouched";
}

/// How many keys fell into each kind of change. `changed` counts only plain `changed` rows;
/// `letter_changed`, `now_passing` and `now_failing` have their own fields.
#[derive(Default, Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct DiffCounts {
    pub new: u64,
    pub changed: u64,
    pub orphaned: u64,
    pub unchanged: u64,
    pub untouched: u64,
    pub letter_changed: u64,
    pub now_passing: u64,
    pub now_failing: u64,
}

impl DiffCounts {
    /// Add another set of counts to these (e.g. to total the courses of a run).
    pub fn add(&mut self, other: DiffCounts) {
        self.new += other.new;
        self.changed += other.changed;
        self.orphaned += other.orphaned;
        self.unchanged += other.unchanged;
        self.untouched += other.untouched;
        self.letter_changed += other.letter_changed;
        self.now_passing += other.now_passing;
        self.now_failing += other.now_failing;
    }

    fn count(&mut self, change: Change) {
        *match change {
            Change::New => &mut self.new,
            Change::Changed => &mut self.changed,
            Change::Orphaned => &mut self.orphaned,
            Change::Unchanged => &mut self.unchanged,
            Change::Untouched => &mut self.untouched,
            Change::LetterChanged => &mut self.letter_changed,
            Change::NowPassing => &mut self.now_passing,
            Change::NowFailing => &mut self.now_failing,
        } += 1;
    }
}

/// How one key compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Change {
    New,
    Changed,
    Orphaned,
    Unchanged,
    Untouched,
    LetterChanged,
    NowPassing,
    NowFailing,
}

impl Change {
    fn name(self) -> &'static str {
        match self {
            Change::New => change::NEW,
            Change::Changed => change::CHANGED,
            Change::Orphaned => change::ORPHANED,
            Change::Unchanged => change::UNCHANGED,
            Change::Untouched => change::UNTOUCHED,
            Change::LetterChanged => change::LETTER_CHANGED,
            Change::NowPassing => change::NOW_PASSING,
            Change::NowFailing => change::NOW_FAILING,
        }
    }

    /// Counted in the manifest only, not written.
    fn is_written(self) -> bool {
        !matches!(self, Change::Unchanged | Change::Untouched)
    }
}

/// Diff of the subsection grades a run writes for one course against the persisted ones.
///
/// `new_rows`: `user_id`, `usage_key`, `course_version`, `earned_all`, `possible_all`,
/// `earned_graded`, `possible_graded`, `first_attempted`, `visible_blocks_hash` with the types of
/// `schemas/output/subsection_grades.json` (extra columns ignored). `old`: the course's
/// `persistent_subsection_grades` batches as read. `version_subsections`: usage keys of the
/// subsections of the graded course version. Returns the `subsection_diffs` rows and the counts.
pub fn subsection_diffs(
    course_id: &str,
    new_rows: &RecordBatch,
    old: &[RecordBatch],
    version_subsections: &HashSet<String>,
) -> Result<(RecordBatch, DiffCounts)> {
    let columns: Vec<&str> = ["user_id", "usage_key"].iter().chain(SUBSECTION_VALUES).copied().collect();
    let new = side(
        course_id,
        "recomputed subsection grades",
        schema::output("subsection_grades")?,
        &columns,
        std::slice::from_ref(new_rows),
    )?;
    let old = side(
        course_id,
        "persisted subsection grades",
        schema::input("persistent_subsection_grades")?,
        &columns,
        old,
    )?;
    join(
        course_id,
        "subsection_diffs",
        ["recomputed subsection grades", "persisted subsection grades"],
        (&new, &old),
        true,
        SUBSECTION_VALUES,
        |values, new, old| if values.differ(new, old) { Change::Changed } else { Change::Unchanged },
        |(_, usage_key)| {
            if version_subsections.contains(usage_key) {
                Change::Untouched
            } else {
                Change::Orphaned
            }
        },
    )
}

/// Diff of the course grades a run writes for one course against the persisted ones.
///
/// `new_rows`: `user_id`, `course_version`, `percent_grade`, `letter_grade` (`""` for none),
/// `passed`, typed as in `schemas/output/course_grades.json` (extra columns ignored). `old`: the
/// course's `persistent_course_grades` batches as read. Returns the `course_grade_diffs` rows and
/// the counts.
pub fn course_grade_diffs(
    course_id: &str,
    new_rows: &RecordBatch,
    old: &[RecordBatch],
) -> Result<(RecordBatch, DiffCounts)> {
    let new = side(
        course_id,
        "recomputed course grades",
        schema::output("course_grades")?,
        &["user_id", "course_version", "percent_grade", "letter_grade", "passed"],
        std::slice::from_ref(new_rows),
    )?;
    let old = side(
        course_id,
        "persisted course grades",
        schema::input("persistent_course_grades")?,
        &["user_id", "course_version", "percent_grade", "letter_grade"],
        old,
    )?;
    // edX's read rule: a persisted grade is passed when it has a letter.
    let old = old
        .into_iter()
        .map(|b| {
            let letters = b.column(3).as_string::<i32>();
            let passed: BooleanArray = letters.iter().map(|l| Some(!l.unwrap_or("").is_empty())).collect();
            let mut cols = b.columns().to_vec();
            cols.push(Arc::new(passed));
            let mut fields: Vec<_> = b.schema().fields().iter().cloned().collect();
            fields.push(Arc::new(arrow::datatypes::Field::new("passed", DataType::Boolean, false)));
            Ok(RecordBatch::try_new(Arc::new(arrow::datatypes::Schema::new(fields)), cols)?)
        })
        .collect::<Result<Vec<_>>>()?;
    // Column 3 of both sides: `passed` (never null: checked on the new side, derived on the old).
    let passed = |sources: &[ArrayRef], (b, r): At| sources[b as usize].as_boolean().value(r as usize);
    join(
        course_id,
        "course_grade_diffs",
        ["recomputed course grades", "persisted course grades"],
        (&new, &old),
        false,
        &["course_version", "percent_grade", "letter_grade", "passed"],
        |values, new, old| {
            let new_passed = passed(&values.new[3], new);
            let old_passed = passed(&values.old[3], old);
            if !old_passed && new_passed {
                Change::NowPassing
            } else if old_passed && !new_passed {
                Change::NowFailing
            } else if values.column_differs(2, new, old) {
                Change::LetterChanged
            } else if values.column_differs(1, new, old) || values.column_differs(0, new, old) {
                Change::Changed
            } else {
                Change::Unchanged
            }
        },
        |_| Change::Orphaned,
    )
}

/// The full outer join of both sides on their key, every key classified and counted, the
/// written ones returned as `table`'s batch. `both` classifies a key on both sides, `old_only`
/// one only persisted; a key only recomputed is `new`. `what` names the sides in errors.
#[allow(clippy::too_many_arguments)]
fn join<'a>(
    course_id: &str,
    table: &str,
    what: [&str; 2],
    (new, old): (&'a [RecordBatch], &'a [RecordBatch]),
    usage: bool,
    names: &'a [&'a str],
    both: impl Fn(&Values<'a>, At, At) -> Change,
    old_only: impl Fn(Key<'a>) -> Change,
) -> Result<(RecordBatch, DiffCounts)> {
    let (new_keys, old_keys, names_of) = keys(new, old, usage);
    unique(course_id, what[0], &new_keys, usage.then_some(names_of.as_slice()))?;
    let mut index = unique(course_id, what[1], &old_keys, usage.then_some(names_of.as_slice()))?;
    let values = Values::new(new, old, names)?;

    let mut counts = DiffCounts::default();
    let mut rows: Vec<Row> = Vec::new();
    for (key, at) in new_keys.iter() {
        let old_at = index.remove(key);
        let change = match old_at {
            None => Change::New,
            Some(o) => both(&values, *at, o),
        };
        counts.count(change);
        if change.is_written() {
            rows.push(Row { key: *key, new: Some(*at), old: old_at, change });
        }
    }
    for (key, at) in old_keys.iter() {
        // Still indexed: only persisted (a key is indexed once, so each is seen once).
        if index.remove(key).is_none() {
            continue;
        }
        let change = old_only((key.0, names_of[key.1 as usize]));
        counts.count(change);
        if change.is_written() {
            rows.push(Row { key: *key, new: None, old: Some(*at), change });
        }
    }
    let batch = finish(course_id, table, rows, &values, &names_of)?;
    Ok((batch, counts))
}

/// Where a row is: (batch, row).
type At = (u32, u32);
/// A diff key: user id and usage key (`""` for course grades).
type Key<'a> = (i64, &'a str);
/// A diff key as joined: user id and the usage key's number among the distinct usage keys of
/// both sides, numbered in string order (so keys hash and compare as integers, in the order of
/// [`Key`]).
type NumKey = (i64, u32);
/// One side's keys, in input order, and where their rows are.
type SideKeys = Vec<(NumKey, At)>;

/// One key to write.
struct Row {
    key: NumKey,
    new: Option<At>,
    old: Option<At>,
    change: Change,
}

/// One side of a diff: the `columns` of every batch, checked against `table` (names, exact
/// canonical types, no nulls where the table allows none) and projected in that order.
fn side(
    course_id: &str,
    what: &str,
    table: &Schema,
    columns: &[&str],
    batches: &[RecordBatch],
) -> Result<Vec<RecordBatch>> {
    let canonical = table.project(columns)?;
    let mut out = Vec::with_capacity(batches.len());
    for (i, batch) in batches.iter().enumerate() {
        let label = format!("{what} of course {course_id}, batch {i}");
        schema::check_columns(table, &batch.schema(), &label, Some(columns))?;
        let indices = columns
            .iter()
            .map(|c| batch.schema().index_of(c).context("column checked above"))
            .collect::<Result<Vec<_>>>()?;
        let projected = batch.project(&indices)?;
        for (field, array) in canonical.fields().iter().zip(projected.columns()) {
            if array.data_type() != field.data_type() {
                bail!(
                    "{label}: column '{}' has type {}, expected {} (the reader normalises inputs to it)",
                    field.name(),
                    array.data_type(),
                    field.data_type()
                );
            }
        }
        schema::check_nulls(table, &projected, &label, 0)?;
        out.push(projected);
    }
    Ok(out)
}

/// Every row's key on each side, in input order (column 0 `user_id`, column 1 `usage_key` if
/// `usage`), with the usage keys numbered in string order, and those usage keys by number.
fn keys<'a>(
    new: &'a [RecordBatch],
    old: &'a [RecordBatch],
    usage: bool,
) -> (SideKeys, SideKeys, Vec<&'a str>) {
    // Numbered as first seen (a course has a few dozen usage keys: the map stays small).
    let mut numbers: FxHashMap<&'a str, u32> = FxHashMap::default();
    let mut names: Vec<&'a str> = Vec::new();
    let mut side = |batches: &'a [RecordBatch]| {
        let mut out = Vec::with_capacity(batches.iter().map(|b| b.num_rows()).sum());
        for (bi, b) in batches.iter().enumerate() {
            let users = b.column(0).as_primitive::<Int64Type>();
            let usage_keys = usage.then(|| b.column(1).as_string::<i32>());
            for r in 0..b.num_rows() {
                let k = usage_keys.map_or("", |u| u.value(r));
                let n = *numbers.entry(k).or_insert_with(|| {
                    names.push(k);
                    names.len() as u32 - 1
                });
                out.push(((users.value(r), n), (bi as u32, r as u32)));
            }
        }
        out
    };
    let (mut new_keys, mut old_keys) = (side(new), side(old));
    // Renumber in string order.
    let mut order: Vec<u32> = (0..names.len() as u32).collect();
    order.sort_unstable_by_key(|&n| names[n as usize]);
    let mut rank = vec![0u32; names.len()];
    for (r, &n) in order.iter().enumerate() {
        rank[n as usize] = r as u32;
    }
    for ((_, n), _) in new_keys.iter_mut().chain(old_keys.iter_mut()) {
        *n = rank[*n as usize];
    }
    let sorted = order.iter().map(|&n| names[n as usize]).collect();
    (new_keys, old_keys, sorted)
}

/// The keys indexed; fails, naming the course and the first duplicated key (in key order),
/// when a key occurs twice.
fn unique(
    course_id: &str,
    what: &str,
    keys: &[(NumKey, At)],
    usage_keys: Option<&[&str]>,
) -> Result<FxHashMap<NumKey, At>> {
    let mut index: FxHashMap<NumKey, At> =
        FxHashMap::with_capacity_and_hasher(keys.len(), Default::default());
    let mut dups: FxHashMap<NumKey, u64> = FxHashMap::default();
    for (k, at) in keys {
        if index.insert(*k, *at).is_some() {
            *dups.entry(*k).or_insert(1) += 1;
        }
    }
    if dups.is_empty() {
        return Ok(index);
    }
    let ((user, usage_key), rows) =
        dups.iter().min_by_key(|(k, _)| **k).map(|(k, n)| (*k, *n)).expect("non-empty");
    let mut shown = format!("user {user}");
    if let Some(names) = usage_keys {
        shown.push_str(&format!(", usage key {}", names[usage_key as usize]));
    }
    let others = match dups.len() - 1 {
        0 => String::new(),
        n => format!(" ({n} more duplicated key{})", if n == 1 { "" } else { "s" }),
    };
    bail!(
        "course {course_id}: {what} hold {rows} rows for {shown}{others}; each key must occur once \
         on each side of a diff"
    )
}

/// The value columns of both sides, by position in the value list: `new[v]` is the one new
/// batch's column, `old[v][b]` batch `b`'s.
struct Values<'a> {
    names: &'a [&'a str],
    new: Vec<Vec<ArrayRef>>,
    old: Vec<Vec<ArrayRef>>,
}

impl<'a> Values<'a> {
    fn new(new: &[RecordBatch], old: &[RecordBatch], names: &'a [&'a str]) -> Result<Self> {
        let pick = |batches: &[RecordBatch]| -> Result<Vec<Vec<ArrayRef>>> {
            names
                .iter()
                .map(|n| {
                    batches
                        .iter()
                        .map(|b| b.column_by_name(n).cloned().with_context(|| format!("diff: no column {n}")))
                        .collect()
                })
                .collect()
        };
        Ok(Self { names, new: pick(new)?, old: pick(old)? })
    }

    /// Whether value column `v` differs between the new row and the old row: floats by
    /// value (`0.0 == -0.0`), a null equal to a null.
    fn column_differs(&self, v: usize, new: At, old: At) -> bool {
        let a = self.new[v][new.0 as usize].as_ref();
        let b = self.old[v][old.0 as usize].as_ref();
        let (i, j) = (new.1 as usize, old.1 as usize);
        match (a.is_null(i), b.is_null(j)) {
            (true, true) => return false,
            (false, false) => {}
            _ => return true,
        }
        match a.data_type() {
            DataType::Utf8 => a.as_string::<i32>().value(i) != b.as_string::<i32>().value(j),
            DataType::Float64 => {
                a.as_primitive::<Float64Type>().value(i) != b.as_primitive::<Float64Type>().value(j)
            }
            DataType::Int64 => {
                a.as_primitive::<Int64Type>().value(i) != b.as_primitive::<Int64Type>().value(j)
            }
            DataType::Timestamp(..) => {
                a.as_primitive::<TimestampMicrosecondType>().value(i)
                    != b.as_primitive::<TimestampMicrosecondType>().value(j)
            }
            DataType::Boolean => a.as_boolean().value(i) != b.as_boolean().value(j),
            other => unreachable!("diff value column of type {other}: the schemas have none"),
        }
    }

    /// Whether any value column differs.
    fn differ(&self, new: At, old: At) -> bool {
        (0..self.names.len()).any(|v| self.column_differs(v, new, old))
    }

    /// `old_<name>` or `new_<name>` of the rows, null where that side is absent.
    fn gather(&self, v: usize, old: bool, rows: &[Row]) -> Result<ArrayRef> {
        let sources = if old { &self.old[v] } else { &self.new[v] };
        let data_type = match sources.first() {
            Some(a) => a.data_type().clone(),
            None => {
                let other = if old { &self.new[v] } else { &self.old[v] };
                other.first().map(|a| a.data_type().clone()).unwrap_or(DataType::Null)
            }
        };
        let null = new_null_array(&data_type, 1);
        let mut arrays: Vec<&dyn Array> = sources.iter().map(|a| a.as_ref()).collect();
        arrays.push(null.as_ref());
        let null_at = (arrays.len() - 1, 0);
        let indices: Vec<(usize, usize)> = rows
            .iter()
            .map(|r| match if old { r.old } else { r.new } {
                Some((b, i)) => (b as usize, i as usize),
                None => null_at,
            })
            .collect();
        Ok(interleave(&arrays, &indices)?)
    }
}

/// The written rows in key order, with the output table's columns, checked against its schema.
fn finish(
    course_id: &str,
    table: &str,
    mut rows: Vec<Row>,
    values: &Values<'_>,
    names: &[&str],
) -> Result<RecordBatch> {
    rows.sort_unstable_by_key(|r| r.key);
    let output = schema::output(table)?;
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(output.columns.len());
    for c in &output.columns {
        let name = c.name.as_str();
        let array: ArrayRef = match name {
            "course_id" => {
                Arc::new(StringArray::from_iter_values(std::iter::repeat_n(course_id, rows.len())))
            }
            "user_id" => Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.key.0))),
            "usage_key" => {
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| names[r.key.1 as usize])))
            }
            "change" => Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.change.name()))),
            _ => {
                let (old, value) = match (name.strip_prefix("old_"), name.strip_prefix("new_")) {
                    (Some(v), _) => (true, v),
                    (_, Some(v)) => (false, v),
                    _ => bail!("{table}: output column '{name}' is neither a key nor old_/new_ value"),
                };
                let v = values
                    .names
                    .iter()
                    .position(|n| *n == value)
                    .with_context(|| format!("{table}: no value column '{value}' to diff"))?;
                values.gather(v, old, &rows)?
            }
        };
        cols.push(array);
    }
    let batch = schema::record_batch(&output.arrow_schema(), cols)
        .with_context(|| format!("course {course_id}: building the {table} batch"))?;
    let label = format!("{table} of course {course_id}");
    schema::check(output, &batch.schema(), &label)?;
    schema::check_nulls(output, &batch, &label, 0)?;
    Ok(batch)
}
