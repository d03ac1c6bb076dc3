//! A course export read into memory: a `.tar.gz` (a top-level folder holding `course.xml`) or
//! its unpacked folder.
//!
//! Only the files the import may read are kept (`.xml` and `.json`); the others (static assets)
//! are skipped unread. Paths are kept relative to the course folder (the one holding
//! `course.xml`), with `/` separators; errors name a file as the archive holds it
//! without its leading `./` (`demo-course.tar.gz: course/problem/x.xml`).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::read::InputError;

/// An export in memory.
#[derive(Debug)]
pub(crate) struct Export {
    /// The export as the user named it.
    pub(crate) source: String,
    /// Prefix of the course folder inside the archive or folder (`./course/`, or empty).
    prefix: String,
    /// `.xml` and `.json` files, by path relative to the course folder.
    files: BTreeMap<String, Vec<u8>>,
    /// Newest modification time of any file in the export, microseconds since the epoch.
    pub(crate) newest_mtime: Option<i64>,
}

impl Export {
    /// Read `path`: a `.tar.gz` / `.tgz` file or a folder.
    pub(crate) fn load(path: &Path) -> Result<Export, InputError> {
        let source = path.display().to_string();
        let all = if path.is_dir() {
            read_folder(path, &source)?
        } else if path.is_file() {
            read_archive(path, &source)?
        } else {
            return Err(InputError::new(format!("{source}: no such export (a .tar.gz file or a folder)")));
        };
        Export::from_files(source, all)
    }

    /// The course folder: the shallowest folder holding `course.xml`.
    fn from_files(source: String, all: Files) -> Result<Export, InputError> {
        let depth = |p: &str| p.matches('/').count();
        let mut roots: Vec<&str> = all
            .files
            .keys()
            .filter(|p| *p == "course.xml" || p.ends_with("/course.xml"))
            .map(String::as_str)
            .collect();
        roots.sort_by_key(|p| (depth(p), *p));
        let Some(first) = roots.first().copied() else {
            return Err(InputError::new(format!(
                "{source}: no course.xml: not a course export (expected a top-level folder holding course.xml)"
            )));
        };
        if let Some(second) = roots.get(1).filter(|p| depth(p) == depth(first)) {
            return Err(InputError::new(format!(
                "{source}: two course.xml at the same level ({first} and {second}): one course per export"
            )));
        }
        let prefix = first.strip_suffix("course.xml").unwrap_or_default().to_string();
        let files = all
            .files
            .into_iter()
            .filter_map(|(p, bytes)| p.strip_prefix(prefix.as_str()).map(|rel| (rel.to_string(), bytes)))
            .collect();
        Ok(Export { source, prefix, files, newest_mtime: all.newest_mtime })
    }

    /// A file of the course folder, by relative path.
    pub(crate) fn get(&self, rel: &str) -> Option<&[u8]> {
        self.files.get(rel).map(Vec::as_slice)
    }

    /// A file as errors name it: `<export>: <path inside it>`.
    pub(crate) fn shown(&self, rel: &str) -> String {
        format!("{}: {}{rel}", self.source, self.prefix)
    }

    /// A file's text, which must be UTF-8.
    pub(crate) fn text(&self, rel: &str) -> Result<Option<&str>, InputError> {
        match self.get(rel) {
            None => Ok(None),
            Some(bytes) => std::str::from_utf8(bytes)
                .map(Some)
                .map_err(|e| InputError::new(format!("{}: not UTF-8 text: {e}", self.shown(rel)))),
        }
    }
}

/// Files read from an archive or a folder, paths relative to its top.
#[derive(Default)]
struct Files {
    files: BTreeMap<String, Vec<u8>>,
    newest_mtime: Option<i64>,
}

impl Files {
    fn saw_mtime(&mut self, micros: i64) {
        self.newest_mtime = Some(self.newest_mtime.map_or(micros, |m| m.max(micros)));
    }
}

/// Whether the import reads a file (by its name).
fn wanted(path: &str) -> bool {
    path.ends_with(".xml") || path.ends_with(".json")
}

/// Strip `./` and leading `/` from an archive path.
fn normalise(path: &str) -> String {
    let mut p = path;
    loop {
        if let Some(rest) = p.strip_prefix("./") {
            p = rest;
        } else if let Some(rest) = p.strip_prefix('/') {
            p = rest;
        } else {
            break;
        }
    }
    p.to_string()
}

fn read_archive(path: &Path, source: &str) -> Result<Files, InputError> {
    let file = std::fs::File::open(path)
        .map_err(|e| InputError::with_source(format!("{source}: cannot open"), e))?;
    let gz = flate2::read::GzDecoder::new(std::io::BufReader::new(file));
    let mut archive = tar::Archive::new(gz);
    let broken =
        |e: std::io::Error| InputError::with_source(format!("{source}: not a readable .tar.gz: {e}"), e);
    let mut out = Files::default();
    for entry in archive.entries().map_err(broken)? {
        let mut entry = entry.map_err(broken)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = normalise(&String::from_utf8_lossy(&entry.path_bytes()));
        if let Ok(mtime) = entry.header().mtime() {
            out.saw_mtime(i64::try_from(mtime).unwrap_or(i64::MAX / 1_000_000) * 1_000_000);
        }
        if wanted(&name) {
            let mut bytes = Vec::new();
            entry
                .read_to_end(&mut bytes)
                .map_err(|e| InputError::with_source(format!("{source}: {name}: cannot read: {e}"), e))?;
            out.files.insert(name, bytes);
        }
    }
    Ok(out)
}

fn read_folder(root: &Path, source: &str) -> Result<Files, InputError> {
    let mut out = Files::default();
    let mut stack: Vec<PathBuf> = vec![root.to_path_buf()];
    let fail = |p: &Path, e: std::io::Error| {
        InputError::with_source(format!("{source}: cannot read {}", p.display()), e)
    };
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).map_err(|e| fail(&dir, e))? {
            let entry = entry.map_err(|e| fail(&dir, e))?;
            let path = entry.path();
            let meta = std::fs::metadata(&path).map_err(|e| fail(&path, e))?;
            if meta.is_dir() {
                stack.push(path);
                continue;
            }
            if let Ok(modified) = meta.modified() {
                if let Ok(since) = modified.duration_since(std::time::UNIX_EPOCH) {
                    // Whole seconds, as a tar header holds them: a folder unpacked from an archive
                    // gives the archive's time.
                    out.saw_mtime(i64::try_from(since.as_secs()).unwrap_or(i64::MAX / 1_000_000) * 1_000_000);
                }
            }
            let rel = path.strip_prefix(root).unwrap_or(&path);
            let rel: Vec<String> =
                rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
            let rel = rel.join("/");
            if wanted(&rel) {
                let bytes = std::fs::read(&path).map_err(|e| fail(&path, e))?;
                out.files.insert(rel, bytes);
            }
        }
    }
    Ok(out)
}
