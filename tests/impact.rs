//! `regrade report` end to end, on a generated dataset graded twice: under each course's own
//! policy (the baseline) and under jobs/policies/what-if.json (the run reported on).
//!
//! * The numbers: every row of impact.parquet is recomputed by DuckDB from the runs' own
//!   Parquet files (tests/impact/duckdb_check.py). Needs DuckDB's Python package: skipped
//!   without it unless `REGRADE_REQUIRE_DUCKDB=1`.
//! * Names: usernames appear only in a report made with `--with-names`, which says so on the
//!   page; never in the logs.
//! * In a real browser: headless Chromium loads the page (tests/impact/browser_check.py, over
//!   the DevTools protocol with Playwright) with no console error and no request but the page,
//!   and every chart, the page's width and its text are measured at desktop and phone widths
//!   and at 200% zoom. Skipped with a notice without Chromium or Playwright, unless
//!   `REGRADE_REQUIRE_CHROMIUM=1` (set by `.ci/run`, which installs both). The PNGs are kept
//!   under target/tmp/impact-report/ for looking at.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The dataset, both runs and the reports, made once for every test of this file.
struct Fixture {
    dir: PathBuf,
    /// The `--with-names` report's stderr at `-v`.
    names_log: String,
}

fn regrade(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_regrade")).args(args).output().expect("run regrade");
    assert!(out.status.success(), "regrade {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir").keep();
        let p = |name: &str| dir.join(name).to_str().expect("utf-8 path").to_string();
        let policy = Path::new(env!("CARGO_MANIFEST_DIR")).join("jobs/policies/what-if.json");
        regrade(&["generate", &p("input"), "-q", "--seed", "11", "--courses", "3", "--learners", "150"]);
        regrade(&["run", "--input", &p("input"), "--output", &p("current"), "-q"]);
        regrade(&[
            "run",
            "--input",
            &p("input"),
            "--output",
            &p("whatif"),
            "--policy",
            policy.to_str().expect("utf-8 path"),
            "--outputs",
            "grades,diffs",
            "-q",
        ]);
        regrade(&["report", &p("whatif"), "--baseline", &p("current"), "--output", &p("report"), "-q"]);
        // A baseline whose subsection scores differ (a what-if policy changes none): the stored
        // scores kept where higher, against this input recomputed.
        regrade(&[
            "run",
            "--input",
            &p("input"),
            "--output",
            &p("higher"),
            "--rescore",
            "only-if-higher",
            "--outputs",
            "grades,diffs",
            "-q",
        ]);
        regrade(&[
            "report",
            &p("current"),
            "--baseline",
            &p("higher"),
            "--output",
            &p("report-rescore"),
            "-q",
        ]);
        let named = regrade(&["report", &p("whatif"), "--with-names", "--output", &p("report-names"), "-v"]);
        Fixture { dir, names_log: String::from_utf8_lossy(&named.stderr).into_owned() }
    })
}

/// Whether a Python module imports; if not, skip with a notice unless `require` is set to 1.
fn python_has(module: &str, require: &str, install: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var(require).as_deref() == Ok("1") {
            panic!("{require}=1 but `python3 -c 'import {module}'` fails; {install}");
        }
        eprintln!("Python's {module} is not installed: skipping ({install})");
    }
    ok
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/impact").join(name)
}

fn python(args: &[&Path]) -> std::process::Output {
    Command::new("python3").args(args).output().expect("python3")
}

fn assert_ok(what: &str, out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{what}:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn impact_parquet_agrees_with_duckdb() {
    if !python_has("duckdb", "REGRADE_REQUIRE_DUCKDB", "pip install duckdb") {
        return;
    }
    let f = fixture();
    let d = |n: &str| f.dir.join(n);
    let check = script("duckdb_check.py");
    let out = python(&[&check, &d("report"), &d("whatif"), &d("input"), &d("current")]);
    assert_ok("impact.parquet (with a baseline) against DuckDB", &out);
    let rescore =
        [&check, &d("report-rescore"), &d("current"), &d("input"), &d("higher"), Path::new("--subsections")];
    let out = python(&rescore);
    assert_ok("impact.parquet (a baseline whose subsection scores differ) against DuckDB", &out);
    let out = python(&[&check, &d("report-names"), &d("whatif"), &d("input"), Path::new("--names")]);
    assert_ok("impact.parquet (--with-names) against DuckDB", &out);
}

/// Usernames of the learners a report lists, from the input's users table.
fn listed_usernames(f: &Fixture) -> Vec<String> {
    let loc = regrade::store::open(f.dir.join("input").to_str().unwrap()).unwrap();
    let users = regrade::read::read_table_blocking(&loc, "users", &["id", "username"], None).unwrap();
    let page = std::fs::read_to_string(f.dir.join("report-names/index.html")).unwrap();
    let ids: HashSet<i64> =
        page.split("<tr><td>").skip(1).filter_map(|cell| cell.split("</td>").next()?.parse().ok()).collect();
    let mut names = Vec::new();
    for b in &users {
        let c = regrade::read::batch::Columns::new("users", b);
        let (id, name) = (c.i64_at("id").unwrap(), c.str_at("username").unwrap());
        for i in 0..c.len() {
            if id(i).is_some_and(|id| ids.contains(&id)) {
                names.push(name(i).to_string());
            }
        }
    }
    names
}

#[test]
fn usernames_only_with_with_names_and_never_in_logs() {
    let f = fixture();
    let plain = std::fs::read_to_string(f.dir.join("report/index.html")).unwrap();
    let named = std::fs::read_to_string(f.dir.join("report-names/index.html")).unwrap();
    assert!(plain.contains("Identifiers only") && !plain.contains("STAFF ONLY"), "the plain page says so");
    assert!(named.contains("STAFF ONLY") && !named.contains("Identifiers only"), "the named page says so");
    let names = listed_usernames(f);
    assert!(!names.is_empty(), "the named report lists learners crossing the pass line");
    for n in &names {
        let cell = format!("<td>{n}</td>");
        assert!(named.contains(&cell), "{n} is on the staff-only page");
        assert!(!plain.contains(&cell), "{n} is not on the plain page");
        assert!(!f.names_log.contains(n.as_str()), "{n} is not in the logs: {}", f.names_log);
    }
    assert!(f.names_log.contains("impact report written"), "the -v log was captured: {}", f.names_log);
}

#[test]
fn page_is_self_contained() {
    let f = fixture();
    let page = std::fs::read_to_string(f.dir.join("report/index.html")).unwrap();
    for fetched in ["<script", "src=", "<link", "@import", "url(", "http://", "https://"] {
        assert!(!page.contains(fetched), "the page holds {fetched}");
    }
    assert!(page.matches("<svg class=\"chart\"").count() >= 10, "charts are inline SVG");
    let staff = f.dir.join("report-names/impact.parquet");
    assert!(std::fs::metadata(staff).unwrap().len() > 0);
}

#[test]
fn page_in_chromium() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let required = std::env::var("REGRADE_REQUIRE_CHROMIUM").as_deref() == Ok("1");
    if !Path::new(&chromium).exists() {
        assert!(!required, "REGRADE_REQUIRE_CHROMIUM=1 but {chromium} is missing; apt-get install chromium");
        eprintln!(
            "Chromium ({chromium}) is not installed: skipping the browser test (apt-get install chromium)"
        );
        return;
    }
    if !python_has("playwright", "REGRADE_REQUIRE_CHROMIUM", "pip install playwright") {
        return;
    }
    let f = fixture();
    let pngs = Path::new(env!("CARGO_TARGET_TMPDIR")).join("impact-report");
    let _ = std::fs::remove_dir_all(&pngs);
    let out = python(&[&script("browser_check.py"), &f.dir.join("report/index.html"), &pngs]);
    assert_ok("the page in Chromium", &out);
    for view in ["desktop", "phone", "zoom200"] {
        let png = pngs.join(format!("{view}.png"));
        assert!(std::fs::metadata(&png).is_ok_and(|m| m.len() > 10_000), "{} written", png.display());
    }
    eprintln!("impact report PNGs: {}", pngs.display());
}

#[test]
fn refuses_folders_it_cannot_report_on() {
    let f = fixture();
    let p = |name: &str| f.dir.join(name).to_str().expect("utf-8 path").to_string();
    let report = |run: &str| {
        Command::new(env!("CARGO_BIN_EXE_regrade"))
            .args(["report", run, "--output", &p("refused")])
            .output()
            .expect("run regrade")
    };
    // Not a run: no manifest.json.
    let out = report(&p("input"));
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("manifest.json"));
    // A run that wrote reports only has no grades or diffs to compare.
    regrade(&["run", "--input", &p("input"), "--output", &p("reports-only"), "--outputs", "reports", "-q"]);
    let out = report(&p("reports-only"));
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did not write its grades"));
    assert!(!f.dir.join("refused/index.html").exists(), "nothing written");
}
