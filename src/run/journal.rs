//! The journal of a run in progress: `_journal/` in the output folder.
//!
//! | file | written | holds |
//! |---|---|---|
//! | `_claim.json` | first, before anything else ([`super::claim`]) | who is writing the folder |
//! | `_run.json` | once the input is planned | the options that decide the outputs, every input file read (path, size, ETag, modification time), the run-level files (`manifest.json`, ...) |
//! | `course_id=<escaped>.pending.json` | before a course's first file | the paths of every file the course is about to write |
//! | `course_id=<escaped>.json` | once a course's files are all written | its summary and files, with sizes and SHA-1 |
//!
//! So every file a run writes is listed in its journal before it is written, and in its
//! manifest once published: `--overwrite` removes exactly those ([`Folder::ours`]), `--resume`
//! keeps the courses whose files are all there and whole and removes the rest. Removed once
//! the manifest is written.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::{Context, Result};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStoreExt};
use serde::{Deserialize, Serialize};

use super::{CourseSummary, RunOptions};
use crate::read::TableFile;
use crate::store::{self, Location};
use crate::write::WrittenFile;
use crate::write::{put_atomic, sha1_hex};

/// The journal's folder.
pub(crate) const JOURNAL: &str = "_journal";
/// The options and inputs of the run.
pub(crate) const RUN_FILE: &str = "_run.json";
/// The claim on the folder ([`super::claim`]).
pub(crate) const CLAIM_FILE: &str = "_claim.json";
const PENDING: &str = crate::store::partition::JOURNAL_PENDING_SUFFIX;
/// `_run.json`'s layout; older ones (without `format`) recorded only the options.
const FORMAT: u64 = 2;

/// `_run.json`: what decides the run's outputs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RunRecord {
    pub format: u64,
    /// [`fingerprint`] of the options.
    pub options: serde_json::Value,
    /// Every input file listed, sorted by path.
    pub inputs: Vec<InputFile>,
    /// Files written once for the whole run (relative to the output folder).
    pub run_files: Vec<String>,
}

impl RunRecord {
    pub(crate) fn new(opts: &RunOptions, inputs: Vec<InputFile>) -> Result<Self> {
        let mut run_files = vec!["manifest.json".to_string()];
        if opts.command == super::Command::Backfill {
            run_files
                .extend(["readiness.csv", "backfill/load_data.sql", "backfill/upsert.sql"].map(String::from));
        }
        Ok(Self { format: FORMAT, options: fingerprint(opts)?, inputs, run_files })
    }

    /// A `_run.json` as read: `None` when it is not this layout (an older regrade's).
    pub(crate) fn parse(v: &serde_json::Value) -> Option<Self> {
        (v.get("format").and_then(|f| f.as_u64()) == Some(FORMAT))
            .then(|| serde_json::from_value(v.clone()).ok())
            .flatten()
    }
}

/// One input file as the run listed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct InputFile {
    /// Relative to the input root.
    pub path: String,
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub e_tag: Option<String>,
    pub modified: String,
}

/// Every file of the plan's tables, sorted by path.
pub(crate) fn input_files(input: &Location, files: &HashMap<&'static str, Vec<TableFile>>) -> Vec<InputFile> {
    let mut out: Vec<InputFile> = files
        .values()
        .flatten()
        .map(|f| InputFile {
            path: input.relative(&f.meta.location),
            size: f.meta.size,
            e_tag: f.meta.e_tag.clone(),
            modified: f.meta.last_modified.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        })
        .collect();
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// What differs between two listings of the input, one line per file.
pub(crate) fn input_changes(before: &[InputFile], now: &[InputFile]) -> Vec<String> {
    let old: BTreeMap<&str, &InputFile> = before.iter().map(|f| (f.path.as_str(), f)).collect();
    let new: BTreeMap<&str, &InputFile> = now.iter().map(|f| (f.path.as_str(), f)).collect();
    let mut out = Vec::new();
    for (path, a) in &old {
        match new.get(path) {
            None => out.push(format!("{path} (removed)")),
            Some(b) if a.size != b.size => out.push(format!("{path} (size {} -> {} bytes)", a.size, b.size)),
            // The ETag names the content where the store has one; else the modification time.
            Some(b) if a.e_tag.is_some() && b.e_tag.is_some() && a.e_tag != b.e_tag => {
                out.push(format!("{path} (rewritten: ETag changed, modified {})", b.modified))
            }
            Some(b) if (a.e_tag.is_none() || b.e_tag.is_none()) && a.modified != b.modified => {
                out.push(format!("{path} (modified {} -> {})", a.modified, b.modified))
            }
            Some(_) => {}
        }
    }
    out.extend(new.keys().filter(|p| !old.contains_key(*p)).map(|p| format!("{p} (added)")));
    out
}

/// The options that decide a run's outputs (not how fast it runs or how it was started), as
/// recorded in the journal and compared on `--resume`.
pub(crate) fn fingerprint(opts: &RunOptions) -> Result<serde_json::Value> {
    let mut v = serde_json::to_value(opts)?;
    if let Some(map) = v.as_object_mut() {
        // learners_per_chunk and the memory budget (the partitions) change neither rows nor
        // bytes (see write::CourseTableEncoder).
        for volatile in [
            "memory_budget",
            "overwrite",
            "resume",
            "threads",
            "courses_in_flight",
            "learners_per_chunk",
            "fail_fast",
            "description",
        ] {
            map.remove(volatile);
        }
        map.insert("input".into(), store::redact(&opts.input).into());
        map.insert("output".into(), store::redact(&opts.output).into());
        map.insert("as_of".into(), crate::py::time::fmt_time(opts.as_of).into());
        if let Some((path, text)) = &opts.policy {
            map.insert(
                "policy".into(),
                serde_json::json!({ "path": path, "sha1": sha1_hex(text.as_bytes()) }),
            );
        }
    }
    Ok(v)
}

/// The top-level keys whose values differ between two option records.
pub(crate) fn differences(a: &serde_json::Value, b: &serde_json::Value) -> Vec<String> {
    let keys: BTreeSet<&String> =
        a.as_object().into_iter().chain(b.as_object()).flat_map(|m| m.keys()).collect();
    keys.into_iter().filter(|k| a.get(k.as_str()) != b.get(k.as_str())).map(|k| k.to_string()).collect()
}

/// A completed course: `course_id=<escaped>.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct JournalEntry {
    pub summary: CourseSummary,
    pub files: Vec<WrittenFile>,
}

/// A course about to write its files: `course_id=<escaped>.pending.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PendingEntry {
    pub course_id: String,
    pub files: Vec<String>,
}

fn entry_path(output: &Location, course_id: &str, pending: bool) -> Result<Path> {
    let suffix = if pending { PENDING } else { ".json" };
    let name = format!("{}{suffix}", crate::store::partition::partition_segment("course_id", course_id));
    super::parse_path(&format!("{}/{JOURNAL}/{name}", output.prefix))
}

/// Record the files a course is about to write (before the first of them).
pub(crate) async fn journal_pending(output: &Location, course_id: &str, files: Vec<String>) -> Result<()> {
    let entry = PendingEntry { course_id: course_id.to_string(), files };
    let path = entry_path(output, course_id, true)?;
    put_atomic(&output.store, &path, Bytes::from(serde_json::to_vec_pretty(&entry)?)).await
}

/// Record a course whose files are all written.
pub(crate) async fn journal_course(
    output: &Location,
    summary: &CourseSummary,
    files: &[WrittenFile],
) -> Result<()> {
    let entry = JournalEntry { summary: summary.clone(), files: files.to_vec() };
    let path = entry_path(output, &summary.course_id, false)?;
    put_atomic(&output.store, &path, Bytes::from(serde_json::to_vec_pretty(&entry)?)).await
}

/// Write `_run.json`.
pub(crate) async fn write_record(output: &Location, record: &RunRecord) -> Result<()> {
    let path = output.path(&[JOURNAL, RUN_FILE]);
    put_atomic(&output.store, &path, Bytes::from(serde_json::to_vec_pretty(record)?)).await
}

/// What an output folder holds, as regrade sees it: its files, and what its manifest and
/// journal say a run wrote.
#[derive(Debug, Default)]
pub(crate) struct Folder {
    /// Every file but the claim.
    pub files: Vec<ObjectMeta>,
    /// `manifest.json` is there and is a regrade manifest: the files it lists.
    pub manifest: Option<Vec<String>>,
    /// `_run.json` as read.
    pub record: Option<serde_json::Value>,
    pub complete: Vec<JournalEntry>,
    pub pending: Vec<PendingEntry>,
    /// Journal entries that could not be read (path, error).
    pub unreadable: Vec<(Path, String)>,
    /// On a local folder, `NAME#<digits>` files (relative paths): an older regrade's staging
    /// files, which object_store hides from listings and cannot delete.
    pub legacy: Vec<String>,
}

impl Folder {
    /// List the folder and read its manifest and journal.
    pub(crate) async fn read(output: &Location) -> Result<Folder> {
        let mut files: Vec<ObjectMeta> =
            output.store.list(Some(&output.prefix)).try_collect().await.with_context(|| {
                format!("cannot list the output folder '{}' (check the URL and the credentials)", output.url)
            })?;
        files.retain(|m| !is_claim(output, &m.location));
        files.sort_by(|a, b| a.location.cmp(&b.location));
        let legacy = output.local_dir.as_deref().map(legacy_staging).unwrap_or_default();
        let mut folder = Folder { files, legacy, ..Folder::default() };
        let manifest = output.path(&["manifest.json"]);
        if folder.files.iter().any(|m| m.location == manifest) {
            folder.manifest = read_json(output, &manifest).await.ok().and_then(|m| manifest_outputs(&m));
        }
        let journal = output.path(&[JOURNAL]);
        let run_file = output.path(&[JOURNAL, RUN_FILE]);
        let entries: Vec<Path> = folder
            .files
            .iter()
            .map(|m| m.location.clone())
            .filter(|p| p.prefix_match(&journal).is_some_and(|rest| rest.count() == 1))
            .filter(|p| p.filename().is_some_and(|n| n.starts_with("course_id=") && n.ends_with(".json")))
            .collect();
        if folder.files.iter().any(|m| m.location == run_file) {
            folder.record = Some(read_json(output, &run_file).await?);
        }
        let read: Vec<(Path, Result<serde_json::Value>)> = futures::stream::iter(entries)
            .map(|p| async move {
                let v = read_json(output, &p).await;
                (p, v)
            })
            .buffered(16)
            .collect()
            .await;
        for (path, v) in read {
            // Removed since the listing (a shard cleaning up its own interrupted course while
            // this one starts): gone, not unreadable.
            if v.as_ref().is_err_and(is_not_found) {
                folder.files.retain(|m| m.location != path);
                continue;
            }
            let pending = path.filename().is_some_and(|n| n.ends_with(PENDING));
            let parsed = v.and_then(|v| {
                if pending {
                    folder.pending.push(serde_json::from_value(v)?);
                } else {
                    folder.complete.push(serde_json::from_value(v)?);
                }
                Ok(())
            });
            if let Err(e) = parsed {
                folder.unreadable.push((path, format!("{e:#}")));
            }
        }
        Ok(folder)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.files.is_empty() && self.legacy.is_empty()
    }

    /// Whether a file is the journal's own (`_journal/_run.json`, `_journal/course_id=*.json`).
    pub(crate) fn is_journal(output: &Location, path: &Path) -> bool {
        let journal = output.path(&[JOURNAL]);
        path.prefix_match(&journal).is_some_and(|rest| rest.count() == 1)
            && path.filename().is_some_and(|n| {
                n == RUN_FILE
                    || n.starts_with("_claim")
                    || (n.starts_with('_') && super::shard::is_shard_file(n))
                    || (n.starts_with("course_id=") && n.ends_with(".json"))
            })
    }

    /// The paths a run wrote into this folder or was writing when it stopped, as its
    /// manifest and journal list them (relative to the folder).
    pub(crate) fn listed(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        if let Some(m) = &self.manifest {
            out.insert("manifest.json".to_string());
            out.extend(m.iter().cloned());
        }
        if let Some(r) = self.record.as_ref().and_then(RunRecord::parse) {
            out.extend(r.run_files);
        }
        out.extend(self.complete.iter().flat_map(|e| e.files.iter().map(|f| f.path.clone())));
        out.extend(self.pending.iter().flat_map(|e| e.files.iter().cloned()));
        out
    }

    /// Whether a previous run wrote `path` (or was writing it, under its staging name).
    pub(crate) fn is_ours(output: &Location, listed: &BTreeSet<String>, path: &Path) -> bool {
        let target = store::staged_target(path);
        let path = target.as_ref().unwrap_or(path);
        Self::is_journal(output, path) || listed.contains(&output.relative(path))
    }

    /// The files of the folder a previous run wrote: all that `--overwrite` may remove.
    pub(crate) fn ours(&self, output: &Location) -> Vec<Path> {
        let listed = self.listed();
        self.files.iter().map(|m| m.location.clone()).filter(|p| Self::is_ours(output, &listed, p)).collect()
    }

    /// The files of the folder no run wrote (relative paths).
    pub(crate) fn foreign(&self, output: &Location) -> Vec<String> {
        let listed = self.listed();
        let files = self.files.iter().filter(|m| !Self::is_ours(output, &listed, &m.location));
        let mut out: Vec<String> = files.map(|m| output.relative(&m.location)).collect();
        let legacy = self.legacy_ours(&listed);
        out.extend(self.legacy.iter().filter(|p| !legacy.contains(p)).cloned());
        out
    }

    /// The older regrade's staging files that belong to the run: for a file it lists, or in
    /// one of its folders (a course it was writing when it stopped is listed nowhere).
    pub(crate) fn legacy_ours(&self, listed: &BTreeSet<String>) -> Vec<String> {
        let top = |p: &str| p.split('/').next().unwrap_or_default().to_string();
        let folders: BTreeSet<String> =
            listed.iter().filter(|p| p.contains('/')).map(|p| top(p)).chain([JOURNAL.to_string()]).collect();
        self.legacy
            .iter()
            .filter(|p| {
                let target = p.rsplit_once('#').map_or(p.as_str(), |(t, _)| t);
                listed.contains(target) || (target.contains('/') && folders.contains(&top(target)))
            })
            .cloned()
            .collect()
    }

    /// Staging files (of a write a crash interrupted).
    pub(crate) fn staging(&self) -> Vec<Path> {
        self.files
            .iter()
            .filter(|m| store::staged_target(&m.location).is_some())
            .map(|m| m.location.clone())
            .collect()
    }

    /// The courses a `--resume` keeps: journaled complete, every file listed there, whole.
    pub(crate) fn kept(&self, output: &Location) -> super::DoneBefore {
        let sizes: HashMap<&Path, u64> = self.files.iter().map(|m| (&m.location, m.size)).collect();
        let mut done = super::DoneBefore::new();
        for entry in &self.complete {
            let whole = entry.files.iter().all(|f| {
                output
                    .resolve(&f.path)
                    .and_then(|p| sizes.get(&p).copied())
                    .is_some_and(|size| size == f.bytes as u64)
            });
            if whole {
                done.insert(entry.summary.course_id.clone(), (entry.summary.clone(), entry.files.clone()));
            }
        }
        done
    }

    /// Files of the courses not in `kept` (as their journal entries list them), those
    /// entries, and every staging file: what a resumed run removes before it goes on. With
    /// `scope`, only those courses' files and the staging files of the files they list (a
    /// shard leaves the other shards' courses alone).
    pub(crate) fn not_kept(
        &self,
        output: &Location,
        kept: &super::DoneBefore,
        scope: Option<&BTreeSet<String>>,
    ) -> Vec<Path> {
        let present: BTreeSet<&Path> = self.files.iter().map(|m| &m.location).collect();
        let in_scope = |course_id: &str| scope.is_none_or(|s| s.contains(course_id));
        let mut out: BTreeSet<Path> = match scope {
            None => self.staging().into_iter().collect(),
            Some(_) => {
                let listed: BTreeSet<String> = self
                    .pending
                    .iter()
                    .filter(|e| in_scope(&e.course_id))
                    .flat_map(|e| e.files.iter().cloned())
                    .chain(
                        self.complete
                            .iter()
                            .filter(|e| in_scope(&e.summary.course_id))
                            .flat_map(|e| e.files.iter().map(|f| f.path.clone())),
                    )
                    .collect();
                let staging = self.staging().into_iter();
                staging
                    .filter(|p| {
                        store::staged_target(p).is_some_and(|t| listed.contains(&output.relative(&t)))
                    })
                    .collect()
            }
        };
        let mut drop_course = |course_id: &str, files: Vec<String>| {
            for f in files {
                out.extend(output.resolve(&f).filter(|p| present.contains(p)));
            }
            for pending in [true, false] {
                out.extend(entry_path(output, course_id, pending).ok().filter(|p| present.contains(p)));
            }
        };
        for e in self.pending.iter().filter(|e| !kept.contains_key(&e.course_id) && in_scope(&e.course_id)) {
            drop_course(&e.course_id, e.files.clone());
        }
        let complete = self.complete.iter().filter(|e| in_scope(&e.summary.course_id));
        for e in complete.filter(|e| !kept.contains_key(&e.summary.course_id)) {
            drop_course(&e.summary.course_id, e.files.iter().map(|f| f.path.clone()).collect());
        }
        // Files of kept courses are never removed, even if another entry lists them.
        let keep: BTreeSet<Path> = kept
            .values()
            .flat_map(|(_, files)| files.iter().filter_map(|f| output.resolve(&f.path)))
            .collect();
        out.into_iter().filter(|p| !keep.contains(p)).collect()
    }
}

/// Whether an error is the store saying the object is not there.
fn is_not_found(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        matches!(c.downcast_ref::<object_store::Error>(), Some(object_store::Error::NotFound { .. }))
    })
}

/// Whether `path` is a claim on the folder: the run's (`_journal/_claim.json`) or a shard's
/// (`_journal/_claim.shard-K.json`).
fn is_claim(output: &Location, path: &Path) -> bool {
    let journal = output.path(&[JOURNAL]);
    path.prefix_match(&journal).is_some_and(|rest| rest.count() == 1)
        && path.filename().is_some_and(|n| n.starts_with("_claim") && n.ends_with(".json"))
}

pub(crate) async fn read_json(output: &Location, path: &Path) -> Result<serde_json::Value> {
    let bytes = output
        .store
        .get(path)
        .await
        .with_context(|| format!("cannot read '{}'", output.display(path)))?
        .bytes()
        .await
        .with_context(|| format!("cannot read '{}'", output.display(path)))?;
    serde_json::from_slice(&bytes).with_context(|| format!("'{}' is not valid JSON", output.display(path)))
}

/// A JSON file of the folder, or `None` when there is none (one read, no separate `head`).
pub(crate) async fn read_json_if_any(output: &Location, path: &Path) -> Result<Option<serde_json::Value>> {
    match read_json(output, path).await {
        Ok(v) => Ok(Some(v)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The files a regrade manifest lists, or `None` when it is not one.
fn manifest_outputs(m: &serde_json::Value) -> Option<Vec<String>> {
    if m.get("tool").and_then(|t| t.as_str()) != Some("regrade") {
        return None;
    }
    let outputs = m.get("outputs")?.as_array()?;
    outputs.iter().map(|f| f.get("path").and_then(|p| p.as_str()).map(String::from)).collect()
}

/// Delete files (a file already gone is fine); on a local folder, then the folders they
/// leave empty.
pub(crate) async fn remove(output: &Location, paths: &[Path]) -> Result<()> {
    for p in paths {
        match output.store.delete(p).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e).with_context(|| format!("cannot delete '{}'", output.display(p))),
        }
    }
    if let Some(dir) = &output.local_dir {
        for p in paths {
            let rel = output.relative(p);
            let mut folder = dir.join(&rel);
            while folder.pop() && folder.starts_with(dir) && folder != *dir {
                if std::fs::remove_dir(&folder).is_err() {
                    break;
                }
            }
        }
    }
    Ok(())
}

/// `NAME#<digits>` files under a local folder (links not followed), relative paths.
fn legacy_staging(root: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else { continue };
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file()
                && name
                    .rsplit_once('#')
                    .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            {
                let rel = path.strip_prefix(root).unwrap_or(&path);
                out.push(
                    rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/"),
                );
            }
        }
    }
    out.sort();
    out
}

/// Delete an older regrade's staging files (object_store cannot: it hides them).
pub(crate) fn remove_legacy(output: &Location, rels: &[String]) -> Result<()> {
    let Some(dir) = &output.local_dir else { return Ok(()) };
    for rel in rels {
        let path = dir.join(rel);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot delete '{}'", path.display())),
        }
    }
    Ok(())
}

/// Remove the journal (but not the claim, released last) once the manifest is published.
pub(crate) async fn clear_journal(output: &Location) -> Result<()> {
    let prefix = output.path(&[JOURNAL]);
    let claim = output.path(&[JOURNAL, CLAIM_FILE]);
    let entries: Vec<_> =
        output.store.list(Some(&prefix)).try_collect().await.context("cannot list the run journal")?;
    let paths: Vec<Path> = entries.into_iter().map(|m| m.location).filter(|p| *p != claim).collect();
    remove(output, &paths).await
}

/// A course's file, encoded, to be written.
#[derive(Debug)]
pub(crate) struct NewFile {
    pub path: Path,
    pub bytes: Bytes,
    pub rows: Option<usize>,
}

/// Write a course's files: listed first in its journal entry (`.pending.json`), so that a
/// crash at any point leaves only files the journal names, then published one by one.
pub(crate) async fn write_course_files(
    output: &Location,
    course_id: &str,
    files: Vec<NewFile>,
) -> Result<Vec<WrittenFile>> {
    journal_pending(output, course_id, files.iter().map(|f| output.relative(&f.path)).collect()).await?;
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        let (bytes, sha1) = (f.bytes.len(), sha1_hex(&f.bytes));
        put_atomic(&output.store, &f.path, f.bytes).await?;
        out.push(WrittenFile { path: output.relative(&f.path), rows: f.rows, bytes, sha1 });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A journal entry removed between the listing and its read is told apart from one that
    /// cannot be read: the first is skipped, the second refuses a resume.
    #[tokio::test]
    async fn an_entry_gone_since_the_listing_is_not_an_unreadable_one() {
        let output = store::open_output("memory://journal-race/out").expect("store");
        let gone = output.path(&[JOURNAL, "course_id=a.pending.json"]);
        let e = read_json(&output, &gone).await.expect_err("missing");
        assert!(is_not_found(&e), "{e:#}");
        let broken = output.path(&[JOURNAL, "course_id=b.json"]);
        put_atomic(&output.store, &broken, Bytes::from_static(b"{not json")).await.expect("put");
        let e = read_json(&output, &broken).await.expect_err("not JSON");
        assert!(!is_not_found(&e), "{e:#}");
        let folder = Folder::read(&output).await.expect("read");
        assert_eq!(folder.unreadable.len(), 1, "{:?}", folder.unreadable);
    }
}
