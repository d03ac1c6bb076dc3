#!/usr/bin/env python3
"""Benchmark of `regrade import mysql` (make bench-import; also the last step of make bench).

On the benchmark's generated dataset (the same one benches/e2e.py makes: SCALE studentmodule rows),
in one run on one private MariaDB server:

1. the dataset's bulk tables are loaded into edX's layout (schemas/mysql/): auth_user,
   student_courseenrollment, courseware_studentmodule, the submissions tables with anonymous ids,
   and the four grade tables; once per dataset (the server's data directory is kept under
   BENCH_DIR, with a marker), by DuckDB writing tab-separated files that LOAD DATA reads;
2. `regrade import mysql` reads them at 1 and 2 threads (THREADS), measured: wall time, rows read
   per second, peak RSS (the process's own maximum resident set, from wait4);
3. `mysqldump --tab` of the same tables on the same server, first (so every measured run finds
   the server's cache in the same state): the floor an operator would compare with (the server
   writes each table as a text file; nothing is converted or compressed).

Prints a table and writes target/bench/import.json. Knobs (environment): SCALE, COURSES, PROBLEMS,
THREADS, REPEAT (runs per measurement, the fastest kept), BENCH_DIR as in benches/e2e.py;
MARIADB_BUFFER_POOL (default 2G).
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import e2e  # noqa: E402

ROOT = e2e.ROOT
DB = "edxapp"
# What the importer reads of the loaded tables, and mysqldump dumps.
DUMPED = ["auth_user", "student_courseenrollment", "courseware_studentmodule", "student_anonymoususerid",
          "submissions_studentitem", "submissions_score", "submissions_scoresummary",
          "grades_persistentsubsectiongrade", "grades_persistentcoursegrade", "grades_visibleblocks",
          "grades_persistentsubsectiongradeoverride"]


def find(binary):
    for d in os.environ.get("PATH", "").split(":") + ["/usr/sbin", "/usr/local/sbin", "/sbin"]:
        p = Path(d) / binary
        if p.is_file() and os.access(p, os.X_OK):
            return str(p)
    sys.exit(f"{binary} not found: install MariaDB (apt-get install mariadb-server mariadb-client)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A private mariadbd with its data directory under `home` (kept between runs)."""

    def __init__(self, home):
        self.home = home
        self.data = home / "data"
        self.sock = home / "sock"
        self.files = home / "files"  # secure_file_priv: LOAD DATA and mysqldump --tab
        self.port = free_port()
        self.proc = None

    def start(self):
        self.files.mkdir(parents=True, exist_ok=True)
        as_root = ["--user=root"] if os.geteuid() == 0 else []
        if not self.data.exists():
            subprocess.run([find("mariadb-install-db"), "--no-defaults", f"--datadir={self.data}", *as_root,
                            "--auth-root-authentication-method=normal", "--skip-test-db"],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        pool = os.environ.get("MARIADB_BUFFER_POOL", "2G")
        self.proc = subprocess.Popen(
            [find("mariadbd"), "--no-defaults", f"--datadir={self.data}", f"--socket={self.sock}",
             f"--port={self.port}", "--bind-address=127.0.0.1", *as_root, "--skip-name-resolve",
             "--character-set-server=utf8mb4", "--collation-server=utf8mb4_unicode_ci",
             "--default-time-zone=+00:00", "--local-infile=1", f"--secure-file-priv={self.files}",
             f"--innodb-buffer-pool-size={pool}", "--innodb-log-file-size=512M",
             "--innodb-flush-log-at-trx-commit=2", "--innodb-doublewrite=0", "--innodb-use-native-aio=0",
             "--skip-log-bin", f"--log-error={self.home / 'err.log'}", f"--pid-file={self.home / 'pid'}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        until = time.monotonic() + 60
        while time.monotonic() < until:
            if self.sock.exists() and self.sql("SELECT 1", db="", check=False).returncode == 0:
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        self.stop()
        sys.exit(f"mariadbd did not start; see {self.home / 'err.log'}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            subprocess.run(self.client("") + ["-e", "SHUTDOWN"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                self.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def client(self, db=DB):
        cmd = [find("mariadb"), "--no-defaults", f"--socket={self.sock}", "--user=root",
               "--default-character-set=utf8mb4", "--local-infile=1"]
        return cmd + ([f"--database={db}"] if db else [])

    def sql(self, text, db=DB, check=True):
        done = subprocess.run(self.client(db), input=text.encode(), capture_output=True)
        if check and done.returncode != 0:
            sys.exit(f"SQL failed: {done.stderr.decode(errors='replace')}\n{text[:500]}")
        return done


# Each edX table from the dataset, as DuckDB SQL over the Parquet tables (views of the same name),
# in the column order of the SELECT (LOAD DATA names the columns).
LOADS = {
    "auth_user": ("id, password, is_superuser, username, first_name, last_name, email, is_staff, is_active, "
                  "date_joined",
                  "SELECT id, '!', 0, username, '', '', email, 0, 1, TIMESTAMP '2020-01-01' FROM users"),
    "student_courseenrollment": ("course_id, created, is_active, mode, user_id",
                                 "SELECT course_id, created, is_active::INT, mode, user_id FROM enrollments"),
    "courseware_studentmodule": ("module_type, module_id, student_id, state, grade, created, modified, max_grade, done, "
                                 "course_id",
                                 "SELECT module_type, module_state_key, student_id, '{}', grade, created, modified, "
                                 "max_grade, 'na', course_id FROM studentmodule"),
    "student_anonymoususerid": ("anonymous_user_id, course_id, user_id",
                                "SELECT DISTINCT md5(user_id::VARCHAR || course_id), course_id, user_id "
                                "FROM submissions"),
    "submissions_studentitem": ("id, student_id, course_id, item_id, item_type",
                                "SELECT row_number() OVER (ORDER BY course_id, user_id, usage_key), "
                                "md5(user_id::VARCHAR || course_id), course_id, usage_key, 'openassessment' "
                                "FROM (SELECT DISTINCT course_id, user_id, usage_key FROM submissions)"),
    "grades_persistentsubsectiongrade": (
        "id, created, modified, user_id, course_id, usage_key, subtree_edited_timestamp, course_version, "
        "earned_all, possible_all, earned_graded, possible_graded, visible_blocks_hash, first_attempted",
        "SELECT id, created, modified, user_id, course_id, usage_key, subtree_edited_timestamp, course_version, "
        "earned_all, possible_all, earned_graded, possible_graded, visible_blocks_hash, first_attempted "
        "FROM persistent_subsection_grades"),
    "grades_persistentcoursegrade": (
        "id, created, modified, user_id, course_id, course_edited_timestamp, course_version, grading_policy_hash, "
        "percent_grade, letter_grade, passed_timestamp",
        "SELECT id, created, modified, user_id, course_id, course_edited_timestamp, course_version, "
        "grading_policy_hash, percent_grade, letter_grade, passed_timestamp FROM persistent_course_grades"),
    "grades_visibleblocks": ("blocks_json, hashed, course_id",
                             "SELECT blocks_json, hashed, course_id FROM visible_blocks"),
    "grades_persistentsubsectiongradeoverride": (
        "created, modified, earned_all_override, possible_all_override, earned_graded_override, "
        "possible_graded_override, grade_id, override_reason, system",
        "SELECT created, modified, earned_all_override, possible_all_override, earned_graded_override, "
        "possible_graded_override, grade_id, override_reason, system FROM subsection_grade_overrides"),
}


def load(server, root):
    """Load the dataset's bulk tables into edX's layout (once per server data directory)."""
    import duckdb
    marker = server.home / "_loaded.json"
    if marker.exists():
        return json.loads(marker.read_text())
    started = time.monotonic()
    server.sql(f"DROP DATABASE IF EXISTS {DB}; CREATE DATABASE {DB}", db="")
    ddl = "SET FOREIGN_KEY_CHECKS=0;\n" + "\n".join(
        p.read_text() for p in sorted((ROOT / "schemas" / "mysql").glob("*.sql")))
    server.sql(ddl)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for table in ["users", "enrollments", "studentmodule", "submissions", "persistent_subsection_grades",
                  "persistent_course_grades", "visible_blocks", "subsection_grade_overrides"]:
        if (root / table).exists():
            con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{root / table}/**/*.parquet', "
                        "hive_partitioning = false)")
    counts = {}
    for table, (columns, select) in LOADS.items():
        needed = {"auth_user": "users", "student_courseenrollment": "enrollments",
                  "courseware_studentmodule": "studentmodule", "student_anonymoususerid": "submissions",
                  "submissions_studentitem": "submissions", "grades_persistentsubsectiongrade":
                  "persistent_subsection_grades", "grades_persistentcoursegrade": "persistent_course_grades",
                  "grades_visibleblocks": "visible_blocks",
                  "grades_persistentsubsectiongradeoverride": "subsection_grade_overrides"}[table]
        if not (root / needed).exists():
            continue
        tsv = server.files / f"{table}.tsv"
        t0 = time.monotonic()
        con.execute(f"COPY ({select}) TO '{tsv}' (FORMAT csv, DELIMITER '\t', HEADER false, NULLSTR '\\N', "
                    "QUOTE '\"', TIMESTAMPFORMAT '%Y-%m-%d %H:%M:%S.%f')")
        server.sql(f"SET FOREIGN_KEY_CHECKS=0; SET UNIQUE_CHECKS=0; LOAD DATA INFILE '{tsv}' INTO TABLE {table} "
                   f"FIELDS TERMINATED BY '\\t' OPTIONALLY ENCLOSED BY '\"' ({columns})")
        tsv.unlink()
        n = int(server.sql(f"SELECT COUNT(*) FROM {table}").stdout.decode().split()[-1])
        counts[table] = n
        print(f"  loaded {table}: {n:,} rows in {time.monotonic() - t0:.1f} s", flush=True)
    # Submissions: every score row, the summary pointing at the latest per item.
    if (root / "submissions").exists():
        t0 = time.monotonic()
        tsv = server.files / "submissions_score.tsv"
        # edX's score ids are int and its points whole numbers (int unsigned): the bench keeps
        # the volume, not the values.
        con.execute(f"""COPY (SELECT row_number() OVER (ORDER BY s.created_at, s.id),
                       round(s.points_earned)::BIGINT, round(s.points_possible)::BIGINT, s.created_at, 0,
                       dense_rank() OVER (ORDER BY s.course_id, s.user_id, s.usage_key) AS item
                    FROM submissions s) TO '{tsv}' (FORMAT csv, DELIMITER '\t', HEADER false, NULLSTR '\\N',
                    TIMESTAMPFORMAT '%Y-%m-%d %H:%M:%S.%f')""")
        server.sql(f"SET FOREIGN_KEY_CHECKS=0; SET UNIQUE_CHECKS=0; LOAD DATA INFILE '{tsv}' INTO TABLE "
                   "submissions_score FIELDS TERMINATED BY '\\t' "
                   "(id, points_earned, points_possible, created_at, reset, student_item_id) "
                   "SET submission_id = NULL")
        tsv.unlink()
        server.sql("SET FOREIGN_KEY_CHECKS=0; INSERT INTO submissions_scoresummary (student_item_id, latest_id, highest_id) "
                   "SELECT student_item_id, MAX(id), MAX(id) FROM submissions_score GROUP BY student_item_id")
        print(f"  loaded submissions_score and _scoresummary in {time.monotonic() - t0:.1f} s", flush=True)
    info = {"counts": counts, "seconds": round(time.monotonic() - started, 1)}
    marker.write_text(json.dumps(info, indent=2))
    return info


def main():
    target_rows = e2e.parse_scale(os.environ.get("SCALE", "20M"))
    courses = int(os.environ.get("COURSES", "4"))
    problems = int(os.environ.get("PROBLEMS", "100"))
    threads = [int(t) for t in os.environ.get("THREADS", "1 2").split()]
    repeat = int(os.environ.get("REPEAT", "1"))
    bench_dir = Path(os.environ.get("BENCH_DIR", ROOT / "target" / "bench")).resolve()
    bench_dir.mkdir(parents=True, exist_ok=True)
    # DuckDB is imported only in the loading child process: a child's peak RSS (wait4) starts
    # from its parent's at fork, so this process stays small for the measured runs.
    if subprocess.run([sys.executable, "-c", "import duckdb"], capture_output=True).returncode != 0:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "duckdb"], check=True)
    regrade = str(ROOT / "target" / "release" / "regrade")
    if not Path(regrade).exists():
        sys.exit(f"{regrade} is missing: run `cargo build --release` (make bench does)")
    root, info = e2e.dataset(regrade, bench_dir, target_rows, courses, problems)
    server = Server(bench_dir / f"mariadb-{root.name}")
    results = {"dataset": root.name, "studentmodule_rows": info["rows"].get("studentmodule"), "runs": []}
    try:
        server.start()
        print(f"loading {root.name} into MariaDB ({server.home}) ...", flush=True)
        subprocess.run([sys.executable, __file__, "--load", str(server.home), str(server.sock), str(root)],
                       check=True)
        results["load"] = json.loads((server.home / "_loaded.json").read_text())
        dump = server.files / "dump"
        if dump.exists():
            shutil.rmtree(dump)
        dump.mkdir()
        os.chmod(dump, 0o777)
        mysqldump = find("mariadb-dump") if shutil.which("mariadb-dump") else find("mysqldump")
        seconds, _, _ = e2e.measure([mysqldump, "--no-defaults", f"--socket={server.sock}", "--user=root",
                                     "--single-transaction", f"--tab={dump}", DB, *DUMPED])
        results["mysqldump_tab_seconds"] = round(seconds, 2)
        print(f"  mysqldump --tab of the same tables: {seconds:.1f} s (also warms the server's cache)", flush=True)
        shutil.rmtree(dump)
        url = f"mysql://root@127.0.0.1:{server.port}/{DB}"
        for t in threads:
            out = bench_dir / f"import-{root.name}-t{t}"
            if out.exists():
                shutil.rmtree(out)
            cmd = [regrade, "-q", "import", "mysql", "--url", url, "--output", str(out), "--threads", str(t),
                   "--overwrite"]
            seconds, rss, _ = e2e.best_of(repeat, lambda: e2e.measure(cmd))
            manifest = json.loads((out / "manifest.json").read_text())
            run = {"threads": t, "seconds": round(seconds, 2), "rows_read": manifest["rows_read"],
                   "rows_per_second": round(manifest["rows_read"] / seconds), "peak_rss_mb": round(e2e.mb(rss))}
            results["runs"].append(run)
            print(f"  import mysql --threads {t}: {seconds:.1f} s, {run['rows_per_second']:,} rows/s, "
                  f"peak {run['peak_rss_mb']:,} MB", flush=True)
            shutil.rmtree(out)
    finally:
        server.stop()
    best = min(results["runs"], key=lambda r: r["seconds"])
    results["import_vs_mysqldump"] = round(best["seconds"] / results["mysqldump_tab_seconds"], 2)
    print(f"import mysql (best, {best['threads']} threads) / mysqldump --tab: {results['import_vs_mysqldump']}x")
    out = ROOT / "target" / "bench" / "import.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"results: {out}")


def load_only(home, sock, root):
    """`import_mysql.py --load HOME SOCK ROOT`: the loading step, in its own process."""
    server = Server(Path(home))
    server.sock = Path(sock)
    load(server, Path(root))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--load":
        load_only(*sys.argv[2:])
    else:
        main()
