#!/usr/bin/env python3
"""Writing and loading the apply files of a generated dataset (`make bench-apply`).

1. `regrade run` on the dataset without and with `--outputs apply` (same run otherwise): the
   apply's rows and the seconds it adds, as rows per second of writing.
2. A private MariaDB server (`mariadb-install-db` + `mariadbd` in a temporary folder, on a
   unix socket) with edX's three grade tables (schemas/mysql/) holding the dataset's persisted
   rows (exported to CSV with DuckDB, loaded with LOAD DATA), then `apply/load_data.sql`
   timed; the tables are loaded again and `apply/apply.sql` timed. Rows per second of loading
   count the apply's rows (visible blocks, subsection and course grades).

Knobs (environment): BENCH_DIR (default target/bench), SCALE (default 20M, as `make bench`),
COURSES (4), PROBLEMS (100), BUDGET (the run's --memory-budget, default 1800MiB). The dataset
is the one `make bench-e2e` generates (generated here when missing). Needs MariaDB's server and
client (Debian: mariadb-server mariadb-client) and the duckdb Python package.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benches"))
import e2e  # noqa: E402  (the dataset generator and the scale parser)

AS_OF = e2e.AS_OF
# A day before the run's as-of: every persisted row is older, so the merge updates them all.
EXPORT_TIME = "2026-11-22T00:00:00Z"
TABLES = ["grades_visibleblocks", "grades_persistentsubsectiongrade", "grades_persistentcoursegrade"]
# Input table and the edX columns it fills, for the persisted rows.
PERSISTED = {
    "grades_visibleblocks": ("visible_blocks", ["hashed", "blocks_json", "course_id"]),
    "grades_persistentsubsectiongrade": ("persistent_subsection_grades", [
        "id", "user_id", "course_id", "usage_key", "course_version", "subtree_edited_timestamp",
        "earned_all", "possible_all", "earned_graded", "possible_graded", "first_attempted",
        "visible_blocks_hash", "created", "modified"]),
    "grades_persistentcoursegrade": ("persistent_course_grades", [
        "id", "user_id", "course_id", "course_version", "course_edited_timestamp", "grading_policy_hash",
        "percent_grade", "letter_grade", "passed_timestamp", "created", "modified"]),
}
TIMESTAMPS = {"subtree_edited_timestamp", "first_attempted", "created", "modified",
              "course_edited_timestamp", "passed_timestamp"}


def which(name):
    for d in os.environ.get("PATH", "").split(os.pathsep) + ["/usr/sbin", "/usr/local/sbin", "/sbin"]:
        p = Path(d) / name
        if p.exists():
            return str(p)
    sys.exit(f"{name} not found: install MariaDB (Debian: apt-get install mariadb-server mariadb-client)")


class MariaDb:
    """A throwaway server on a unix socket in a temporary folder."""

    def __init__(self, work):
        self.dir = Path(tempfile.mkdtemp(prefix="mariadb-", dir=work))
        data, self.sock = self.dir / "data", self.dir / "sock"
        subprocess.run([which("mariadb-install-db"), "--no-defaults", f"--datadir={data}", "--auth-root-authentication-method=normal",
                        "--skip-test-db", "--user=" + os.environ.get("USER", "root")],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.proc = subprocess.Popen(
            [which("mariadbd"), "--no-defaults", f"--datadir={data}", f"--socket={self.sock}", "--skip-networking",
             "--user=root", "--local-infile=1", "--innodb-buffer-pool-size=2G", "--innodb-log-file-size=512M",
             "--innodb-flush-log-at-trx-commit=2", "--character-set-server=utf8mb4",
             "--collation-server=utf8mb4_unicode_ci", "--default-time-zone=+00:00", "--max-allowed-packet=256M"],
            stdout=subprocess.DEVNULL, stderr=open(self.dir / "server.log", "w"))
        for _ in range(300):
            if self.sock.exists() and subprocess.run(self.client("") + ["-e", "select 1"], capture_output=True).returncode == 0:
                return
            time.sleep(0.1)
        sys.exit(f"mariadbd did not start: {(self.dir / 'server.log').read_text()[-2000:]}")

    def client(self, db):
        return [which("mariadb"), "--no-defaults", f"--socket={self.sock}", "-uroot", "--local-infile=1"] + ([db] if db else [])

    def sql(self, db, text, cwd=None):
        r = subprocess.run(self.client(db), input=text, text=True, capture_output=True, cwd=cwd)
        if r.returncode != 0:
            sys.exit(f"SQL failed: {r.stderr[-2000:]}")
        return r.stdout

    def script(self, db, path, cwd):
        with open(path) as f:
            t = time.perf_counter()
            r = subprocess.run(self.client(db), stdin=f, text=True, capture_output=True, cwd=cwd)
            seconds = time.perf_counter() - t
        if r.returncode != 0:
            sys.exit(f"{path} failed: {r.stderr[-2000:]}")
        return seconds, r.stdout

    def close(self):
        self.proc.terminate()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def export_persisted(data, work):
    """The dataset's persisted rows as LOAD DATA CSVs (DuckDB), one per edX table."""
    import duckdb
    out = {}
    for edx, (table, cols) in PERSISTED.items():
        path = work / f"persisted-{edx}.csv"
        sel = ", ".join(f"strftime({c}, '%Y-%m-%d %H:%M:%S.%f') AS {c}" if c in TIMESTAMPS else c for c in cols)
        duckdb.sql(f"COPY (SELECT {sel} FROM read_parquet('{data}/{table}/**/*.parquet', union_by_name=true)) "
                   f"TO '{path}' (HEADER, NULLSTR 'NULL', QUOTE '\"', FORCE_QUOTE *)")
        out[edx] = (path, cols)
    return out


def load_persisted(db, name, persisted):
    db.sql("", f"DROP DATABASE IF EXISTS {name}; CREATE DATABASE {name};")
    for t in TABLES:
        db.sql(name, (ROOT / "schemas/mysql" / f"{t}.sql").read_text())
    stmts = ["SET foreign_key_checks = 0;", "SET unique_checks = 0;"]
    for edx, (path, cols) in persisted.items():
        # Quoted NULL is the string: every value is quoted, so NULLs are the bare word `NULL`,
        # which FORCE_QUOTE quotes too; read them through variables.
        vars_ = ", ".join(f"@{c}" for c in cols)
        sets = ", ".join(f"{c} = NULLIF(@{c}, 'NULL')" for c in cols)
        stmts.append(f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE {edx} CHARACTER SET utf8mb4 FIELDS TERMINATED BY ',' "
                     f"OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '' LINES TERMINATED BY '\\n' IGNORE 1 LINES ({vars_}) SET {sets};")
    t = time.perf_counter()
    db.sql(name, "\n".join(stmts))
    return time.perf_counter() - t


def count(db, name, table):
    return int(db.sql(name, f"SELECT COUNT(*) FROM {table};").split()[-1])


def main():
    bench_dir = Path(os.environ.get("BENCH_DIR", ROOT / "target" / "bench")).resolve()
    rows = e2e.parse_scale(os.environ.get("SCALE", "20M"))
    courses = int(os.environ.get("COURSES", "4"))
    budget = os.environ.get("BUDGET", "1800MiB")
    regrade = ROOT / "target" / "release" / "regrade"
    data, _ = e2e.dataset(regrade, bench_dir, rows, courses, int(os.environ.get("PROBLEMS", "100")))
    out = bench_dir / "apply"
    base = ["run", "--input", str(data), "--as-of", AS_OF, "--memory-budget", budget, "--overwrite", "-q"]
    timings = {}
    for name, extra in [("without", []), ("with", ["--outputs", "all,apply", "--export-time", EXPORT_TIME,
                                                  "--grades-freeze", "off"])]:
        t = time.perf_counter()
        subprocess.run([str(regrade)] + base + ["--output", str(out / name)] + extra, check=True)
        timings[name] = time.perf_counter() - t
    m = json.loads((out / "with" / "manifest.json").read_text())
    totals = m["apply"]["totals"]
    applied = totals["subsection_rows"] + totals["course_rows"] + totals["visible_blocks_rows"]
    extra = timings["with"] - timings["without"]
    print(f"dataset: {data}")
    print(f"  regrade run without apply: {timings['without']:.1f} s; with apply: {timings['with']:.1f} s "
          f"({applied:,} apply rows: {totals['subsection_rows']:,} subsection, {totals['course_rows']:,} course, "
          f"{totals['visible_blocks_rows']:,} visible blocks)")
    print(f"  writing: {applied / extra:,.0f} apply rows/s of the time apply adds ({extra:.1f} s)", flush=True)

    work = Path(tempfile.mkdtemp(prefix="apply-load-", dir=bench_dir))
    db = MariaDb(work)
    try:
        persisted = export_persisted(data, work)
        results = {"apply_rows": applied, "run_seconds": timings, "write_rows_per_second": applied / extra}
        apply_dir = out / "with" / "apply"
        for script in ["load_data.sql", "apply.sql"]:
            preload = load_persisted(db, "edxapp", persisted)
            before = {t: count(db, "edxapp", t) for t in TABLES}
            seconds, shown = db.script("edxapp", apply_dir / script, apply_dir)
            after = {t: count(db, "edxapp", t) for t in TABLES}
            skipped = sum(int(l.split("\t")[2]) for l in shown.splitlines() if l.startswith("grades_"))
            print(f"  {script:<14} {seconds:8.1f} s  {applied / seconds:10,.0f} apply rows/s  "
                  f"(persisted rows preloaded in {preload:.0f} s: {before}; after: {after}; skipped: {skipped})", flush=True)
            results[script] = {"seconds": seconds, "rows_per_second": applied / seconds, "before": before,
                               "after": after, "skipped": skipped}
        (bench_dir / "apply_results.json").write_text(json.dumps(results, indent=2))
        print(f"results: {bench_dir / 'apply_results.json'}")
    finally:
        db.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
