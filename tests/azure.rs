//! Against Azurite, Azure Blob Storage's emulator, on loopback (see `common/azure.rs`): the
//! same commands as on S3 (`tests/s3.rs`) write the same bytes to `az://` as to local files.
//! Without `azurite-blob` on PATH the tests skip, loudly; with `REGRADE_REQUIRE_AZURE=1` (CI)
//! they fail instead.

mod common;

use std::process::Command;

use common::azure::Azurite;
use common::normalised_manifest;
use common::s3::{assert_same_trees, local_tree};

const SIZE: [&str; 8] = ["--seed", "7", "--courses", "2", "--learners", "30", "--problems-per-course", "8"];
const AS_OF: [&str; 2] = ["--as-of", "2026-06-01T00:00:00Z"];

fn ok(mut cmd: Command, args: &[&str], what: &str, az: &Azurite) -> String {
    let out = cmd.args(args).arg("-q").output().expect("run regrade");
    assert!(
        out.status.success(),
        "{what}: exit {:?}\n{}\n{}\nazurite:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        az.server_log()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn local() -> Command {
    Command::new(env!("CARGO_BIN_EXE_regrade"))
}

/// generate, check, run and backfill with input and output on Azure write byte for byte what
/// they write locally; the manifests agree on everything but URLs and timings.
#[test]
fn generate_check_run_and_backfill_on_azure_match_local_files() {
    let Some(az) = Azurite::start() else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    let (input, local_in) = (az.url("exports/in"), tmp.path().join("in"));
    let local_in_s = local_in.to_str().unwrap();

    let mut args = vec!["generate", &input];
    args.extend(SIZE);
    ok(az.command(), &args, "generate to Azure", &az);
    let mut args = vec!["generate", local_in_s];
    args.extend(SIZE);
    ok(local(), &args, "generate locally", &az);
    let on_az = az.objects("exports/in");
    assert!(on_az.keys().any(|k| k.starts_with("course_blocks/")), "{:?}", on_az.keys());
    assert_same_trees(&on_az, &local_tree(&local_in), &["manifest.json"]);
    ok(az.command(), &["check", &input], "check on Azure", &az);

    for command in ["run", "backfill"] {
        let output = az.url(&format!("out/{command}"));
        let local_out = tmp.path().join(command);
        let mut args = vec![command, "--input", &input, "--output", &output];
        args.extend(AS_OF);
        ok(az.command(), &args, &format!("{command} on Azure"), &az);
        let mut args = vec![command, "--input", local_in_s, "--output", local_out.to_str().unwrap()];
        args.extend(AS_OF);
        ok(local(), &args, &format!("{command} locally"), &az);
        let (on_az, on_disk) = (az.objects(&format!("out/{command}")), local_tree(&local_out));
        assert!(on_az.keys().any(|k| k.ends_with(".parquet")), "{command}: {:?}", on_az.keys());
        assert_same_trees(&on_az, &on_disk, &["manifest.json"]);
        assert_eq!(
            normalised_manifest(&on_az["manifest.json"]),
            normalised_manifest(&on_disk["manifest.json"]),
            "{command}"
        );
    }
}

/// A wrong account key fails with the object store named and the key never printed.
#[test]
fn a_wrong_key_fails_without_printing_it() {
    let Some(az) = Azurite::start() else { return };
    let wrong = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleQ==";
    let out = az
        .command()
        .env("AZURE_STORAGE_ACCOUNT_KEY", wrong)
        .env("REGRADE_STORE_MAX_RETRIES", "0")
        .args(["check", &az.url("nothing-here")])
        .output()
        .expect("run regrade");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_ne!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stderr.contains("az://"), "{stderr}");
    assert!(!stdout.contains(wrong) && !stderr.contains(wrong), "the key was printed: {stdout}{stderr}");
}
