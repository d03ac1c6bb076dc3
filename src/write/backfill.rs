//! The backfill's tables, in the exact column layout of edX's MySQL tables
//! (`grades_visibleblocks`, `grades_persistentsubsectiongrade`,
//! `grades_persistentcoursegrade`; schemas/output/backfill_*.json), built row by row.

use std::sync::Arc;

use anyhow::Result;
use arrow::array::{
    ArrayRef, Float64Builder, Int64Array, Int64Builder, RecordBatch, StringArray, StringBuilder,
    TimestampMicrosecondArray, TimestampMicrosecondBuilder,
};

use super::grades::batch_for;
use crate::grade::subsection::PersistedValues;
use crate::py::time::Timestamp;
use crate::schema;

pub(crate) fn constant_str(n: usize, value: &str) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(std::iter::repeat_n(value, n)))
}

pub(crate) fn constant_ts(n: usize, value: Option<Timestamp>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from(vec![value; n]).with_timezone("UTC"))
}

pub(crate) fn null_ids(n: usize) -> ArrayRef {
    Arc::new(Int64Array::from(vec![None; n]))
}

#[derive(Default)]
pub(crate) struct VisibleBlocksColumns {
    blocks_json: StringBuilder,
    hashed: StringBuilder,
    len: usize,
}

impl VisibleBlocksColumns {
    /// Rows pushed so far.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn push(&mut self, json: &str, hash: &str) {
        self.blocks_json.append_value(json);
        self.hashed.append_value(hash);
        self.len += 1;
    }

    pub(crate) fn finish(mut self, course_id: &str) -> Result<RecordBatch> {
        let n = self.len;
        batch_for(
            schema::output("backfill_grades_visibleblocks")?.arrow_schema(),
            vec![
                ("id", null_ids(n)),
                ("blocks_json", Arc::new(self.blocks_json.finish())),
                ("hashed", Arc::new(self.hashed.finish())),
                ("course_id", constant_str(n, course_id)),
            ],
        )
    }
}

#[derive(Default)]
pub(crate) struct SubsectionColumns {
    user_id: Int64Builder,
    usage_key: StringBuilder,
    subtree_edited: TimestampMicrosecondBuilder,
    course_version: StringBuilder,
    earned_all: Float64Builder,
    possible_all: Float64Builder,
    earned_graded: Float64Builder,
    possible_graded: Float64Builder,
    first_attempted: TimestampMicrosecondBuilder,
    hash: StringBuilder,
    len: usize,
}

impl SubsectionColumns {
    /// Rows pushed so far.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn push(
        &mut self,
        user_id: i64,
        usage_key: &str,
        edited: Option<Timestamp>,
        version: &str,
        row: &PersistedValues,
        hash: &str,
    ) {
        self.user_id.append_value(user_id);
        self.usage_key.append_value(usage_key);
        self.subtree_edited.append_option(edited);
        self.course_version.append_value(version);
        self.earned_all.append_value(row.earned_all);
        self.possible_all.append_value(row.possible_all);
        self.earned_graded.append_value(row.earned_graded);
        self.possible_graded.append_value(row.possible_graded);
        self.first_attempted.append_option(row.first_attempted);
        self.hash.append_value(hash);
        self.len += 1;
    }

    pub(crate) fn finish(mut self, course_id: &str, now: Timestamp) -> Result<RecordBatch> {
        let n = self.len;
        let ts =
            |b: &mut TimestampMicrosecondBuilder| -> ArrayRef { Arc::new(b.finish().with_timezone("UTC")) };
        batch_for(
            schema::output("backfill_grades_persistentsubsectiongrade")?.arrow_schema(),
            vec![
                ("id", null_ids(n)),
                ("created", constant_ts(n, Some(now))),
                ("modified", constant_ts(n, Some(now))),
                ("user_id", Arc::new(self.user_id.finish())),
                ("course_id", constant_str(n, course_id)),
                ("usage_key", Arc::new(self.usage_key.finish())),
                ("subtree_edited_timestamp", ts(&mut self.subtree_edited)),
                ("course_version", Arc::new(self.course_version.finish())),
                ("earned_all", Arc::new(self.earned_all.finish())),
                ("possible_all", Arc::new(self.possible_all.finish())),
                ("earned_graded", Arc::new(self.earned_graded.finish())),
                ("possible_graded", Arc::new(self.possible_graded.finish())),
                ("first_attempted", ts(&mut self.first_attempted)),
                ("visible_blocks_hash", Arc::new(self.hash.finish())),
            ],
        )
    }
}

#[derive(Default)]
pub(crate) struct CourseColumns {
    user_id: Vec<i64>,
    percent: Vec<f64>,
    letter: Vec<String>,
    passed_at: Vec<Option<Timestamp>>,
}

impl CourseColumns {
    /// Rows pushed so far.
    pub(crate) fn len(&self) -> usize {
        self.user_id.len()
    }

    pub(crate) fn push(&mut self, user_id: i64, percent: f64, letter: String, passed_at: Option<Timestamp>) {
        self.user_id.push(user_id);
        self.percent.push(percent);
        self.letter.push(letter);
        self.passed_at.push(passed_at);
    }

    pub(crate) fn finish(
        self,
        course_id: &str,
        version: &str,
        policy_hash: &str,
        edited: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<RecordBatch> {
        use arrow::array::Float64Array;
        let n = self.user_id.len();
        batch_for(
            schema::output("backfill_grades_persistentcoursegrade")?.arrow_schema(),
            vec![
                ("id", null_ids(n)),
                ("created", constant_ts(n, Some(now))),
                ("modified", constant_ts(n, Some(now))),
                ("user_id", Arc::new(Int64Array::from(self.user_id))),
                ("course_id", constant_str(n, course_id)),
                ("course_edited_timestamp", constant_ts(n, edited)),
                ("course_version", constant_str(n, version)),
                ("grading_policy_hash", constant_str(n, policy_hash)),
                ("percent_grade", Arc::new(Float64Array::from(self.percent))),
                ("letter_grade", Arc::new(StringArray::from_iter_values(self.letter))),
                (
                    "passed_timestamp",
                    Arc::new(TimestampMicrosecondArray::from(self.passed_at).with_timezone("UTC")),
                ),
            ],
        )
    }
}
