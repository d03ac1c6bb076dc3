//! Object-store faults: regrade against a real S3 server (`s3s-fs`, see `common/s3.rs`) through
//! a fault-injecting proxy on loopback (`common/faultproxy.rs`) that drops connections, delays
//! answers (shorter and longer than the client's timeout), answers 500/503 (before or after the
//! server acted on the request) and cuts response bodies short.
//!
//! Transient faults are absorbed by the retries configured in `src/store.rs`: the run succeeds
//! and writes exactly what a run without faults writes. A persistent failure makes regrade fail
//! cleanly, within a bounded time set by the `REGRADE_STORE_*` variables: a non-zero exit, an
//! error on stderr naming what failed, and no `manifest.json` in the output.
//!
//! Skips (loudly) without `s3s-fs`, like `tests/s3.rs`; `REGRADE_REQUIRE_S3=1` makes that a
//! failure.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use common::faultproxy::{Fault, FaultProxy, Plan, Rule};
use common::normalised_manifest;
use common::s3::{assert_same_trees, S3Server};

const SEED: &str = "1";
/// Tiny but complete: every table, more than one course.
const SIZE: [&str; 6] = ["--courses", "2", "--learners", "30", "--problems-per-course", "8"];
const RUN_FLAGS: [&str; 4] = ["--as-of", "2026-06-01T00:00:00Z", "--rescore", "only-if-higher"];
const BACKFILL_FLAGS: [&str; 2] = ["--as-of", "2026-06-01T00:00:00Z"];

/// Client timeout of one attempt under faults: longer than any answer on loopback takes
/// (debug build, busy machine), shorter than [`LONG_DELAY`].
const TIMEOUT_SECS: &str = "2";
const LONG_DELAY: Duration = Duration::from_millis(3500);
const SHORT_DELAY: Duration = Duration::from_millis(150);

/// Retries enough to absorb the transient plan, with short waits.
const ABSORBING: [(&str, &str); 6] = [
    ("REGRADE_STORE_MAX_RETRIES", "10"),
    ("REGRADE_STORE_BACKOFF_INIT_SECS", "0.01"),
    ("REGRADE_STORE_BACKOFF_MAX_SECS", "0.2"),
    ("REGRADE_STORE_RETRY_TIMEOUT_SECS", "60"),
    ("REGRADE_STORE_TIMEOUT_SECS", TIMEOUT_SECS),
    ("REGRADE_STORE_CONNECT_TIMEOUT_SECS", "1"),
];

/// Few retries, short waits: a persistent failure surfaces within seconds.
const GIVING_UP: [(&str, &str); 6] = [
    ("REGRADE_STORE_MAX_RETRIES", "2"),
    ("REGRADE_STORE_BACKOFF_INIT_SECS", "0.01"),
    ("REGRADE_STORE_BACKOFF_MAX_SECS", "0.05"),
    ("REGRADE_STORE_RETRY_TIMEOUT_SECS", "5"),
    ("REGRADE_STORE_TIMEOUT_SECS", "1"),
    ("REGRADE_STORE_CONNECT_TIMEOUT_SECS", "1"),
];

/// How long a failing run may take with [`GIVING_UP`]: each request gives up after at most 3
/// attempts of 1 s plus waits; generous for a loaded machine.
const FAIL_WITHIN: Duration = Duration::from_secs(45);

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Output {
    fn all(&self) -> String {
        format!(
            "exit code {} after {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.elapsed, self.stdout, self.stderr
        )
    }
}

fn run(mut cmd: Command, args: &[&str]) -> Output {
    let started = Instant::now();
    let out = cmd.args(args).output().expect("run regrade");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}

/// regrade talking to the server through `proxy`, with the given store settings. Logs at info
/// level, so object_store's retry messages show in failure output.
fn through(s3: &S3Server, proxy: &FaultProxy, settings: &[(&str, &str)]) -> Command {
    let mut cmd = s3.command();
    cmd.env("AWS_ENDPOINT", proxy.endpoint()).env("AWS_ENDPOINT_URL", proxy.endpoint());
    cmd.env("RUST_LOG", "info");
    for (k, v) in settings {
        cmd.env(k, v);
    }
    cmd
}

/// Generate the input dataset straight into the server (no proxy) under `prefix`.
fn generate(s3: &S3Server, prefix: &str) -> String {
    let url = s3.url(prefix);
    let mut args = vec!["generate", &url, "--seed", SEED, "-q"];
    args.extend(SIZE);
    let out = run(s3.command(), &args);
    assert_eq!(out.code, 0, "generate to S3\n{}\n{}", out.all(), s3.server_log());
    url
}

fn job_args<'a>(command: &'a str, input: &'a str, output: &'a str) -> Vec<&'a str> {
    let mut args = vec![command, "--input", input, "--output", output];
    args.extend(if command == "run" { &RUN_FLAGS[..] } else { &BACKFILL_FLAGS[..] });
    args
}

/// The faults a run must absorb, on reads (GET of objects and listings) and on writes (PUT).
/// Each rule fires on a fixed rhythm over the requests it matches, a few times at most, so no
/// request meets more consecutive faults than the retries allow.
fn transient_plan() -> Plan {
    Plan::new(vec![
        // Reads of Parquet objects (footers and column chunks, as ranged GETs).
        Rule::new(Fault::Truncate).method("GET").target_contains(".parquet").every(6, 2).limit(6),
        Rule::new(Fault::Delay(LONG_DELAY)).method("GET").target_contains(".parquet").every(40, 25).limit(1),
        // Any GET: object reads and listings.
        Rule::new(Fault::Drop).method("GET").every(9, 4).limit(4),
        Rule::new(Fault::Status(500)).method("GET").every(11, 6).limit(4),
        Rule::new(Fault::Status(503)).method("GET").every(13, 1).limit(3),
        Rule::new(Fault::Delay(SHORT_DELAY)).method("GET").every(7, 3).limit(4),
        // Writes.
        Rule::new(Fault::Drop).method("PUT").every(6, 1).limit(3),
        Rule::new(Fault::Status(503)).method("PUT").every(6, 2).limit(3),
        Rule::new(Fault::StatusAfterForward(500)).method("PUT").every(6, 3).limit(3),
        Rule::new(Fault::Delay(SHORT_DELAY)).method("PUT").every(6, 4).limit(2),
        Rule::new(Fault::Delay(LONG_DELAY)).method("PUT").every(6, 5).limit(1),
    ])
}

/// `command` (run or backfill) through the transient plan writes the same files, byte for byte,
/// as without faults, and the same manifest but for times and URLs.
fn transient_faults_are_absorbed(command: &str) {
    let Some(s3) = S3Server::start() else { return };
    let input = generate(&s3, "in");

    let clean_url = s3.url("out/clean");
    let clean = run(s3.command(), &job_args(command, &input, &clean_url));
    assert_eq!(clean.code, 0, "{command} without faults\n{}\n{}", clean.all(), s3.server_log());

    let proxy = FaultProxy::start(&s3.endpoint(), transient_plan());
    let faulty_url = s3.url("out/faulty");
    let faulty = run(through(&s3, &proxy, &ABSORBING), &job_args(command, &input, &faulty_url));
    let context = || format!("{}\n{}server log:\n{}", faulty.all(), proxy.summary(), s3.server_log());
    assert_eq!(faulty.code, 0, "{command} under transient faults\n{}", context());
    eprintln!(
        "{command}: without faults {:?}; with faults {:?}, {}",
        clean.elapsed,
        faulty.elapsed,
        proxy.summary().lines().next().unwrap_or_default()
    );

    // The faults really happened, of every kind, on reads and on writes.
    for (kind, method, at_least) in [
        ("truncate", "GET", 3),
        ("drop", "GET", 2),
        ("status", "GET", 2),
        ("delay", "GET", 2),
        ("drop", "PUT", 1),
        ("status", "PUT", 1),
        ("status_after_forward", "PUT", 1),
        ("delay", "PUT", 1),
    ] {
        let n = proxy.injected_on(kind, method);
        assert!(n >= at_least, "only {n} {kind} faults on {method} (want {at_least})\n{}", context());
    }
    assert!(proxy.errors().is_empty(), "the proxy itself failed\n{}", context());
    // object_store said it retried (its info-level messages).
    assert!(faulty.stderr.contains("backing off") || faulty.stderr.contains("Retrying"), "{}", context());

    let clean_files = s3.objects("out/clean");
    let faulty_files = s3.objects("out/faulty");
    assert!(clean_files.len() > 5, "{:?}", clean_files.keys());
    assert_same_trees(&faulty_files, &clean_files, &["manifest.json"]);
    assert_eq!(
        normalised_manifest(&faulty_files["manifest.json"]),
        normalised_manifest(&clean_files["manifest.json"]),
        "the manifests differ"
    );
}

#[test]
fn run_absorbs_transient_faults_with_identical_outputs() {
    transient_faults_are_absorbed("run");
}

#[test]
fn backfill_absorbs_transient_faults_with_identical_outputs() {
    transient_faults_are_absorbed("backfill");
}

/// Runs `regrade run` through `plan` with few retries and checks it failed cleanly: non-zero
/// exit within [`FAIL_WITHIN`], an `error:` on stderr, no manifest in the output, and the
/// proxy injected `kind` faults. Returns the output (for more specific checks) and the proxy.
fn fails_cleanly(s3: &S3Server, plan: Plan, kind: &str) -> (Output, FaultProxy, BTreeMap<String, Vec<u8>>) {
    let input = generate(s3, "in");
    let proxy = FaultProxy::start(&s3.endpoint(), plan);
    let output = s3.url("out/failing");
    let out = run(through(s3, &proxy, &GIVING_UP), &job_args("run", &input, &output));
    let context = format!("{}\n{}server log:\n{}", out.all(), proxy.summary(), s3.server_log());
    assert_ne!(out.code, 0, "the run should have failed\n{context}");
    assert!(out.elapsed < FAIL_WITHIN, "failing took {:?}\n{context}", out.elapsed);
    // A delayed answer is counted when the proxy relays it, which can be after regrade gave up.
    let settle = Instant::now();
    while proxy.injected(kind) == 0 && settle.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(proxy.injected(kind) > 0, "no {kind} fault was injected\n{context}");
    assert!(out.stderr.lines().any(|l| l.starts_with("error:")), "no 'error:' line on stderr\n{context}");
    let mut written = s3.objects("out/failing");
    assert!(!written.contains_key("manifest.json"), "a failed run published a manifest\n{context}");
    // The claim and the run journal (for --resume) are written first (the claim, _run.json,
    // then each course's list of files before its files): they are not outputs.
    written.retain(|k, _| !k.starts_with("_journal/"));
    eprintln!("{kind}: failed with exit code {} in {:?}", out.code, out.elapsed);
    (out, proxy, written)
}

/// After some outputs are written, every write is answered 503: the write in progress gives
/// up after its retries, the run stops, and the files already written are not published as a
/// run (no manifest).
#[test]
fn persistent_503s_fail_cleanly_without_a_manifest() {
    let Some(s3) = S3Server::start() else { return };
    // The claim, _run.json and the two courses in flight's journal entries come first: the
    // faults start after four output files.
    let plan = Plan::new(vec![Rule::new(Fault::Status(503)).method("PUT").after("PUT", 8)]);
    let (out, proxy, written) = fails_cleanly(&s3, plan, "status");
    let context = format!("{}\n{}", out.all(), proxy.summary());
    assert_eq!(out.code, 1, "{context}");
    assert!(written.len() >= 3, "the first outputs were written: {:?}", written.keys());
    assert!(out.stderr.contains("cannot write"), "the error names the failed write\n{context}");
    assert!(out.stderr.contains("503"), "{context}");
    // 1 attempt + 2 retries of the failed request, at least.
    assert!(proxy.injected("status") >= 3, "{context}");
}

/// The server goes away (connections dropped, then refused) after some outputs are written.
#[test]
fn server_going_away_fails_cleanly_without_a_manifest() {
    let Some(s3) = S3Server::start() else { return };
    let plan = Plan::new(vec![Rule::new(Fault::GoAway).after("PUT", 8)]);
    let (out, proxy, written) = fails_cleanly(&s3, plan, "go_away");
    let context = format!("{}\n{}", out.all(), proxy.summary());
    // Exit 1 (not 2: the input is fine, running again may succeed); reads of the next course
    // and writes interleave, so either may be the one that gives up.
    assert_eq!(out.code, 1, "{context}");
    assert!(written.len() >= 3, "the first outputs were written: {:?}", written.keys());
    assert!(
        out.stderr.contains("cannot write") || out.stderr.contains("cannot fetch it from the object store"),
        "the error names the failed request\n{context}"
    );
}

/// Every read of a Parquet object hangs longer than the client's timeout.
#[test]
fn hanging_reads_time_out_and_fail_cleanly() {
    let Some(s3) = S3Server::start() else { return };
    let plan = Plan::new(vec![Rule::new(Fault::Delay(Duration::from_secs(3)))
        .method("GET")
        .target_contains(".parquet")]);
    let (out, proxy, written) = fails_cleanly(&s3, plan, "delay");
    let context = format!("{}\n{}", out.all(), proxy.summary());
    assert!(written.is_empty(), "nothing is written before the inputs are read: {:?}", written.keys());
    assert!(out.stderr.contains(".parquet"), "the error names the file\n{context}");
    assert_eq!(out.code, 1, "a store failure is not bad input (exit 2)\n{context}");
    assert!(out.stderr.contains("cannot fetch it from the object store"), "{context}");
    assert!(
        out.stderr.to_ascii_lowercase().contains("timed out") || out.stderr.contains("timeout"),
        "{context}"
    );
}

/// Every read of a Parquet object is cut short: object_store resumes each body from where it
/// broke (a ranged GET for the rest), which is cut short again, until the retries run out.
#[test]
fn persistently_truncated_reads_fail_cleanly() {
    let Some(s3) = S3Server::start() else { return };
    let plan = Plan::new(vec![Rule::new(Fault::Truncate).method("GET").target_contains(".parquet")]);
    let (out, proxy, written) = fails_cleanly(&s3, plan, "truncate");
    let context = format!("{}\n{}", out.all(), proxy.summary());
    assert!(written.is_empty(), "nothing is written before the inputs are read: {:?}", written.keys());
    assert!(out.stderr.contains(".parquet"), "the error names the file\n{context}");
}

/// A listing whose body is cut short.
#[test]
fn truncated_listing_fails_cleanly() {
    let Some(s3) = S3Server::start() else { return };
    let plan = Plan::new(vec![Rule::new(Fault::Truncate).method("GET").target_contains("list-type=2")]);
    let (out, proxy, _) = fails_cleanly(&s3, plan, "truncate");
    let context = format!("{}\n{}", out.all(), proxy.summary());
    assert!(out.stderr.contains(&s3.url("")), "the error names the location\n{context}");
}
