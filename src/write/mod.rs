//! Writing Parquet tables to any object-store URL: atomic files, Hive partitions by course.
//!
//! Layout of a partitioned table: `<out>/<table>/course_id=<escaped>/part-00000.parquet`.
//!
//! Course ids are escaped into folder names by [`crate::store::partition`].
//!
//! Partitioned files also keep the `course_id` column, so a file read alone is complete.

pub mod apply;
pub(crate) mod backfill;
pub(crate) mod grades;
pub mod mysql;
mod parquet;
pub(crate) mod stream;

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use arrow::array::{Array, AsArray, RecordBatch, UInt32Array};
use arrow::compute::{concat_batches, take_record_batch};
use arrow::datatypes::{DataType, SchemaRef};
use object_store::path::Path;

use self::stream::{Streamed, StreamedFile};

pub use self::parquet::{
    encode, put_atomic, write_parquet, writer_properties, Encoder, CREATED_BY, MULTIPART_THRESHOLD,
    ROW_GROUP_ROWS,
};
use crate::schema;
use crate::store::partition::partition_segment;
use crate::store::Location;

/// `part-00000.parquet`.
pub(crate) fn part_name(part: usize) -> String {
    format!("part-{part:05}.parquet")
}

/// Folder of a table, optionally of one course partition: `<prefix>/<table>[/course_id=<esc>]`.
pub(crate) fn table_dir(loc: &Location, table: &str, course_id: Option<&str>) -> Result<Path> {
    let mut raw = loc.path(&[table]).to_string();
    if let Some(course) = course_id {
        if !raw.is_empty() {
            raw.push('/');
        }
        raw.push_str(&partition_segment("course_id", course));
    }
    // The escaped segment holds no ASCII but [A-Za-z0-9_%=-]: parse (not from) keeps `%` as is.
    Path::parse(&raw).with_context(|| format!("invalid output path '{raw}'"))
}

/// A file written, as the manifest lists it: its path relative to the output location, its
/// rows (Parquet files), size and SHA-1.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WrittenFile {
    pub path: String,
    pub rows: Option<usize>,
    pub bytes: usize,
    /// SHA-1 of the file's bytes, hex.
    pub sha1: String,
}

/// SHA-1 of bytes as lower-case hex.
pub fn sha1_hex(bytes: &[u8]) -> String {
    use sha1::{Digest, Sha1};
    Sha1::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes a folder of `part-NNNNN.parquet` files, rolling to a new part every `max_rows` rows,
/// so a big table is written with bounded memory (one encoded part at a time). Each part is
/// published atomically when complete.
pub(crate) struct PartWriter {
    loc: Location,
    dir: Path,
    schema: SchemaRef,
    max_rows: usize,
    current: Option<Encoder>,
    written: Vec<WrittenFile>,
    /// Put before `part-NNNNN.parquet` (empty by default).
    prefix: String,
}

impl PartWriter {
    /// Parts go to `dir`, a folder under `loc`.
    pub(crate) fn new(loc: Location, dir: Path, schema: SchemaRef, max_rows: usize) -> Self {
        Self {
            loc,
            dir,
            schema,
            max_rows: max_rows.max(1),
            current: None,
            written: Vec::new(),
            prefix: String::new(),
        }
    }

    /// Name the parts `<prefix>part-NNNNN.parquet`, apart from files already in the folder.
    pub(crate) fn with_prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.to_string();
        self
    }

    /// Append a batch; publishes the current part once it holds `max_rows` rows or more.
    pub(crate) async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let encoder = match &mut self.current {
            Some(e) => e,
            None => self.current.insert(Encoder::new(&self.schema)?),
        };
        encoder.write(batch)?;
        if encoder.rows() >= self.max_rows {
            self.flush().await?;
        }
        Ok(())
    }

    /// Publish the current part, if it has rows.
    pub(crate) async fn flush(&mut self) -> Result<()> {
        let Some(encoder) = self.current.take() else {
            return Ok(());
        };
        let rows = encoder.rows();
        let bytes = encoder.finish()?;
        let path = self.dir.clone().join(format!("{}{}", self.prefix, part_name(self.written.len())));
        let (size, sha1) = (bytes.len(), sha1_hex(&bytes));
        put_atomic(&self.loc.store, &path, bytes).await?;
        self.written.push(WrittenFile {
            path: self.loc.relative(&path),
            rows: Some(rows),
            bytes: size,
            sha1,
        });
        Ok(())
    }

    /// Publish the last part and return every file written.
    pub(crate) async fn finish(mut self) -> Result<Vec<WrittenFile>> {
        self.flush().await?;
        Ok(self.written)
    }
}

/// A file encoded in memory, not written yet.
#[derive(Debug, Clone)]
pub(crate) struct EncodedFile {
    pub path: Path,
    pub bytes: bytes::Bytes,
    pub rows: usize,
}

/// Encode batches as a Hive-partitioned table: one `course_id=<escaped>/part-00000.parquet`
/// per course found in the `course_id` column (courses in sorted order, rows in input order).
pub(crate) fn encode_partitioned(
    loc: &Location,
    table: &str,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<Vec<EncodedFile>> {
    let all = concat_batches(schema, batches).context("batches do not share the table schema")?;
    let Some(ids) = all.column_by_name("course_id") else {
        bail!("{table}: cannot partition by course: the batches have no 'course_id' column");
    };
    // Written dictionary-encoded (see `schema::DICTIONARY_UTF8`); grouped by its strings.
    let ids = arrow::compute::cast(ids, &DataType::Utf8)
        .with_context(|| format!("{table}: 'course_id' must be a string to partition by it"))?;
    let ids = ids.as_string::<i32>();
    let mut rows: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    for i in 0..ids.len() {
        if ids.is_null(i) {
            bail!("{table}: 'course_id' is null at row {i}; every row needs a course");
        }
        let row = u32::try_from(i).context("too many rows for one write")?;
        rows.entry(ids.value(i)).or_default().push(row);
    }
    let mut encoded = Vec::with_capacity(rows.len());
    for (course, indices) in rows {
        let part = take_record_batch(&all, &UInt32Array::from(indices))?;
        let path = table_dir(loc, table, Some(course))?.join(part_name(0));
        let bytes = encode(schema, std::slice::from_ref(&part))?;
        encoded.push(EncodedFile { path, bytes, rows: part.num_rows() });
    }
    Ok(encoded)
}

/// Publish encoded files under `loc`, one after the other.
pub(crate) async fn put_encoded(loc: &Location, files: Vec<EncodedFile>) -> Result<Vec<WrittenFile>> {
    let mut written = Vec::with_capacity(files.len());
    for f in files {
        let (size, sha1) = (f.bytes.len(), sha1_hex(&f.bytes));
        put_atomic(&loc.store, &f.path, f.bytes).await?;
        written.push(WrittenFile { path: loc.relative(&f.path), rows: Some(f.rows), bytes: size, sha1 });
    }
    Ok(written)
}

/// Write batches as a Hive-partitioned table ([`encode_partitioned`]).
pub async fn write_partitioned(
    loc: &Location,
    table: &str,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<Vec<WrittenFile>> {
    put_encoded(loc, encode_partitioned(loc, table, schema, batches)?).await
}

/// Write an output table of the contract, Hive-partitioned by course, after checking the
/// batches against `schemas/output/<table>.json` (exact types, no nulls where not allowed).
pub async fn write_output_table(
    loc: &Location,
    table: &str,
    batches: &[RecordBatch],
) -> Result<Vec<WrittenFile>> {
    write_output_table_as(loc, table, table, batches).await
}

/// [`write_output_table`] into a folder named `folder` (the backfill tables are named after
/// edX's MySQL tables).
pub(crate) async fn write_output_table_as(
    loc: &Location,
    folder: &str,
    table: &str,
    batches: &[RecordBatch],
) -> Result<Vec<WrittenFile>> {
    put_encoded(loc, encode_output_table_as(loc, folder, table, batches)?).await
}

/// [`write_output_table_as`]'s files, encoded and not written.
pub(crate) fn encode_output_table_as(
    loc: &Location,
    folder: &str,
    table: &str,
    batches: &[RecordBatch],
) -> Result<Vec<EncodedFile>> {
    let schema = schema::output(table)?;
    let arrow_schema = schema.arrow_schema();
    let shown = loc.display(&loc.path(&[folder]));
    let canonical =
        batches.iter().map(|b| canonical(schema, &arrow_schema, b, &shown, 0)).collect::<Result<Vec<_>>>()?;
    encode_partitioned(loc, folder, &arrow_schema, &canonical)
}

/// A batch checked against an output schema (exact types, no nulls where not allowed) and
/// projected to its columns, in its order. `first_row` numbers the rows in errors.
fn canonical(
    schema: &schema::Schema,
    arrow_schema: &SchemaRef,
    batch: &RecordBatch,
    shown: &str,
    first_row: u64,
) -> Result<RecordBatch> {
    schema::check(schema, &batch.schema(), shown)?;
    schema::check_nulls(schema, batch, shown, first_row)?;
    let columns = schema
        .columns
        .iter()
        .map(|c| batch.column_by_name(&c.name).cloned().context("column checked above"))
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(arrow_schema.clone(), columns)?)
}

/// One course's partition of an output table, encoded batch by batch as the course is graded,
/// partition after partition, and uploaded as it grows ([`stream::StreamedFile`]): memory holds
/// a row group being encoded and one part, never the course's file. The file becomes visible
/// once [`CourseTableEncoder::finish`]ed.
///
/// The rows reach the encoder in slices of [`ENCODE_BATCH_ROWS`], whatever batches they came
/// in, and without validity buffers that mark no row null ([`without_empty_nulls`]): the
/// encoder cuts pages where its input batches end, and in smaller steps where a column has a
/// validity buffer, so the file's bytes depend only on its rows, not on
/// `--learners-per-chunk` or the course's partitions.
pub(crate) struct CourseTableEncoder {
    /// The table as errors name it: `[<folder>/]<table>`.
    shown: String,
    schema: &'static schema::Schema,
    arrow_schema: SchemaRef,
    /// The file being encoded and uploaded; a file without rows is never published.
    encoder: Encoder<StreamedFile>,
    rows: usize,
    /// Rows not encoded yet (fewer than [`ENCODE_BATCH_ROWS`] after each write).
    pending: Vec<RecordBatch>,
    pending_rows: usize,
}

/// `batch` with the validity buffers of its columns that mark no row null taken away.
///
/// Whether a slice carries such a buffer depends on the batches it was cut from (concatenating
/// a batch with nulls gives every row a validity bit), and the Parquet writer writes a column
/// with a validity buffer in smaller steps than one without, so its pages end elsewhere. Without
/// the buffer the slice's bytes depend only on its rows. Output schemas are flat, so only the
/// columns themselves can carry one.
fn without_empty_nulls(batch: &RecordBatch) -> Result<RecordBatch> {
    if !batch.columns().iter().any(|c| c.nulls().is_some_and(|n| n.null_count() == 0)) {
        return Ok(batch.clone());
    }
    let columns = batch
        .columns()
        .iter()
        .map(|column| match column.nulls() {
            Some(nulls) if nulls.null_count() == 0 => {
                let data = column.to_data().into_builder().nulls(None).build()?;
                Ok(arrow::array::make_array(data))
            }
            _ => Ok(column.clone()),
        })
        .collect::<Result<Vec<_>, arrow::error::ArrowError>>()?;
    Ok(RecordBatch::try_new(batch.schema(), columns)?)
}

/// Rows handed to the Parquet encoder at once (a multiple of its 1024-row write batches).
pub(crate) const ENCODE_BATCH_ROWS: usize = 8192;

/// A finished [`CourseTableEncoder`]: where its file is, its rows, size and SHA-1.
pub(crate) struct EncodedTable {
    pub path: Path,
    pub rows: usize,
    pub file: Streamed,
}

impl CourseTableEncoder {
    /// The course's file of `table` under `folder` of the output (`""`: the output itself):
    /// `<out>[/<folder>]/<table>/course_id=<esc>/part-00000.parquet`.
    pub(crate) fn new(
        output: &Location,
        course_id: &str,
        (folder, table): (&'static str, &'static str),
        rt: &tokio::runtime::Handle,
    ) -> Result<Self> {
        Self::with_schema(output, course_id, (folder, table), table, rt)
    }

    /// [`CourseTableEncoder::new`] with the rows of output schema `schema_name` (the apply's
    /// edX tables are written with the backfill's schemas).
    pub(crate) fn with_schema(
        output: &Location,
        course_id: &str,
        (folder, table): (&'static str, &'static str),
        schema_name: &str,
        rt: &tokio::runtime::Handle,
    ) -> Result<Self> {
        let schema = schema::output(schema_name)?;
        let arrow_schema = schema.arrow_schema();
        let shown = if folder.is_empty() { table.to_string() } else { format!("{folder}/{table}") };
        let base = if folder.is_empty() { output.clone() } else { output.sub(folder) };
        let path = table_dir(&base, table, Some(course_id))?.join(part_name(0));
        let encoder = Encoder::to(StreamedFile::new(output.store.clone(), path, rt.clone()), &arrow_schema)?;
        Ok(Self { shown, schema, arrow_schema, encoder, rows: 0, pending: Vec::new(), pending_rows: 0 })
    }

    /// Where the file goes.
    pub(crate) fn path(&self) -> &Path {
        self.encoder.inner().path()
    }

    /// The store's error, if an upload of the file failed.
    pub(crate) fn failed(&self) -> Option<&str> {
        self.encoder.inner().failed()
    }

    /// Check a batch against the table's schema and queue it for encoding.
    pub(crate) fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let batch = canonical(self.schema, &self.arrow_schema, batch, &self.shown, self.rows as u64)?;
        self.rows += batch.num_rows();
        self.pending_rows += batch.num_rows();
        self.pending.push(batch);
        if self.pending_rows >= ENCODE_BATCH_ROWS {
            self.encode_pending(false)?;
        }
        Ok(())
    }

    /// Encode the queued rows in slices of [`ENCODE_BATCH_ROWS`]; the remainder stays queued
    /// unless `all`.
    fn encode_pending(&mut self, all: bool) -> Result<()> {
        if self.pending_rows == 0 {
            return Ok(());
        }
        let rows = concat_batches(&self.arrow_schema, &self.pending).context("batches of one table")?;
        self.pending.clear();
        let encoder = &mut self.encoder;
        let mut offset = 0;
        while rows.num_rows() - offset >= ENCODE_BATCH_ROWS {
            encoder.write(&without_empty_nulls(&rows.slice(offset, ENCODE_BATCH_ROWS))?)?;
            offset += ENCODE_BATCH_ROWS;
        }
        let rest = rows.num_rows() - offset;
        if rest > 0 {
            if all {
                encoder.write(&without_empty_nulls(&rows.slice(offset, rest))?)?;
            } else {
                self.pending.push(rows.slice(offset, rest));
            }
        }
        self.pending_rows = if all { 0 } else { rest };
        Ok(())
    }

    /// Publish the file, or `None` when no row was written (a table without rows gets no
    /// file).
    pub(crate) fn finish(mut self) -> Result<Option<EncodedTable>> {
        if self.rows == 0 {
            self.abort();
            return Ok(None);
        }
        self.encode_pending(true)?;
        let file = self.encoder.into_inner()?;
        let path = file.path().clone();
        let file = file.finish()?;
        Ok(Some(EncodedTable { path, rows: self.rows, file }))
    }

    /// Give the file up (nothing of it becomes visible).
    pub(crate) fn abort(self) {
        // Finishing the encoder hands its file back; if even that fails, the upload is left
        // unfinished (invisible; a local staging file, which `--resume` and `--overwrite` remove).
        if let Ok(file) = self.encoder.into_inner() {
            file.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, Int64Array};
    use arrow::buffer::NullBuffer;
    use std::sync::Arc;

    /// Rows of `table`: every column cast from `0..rows` modulo 7, and the nullable ones null
    /// from row `nulls_from` on, every third row; `None` keeps a column without validity buffer.
    fn rows(table: &str, range: std::ops::Range<usize>, nulls_from: usize) -> RecordBatch {
        let schema = schema::output(table).unwrap().arrow_schema();
        let columns = schema
            .fields()
            .iter()
            .map(|field| {
                let values: Vec<i64> = range.clone().map(|i| (i % 7) as i64).collect();
                let nulls = (field.is_nullable() && range.end > nulls_from)
                    .then(|| NullBuffer::from_iter(range.clone().map(|i| i < nulls_from || i % 3 != 0)));
                let ints: ArrayRef = Arc::new(Int64Array::new(values.into(), nulls));
                arrow::compute::cast(&ints, field.data_type()).unwrap()
            })
            .collect();
        RecordBatch::try_new(schema, columns).unwrap()
    }

    /// The file's bytes when `batches` are written to a course's `table`.
    fn encoded(table: &'static str, batches: &[RecordBatch]) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let output = crate::store::open_output(dir.path().to_str().unwrap()).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let mut encoder =
            CourseTableEncoder::new(&output, "course-v1:A+B+C", ("", table), rt.handle()).unwrap();
        for batch in batches {
            encoder.write(batch).unwrap();
        }
        let path = encoder.finish().unwrap().unwrap().path;
        std::fs::read(dir.path().join(path.as_ref())).unwrap()
    }

    /// The same rows give the same bytes whether their first slices reach the encoder with a
    /// validity buffer marking nothing null (cut from one batch that has nulls further on) or
    /// without one (batches of their own): the Parquet writer ends pages elsewhere for each.
    #[test]
    fn bytes_do_not_depend_on_validity_buffers_without_nulls() {
        let table = "subsection_diffs";
        let (rows_total, nulls_from) = (6 * ENCODE_BATCH_ROWS, 3 * ENCODE_BATCH_ROWS);
        let whole = rows(table, 0..rows_total, nulls_from);
        let first = whole.slice(0, ENCODE_BATCH_ROWS);
        let pieces: Vec<RecordBatch> = (0..6)
            .map(|k| rows(table, k * ENCODE_BATCH_ROWS..(k + 1) * ENCODE_BATCH_ROWS, nulls_from))
            .collect();
        let layouts_differ = first.columns().iter().zip(pieces[0].columns()).any(|(whole, piece)| {
            whole.nulls().is_some_and(|n| n.null_count() == 0) && piece.nulls().is_none()
        });
        assert!(
            layouts_differ,
            "a column of the first slice must carry an empty validity buffer only when cut"
        );
        let a = encoded(table, std::slice::from_ref(&whole));
        let b = encoded(table, &pieces);
        assert!(a == b, "{} bytes from one batch, {} from six", a.len(), b.len());
    }
}
