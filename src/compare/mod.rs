//! Recomputed grades against persisted ones: the `diffs/` output of the data contract.
//!
//! Pure: no I/O. The callers hand in the rows a run writes and the course's persisted rows
//! (`persistent_subsection_grades`, `persistent_course_grades`, as the reader normalised them) and
//! get back the batch of differences to write (`schemas/output/subsection_diffs.json`,
//! `schemas/output/course_grade_diffs.json`) and the counts of every kind of change for the
//! manifest, unchanged keys included.
//!
//! The relational work (full outer join on the key, classification of each key, sort) is one
//! polars lazy plan per call. The inputs cross into polars through [`crate::frame`] once per batch
//! and the result crosses back once; nothing is done per row on the Rust side.
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

use anyhow::{bail, Context, Result};
use arrow::array::RecordBatch;
use polars::prelude::{
    coalesce, col, len, lit, when, DataFrame, DataType as PlType, Expr, IntoColumn, IntoLazy, JoinArgs,
    JoinType, LazyFrame, NamedFrom, Series, SortMultipleOptions,
};
use serde::Serialize;

use crate::frame::{batch_to_frame, frame_to_batch};
use crate::schema::{self, Schema};

/// The `change` values of the diff tables.
pub mod change {
    /// Recomputed, no persisted row.
    pub const NEW: &str = "new";
    /// On both sides, values differ (course grades: and no pass or letter change).
    pub const CHANGED: &str = "changed";
    /// Persisted, not recomputed (subsections: and absent from the graded course version).
    pub const ORPHANED: &str = "orphaned";
    /// Course grades: the letter differs, the passed state does not.
    pub const LETTER_CHANGED: &str = "letter_changed";
    /// Course grades: persisted not passed, recomputed passed.
    pub const NOW_PASSING: &str = "now_passing";
    /// Course grades: persisted passed, recomputed not passed.
    pub const NOW_FAILING: &str = "now_failing";
    /// On both sides and equal: counted, not written.
    pub const UNCHANGED: &str = "unchanged";
    /// Subsections: persisted only, in a subsection of the graded version: counted, not written.
    pub const UNTOUCHED: &str = "untouched";
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

    fn slot(&mut self, change: &str) -> Option<&mut u64> {
        Some(match change {
            change::NEW => &mut self.new,
            change::CHANGED => &mut self.changed,
            change::ORPHANED => &mut self.orphaned,
            change::UNCHANGED => &mut self.unchanged,
            change::UNTOUCHED => &mut self.untouched,
            change::LETTER_CHANGED => &mut self.letter_changed,
            change::NOW_PASSING => &mut self.now_passing,
            change::NOW_FAILING => &mut self.now_failing,
            _ => return None,
        })
    }
}

const SUBSECTION_KEY: &[&str] = &["user_id", "usage_key"];
const SUBSECTION_VALUES: &[&str] = &[
    "course_version",
    "earned_all",
    "possible_all",
    "earned_graded",
    "possible_graded",
    "first_attempted",
    "visible_blocks_hash",
];
const COURSE_KEY: &[&str] = &["user_id"];

// Marker columns: true on the side a key comes from, null after the outer join where it is absent.
const IN_NEW: &str = "_in_new";
const IN_OLD: &str = "_in_old";
const IN_VERSION: &str = "_in_version";
const CHANGE: &str = "change";
// Suffix of the old side's key columns in the full join, before they are merged.
const RIGHT: &str = "_right";

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
    let columns: Vec<&str> = SUBSECTION_KEY.iter().chain(SUBSECTION_VALUES).copied().collect();
    let new = side_frame(
        course_id,
        "recomputed subsection grades",
        schema::output("subsection_grades")?,
        &columns,
        std::slice::from_ref(new_rows),
    )?;
    let old = side_frame(
        course_id,
        "persisted subsection grades",
        schema::input("persistent_subsection_grades")?,
        &columns,
        old,
    )?;
    check_unique(course_id, "recomputed subsection grades", &new, SUBSECTION_KEY)?;
    check_unique(course_id, "persisted subsection grades", &old, SUBSECTION_KEY)?;

    let mut version: Vec<&str> = version_subsections.iter().map(String::as_str).collect();
    version.sort_unstable();
    let version =
        DataFrame::new(version.len(), vec![Series::new("usage_key".into(), version).into_column()])?
            .lazy()
            .with_column(lit(true).alias(IN_VERSION));

    let in_old = col(IN_OLD).is_not_null();
    let in_new = col(IN_NEW).is_not_null();
    let only_old = in_new.not();
    let change = when(in_old.not())
        .then(lit(change::NEW))
        .when(only_old.clone().and(col(IN_VERSION).is_null()))
        .then(lit(change::ORPHANED))
        .when(only_old)
        .then(lit(change::UNTOUCHED))
        .when(any_differs(SUBSECTION_VALUES))
        .then(lit(change::CHANGED))
        .otherwise(lit(change::UNCHANGED))
        .alias(CHANGE);

    let classified = full_join(
        side(new.lazy(), "new", SUBSECTION_KEY, SUBSECTION_VALUES, IN_NEW),
        side(old.lazy(), "old", SUBSECTION_KEY, SUBSECTION_VALUES, IN_OLD),
        SUBSECTION_KEY,
    )
    .left_join(version, col("usage_key"), col("usage_key"))
    .with_column(change)
    .collect()?;

    finish(course_id, "subsection_diffs", classified, SUBSECTION_KEY, &[change::UNCHANGED, change::UNTOUCHED])
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
    let new = side_frame(
        course_id,
        "recomputed course grades",
        schema::output("course_grades")?,
        &["user_id", "course_version", "percent_grade", "letter_grade", "passed"],
        std::slice::from_ref(new_rows),
    )?;
    let old = side_frame(
        course_id,
        "persisted course grades",
        schema::input("persistent_course_grades")?,
        &["user_id", "course_version", "percent_grade", "letter_grade"],
        old,
    )?;
    check_unique(course_id, "recomputed course grades", &new, COURSE_KEY)?;
    check_unique(course_id, "persisted course grades", &old, COURSE_KEY)?;

    // edX's read rule: a persisted grade is passed when it has a letter.
    let old = old.lazy().with_column(col("letter_grade").neq(lit("")).alias("passed"));
    let values = &["course_version", "percent_grade", "letter_grade", "passed"];

    let old_passed = col("old_passed");
    let new_passed = col("new_passed");
    let change = when(col(IN_OLD).is_null())
        .then(lit(change::NEW))
        .when(col(IN_NEW).is_null())
        .then(lit(change::ORPHANED))
        .when(old_passed.clone().not().and(new_passed.clone()))
        .then(lit(change::NOW_PASSING))
        .when(old_passed.and(new_passed.not()))
        .then(lit(change::NOW_FAILING))
        .when(any_differs(&["letter_grade"]))
        .then(lit(change::LETTER_CHANGED))
        .when(any_differs(&["percent_grade", "course_version"]))
        .then(lit(change::CHANGED))
        .otherwise(lit(change::UNCHANGED))
        .alias(CHANGE);

    let classified = full_join(
        side(new.lazy(), "new", COURSE_KEY, values, IN_NEW),
        side(old, "old", COURSE_KEY, values, IN_OLD),
        COURSE_KEY,
    )
    .with_column(change)
    .collect()?;

    finish(course_id, "course_grade_diffs", classified, COURSE_KEY, &[change::UNCHANGED])
}

/// One side of a diff as a polars frame: the `columns` of every batch, checked against `table`
/// (names, exact canonical types, no nulls where the table allows none), each batch crossing
/// into polars once. No batches give an empty frame of the right types.
fn side_frame(
    course_id: &str,
    what: &str,
    table: &Schema,
    columns: &[&str],
    batches: &[RecordBatch],
) -> Result<DataFrame> {
    let canonical = table.project(columns)?;
    let mut frame = batch_to_frame(&RecordBatch::new_empty(canonical.clone()))?;
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
        frame.vstack_mut_owned(batch_to_frame(&projected)?)?;
    }
    Ok(frame)
}

/// Fail, naming the course and the first duplicated key, when a key occurs twice on one side.
fn check_unique(course_id: &str, what: &str, frame: &DataFrame, key: &[&str]) -> Result<()> {
    let duplicates = frame
        .clone()
        .lazy()
        .group_by(key.iter().map(|k| col(*k)).collect::<Vec<_>>())
        .agg([len().cast(PlType::UInt64).alias("rows")])
        .filter(col("rows").gt(lit(1u64)))
        .sort(key.to_vec(), SortMultipleOptions::default())
        .collect()?;
    if duplicates.height() == 0 {
        return Ok(());
    }
    let user = duplicates.column("user_id")?.i64()?.get(0).context("user_id is never null")?;
    let mut shown = format!("user {user}");
    if let Ok(usage_key) = duplicates.column("usage_key") {
        let usage_key = usage_key.str()?.get(0).context("usage_key is never null")?;
        shown.push_str(&format!(", usage key {usage_key}"));
    }
    let rows = duplicates.column("rows")?.u64()?.get(0).unwrap_or(0);
    let others = match duplicates.height() - 1 {
        0 => String::new(),
        n => format!(" ({n} more duplicated key{})", if n == 1 { "" } else { "s" }),
    };
    bail!(
        "course {course_id}: {what} hold {rows} rows for {shown}{others}; each key must occur once \
         on each side of a diff"
    )
}

/// The key columns, then `<prefix>_<value>` for every value column, then a `true` marker.
fn side(frame: LazyFrame, prefix: &str, key: &[&str], values: &[&str], marker: &str) -> LazyFrame {
    let exprs: Vec<Expr> = key
        .iter()
        .map(|k| col(*k))
        .chain(values.iter().map(|v| col(*v).alias(format!("{prefix}_{v}"))))
        .chain([lit(true).alias(marker)])
        .collect();
    frame.select(exprs)
}

/// Full outer join on `key`, the key columns merged (the value columns are already prefixed).
///
/// Polars keeps both sides' key columns in a full join unless told to coalesce them, and the
/// `JoinCoalesce` setting is only exported with polars' `polars-ops` feature; merging them here
/// costs one expression per key column instead.
fn full_join(new: LazyFrame, old: LazyFrame, key: &[&str]) -> LazyFrame {
    let on: Vec<Expr> = key.iter().map(|k| col(*k)).collect();
    let args = JoinArgs::new(JoinType::Full).with_suffix(Some(RIGHT.into()));
    let merged: Vec<Expr> =
        key.iter().map(|k| coalesce(&[col(*k), col(format!("{k}{RIGHT}"))]).alias(*k)).collect();
    // The `<key>_right` columns stay; the output selects its columns by name.
    new.join(old, &on, &on, args).with_columns(merged)
}

/// True where any `old_<v>` differs from `new_<v>`, a null equal to a null.
fn any_differs(values: &[&str]) -> Expr {
    values
        .iter()
        .map(|v| col(format!("old_{v}")).eq_missing(col(format!("new_{v}"))).not())
        .reduce(|a, b| a.or(b))
        .expect("at least one value column")
}

/// Count the classified keys, keep the rows to write in key order with the output table's
/// columns, take them back to Arrow and check them against the output schema.
fn finish(
    course_id: &str,
    table: &str,
    classified: DataFrame,
    key: &[&str],
    not_written: &[&str],
) -> Result<(RecordBatch, DiffCounts)> {
    let counted = classified
        .clone()
        .lazy()
        .group_by([col(CHANGE)])
        .agg([len().cast(PlType::UInt64).alias("rows")])
        .collect()?;
    let mut counts = DiffCounts::default();
    for (change, rows) in counted.column(CHANGE)?.str()?.iter().zip(counted.column("rows")?.u64()?.iter()) {
        let change = change.context("every key is classified")?;
        let slot = counts.slot(change).with_context(|| format!("unknown change kind '{change}'"))?;
        *slot += rows.unwrap_or(0);
    }

    let output = schema::output(table)?;
    let written =
        not_written.iter().map(|c| col(CHANGE).neq(lit(*c))).reduce(|a, b| a.and(b)).unwrap_or(lit(true));
    let selected: Vec<Expr> = output
        .columns
        .iter()
        .map(|c| match c.name.as_str() {
            "course_id" => lit(course_id).alias("course_id"),
            name => col(name),
        })
        .collect();
    let rows = classified
        .lazy()
        .filter(written)
        .sort(key.to_vec(), SortMultipleOptions::default())
        .select(selected)
        .collect()?;

    let batch = frame_to_batch(&rows, &output.arrow_schema())
        .with_context(|| format!("course {course_id}: building the {table} batch"))?;
    let label = format!("{table} of course {course_id}");
    schema::check(output, &batch.schema(), &label)?;
    schema::check_nulls(output, &batch, &label, 0)?;
    Ok((batch, counts))
}
