//! `regrade scan --input URL`: the read floor (see `regrade::run::scan`).

use std::collections::BTreeSet;

use anyhow::Result;
use regrade::run::options::{CourseSelection, MAX_THREADS};
use regrade::run::scan::{scan, ScanOptions};
use regrade::store;

use super::{Global, LogFormat};

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Reads what `regrade run` reads from INPUT (same tables, columns, course filters, threads and
courses in flight), decodes it and drops it: the least time a run over this input can take.
`make bench` compares runs against it.")]
pub struct Args {
    /// Input root: a directory, file://, s3://, gs://, az:// or memory:// URL.
    #[arg(long, value_name = "URL")]
    pub input: String,
    /// Courses to read (comma-separated ids; default: every course).
    #[arg(long, value_delimiter = ',', value_name = "ID,...")]
    pub courses: Option<Vec<String>>,
    /// Worker threads, 1 to 1024 (default, or 0: one per core).
    #[arg(long, value_name = "N", default_value_t = 0,
          value_parser = clap::value_parser!(u64).range(0..=MAX_THREADS as u64))]
    pub threads: u64,
    /// Courses read at once (as in `run`; default 2).
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..))]
    pub courses_in_flight: u64,
}

pub fn execute(args: Args, global: &Global) -> Result<()> {
    let courses = match args.courses {
        Some(ids) => CourseSelection::Ids(ids.into_iter().collect::<BTreeSet<_>>()),
        None => CourseSelection::All,
    };
    let opts = ScanOptions {
        input: args.input.clone(),
        courses,
        threads: args.threads as usize,
        courses_in_flight: args.courses_in_flight as usize,
    };
    let report = scan(&opts)?;
    if global.log_format == LogFormat::Json {
        println!("{}", serde_json::to_string(&report)?);
    } else if !global.quiet {
        println!(
            "regrade scan: {} courses, {} rows decoded in {:.2}s ({:.0} rows/s, {} threads) from {} ({:.1} MB listed)",
            report.courses,
            report.total_rows,
            report.seconds,
            report.rows_per_second,
            report.threads,
            store::redact(&args.input),
            report.input_bytes as f64 / 1e6
        );
        for (table, rows) in &report.rows {
            println!("  {table:<30} {rows:>12}");
        }
    }
    Ok(())
}
