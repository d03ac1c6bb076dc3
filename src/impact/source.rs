//! A finished run's folder as the report reads it: its `manifest.json` (the run's facts, the
//! courses it graded and every file it wrote) and its output tables as Polars lazy scans of
//! exactly the files the manifest lists.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use polars::prelude::*;

use crate::error::UsageError;
use crate::schema;
use crate::store::partition::partition_segment;

/// One graded course of a run, as its manifest lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GradedCourse {
    pub course_id: String,
    pub course_version: String,
    pub grading_policy_hash: String,
}

/// A finished `regrade run` on the local filesystem.
#[derive(Clone, Debug)]
pub struct RunFolder {
    pub dir: PathBuf,
    pub manifest: serde_json::Value,
    pub courses: Vec<GradedCourse>,
}

/// The output tables the report reads, and the folder each lives in.
pub(crate) const TABLES: [(&str, &str); 4] = [
    ("course_grades", "course_grades"),
    ("subsection_grades", "subsection_grades"),
    ("course_grade_diffs", "diffs/course_grade_diffs"),
    ("subsection_diffs", "diffs/subsection_diffs"),
];

impl RunFolder {
    /// Opens a run folder: it must hold the `manifest.json` of a `run` (written last, so a
    /// run without one is unfinished) that wrote grades and diffs.
    pub fn open(dir: &Path) -> Result<RunFolder> {
        let path = dir.join("manifest.json");
        let text = std::fs::read(&path).map_err(|e| {
            UsageError::new(format!(
                "{}: cannot read manifest.json ({e}); give the folder of a finished `regrade run` \
                 on the local filesystem",
                dir.display()
            ))
        })?;
        let manifest: serde_json::Value =
            serde_json::from_slice(&text).with_context(|| format!("{} is not JSON", path.display()))?;
        if manifest["command"].as_str() != Some("run") {
            bail!(UsageError::new(format!(
                "{}: a report is made of a `regrade run`, this folder holds a `{}`",
                dir.display(),
                manifest["command"].as_str().unwrap_or("?")
            )));
        }
        // `options.outputs`: which outputs the run wrote, by name.
        let outputs = &manifest["options"]["outputs"];
        for needed in ["grades", "diffs"] {
            if outputs[needed].as_bool() == Some(false) {
                bail!(UsageError::new(format!(
                    "{}: the run did not write its {needed}; the report compares grades through its \
                     grades and diffs: run with --outputs grades,diffs",
                    dir.display()
                )));
            }
        }
        let courses = manifest["courses"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| GradedCourse {
                course_id: c["course_id"].as_str().unwrap_or_default().to_string(),
                course_version: c["course_version"].as_str().unwrap_or_default().to_string(),
                grading_policy_hash: c["grading_policy_hash"].as_str().unwrap_or_default().to_string(),
            })
            .collect();
        Ok(RunFolder { dir: dir.to_path_buf(), manifest, courses })
    }

    /// The files of an output table, as the manifest lists them: all, or one course's (its
    /// Hive partition).
    pub(crate) fn files(&self, table: &str, course: Option<&str>) -> Result<Vec<PathBuf>> {
        let folder =
            TABLES.iter().find(|(t, _)| *t == table).map(|(_, f)| *f).context("not a report table")?;
        let prefix = match course {
            None => format!("{folder}/"),
            Some(id) => format!("{folder}/{}/", partition_segment("course_id", id)),
        };
        let files: Vec<PathBuf> = self.manifest["outputs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|o| o["path"].as_str())
            .filter(|p| p.starts_with(&prefix) && p.ends_with(".parquet"))
            .map(|p| self.dir.join(p))
            .collect();
        if let Some(missing) = files.iter().find(|f| !f.is_file()) {
            bail!("{}: the manifest lists {}, which is not there", self.dir.display(), missing.display());
        }
        Ok(files)
    }

    /// A lazy scan of `columns` of an output table (all its files, or one course's),
    /// `course_id` as a string; an empty frame of those columns when there is no such file.
    pub(crate) fn scan(&self, table: &str, columns: &[&str], course: Option<&str>) -> Result<LazyFrame> {
        let files = self.files(table, course)?;
        let out = schema::output(table)?;
        let mut types = Vec::with_capacity(columns.len());
        for c in columns {
            let column = out.column(c).with_context(|| format!("{table} has no column {c}"))?;
            types.push((*c, polars_type(&column.type_name)?));
        }
        if files.is_empty() {
            let schema = Schema::from_iter(types.iter().map(|(n, t)| Field::new((*n).into(), t.clone())));
            return Ok(DataFrame::empty_with_schema(&schema).lazy());
        }
        let paths: Vec<PlRefPath> = files
            .iter()
            .map(|f| PlRefPath::try_from_path(f))
            .collect::<PolarsResult<_>>()
            .map_err(|e| anyhow::anyhow!("file paths: {e}"))?;
        // The files carry `course_id` as a column: the Hive folder names are not decoded.
        let args =
            ScanArgsParquet { hive_options: HiveOptions::new_disabled(), ..ScanArgsParquet::default() };
        let frame = LazyFrame::scan_parquet_files(paths.into(), args)
            .map_err(|e| anyhow::anyhow!("scanning {table} of {}: {e}", self.dir.display()))?;
        Ok(frame.select(types.iter().map(|(n, t)| col(*n).cast(t.clone())).collect::<Vec<_>>()))
    }

    /// The run's input root as its manifest names it.
    pub fn input(&self) -> Option<&str> {
        self.manifest["options"]["input"].as_str()
    }

    /// The run's what-if policy, if it had one: (path as given to the run, SHA-1 of its text).
    pub fn what_if_policy(&self) -> Option<(&str, &str)> {
        let p = &self.manifest["options"]["policy"];
        Some((p["path"].as_str()?, p["sha1"].as_str()?))
    }

    /// A short name for the run: its folder's name.
    pub fn name(&self) -> String {
        let dir = std::fs::canonicalize(&self.dir).unwrap_or_else(|_| self.dir.clone());
        dir.file_name().map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into_owned())
    }
}

/// The Polars type a column of an output schema is read as.
fn polars_type(name: &str) -> Result<DataType> {
    Ok(match name {
        "int64" => DataType::Int64,
        "float64" => DataType::Float64,
        "utf8" | schema::DICTIONARY_UTF8 => DataType::String,
        "bool" => DataType::Boolean,
        other => bail!("the report does not read columns of type {other}"),
    })
}
