//! Reading one Parquet file from an object store: async range reads, projection, schema check,
//! normalisation to canonical Arrow types, row filtering by course and the null check.
//!
//! parquet's `ParquetObjectReader` is deprecated, so [`ObjectReader`] is the small
//! `AsyncFileReader` the parquet docs describe: byte ranges fetched through `ObjectStore`, with
//! the file size known from the listing (Azure rejects suffix range requests, and it saves a
//! `HEAD` per file).

use std::ops::Range;
use std::sync::Arc;

use arrow::array::{
    new_null_array, Array, ArrayRef, AsArray, BooleanArray, RecordBatch, RecordBatchOptions, StringArray,
};
use arrow::compute::{cast_with_options, filter_record_batch, CastOptions};
use arrow::datatypes::{DataType, Field, Schema as ArrowSchema, SchemaRef};
use arrow::error::ArrowError;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::arrow::async_reader::{AsyncFileReader, ParquetRecordBatchStreamBuilder};
use parquet::arrow::ProjectionMask;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};

use super::convert::{normalise, to_canonical, ConvertError};
use super::{columns, InputError};
use crate::schema::{self, Family, Schema};

/// Rows per decoded batch.
const BATCH_SIZE: usize = 64 * 1024;

/// An `AsyncFileReader` over an object in an `ObjectStore` of known size.
pub struct ObjectReader {
    store: Arc<dyn ObjectStore>,
    path: Path,
    size: u64,
}

impl ObjectReader {
    pub fn new(store: Arc<dyn ObjectStore>, path: Path, size: u64) -> Self {
        Self { store, path, size }
    }
}

impl AsyncFileReader for ObjectReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        async move { Ok(self.store.get_range(&self.path, range).await?) }.boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        async move { Ok(self.store.get_ranges(&self.path, &ranges).await?) }.boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        _options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            let size = self.size;
            let metadata = ParquetMetaDataReader::new()
                .with_prefetch_hint(Some(64 * 1024))
                .load_and_finish(self, size)
                .await?;
            Ok(Arc::new(metadata))
        }
        .boxed()
    }
}

/// What to read from one file.
pub(crate) struct FileRequest {
    pub schema: &'static Schema,
    pub store: Arc<dyn ObjectStore>,
    pub path: Path,
    pub size: u64,
    /// The file as shown to the user (URL).
    pub shown: String,
    /// Requested columns, in output order.
    pub columns: Vec<String>,
    /// `key=value` folders between the table folder and the file (values unescaped).
    pub partitions: Vec<(String, String)>,
    /// Keep only rows of these courses (when the table has `course_id`).
    pub courses: Option<Arc<std::collections::HashSet<String>>>,
    /// Keep only rows whose learner column (named, and requested) is in the range.
    pub users: Option<(&'static str, super::UserRange)>,
    /// Requested string columns returned dictionary-encoded (`Dictionary(Int32, Utf8)`) rather
    /// than as `Utf8`: Parquet stores them as dictionaries, and a reader that looks each
    /// distinct value up once saves decoding and keeping one string per row.
    pub dictionary: Vec<String>,
    /// Canonical schema of the result (with [`dictionary_type`] for the dictionary columns).
    pub out_schema: SchemaRef,
}

/// The Arrow type of a column read dictionary-encoded (see [`FileRequest::dictionary`]).
pub fn dictionary_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

/// The file's schema with `columns` asked for as dictionaries where the file stores strings
/// (`None` when nothing changes).
fn dictionary_hint(file_schema: &ArrowSchema, columns: &[&str]) -> Option<SchemaRef> {
    let mut changed = false;
    let fields: Vec<Field> = file_schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8 | DataType::LargeUtf8 if columns.contains(&f.name().as_str()) => {
                changed = true;
                let values = f.data_type().clone();
                f.as_ref()
                    .clone()
                    .with_data_type(DataType::Dictionary(Box::new(DataType::Int32), Box::new(values)))
            }
            _ => f.as_ref().clone(),
        })
        .collect();
    changed.then(|| Arc::new(ArrowSchema::new_with_metadata(fields, file_schema.metadata().clone())))
}

/// Which rows of a `course_id` column (strings or a string dictionary) are in `courses`;
/// a dictionary's values are looked up once each.
fn course_mask(
    ids: &ArrayRef,
    courses: &std::collections::HashSet<String>,
) -> Result<BooleanArray, ArrowError> {
    if let DataType::Dictionary(_, _) = ids.data_type() {
        let dict = ids.as_any_dictionary();
        let values = normalise(dict.values(), Family::String)?;
        let values = values.as_string::<i32>();
        let wanted: Vec<bool> = values.iter().map(|v| v.is_some_and(|v| courses.contains(v))).collect();
        let keys = dict.keys();
        let mask =
            dict.normalized_keys().into_iter().enumerate().map(|(i, k)| Some(keys.is_valid(i) && wanted[k]));
        return Ok(mask.collect());
    }
    let ids = normalise(ids, Family::String)?;
    Ok(ids.as_string::<i32>().iter().map(|v| Some(v.is_some_and(|v| courses.contains(v)))).collect())
}

fn corrupt(req: &FileRequest, e: parquet::errors::ParquetError) -> InputError {
    unreadable(&req.schema.table, &req.shown, e)
}

/// A file of `table`, shown as `shown`, that cannot be fetched or read as Parquet.
fn unreadable(table: &str, shown: &str, e: parquet::errors::ParquetError) -> InputError {
    if let parquet::errors::ParquetError::External(inner) = &e {
        if inner.is::<object_store::Error>() {
            return InputError::fetch_failed(
                format!(
                    "{table}: file '{shown}': cannot fetch it from the object store (it failed after the \
                     retries and timeouts set by the REGRADE_STORE_* variables); check the store, \
                     then run again"
                ),
                e,
            );
        }
    }
    InputError::with_source(
        format!(
            "{table}: file '{shown}': cannot read it as Parquet (is it truncated, corrupt or not Parquet?); \
             re-export or remove the file"
        ),
        e,
    )
}

/// The footer of a file of `table` (shown as `shown` in errors): its row groups and their
/// statistics, without reading any data.
pub(crate) async fn footer(
    table: &str,
    shown: &str,
    reader: &mut ObjectReader,
) -> Result<Arc<ParquetMetaData>, InputError> {
    reader.get_metadata(None).await.map_err(|e| unreadable(table, shown, e))
}

/// Read, check and normalise one file.
pub(crate) async fn read_file(req: FileRequest) -> Result<Vec<RecordBatch>, InputError> {
    let mut reader = ObjectReader::new(req.store.clone(), req.path.clone(), req.size);
    let metadata = ArrowReaderMetadata::load_async(&mut reader, ArrowReaderOptions::new())
        .await
        .map_err(|e| corrupt(&req, e))?;
    let file_schema = metadata.schema().clone();

    // Hive partition values stand in for columns the file does not carry (Spark and DuckDB
    // drop the partition column from the files they write).
    let from_path: Vec<&(String, String)> = req
        .partitions
        .iter()
        .filter(|(k, _)| {
            file_schema.field_with_name(k).is_err()
                && req.schema.column(k).is_some_and(|c| c.family(req.schema.kind) == Family::String)
        })
        .collect();
    columns::check_distinct(req.schema, &file_schema, &req.shown).map_err(InputError::from)?;
    let rows = metadata.metadata().file_metadata().num_rows();
    let mut checked_fields = columns::fields_to_check(req.schema, &file_schema, rows);
    checked_fields.extend(from_path.iter().map(|(k, _)| Field::new(k, DataType::Utf8, false)));
    let wanted: Vec<&str> = req.columns.iter().map(String::as_str).collect();
    // A course filter needs course_id even when it is not requested.
    let mut checked = wanted.clone();
    if req.courses.is_some() && !checked.contains(&"course_id") {
        checked.push("course_id");
    }
    schema::check_columns(req.schema, &ArrowSchema::new(checked_fields), &req.shown, Some(&checked))
        .map_err(InputError::from)?;

    // Project: requested columns, plus course_id for filtering.
    let filter_col = req
        .courses
        .as_ref()
        .filter(|_| file_schema.field_with_name("course_id").is_ok())
        .map(|_| "course_id");
    // Dictionary columns: those asked for, and course_id when it is only read to filter.
    let dictionary: Vec<&str> =
        req.dictionary.iter().map(String::as_str).chain(filter_col.filter(|c| !wanted.contains(c))).collect();
    let metadata = match dictionary_hint(&file_schema, &dictionary) {
        Some(hint) => ArrowReaderMetadata::try_new(
            metadata.metadata().clone(),
            ArrowReaderOptions::new().with_schema(hint),
        )
        .map_err(|e| corrupt(&req, e))?,
        None => metadata,
    };
    let builder = ParquetRecordBatchStreamBuilder::new_with_metadata(reader, metadata);
    let mut indices: Vec<usize> =
        wanted.iter().copied().chain(filter_col).filter_map(|name| file_schema.index_of(name).ok()).collect();
    indices.sort_unstable();
    indices.dedup();
    let mask = ProjectionMask::roots(builder.parquet_schema(), indices);
    // Row groups whose course_id statistics rule out every wanted course are not fetched.
    // `starts[i]` is the file row number of the first row of the i-th kept row group, so that
    // null errors still name rows of the file.
    let groups = builder.metadata().row_groups();
    // Likewise for row groups whose learner column statistics lie outside the user range.
    let kept_groups: Vec<usize> = {
        let leaf =
            |name: &str| builder.parquet_schema().columns().iter().position(|c| c.path().parts() == [name]);
        let course_leaf = req.courses.as_ref().zip(filter_col.and_then(leaf));
        let user_leaf = req.users.and_then(|(col, range)| Some((leaf(col)?, range)));
        (0..groups.len())
            .filter(|&g| {
                course_leaf
                    .is_none_or(|(courses, l)| may_hold_course(groups[g].column(l).statistics(), courses))
                    && user_leaf
                        .is_none_or(|(l, range)| may_hold_users(groups[g].column(l).statistics(), range))
            })
            .collect()
    };
    let mut starts: Vec<(u64, u64)> = Vec::with_capacity(kept_groups.len());
    let mut first_row: u64 = 0;
    for (g, group) in groups.iter().enumerate() {
        if kept_groups.binary_search(&g).is_ok() {
            starts.push((first_row, group.num_rows().max(0) as u64));
        }
        first_row += group.num_rows().max(0) as u64;
    }
    let mut stream = builder
        .with_projection(mask)
        .with_row_groups(kept_groups)
        .with_batch_size(BATCH_SIZE)
        .build()
        .map_err(|e| corrupt(&req, e))?;

    let mut out = Vec::new();
    // Position in the kept row groups: (index into `starts`, rows consumed in that group).
    let (mut group, mut in_group) = (0usize, 0u64);
    while let Some(batch) = stream.try_next().await.map_err(|e| corrupt(&req, e))? {
        let n = batch.num_rows() as u64;
        while group < starts.len() && in_group >= starts[group].1 {
            group += 1;
            in_group = 0;
        }
        let row = starts.get(group).map_or(0, |s| s.0) + in_group;
        in_group += n;
        let normalised = normalise_batch(&req, &batch, &from_path, row)?;
        schema::check_nulls(req.schema, &normalised, &req.shown, row).map_err(InputError::from)?;
        let ids = filter_col.and_then(|col| Some((col, batch.column_by_name(col)?)));
        let kept = match (&req.courses, ids) {
            (Some(courses), Some((col, ids))) => {
                let keep = course_mask(ids, courses).map_err(|e| convert_error(&req, col, e))?;
                filter_record_batch(&normalised, &keep).map_err(|e| convert_error(&req, col, e))?
            }
            _ => normalised,
        };
        let kept = match req.users {
            Some((col, range)) => users_in(&kept, col, range).map_err(|e| convert_error(&req, col, e))?,
            None => kept,
        };
        if kept.num_rows() > 0 {
            out.push(with_source(kept, &req.shown)?);
        }
    }
    Ok(out)
}

/// Schema metadata key naming the file a batch was read from (for messages about its rows).
pub const SOURCE_KEY: &str = "regrade.source";

/// Tag a batch with the file it came from ([`SOURCE_KEY`]).
fn with_source(batch: RecordBatch, shown: &str) -> Result<RecordBatch, InputError> {
    let mut metadata = batch.schema().metadata().clone();
    metadata.insert(SOURCE_KEY.to_string(), shown.to_string());
    let schema = Arc::new(batch.schema().as_ref().clone().with_metadata(metadata));
    batch
        .with_schema(schema)
        .map_err(|e| InputError::with_source(format!("{shown}: cannot tag its batches"), e))
}

/// Whether a row group with these `course_id` statistics may hold one of `courses`. Without
/// usable statistics it may.
fn may_hold_course(
    stats: Option<&parquet::file::statistics::Statistics>,
    courses: &std::collections::HashSet<String>,
) -> bool {
    courses.iter().any(|c| may_hold_bytes(stats, c.as_bytes()))
}

/// Whether a row group with these statistics on a string column may hold `value`. Without
/// usable statistics it may. Parquet orders byte arrays by unsigned bytes, as Rust orders
/// `str`, and truncated bounds stay bounds.
pub(crate) fn may_hold_bytes(stats: Option<&parquet::file::statistics::Statistics>, value: &[u8]) -> bool {
    let Some(parquet::file::statistics::Statistics::ByteArray(s)) = stats else { return true };
    let (Some(min), Some(max)) = (s.min_opt(), s.max_opt()) else { return true };
    value >= min.data() && value <= max.data()
}

/// The least and greatest value of an integer column in a row group, from its statistics.
pub(crate) fn int_bounds(stats: Option<&parquet::file::statistics::Statistics>) -> Option<(i64, i64)> {
    use parquet::file::statistics::Statistics;
    match stats {
        Some(Statistics::Int64(s)) => s.min_opt().copied().zip(s.max_opt().copied()),
        Some(Statistics::Int32(s)) => {
            s.min_opt().map(|&v| i64::from(v)).zip(s.max_opt().map(|&v| i64::from(v)))
        }
        _ => None,
    }
}

/// Whether a row group with these statistics on its learner column may hold a user id of
/// `range`. Without usable statistics it may.
fn may_hold_users(stats: Option<&parquet::file::statistics::Statistics>, range: super::UserRange) -> bool {
    int_bounds(stats).is_none_or(|(min, max)| range.overlaps(min, max))
}

/// The rows of `batch` whose learner column `col` (canonical: Int64) is in `range`; rows
/// without a learner (a null, which the null check has refused for required columns) go to
/// the range that starts at the lowest id.
fn users_in(batch: &RecordBatch, col: &str, range: super::UserRange) -> Result<RecordBatch, ArrowError> {
    let Some(users) =
        batch.column_by_name(col).and_then(|c| c.as_primitive_opt::<arrow::datatypes::Int64Type>())
    else {
        return Err(ArrowError::InvalidArgumentError(format!("{col} is not read as integers")));
    };
    let keep: BooleanArray =
        users.iter().map(|u| Some(u.map_or(range.from.is_none(), |u| range.contains(u)))).collect();
    if keep.true_count() == batch.num_rows() {
        return Ok(batch.clone());
    }
    filter_record_batch(batch, &keep)
}

fn convert_error(req: &FileRequest, column: &str, e: ArrowError) -> InputError {
    InputError::with_source(
        format!(
            "{}: file '{}': column '{}' cannot be converted to {} (a value is out of range?); \
             fix the exported values",
            req.schema.table,
            req.shown,
            column,
            req.schema.column(column).map(|c| c.arrow_type(req.schema.kind).to_string()).unwrap_or_default()
        ),
        e,
    )
}

/// Build the output batch: requested columns in order, canonical types.
fn normalise_batch(
    req: &FileRequest,
    batch: &RecordBatch,
    from_path: &[&(String, String)],
    first_row: u64,
) -> Result<RecordBatch, InputError> {
    let n = batch.num_rows();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(req.columns.len());
    for name in &req.columns {
        let column = req
            .schema
            .column(name)
            .ok_or_else(|| InputError::new(format!("{}: unknown column '{name}'", req.schema.table)))?;
        let family = column.family(req.schema.kind);
        let dictionary = req.dictionary.contains(name);
        let array = match batch.column_by_name(name) {
            Some(a) if dictionary => to_dictionary(a).map_err(|e| convert_error(req, name, e))?,
            Some(a) => to_canonical(a, family).map_err(|e| match e {
                ConvertError::Arrow(e) => convert_error(req, name, e),
                ConvertError::Value { row, value, why } => InputError::new(format!(
                    "{}: file '{}': column '{name}' holds {value} at row {} of the file (counting \
                     from 0): {why}; fix the exported values",
                    req.schema.table,
                    req.shown,
                    first_row + row as u64
                )),
            })?,
            None if column.optional && !from_path.iter().any(|(k, _)| k == name) => {
                let target = if dictionary { dictionary_type() } else { column.arrow_type(req.schema.kind) };
                new_null_array(&target, n)
            }
            None => {
                let value =
                    from_path.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).ok_or_else(|| {
                        InputError::new(format!(
                            "{}: file '{}': column '{name}' is missing",
                            req.schema.table, req.shown
                        ))
                    })?;
                let array = Arc::new(StringArray::from(vec![value; n])) as ArrayRef;
                if dictionary {
                    to_dictionary(&array).map_err(|e| convert_error(req, name, e))?
                } else {
                    array
                }
            }
        };
        columns.push(array);
    }
    // Declared nullability is enforced by check_nulls; build the batch with nullable fields so
    // a null in a non-nullable column is reported by check_nulls, not by Arrow's validation.
    let loose = Arc::new(ArrowSchema::new(
        req.out_schema.fields().iter().map(|f| f.as_ref().clone().with_nullable(true)).collect::<Vec<_>>(),
    ));
    let options = RecordBatchOptions::new().with_row_count(Some(n));
    let loose_batch = RecordBatch::try_new_with_options(loose, columns, &options)
        .map_err(|e| InputError::with_source(format!("{}: cannot assemble columns", req.shown), e))?;
    let has_bad_nulls = req
        .out_schema
        .fields()
        .iter()
        .zip(loose_batch.columns())
        .any(|(f, a)| !f.is_nullable() && a.null_count() > 0);
    if has_bad_nulls {
        // Keep the loose schema: check_nulls reports it next.
        return Ok(loose_batch);
    }
    RecordBatch::try_new_with_options(req.out_schema.clone(), loose_batch.columns().to_vec(), &options)
        .map_err(|e| InputError::with_source(format!("{}: cannot assemble columns", req.shown), e))
}

/// A string column (plain or dictionary) as `Dictionary(Int32, Utf8)`.
fn to_dictionary(array: &ArrayRef) -> Result<ArrayRef, ArrowError> {
    let target = dictionary_type();
    if array.data_type() == &target {
        return Ok(array.clone());
    }
    if array.data_type() == &DataType::Null {
        return Ok(new_null_array(&target, array.len()));
    }
    cast_with_options(array, &target, &CastOptions { safe: false, ..Default::default() })
}
