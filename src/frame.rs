//! Zero-copy bridge between arrow-rs [`RecordBatch`]es and polars [`DataFrame`]s.
//!
//! # Why it exists
//!
//! regrade's I/O (Parquet, object stores) and its grading kernels speak arrow-rs. The diff step
//! ([`crate::compare`]) is relational work (full outer join, classification, sort) and is written
//! as a polars lazy plan. Polars does not use arrow-rs: it has its own Arrow implementation
//! (`polars-arrow`), and its arrow-rs conversion feature was removed. The two meet here, through
//! the [Arrow C data interface](https://arrow.apache.org/docs/format/CDataInterface.html): one side
//! exports a column as the C structs `ArrowArray` + `ArrowSchema`, the other imports them. The
//! buffers are shared, not copied; the structs carry the exporter's release callback, so memory is
//! freed by whichever side drops its last reference. Both libraries define the two structs as
//! `#[repr(C)]` mirrors of the C header, so handing one over is a move of the struct
//! (`std::mem::transmute`, which also checks at compile time that the sizes agree).
//!
//! A batch crosses once, column by column; nothing here ever works per row.
//!
//! # Types
//!
//! * `Int64`, `Float64`, `Boolean`: zero-copy both ways.
//! * Strings: `Utf8`, `LargeUtf8` and `Utf8View` go in (polars keeps strings as views and
//!   converts offset-based strings to its layout when it adopts the array). Polars hands strings
//!   back as `Utf8View`; [`frame_to_batch`] casts them to the `Utf8` the contract's schemas use
//!   (that cast copies the string bytes, once per column).
//! * `Timestamp(Microsecond, tz)` crosses **as `Int64`** (the same buffer, re-typed on the
//!   arrow-rs side) and is re-typed to the target schema's timestamp on the way back. The diff
//!   only compares timestamps for equality, for which the raw microseconds are exact. Letting
//!   polars see a `Datetime` would need its `dtype-datetime` feature, which turns on the
//!   `temporal` code of polars-core, polars-ops and polars-lazy (more compile time for code we
//!   would never call), and polars would then apply its own time-zone canonicalisation (with
//!   `timezones`: validation and renaming of offsets) next to the reader's normalisation. As
//!   `Int64` the values cannot be reinterpreted on the way, and the re-typing is free.
//!
//! Anything else is refused with the column's name. On the way back, the target Arrow schema
//! decides the columns (by name, in its order) and their types; `RecordBatch::try_new` then
//! enforces the schema's nullability.

use std::mem;

use anyhow::{anyhow, bail, Context, Result};
use arrow::array::{make_array, new_empty_array, new_null_array, Array, ArrayRef, RecordBatch};
use arrow::array::{RecordBatchOptions, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use arrow::ffi::{from_ffi, to_ffi, FFI_ArrowArray, FFI_ArrowSchema};
use polars::prelude::{Column, CompatLevel, DataFrame, PlSmallStr, Series};
use polars_arrow::ffi as pl_ffi;

/// Turn a batch into a polars frame with the same column names, sharing its buffers.
///
/// Timestamps become `Int64` columns (microseconds since the epoch); see the module doc.
pub fn batch_to_frame(batch: &RecordBatch) -> Result<DataFrame> {
    let schema = batch.schema();
    let columns = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(field, array)| {
            let array = crossing_array(field.name(), array)?;
            let series = import_into_polars(field.name(), &array)
                .with_context(|| format!("column '{}': handing it to polars failed", field.name()))?;
            Ok(Column::from(series))
        })
        .collect::<Result<Vec<_>>>()?;
    DataFrame::new(batch.num_rows(), columns).map_err(|e| anyhow!("building a polars frame: {e}"))
}

/// Turn a polars frame into a batch of `schema`: its columns are taken by name, in the schema's
/// order, and given the schema's types (strings cast to `Utf8`, `Int64` re-typed to the
/// schema's timestamp). Extra frame columns are ignored; a missing one is an error.
pub fn frame_to_batch(df: &DataFrame, schema: &SchemaRef) -> Result<RecordBatch> {
    let columns = schema
        .fields()
        .iter()
        .map(|field| {
            let name = field.name();
            let column =
                df.column(name).map_err(|_| anyhow!("column '{name}' is missing from the polars frame"))?;
            if column.is_empty() {
                return Ok(new_empty_array(field.data_type()));
            }
            let array = export_from_polars(name, column.clone().rechunk_to_arrow(CompatLevel::newest()))
                .with_context(|| format!("column '{name}': taking it back from polars failed"))?;
            retype(name, array, field.data_type())
        })
        .collect::<Result<Vec<_>>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(df.height()));
    RecordBatch::try_new_with_options(schema.clone(), columns, &options)
        .context("the frame does not fit the target schema")
}

/// The array as it crosses: the supported types as they are, timestamps as `Int64`.
fn crossing_array(name: &str, array: &ArrayRef) -> Result<ArrayRef> {
    match array.data_type() {
        DataType::Int64
        | DataType::Float64
        | DataType::Boolean
        | DataType::Utf8
        | DataType::LargeUtf8
        | DataType::Utf8View => Ok(array.clone()),
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            let data = array.to_data().into_builder().data_type(DataType::Int64).build()?;
            Ok(make_array(data))
        }
        other => bail!(
            "column '{name}' has type {other}, which the polars bridge does not carry \
             (Int64, Float64, Boolean, Utf8/LargeUtf8/Utf8View, Timestamp(Microsecond, _))"
        ),
    }
}

fn import_into_polars(name: &str, array: &ArrayRef) -> Result<Series> {
    let (ffi_array, ffi_schema) = to_ffi(&array.to_data())?;
    // SAFETY: arrow-rs' FFI_ArrowArray / FFI_ArrowSchema and polars-arrow's ArrowArray /
    // ArrowSchema are all `#[repr(C)]` definitions of the C data interface's structs (transmute
    // checks the sizes). Moving them hands over the release callback, so it runs exactly once,
    // when polars drops the imported buffers.
    let (pl_array, pl_schema) = unsafe {
        (
            mem::transmute::<FFI_ArrowArray, pl_ffi::ArrowArray>(ffi_array),
            mem::transmute::<FFI_ArrowSchema, pl_ffi::ArrowSchema>(ffi_schema),
        )
    };
    // SAFETY: both structs were just produced by arrow-rs' exporter from valid array data.
    let imported = unsafe {
        let field = pl_ffi::import_field_from_c(&pl_schema)?;
        pl_ffi::import_array_from_c(pl_array, field.dtype().clone())?
    };
    Ok(Series::from_arrow(PlSmallStr::from(name), imported)?)
}

fn export_from_polars(name: &str, array: Box<dyn polars_arrow::array::Array>) -> Result<ArrayRef> {
    let field = polars_arrow::datatypes::Field::new(PlSmallStr::from(name), array.dtype().clone(), true);
    let pl_schema = pl_ffi::export_field_to_c(&field);
    let pl_array = pl_ffi::export_array_to_c(array);
    // SAFETY: as in `import_into_polars`, the other way round; arrow-rs now owns the release
    // callbacks, and the structs come from polars' exporter.
    let data = unsafe {
        let ffi_array = mem::transmute::<pl_ffi::ArrowArray, FFI_ArrowArray>(pl_array);
        let ffi_schema = mem::transmute::<pl_ffi::ArrowSchema, FFI_ArrowSchema>(pl_schema);
        from_ffi(ffi_array, &ffi_schema)?
    };
    Ok(make_array(data))
}

/// Give an array that came back from polars the target type.
fn retype(name: &str, array: ArrayRef, target: &DataType) -> Result<ArrayRef> {
    let found = array.data_type().clone();
    match (&found, target) {
        (f, t) if f == t => Ok(array),
        // Only nulls: polars may not know a type for them.
        (DataType::Null, t) => Ok(new_null_array(t, array.len())),
        (DataType::Int64, DataType::Timestamp(TimeUnit::Microsecond, _)) => {
            Ok(make_array(array.to_data().into_builder().data_type(target.clone()).build()?))
        }
        (DataType::Utf8View | DataType::LargeUtf8, DataType::Utf8) => {
            let strings = cast(&array, target)?;
            debug_assert!(strings.as_any().is::<StringArray>());
            Ok(strings)
        }
        _ => bail!("column '{name}': polars gave {found}, the target schema wants {target}"),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{BooleanArray, Float64Array, Int64Array, LargeStringArray, StringViewArray};
    use arrow::array::{Int32Array, TimestampMicrosecondArray};
    use arrow::datatypes::{Field, Schema};
    use polars::prelude::DataType as PlType;

    use super::*;

    fn ts_type() -> DataType {
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
    }

    fn sample() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("user_id", DataType::Int64, false),
            Field::new("score", DataType::Float64, true),
            Field::new("key", DataType::Utf8, true),
            Field::new("passed", DataType::Boolean, true),
            Field::new("at", ts_type(), true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![3, -1, i64::MAX, 0])),
                Arc::new(Float64Array::from(vec![Some(0.1 + 0.2), None, Some(-0.0), Some(f64::MAX)])),
                Arc::new(StringArray::from(vec![Some("block-v1:a"), Some(""), None, Some("é ünïcode")])),
                Arc::new(BooleanArray::from(vec![Some(true), None, Some(false), Some(true)])),
                Arc::new(
                    TimestampMicrosecondArray::from(vec![
                        Some(1_700_000_000_123_456),
                        None,
                        Some(-1),
                        Some(0),
                    ])
                    .with_timezone("UTC"),
                ),
            ],
        )
        .unwrap()
    }

    #[test]
    fn round_trip_keeps_values_and_nulls() {
        let batch = sample();
        let df = batch_to_frame(&batch).unwrap();
        assert_eq!(df.height(), 4);
        assert_eq!(df.column("user_id").unwrap().null_count(), 0);
        assert_eq!(df.column("score").unwrap().null_count(), 1);
        assert_eq!(df.column("key").unwrap().null_count(), 1);
        assert_eq!(df.column("passed").unwrap().null_count(), 1);
        assert_eq!(df.column("at").unwrap().null_count(), 1);
        let back = frame_to_batch(&df, &batch.schema()).unwrap();
        assert_eq!(back, batch);
        // Exact float bits survive, including -0.0.
        let score = back.column(1).as_any().downcast_ref::<Float64Array>().unwrap();
        assert_eq!(score.value(0).to_bits(), (0.1f64 + 0.2).to_bits());
        assert_eq!(score.value(2).to_bits(), (-0.0f64).to_bits());
    }

    #[test]
    fn polars_sees_the_expected_types_and_values() {
        let df = batch_to_frame(&sample()).unwrap();
        let dtypes: Vec<PlType> = df.columns().iter().map(|c| c.dtype().clone()).collect();
        assert_eq!(
            dtypes,
            vec![PlType::Int64, PlType::Float64, PlType::String, PlType::Boolean, PlType::Int64]
        );
        let keys = df.column("key").unwrap().str().unwrap();
        assert_eq!(keys.get(3), Some("é ünïcode"));
        assert_eq!(keys.get(2), None);
        let at = df.column("at").unwrap().i64().unwrap();
        assert_eq!(at.get(0), Some(1_700_000_000_123_456));
        assert_eq!(at.get(1), None);
    }

    #[test]
    fn numeric_buffers_are_shared_not_copied() {
        let batch = sample();
        let df = batch_to_frame(&batch).unwrap();
        let ids = df.column("user_id").unwrap().i64().unwrap();
        let polars_ptr = ids.downcast_iter().next().unwrap().values().as_ptr();
        let arrow_ptr = batch.column(0).as_any().downcast_ref::<Int64Array>().unwrap().values().as_ptr();
        assert_eq!(polars_ptr, arrow_ptr);
        // And back: the Int64 values buffer polars hands out is the one arrow-rs reads.
        let back = frame_to_batch(&df, &batch.schema()).unwrap();
        let back_ptr = back.column(0).as_any().downcast_ref::<Int64Array>().unwrap().values().as_ptr();
        assert_eq!(back_ptr, arrow_ptr);
    }

    #[test]
    fn sliced_batches_and_other_string_layouts_cross() {
        let batch = sample().slice(1, 3);
        let back = frame_to_batch(&batch_to_frame(&batch).unwrap(), &batch.schema()).unwrap();
        assert_eq!(back, batch);

        let schema = Arc::new(Schema::new(vec![
            Field::new("large", DataType::LargeUtf8, true),
            Field::new("view", DataType::Utf8View, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(LargeStringArray::from(vec![
                    Some("a"),
                    None,
                    Some("a string longer than twelve bytes"),
                ])),
                Arc::new(StringViewArray::from(vec![None, Some("v"), Some("another string over twelve")])),
            ],
        )
        .unwrap();
        let df = batch_to_frame(&batch).unwrap();
        let utf8 = Arc::new(Schema::new(vec![
            Field::new("view", DataType::Utf8, true),
            Field::new("large", DataType::Utf8, true),
        ]));
        let back = frame_to_batch(&df, &utf8).unwrap();
        let view = back.column(0).as_any().downcast_ref::<StringArray>().unwrap();
        let large = back.column(1).as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(view.iter().collect::<Vec<_>>(), [None, Some("v"), Some("another string over twelve")]);
        assert_eq!(
            large.iter().collect::<Vec<_>>(),
            [Some("a"), None, Some("a string longer than twelve bytes")]
        );
    }

    #[test]
    fn empty_batches_cross() {
        let batch = RecordBatch::new_empty(sample().schema());
        let df = batch_to_frame(&batch).unwrap();
        assert_eq!(df.height(), 0);
        assert_eq!(df.width(), 5);
        assert_eq!(frame_to_batch(&df, &batch.schema()).unwrap(), batch);
    }

    #[test]
    fn unsupported_types_and_missing_columns_are_named() {
        let schema = Arc::new(Schema::new(vec![Field::new("small", DataType::Int32, false)]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(Int32Array::from(vec![1]))]).unwrap();
        let err = batch_to_frame(&batch).unwrap_err().to_string();
        assert!(err.contains("'small'") && err.contains("Int32"), "{err}");

        let df = batch_to_frame(&sample()).unwrap();
        let wanted = Arc::new(Schema::new(vec![Field::new("nope", DataType::Int64, false)]));
        let err = frame_to_batch(&df, &wanted).unwrap_err().to_string();
        assert!(err.contains("'nope'"), "{err}");

        // A Float64 column cannot be read back as Int64: no silent conversion.
        let wanted = Arc::new(Schema::new(vec![Field::new("score", DataType::Int64, true)]));
        let err = format!("{:#}", frame_to_batch(&df, &wanted).unwrap_err());
        assert!(err.contains("'score'") && err.contains("Float64"), "{err}");

        // Nullability of the target schema is enforced.
        let wanted = Arc::new(Schema::new(vec![Field::new("score", DataType::Float64, false)]));
        assert!(frame_to_batch(&df, &wanted).is_err());
    }
}
