//! `regrade import olx EXPORT... --output URL`: course exports into the data contract's course
//! tables (`course_blocks/`, `course_policies/`).

use std::path::PathBuf;

use anyhow::Result;
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
}

#[derive(Debug, clap::Args)]
pub struct OlxArgs {
    /// Course exports: .tar.gz files or unpacked folders (several at once).
    #[arg(value_name = "EXPORT", required = true)]
    pub exports: Vec<PathBuf>,
    /// The input root to write course_blocks/ and course_policies/ into (any object-store URL).
    #[arg(long, value_name = "URL")]
    pub output: String,
    /// The published version id to write (default: a content hash of the export, with a
    /// warning: persisted grades carry the real one).
    #[arg(long, value_name = "ID")]
    pub course_version: Option<String>,
    /// When the version was published (default: the newest file time in the export).
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
    let Format::Olx(args) = args.format;
    let published_at = args
        .published_at
        .as_deref()
        .map(|t| {
            chrono::DateTime::parse_from_rfc3339(t).map(|d| d.timestamp_micros()).map_err(|e| {
                regrade::error::usage(anyhow::anyhow!("--published-at '{t}' is not an RFC 3339 time: {e}"))
            })
        })
        .transpose()?;
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
