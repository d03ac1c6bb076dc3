//! `regrade check INPUT_URL`: read every input table and check it against its schema, before
//! scheduling a run on it.

use std::time::Instant;

use anyhow::Result;
use regrade::read::{check_table, InputError};
use regrade::{schema, store};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The input root: a directory, file://, s3://, gs://, az:// or memory:// URL.
    #[arg(value_name = "INPUT_URL")]
    pub input: String,
    /// Check only these tables (comma-separated); every input table by default.
    #[arg(long, value_delimiter = ',')]
    pub tables: Vec<String>,
}

pub fn execute(args: Args, quiet: bool) -> Result<()> {
    let started = Instant::now();
    let names: Vec<String> = if args.tables.is_empty() {
        schema::inputs().map(|s| s.table.clone()).collect()
    } else {
        for t in &args.tables {
            schema::input(t)?;
        }
        args.tables.clone()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let results = runtime.block_on(async {
        let loc = store::open(&args.input)?;
        let mut out = Vec::with_capacity(names.len());
        for name in &names {
            out.push((name.clone(), check_table(&loc, name).await?));
        }
        anyhow::Ok(out)
    })?;
    let failed: Vec<&String> = results.iter().filter(|(_, c)| !c.errors.is_empty()).map(|(n, _)| n).collect();
    let rows: usize = results.iter().map(|(_, c)| c.rows).sum();
    if !quiet {
        println!("  {:<30} {:>6} {:>12}  result", "table", "files", "rows");
        for (name, c) in &results {
            let status = if c.errors.is_empty() { "ok" } else { "FAILED" };
            println!("  {:<30} {:>6} {:>12}  {status}", name, c.files, c.rows);
        }
    }
    for (_, c) in &results {
        for e in &c.errors {
            eprintln!("error: {e}");
        }
    }
    if !quiet {
        println!(
            "checked {} tables, {} rows in {:.2}s: {} failed",
            results.len(),
            rows,
            started.elapsed().as_secs_f64(),
            failed.len()
        );
    }
    if failed.is_empty() {
        Ok(())
    } else {
        let list: Vec<&str> = failed.iter().map(|s| s.as_str()).collect();
        Err(InputError::new(format!(
            "{} of {} tables failed their checks: {}",
            failed.len(),
            results.len(),
            list.join(", ")
        ))
        .into())
    }
}
