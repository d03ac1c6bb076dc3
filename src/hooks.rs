//! Test hooks: points where the end-to-end tests make the binary crash, pause or upload in
//! parts, driven by `REGRADE_TEST_*` environment variables. Never set in production; unset,
//! each hook costs one environment lookup.
//!
//! | variable | effect |
//! |---|---|
//! | `REGRADE_TEST_ABORT_BEFORE_JOURNAL=n` (and the other [`crash_point`] names) | abort the n-th time the point is reached |
//! | `REGRADE_TEST_ABORT_MID_UPLOAD=SUFFIX` | abort after the first part of the upload of the first file whose path ends with `SUFFIX` |
//! | `REGRADE_TEST_MULTIPART_THRESHOLD=BYTES` | upload files larger than this in parts (default [`crate::write::MULTIPART_THRESHOLD`]) |
//! | `REGRADE_TEST_GENERATE_PARTS=ROWS,LEARNERS` | `regrade generate` rolls part files every `ROWS` rows and writes learners in chunks of `LEARNERS` (default [`crate::generate::PART_ROWS`], [`crate::generate::CHUNK_LEARNERS`]): several parts from a small dataset |
//! | `REGRADE_TEST_PAUSE_AT=NAME` with `REGRADE_TEST_PAUSE_FILE=FILE` | at [`pause_point`] `NAME`: create `FILE.reached`, then wait until `FILE` exists (at most two minutes); `import mysql` has `mysql_page_<source>` after each full page |

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// With `VAR=n` in the environment, the process aborts (as a crash or a kill would stop it)
/// when it reaches this point for the n-th time.
pub(crate) fn crash_point(var: &str) {
    static SEEN: Mutex<BTreeMap<String, usize>> = Mutex::new(BTreeMap::new());
    let Some(n) = std::env::var(var).ok().and_then(|v| v.parse::<usize>().ok()) else { return };
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    let count = seen.entry(var.to_string()).or_default();
    *count += 1;
    if *count >= n {
        eprintln!("{var}={n}: aborting");
        std::process::abort();
    }
}

/// Called after the first part of an upload of `path`: aborts with
/// `REGRADE_TEST_ABORT_MID_UPLOAD` set to a suffix of `path`.
pub(crate) fn mid_upload(path: &str) {
    const VAR: &str = "REGRADE_TEST_ABORT_MID_UPLOAD";
    if let Ok(suffix) = std::env::var(VAR) {
        if !suffix.is_empty() && path.ends_with(&suffix) {
            eprintln!("{VAR}={suffix}: aborting in the middle of the upload of {path}");
            std::process::abort();
        }
    }
}

/// What one partition may hold: `default`, unless `REGRADE_TEST_PARTITION_BYTES` says
/// otherwise (tests cut small courses into many partitions with it).
pub(crate) fn partition_bytes(default: u64) -> u64 {
    std::env::var("REGRADE_TEST_PARTITION_BYTES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Files larger than this are uploaded in parts: `default`, unless
/// `REGRADE_TEST_MULTIPART_THRESHOLD` says otherwise.
pub(crate) fn multipart_threshold(default: usize) -> usize {
    std::env::var("REGRADE_TEST_MULTIPART_THRESHOLD").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// `REGRADE_TEST_GENERATE_PARTS=ROWS,LEARNERS`: `regrade generate`'s part size and learner
/// chunk, when set.
pub(crate) fn generate_parts() -> Option<(usize, usize)> {
    let v = std::env::var("REGRADE_TEST_GENERATE_PARTS").ok()?;
    let (rows, learners) = v.split_once(',')?;
    Some((rows.trim().parse().ok()?, learners.trim().parse().ok()?))
}

/// With `REGRADE_TEST_PAUSE_AT=name`: tell the test the point is reached (`FILE.reached`) and
/// wait until it creates `FILE` (`REGRADE_TEST_PAUSE_FILE`), two minutes at most.
pub(crate) fn pause_point(name: &str) {
    if std::env::var("REGRADE_TEST_PAUSE_AT").ok().as_deref() != Some(name) {
        return;
    }
    let Some(file) = std::env::var_os("REGRADE_TEST_PAUSE_FILE").map(std::path::PathBuf::from) else {
        return;
    };
    let mut reached = file.clone().into_os_string();
    reached.push(".reached");
    let _ = std::fs::write(&reached, name);
    let until = Instant::now() + Duration::from_secs(120);
    while !file.exists() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
}
