//! `regrade import olx`: course exports (OLX) into `course_blocks/` and `course_policies/`.
//!
//! The stages, one file each:
//!
//! * [`archive`]: a `.tar.gz` or a folder read into memory ([`archive::Export`]);
//! * [`tree`]: the XML walk from `course.xml`, pointer tags resolved, into a block tree;
//! * [`fields`]: attribute and `policy.json` values decoded as edX's XML import does;
//! * [`policy`]: `policy.json` and `grading_policy.json`;
//! * [`scoring`]: how a block is scored and its default display name;
//! * [`rows`]: the tree as table rows (explicit fields, split_test group access);
//! * [`tables`]: one Parquet file per table and course version.
//!
//! OLX holds neither the published version id nor its date: [`Options::course_version`] and
//! [`Options::published_at`] give them, else the course's current version in the output's
//! `course_versions` table (written by `import mysql` from edX's course index); without either
//! the version is a content hash and the date the newest file time in the export, with a
//! warning, since the grades edX persisted carry the real version id.

mod archive;
mod fields;
mod policy;
mod rows;
mod scoring;
mod tables;
mod tree;

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use anyhow::{Context, Result};

use self::archive::Export;
use self::tables::CourseVersion;
use crate::error::UsageError;
use crate::py::time::{fmt_time, Timestamp};
use crate::read::InputError;
use crate::store::Location;
use crate::write::WrittenFile;

/// What `regrade import olx` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Course exports: `.tar.gz` files or folders.
    pub exports: Vec<PathBuf>,
    /// The published version id to write (default: a content hash).
    pub course_version: Option<String>,
    /// The publish time to write, microseconds (default: the newest file time in the export).
    pub published_at: Option<Timestamp>,
    /// Replace a course version already at the output.
    pub overwrite: bool,
    /// A JSON object of usage key -> max score (or null), over the statically computed ones.
    pub max_scores: Option<PathBuf>,
}

/// One imported course version, as the summary lists it.
#[derive(Debug, Clone)]
pub struct Imported {
    pub export: String,
    pub course_id: String,
    pub course_version: String,
    pub published_at: Timestamp,
    pub blocks: usize,
    pub scorable: usize,
    pub files: Vec<WrittenFile>,
}

/// Import every export of `opts` into `out`: everything is read and checked first, then the
/// files are written.
pub async fn import(out: &Location, opts: &Options) -> Result<Vec<Imported>> {
    let index = current_versions(out).await?;
    let versions = prepare(opts, &index)?;
    for (_, cv) in &versions {
        tables::check_free(out, cv, opts.overwrite).await?;
    }
    let mut imported = Vec::with_capacity(versions.len());
    for (export, cv) in versions {
        let files = tables::write_version(out, &cv).await?;
        imported.push(Imported {
            export,
            course_id: cv.course_id,
            course_version: cv.version,
            published_at: cv.published_at,
            blocks: cv.blocks.len(),
            scorable: cv.blocks.iter().filter(|b| b.has_score).count(),
            files,
        });
    }
    Ok(imported)
}

/// The current published version of each course, with its date, from the `course_versions`
/// table `import mysql` writes (the course index) at the output, if there is one.
async fn current_versions(out: &Location) -> Result<Index> {
    let batches = crate::read::read_table(out, "course_versions", &[], None).await?;
    Ok(crate::load::catalog::current_versions(&batches)?)
}

/// The current version known for a course: (id, published at).
type Index = crate::load::catalog::CurrentVersions;

/// Read every export into the rows of its course version.
fn prepare(opts: &Options, index: &Index) -> Result<Vec<(String, CourseVersion)>> {
    let max_scores = match &opts.max_scores {
        Some(path) => read_max_scores(path)?,
        None => HashMap::new(),
    };
    let mut used = BTreeSet::new();
    let mut out: Vec<(String, CourseVersion)> = Vec::new();
    for path in &opts.exports {
        let export = Export::load(path)?;
        let cv = course_version(&export, opts, index, &max_scores, &mut used)?;
        if let Some((first, _)) =
            out.iter().find(|(_, o)| o.course_id == cv.course_id && o.version == cv.version)
        {
            return Err(UsageError::new(format!(
                "{} and {first} are both version {} of {}; give each export its own --course-version",
                export.source, cv.version, cv.course_id
            ))
            .into());
        }
        out.push((export.source.clone(), cv));
    }
    if let Some(unknown) = max_scores.keys().find(|k| !used.contains(*k)) {
        return Err(
            UsageError::new(format!("--max-scores: no imported block has the usage key {unknown}")).into()
        );
    }
    Ok(out)
}

/// One export's course version.
fn course_version(
    export: &Export,
    opts: &Options,
    index: &Index,
    max_scores: &HashMap<String, Option<f64>>,
    used: &mut BTreeSet<String>,
) -> Result<CourseVersion> {
    let (tree, policies) = tree::walk(export)?;
    let partitions = rows::partitions(&tree);
    let mut blocks = rows::block_rows(&tree, &partitions);
    for b in &mut blocks {
        if let Some(score) = max_scores.get(&b.usage_key) {
            b.max_score = *score;
            b.has_score = true;
            used.insert(b.usage_key.clone());
        }
    }
    let policy = rows::policy_row(&tree, &policies.grading_policy);
    let course_id = rows::Keys::new(&tree).course_id();
    crate::store::partition::check_partition_value(&course_id)
        .map_err(|e| InputError::new(format!("{}: course id {course_id}: {e}", export.source)))?;
    // An export is of the version the course index points at now, unless the flags say
    // otherwise (an older export needs --course-version and --published-at).
    let indexed = index.get(&course_id).filter(|_| opts.course_version.is_none());
    if let Some((v, _)) = indexed {
        tracing::info!(
            "{}: {course_id} is version {v}, the current one in course_versions (import mysql)",
            export.source
        );
    }
    let version = match (&opts.course_version, indexed) {
        (Some(v), _) => v.clone(),
        (None, Some((v, _))) => v.clone(),
        (None, None) => {
            let v = tables::content_version(&blocks, &policy);
            tracing::warn!(
                "{}: no --course-version: {course_id} gets the content hash {v}; grades edX persisted carry \
                 the published version id (published_version in split_modulestore_django_splitmodulestorecourseindex)",
                export.source
            );
            v
        }
    };
    let published_at = match (opts.published_at.or(indexed.and_then(|(_, at)| *at)), export.newest_mtime) {
        (Some(t), _) => t,
        (None, Some(t)) => {
            tracing::warn!(
                "{}: no --published-at: {course_id} is dated {} (the newest file in the export); the real date is \
                 last_update in split_modulestore_django_splitmodulestorecourseindex",
                export.source,
                fmt_time(t)
            );
            t
        }
        (None, None) => {
            return Err(InputError::new(format!(
                "{}: no file time to date the version by; pass --published-at",
                export.source
            ))
            .into())
        }
    };
    Ok(CourseVersion { course_id, version, published_at, blocks, policy })
}

/// `--max-scores FILE`: CSV with the header `usage_key,max_score`, a row per block; an empty
/// `max_score` is NULL. A key given twice, a value that is not a non-negative number or a row
/// of another shape is a usage error naming the line.
fn read_max_scores(path: &std::path::Path) -> Result<HashMap<String, Option<f64>>> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--max-scores: cannot read {shown}"))
        .map_err(crate::error::usage)?;
    let bad = |line: usize, why: String| -> anyhow::Error {
        UsageError::new(format!("--max-scores {shown}: line {line}: {why}")).into()
    };
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim_end_matches('\r')));
    match lines.next() {
        Some((_, header)) if header.trim() == "usage_key,max_score" => {}
        _ => return Err(bad(1, "expected the header usage_key,max_score".into())),
    }
    let mut out = HashMap::new();
    for (line, row) in lines.filter(|(_, l)| !l.trim().is_empty()) {
        // Usage keys hold no comma; the value is the text after the last one.
        let Some((key, value)) = row.rsplit_once(',') else {
            return Err(bad(line, format!("expected usage_key,max_score, found {row:?}")));
        };
        let (key, value) = (key.trim(), value.trim());
        let score = if value.is_empty() {
            None
        } else {
            match value.parse::<f64>() {
                Ok(x) if x.is_finite() && x >= 0.0 => Some(x),
                _ => {
                    return Err(bad(line, format!("{key}: max_score {value:?} is not a non-negative number")))
                }
            }
        };
        if out.insert(key.to_string(), score).is_some() {
            return Err(bad(line, format!("{key} is given twice")));
        }
    }
    Ok(out)
}
