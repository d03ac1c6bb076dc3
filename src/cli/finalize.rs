//! `regrade finalize URL`: publish a sharded run once all its shards are done.

use anyhow::{bail, Result};
use regrade::run::{self, shard};

use super::Global;

const AFTER_HELP: &str = "\
Checks that every shard of the run planned in URL (`regrade plan --shards N`) finished and that
each of its courses is complete (or failed, as a run lists failed courses), then writes the
run-level files and manifest.json, with each shard's courses and timings and the slowest shard,
and removes the journal. A shard that did not finish is named, with the command that reruns it.
Finalizing a finalized run does nothing.

Exit codes: 0 published; 1 a shard did not finish, or some courses failed (listed in the
manifest); 2 bad usage.";

#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct Args {
    /// The sharded run's output folder.
    #[arg(value_name = "URL")]
    pub url: String,
}

pub fn execute(args: Args, global: &Global) -> Result<()> {
    let manifest = match shard::finalize(&args.url)? {
        run::Outcome::Published(m) => m,
        run::Outcome::AlreadyComplete(why) => {
            if !global.quiet {
                println!("{why}");
            }
            return Ok(());
        }
        run::Outcome::Shard(_) => unreachable!("finalize runs no shard"),
    };
    if !global.quiet {
        let t = &manifest.totals;
        let shards = manifest.shards.as_ref().map_or(0, |s| s.count);
        let slowest = manifest
            .shards
            .as_ref()
            .and_then(|s| s.slowest.and_then(|k| s.shards.iter().find(|r| r.shard == k)));
        println!(
            "finalized {}: {} shards, {} courses ({} failed), {} learners, {} input rows; {} files and manifest.json",
            regrade::store::redact(&args.url),
            shards,
            t.courses,
            t.courses_failed,
            t.learners,
            t.rows_read,
            manifest.outputs.len()
        );
        if let Some(s) = slowest {
            println!("  slowest shard: {} ({:.2}s, {} courses)", s.shard, s.seconds, s.courses);
        }
        for f in &manifest.failed {
            println!("  FAILED {}: {}", f.course_id, f.error);
        }
    }
    if !manifest.failed.is_empty() {
        bail!(
            "{} of {} courses failed (see failed in {}/manifest.json)",
            manifest.failed.len(),
            manifest.failed.len() + manifest.courses.len(),
            regrade::store::redact(&args.url)
        );
    }
    Ok(())
}
