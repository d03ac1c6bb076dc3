//! The `regrade` binary: parse the command line, run the subcommand, map errors to exit codes.
//!
//! Errors print as `error: <message>` followed by their causes (each text once), without a
//! backtrace. Exit codes: 0 success, 2 bad usage (clap) or unreadable input, 1 any other failure.
//! Files are created owner-only (umask 077).

mod cli;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc: grading allocates many small, short-lived values on every thread; glibc's malloc
/// spent a fifth of a run's CPU time there (see README, architecture).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (the position of `mi_option_purge_delay` in mimalloc.h's
/// `mi_option_e`, the same in its v2 and v3; the Rust binding names no constant for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// How long freed memory stays with mimalloc before it goes back to the OS, in milliseconds.
const PURGE_DELAY_MS: std::os::raw::c_long = 50;

fn main() -> ExitCode {
    // Grade reports, datasets and grade tables hold personal data: every file and folder this
    // process creates on a local filesystem is owner-only (0600 / 0700).
    #[cfg(unix)]
    // SAFETY: umask(2) only sets the process's file-mode creation mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
    // mimalloc keeps freed memory 10 ms before giving it back to the OS. Given back at once
    // (0 ms), a run spent a third of its time in the kernel re-faulting and zeroing pages it
    // had just returned; at 50 ms it spends about a tenth, and what lingers is returned
    // between partitions (`run::release_freed_memory`), so resident memory still follows what
    // the run holds (measured: README, performance). `MIMALLOC_PURGE_DELAY` in the
    // environment (milliseconds) wins.
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: mi_option_set only stores an option's value; any value of this option is valid.
        unsafe {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS);
        }
    }
    let cli = cli::Cli::parse();
    cli::init_logging(&cli.global);
    match cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            // Many errors repeat their source's text in their own; print each new text once.
            let mut last = err.to_string();
            for cause in err.chain().skip(1) {
                let text = cause.to_string();
                if !last.contains(&text) {
                    eprintln!("  caused by: {text}");
                }
                last = text;
            }
            if regrade::error::is_usage_or_input(&err) {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}
