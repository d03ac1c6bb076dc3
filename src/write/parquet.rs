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
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

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
pub struct Encoder<W: std::io::Write + Send = Vec<u8>> {
    writer: ArrowWriter<W>,
    rows: usize,
}

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
        let writer = ArrowWriter::try_new(sink, schema.clone(), Some(writer_properties()))
            .context("cannot start a Parquet encoder")?;
        Ok(Self { writer, rows: 0 })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.writer.write(batch).context("cannot encode a batch as Parquet")?;
        self.rows += batch.num_rows();
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Approximate bytes held (encoded plus buffered).
    pub fn memory_size(&self) -> usize {
        self.writer.bytes_written() + self.writer.memory_size()
    }

    /// The writer, once the file's footer is written into it.
    pub fn into_inner(self) -> Result<W> {
        self.writer.into_inner().context("cannot finish the Parquet file")
    }

    /// The writer, before the file is finished (to see why a write failed).
    pub fn inner(&self) -> &W {
        self.writer.inner()
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
