//! `regrade import olx EXPORT... --output URL`: course exports into the data contract's course
//! tables (`course_blocks/`, `course_policies/`).

use std::path::PathBuf;

use anyhow::Result;
use regrade::import::mysql;
use regrade::import::olx::{self, Imported, Options};
use regrade::store;

use super::Global;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub format: Format,
}

#[derive(Debug, clap::Subcommand)]
pub enum Format {
    /// A course export as Studio writes it (OLX): a .tar.gz holding a folder with course.xml,
    /// or that folder.
    Olx(OlxArgs),
    /// edX's tables on a MySQL 8 or MariaDB server (point it at a read replica): every input
    /// table but course_blocks and course_policies, read in one consistent snapshot.
    Mysql(MysqlArgs),
}

#[derive(Debug, clap::Args)]
pub struct MysqlArgs {
    /// The server and database: mysql://USER@HOST:PORT/edxapp, without a password (use
    /// MYSQL_PWD or --defaults-file). Parameters: ssl-mode (DISABLED, PREFERRED, REQUIRED,
    /// VERIFY_CA or VERIFY_IDENTITY; default PREFERRED), ssl-ca=FILE, socket=PATH.
    #[arg(long, value_name = "URL", env = "REGRADE_MYSQL_URL")]
    pub url: String,
    /// A MySQL option file; its [client] group may give user, password, host, port, socket,
    /// ssl-mode and ssl-ca (as the mysql client reads it).
    #[arg(long, value_name = "FILE")]
    pub defaults_file: Option<PathBuf>,
    /// The input root to write the tables into (any object-store URL).
    #[arg(long, value_name = "URL")]
    pub output: String,
    /// Only these courses (default: every course with an enrollment or a course index row).
    #[arg(long, value_name = "ID,...", value_delimiter = ',')]
    pub courses: Option<Vec<String>>,
    /// The moment ID verification status is computed at (default: the snapshot's moment).
    #[arg(long, value_name = "RFC3339")]
    pub as_of: Option<String>,
    /// Replace the tables of an earlier import at the output (import olx's tables are kept).
    #[arg(long)]
    pub overwrite: bool,
    /// Connections reading at once (each a reader thread), all in one snapshot.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub threads: usize,
    /// Rows per query page (primary-key ranges, LIMIT N): bounds a reader's memory.
    #[arg(long, value_name = "N", default_value_t = 50_000)]
    pub page_rows: usize,
    /// Rows per Parquet file before a new part starts.
    #[arg(long, value_name = "N", default_value_t = 4_000_000)]
    pub part_rows: usize,
    /// How long an approved ID verification counts, in days (edX's
    /// VERIFY_STUDENT["DAYS_GOOD_FOR"]).
    #[arg(long, value_name = "DAYS", default_value_t = 365)]
    pub days_good_for: i64,
}

#[derive(Debug, clap::Args)]
pub struct OlxArgs {
    /// Course exports: .tar.gz files or unpacked folders (several at once).
    #[arg(value_name = "EXPORT", required = true)]
    pub exports: Vec<PathBuf>,
    /// The input root to write course_blocks/ and course_policies/ into (any object-store URL).
    #[arg(long, value_name = "URL")]
    pub output: String,
    /// The published version id to write (default: the course's current version in the
    /// output's course_versions/, written by `import mysql`; else a content hash of the
    /// export, with a warning: persisted grades carry the real one).
    #[arg(long, value_name = "ID")]
    pub course_version: Option<String>,
    /// When the version was published (default: its date in course_versions/, else the
    /// newest file time in the export).
    #[arg(long, value_name = "RFC3339")]
    pub published_at: Option<String>,
    /// Replace a course version already at the output (other courses and versions are kept).
    #[arg(long)]
    pub overwrite: bool,
    /// CSV `usage_key,max_score` (header line, then a row per block; empty: NULL) replacing the
    /// statically computed max scores of the blocks it names.
    #[arg(long, value_name = "FILE")]
    pub max_scores: Option<PathBuf>,
}

pub fn execute(args: Args, global: &Global) -> Result<()> {
    match args.format {
        Format::Olx(args) => execute_olx(args, global),
        Format::Mysql(args) => execute_mysql(args, global),
    }
}

fn parse_time(flag: &str, t: &str) -> Result<i64> {
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|d| d.timestamp_micros())
        .map_err(|e| regrade::error::usage(anyhow::anyhow!("{flag} '{t}' is not an RFC 3339 time: {e}")))
}

fn execute_mysql(args: MysqlArgs, global: &Global) -> Result<()> {
    use std::io::IsTerminal;
    for (flag, n) in
        [("--threads", args.threads), ("--page-rows", args.page_rows), ("--part-rows", args.part_rows)]
    {
        if n == 0 {
            return Err(regrade::error::usage(anyhow::anyhow!("{flag} must be at least 1")));
        }
    }
    if args.days_good_for < 0 {
        return Err(regrade::error::usage(anyhow::anyhow!("--days-good-for must not be negative")));
    }
    let opts = mysql::Options {
        url: args.url,
        defaults_file: args.defaults_file,
        courses: args.courses,
        as_of: args.as_of.as_deref().map(|t| parse_time("--as-of", t)).transpose()?,
        overwrite: args.overwrite,
        threads: args.threads,
        page_rows: args.page_rows,
        part_rows: args.part_rows,
        days_good_for: args.days_good_for,
        progress: !global.quiet && std::io::stderr().is_terminal(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let loc = store::open_output(&args.output).map_err(regrade::error::usage)?;
    let manifest = mysql::import(loc, opts, runtime.handle().clone())?;
    if !global.quiet {
        println!(
            "imported {} course(s) from {} (snapshot {}, as of {}) in {:.1} s: {} rows read, {:.0} rows/s",
            manifest.courses.len(),
            manifest.server,
            manifest.snapshot_at,
            manifest.as_of,
            manifest.seconds,
            manifest.rows_read,
            manifest.rows_per_second
        );
        for s in &manifest.sources {
            println!(
                "  read {:<30} {:>12} rows {:>8.1} s {:>12.0} rows/s",
                s.source, s.rows_read, s.seconds, s.rows_per_second
            );
        }
        for t in &manifest.tables {
            println!("  wrote {:<29} {:>12} rows", t.table, t.rows);
        }
        for t in &manifest.dropped {
            println!("  not written: {:<25} {:>12} rows", t.table, t.rows);
        }
        for s in &manifest.skipped {
            println!("  skipped (no such table on the server): {s}");
        }
        println!("manifest: {}/manifest.json", store::redact(&args.output).trim_end_matches('/'));
    }
    Ok(())
}

fn execute_olx(args: OlxArgs, global: &Global) -> Result<()> {
    let published_at = args.published_at.as_deref().map(|t| parse_time("--published-at", t)).transpose()?;
    if let Some(v) = &args.course_version {
        if v.trim().is_empty() {
            return Err(regrade::error::usage(anyhow::anyhow!("--course-version must not be empty")));
        }
    }
    let opts = Options {
        exports: args.exports,
        course_version: args.course_version,
        published_at,
        overwrite: args.overwrite,
        max_scores: args.max_scores,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let imported = runtime.block_on(async {
        let loc = store::open_output(&args.output).map_err(regrade::error::usage)?;
        olx::import(&loc, &opts).await
    })?;
    if !global.quiet {
        print_summary(&imported, &args.output);
    }
    Ok(())
}

fn print_summary(imported: &[Imported], out: &str) {
    for i in imported {
        let at = chrono::DateTime::from_timestamp_micros(i.published_at)
            .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
            .unwrap_or_default();
        println!(
            "imported {} -> {} version {} published {at}: {} blocks, {} scorable",
            i.export, i.course_id, i.course_version, i.blocks, i.scorable
        );
        for f in &i.files {
            println!(
                "  {}/{} ({} rows, {} bytes)",
                store::redact(out).trim_end_matches('/'),
                f.path,
                f.rows.unwrap_or(0),
                f.bytes
            );
        }
    }
}
