//! Command-line interface of the `regrade` binary: argument parsing (clap derive), logging set-up
//! and dispatch to one module per subcommand. To add a subcommand (`run`, `backfill`), add a
//! module here with an `Args` struct and an `execute` function, and a variant to [`Command`].
//!
//! Exit codes: 0 success; 2 bad usage (clap's own errors) or unreadable input; 1 anything else.

pub mod backfill;
pub mod check;
pub mod finalize;
pub mod generate;
pub mod import;
pub mod job;
pub mod plan;
pub mod report;
pub mod run;
pub mod scan;
pub mod schema;

use std::io::IsTerminal;

use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "regrade",
    version,
    about = "Recompute Open edX grades in bulk from Parquet on object storage"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Args)]
pub struct Global {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// More log output (-v debug, -vv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Only errors: no progress, no summary.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a deterministic input dataset (every table of the data contract), for synthetic
    /// courses or, with `--structure`, for the courses of existing course tables.
    Generate(generate::Args),
    /// Import course data into the input tables: `import olx EXPORT... --output URL`.
    Import(import::Args),
    /// Print the schemas of the input and output tables.
    Schema(schema::Args),
    /// Check every input table against its schema (types, required columns, nulls).
    Check(check::Args),
    /// Recompute grades, diff them against the persisted ones, write grades, diffs and reports.
    Run(Box<run::Args>),
    /// Plan a run into its output folder as N shards, for a scheduler's array job: then
    /// `regrade run ... --shard K` for each K, and `regrade finalize OUTPUT`.
    Plan(Box<plan::PlanArgs>),
    /// Publish a sharded run once every shard is done: check them, write manifest.json.
    Finalize(finalize::Args),
    /// Compute the grade rows edX is missing (read as zero since Olive), as files MySQL loads,
    /// with a readiness report per course.
    Backfill(Box<backfill::Args>),
    /// Read and decode what `run` reads, and nothing else: the read floor of a run.
    Scan(scan::Args),
    /// The impact report of a finished run: `report RUN [--baseline OTHER_RUN] --output DIR`
    /// writes DIR/index.html (charts a course team can read) and DIR/impact.parquet.
    Report(report::Args),
}

/// Set up tracing on stderr. `RUST_LOG` overrides the level given by -v/-q.
pub fn init_logging(global: &Global) {
    let level = if global.quiet {
        "error"
    } else {
        match global.verbose {
            0 => "info",
            1 => "debug",
            _ => "trace",
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    // A second initialisation (tests) is harmless: ignore the error.
    let _ = match global.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Generate(args) => generate::execute(args, &cli.global),
        Command::Import(args) => import::execute(args, &cli.global),
        Command::Schema(args) => schema::execute(args),
        Command::Check(args) => check::execute(args, cli.global.quiet),
        Command::Run(args) => run::execute(*args, &cli.global),
        Command::Backfill(args) => backfill::execute(*args, &cli.global),
        Command::Plan(args) => plan::execute(*args, &cli.global),
        Command::Finalize(args) => finalize::execute(args, &cli.global),
        Command::Scan(args) => scan::execute(args, &cli.global),
        Command::Report(args) => report::execute(args, &cli.global),
    }
}
