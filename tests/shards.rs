//! Sharded runs through the binary (`regrade plan --shards N`, `regrade run --shard K`,
//! `regrade finalize`): the union of the shards, run in any order and two at once, is the single
//! run byte for byte, on a local folder and on the S3 server; a killed shard is named by
//! `finalize` with the command that reruns it, and rerunning it completes the run; what would
//! break the union is refused.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::s3::{assert_same_trees, local_tree, S3Server};

const AS_OF: &str = "2026-11-01T00:00:00Z";
/// What one partition may hold: small enough to cut the generated courses into several
/// partitions (set for the plans, the shards and the single runs they are compared with, except
/// the whole one).
const SMALL_PARTITIONS: (&str, &str) = ("REGRADE_TEST_PARTITION_BYTES", "150000");

/// `regrade` with `args` and `envs`, from `base` (a plain command, or the S3 server's).
fn regrade_with(mut base: Command, args: &[&str], envs: &[(&str, &str)]) -> Output {
    base.args(args).envs(envs.iter().copied()).output().expect("run regrade")
}

/// The binary, cutting courses into [`SMALL_PARTITIONS`], with no shard index inherited.
fn plain() -> Command {
    let mut c = whole();
    c.env(SMALL_PARTITIONS.0, SMALL_PARTITIONS.1);
    c
}

/// The binary, with the default partitions (the generated courses are graded whole).
fn whole() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_regrade"));
    for k in ["JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID", SMALL_PARTITIONS.0] {
        c.env_remove(k);
    }
    c
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n{}{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn ok(o: Output) -> Output {
    assert!(o.status.success(), "{}", text(&o));
    o
}

/// Seven courses of up to 150 learners (several partitions each at [`BUDGET`]).
fn dataset(dir: &Path) -> PathBuf {
    let input = dir.join("in");
    let args = ["generate", input.to_str().unwrap(), "--seed", "11", "--courses", "7", "--learners", "150"];
    ok(regrade_with(plain(), &[&args[..], &["--problems-per-course", "8", "-q"]].concat(), &[]));
    input
}

/// The run's job flags (the same for the single run, the plan and every shard).
fn job<'a>(input: &'a str, output: &'a str) -> Vec<&'a str> {
    vec!["--input", input, "--output", output, "--as-of", AS_OF, "-q"]
}

/// A manifest without what differs between two runs of the same job: times, the output URL,
/// the shards' own section.
fn comparable(bytes: &[u8]) -> serde_json::Value {
    let mut m = common::normalised_manifest(bytes);
    m.as_object_mut().unwrap().remove("shards");
    m
}

/// Shards `0..n` in a fixed shuffled order: each index `k` as `(k * 3 + 1) % n` when that is a
/// permutation, else reversed.
fn order(n: usize) -> Vec<usize> {
    let shuffled: Vec<usize> = (0..n).map(|k| (k * 3 + 1) % n).collect();
    let mut sorted = shuffled.clone();
    sorted.sort();
    sorted.dedup();
    if sorted.len() == n {
        shuffled
    } else {
        (0..n).rev().collect()
    }
}

/// Plan `n` shards into `out`, run them (in [`order`], the first two at once), finalize.
fn sharded(base: &dyn Fn() -> Command, input: &str, out: &str, n: usize) -> Output {
    let shards = n.to_string();
    ok(regrade_with(base(), &[&["plan"][..], &job(input, out), &["--shards", &shards]].concat(), &[]));
    let order = order(n);
    let together: Vec<_> = order
        .iter()
        .take(2)
        .map(|k| {
            let k = k.to_string();
            let mut c = base();
            c.args([&["run"][..], &job(input, out), &["--shard", &k]].concat());
            c.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
            c.spawn().expect("start a shard")
        })
        .collect();
    for child in together {
        ok(child.wait_with_output().expect("shard"));
    }
    for k in order.iter().skip(2) {
        let k = k.to_string();
        ok(regrade_with(base(), &[&["run"][..], &job(input, out), &["--shard", &k]].concat(), &[]));
    }
    ok(regrade_with(base(), &["finalize", out], &[]))
}

fn assert_union(single: &BTreeMap<String, Vec<u8>>, union: &BTreeMap<String, Vec<u8>>, n: usize) {
    assert_same_trees(single, union, &["manifest.json"]);
    assert!(!union.keys().any(|k| k.starts_with("_journal")), "{n} shards: the journal is left");
    assert_eq!(comparable(&single["manifest.json"]), comparable(&union["manifest.json"]), "{n} shards");
    let m: serde_json::Value = serde_json::from_slice(&union["manifest.json"]).unwrap();
    assert_eq!(m["shards"]["count"], n, "{n} shards");
    let listed: Vec<u64> =
        m["shards"]["shards"].as_array().unwrap().iter().map(|s| s["shard"].as_u64().unwrap()).collect();
    assert_eq!(listed, (0..n as u64).collect::<Vec<_>>());
    let courses: u64 =
        m["shards"]["shards"].as_array().unwrap().iter().map(|s| s["courses"].as_u64().unwrap()).sum();
    assert_eq!(courses, 7, "{n} shards: every course graded once");
}

/// The single run of the shards' job in their environment (their memory budget), so the
/// manifests compare whole: every file of `dir/single`.
fn single_job_run(dir: &Path, input: &str) -> BTreeMap<String, Vec<u8>> {
    let out = dir.join("single");
    ok(regrade_with(plain(), &[&["run"][..], &job(input, out.to_str().unwrap())].concat(), &[]));
    local_tree(&out)
}

/// The single run, graded whole (no memory budget), and its files.
fn single_run(dir: &Path, input: &str) -> BTreeMap<String, Vec<u8>> {
    let out = dir.join("single");
    let out = out.to_str().unwrap();
    ok(regrade_with(whole(), &["run", "--input", input, "--output", out, "--as-of", AS_OF, "-q"], &[]));
    let tree = local_tree(Path::new(out));
    let m: serde_json::Value = serde_json::from_slice(&tree["manifest.json"]).unwrap();
    assert_eq!(m["courses"].as_array().unwrap().len(), 7);
    tree
}

#[test]
fn the_union_of_the_shards_is_the_single_run_on_a_local_folder() {
    let dir = tempfile::tempdir().unwrap();
    let input = dataset(dir.path());
    let input = input.to_str().unwrap();
    let single = single_run(dir.path(), input);
    for n in [1, 2, 3, 7] {
        let out = dir.path().join(format!("sharded-{n}"));
        let done = sharded(&plain, input, out.to_str().unwrap(), n);
        let said = String::from_utf8_lossy(&done.stdout);
        assert!(
            said.contains(&format!("finalized {}: {n} shards, 7 courses (0 failed)", out.display())),
            "{said}"
        );
        let union = local_tree(&out);
        let m: serde_json::Value = serde_json::from_slice(&union["manifest.json"]).unwrap();
        let partitions: u64 =
            m["courses"].as_array().unwrap().iter().map(|c| c["partitions"].as_u64().unwrap()).sum();
        assert!(partitions > 7, "the budget cuts some courses into partitions ({partitions})");
        // The partitions differ from the single run's; the plan in the manifest says so.
        let mut single_m = comparable(&single["manifest.json"]);
        let mut union_m = comparable(&union["manifest.json"]);
        for m in [&mut single_m, &mut union_m] {
            m["plan"] = serde_json::Value::Null;
            for c in m["courses"].as_array_mut().unwrap() {
                c["partitions"] = serde_json::Value::Null;
            }
        }
        assert_eq!(single_m, union_m, "{n} shards");
        let mut single_files = single.clone();
        single_files.remove("manifest.json");
        let mut union_files = union.clone();
        union_files.remove("manifest.json");
        assert_same_trees(&single_files, &union_files, &[]);
        assert!(!union.keys().any(|k| k.starts_with("_journal")), "{n} shards: the journal is left");
        assert_eq!(m["shards"]["count"], n);
        let courses: u64 =
            m["shards"]["shards"].as_array().unwrap().iter().map(|s| s["courses"].as_u64().unwrap()).sum();
        assert_eq!(courses, 7, "{n} shards: every course graded once");
        // Finalizing again changes nothing.
        ok(regrade_with(plain(), &["finalize", out.to_str().unwrap()], &[]));
        assert_eq!(local_tree(&out), union);
    }
}

#[test]
fn the_union_of_the_shards_is_the_single_run_on_s3() {
    let Some(s3) = S3Server::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let input = dataset(dir.path());
    let input = input.to_str().unwrap();
    let single = single_job_run(dir.path(), input);
    for n in [1, 2, 3, 7] {
        let prefix = format!("runs/sharded-{n}");
        let url = s3.url(&prefix);
        let base = || {
            let mut c = s3.command();
            c.env(SMALL_PARTITIONS.0, SMALL_PARTITIONS.1);
            c
        };
        sharded(&base, input, &url, n);
        assert_union(&single, &s3.objects(&prefix), n);
    }
}

#[test]
fn a_killed_shard_is_named_by_finalize_and_rerunning_it_completes_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let input = dataset(dir.path());
    let input = input.to_str().unwrap();
    let single = single_job_run(dir.path(), input);

    let out = dir.path().join("sharded");
    let out_s = out.to_str().unwrap();
    ok(regrade_with(plain(), &[&["plan"][..], &job(input, out_s), &["--shards", "3"]].concat(), &[]));
    // Shard 1 is killed once its first course's files are written, before they are journaled.
    let killed = regrade_with(
        plain(),
        &[&["run"][..], &job(input, out_s), &["--shard", "1"]].concat(),
        &[("REGRADE_TEST_ABORT_BEFORE_JOURNAL", "1")],
    );
    assert!(!killed.status.success(), "{}", text(&killed));
    let pending = |tree: &BTreeMap<String, Vec<u8>>| -> Vec<String> {
        tree.keys().filter(|k| k.starts_with("_journal/") && k.ends_with(".pending.json")).cloned().collect()
    };
    let left = local_tree(&out);
    assert_eq!(pending(&left).len(), 1, "{:?}", left.keys().collect::<Vec<_>>());
    // The other shards leave shard 1's courses alone, whatever it left behind.
    for k in ["0", "2"] {
        ok(regrade_with(plain(), &[&["run"][..], &job(input, out_s), &["--shard", k]].concat(), &[]));
    }
    let now = local_tree(&out);
    for path in pending(&left) {
        let entry: serde_json::Value = serde_json::from_slice(&left[&path]).unwrap();
        for f in entry["files"].as_array().unwrap() {
            let f = f.as_str().unwrap();
            assert_eq!(now.get(f), left.get(f), "{f}: another shard touched shard 1's file");
        }
        assert!(now.contains_key(&path), "another shard removed {path}");
    }
    let refused = regrade_with(plain(), &["finalize", out_s], &[]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    let err = String::from_utf8_lossy(&refused.stderr);
    for needle in
        ["1 of 3 shards did not finish", "shard 1 (", "claimed by regrade run --shard 1", "--shard 1`"]
    {
        assert!(err.contains(needle), "finalize's error lacks {needle:?}:\n{err}");
    }
    assert!(!err.contains("shard 0 (") && !err.contains("shard 2 ("), "{err}");
    assert!(!out.join("manifest.json").exists());

    // Rerunning the killed shard completes the run; rerunning it again changes nothing.
    ok(regrade_with(plain(), &[&["run"][..], &job(input, out_s), &["--shard", "1"]].concat(), &[]));
    let once = local_tree(&out);
    ok(regrade_with(plain(), &[&["run"][..], &job(input, out_s), &["--shard", "1"]].concat(), &[]));
    // A shard's rerun is idempotent: only its record's times change.
    let again = local_tree(&out);
    assert!(again.contains_key("_journal/_shard-00001.json"));
    assert_same_trees(&once, &again, &["_journal/_shard-00001.json"]);
    ok(regrade_with(plain(), &["finalize", out_s], &[]));
    let published = local_tree(&out);
    assert_union(&single, &published, 3);
    // A scheduler's task rerun after finalize (its index in the environment, no plan left) does
    // nothing, even with overwrite on, instead of a run of its own over the published one.
    let late = ok(regrade_with(
        plain(),
        &[&["run"][..], &job(input, out_s)[..job(input, out_s).len() - 1], &["--overwrite"]].concat(),
        &[("SLURM_ARRAY_TASK_ID", "1")],
    ));
    assert!(
        String::from_utf8_lossy(&late.stdout).contains("holds a finalized sharded run"),
        "{}",
        text(&late)
    );
    assert_eq!(local_tree(&out), published);
}

#[test]
fn what_would_break_the_union_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let input = dataset(dir.path());
    let input_s = input.to_str().unwrap();
    let out = dir.path().join("sharded");
    let out_s = out.to_str().unwrap();
    let refused = |o: Output, needles: &[&str]| {
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        for n in needles {
            assert!(err.contains(n), "stderr lacks {n:?}:\n{err}");
        }
    };
    let shard = |k: &str, extra: &[&str], envs: &[(&str, &str)]| {
        let args = [&["run"][..], &job(input_s, out_s), extra, &["--shard", k]].concat();
        regrade_with(plain(), &args, envs)
    };
    // No plan yet.
    refused(shard("0", &[], &[]), &["holds no plan", "regrade plan"]);
    refused(regrade_with(plain(), &["finalize", out_s], &[]), &["no sharded run to finalize"]);
    ok(regrade_with(plain(), &[&["plan"][..], &job(input_s, out_s), &["--shards", "2"]].concat(), &[]));
    // A plan is not planned over.
    refused(
        regrade_with(plain(), &[&["plan"][..], &job(input_s, out_s), &["--shards", "2"]].concat(), &[]),
        &["is not empty"],
    );
    // A shard that does not exist, other options, and a run of its own in a planned folder.
    refused(shard("2", &[], &[]), &["shard 2 does not exist", "0 to 1"]);
    refused(shard("0", &["--rescore", "retain"], &[]), &["other options", "rescore"]);
    let own = regrade_with(plain(), &[&["run"][..], &job(input_s, out_s)].concat(), &[]);
    refused(own, &["planned in 2 shards", "JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID"]);
    // The index from the scheduler: Kubernetes first, then Slurm.
    let by_env = |envs: &[(&str, &str)]| {
        let o = ok(regrade_with(
            plain(),
            &[&["run"][..], &job(input_s, out_s)[..job(input_s, out_s).len() - 1]].concat(),
            envs,
        ));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    assert!(by_env(&[("SLURM_ARRAY_TASK_ID", "1")]).contains("regrade run --shard 1:"));
    assert!(by_env(&[("SLURM_ARRAY_TASK_ID", "1"), ("JOB_COMPLETION_INDEX", "0")])
        .contains("regrade run --shard 0:"));
    // The input changed since the plan (a file rewritten): a shard would mix two exports.
    let users = common::files_under(&input.join("users"));
    let first = input.join("users").join(users.keys().next().unwrap());
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&first, &users[users.keys().next().unwrap()]).unwrap();
    refused(
        shard("0", &[], &[]),
        &["cannot run shard 0", "the input changed since the run was planned", "users/"],
    );
}

/// The run-level files `finalize` writes (the apply's `apply.sql` and `load_data.sql`) and the
/// apply's per-course files are the single run's too.
#[test]
fn a_sharded_apply_run_writes_the_single_runs_apply_files() {
    let dir = tempfile::tempdir().unwrap();
    let input = dataset(dir.path());
    let input = input.to_str().unwrap();
    let apply = ["--outputs", "grades,diffs,reports,apply", "--export-time", "2026-10-31T00:00:00Z"];
    let single_out = dir.path().join("single");
    ok(regrade_with(
        plain(),
        &[&["run"][..], &job(input, single_out.to_str().unwrap()), &apply].concat(),
        &[],
    ));
    let single = local_tree(&single_out);
    assert!(single.contains_key("apply/apply.sql") && single.contains_key("apply/load_data.sql"));
    let out = dir.path().join("sharded");
    let out_s = out.to_str().unwrap();
    ok(regrade_with(plain(), &[&["plan"][..], &job(input, out_s), &apply, &["--shards", "2"]].concat(), &[]));
    for k in ["1", "0"] {
        ok(regrade_with(plain(), &[&["run"][..], &job(input, out_s), &apply, &["--shard", k]].concat(), &[]));
    }
    ok(regrade_with(plain(), &["finalize", out_s], &[]));
    assert_union(&single, &local_tree(&out), 2);
}
