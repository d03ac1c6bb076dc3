//! `regrade generate OUT_URL`: write a synthetic dataset (or the learners of existing courses,
//! with `--structure`) and print a summary.

use std::io::IsTerminal;

use anyhow::Result;
use regrade::generate::{self, Options, Summary};
use regrade::store;

use super::{Global, LogFormat};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to write: a directory, file://, s3://, gs://, az:// or memory:// URL.
    #[arg(value_name = "OUT_URL")]
    pub out: String,
    /// Random seed; the same seed and flags give byte-identical files.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Generate for the courses of the `course_blocks` and `course_policies` tables at this URL
    /// (for example `regrade import olx`'s output) instead of synthetic courses; the two tables
    /// are copied to OUT_URL as they are.
    #[arg(long, value_name = "URL", conflicts_with_all = ["courses", "problems_per_course"])]
    pub structure: Option<String>,
    /// Number of courses (not with --structure).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub courses: u64,
    /// Learners of the largest course; the other courses get geometrically fewer.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=1_000_000_000))]
    pub learners: u64,
    /// Problems per course (first published version; later versions may add some; not with
    /// --structure).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub problems_per_course: u64,
    /// Delete the generated tables already present at OUT_URL instead of refusing to write.
    #[arg(long)]
    pub overwrite: bool,
}

pub fn execute(args: Args, global: &Global) -> Result<()> {
    let opts = Options {
        seed: args.seed,
        courses: args.courses as usize,
        learners: args.learners as usize,
        problems_per_course: args.problems_per_course as usize,
    };
    let progress = !global.quiet && global.log_format == LogFormat::Text && std::io::stderr().is_terminal();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let summary = runtime.block_on(async {
        let loc = store::open_output(&args.out)?;
        match &args.structure {
            Some(url) => {
                let structure = store::open(url)?;
                generate::generate_from_structure(&loc, &structure, &opts, args.overwrite, progress).await
            }
            None => generate::generate(&loc, &opts, args.overwrite, progress).await,
        }
    })?;
    if !global.quiet {
        print_summary(&summary, &args.out);
    }
    Ok(())
}

fn print_summary(summary: &Summary, out: &str) {
    println!(
        "generated {} tables: {} rows in {} files ({:.1} MB) in {:.2}s -> {}",
        summary.tables.len(),
        summary.total_rows(),
        summary.total_files(),
        summary.total_bytes() as f64 / 1e6,
        summary.elapsed.as_secs_f64(),
        store::redact(out)
    );
    println!("  {:<30} {:>12} {:>6} {:>12}", "table", "rows", "files", "bytes");
    for (table, s) in &summary.tables {
        println!("  {:<30} {:>12} {:>6} {:>12}", table, s.rows, s.files, s.bytes);
    }
}
