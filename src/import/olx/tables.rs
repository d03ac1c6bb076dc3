//! Writing an imported course version: one Parquet file per (course, version) in each of
//! `course_blocks/` and `course_policies/`, Hive-partitioned by course:
//! `<out>/<table>/course_id=<escaped>/version-<escaped>.parquet`.
//!
//! Other courses and versions under the output are left alone; a version already there is
//! refused unless `overwrite`. Rows are built by column name from `schemas/input/`, so an
//! optional column the schema gains (`max_count`) is written when the schema has it.

use anyhow::{Context, Result};
use arrow::array::RecordBatch;
use object_store::path::Path;
use object_store::ObjectStoreExt;

use super::rows::{BlockRow, PolicyRow};
use crate::error::UsageError;
use crate::generate::table::{TableBuilder, V};
use crate::py::time::Timestamp;
use crate::store::partition::escape_partition_value;
use crate::store::Location;
use crate::write::{self, WrittenFile};

/// One course version ready to write.
#[derive(Debug, Clone)]
pub(crate) struct CourseVersion {
    pub(crate) course_id: String,
    pub(crate) version: String,
    pub(crate) published_at: Timestamp,
    pub(crate) blocks: Vec<BlockRow>,
    pub(crate) policy: PolicyRow,
}

/// The content hash of a version: SHA-1 of its block rows sorted by usage key and its policy
/// row, first 24 hex digits (the length of a split version id).
pub(crate) fn content_version(blocks: &[BlockRow], policy: &PolicyRow) -> String {
    let mut sorted: Vec<&BlockRow> = blocks.iter().collect();
    sorted.sort_by(|a, b| a.usage_key.cmp(&b.usage_key));
    let mut text = String::new();
    for row in sorted {
        text.push_str(&format!("{row:?}\n"));
    }
    text.push_str(&format!("{policy:?}\n"));
    write::sha1_hex(text.as_bytes())[..24].to_string()
}

/// Where a table's file of a course version goes.
pub(crate) fn version_path(loc: &Location, table: &str, course_id: &str, version: &str) -> Result<Path> {
    let name = format!("version-{}.parquet", escape_partition_value(version));
    Ok(write::table_dir(loc, table, Some(course_id))?.join(name))
}

/// The tables this importer writes.
pub(crate) const TABLES: [&str; 2] = ["course_blocks", "course_policies"];

/// Refuse a version already under `loc`, unless `overwrite`.
pub(crate) async fn check_free(loc: &Location, cv: &CourseVersion, overwrite: bool) -> Result<()> {
    for table in TABLES {
        let path = version_path(loc, table, &cv.course_id, &cv.version)?;
        match loc.store.head(&path).await {
            Ok(_) if !overwrite => {
                return Err(UsageError::new(format!(
                    "{} already holds version {} of {} ({}); pass --overwrite to replace it",
                    loc.url,
                    cv.version,
                    cv.course_id,
                    loc.display(&path)
                ))
                .into())
            }
            Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e).with_context(|| format!("cannot check '{}'", loc.display(&path))),
        }
    }
    Ok(())
}

/// Write both tables of a course version.
pub(crate) async fn write_version(loc: &Location, cv: &CourseVersion) -> Result<Vec<WrittenFile>> {
    let mut written = Vec::new();
    for (table, batch) in [("course_blocks", blocks_batch(cv)?), ("course_policies", policy_batch(cv)?)] {
        let path = version_path(loc, table, &cv.course_id, &cv.version)?;
        let bytes = write::encode(&batch.schema(), std::slice::from_ref(&batch))?;
        let (size, sha1) = (bytes.len(), write::sha1_hex(&bytes));
        write::put_atomic(&loc.store, &path, bytes).await?;
        written.push(WrittenFile {
            path: loc.relative(&path),
            rows: Some(batch.num_rows()),
            bytes: size,
            sha1,
        });
    }
    Ok(written)
}

fn blocks_batch(cv: &CourseVersion) -> Result<RecordBatch> {
    let mut builder = TableBuilder::new("course_blocks")?;
    for b in &cv.blocks {
        builder.row_by_name(|column| match column {
            "course_id" => V::Str(&cv.course_id),
            "course_version" => V::Str(&cv.version),
            "published_at" => V::Ts(cv.published_at),
            "usage_key" => V::Str(&b.usage_key),
            "block_type" => V::Str(&b.block_type),
            "display_name" => V::opt_str(b.display_name.as_deref()),
            "children" => b.children.as_deref().map_or(V::Null, V::List),
            "graded" => V::opt_bool(b.graded),
            "format" => V::opt_str(b.format.as_deref()),
            "weight" => V::opt_float(b.weight),
            "max_score" => V::opt_float(b.max_score),
            "has_score" => V::Bool(b.has_score),
            "start" => V::opt_ts(b.start),
            "due" => V::opt_ts(b.due),
            "visible_to_staff_only" => V::opt_bool(b.visible_to_staff_only),
            "group_access" => V::opt_str(b.group_access.as_deref()),
            "show_correctness" => V::opt_str(b.show_correctness.as_deref()),
            "max_count" => V::opt_int(b.max_count),
            _ => V::Null,
        })?;
    }
    builder.finish()
}

fn policy_batch(cv: &CourseVersion) -> Result<RecordBatch> {
    let mut builder = TableBuilder::new("course_policies")?;
    let p = &cv.policy;
    builder.row_by_name(|column| match column {
        "course_id" => V::Str(&cv.course_id),
        "course_version" => V::Str(&cv.version),
        "grading_policy" => V::Str(&p.grading_policy),
        "course_start" => V::opt_ts(p.course_start),
        "course_end" => V::opt_ts(p.course_end),
        "self_paced" => V::opt_bool(p.self_paced),
        "certificate_available_date" => V::opt_ts(p.certificate_available_date),
        "certificates_display_behavior" => V::opt_str(p.certificates_display_behavior.as_deref()),
        "cohorted" => V::opt_bool(p.cohorted),
        "teams_enabled" => V::opt_bool(p.teams_enabled),
        "user_partitions" => V::opt_str(p.user_partitions.as_deref()),
        "course_modes" => p.course_modes.as_deref().map_or(V::Null, V::List),
        _ => V::Null,
    })?;
    builder.finish()
}
