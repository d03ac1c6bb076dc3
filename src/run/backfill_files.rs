//! `regrade backfill`'s files: per course, Parquet per edX table, `LOAD DATA` CSV and an
//! upsert script; after every course, `load_data.sql`, `upsert.sql` and `readiness.csv`.

use std::time::Instant;

use anyhow::Result;
use bytes::Bytes;

use super::backfill::{BackfillOutput, Readiness};
use super::journal::{self, NewFile};
use super::{parse_path, CourseDone, CourseError, CourseSummary, Execution};
use crate::store::Location;
use crate::write::WrittenFile;
use crate::write::{self, put_atomic, sha1_hex};

/// Write a backfilled course's files: anything wrong with the course's own data (a value
/// MySQL cannot hold) quarantines it; a failing store stops the run.
pub(super) fn process_backfill(
    exec: &Execution<'_>,
    done: BackfillOutput,
    started: Instant,
) -> Result<CourseDone, CourseError> {
    let course_id = done.course_id.as_str();
    // Rendering can fail on a value MySQL cannot hold (that fails the course); storage
    // errors while writing end the run.
    let rendered = render_backfill(&done)
        .map_err(|e| CourseError::quarantine(course_id, format!("{course_id}: {e:#}")))?;
    let written = exec.rt.block_on(write_backfill_course(exec.output, &done, rendered))?;
    let summary = done.summary(started.elapsed().as_secs_f64());
    let r = done.readiness;
    tracing::info!(
        course_id,
        course_version = %summary.course_version,
        learners = r.learners,
        learners_missing_rows = r.learners_missing_rows,
        grade_would_change = r.grade_would_change,
        would_lose_pass = r.would_lose_pass,
        wrong_grade_today = r.wrong_grade_today,
        pass_restored = r.pass_restored,
        rows_to_insert = r.rows_to_insert,
        seconds = summary.seconds,
        "backfilled course"
    );
    Ok((Box::new(summary), written))
}

/// One course's backfill as text: a `LOAD DATA` CSV per non-empty table and the upsert script.
struct RenderedBackfill {
    csv: Vec<(write::mysql::MysqlTable, String)>,
    sql: Option<String>,
}

fn render_backfill(done: &BackfillOutput) -> Result<RenderedBackfill> {
    use write::mysql;
    let mut csv = Vec::new();
    let mut sql = String::new();
    for (table, batch) in done.tables() {
        if batch.num_rows() == 0 {
            continue;
        }
        csv.push((table, mysql::to_csv(batch)?));
        sql.push_str(&format!("-- {}: {} rows\n", table.name, batch.num_rows()));
        sql.push_str(&mysql::upsert_sql(&table, batch)?);
    }
    let sql = (!sql.is_empty()).then(|| {
        format!(
            "-- regrade backfill of {}: rows missing from edX's grade tables.\n{}{}",
            done.course_id.replace(['\n', '\r'], " "),
            mysql::SCRIPT_HEADER,
            sql
        )
    });
    Ok(RenderedBackfill { csv, sql })
}

/// The backfill files of one course: Parquet per edX table, the same rows as `LOAD DATA`
/// CSV, and an upsert script, listed in the journal before the first is written. Tables
/// without rows get no files.
async fn write_backfill_course(
    output: &Location,
    done: &BackfillOutput,
    rendered: RenderedBackfill,
) -> Result<Vec<WrittenFile>> {
    let folder = output.sub("backfill");
    let partition = crate::store::partition::partition_segment("course_id", &done.course_id);
    let mut files = Vec::new();
    for (table, batch) in done.tables() {
        if batch.num_rows() == 0 {
            continue;
        }
        let schema_name = format!("backfill_{}", table.name);
        let encoded =
            write::encode_output_table_as(&folder, table.name, &schema_name, std::slice::from_ref(batch))?;
        files.extend(encoded.into_iter().map(|f| NewFile {
            path: f.path,
            bytes: f.bytes,
            rows: Some(f.rows),
        }));
    }
    for (table, text) in rendered.csv {
        let rows = done.tables().iter().find(|(t, _)| t.name == table.name).map(|(_, b)| b.num_rows());
        let path = parse_path(&format!("{}/csv/{}/{partition}/part-00000.csv", folder.prefix, table.name))?;
        files.push(NewFile { path, bytes: Bytes::from(text.into_bytes()), rows });
    }
    if let Some(text) = rendered.sql {
        let path = parse_path(&format!("{}/sql/{partition}/upsert.sql", folder.prefix))?;
        files.push(NewFile { path, bytes: Bytes::from(text.into_bytes()), rows: None });
    }
    journal::write_course_files(output, &done.course_id, files).await
}

pub(super) async fn put_text(
    output: &Location,
    path: &object_store::path::Path,
    text: String,
    rows: Option<usize>,
) -> Result<WrittenFile> {
    let bytes = Bytes::from(text.into_bytes());
    let sha1 = sha1_hex(&bytes);
    let size = bytes.len();
    put_atomic(&output.store, path, bytes).await?;
    Ok(WrittenFile { path: output.relative(path), rows, bytes: size, sha1 })
}

/// After every course: `backfill/load_data.sql` (every CSV, in foreign-key order),
/// `backfill/upsert.sql` (sources every course's script) and `readiness.csv`.
pub(super) async fn write_scripts(
    output: &Location,
    summaries: &[CourseSummary],
    files: &[WrittenFile],
) -> Result<Vec<WrittenFile>> {
    use write::mysql;
    let mut out = Vec::new();
    let mut load = String::from(
        "-- regrade backfill: LOAD DATA of every CSV, visible blocks first (the grades reference them).\n\
         -- Run from this folder: mariadb --local-infile=1 DATABASE < load_data.sql\n\
         -- IGNORE: rows whose unique key exists are skipped, so existing rows never change.\n",
    );
    load.push_str(mysql::SCRIPT_HEADER);
    for table in mysql::LOAD_ORDER {
        let schema = crate::schema::output(&format!("backfill_{}", table.name))?;
        let columns: Vec<&str> = schema.columns.iter().map(|c| c.name.as_str()).collect();
        let prefix = format!("backfill/csv/{}/", table.name);
        for f in files.iter().filter(|f| f.path.starts_with(&prefix)) {
            let local = f.path.trim_start_matches("backfill/");
            load.push_str(&mysql::load_data_statement(&table, local, &columns));
        }
    }
    let mut upsert = String::from(
        "-- regrade backfill: INSERT ... ON DUPLICATE KEY UPDATE, course by course.\n\
         -- Run from this folder: mariadb DATABASE < upsert.sql\n",
    );
    for f in files.iter().filter(|f| f.path.starts_with("backfill/sql/")) {
        upsert.push_str(&format!("SOURCE {};\n", f.path.trim_start_matches("backfill/")));
    }
    let mut readiness = String::from("course_id,course_version,");
    readiness.push_str(&Readiness::CSV_COLUMNS.join(","));
    readiness.push('\n');
    for s in summaries {
        let r = s.readiness.unwrap_or_default();
        let cells: Vec<String> =
            [s.course_id.clone(), s.course_version.clone()].into_iter().chain(r.csv_values()).collect();
        // Quoted like the reports, but with the header's `\n` line ends.
        readiness.push_str(crate::report::csv_line(&cells).trim_end_matches("\r\n"));
        readiness.push('\n');
    }
    out.push(put_text(output, &output.path(&["backfill", "load_data.sql"]), load, None).await?);
    out.push(put_text(output, &output.path(&["backfill", "upsert.sql"]), upsert, None).await?);
    out.push(put_text(output, &output.path(&["readiness.csv"]), readiness, Some(summaries.len())).await?);
    Ok(out)
}
