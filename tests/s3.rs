//! Against a real S3 server on loopback: each test starts its own `s3s-fs` (see
//! `common/s3.rs`) and runs the `regrade` binary against it with the `AWS_*` variables set on
//! the subprocess. Without `s3s-fs` on PATH the tests skip, loudly; with `REGRADE_REQUIRE_S3=1`
//! (CI) they fail instead.

mod common;

use std::process::Command;

use common::normalised_manifest;
use common::s3::{assert_same_trees, local_tree, S3Server};

const SEED: &str = "7";
/// Small but complete: every table, several parquet files, more than one course.
const SIZE: [&str; 6] = ["--courses", "2", "--learners", "30", "--problems-per-course", "8"];

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Output {
    fn all(&self) -> String {
        format!("exit code {}\n--- stdout\n{}--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

fn run(mut cmd: Command, args: &[&str]) -> Output {
    let out = cmd.args(args).output().expect("run regrade");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn generate_args<'a>(url: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["generate", url, "--seed", SEED, "-q"];
    args.extend(SIZE);
    args.extend(extra);
    args
}

/// `generate` writes the same bytes to S3 as to a local folder, refuses to mix with an existing
/// dataset there, replaces it with `--overwrite`; `check` reads it all back through S3.
#[test]
fn generate_to_s3_matches_local_and_checks() {
    let Some(s3) = S3Server::start() else { return };
    let url = s3.url("exports/run-1");

    let out = run(s3.command(), &generate_args(&url, &[]));
    assert_eq!(out.code, 0, "generate to S3\n{}\n{}", out.all(), s3.server_log());
    let local = tempfile::tempdir().expect("tempdir");
    let local_s = local.path().to_str().expect("utf8");
    let out = run(Command::new(env!("CARGO_BIN_EXE_regrade")), &generate_args(local_s, &[]));
    assert_eq!(out.code, 0, "generate locally\n{}", out.all());

    let on_s3 = s3.objects("exports/run-1");
    let on_disk = local_tree(local.path());
    assert!(on_s3.keys().any(|k| k.starts_with("course_blocks/")), "{:?}", on_s3.keys());
    assert_same_trees(&on_s3, &on_disk, &[]);

    // `check` lists and reads every table back through S3.
    let out = run(s3.command(), &["check", &url]);
    assert_eq!(out.code, 0, "check on S3\n{}\n{}", out.all(), s3.server_log());
    assert!(out.stdout.contains("checked 19 tables") && out.stdout.contains(": 0 failed"), "{}", out.all());

    // A second generate into the same prefix is refused; --overwrite deletes through S3 and
    // writes the same bytes again.
    let out = run(s3.command(), &generate_args(&url, &[]));
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("already holds") && out.stderr.contains(&url), "{}", out.all());
    let out = run(s3.command(), &generate_args(&url, &["--overwrite"]));
    assert_eq!(out.code, 0, "generate --overwrite\n{}\n{}", out.all(), s3.server_log());
    assert_same_trees(&s3.objects("exports/run-1"), &on_disk, &[]);
}

/// A corrupt object among the parquet files of a table is an input error (exit 2) naming its
/// s3:// URL.
#[test]
fn corrupt_object_on_s3_is_named() {
    let Some(s3) = S3Server::start() else { return };
    let url = s3.url("corrupt");
    let tiny = ["generate", &url, "--seed", SEED, "-q", "--courses", "1", "--learners", "5"];
    let out = run(s3.command(), &tiny);
    assert_eq!(out.code, 0, "generate to S3\n{}\n{}", out.all(), s3.server_log());

    s3.put("corrupt/users/part-99999.parquet", b"not parquet");
    let out = run(s3.command(), &["check", &url]);
    assert_eq!(out.code, 2, "{}", out.all());
    let object = format!("{url}/users/part-99999.parquet");
    let line = out.stderr.lines().find(|l| l.contains(&object));
    assert!(line.is_some_and(|l| l.starts_with("error:")), "no error names {object}\n{}", out.all());
    assert!(out.stderr.contains("failed their checks: users"), "{}", out.all());
}

/// A wrong secret key fails (the server checks signatures), and the secret is not printed.
#[test]
fn wrong_secret_fails_without_printing_it() {
    let Some(s3) = S3Server::start() else { return };
    let url = s3.url("creds");
    let secret = "wrong-secret-9f3a7c";
    let mut cmd = s3.command();
    cmd.env("AWS_SECRET_ACCESS_KEY", secret);
    let out = run(cmd, &["check", &url]);
    assert_ne!(out.code, 0, "{}", out.all());
    assert!(!out.stdout.contains(secret) && !out.stderr.contains(secret), "secret printed:\n{}", out.all());
    assert!(out.stderr.contains(&url), "the error names the URL\n{}", out.all());
    assert!(out.stderr.contains("403") || out.stderr.contains("Signature"), "{}", out.all());
}

fn tree(entries: &[(&str, &str)]) -> std::collections::BTreeMap<String, Vec<u8>> {
    entries.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())).collect()
}

#[test]
#[should_panic(expected = "trees differ at 't/b': 3 vs 3 bytes, first difference at byte 1")]
fn tree_comparison_names_the_first_differing_path() {
    let a = tree(&[("t/a", "x"), ("t/b", "abc"), ("t/c", "1")]);
    let b = tree(&[("t/a", "x"), ("t/b", "aXc"), ("t/c", "2")]);
    assert_same_trees(&a, &b, &[]);
}

#[test]
#[should_panic(expected = "'t/b' is only in the second tree")]
fn tree_comparison_names_a_missing_path_and_honours_ignore() {
    let a = tree(&[("manifest.json", "1"), ("t/a", "x"), ("skip/x", "1")]);
    let b = tree(&[("manifest.json", "2"), ("t/a", "x"), ("t/b", "y"), ("skipped", "2")]);
    assert_same_trees(&a, &tree(&[("manifest.json", "2"), ("t/a", "x")]), &["manifest.json", "skip"]);
    assert_same_trees(&a, &b, &["manifest.json", "skip", "skipped"]);
}

/// The whole pipeline with input and output on S3 writes the same files, byte for byte, as the
/// same run on the local filesystem; the manifests agree on everything but URLs and timings.
#[test]
fn run_on_s3_matches_the_same_run_on_local_files() {
    let Some(s3) = S3Server::start() else { return };
    let input = s3.url("exports/run-in");
    let out = run(s3.command(), &generate_args(&input, &[]));
    assert_eq!(out.code, 0, "generate to S3\n{}\n{}", out.all(), s3.server_log());
    let local = tempfile::tempdir().expect("tempdir");
    let local_in = local.path().join("in");
    let local_out = local.path().join("out");
    let out =
        run(Command::new(env!("CARGO_BIN_EXE_regrade")), &generate_args(local_in.to_str().unwrap(), &[]));
    assert_eq!(out.code, 0, "{}", out.all());

    let output = s3.url("runs/r1");
    let common = ["--as-of", "2026-06-01T00:00:00Z", "--rescore", "only-if-higher", "-q"];
    let mut args = vec!["run", "--input", &input, "--output", &output];
    args.extend(common);
    let out = run(s3.command(), &args);
    assert_eq!(out.code, 0, "run on S3\n{}\n{}", out.all(), s3.server_log());
    let mut args =
        vec!["run", "--input", local_in.to_str().unwrap(), "--output", local_out.to_str().unwrap()];
    args.extend(common);
    let out = run(Command::new(env!("CARGO_BIN_EXE_regrade")), &args);
    assert_eq!(out.code, 0, "run locally\n{}", out.all());

    let on_s3 = s3.objects("runs/r1");
    let on_disk = local_tree(&local_out);
    for folder in ["subsection_grades/", "course_grades/", "diffs/subsection_diffs/", "reports/"] {
        assert!(on_s3.keys().any(|k| k.starts_with(folder)), "no {folder} on S3: {:?}", on_s3.keys());
    }
    assert_same_trees(&on_s3, &on_disk, &["manifest.json"]);
    assert_eq!(normalised_manifest(&on_s3["manifest.json"]), normalised_manifest(&on_disk["manifest.json"]));
    // Courses cut into partitions, their files uploaded as they grow and published as multipart
    // uploads: the same bytes again.
    let output2 = s3.url("runs/r2");
    let mut args = vec!["run", "--input", &input, "--output", &output2];
    args.extend(common);
    let mut cmd = s3.command();
    cmd.env("REGRADE_TEST_PARTITION_BYTES", "4000").env("REGRADE_TEST_MULTIPART_THRESHOLD", "1");
    let out = run(cmd, &args);
    assert_eq!(out.code, 0, "partitioned run on S3\n{}\n{}", out.all(), s3.server_log());
    let partitioned = s3.objects("runs/r2");
    assert_same_trees(&partitioned, &on_disk, &["manifest.json"]);
    let m: serde_json::Value = serde_json::from_slice(&partitioned["manifest.json"]).unwrap();
    let parts: Vec<u64> =
        m["courses"].as_array().unwrap().iter().map(|c| c["partitions"].as_u64().unwrap()).collect();
    assert!(parts.iter().any(|&n| n > 1), "courses were cut: {parts:?}");
    // The S3 output folder is not reused without --overwrite.
    let mut args = vec!["run", "--input", &input, "--output", &output];
    args.extend(common);
    let out = run(s3.command(), &args);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(out.stderr.contains("--overwrite"), "{}", out.all());
}

/// The claim on an S3 output folder is a conditional create (`If-None-Match: *`): while a run
/// writes the folder, a second one is refused naming it, even with --overwrite, and the first
/// finishes alone; a stale claim (a crashed run's, on another host) stops a plain run, and
/// --overwrite takes it over with a conditional update (`If-Match`).
#[test]
fn an_s3_output_folder_is_written_by_one_run_at_a_time() {
    let Some(s3) = S3Server::start() else { return };
    let input = s3.url("claims/in");
    let tiny = ["generate", &input, "--seed", SEED, "-q", "--courses", "1", "--learners", "5"];
    let out = run(s3.command(), &tiny);
    assert_eq!(out.code, 0, "generate to S3\n{}\n{}", out.all(), s3.server_log());
    let tmp = tempfile::tempdir().expect("tempdir");
    let gate = tmp.path().join("gate");
    let output = s3.url("claims/out");
    let as_of = "2026-06-01T00:00:00Z";
    let mut cmd = s3.command();
    cmd.args(["run", "--input", &input, "--output", &output, "--as-of", as_of, "-q"])
        .env("REGRADE_TEST_PAUSE_AT", "output_checked")
        .env("REGRADE_TEST_PAUSE_FILE", &gate)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let first = cmd.spawn().expect("start regrade");
    let until = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !gate.with_extension("reached").exists() {
        assert!(std::time::Instant::now() < until, "the first run never reached its pause point");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let second =
        run(s3.command(), &["run", "--input", &input, "--output", &output, "--as-of", as_of, "--overwrite"]);
    assert_eq!(second.code, 2, "{}", second.all());
    let holder = "is being written by another regrade run started";
    assert!(second.stderr.contains(holder), "{}", second.all());
    assert!(second.stderr.contains(&format!("(process {})", first.id())), "{}", second.all());
    assert!(s3.objects("claims/out").contains_key("_journal/_claim.json"), "the claim is on S3");
    std::fs::write(&gate, "go").unwrap();
    let first = first.wait_with_output().unwrap();
    assert_eq!(first.status.code(), Some(0), "{}", String::from_utf8_lossy(&first.stderr));
    let objects = s3.objects("claims/out");
    assert!(objects.contains_key("manifest.json"), "{:?}", objects.keys());
    assert!(
        !objects.keys().any(|k| k.starts_with("_journal/")),
        "the claim is released: {:?}",
        objects.keys()
    );

    // A crashed run's claim, from another machine.
    let stale = r#"{"token": "t", "command": "backfill", "host": "batch-7", "pid": 4242,
        "started_at": "2026-05-31T23:00:00Z", "tool_version": "0.1.0"}"#;
    s3.put("claims/stale/_journal/_claim.json", stale.as_bytes());
    let output = s3.url("claims/stale");
    let args = ["run", "--input", &input, "--output", &output, "--as-of", as_of];
    let plain = run(s3.command(), &args);
    assert_eq!(plain.code, 2, "{}", plain.all());
    let named =
        "is claimed by another regrade backfill started 2026-05-31T23:00:00Z on host batch-7 (process 4242)";
    assert!(plain.stderr.contains(named) && plain.stderr.contains("--overwrite"), "{}", plain.all());
    let replaced = run(s3.command(), &[&args[..], &["--overwrite"]].concat());
    assert_eq!(replaced.code, 0, "{}\n{}", replaced.all(), s3.server_log());
    let objects = s3.objects("claims/stale");
    assert!(objects.contains_key("manifest.json") && !objects.contains_key("_journal/_claim.json"));
}
