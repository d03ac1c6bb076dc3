//! A file written while it is produced ([`StreamedFile`]): a course's grade tables and reports
//! span its partitions, so they are uploaded part by part instead of being held whole.
//!
//! Bytes are buffered up to one part (16 MiB); the first full part starts a multipart upload
//! and each later one is uploaded as it fills. A multipart upload becomes visible only when it
//! is completed ([`StreamedFile::finish`]), like a single `put` (the local filesystem stages
//! it under a name `--resume` and `--overwrite` recognise), so a reader never sees half a
//! file. A file that never fills a part is published with one `put`, as [`put_atomic`] does.
//!
//! The grading threads call this synchronously ([`std::io::Write`], so Parquet's encoder
//! writes straight into it); uploads run on the run's I/O runtime through its handle.

use std::io::Write;
use std::sync::Arc;

use anyhow::{Context, Result};
use bytes::Bytes;
use object_store::path::Path;
use object_store::{MultipartUpload, ObjectStore, ObjectStoreExt, PutPayload};
use sha1::{Digest, Sha1};

use super::parquet::{put_atomic, PART_SIZE};

/// A file uploaded as it is written; see the module documentation.
pub(crate) struct StreamedFile {
    store: Arc<dyn ObjectStore>,
    path: Path,
    rt: tokio::runtime::Handle,
    buffer: Vec<u8>,
    upload: Option<Box<dyn MultipartUpload>>,
    sha1: Sha1,
    bytes: usize,
    /// The store's error, once an upload failed: the run stops (it is not the course's data).
    failed: Option<String>,
}

/// A finished [`StreamedFile`]: its size and SHA-1 (hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Streamed {
    pub bytes: usize,
    pub sha1: String,
}

/// The error of a store that failed under a [`StreamedFile`] (not the data's fault).
#[derive(Debug)]
pub(crate) struct StoreFailed(pub String);

impl std::fmt::Display for StoreFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreFailed {}

impl StreamedFile {
    pub(crate) fn new(store: Arc<dyn ObjectStore>, path: Path, rt: tokio::runtime::Handle) -> Self {
        StreamedFile {
            store,
            path,
            rt,
            buffer: Vec::new(),
            upload: None,
            sha1: Sha1::new(),
            bytes: 0,
            failed: None,
        }
    }

    /// Where the file goes.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The store's error, if an upload failed.
    pub(crate) fn failed(&self) -> Option<&str> {
        self.failed.as_deref()
    }

    /// Upload the buffer's full parts (all of it when `all`), starting the upload if needed.
    fn ship(&mut self, all: bool) -> Result<(), StoreFailed> {
        while self.buffer.len() >= PART_SIZE || (all && !self.buffer.is_empty()) {
            let n = self.buffer.len().min(PART_SIZE);
            let part = Bytes::from(self.buffer.drain(..n).collect::<Vec<u8>>());
            let (store, path) = (self.store.clone(), self.path.clone());
            let upload = &mut self.upload;
            let r =
                self.rt.block_on(async move {
                    if upload.is_none() {
                        *upload =
                            Some(store.put_multipart(&path).await.map_err(|e| {
                                StoreFailed(format!("cannot start an upload of '{path}': {e}"))
                            })?);
                    }
                    let up = upload.as_mut().expect("started above");
                    up.put_part(PutPayload::from_bytes(part))
                        .await
                        .map_err(|e| StoreFailed(format!("cannot upload '{path}': {e}")))
                });
            if let Err(e) = r {
                self.failed = Some(e.0.clone());
                return Err(e);
            }
            crate::hooks::mid_upload(self.path.as_ref());
        }
        Ok(())
    }

    /// Publish the file: its last part and the upload's completion, or one `put` for a file
    /// that never filled a part.
    pub(crate) fn finish(mut self) -> Result<Streamed> {
        if let Some(e) = &self.failed {
            return Err(StoreFailed(e.clone()).into());
        }
        let sha1 = self.sha1.clone().finalize().iter().map(|b| format!("{b:02x}")).collect();
        let bytes = self.bytes;
        if self.upload.is_none() {
            let body = Bytes::from(std::mem::take(&mut self.buffer));
            let (store, path) = (self.store.clone(), self.path.clone());
            self.rt.block_on(put_atomic(&store, &path, body)).map_err(|e| StoreFailed(format!("{e:#}")))?;
            return Ok(Streamed { bytes, sha1 });
        }
        self.ship(true)?;
        let path = self.path.clone();
        let mut upload = self.upload.take().expect("started");
        self.rt
            .block_on(upload.complete())
            .map_err(|e| StoreFailed(format!("cannot complete the upload of '{path}': {e}")))?;
        Ok(Streamed { bytes, sha1 })
    }

    /// Give the file up: an upload in progress is aborted (nothing was visible).
    pub(crate) fn abort(mut self) {
        if let Some(mut upload) = self.upload.take() {
            if let Err(e) = self.rt.block_on(upload.abort()) {
                tracing::warn!(path = %self.path, error = %e, "could not abort an upload");
            }
        }
    }
}

impl Write for StreamedFile {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if let Some(e) = &self.failed {
            return Err(std::io::Error::other(StoreFailed(e.clone())));
        }
        self.sha1.update(data);
        self.bytes += data.len();
        self.buffer.extend_from_slice(data);
        if self.buffer.len() >= PART_SIZE {
            self.ship(false).map_err(std::io::Error::other)?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Write text into a streamed file.
pub(crate) fn write_text(file: &mut StreamedFile, text: &str) -> Result<()> {
    file.write_all(text.as_bytes()).with_context(|| format!("cannot write '{}'", file.path()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;

    fn read(store: &Arc<dyn ObjectStore>, rt: &tokio::runtime::Runtime, path: &Path) -> Option<Vec<u8>> {
        rt.block_on(async { Some(store.get(path).await.ok()?.bytes().await.ok()?.to_vec()) })
    }

    #[test]
    fn a_streamed_file_is_invisible_until_finished_and_holds_every_byte() {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        for size in [0usize, 10, PART_SIZE - 1, PART_SIZE, 2 * PART_SIZE + 17] {
            let path = Path::from(format!("f{size}"));
            let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            let mut f = StreamedFile::new(store.clone(), path.clone(), rt.handle().clone());
            for piece in data.chunks(1 << 20) {
                f.write_all(piece).unwrap();
            }
            assert_eq!(read(&store, &rt, &path), None, "{size}: nothing visible before finish");
            let done = f.finish().unwrap();
            assert_eq!(done.bytes, size);
            assert_eq!(done.sha1, crate::write::sha1_hex(&data));
            assert_eq!(read(&store, &rt, &path), Some(data), "{size}");
        }
        // Aborted: never visible.
        let path = Path::from("aborted");
        let mut f = StreamedFile::new(store.clone(), path.clone(), rt.handle().clone());
        f.write_all(&vec![1u8; PART_SIZE + 5]).unwrap();
        f.abort();
        assert_eq!(read(&store, &rt, &path), None);
    }
}
