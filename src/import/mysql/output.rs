//! The output folder of an import, and its manifest.
//!
//! * Without `--overwrite`, an output that already holds any table this importer writes is
//!   refused (naming it); tables of other importers (`import olx`'s `course_blocks/`,
//!   `course_policies/`) are left alone either way.
//! * New files carry the import's own name prefix, so they never replace a file of an earlier
//!   import in place. With `--overwrite`, the earlier import's files are removed only once
//!   every new file is written; an import that fails removes its own files and leaves the
//!   earlier ones as they were.
//! * `manifest.json` is written last: a folder without it holds no complete import.

use anyhow::{Context, Result};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::ObjectStoreExt;

use super::exec::Done;
use super::snapshot::Agreement;
use super::sources::SOURCES;
use super::Import;
use crate::error::UsageError;
use crate::py::time::fmt_time;
use crate::store::Location;
use crate::write::{self, WrittenFile};

/// The manifest's name, at the output's root.
pub(crate) const MANIFEST: &str = "manifest.json";

/// Every table this importer writes.
pub(crate) fn tables() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = SOURCES.iter().flat_map(|s| s.writes.iter().copied()).collect();
    out.extend(["id_verifications", "course_versions", "course_settings", "team_memberships"]);
    out
}

/// The output as found before the import.
pub(crate) struct Prepared {
    /// Files of an earlier import (removed once the new one is complete).
    old: Vec<Path>,
}

async fn list(out: &Location, table: &str) -> Result<Vec<Path>> {
    let dir = write::table_dir(out, table, None)?;
    out.store
        .list(Some(&dir))
        .map_ok(|m| m.location)
        .try_collect()
        .await
        .with_context(|| format!("cannot list '{}' (check the URL and the credentials)", out.display(&dir)))
}

/// Check the output: refuse an earlier import's tables unless `overwrite`.
pub(crate) async fn prepare(out: &Location, overwrite: bool) -> Result<Prepared> {
    let mut old = Vec::new();
    let mut found = Vec::new();
    for table in tables() {
        let files = list(out, table).await?;
        if !files.is_empty() {
            found.push(format!("{table}/ ({} files)", files.len()));
        }
        old.extend(files);
    }
    let manifest = out.path(&[MANIFEST]);
    match out.store.head(&manifest).await {
        Ok(_) => old.push(manifest),
        Err(object_store::Error::NotFound { .. }) => {}
        Err(e) => return Err(e).with_context(|| format!("cannot check '{}'", out.display(&manifest))),
    }
    if !found.is_empty() && !overwrite {
        return Err(UsageError::new(format!(
            "{} already holds an import: {}; pass --overwrite to replace it (other tables there are kept)",
            out.url,
            found.join(", ")
        ))
        .into());
    }
    Ok(Prepared { old })
}

/// Remove what a failed import wrote (its files carry `prefix`).
pub(crate) async fn abandon(out: &Location, prefix: &str) -> Result<()> {
    for table in tables() {
        for path in list(out, table).await? {
            if path.filename().is_some_and(|f| f.starts_with(prefix)) {
                out.store
                    .delete(&path)
                    .await
                    .with_context(|| format!("cannot remove '{}'", out.display(&path)))?;
            }
        }
    }
    Ok(())
}

/// Remove the earlier import's files, then write the manifest.
pub(crate) async fn publish(out: &Location, manifest: &Manifest, prepared: Prepared) -> Result<()> {
    let new: std::collections::BTreeSet<&str> = manifest.files.iter().map(|f| f.path.as_str()).collect();
    for path in prepared.old {
        if !new.contains(out.relative(&path).as_str()) {
            match out.store.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e).with_context(|| format!("cannot remove '{}'", out.display(&path))),
            }
        }
    }
    let body = serde_json::to_vec_pretty(manifest)?;
    write::put_atomic(&out.store, &out.path(&[MANIFEST]), body.into()).await
}

/// Rows of one table.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TableCount {
    pub table: String,
    pub rows: u64,
}

/// How long one source took.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SourceTiming {
    pub source: String,
    pub rows_read: u64,
    pub seconds: f64,
    pub rows_per_second: f64,
}

/// What an import read and wrote, written last as `manifest.json`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Manifest {
    pub tool: &'static str,
    pub command: &'static str,
    pub tool_version: &'static str,
    /// The server, without credentials.
    pub server: String,
    pub ssl_mode: String,
    /// The TLS version the connections use (`TLSv1.3`), or null when unencrypted.
    pub tls: Option<String>,
    /// When the snapshot was taken (server clock, UTC).
    pub snapshot_at: String,
    /// How the connections were made to see the same moment.
    pub snapshot: String,
    /// Jobs read in a later snapshot after a dropped connection (empty: one point in time).
    pub resnapshots: Vec<(String, String)>,
    /// The moment verification status is computed at.
    pub as_of: String,
    pub days_good_for: i64,
    pub courses: Vec<String>,
    pub threads: usize,
    pub page_rows: usize,
    pub rows_read: u64,
    /// Per source (a query, or a few for the course facts): rows read, seconds (summed over its
    /// jobs, which may run at once) and rows per second.
    pub sources: Vec<SourceTiming>,
    pub tables: Vec<TableCount>,
    /// Rows read and deliberately not written, by reason.
    pub dropped: Vec<TableCount>,
    /// Sources whose edX tables the server does not have (their tables are empty).
    pub skipped: Vec<String>,
    pub seconds: f64,
    pub rows_per_second: f64,
    pub files: Vec<WrittenFile>,
}

impl Manifest {
    pub(crate) fn new(import: &Import, done: Done, skipped: Vec<&str>, seconds: f64) -> Manifest {
        let mut files = done.files;
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let count = |m: std::collections::BTreeMap<&'static str, u64>| {
            m.into_iter().map(|(t, rows)| TableCount { table: t.to_string(), rows }).collect()
        };
        Manifest {
            tool: "regrade",
            command: "import mysql",
            tool_version: env!("CARGO_PKG_VERSION"),
            server: import.server.shown(),
            ssl_mode: format!("{:?}", import.server.ssl_mode),
            tls: import.tls.clone(),
            snapshot_at: fmt_time(import.snapshot_at),
            snapshot: match import.agreement {
                Agreement::OneConnection => "one connection".into(),
                Agreement::ReadLock => "connections started under FLUSH TABLES WITH READ LOCK".into(),
            },
            resnapshots: done.resnapshots.into_iter().map(|(j, t)| (j, fmt_time(t))).collect(),
            as_of: fmt_time(import.as_of),
            days_good_for: import.opts.days_good_for,
            courses: import.courses.clone(),
            threads: import.opts.threads,
            page_rows: import.opts.page_rows,
            rows_read: done.rows_read,
            sources: done
                .by_source
                .iter()
                .map(|(name, &(rows, secs))| SourceTiming {
                    source: name.to_string(),
                    rows_read: rows,
                    seconds: secs,
                    rows_per_second: if secs > 0.0 { rows as f64 / secs } else { 0.0 },
                })
                .collect(),
            tables: count(done.rows_written),
            dropped: count(done.dropped),
            skipped: skipped.into_iter().map(String::from).collect(),
            seconds,
            rows_per_second: if seconds > 0.0 { done.rows_read as f64 / seconds } else { 0.0 },
            files,
        }
    }
}
