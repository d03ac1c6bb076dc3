//! `impact.parquet`: the rows behind every chart, as `schemas/output/impact.json` describes
//! them, checked against that schema and written with the encoder of every other output.

use std::sync::Arc;

use anyhow::{Context, Result};
use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use bytes::Bytes;

use crate::schema;
use crate::write::encode;

/// One row of `impact.parquet` (see the schema for which chart fills which column).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row {
    pub comparison: &'static str,
    pub course_id: Option<String>,
    pub chart: &'static str,
    pub side: Option<&'static str>,
    pub label: Option<String>,
    pub to_label: Option<String>,
    pub usage_key: Option<String>,
    pub bin_lo: Option<f64>,
    pub bin_hi: Option<f64>,
    pub user_id: Option<i64>,
    pub username: Option<String>,
    pub before_value: Option<f64>,
    pub after_value: Option<f64>,
    pub count: i64,
    pub learners: Option<i64>,
    pub mean_change: Option<f64>,
}

impl Row {
    pub(crate) fn new(comparison: &'static str, course_id: Option<&str>, chart: &'static str) -> Row {
        Row { comparison, course_id: course_id.map(str::to_string), chart, ..Row::default() }
    }

    /// Bin `index` of bins `points` wide: its bounds as fractions (`index * points / 100`).
    pub(crate) fn with_bin(self, index: i64, points: i64) -> Row {
        let lo = (index * points) as f64 / 100.0;
        let hi = ((index + 1) * points) as f64 / 100.0;
        Row { bin_lo: Some(lo), bin_hi: Some(hi), ..self }
    }
}

/// Every row of a report (sorted into a stable order before it is written).
#[derive(Clone, Debug, Default)]
pub struct Rows(pub Vec<Row>);

impl Rows {
    pub(crate) fn push(&mut self, row: Row) {
        self.0.push(row);
    }

    pub(crate) fn extend(&mut self, other: Rows) {
        self.0.extend(other.0);
    }

    /// Sorted by comparison, course (all courses first), chart and the chart's keys, so the
    /// same run always gives the same file.
    pub(crate) fn sort(&mut self) {
        let key = |r: &Row| {
            (
                r.comparison,
                r.course_id.clone(),
                r.chart,
                r.side,
                r.label.clone(),
                r.to_label.clone(),
                r.usage_key.clone(),
                r.bin_lo.map(|b| (b * 100.0).round() as i64),
                r.user_id,
            )
        };
        self.0.sort_by_key(key);
    }

    /// Rows of one comparison, course (None: all courses) and chart.
    pub fn chart<'a>(
        &'a self,
        comparison: &'a str,
        course: Option<&'a str>,
        chart: &'a str,
    ) -> impl Iterator<Item = &'a Row> + 'a {
        self.0.iter().filter(move |r| {
            r.comparison == comparison && r.course_id.as_deref() == course && r.chart == chart
        })
    }

    /// A summary count (0 when absent).
    pub fn summary(&self, comparison: &str, course: Option<&str>, label: &str) -> i64 {
        self.chart(comparison, course, "summary")
            .find(|r| r.label.as_deref() == Some(label))
            .map_or(0, |r| r.count)
    }

    /// The rows as one batch of the `impact` output schema, checked against it.
    pub fn batch(&self) -> Result<RecordBatch> {
        let table = schema::output("impact")?;
        let arrow_schema = table.arrow_schema();
        let rows = &self.0;
        let text = |f: &dyn Fn(&Row) -> Option<&str>| -> ArrayRef {
            Arc::new(rows.iter().map(f).collect::<StringArray>())
        };
        let float = |f: &dyn Fn(&Row) -> Option<f64>| -> ArrayRef {
            Arc::new(rows.iter().map(f).collect::<Float64Array>())
        };
        let int = |f: &dyn Fn(&Row) -> Option<i64>| -> ArrayRef {
            Arc::new(rows.iter().map(f).collect::<Int64Array>())
        };
        let columns: Vec<ArrayRef> = arrow_schema
            .fields()
            .iter()
            .map(|field| match field.name().as_str() {
                "comparison" => Ok(text(&|r| Some(r.comparison))),
                "course_id" => Ok(text(&|r| r.course_id.as_deref())),
                "chart" => Ok(text(&|r| Some(r.chart))),
                "side" => Ok(text(&|r| r.side)),
                "label" => Ok(text(&|r| r.label.as_deref())),
                "to_label" => Ok(text(&|r| r.to_label.as_deref())),
                "usage_key" => Ok(text(&|r| r.usage_key.as_deref())),
                "bin_lo" => Ok(float(&|r| r.bin_lo)),
                "bin_hi" => Ok(float(&|r| r.bin_hi)),
                "user_id" => Ok(int(&|r| r.user_id)),
                "username" => Ok(text(&|r| r.username.as_deref())),
                "before_value" => Ok(float(&|r| r.before_value)),
                "after_value" => Ok(float(&|r| r.after_value)),
                "count" => Ok(int(&|r| Some(r.count))),
                "learners" => Ok(int(&|r| r.learners)),
                "mean_change" => Ok(float(&|r| r.mean_change)),
                other => anyhow::bail!("schemas/output/impact.json: column '{other}' has no value in Row"),
            })
            .collect::<Result<_>>()?;
        let batch = schema::record_batch(&arrow_schema, columns)?;
        schema::check(table, &batch.schema(), "impact.parquet")?;
        schema::check_nulls(table, &batch, "impact.parquet", 0)?;
        Ok(batch)
    }

    /// The rows as the bytes of `impact.parquet`.
    pub fn parquet(&self) -> Result<Bytes> {
        let batch = self.batch()?;
        encode(&batch.schema(), std::slice::from_ref(&batch)).context("encoding impact.parquet")
    }
}
