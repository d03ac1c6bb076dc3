//! The output tables of `regrade run`, built row by row as learners are graded:
//! `subsection_grades` and `course_grades` (schemas/output/), and the rows this run writes in
//! the shape the diff reads (`crate::compare`).

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Context, Result};
use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, RecordBatch, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::datatypes::SchemaRef;

use crate::grade::course::CourseGrade;
use crate::grade::subsection::PersistedValues;
use crate::py::time::Timestamp;
use crate::schema;

pub(crate) struct SubsectionRow<'a> {
    pub(crate) user_id: i64,
    pub(crate) usage_key: &'a str,
    pub(crate) course_version: &'a str,
    pub(crate) values: PersistedValues,
    pub(crate) percent_graded: Option<f64>,
    pub(crate) attempted_graded: Option<bool>,
    pub(crate) hash: &'a str,
    pub(crate) source: Option<&'static str>,
}

#[derive(Default)]
pub(crate) struct SubsectionColumns {
    user_id: Int64Builder,
    usage_key: StringBuilder,
    course_version: StringBuilder,
    earned_all: Float64Builder,
    possible_all: Float64Builder,
    earned_graded: Float64Builder,
    possible_graded: Float64Builder,
    percent_graded: Float64Builder,
    first_attempted: TimestampMicrosecondBuilder,
    attempted_graded: BooleanBuilder,
    hash: StringBuilder,
    source: StringBuilder,
    len: usize,
}

impl SubsectionColumns {
    /// Columns sized for `rows` rows whose usage keys take `key_bytes` bytes in all, so a
    /// chunk's columns are allocated once instead of doubling (and copying) as rows arrive.
    pub(crate) fn with_capacity(rows: usize, key_bytes: usize, version_len: usize) -> SubsectionColumns {
        let strings = |bytes| StringBuilder::with_capacity(rows, bytes);
        SubsectionColumns {
            user_id: Int64Builder::with_capacity(rows),
            usage_key: strings(key_bytes),
            course_version: strings(rows * version_len),
            earned_all: Float64Builder::with_capacity(rows),
            possible_all: Float64Builder::with_capacity(rows),
            earned_graded: Float64Builder::with_capacity(rows),
            possible_graded: Float64Builder::with_capacity(rows),
            percent_graded: Float64Builder::with_capacity(rows),
            first_attempted: TimestampMicrosecondBuilder::with_capacity(rows),
            attempted_graded: BooleanBuilder::with_capacity(rows),
            // A visible-blocks hash is 40 hex digits (or empty); a source at most 11 bytes.
            hash: strings(rows * 40),
            source: strings(rows * 11),
            len: 0,
        }
    }

    pub(crate) fn push(&mut self, r: SubsectionRow<'_>) {
        self.user_id.append_value(r.user_id);
        self.usage_key.append_value(r.usage_key);
        self.course_version.append_value(r.course_version);
        self.earned_all.append_value(r.values.earned_all);
        self.possible_all.append_value(r.values.possible_all);
        self.earned_graded.append_value(r.values.earned_graded);
        self.possible_graded.append_value(r.values.possible_graded);
        self.percent_graded.append_option(r.percent_graded);
        self.first_attempted.append_option(r.values.first_attempted);
        self.attempted_graded.append_option(r.attempted_graded);
        self.hash.append_value(r.hash);
        self.source.append_option(r.source);
        self.len += 1;
    }

    /// `full`: the `subsection_grades` output table; otherwise the written rows for the diff.
    pub(crate) fn finish(&mut self, course_id: &str, full: bool) -> Result<RecordBatch> {
        let n = self.len;
        let mut course = StringBuilder::with_capacity(n, n * course_id.len());
        (0..n).for_each(|_| course.append_value(course_id));
        let ts =
            |b: &mut TimestampMicrosecondBuilder| -> ArrayRef { Arc::new(b.finish().with_timezone("UTC")) };
        let mut cols: Vec<(&str, ArrayRef)> = vec![
            ("course_id", Arc::new(course.finish())),
            ("user_id", Arc::new(self.user_id.finish())),
            ("usage_key", Arc::new(self.usage_key.finish())),
            ("course_version", Arc::new(self.course_version.finish())),
            ("earned_all", Arc::new(self.earned_all.finish())),
            ("possible_all", Arc::new(self.possible_all.finish())),
            ("earned_graded", Arc::new(self.earned_graded.finish())),
            ("possible_graded", Arc::new(self.possible_graded.finish())),
        ];
        let percent: ArrayRef = Arc::new(self.percent_graded.finish());
        let first = ts(&mut self.first_attempted);
        let attempted: ArrayRef = Arc::new(self.attempted_graded.finish());
        let hash: ArrayRef = Arc::new(self.hash.finish());
        let source: ArrayRef = Arc::new(self.source.finish());
        if full {
            cols.extend([
                ("percent_graded", percent),
                ("first_attempted", first),
                ("attempted_graded", attempted),
                ("visible_blocks_hash", hash),
                ("source", source),
            ]);
            batch_for(schema::output("subsection_grades")?.arrow_schema(), cols)
        } else {
            cols.extend([("first_attempted", first), ("visible_blocks_hash", hash)]);
            batch_from(cols)
        }
    }
}

#[derive(Default)]
pub(crate) struct CourseColumns {
    user_id: Vec<i64>,
    course_version: Vec<String>,
    hash: Vec<String>,
    percent: Vec<f64>,
    raw: Vec<f64>,
    letter: Vec<String>,
    passed: Vec<bool>,
    passed_timestamp: Vec<Option<Timestamp>>,
}

impl CourseColumns {
    pub(crate) fn with_capacity(learners: usize) -> CourseColumns {
        CourseColumns {
            user_id: Vec::with_capacity(learners),
            course_version: Vec::with_capacity(learners),
            hash: Vec::with_capacity(learners),
            percent: Vec::with_capacity(learners),
            raw: Vec::with_capacity(learners),
            letter: Vec::with_capacity(learners),
            passed: Vec::with_capacity(learners),
            passed_timestamp: Vec::with_capacity(learners),
        }
    }

    pub(crate) fn push(
        &mut self,
        user_id: i64,
        version: &str,
        hash: &str,
        g: &CourseGrade,
        passed_at: Option<Timestamp>,
    ) {
        self.passed_timestamp.push(passed_at);
        self.user_id.push(user_id);
        self.course_version.push(version.to_string());
        self.hash.push(hash.to_string());
        self.percent.push(g.percent);
        self.raw.push(g.raw_percent);
        self.letter.push(g.letter_grade.clone().unwrap_or_default());
        self.passed.push(g.passed.unwrap_or(false));
    }

    /// The `course_grades` output table and the written rows in the diff's shape (passed by
    /// edX's read rule, a non-empty letter), sharing their common columns.
    pub(crate) fn finish(self, course_id: &str) -> Result<(RecordBatch, RecordBatch)> {
        use arrow::array::{BooleanArray, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray};
        let read_passed: ArrayRef =
            Arc::new(BooleanArray::from_iter(self.letter.iter().map(|l| Some(!l.is_empty()))));
        let course: ArrayRef =
            Arc::new(StringArray::from_iter_values(self.user_id.iter().map(|_| course_id)));
        let user: ArrayRef = Arc::new(Int64Array::from(self.user_id));
        let version: ArrayRef = Arc::new(StringArray::from_iter_values(self.course_version));
        let percent: ArrayRef = Arc::new(Float64Array::from(self.percent));
        let letter: ArrayRef = Arc::new(StringArray::from_iter_values(self.letter));
        let for_diff = batch_from(vec![
            ("user_id", user.clone()),
            ("course_version", version.clone()),
            ("percent_grade", percent.clone()),
            ("letter_grade", letter.clone()),
            ("passed", read_passed),
        ])?;
        let output = batch_for(
            schema::output("course_grades")?.arrow_schema(),
            vec![
                ("course_id", course),
                ("user_id", user),
                ("course_version", version),
                ("grading_policy_hash", Arc::new(StringArray::from_iter_values(self.hash))),
                ("percent_grade", percent),
                ("raw_percent", Arc::new(Float64Array::from(self.raw))),
                ("letter_grade", letter),
                ("passed", Arc::new(BooleanArray::from(self.passed))),
                (
                    "passed_timestamp",
                    Arc::new(TimestampMicrosecondArray::from(self.passed_timestamp).with_timezone("UTC")),
                ),
            ],
        )?;
        Ok((output, for_diff))
    }
}

pub(crate) fn batch_from(cols: Vec<(&str, ArrayRef)>) -> Result<RecordBatch> {
    Ok(RecordBatch::try_from_iter(cols.into_iter().map(|(n, a)| (n.to_string(), a)))?)
}

pub(crate) fn batch_for(schema: SchemaRef, cols: Vec<(&str, ArrayRef)>) -> Result<RecordBatch> {
    let by_name: HashMap<&str, ArrayRef> = cols.into_iter().collect();
    let arrays = schema
        .fields()
        .iter()
        .map(|f| by_name.get(f.name().as_str()).cloned().with_context(|| format!("no column {}", f.name())))
        .collect::<Result<Vec<_>>>()?;
    Ok(schema::record_batch(&schema, arrays)?)
}
