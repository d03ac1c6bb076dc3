//! The output folder before and after a run: what may be written and removed there.
//!
//! * The output and the input never overlap, in either direction ([`check_overlap`]).
//! * A local output folder holds no symbolic link ([`check_links`]): regrade never writes or
//!   deletes through one.
//! * [`inspect`] decides, without changing anything, what the run will do with the folder:
//!   start in an empty one, replace a previous run (`--overwrite`: only the files its manifest
//!   or journal lists, and only when nothing else is there) or go on with an interrupted one
//!   (`--resume`: same options).
//! * [`check_input`], once the input is planned: `--resume` goes on only from the input the
//!   interrupted run started from.
//! * [`commit`], only then (so unreadable input is found before anything changes): the old
//!   run's files are removed, or the interrupted run's incomplete ones, and
//!   `_journal/_run.json` is written.
//! * [`abandon`] undoes a run stopped by unreadable input found while reading a course.

use std::path::{Component, Path as FsPath, PathBuf};

use anyhow::{Context, Result};
use url::Url;

use super::journal::{self, Folder, RunRecord, JOURNAL, RUN_FILE};
use super::{DoneBefore, RunOptions};
use crate::error::UsageError;
use crate::store::{self, Location};

fn refused(message: String) -> anyhow::Error {
    UsageError::new(message).into()
}

/// Where a URL points, to compare two of them.
#[derive(Debug, PartialEq)]
enum Place {
    Local(PathBuf),
    Remote { store: String, parts: Vec<String> },
}

impl Place {
    fn of(url: &str) -> Result<Place> {
        if let Some(dir) = store::local_dir(url)? {
            return Ok(Place::Local(resolve(&dir)));
        }
        let shown = store::redact(url);
        let parsed = Url::parse(url).with_context(|| format!("invalid URL '{shown}'"))?;
        let scheme = match parsed.scheme() {
            "s3a" => "s3",
            "abfs" | "abfss" | "azure" | "adl" => "az",
            s => s,
        };
        let store = format!("{scheme}://{}@{}", parsed.username(), parsed.host_str().unwrap_or_default());
        let parts = parsed
            .path_segments()
            .map(|s| s.filter(|p| !p.is_empty()).map(String::from).collect())
            .unwrap_or_default();
        Ok(Place::Remote { store, parts })
    }

    /// `self` is `other` or inside it.
    fn within(&self, other: &Place) -> bool {
        match (self, other) {
            (Place::Local(a), Place::Local(b)) => a.starts_with(b),
            (Place::Remote { store: s, parts: a }, Place::Remote { store: t, parts: b }) => {
                s == t && a.starts_with(b)
            }
            _ => false,
        }
    }
}

/// An absolute path with links resolved as far as it exists, and `.`/`..` resolved in the rest.
fn resolve(dir: &FsPath) -> PathBuf {
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut out = PathBuf::new();
    for c in absolute.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out = std::fs::canonicalize(&out).unwrap_or(out);
                out.pop();
            }
            Component::Normal(name) => {
                out.push(name);
                if let Ok(real) = std::fs::canonicalize(&out) {
                    out = real;
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// Refuse an output folder that is the input, holds it, or lies inside it.
pub(crate) fn check_overlap(input: &str, output: &str) -> Result<()> {
    let (i, o) = (Place::of(input)?, Place::of(output)?);
    let how = if i == o {
        "they are the same folder"
    } else if o.within(&i) {
        "the output folder is inside the input"
    } else if i.within(&o) {
        "the input is inside the output folder"
    } else {
        return Ok(());
    };
    Err(refused(format!(
        "the output folder '{}' and the input '{}' overlap ({how}); a run never writes into, or \
         removes anything from, its input: choose an output folder outside the input, and not one \
         that holds it",
        store::redact(output),
        store::redact(input)
    )))
}

/// Refuse a local output folder that holds a symbolic link.
pub(crate) fn check_links(output: &Location) -> Result<()> {
    let Some(root) = &output.local_dir else { return Ok(()) };
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot read the folder '{}'", dir.display())),
        };
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot read the folder '{}'", dir.display()))?;
            let kind =
                entry.file_type().with_context(|| format!("cannot read '{}'", entry.path().display()))?;
            if kind.is_symlink() {
                let rel =
                    entry.path().strip_prefix(root).map(|p| p.display().to_string()).unwrap_or_default();
                let target =
                    std::fs::read_link(entry.path()).map(|t| t.display().to_string()).unwrap_or_default();
                return Err(refused(format!(
                    "the output folder '{}' holds a symbolic link, '{rel}' (to '{target}'); regrade never \
                     writes or removes files through a link: remove the link (its target is left as it is) \
                     or choose another folder",
                    output.url
                )));
            } else if kind.is_dir() {
                stack.push(entry.path());
            }
        }
    }
    Ok(())
}

/// What the run does with its folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The folder is empty.
    Fresh,
    /// Replace the previous run.
    Overwrite,
    /// Go on with the interrupted run.
    Resume,
}

/// [`inspect`]'s decision: the options to run with (a resumed run takes the interrupted
/// run's `as_of`), the mode and what the folder held.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub opts: RunOptions,
    pub mode: Mode,
    pub folder: Folder,
}

/// Up to `n` paths, then how many more.
fn some_of(paths: impl IntoIterator<Item = String>, n: usize) -> String {
    let all: Vec<String> = paths.into_iter().collect();
    let mut shown = all.iter().take(n).cloned().collect::<Vec<_>>().join(", ");
    if all.len() > n {
        shown.push_str(&format!(" and {} more", all.len() - n));
    }
    shown
}

/// Refuse a folder holding files no run wrote (`why` starts the explanation).
fn no_foreign(output: &Location, folder: &Folder, why: &str) -> Result<()> {
    let foreign = folder.foreign(output);
    if foreign.is_empty() {
        return Ok(());
    }
    Err(refused(format!(
        "the output folder '{}' holds {} that no regrade run wrote there ({}); {why}a run's folder \
         holds nothing else: move them away, or choose another folder",
        output.url,
        if foreign.len() == 1 { "1 file".to_string() } else { format!("{} files", foreign.len()) },
        some_of(foreign, 10)
    )))
}

/// Decide what to do with the folder (see the module docs); nothing is changed. `None`:
/// `--resume` on a folder that already holds a complete run, so there is nothing to do.
pub(crate) fn inspect(output: &Location, folder: Folder, opts: &RunOptions) -> Result<Option<Prepared>> {
    let mut opts = opts.clone();
    if folder.is_empty() {
        return Ok(Some(Prepared { opts, mode: Mode::Fresh, folder }));
    }
    let manifest = output.path(&["manifest.json"]);
    if opts.resume {
        if folder.files.iter().any(|m| m.location == manifest) {
            return Ok(None);
        }
        let Some(started) = &folder.record else {
            return Err(refused(format!(
                "cannot resume in '{}': it holds files but no run journal ({JOURNAL}/{RUN_FILE}); choose \
                 a new folder or pass --overwrite",
                output.url
            )));
        };
        let Some(record) = RunRecord::parse(started) else {
            return Err(refused(format!(
                "cannot resume in '{}': the interrupted run was started by an older regrade, which did \
                 not record the input it read; pass --overwrite to start over",
                output.url
            )));
        };
        if let Some((path, e)) = folder.unreadable.first() {
            return Err(refused(format!(
                "cannot resume in '{}': the journal entry '{}' cannot be read ({e}); pass --overwrite to \
                 start over",
                output.url,
                output.display(path)
            )));
        }
        if !opts.as_of_given {
            if let Some(t) = record.options["as_of"].as_str() {
                opts.as_of = crate::py::time::parse_time(t).context("the run journal's as_of")?;
            }
        }
        let now = journal::fingerprint(&opts)?;
        if record.options != now {
            return Err(refused(format!(
                "cannot resume in '{}': the interrupted run used other options ({}); rerun with the same \
                 job and flags, or pass --overwrite",
                output.url,
                journal::differences(&record.options, &now).join(", ")
            )));
        }
        // A shard does not look for foreign files: `plan` did, and other shards cleaning up
        // their own courses at the same time would make their files look like someone else's.
        if opts.shard.is_none() {
            no_foreign(output, &folder, "")?;
        }
        return Ok(Some(Prepared { opts, mode: Mode::Resume, folder }));
    }
    if !opts.overwrite {
        return Err(refused(format!(
            "the output folder '{}' is not empty ({} files); choose a new folder per run, pass \
             --overwrite to replace it, or --resume to go on with an interrupted run",
            output.url,
            folder.files.len()
        )));
    }
    no_foreign(
        output,
        &folder,
        "--overwrite removes only what a previous run's manifest or journal lists, and ",
    )?;
    Ok(Some(Prepared { opts, mode: Mode::Overwrite, folder }))
}

/// `--resume` only: refuse when the input is not the one the interrupted run started from.
pub(crate) fn check_input(output: &Location, prepared: &Prepared, record: &RunRecord) -> Result<()> {
    let Some(changes) = input_changes(prepared, record)? else { return Ok(()) };
    Err(refused(format!(
        "cannot resume in '{}': the input changed since the interrupted run started ({} of its files: \
         {}); a resumed run would mix grades from two exports. Restore the input the run started \
         from and pass --resume again, or pass --overwrite to start over from the input as it is now",
        output.url,
        changes.len(),
        some_of(changes, 10)
    )))
}

/// A shard: refuse when the input is not the one the run was planned from.
pub(crate) fn check_shard_input(
    output: &Location,
    shard: usize,
    prepared: &Prepared,
    record: &RunRecord,
) -> Result<()> {
    let Some(changes) = input_changes(prepared, record)? else { return Ok(()) };
    Err(refused(format!(
        "cannot run shard {shard} in '{}': the input changed since the run was planned ({} of its \
         files: {}); the shards would mix grades from two exports. Restore the input the plan was \
         made from, or plan the run again (`regrade plan ... --overwrite`) and run every shard",
        output.url,
        changes.len(),
        some_of(changes, 10)
    )))
}

/// The input files that changed since the journal's `_run.json` was written (resumed runs and
/// shards), if any.
fn input_changes(prepared: &Prepared, record: &RunRecord) -> Result<Option<Vec<String>>> {
    if prepared.mode != Mode::Resume {
        return Ok(None);
    }
    let started = prepared.folder.record.as_ref().and_then(RunRecord::parse).context("the run journal")?;
    let changes = journal::input_changes(&started.inputs, &record.inputs);
    Ok((!changes.is_empty()).then_some(changes))
}

/// Make the folder ready (see the module docs), after [`check_input`]: returns the courses
/// an interrupted run completed (kept), empty unless resuming.
pub(crate) async fn commit(output: &Location, prepared: &Prepared, record: &RunRecord) -> Result<DoneBefore> {
    let folder = &prepared.folder;
    match prepared.mode {
        Mode::Resume => {
            let kept = folder.kept(output);
            journal::remove_legacy(output, &folder.legacy_ours(&folder.listed()))?;
            journal::remove(output, &folder.not_kept(output, &kept, None)).await?;
            tracing::info!(courses_kept = kept.len(), output = %output.url, "resuming an interrupted run");
            return Ok(kept);
        }
        Mode::Overwrite => {
            // The manifest first: readers stop trusting the folder before anything else goes.
            let manifest = output.path(&["manifest.json"]);
            journal::remove_legacy(output, &folder.legacy_ours(&folder.listed()))?;
            let ours = folder.ours(output);
            let (first, rest): (Vec<_>, Vec<_>) = ours.into_iter().partition(|p| *p == manifest);
            journal::remove(output, &first).await.context("cannot withdraw the old manifest.json")?;
            journal::remove(output, &rest).await?;
            tracing::info!(files = rest.len() + first.len(), output = %output.url, "replaced the previous run");
        }
        Mode::Fresh => {}
    }
    journal::write_record(output, record).await?;
    Ok(DoneBefore::new())
}

/// Undo a run stopped by unreadable input after [`commit`]: remove what it wrote (a resumed
/// run keeps the courses the interrupted run completed, `kept`).
pub(crate) async fn abandon(output: &Location, mode: Mode, kept: &DoneBefore) -> Result<()> {
    let folder = Folder::read(output).await?;
    let remove = if mode == Mode::Resume { folder.not_kept(output, kept, None) } else { folder.ours(output) };
    journal::remove_legacy(output, &folder.legacy_ours(&folder.listed()))?;
    journal::remove(output, &remove).await
}

/// Remove a local folder this run created, if it holds no file (only empty folders).
pub(crate) fn remove_if_empty(dir: &FsPath) {
    fn empty(dir: &FsPath) -> bool {
        let Ok(entries) = std::fs::read_dir(dir) else { return false };
        let mut all = true;
        for entry in entries.flatten() {
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            all &= is_dir && empty(&entry.path());
        }
        all && std::fs::remove_dir(dir).is_ok()
    }
    empty(dir);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_urls_are_found_in_both_directions() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().to_str().unwrap();
        std::fs::create_dir_all(dir.path().join("in/studentmodule")).unwrap();
        let overlap = |i: &str, o: &str| check_overlap(i, o).is_err();
        assert!(overlap(&format!("{d}/in"), &format!("{d}/in")));
        assert!(overlap(&format!("{d}/in"), &format!("{d}/in/")));
        assert!(overlap(&format!("{d}/in"), d));
        assert!(overlap(&format!("{d}/in"), &format!("{d}/in/studentmodule/out")));
        assert!(overlap(&format!("{d}/in"), &format!("file://{d}/in/x/../studentmodule")));
        assert!(overlap(&format!("{d}/in"), &format!("{d}/out/../in/new")));
        assert!(!overlap(&format!("{d}/in"), &format!("{d}/in2")));
        assert!(!overlap(&format!("{d}/in"), &format!("{d}/out")));
        assert!(overlap("s3://b/exports/x", "s3://b/exports"));
        assert!(overlap("s3://b/exports/x", "s3a://b/exports/x/runs/1"));
        assert!(!overlap("s3://b/exports/x", "s3://b/exports/xy"));
        assert!(!overlap("s3://b/exports/x", "s3://c/exports/x"));
        assert!(overlap("memory://m/in", "memory://m/in/out"));
        assert!(!overlap("memory://m/in", "memory://n/in"));
        assert!(!overlap(&format!("{d}/in"), "s3://b/in"));
    }

    #[cfg(unix)]
    #[test]
    fn a_link_through_a_symlinked_parent_is_the_same_place() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("data/in")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("data"), dir.path().join("alias")).unwrap();
        let i = dir.path().join("data/in");
        let o = dir.path().join("alias/in/out");
        assert!(check_overlap(i.to_str().unwrap(), o.to_str().unwrap()).is_err());
    }
}
