//! Row-at-a-time builders for the generated tables, typed by the contract's schemas.
//!
//! The generator appends rows as slices of [`V`] values in the schema's column order; the
//! builder holds one Arrow builder per column with the canonical type of `schemas/input/`, so
//! what the generator writes is exactly what the reader normalises to.

use std::sync::Arc;

use anyhow::{bail, Result};
use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, ListBuilder, RecordBatch, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::datatypes::SchemaRef;

use crate::schema::{self, Family, Schema};

/// One cell value.
#[derive(Debug, Clone, Copy)]
pub enum V<'a> {
    Str(&'a str),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// Microseconds since the epoch, UTC.
    Ts(i64),
    List(&'a [String]),
    Null,
}

impl<'a> V<'a> {
    pub(crate) fn opt_str(v: Option<&'a str>) -> Self {
        v.map_or(V::Null, V::Str)
    }
    pub(crate) fn opt_float(v: Option<f64>) -> Self {
        v.map_or(V::Null, V::Float)
    }
    pub(crate) fn opt_int(v: Option<i64>) -> Self {
        v.map_or(V::Null, V::Int)
    }
    pub(crate) fn opt_bool(v: Option<bool>) -> Self {
        v.map_or(V::Null, V::Bool)
    }
    pub(crate) fn opt_ts(v: Option<i64>) -> Self {
        v.map_or(V::Null, V::Ts)
    }
}

enum Col {
    Str(StringBuilder),
    Int(Int64Builder),
    Float(Float64Builder),
    Bool(BooleanBuilder),
    Ts(TimestampMicrosecondBuilder),
    List(ListBuilder<StringBuilder>),
}

/// Builds record batches of one input table.
pub struct TableBuilder {
    pub schema: &'static Schema,
    arrow_schema: SchemaRef,
    cols: Vec<Col>,
    rows: usize,
}

impl TableBuilder {
    pub fn new(table: &str) -> Result<Self> {
        let schema = schema::input(table)?;
        let arrow_schema = schema.arrow_schema();
        let cols = schema
            .columns
            .iter()
            .map(|c| match c.family(schema.kind) {
                Family::String => Col::Str(StringBuilder::new()),
                Family::Int => Col::Int(Int64Builder::new()),
                Family::Float => Col::Float(Float64Builder::new()),
                Family::Bool => Col::Bool(BooleanBuilder::new()),
                Family::Timestamp => Col::Ts(TimestampMicrosecondBuilder::new().with_timezone("UTC")),
                Family::ListString => Col::List(ListBuilder::new(StringBuilder::new())),
            })
            .collect();
        Ok(Self { schema, arrow_schema, cols, rows: 0 })
    }

    pub fn arrow_schema(&self) -> &SchemaRef {
        &self.arrow_schema
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Append one row, values in the schema's column order.
    pub fn row(&mut self, values: &[V]) -> Result<()> {
        if values.len() != self.cols.len() {
            bail!(
                "{}: row has {} values, the table has {} columns",
                self.schema.table,
                values.len(),
                self.cols.len()
            );
        }
        for (i, (col, v)) in self.cols.iter_mut().zip(values).enumerate() {
            match (col, *v) {
                (Col::Str(b), V::Str(s)) => b.append_value(s),
                (Col::Str(b), V::Null) => b.append_null(),
                (Col::Int(b), V::Int(x)) => b.append_value(x),
                (Col::Int(b), V::Null) => b.append_null(),
                (Col::Float(b), V::Float(x)) => b.append_value(x),
                (Col::Float(b), V::Null) => b.append_null(),
                (Col::Bool(b), V::Bool(x)) => b.append_value(x),
                (Col::Bool(b), V::Null) => b.append_null(),
                (Col::Ts(b), V::Ts(x)) => b.append_value(x),
                (Col::Ts(b), V::Null) => b.append_null(),
                (Col::List(b), V::List(items)) => {
                    for item in items {
                        b.values().append_value(item);
                    }
                    b.append(true);
                }
                (Col::List(b), V::Null) => b.append(false),
                (_, v) => {
                    bail!("{}: column '{}' cannot hold {v:?}", self.schema.table, self.schema.columns[i].name)
                }
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// Append one row given by column name: `value` is asked for each column of the schema, in
    /// its order; a column it does not know is `V::Null`. (Importers build rows this way, so a
    /// column the schema gains is written when they know it.)
    pub fn row_by_name<'a>(&mut self, value: impl Fn(&str) -> V<'a>) -> Result<()> {
        let values: Vec<V<'a>> = self.schema.columns.iter().map(|c| value(&c.name)).collect();
        self.row(&values)
    }

    /// Take the rows appended so far as a batch (the builder is left empty).
    pub fn finish(&mut self) -> Result<RecordBatch> {
        let arrays: Vec<ArrayRef> = self
            .cols
            .iter_mut()
            .map(|c| -> ArrayRef {
                match c {
                    Col::Str(b) => Arc::new(b.finish()),
                    Col::Int(b) => Arc::new(b.finish()),
                    Col::Float(b) => Arc::new(b.finish()),
                    Col::Bool(b) => Arc::new(b.finish()),
                    Col::Ts(b) => Arc::new(b.finish()),
                    Col::List(b) => Arc::new(b.finish()),
                }
            })
            .collect();
        self.rows = 0;
        Ok(RecordBatch::try_new(self.arrow_schema.clone(), arrays)?)
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }
}
