//! Parquet encoding and atomic upload.
//!
//! A file is encoded completely in memory and then published with one `put` (or, above
//! [`MULTIPART_THRESHOLD`], one multipart upload): object stores make either visible only once
//! complete, and the local filesystem writes `_NAME.regrade-staging` and renames it
//! ([`crate::store::local`]). So a reader never sees a half-written file; a crash leaves at
//! most a staging file, which `--resume` and `--overwrite` recognise and remove.
//!
//! Output is deterministic: Snappy compression, a fixed `created_by`, no timestamps or random
//! ids in the metadata, so the same batches always give the same bytes.

use std::sync::Arc;

use anyhow::{Context, Result};
use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::{FieldRef, SchemaRef};
use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::arrow_writer::{compute_leaves, ArrowColumnWriter, ArrowRowGroupWriterFactory};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use rayon::prelude::*;

/// `created_by` written into every file: fixed, so output bytes do not depend on the build.
pub const CREATED_BY: &str = "regrade";

/// Files larger than this are uploaded in parts (S3 needs parts of at least 5 MiB).
pub const MULTIPART_THRESHOLD: usize = 64 * 1024 * 1024;
pub(crate) const PART_SIZE: usize = 16 * 1024 * 1024;

/// Rows per row group.
pub const ROW_GROUP_ROWS: usize = 256 * 1024;

/// Writer properties of every file regrade writes.
pub fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_created_by(CREATED_BY.to_string())
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .build()
}

/// Encode batches as one Parquet file in memory.
pub fn encode(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Bytes> {
    let mut writer = Encoder::new(schema)?;
    for batch in batches {
        writer.write(batch)?;
    }
    writer.finish()
}

/// A Parquet encoder for files built batch by batch: in memory (`Vec<u8>`, the default), or
/// into any writer (a [`super::stream::StreamedFile`] uploads it as it grows). The bytes do not
/// depend on the writer.
///
/// It writes the bytes `ArrowWriter` writes for the same batches, but encodes the columns of a
/// batch in parallel (rayon: the calling thread's pool, or the global one): it is built as an
/// `ArrowWriter` and taken apart into that writer's file writer and column writer factory
/// (same schema, `ARROW:schema` metadata and properties), then cuts row groups where
/// `ArrowWriter` cuts them. Each column is encoded by its own column writer, whatever thread
/// runs it, so neither the thread nor the order changes its bytes; the finished columns are
/// appended in schema order.
pub struct Encoder<W: std::io::Write + Send = Vec<u8>> {
    file: SerializedFileWriter<W>,
    factory: ArrowRowGroupWriterFactory,
    schema: SchemaRef,
    /// Column writers (leaf columns) of each field of `schema`, in order: a nested field has
    /// several.
    leaf_counts: Vec<usize>,
    /// `max_row_group_row_count` of the file's properties.
    max_rows: Option<usize>,
    /// The row group being encoded: none before the first row and after each cut.
    group: Option<RowGroup>,
    rows: usize,
}

/// The column writers of a row group being encoded, one per leaf column, and its rows so far.
struct RowGroup {
    writers: Vec<ArrowColumnWriter>,
    rows: usize,
}

/// Batches of fewer rows are encoded, and row groups of fewer rows closed, on the calling
/// thread: their columns are too small to be worth a rayon task each.
const PARALLEL_ROWS: usize = 1024;

impl Encoder<Vec<u8>> {
    pub fn new(schema: &SchemaRef) -> Result<Self> {
        Encoder::to(Vec::new(), schema)
    }

    pub fn finish(self) -> Result<Bytes> {
        Ok(Bytes::from(self.into_inner()?))
    }
}

impl<W: std::io::Write + Send> Encoder<W> {
    /// An encoder writing into `sink`.
    pub fn to(sink: W, schema: &SchemaRef) -> Result<Self> {
        Self::with_properties(sink, schema, writer_properties())
    }

    /// An encoder writing into `sink` with `props` (tests use smaller row groups and pages).
    fn with_properties(sink: W, schema: &SchemaRef, props: WriterProperties) -> Result<Self> {
        let (file, factory) = ArrowWriter::try_new(sink, schema.clone(), Some(props))
            .and_then(ArrowWriter::into_serialized_writer)
            .context("cannot start a Parquet encoder")?;
        let props = file.properties();
        // Row groups are cut by rows only, as writer_properties() asks; a byte limit or
        // content-defined chunking would cut where ArrowWriter cuts differently.
        anyhow::ensure!(
            props.max_row_group_bytes().is_none() && props.content_defined_chunking().is_none(),
            "cannot start a Parquet encoder: only a row limit may cut row groups"
        );
        let max_rows = props.max_row_group_row_count();
        let parquet = file.schema_descr();
        let mut leaf_counts = vec![0; schema.fields().len()];
        for leaf in 0..parquet.num_columns() {
            leaf_counts[parquet.get_column_root_idx(leaf)] += 1;
        }
        Ok(Self { file, factory, schema: schema.clone(), leaf_counts, max_rows, group: None, rows: 0 })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.encode(batch).context("cannot encode a batch as Parquet")?;
        self.rows += batch.num_rows();
        Ok(())
    }

    /// `ArrowWriter::write`: a batch that would overfill the row group is split where the row
    /// group is full, and the row group is written out once full.
    fn encode(&mut self, batch: &RecordBatch) -> parquet::errors::Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let group = match &mut self.group {
            Some(group) => group,
            none => {
                let writers = self.factory.create_column_writers(self.file.flushed_row_groups().len())?;
                none.insert(RowGroup { writers, rows: 0 })
            }
        };
        if let Some(max) = self.max_rows {
            if group.rows + batch.num_rows() > max {
                let fits = max - group.rows;
                self.encode(&batch.slice(0, fits))?;
                return self.encode(&batch.slice(fits, batch.num_rows() - fits));
            }
        }
        group.write(batch, &self.schema, &self.leaf_counts)?;
        if self.max_rows.is_some_and(|max| group.rows >= max) {
            self.flush()?;
        }
        Ok(())
    }

    /// Close the row group being encoded (its columns in parallel unless it is small: closing
    /// encodes the last page and the dictionary page) and append it to the file.
    fn flush(&mut self) -> parquet::errors::Result<()> {
        let Some(group) = self.group.take() else {
            return Ok(());
        };
        let chunks: Vec<_> = if group.rows < PARALLEL_ROWS {
            group.writers.into_iter().map(ArrowColumnWriter::close).collect()
        } else {
            group.writers.into_par_iter().map(ArrowColumnWriter::close).collect()
        };
        let mut row_group = self.file.next_row_group()?;
        for chunk in chunks {
            chunk?.append_to_row_group(&mut row_group)?;
        }
        row_group.close()?;
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Approximate bytes held (encoded plus buffered).
    pub fn memory_size(&self) -> usize {
        let buffered = self.group.as_ref().map_or(0, |g| g.writers.iter().map(|w| w.memory_size()).sum());
        self.file.bytes_written() + buffered
    }

    /// The writer, once the file's footer is written into it.
    pub fn into_inner(mut self) -> Result<W> {
        self.flush().and_then(|()| self.file.into_inner()).context("cannot finish the Parquet file")
    }

    /// The writer, before the file is finished (to see why a write failed).
    pub fn inner(&self) -> &W {
        self.file.inner()
    }
}

impl RowGroup {
    /// Encode `batch` into the column writers, a task per field of `schema` (`leaf_counts[i]`
    /// writers for field `i`), in parallel unless the batch is small.
    fn write(
        &mut self,
        batch: &RecordBatch,
        schema: &SchemaRef,
        leaf_counts: &[usize],
    ) -> parquet::errors::Result<()> {
        self.rows += batch.num_rows();
        let mut rest = self.writers.as_mut_slice();
        let mut fields = Vec::with_capacity(leaf_counts.len());
        for ((field, column), &n) in schema.fields().iter().zip(batch.columns()).zip(leaf_counts) {
            let (writers, after) = std::mem::take(&mut rest).split_at_mut(n);
            rest = after;
            fields.push((field, column, writers));
        }
        let encode = |(field, column, writers): &mut (&FieldRef, &ArrayRef, &mut [ArrowColumnWriter])| {
            let leaves = compute_leaves(field, column)?;
            writers.iter_mut().zip(&leaves).try_for_each(|(writer, leaf)| writer.write(leaf))
        };
        if batch.num_rows() < PARALLEL_ROWS {
            fields.iter_mut().try_for_each(encode)
        } else {
            fields.par_iter_mut().try_for_each(encode)
        }
    }
}

/// Publish bytes at `path` atomically (single put, or a multipart upload for big files).
pub async fn put_atomic(store: &Arc<dyn ObjectStore>, path: &Path, bytes: Bytes) -> Result<()> {
    if bytes.len() <= crate::hooks::multipart_threshold(MULTIPART_THRESHOLD) {
        store
            .put(path, PutPayload::from_bytes(bytes))
            .await
            .with_context(|| format!("cannot write '{path}'"))?;
        return Ok(());
    }
    let mut upload =
        store.put_multipart(path).await.with_context(|| format!("cannot start an upload of '{path}'"))?;
    for start in (0..bytes.len()).step_by(PART_SIZE) {
        let part = bytes.slice(start..(start + PART_SIZE).min(bytes.len()));
        if let Err(e) = upload.put_part(PutPayload::from_bytes(part)).await {
            let _ = upload.abort().await;
            return Err(e).with_context(|| format!("cannot upload '{path}'"));
        }
        crate::hooks::mid_upload(path.as_ref());
    }
    upload.complete().await.with_context(|| format!("cannot complete the upload of '{path}'"))?;
    Ok(())
}

/// Encode batches and publish them atomically at `path`.
pub async fn write_parquet(
    store: &Arc<dyn ObjectStore>,
    path: &Path,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<()> {
    let bytes = encode(schema, batches).with_context(|| format!("encoding '{path}'"))?;
    put_atomic(store, path, bytes).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{
        Array, ArrayRef, BooleanArray, DictionaryArray, Float64Array, Int64Array, ListArray, StringArray,
        StructArray, TimestampMicrosecondArray,
    };
    use arrow::buffer::{NullBuffer, OffsetBuffer};
    use arrow::datatypes::{DataType, Field, Int32Type, Schema, TimeUnit};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    /// xorshift64*: the same data on every run, so a failure reproduces.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        /// Nulls for a column: none when it is not nullable, else a share of 0 to 1 in 2.
        fn nulls(&mut self, nullable: bool, rows: usize) -> Option<NullBuffer> {
            let share = self.below(3);
            nullable.then(|| (0..rows).map(|_| share == 0 || self.below(2 * share) != 0).collect())
        }
    }

    /// Strings of one column: from a pool of a few values (dictionary encoded), or mostly
    /// distinct (the dictionary outgrows its page and the column falls back to plain).
    fn strings(rng: &mut Rng, rows: usize) -> Vec<String> {
        let distinct = [3, 200, u64::MAX][rng.below(3) as usize];
        (0..rows)
            .map(|_| match rng.below(distinct) {
                0 => String::new(),
                v => format!("block-v1:edX+C{}+2026+type@problem+block@{v:x}", v % 7),
            })
            .collect()
    }

    /// A random column of `field`, of any type the output tables use, and the nested types.
    fn column(rng: &mut Rng, field: &Field, rows: usize) -> ArrayRef {
        let nulls = rng.nulls(field.is_nullable(), rows);
        let array: ArrayRef = match field.data_type() {
            DataType::Int64 => {
                let bits = 1 + rng.below(63);
                let values = (0..rows).map(|_| (rng.next() >> (64 - bits)) as i64 - (1 << (bits - 1)));
                Arc::new(Int64Array::new(values.collect(), nulls))
            }
            DataType::Float64 => {
                let special = [f64::NAN, -0.0, 0.0, f64::INFINITY, 1.0];
                let values = (0..rows).map(|_| match rng.below(20) {
                    k @ 0..=4 => special[k as usize],
                    _ => rng.below(1_000_000) as f64 / 977.0,
                });
                Arc::new(Float64Array::new(values.collect(), nulls))
            }
            DataType::Boolean => {
                Arc::new(BooleanArray::new((0..rows).map(|_| rng.below(3) == 0).collect(), nulls))
            }
            DataType::Utf8 => {
                let (offsets, values, _) = StringArray::from(strings(rng, rows)).into_parts();
                Arc::new(StringArray::new(offsets, values, nulls))
            }
            DataType::Timestamp(TimeUnit::Microsecond, tz) => {
                let values = (0..rows).map(|_| 1_700_000_000_000_000 + rng.below(1 << 45) as i64);
                let array = TimestampMicrosecondArray::new(values.collect(), nulls);
                Arc::new(array.with_timezone_opt(tz.clone()))
            }
            DataType::Dictionary(key, value) if **key == DataType::Int32 && **value == DataType::Utf8 => {
                let distinct = 1 + rng.below(50) as usize;
                let values = StringArray::from(strings(rng, distinct));
                let keys = (0..rows).map(|_| rng.below(values.len() as u64) as i32);
                let keys = arrow::array::Int32Array::new(keys.collect(), nulls);
                Arc::new(DictionaryArray::<Int32Type>::new(keys, Arc::new(values)))
            }
            DataType::Struct(fields) => {
                let children = fields.iter().map(|f| column(rng, f, rows)).collect();
                Arc::new(StructArray::new(fields.clone(), children, nulls))
            }
            DataType::List(item) => {
                let lengths: Vec<usize> = (0..rows).map(|_| rng.below(4) as usize).collect();
                let values = column(rng, item, lengths.iter().sum());
                Arc::new(ListArray::new(item.clone(), OffsetBuffer::from_lengths(lengths), values, nulls))
            }
            other => panic!("no test data for {other}: add it to column()"),
        };
        array
    }

    fn batch(schema: &SchemaRef, rows: usize, seed: u64) -> RecordBatch {
        let mut rng = Rng(seed.max(1));
        let columns = schema.fields().iter().map(|f| column(&mut rng, f, rows)).collect();
        RecordBatch::try_new(schema.clone(), columns).unwrap()
    }

    /// Every type the output tables use, nullable and not, and two nested fields (several leaf
    /// columns for one field).
    fn every_type() -> SchemaRef {
        let timestamp = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        let dictionary = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        let mut fields = Vec::new();
        for (i, t) in
            [DataType::Int64, DataType::Float64, DataType::Utf8, DataType::Boolean, timestamp, dictionary]
                .into_iter()
                .enumerate()
        {
            fields.push(Field::new(format!("c{i}"), t.clone(), false));
            fields.push(Field::new(format!("c{i}_nullable"), t, true));
        }
        let inner = vec![Field::new("x", DataType::Int64, true), Field::new("y", DataType::Utf8, false)];
        fields.push(Field::new_struct("nested", inner, true));
        fields.push(Field::new_list("list", Field::new_list_field(DataType::Utf8, true), true));
        Arc::new(Schema::new(fields))
    }

    /// `rows` rows cut into batches of `sizes` (repeated), as slices of one batch.
    fn batches(schema: &SchemaRef, rows: usize, sizes: &[usize], seed: u64) -> Vec<RecordBatch> {
        let all = batch(schema, rows, seed);
        let (mut out, mut offset) = (Vec::new(), 0);
        for &size in sizes.iter().cycle() {
            let size = size.min(rows - offset);
            out.push(all.slice(offset, size));
            offset += size;
            if offset == rows {
                return out;
            }
        }
        unreachable!()
    }

    /// The file `ArrowWriter` writes, and its memory size after each batch.
    fn arrow_writer(
        schema: &SchemaRef,
        props: &WriterProperties,
        batches: &[RecordBatch],
    ) -> (Vec<u8>, Vec<usize>) {
        let mut writer = ArrowWriter::try_new(Vec::new(), schema.clone(), Some(props.clone())).unwrap();
        let mut sizes = Vec::new();
        for b in batches {
            writer.write(b).unwrap();
            sizes.push(writer.bytes_written() + writer.memory_size());
        }
        (writer.into_inner().unwrap(), sizes)
    }

    /// The file [`Encoder`] writes, and its memory size after each batch.
    fn encoder(
        schema: &SchemaRef,
        props: &WriterProperties,
        batches: &[RecordBatch],
    ) -> (Vec<u8>, Vec<usize>) {
        let mut encoder = Encoder::with_properties(Vec::new(), schema, props.clone()).unwrap();
        let mut sizes = Vec::new();
        for b in batches {
            encoder.write(b).unwrap();
            sizes.push(encoder.memory_size());
        }
        assert_eq!(encoder.rows(), batches.iter().map(RecordBatch::num_rows).sum::<usize>());
        (encoder.into_inner().unwrap(), sizes)
    }

    /// Encode `batches` both ways; panics unless the files are the same bytes. Returns them.
    fn same_bytes(schema: &SchemaRef, props: &WriterProperties, batches: &[RecordBatch]) -> Vec<u8> {
        let (expected, expected_sizes) = arrow_writer(schema, props, batches);
        let (found, sizes) = encoder(schema, props, batches);
        assert!(found == expected, "{} bytes, ArrowWriter wrote {}", found.len(), expected.len());
        assert_eq!(sizes, expected_sizes, "memory sizes");
        found
    }

    fn row_groups(file: Vec<u8>) -> Vec<i64> {
        let reader = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(file)).unwrap();
        reader.metadata().row_groups().iter().map(|g| g.num_rows()).collect()
    }

    /// Row groups of 1000 rows and small pages: batches smaller and larger than a row group
    /// and than [`PARALLEL_ROWS`], cut anywhere, dictionaries that fall back to plain.
    fn small_groups() -> WriterProperties {
        writer_properties()
            .into_builder()
            .set_max_row_group_row_count(Some(1000))
            .set_data_page_size_limit(2048)
            .set_dictionary_page_size_limit(4096)
            .build()
    }

    /// Batch sizes: one more row than fits, exactly what fits, a batch over several row groups.
    const SIZES: [usize; 12] = [999, 2, 1, 998, 1500, 7, 2600, 0, 4096, 333, 1000, 1024];

    #[test]
    fn row_groups_cut_inside_batches_give_arrow_writers_bytes() {
        let schema = every_type();
        let file = same_bytes(&schema, &small_groups(), &batches(&schema, 23_456, &SIZES, 7));
        assert_eq!(row_groups(file), [vec![1000; 23], vec![456]].concat());
    }

    #[test]
    fn every_output_table_gives_arrow_writers_bytes() {
        for (i, table) in crate::schema::outputs().enumerate() {
            let schema = table.arrow_schema();
            for props in [small_groups(), writer_properties()] {
                same_bytes(&schema, &props, &batches(&schema, 6000, &SIZES, 100 + i as u64));
            }
        }
    }

    #[test]
    fn real_properties_give_arrow_writers_bytes() {
        let schema = every_type();
        let batches = batches(&schema, ROW_GROUP_ROWS + 40_000, &[8192, 8192, 8192, 5000], 11);
        let file = same_bytes(&schema, &writer_properties(), &batches);
        assert_eq!(row_groups(file.clone()), [ROW_GROUP_ROWS as i64, 40_000]);
        assert!(encode(&schema, &batches).unwrap() == file, "encode()");
    }

    #[test]
    fn no_rows_give_arrow_writers_bytes() {
        let schema = every_type();
        for props in [small_groups(), writer_properties()] {
            same_bytes(&schema, &props, &[]);
            let file = same_bytes(&schema, &props, &[RecordBatch::new_empty(schema.clone())]);
            assert!(row_groups(file).is_empty());
        }
        assert_eq!(Encoder::new(&schema).unwrap().rows(), 0);
    }

    #[test]
    fn one_row_gives_arrow_writers_bytes() {
        let schema = every_type();
        for seed in 1..20 {
            for props in [small_groups(), writer_properties()] {
                let file = same_bytes(&schema, &props, &[batch(&schema, 1, seed)]);
                assert_eq!(row_groups(file), [1]);
            }
        }
    }
}
