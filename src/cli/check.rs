//! `regrade check INPUT_URL`: read every input table and check it against its schema, before
//! scheduling a run on it.

use std::time::Instant;

use anyhow::Result;
use regrade::read::{check_table, discover, InputError};
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
    let (results, inventory) = runtime.block_on(async {
        let loc = store::open(&args.input)?;
        let tables: Vec<&str> = names.iter().map(String::as_str).collect();
        let inventory = discover::inventory(&loc, &tables).await?;
        inventory.warn();
        let mut out = Vec::with_capacity(names.len());
        for name in &names {
            let listing = inventory.tables.get(name).cloned().unwrap_or_default();
            out.push((name.clone(), check_table(&loc, name, &listing).await?));
        }
        anyhow::Ok((out, inventory))
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
    for e in &inventory.problems {
        eprintln!("error: {e}");
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
        if !inventory.ignored.is_empty() {
            println!(
                "not read: {} inputs under the input root (listed in the warnings on stderr)",
                inventory.ignored.len()
            );
        }
    }
    if !inventory.problems.is_empty() {
        Err(InputError::new(format!(
            "the input root has {} problem{} (above); fix {} before running",
            inventory.problems.len(),
            if inventory.problems.len() == 1 { "" } else { "s" },
            if inventory.problems.len() == 1 { "it" } else { "them" }
        ))
        .into())
    } else if failed.is_empty() {
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
