//! The local filesystem, writing every file through a staging name regrade recognises.
//!
//! object_store's [`LocalFileSystem`] writes a file as `NAME#1` and renames it into place;
//! a process killed in between leaves `NAME#1` behind, and the store then hides it from
//! every listing (and refuses to delete it), so neither `--resume` nor `--overwrite` could
//! ever see it: a leftover holding personal data in a published run. [`StagedLocal`] writes
//! `_NAME.regrade-staging` instead ([`super::staging_path`]), which listings show and
//! [`super::staged_target`] maps back to the file it was for. Reads, listings and deletes
//! are the wrapped store's.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::FutureExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMode,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result, UploadPart,
};

/// A [`LocalFileSystem`] whose writes go through recognisable staging names.
#[derive(Debug)]
pub(crate) struct StagedLocal {
    inner: LocalFileSystem,
}

impl StagedLocal {
    pub(crate) fn new(inner: LocalFileSystem) -> Self {
        Self { inner }
    }

    /// The file for `location` and its staging file.
    fn files(&self, location: &Path) -> Result<(PathBuf, PathBuf)> {
        let dest = self.inner.path_to_filesystem(location)?;
        let staging = self.inner.path_to_filesystem(&super::staging_path(location))?;
        Ok((dest, staging))
    }
}

impl fmt::Display for StagedLocal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Staged({})", self.inner)
    }
}

fn generic(e: std::io::Error, what: &str, path: &std::path::Path) -> object_store::Error {
    let source = std::io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()));
    match e.kind() {
        ErrorKind::NotFound => {
            object_store::Error::NotFound { path: path.display().to_string(), source: source.into() }
        }
        _ => object_store::Error::Generic { store: "LocalFileSystem", source: source.into() },
    }
}

/// Create (or truncate) a staging file, making its folders as needed.
fn create_staging(staging: &std::path::Path) -> Result<File> {
    let open = || OpenOptions::new().read(true).write(true).create(true).truncate(true).open(staging);
    match open() {
        Ok(f) => Ok(f),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            if let Some(parent) = staging.parent() {
                std::fs::create_dir_all(parent).map_err(|e| generic(e, "cannot create folder", parent))?;
            }
            open().map_err(|e| generic(e, "cannot create", staging))
        }
        Err(e) => Err(generic(e, "cannot create", staging)),
    }
}

/// Move a complete staging file to its name: replacing what is there (`Overwrite`), or only
/// if nothing is (`Create`).
fn publish(staging: &std::path::Path, dest: &std::path::Path, create: bool) -> Result<()> {
    let done = if create {
        std::fs::hard_link(staging, dest).map(|()| {
            let _ = std::fs::remove_file(staging);
        })
    } else {
        std::fs::rename(staging, dest)
    };
    done.map_err(|e| {
        let _ = std::fs::remove_file(staging);
        if e.kind() == ErrorKind::AlreadyExists {
            object_store::Error::AlreadyExists { path: dest.display().to_string(), source: e.into() }
        } else {
            generic(e, "cannot move its staging file to", dest)
        }
    })
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    match tokio::runtime::Handle::try_current() {
        Ok(rt) => rt.spawn_blocking(f).await.map_err(|e| object_store::Error::JoinError { source: e })?,
        Err(_) => f(),
    }
}

#[async_trait]
impl ObjectStore for StagedLocal {
    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> Result<PutResult> {
        let create = match opts.mode {
            PutMode::Overwrite => false,
            PutMode::Create => true,
            PutMode::Update(_) => return self.inner.put_opts(location, payload, opts).await,
        };
        if !opts.attributes.is_empty() {
            return self.inner.put_opts(location, payload, opts).await;
        }
        let (dest, mut staging) = self.files(location)?;
        if create {
            // Writers racing to create the same file (two runs claiming a folder) each stage
            // their own bytes: with one shared staging file, the winner's link could publish
            // the loser's bytes.
            staging = self.inner.path_to_filesystem(&super::unique_staging_path(location))?;
        }
        blocking(move || {
            let mut file = create_staging(&staging)?;
            let written = payload.iter().try_for_each(|b| file.write_all(b)).and_then(|()| file.sync_data());
            if let Err(e) = written {
                drop(file);
                let _ = std::fs::remove_file(&staging);
                return Err(generic(e, "cannot write", &staging));
            }
            drop(file);
            publish(&staging, &dest, create)?;
            Ok(PutResult { e_tag: None, version: None })
        })
        .await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        if !opts.attributes.is_empty() {
            return self.inner.put_multipart_opts(location, opts).await;
        }
        let (dest, staging) = self.files(location)?;
        let file = {
            let staging = staging.clone();
            blocking(move || create_staging(&staging)).await?
        };
        Ok(Box::new(StagedUpload { staging, dest, file: Arc::new(Mutex::new(file)), offset: 0, done: false }))
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[std::ops::Range<u64>]) -> Result<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
}

/// A multipart upload into the staging file, moved into place by `complete`.
#[derive(Debug)]
struct StagedUpload {
    staging: PathBuf,
    dest: PathBuf,
    file: Arc<Mutex<File>>,
    offset: u64,
    done: bool,
}

#[async_trait]
impl MultipartUpload for StagedUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let offset = self.offset;
        self.offset += data.content_length() as u64;
        let (file, staging) = (self.file.clone(), self.staging.clone());
        blocking(move || {
            let mut file = file.lock().unwrap_or_else(|e| e.into_inner());
            file.seek(SeekFrom::Start(offset))
                .and_then(|_| data.iter().try_for_each(|b| file.write_all(b)))
                .map_err(|e| generic(e, "cannot write", &staging))
        })
        .boxed()
    }

    async fn complete(&mut self) -> Result<PutResult> {
        self.done = true;
        let (file, staging, dest) = (self.file.clone(), self.staging.clone(), self.dest.clone());
        blocking(move || {
            let file = file.lock().unwrap_or_else(|e| e.into_inner());
            file.sync_data().map_err(|e| generic(e, "cannot write", &staging))?;
            publish(&staging, &dest, false)?;
            Ok(PutResult { e_tag: None, version: None })
        })
        .await
    }

    async fn abort(&mut self) -> Result<()> {
        self.done = true;
        let staging = self.staging.clone();
        blocking(move || std::fs::remove_file(&staging).map_err(|e| generic(e, "cannot remove", &staging)))
            .await
    }
}

impl Drop for StagedUpload {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.staging);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::ObjectStoreExt;

    /// Two writers creating the same file at once: one succeeds, the other is told it exists,
    /// and the file holds the winner's bytes, round after round.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn racing_creates_publish_the_winners_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(StagedLocal::new(LocalFileSystem::new_with_prefix(dir.path()).unwrap()));
        for round in 0..200 {
            let path = Path::from(format!("claims/{round}.json"));
            let put = |who: &'static str| {
                let (store, path) = (store.clone(), path.clone());
                tokio::spawn(async move {
                    let body = PutPayload::from(who.repeat(4096).into_bytes());
                    let opts = PutOptions { mode: PutMode::Create, ..PutOptions::default() };
                    (who, store.put_opts(&path, body, opts).await)
                })
            };
            let (a, b) = (put("a"), put("b"));
            let results = [a.await.unwrap(), b.await.unwrap()];
            let won: Vec<&str> = results.iter().filter(|(_, r)| r.is_ok()).map(|(w, _)| *w).collect();
            assert_eq!(won.len(), 1, "round {round}: {results:?}");
            let lost = results.iter().find(|(_, r)| r.is_err()).unwrap();
            assert!(
                matches!(lost.1, Err(object_store::Error::AlreadyExists { .. })),
                "round {round}: {lost:?}"
            );
            let bytes = store.get(&path).await.unwrap().bytes().await.unwrap();
            assert_eq!(
                bytes,
                won[0].repeat(4096).as_bytes(),
                "round {round}: the file holds the loser's bytes"
            );
        }
        let left: Vec<_> = walk(dir.path());
        assert!(
            left.iter().all(|p| !p.ends_with(super::super::STAGING_SUFFIX)),
            "staging files left: {left:?}"
        );
    }

    fn walk(dir: &std::path::Path) -> Vec<String> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p.display().to_string());
            }
        }
        out
    }
}
