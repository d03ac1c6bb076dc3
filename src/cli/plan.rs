//! `regrade plan [JOB.toml] --shards N`: plan a run as N shards in its output folder.

use anyhow::Result;
use regrade::run::options::RunOptions;
use regrade::run::shard;
use regrade::store;

use super::{job, run, Global};

const AFTER_HELP: &str = "\
Takes the job and flags of `regrade run`. The plan (courses, partitions, the shard of each
course) goes into OUTPUT/_journal/; each shard then runs with the same job and flags:

  regrade plan JOB.toml --output URL --shards 8
  regrade run JOB.toml --output URL --shard K      # K = 0..7, anywhere, in any order, at once
  regrade finalize URL                             # once all are done: writes manifest.json

On Kubernetes (Indexed Job) and Slurm (array job), leave --shard out: a shard reads its index
from JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID. A course is graded by one shard, with all its
partitions; courses are balanced over the shards by input rows, largest first.

Exit codes: 0 planned; 2 bad usage or unreadable input; 1 anything else.";

#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct PlanArgs {
    #[command(flatten)]
    pub run: run::Args,
    /// Shards to plan the run in (at least 1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub shards: u64,
}

pub fn execute(args: PlanArgs, global: &Global) -> Result<()> {
    if args.run.shard.is_some() || args.run.job.explain {
        return Err(regrade::error::usage(anyhow::anyhow!(
            "regrade plan takes neither --shard nor --explain (`regrade run --explain` prints a plan)"
        )));
    }
    let opts = job::options(&args.run.job, args.run.flags(), RunOptions::resolve)?;
    let plan = shard::plan(&opts, args.shards as usize, rerun_command())?;
    if !global.quiet {
        let rows: u64 = plan.assignment.iter().map(|a| a.rows).sum();
        println!(
            "planned {} courses ({} input rows, {} not gradable) in {} shards into {}; memory budget {} bytes per shard",
            plan.plan.courses.len(),
            rows,
            plan.plan.failed.len(),
            plan.shards,
            store::redact(&opts.output),
            plan.plan.memory_budget.bytes
        );
        for a in &plan.assignment {
            println!(
                "  shard {}: {} courses, {} learners, {} input rows, largest partition ~{} MB",
                a.shard,
                a.courses.len(),
                a.learners,
                a.rows,
                a.largest_partition_bytes / 1_000_000
            );
        }
        println!("run each shard: {}", plan.rerun.replace("{shard}", "K"));
        println!("then: regrade finalize {}", store::redact(&opts.output));
    }
    Ok(())
}

/// This command line as the command that runs a shard: `run` for `plan`, without `--shards`
/// and `--overwrite`, with `--shard {shard}`; URLs redacted.
fn rerun_command() -> String {
    let mut out: Vec<String> = vec!["regrade".to_string()];
    let mut args = std::env::args().skip(1).peekable();
    let mut replaced = false;
    while let Some(a) = args.next() {
        if !replaced && a == "plan" {
            out.push("run".to_string());
            replaced = true;
        } else if a == "--shards" {
            args.next();
        } else if a.starts_with("--shards=") || a == "--overwrite" {
        } else if a.contains("://") {
            out.push(store::redact(&a));
        } else {
            out.push(a);
        }
    }
    out.push("--shard".to_string());
    out.push("{shard}".to_string());
    out.join(" ")
}
