//! The `apply` output's run-level steps: the export time resolved before the run, and the
//! scripts over every course written after it ([`crate::write::apply`] writes each course's
//! files).

use anyhow::{Context, Result};
use object_store::ObjectStoreExt;

use crate::error::UsageError;
use crate::py::time::Timestamp;
use crate::store::Location;
use crate::write::apply::merges;
use crate::write::mysql::{self, LOAD_ORDER};
use crate::write::WrittenFile;

/// After every course: `apply/apply.sql` (sources every course's script) and
/// `apply/load_data.sql` (per course: the staging tables loaded from its CSVs, then merged).
pub(super) async fn write_scripts(
    output: &Location,
    files: &[WrittenFile],
    export_time: Timestamp,
) -> Result<Vec<WrittenFile>> {
    let mut apply = String::from(
        "-- regrade apply: every course's script (staged rows merged into edX's grade tables).\n\
         -- Run from this folder: mariadb DATABASE < apply.sql\n",
    );
    // In path order: `files` lists a resumed run's kept courses first, so its order depends on
    // where the run was interrupted.
    let mut scripts: Vec<&WrittenFile> =
        files.iter().filter(|f| f.path.starts_with("apply/sql/") && f.path.ends_with("/apply.sql")).collect();
    scripts.sort_by(|a, b| a.path.cmp(&b.path));
    for f in &scripts {
        apply.push_str(&format!("SOURCE {};\n", f.path.trim_start_matches("apply/")));
    }
    let mut load = String::from(
        "-- regrade apply: per course, the CSVs loaded into staging tables, then merged into edX's tables.\n\
         -- Run from this folder: mariadb --local-infile=1 DATABASE < load_data.sql\n",
    );
    load.push_str(mysql::SCRIPT_HEADER);
    load.push_str(&mysql::export_time_sql(export_time));
    for f in &scripts {
        // `apply/sql/course_id=<id>/apply.sql`: the course's partition segment.
        let Some(segment) = f.path.trim_start_matches("apply/sql/").strip_suffix("/apply.sql") else {
            continue;
        };
        load.push_str(&mysql::staging_sql());
        for t in LOAD_ORDER {
            let csv = format!("csv/{}/{segment}/part-00000.csv", t.name);
            if !files.iter().any(|f| f.path == format!("apply/{csv}")) {
                continue;
            }
            let schema = crate::schema::output(&format!("backfill_{}", t.name))?;
            let columns: Vec<&str> = schema.columns.iter().map(|c| c.name.as_str()).collect();
            load.push_str(&mysql::load_data_into(&mysql::staging(&t), &csv, &columns));
        }
        load.push_str(&merges());
    }
    let mut out = Vec::new();
    for (name, text) in [("apply.sql", apply), ("load_data.sql", load)] {
        out.push(super::backfill_files::put_text(output, &output.path(&["apply", name]), text, None).await?);
    }
    Ok(out)
}

/// The options with the apply's export time resolved: given, or the `snapshot_at` of the
/// input's `manifest.json` written by `regrade import mysql` (None: nothing to resolve).
pub(super) fn resolve(
    rt: &tokio::runtime::Runtime,
    input: &Location,
    opts: &super::options::RunOptions,
) -> Result<Option<super::options::RunOptions>> {
    let Some(apply) = opts.apply.filter(|a| a.export_time.is_none()) else { return Ok(None) };
    let path = input.path(&["manifest.json"]);
    let text = match rt.block_on(async { input.store.get(&path).await?.bytes().await }) {
        Ok(bytes) => bytes,
        Err(object_store::Error::NotFound { .. }) => {
            return Err(UsageError::new(format!(
                "the apply output needs the export's snapshot time, and {} has no manifest.json from \
                 `regrade import mysql`: give --export-time (RFC 3339), the moment the exported tables \
                 were read",
                input.url
            ))
            .into())
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read '{}'", input.display(&path))),
    };
    let shown = input.display(&path);
    let json: serde_json::Value =
        serde_json::from_slice(&text).with_context(|| format!("'{shown}' is not JSON"))?;
    let snapshot = match (json["command"].as_str(), json["snapshot_at"].as_str()) {
        (Some("import mysql"), Some(s)) => s,
        _ => {
            return Err(UsageError::new(format!(
                "'{shown}' is not the manifest of `regrade import mysql` (no snapshot_at): give \
                 --export-time (RFC 3339), the moment the exported tables were read"
            ))
            .into())
        }
    };
    let export_time = crate::py::time::parse_time(snapshot)
        .with_context(|| format!("'{shown}': snapshot_at '{snapshot}'"))?;
    tracing::info!(export_time = snapshot, "apply: the export's snapshot time, from the import manifest");
    let mut resolved = opts.clone();
    resolved.apply = Some(super::options::ApplyOptions { export_time: Some(export_time), ..apply });
    Ok(Some(resolved))
}
