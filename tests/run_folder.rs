//! The output folder's guarantees, through the binary, for `run` and `backfill`: what
//! `--overwrite` may remove, the claim on the folder, what `--resume` checks, staging files
//! after a crash, and a refused run leaving the folder as it found it.

#[allow(unused_macros)]
#[macro_use]
mod run_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use run_support::*;
use sha1::Digest;

const POLICY: &str = r#"{"GRADER": [{"type": "Homework", "min_count": 1, "drop_count": 0, "short_label": "HW", "weight": 1.0}], "GRADE_CUTOFFS": {"Pass": 0.5}}"#;
const T: i64 = COURSE_START + DAY;
const COMMANDS: [&str; 2] = ["run", "backfill"];

/// The one-subsection course `course-v1:Org+C<i>+1`.
fn course(i: i64) -> Course {
    let mut c = Course::new(&format!("course-v1:Org+C{i}+1"), POLICY);
    c.root(&["ch"]);
    c.chapter("ch", &["s"]);
    c.seq("s", "S", "Homework", &["v"]);
    c.vertical("v", &["p", "q"]);
    c.problem("p", "P", 2.0);
    c.problem("q", "Q", 1.0);
    c
}

/// `n` courses, learner `i` in course `i`.
fn dataset(n: i64) -> Dataset {
    let mut ds = Dataset::default();
    for i in 1..=n {
        let c = course(i);
        c.write_to(&mut ds);
        users(&mut ds, &[i]);
        enroll(&mut ds, &c.id, i, "honor", true);
        csm(&mut ds, &c, i, "p", Some(1.0), 2.0, T);
    }
    ds
}

/// `regrade COMMAND --input IN --output OUT --as-of AS_OF ARGS...` with `envs`.
fn regrade(command: &str, input: &Path, output: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_regrade"))
        .args([command, "--input", input.to_str().unwrap(), "--output", output.to_str().unwrap()])
        .args(["--as-of", AS_OF, "--courses-in-flight", "1"])
        .args(args)
        .envs(envs.iter().copied())
        .output()
        .expect("run regrade")
}

fn code(o: &Output) -> Option<i32> {
    o.status.code()
}

fn text(o: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Exit 2 and every needle in stderr; prints the error line for the report.
fn assert_refused(o: &Output, needles: &[&str]) {
    assert_eq!(code(o), Some(2), "{}", text(o));
    let e = stderr(o);
    eprintln!("refused: {}", e.lines().find(|l| l.starts_with("error:")).unwrap_or_default());
    for n in needles {
        assert!(e.contains(n), "stderr lacks {n:?}:\n{e}");
    }
}

/// Every file and link under `dir` (links not followed): relative path -> SHA-1 of the bytes
/// (a link: `-> target`).
fn tree(dir: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries {
            let path = entry.unwrap().path();
            let kind = std::fs::symlink_metadata(&path).unwrap().file_type();
            let rel = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if kind.is_symlink() {
                out.insert(rel, format!("-> {}", std::fs::read_link(&path).unwrap().display()));
            } else if kind.is_dir() {
                walk(root, &path, out);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                out.insert(rel, sha1::Sha1::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// The manifest's outputs, path -> SHA-1.
fn outputs(out: &Path) -> BTreeMap<String, String> {
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).expect("manifest.json")).unwrap();
    m["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["path"].as_str().unwrap().to_string(), f["sha1"].as_str().unwrap().to_string()))
        .collect()
}

/// Files of a published run that its manifest does not list.
fn unlisted(out: &Path) -> Vec<String> {
    let listed: BTreeSet<String> = outputs(out).into_keys().chain(["manifest.json".to_string()]).collect();
    tree(out).into_keys().filter(|p| !listed.contains(p)).collect()
}

/// A published run: exit 0, and its folder holds exactly what its manifest lists.
fn assert_published(o: &Output, out: &Path) {
    assert_eq!(code(o), Some(0), "{}", text(o));
    assert_eq!(unlisted(out), Vec::<String>::new(), "files the manifest does not list");
}

// --- 1. --overwrite removes only what a previous run wrote -------------------------------

#[test]
fn overwrite_refuses_an_output_that_overlaps_the_input() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("exports/in");
    std::fs::create_dir_all(&input).unwrap();
    dataset(2).write(&input);
    let before = tree(tmp.path());
    let cases: [(&str, PathBuf); 4] = [
        ("they are the same folder", input.clone()),
        ("the input is inside the output folder", tmp.path().join("exports")),
        ("the output folder is inside the input", input.join("runs/r1")),
        ("the output folder is inside the input", input.join("studentmodule/r1")),
    ];
    for command in COMMANDS {
        for (how, output) in &cases {
            for flags in [&["--overwrite"][..], &[]] {
                let ran = regrade(command, &input, output, flags, &[]);
                assert_refused(&ran, &["overlap", how, "choose an output folder outside the input"]);
                assert_eq!(tree(tmp.path()), before, "{command} {flags:?} into {}", output.display());
            }
        }
    }
}

#[test]
fn overwrite_refuses_a_folder_holding_files_no_run_wrote() {
    let job = Job::new(&dataset(2));
    for command in COMMANDS {
        let out = job.output.join(command);
        assert_published(&regrade(command, &job.input, &out, &[], &[]), &out);
        std::fs::write(out.join("notes.txt"), "mine").unwrap();
        std::fs::create_dir_all(out.join("extra")).unwrap();
        std::fs::write(out.join("extra/keep.csv"), "mine too").unwrap();
        let before = tree(&out);
        let ran = regrade(command, &job.input, &out, &["--overwrite"], &[]);
        assert_refused(&ran, &["holds 2 files that no regrade run wrote", "notes.txt", "extra/keep.csv"]);
        assert_eq!(tree(&out), before, "{command}: nothing removed");
        // Without them, --overwrite replaces the run.
        std::fs::remove_file(out.join("notes.txt")).unwrap();
        std::fs::remove_dir_all(out.join("extra")).unwrap();
        assert_published(&regrade(command, &job.input, &out, &["--overwrite"], &[]), &out);
        // Nor is one resumed: the published run would hold them.
        let out = job.output.join(format!("{command}-resume"));
        let crashed = regrade(command, &job.input, &out, &[], &[("REGRADE_TEST_ABORT_AFTER_JOURNAL", "1")]);
        assert!(!crashed.status.success(), "{}", text(&crashed));
        std::fs::write(out.join("notes.txt"), "mine").unwrap();
        let before = tree(&out);
        let ran = regrade(command, &job.input, &out, &["--resume"], &[]);
        assert_refused(&ran, &["holds 1 file that no regrade run wrote there (notes.txt)"]);
        assert_eq!(tree(&out), before, "{command}: nothing removed");
        std::fs::remove_file(out.join("notes.txt")).unwrap();
        assert_published(&regrade(command, &job.input, &out, &["--resume"], &[]), &out);
    }
}

#[cfg(unix)]
#[test]
fn overwrite_never_follows_a_symlink() {
    let job = Job::new(&dataset(2));
    let elsewhere = job.output.join("elsewhere");
    std::fs::create_dir_all(elsewhere.join("data")).unwrap();
    std::fs::write(elsewhere.join("data/precious.txt"), "keep").unwrap();
    for command in COMMANDS {
        let out = job.output.join(command);
        assert_published(&regrade(command, &job.input, &out, &[], &[]), &out);
        // A table folder of the run moved elsewhere and linked back, and a link to other data.
        let table = if command == "run" { "course_grades" } else { "readiness.csv" };
        std::fs::rename(out.join(table), elsewhere.join(table)).unwrap();
        std::os::unix::fs::symlink(elsewhere.join(table), out.join(table)).unwrap();
        std::os::unix::fs::symlink(elsewhere.join("data"), out.join("data")).unwrap();
        let before = tree(&job.output);
        let ran = regrade(command, &job.input, &out, &["--overwrite"], &[]);
        assert_refused(&ran, &["holds a symbolic link", "never writes or removes files through a link"]);
        assert_eq!(tree(&job.output), before, "{command}: nothing removed, here or through the links");
        std::fs::remove_file(out.join(table)).unwrap();
        std::fs::remove_file(out.join("data")).unwrap();
    }
}

// --- 2. No staging file survives a crash ------------------------------------------------

#[test]
fn a_crash_mid_upload_leaves_nothing_unlisted_after_resume_or_overwrite() {
    let job = Job::new(&dataset(3));
    for (command, file) in [("run", "grade_report_2026-06-01-0000.csv"), ("backfill", "upsert.sql")] {
        let fresh = job.output.join(format!("{command}-fresh"));
        assert_published(&regrade(command, &job.input, &fresh, &[], &[]), &fresh);
        for then in ["--resume", "--overwrite"] {
            let out = job.output.join(format!("{command}{then}"));
            // Every file over 64 bytes is uploaded in parts; the process dies after the first
            // part of the first `file`.
            let envs = [("REGRADE_TEST_MULTIPART_THRESHOLD", "64"), ("REGRADE_TEST_ABORT_MID_UPLOAD", file)];
            let crashed = regrade(command, &job.input, &out, &[], &envs);
            assert!(!crashed.status.success(), "{command}: meant to abort\n{}", text(&crashed));
            let left: Vec<String> = tree(&out).into_keys().filter(|p| !p.starts_with("_journal/")).collect();
            assert!(
                left.iter().any(|p| p.contains(file) && *p != file),
                "{command}: a partial {file}: {left:?}"
            );
            let again = regrade(command, &job.input, &out, &[then], &[]);
            assert_published(&again, &out);
            assert_eq!(outputs(&out), outputs(&fresh), "{command} {then}");
        }
    }
}

/// The release before this one staged local files as `NAME#1`, which object_store hides from
/// listings: found on disk, they are removed with the run they belong to, never published.
#[test]
fn staging_files_of_an_older_release_are_removed_with_their_run() {
    let job = Job::new(&dataset(3));
    for command in COMMANDS {
        let folder = if command == "run" { "course_grades" } else { "backfill" };
        // An interrupted run, with a half-written file of the course it was writing.
        let out = job.output.join(format!("{command}-resume"));
        let crashed = regrade(command, &job.input, &out, &[], &[("REGRADE_TEST_ABORT_AFTER_JOURNAL", "1")]);
        assert!(!crashed.status.success(), "{}", text(&crashed));
        let partial = out.join(folder).join("course_id=course-v1%3AOrg%2BC3%2B1/part-00000.parquet#1");
        std::fs::create_dir_all(partial.parent().unwrap()).unwrap();
        std::fs::write(&partial, "half a file").unwrap();
        assert_published(&regrade(command, &job.input, &out, &["--resume"], &[]), &out);
        // A published run, and a leftover beside one of its files.
        let out = job.output.join(format!("{command}-overwrite"));
        assert_published(&regrade(command, &job.input, &out, &[], &[]), &out);
        let listed = outputs(&out).into_keys().find(|p| p.starts_with(folder)).unwrap();
        std::fs::write(out.join(format!("{listed}#2")), "half a file").unwrap();
        // One beside a file no run wrote is not the run's: refused, nothing removed.
        std::fs::write(out.join("notes.txt#3"), "mine").unwrap();
        let before = tree(&out);
        let ran = regrade(command, &job.input, &out, &["--overwrite"], &[]);
        assert_refused(&ran, &["holds 1 file that no regrade run wrote there (notes.txt#3)"]);
        assert_eq!(tree(&out), before);
        std::fs::remove_file(out.join("notes.txt#3")).unwrap();
        assert_published(&regrade(command, &job.input, &out, &["--overwrite"], &[]), &out);
    }
}

// --- 7. One run at a time in a folder ---------------------------------------------------

/// Starts `regrade run` paused once it has checked its output folder; returns it when paused.
fn start_paused(input: &Path, out: &Path, gate: &Path) -> std::process::Child {
    let child = Command::new(env!("CARGO_BIN_EXE_regrade"))
        .args([
            "run",
            "--input",
            input.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
            "--as-of",
            AS_OF,
        ])
        .env("REGRADE_TEST_PAUSE_AT", "output_checked")
        .env("REGRADE_TEST_PAUSE_FILE", gate)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start regrade");
    let reached = gate.with_extension("reached");
    let until = Instant::now() + Duration::from_secs(120);
    while !reached.exists() {
        assert!(Instant::now() < until, "the first run never reached its pause point");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

#[test]
fn a_second_run_into_a_folder_being_written_is_refused_naming_the_first() {
    let job = Job::new(&dataset(2));
    let out = job.output.join("out");
    let gate = job.output.join("gate");
    std::fs::create_dir_all(&job.output).unwrap();
    let first = start_paused(&job.input, &out, &gate);
    let pid = format!("(process {})", first.id());
    for command in COMMANDS {
        for flags in [&[][..], &["--overwrite"], &["--resume"]] {
            let second = regrade(command, &job.input, &out, flags, &[]);
            assert_refused(
                &second,
                &["is being written by another regrade run started", &pid, "still running"],
            );
        }
    }
    std::fs::write(&gate, "go").unwrap();
    let first = first.wait_with_output().unwrap();
    assert_published(&first, &out);
    let fresh = job.output.join("fresh");
    assert_published(&regrade("run", &job.input, &fresh, &[], &[]), &fresh);
    assert_eq!(outputs(&out), outputs(&fresh), "the first run's outputs, untouched by the second");
}

#[test]
fn a_stale_claim_is_taken_over_only_by_resume_or_overwrite() {
    let job = Job::new(&dataset(3));
    for command in COMMANDS {
        for then in ["--resume", "--overwrite"] {
            let out = job.output.join(format!("{command}{then}"));
            let crashed =
                regrade(command, &job.input, &out, &[], &[("REGRADE_TEST_ABORT_AFTER_JOURNAL", "1")]);
            assert!(!crashed.status.success(), "{}", text(&crashed));
            let before = tree(&out);
            assert!(
                before.contains_key("_journal/_claim.json"),
                "{command}: the crashed run's claim is left"
            );
            let plain = regrade(command, &job.input, &out, &[], &[]);
            assert_refused(
                &plain,
                &[
                    &format!("is claimed by another regrade {command} started"),
                    "pass --resume",
                    "--overwrite",
                ],
            );
            assert_eq!(tree(&out), before, "{command}: a refused run changes nothing");
            assert_published(&regrade(command, &job.input, &out, &[then], &[]), &out);
        }
    }
}

// --- 8. --resume checks the input -------------------------------------------------------

#[test]
fn resume_refuses_an_input_that_changed_naming_the_files() {
    for command in COMMANDS {
        let job = Job::new(&dataset(3));
        let out = job.output.join("out");
        let crashed = regrade(command, &job.input, &out, &[], &[("REGRADE_TEST_ABORT_AFTER_JOURNAL", "1")]);
        assert!(!crashed.status.success(), "{}", text(&crashed));
        // A new export: one course's learner scores higher, and a file more.
        let mut changed = dataset(3);
        csm(&mut changed, &course(1), 1, "q", Some(1.0), 1.0, T);
        let newer = tempfile::tempdir().unwrap();
        changed.write(newer.path());
        std::fs::copy(
            newer.path().join("studentmodule/part-0.parquet"),
            job.input.join("studentmodule/part-0.parquet"),
        )
        .unwrap();
        // A users file more: a user not in the first (the same ids twice would quarantine).
        let mut more = Dataset::default();
        users(&mut more, &[99]);
        let extra = tempfile::tempdir().unwrap();
        more.write(extra.path());
        std::fs::copy(extra.path().join("users/part-0.parquet"), job.input.join("users/part-1.parquet"))
            .unwrap();
        let before = tree(&out);
        let resumed = regrade(command, &job.input, &out, &["--resume"], &[]);
        assert_refused(
            &resumed,
            &[
                "the input changed since the interrupted run started (2 of its files",
                "studentmodule/part-0.parquet (",
                "users/part-1.parquet (added)",
                "pass --overwrite to start over",
            ],
        );
        assert_eq!(tree(&out), before, "{command}: a refused resume changes nothing");
        // --overwrite starts over from the input as it is.
        assert_published(&regrade(command, &job.input, &out, &["--overwrite"], &[]), &out);
        let fresh = job.output.join("fresh");
        assert_published(&regrade(command, &job.input, &fresh, &[], &[]), &fresh);
        assert_eq!(outputs(&out), outputs(&fresh), "{command}");
    }
}

// --- 9. Bytes do not depend on the chunk size -------------------------------------------

#[test]
fn files_do_not_depend_on_learners_per_chunk_even_across_a_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let size = ["--courses", "2", "--learners", "3000", "--problems-per-course", "20"];
    let generated = Command::new(env!("CARGO_BIN_EXE_regrade"))
        .args(["generate", input.to_str().unwrap(), "--seed", "3", "-q"])
        .args(size)
        .output()
        .unwrap();
    assert_eq!(code(&generated), Some(0), "{}", text(&generated));
    let default = tmp.path().join("default");
    assert_published(&regrade("run", &input, &default, &[], &[]), &default);
    let small = tmp.path().join("small");
    assert_published(&regrade("run", &input, &small, &["--learners-per-chunk", "7"], &[]), &small);
    assert_eq!(outputs(&small), outputs(&default), "the same bytes for 7 and 4096 learners per chunk");
    // Interrupted with chunks of 7 after one course, resumed with the default.
    let mixed = tmp.path().join("mixed");
    let abort = [("REGRADE_TEST_ABORT_AFTER_JOURNAL", "1")];
    let crashed = regrade("run", &input, &mixed, &["--learners-per-chunk", "7"], &abort);
    assert!(!crashed.status.success(), "{}", text(&crashed));
    let resumed = regrade("run", &input, &mixed, &["--resume"], &[]);
    assert_published(&resumed, &mixed);
    assert!(stderr(&resumed).contains("courses_kept=1"), "{}", text(&resumed));
    assert_eq!(outputs(&mixed), outputs(&default));
}

// --- 14. A refused run leaves the folder as it found it ---------------------------------

#[test]
fn a_run_refused_for_unreadable_input_leaves_the_folder_as_it_found_it() {
    let job = Job::new(&dataset(2));
    let blocks = job.input.join("course_blocks");
    let hidden = job.output.join("hidden_course_blocks");
    std::fs::create_dir_all(&job.output).unwrap();
    std::fs::rename(&blocks, &hidden).unwrap();
    for command in COMMANDS {
        let (missing, empty) =
            (job.output.join(format!("{command}-new")), job.output.join(format!("{command}-empty")));
        std::fs::create_dir_all(&empty).unwrap();
        for out in [&missing, &empty] {
            let ran = regrade(command, &job.input, out, &[], &[]);
            assert_refused(&ran, &["course_blocks"]);
            assert_eq!(
                tree(out),
                BTreeMap::<String, String>::new(),
                "{command}: nothing left in {}",
                out.display()
            );
        }
        assert!(!missing.exists(), "{command}: a folder the refused run created is removed");
    }
    // With the input fixed, the same command runs without --overwrite or --resume.
    std::fs::rename(&hidden, &blocks).unwrap();
    for command in COMMANDS {
        for name in ["new", "empty"] {
            let out = job.output.join(format!("{command}-{name}"));
            assert_published(&regrade(command, &job.input, &out, &[], &[]), &out);
        }
    }
}

#[test]
fn unreadable_input_found_mid_run_removes_what_the_run_wrote() {
    let job = Job::new(&dataset(3));
    // Course C2's own partition of studentmodule is not Parquet: C1 is written first, then
    // reading C2 stops the run.
    let bad = job.input.join("studentmodule/course_id=course-v1%3AOrg%2BC2%2B1");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("part-9.parquet"), b"not parquet at all").unwrap();
    for command in COMMANDS {
        let out = job.output.join(command);
        let ran = regrade(command, &job.input, &out, &[], &[]);
        assert_refused(&ran, &["part-9.parquet"]);
        assert_eq!(
            tree(&out),
            BTreeMap::<String, String>::new(),
            "{command}: nothing of the refused run is left"
        );
    }
    std::fs::remove_dir_all(&bad).unwrap();
    for command in COMMANDS {
        let out = job.output.join(command);
        assert_published(&regrade(command, &job.input, &out, &[], &[]), &out);
    }
}
