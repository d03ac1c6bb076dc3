//! `regrade report RUN --output DIR`: the impact report of a finished run (`src/impact/`).

use std::path::PathBuf;

use anyhow::Result;
use regrade::impact::meta::MetaOptions;
use regrade::impact::{self, ReportOptions};

use super::Global;

const AFTER_HELP: &str = "\
Writes DIR/index.html, one self-contained page (inline SVG and CSS, no script, nothing fetched)
for whoever signs a regrade off, and DIR/impact.parquet, the numbers behind every chart
(schemas/output/impact.json). Per course and over all courses: the course grade distribution
before and after with the letter cutoffs and the pass line, how much grades moved, the letter
and pass/fail transitions, per assignment type the mean and spread of the subsection score
changes, the subsections that changed the most learners, the learners who cross the pass line,
and the run's own facts from its manifest. Before is the grades edX has stored (the run's diffs);
with --baseline OTHER_RUN the same comparisons between the two runs are added (a what-if policy
against the current one, or two course versions).

RUN and OTHER_RUN are folders of finished runs on the local filesystem that wrote grades and
diffs. Assignment types, titles and cutoffs are read from the run's input (the manifest's
input, or --input). Learners appear as user ids; --with-names adds usernames from the input's
users table and marks the page STAFF ONLY.

Exit codes: 0 written; 2 bad usage or unreadable run or input; 1 anything else.";

#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct Args {
    /// The finished run's folder.
    #[arg(value_name = "RUN")]
    pub run: PathBuf,
    /// Another finished run to compare this one with (before: the baseline; after: RUN).
    #[arg(long, value_name = "OTHER_RUN")]
    pub baseline: Option<PathBuf>,
    /// Folder to write index.html and impact.parquet into (created if needed).
    #[arg(long, value_name = "DIR")]
    pub output: PathBuf,
    /// Add usernames (from the input's users table) to the learners listed: a staff-only copy.
    #[arg(long)]
    pub with_names: bool,
    /// The run's input root, when the manifest's (a path relative to where the run was
    /// started, or a redacted URL) does not open from here.
    #[arg(long, value_name = "URL")]
    pub input: Option<String>,
    /// The run's what-if policy file, when the path in its manifest does not open from here
    /// (checked against the SHA-1 the manifest recorded).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<String>,
    /// The baseline run's what-if policy file, likewise.
    #[arg(long, value_name = "FILE", requires = "baseline")]
    pub baseline_policy: Option<String>,
}

pub fn execute(args: Args, global: &Global) -> Result<()> {
    let opts = ReportOptions {
        run: args.run,
        baseline: args.baseline,
        output: args.output,
        with_names: args.with_names,
        meta: MetaOptions { input: args.input, policy: args.policy, baseline_policy: args.baseline_policy },
    };
    let written = impact::report(&opts)?;
    if !global.quiet {
        println!(
            "impact report{}: {} ({} rows in {}) in {:.2}s",
            if opts.with_names { " (STAFF ONLY: with usernames)" } else { "" },
            written.index.display(),
            written.rows,
            written.parquet.display(),
            written.seconds
        );
    }
    Ok(())
}
