//! Reading from Google Cloud Storage: input on `gs://` (fake-gcs-server on loopback, see
//! `common/gcs.rs`), output local. `check`, `run` and `backfill` give byte for byte what they
//! give from the same files on disk. Writes to `gs://` are not tested (no emulator accepts
//! object_store's uploads). Skips without the emulator; `REGRADE_REQUIRE_GCS=1` (CI) fails.

mod common;

use std::process::Command;

use common::gcs::{FakeGcs, BUCKET};
use common::s3::{assert_same_trees, local_tree};

#[test]
fn check_run_and_backfill_read_from_gcs_as_from_local_files() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let local_in = tmp.path().join("data").join(BUCKET).join("exports/in");
    let status = Command::new(env!("CARGO_BIN_EXE_regrade"))
        .args([
            "generate",
            local_in.to_str().unwrap(),
            "--seed",
            "9",
            "--courses",
            "2",
            "--learners",
            "30",
            "-q",
        ])
        .status()
        .expect("generate");
    assert!(status.success());
    let Some(gcs) = FakeGcs::start(&tmp.path().join("data")) else { return };
    let input = gcs.url("exports/in");

    let out = gcs.command().args(["check", &input, "-q"]).output().expect("check");
    assert!(
        out.status.success(),
        "check on GCS: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        gcs.server_log()
    );
    for command in ["run", "backfill"] {
        let (from_gcs, from_disk) = (tmp.path().join(format!("{command}-gcs")), tmp.path().join(command));
        for (mut cmd, input, output) in [
            (gcs.command(), input.as_str(), &from_gcs),
            (Command::new(env!("CARGO_BIN_EXE_regrade")), local_in.to_str().unwrap(), &from_disk),
        ] {
            let out = cmd
                .args([command, "--input", input, "--output", output.to_str().unwrap()])
                .args(["--as-of", "2026-06-01T00:00:00Z", "-q"])
                .output()
                .expect("regrade");
            assert!(out.status.success(), "{command} from {input}: {}", String::from_utf8_lossy(&out.stderr));
        }
        let (a, b) = (local_tree(&from_gcs), local_tree(&from_disk));
        assert!(a.keys().any(|k| k.ends_with(".parquet")), "{command}: {:?}", a.keys());
        assert_same_trees(&a, &b, &["manifest.json"]);
        let m: serde_json::Value = serde_json::from_slice(&a["manifest.json"]).expect("manifest");
        let read: u64 = m["totals"]["rows_read"].as_u64().unwrap();
        assert!(read > 1000, "{command}: {read} rows read from gs://");
    }
}
