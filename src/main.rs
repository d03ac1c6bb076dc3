//! The `regrade` binary: parse the command line, run the subcommand, map errors to exit codes.
//!
//! Errors print as `error: <message>` followed by their causes, without a backtrace. Exit codes:
//! 0 success, 2 bad usage (clap) or unreadable input, 1 any other failure.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    cli::init_logging(&cli.global);
    match cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            if regrade::read::is_input_error(&err) {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}
