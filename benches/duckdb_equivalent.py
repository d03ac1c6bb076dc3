#!/usr/bin/env python3
"""DuckDB equivalent of `regrade run` (rescore `recompute`), the competitor in regrade's benchmark.

    python3 benches/duckdb_equivalent.py --input DIR --output DIR [--threads N] [--as-of RFC3339]
                                         [--compare REGRADE_OUTPUT_DIR] [-v]

Reads the data contract's input tables (`DIR/<table>/**/*.parquet`), recomputes every subsection
and course grade of every enrolled learner (active or not) of every course in `course_blocks`
against its latest published version, and writes, under the output directory (created; it must
be empty or absent):

* `subsection_grades/`, `course_grades/`, `diffs/subsection_diffs/`, `diffs/course_grade_diffs/`:
  Parquet, Hive-partitioned by `course_id` (the column is kept in the files too), with the
  columns of regrade's output schemas;
* `reports/<sha1(course_id)>/<org>_<course>_<run>_grade_report_<YYYY-mm-dd-HHMM>.csv`: edX's
  course grade report, one per course.

All of the work is SQL run by DuckDB (`duckdb_equivalent.sql`, plus one generated COPY per
course for the report, whose columns depend on the course). Python only creates the input
views, substitutes the as-of time and the output path, runs the steps, and prints one JSON line:
`{"seconds": ..., "subsection_rows": ..., "course_rows": ..., "studentmodule_rows": ...}`
(`seconds`: wall time from connecting to the last file written; the diff counts go to stderr).
`--compare` then (untimed) reads regrade's output folder and prints how many subsection rows
and course rows agree exactly, and how many report cells.

What the SQL computes, as regrade does (spec `edx-grading.md` sections 1-5, 7.1, 8.2):

* the learner's course structure: blocks released at the as-of time (`now > start`, the root
  falling back to the course start, then 2030-01-01), not `visible_to_staff_only`, whose
  `group_access` admits the learner's group in each active partition (cohort content groups,
  the enrollment track of an active enrollment, stored split-test groups), reachable from the
  root through such blocks; `split_test` blocks dissolved (their children appended to the
  parent's child list); subsections are the chapters' children, each once in course order;
* problem scores (`get_score`): the latest visible submissions score, else a studentmodule row
  with a `max_grade`, else the content's `max_score` (a problem without one is dropped), weighted
  by the block weight (not for submissions), `graded` from `explicit_graded`;
* subsection totals equal to edX's left-to-right float sums in problem order, bit for bit. Rather
  than an ordered aggregate over every (learner, problem) cell (~40M rows on the 22M-row dataset),
  the score rows are aggregated on top of each structure's unattempted totals, with plain sums:
  when every value is a multiple of 2^-16 below 2^24, float addition is exact and the order does
  not matter; the few (learner, subsection) groups where it could (e.g. 1 * 5 / 3 earned, about
  7% on the benchmark data) are recomputed with ordered sums over every position.
  `first_attempted` set once (the persisted value wins), overrides applied to the totals
  (`source` `override`), `percent_graded` rounded half-even to 4 decimals, the visible-blocks
  hash (SHA-1 of edX's canonical JSON of the problem records, base64), computed once per
  distinct record list (encoded per learner as an exact integer);
* the course grade: per assignment type the graded subsections with a positive graded possible,
  padded to `min_count`, the lowest `drop_count` dropped (ties: the later ones), averaged,
  weighted, summed in policy order; rounded as `round_away_from_zero(p*100 + 0.05)/100`; letter
  from `GRADE_CUTOFFS`, `passed` from the smallest positive cutoff; `passed_timestamp` set once;
* diffs of the written rows against `persistent_subsection_grades` / `persistent_course_grades`
  (new, changed, orphaned; now_passing, now_failing, letter_changed), as regrade classifies them;
* the grade report: learner identity, `Grade`, one column per graded, non-staff-only subsection of
  the course (`Not Attempted` unless attempted or overridden), `(Avg)` columns (drops applied, not
  padded), cohort, experiment groups, team, enrollment track, verification and certificate
  columns, enrollment status; formula-like user text prefixed with `'` as regrade does.

Left out, or simplified, against regrade:

* regrade also writes the problem grade report, `_err` report files, a `manifest.json` with
  per-file SHA-1s and counts, and a resumable journal; none of that is done here (the diff
  counts are printed, not written). Learner errors (negative submissions scores, which make edX
  fail a learner) and input validation (regrade's schema checks, duplicate keys, NaN scores,
  cycles: regrade quarantines such a course) are not reproduced: such rows are graded as they
  are.
* Only `--rescore recompute`, `--course-version latest`, `--compat current` and no `--policy`.
* `explicit_graded` of a block without its own value: true if any parent path gives true, else
  false if one gives false (edX folds over the parents in order: with mixed false/unset parents
  edX may give unset, i.e. true). The merged start/staff-only/group access are evaluated as
  "some root path whose every block admits the learner"; regrade merges the fields over the DAG
  and then drops unreachable blocks, which is the same except for pathological DAGs (a
  split_test with several parents). Cycles in `children` are cut at depth 64 instead of
  quarantining the course.
* The grading policy hash is SHA-1 of the stored policy JSON, minified but not re-canonicalised
  (sorted keys, Python float repr), which is what exports hold; GRADER entries are not validated.
* JSON in the visible-blocks hash escapes strings as JSON does, not with Python's ensure_ascii
  (differs only for non-ASCII usage keys or course ids).
* Duplicate rows where edX has one per key (cohort membership, stored group, certificate) take
  an arbitrary one instead of the last one of the file.
* In the report, a format with several subsections but no grader of that category gets an empty
  `(Avg)` cell (edX shifts the rest of the row left); a subsection listed under two chapters gets
  one column.

Agreement with regrade (`--compare`, and EXCEPT ALL over every column of the four tables):
100% of subsection rows, course rows and diff rows (values and `change`), and the grade report
CSVs byte for byte, on `regrade generate --courses 4 --learners 3000 --problems-per-course 100`
(as-of 2026-11-23), on seeds 2, 3 and 5 with 6 courses (as-of dates before, during and after
the courses' releases), with added orphaned / untouched persisted rows, and on the benchmark's
22M-studentmodule dataset (`/work/bench-data/s20m` against regrade's output of it).
"""

import argparse
import csv
import datetime as dt
import hashlib
import json
import os
import re
import sys
import time

import duckdb

HERE = os.path.dirname(os.path.abspath(__file__))
SQL_FILE = os.path.join(HERE, "duckdb_equivalent.sql")

VARCHAR, BIGINT, DOUBLE, BOOLEAN, TS = "VARCHAR", "BIGINT", "DOUBLE", "BOOLEAN", "TIMESTAMPTZ"

# The columns each input table contributes (cast to these types), and whether it is required.
TABLES = {
    "course_blocks": (True, [
        ("course_id", VARCHAR), ("course_version", VARCHAR), ("published_at", TS), ("usage_key", VARCHAR),
        ("block_type", VARCHAR), ("display_name", VARCHAR), ("children", "VARCHAR[]"), ("graded", BOOLEAN),
        ("format", VARCHAR), ("weight", DOUBLE), ("max_score", DOUBLE), ("has_score", BOOLEAN), ("start", TS),
        ("visible_to_staff_only", BOOLEAN), ("group_access", VARCHAR)]),
    "course_policies": (True, [
        ("course_id", VARCHAR), ("course_version", VARCHAR), ("grading_policy", VARCHAR), ("course_start", TS),
        ("course_end", TS), ("self_paced", BOOLEAN), ("certificate_available_date", TS),
        ("certificates_display_behavior", VARCHAR), ("cohorted", BOOLEAN), ("teams_enabled", BOOLEAN),
        ("user_partitions", VARCHAR), ("course_modes", "VARCHAR[]")]),
    "studentmodule": (True, [
        ("student_id", BIGINT), ("course_id", VARCHAR), ("module_state_key", VARCHAR), ("grade", DOUBLE),
        ("max_grade", DOUBLE), ("created", TS)]),
    "enrollments": (True, [("user_id", BIGINT), ("course_id", VARCHAR), ("mode", VARCHAR), ("is_active", BOOLEAN)]),
    "submissions": (False, [
        ("id", BIGINT), ("user_id", BIGINT), ("course_id", VARCHAR), ("usage_key", VARCHAR),
        ("points_earned", DOUBLE), ("points_possible", DOUBLE), ("created_at", TS)]),
    "persistent_subsection_grades": (False, [
        ("id", BIGINT), ("user_id", BIGINT), ("course_id", VARCHAR), ("usage_key", VARCHAR),
        ("course_version", VARCHAR), ("earned_all", DOUBLE), ("possible_all", DOUBLE), ("earned_graded", DOUBLE),
        ("possible_graded", DOUBLE), ("first_attempted", TS), ("visible_blocks_hash", VARCHAR)]),
    "subsection_grade_overrides": (False, [
        ("grade_id", BIGINT), ("earned_all_override", DOUBLE), ("possible_all_override", DOUBLE),
        ("earned_graded_override", DOUBLE), ("possible_graded_override", DOUBLE)]),
    "persistent_course_grades": (False, [
        ("id", BIGINT), ("user_id", BIGINT), ("course_id", VARCHAR), ("course_version", VARCHAR),
        ("percent_grade", DOUBLE), ("letter_grade", VARCHAR), ("passed_timestamp", TS)]),
    "users": (False, [("id", BIGINT), ("username", VARCHAR), ("email", VARCHAR)]),
    "id_verifications": (False, [("user_id", BIGINT), ("status", VARCHAR)]),
    "cohort_memberships": (False, [
        ("user_id", BIGINT), ("course_id", VARCHAR), ("cohort_name", VARCHAR), ("partition_id", BIGINT),
        ("group_id", BIGINT)]),
    "partition_groups": (False, [
        ("user_id", BIGINT), ("course_id", VARCHAR), ("partition_id", BIGINT), ("group_id", BIGINT)]),
    "team_memberships": (False, [("user_id", BIGINT), ("course_id", VARCHAR), ("team_name", VARCHAR)]),
    "certificate_allowlist": (False, [("user_id", BIGINT), ("course_id", VARCHAR), ("allowlist", BOOLEAN)]),
    "generated_certificates": (False, [
        ("user_id", BIGINT), ("course_id", VARCHAR), ("status", VARCHAR), ("mode", VARCHAR)]),
}

VERIFIED_MODES = ["verified", "professional", "masters", "executive-education", "paid-executive-education",
                  "paid-bootcamp"]


def lit(s):
    """A SQL string literal."""
    return "'" + str(s).replace("'", "''") + "'"


def ident(s):
    return '"' + str(s).replace('"', '""') + '"'


def parquet_files(root, table):
    d = os.path.join(root, table)
    out = []
    for dirpath, _, files in os.walk(d):
        out.extend(os.path.join(dirpath, f) for f in files if f.endswith(".parquet"))
    return sorted(out)


def create_input_views(con, root):
    for table, (required, cols) in TABLES.items():
        files = parquet_files(root, table)
        if not files and required:
            sys.exit(f"error: required input table '{table}' has no parquet files under {root}/{table}/")
        if files:
            source = (f"read_parquet({lit(os.path.join(root, table))} || '/**/*.parquet', "
                      "hive_partitioning = false, union_by_name = true)")
            select = ", ".join(f"CAST({ident(c)} AS {t}) AS {ident(c)}" for c, t in cols)
            con.execute(f"CREATE TEMP VIEW i_{table} AS SELECT {select} FROM {source}")
        else:
            select = ", ".join(f"CAST(NULL AS {t}) AS {ident(c)}" for c, t in cols)
            con.execute(f"CREATE TEMP VIEW i_{table} AS SELECT {select} WHERE false")


def sql_steps(subst):
    text = open(SQL_FILE).read()
    for k, v in subst.items():
        text = text.replace("${" + k + "}", v)
    parts = re.split(r"^-- @step (\S+)\s*$", text, flags=re.M)
    return [(parts[i], parts[i + 1]) for i in range(1, len(parts), 2)]


def neutralise(expr):
    """regrade's CSV-injection guard for user-controlled text (a leading ')."""
    return (f"CASE WHEN left({expr}, 1) IN ('=', '+', '-', '@', chr(9), chr(13)) "
            f"THEN '''' || {expr} ELSE {expr} END")


def neutralise_text(s):
    return "'" + s if s[:1] in ("=", "+", "-", "@", "\t", "\r") else s


def nullif_empty(col):
    """DuckDB's CSV writer quotes an empty string (a NULL is written bare, as Python's csv does
    for an empty field)."""
    expr, alias = col.rsplit(" AS ", 1)
    return f"nullif(({expr})::VARCHAR, '') AS {alias}"


def report_file_name(course_id, as_of):
    body = course_id[len("course-v1:"):] if course_id.startswith("course-v1:") else course_id
    parts = body.split("+") if course_id.startswith("course-v1:") else body.split("/")
    joined = "_".join(parts[:3]) if len(parts) >= 3 else body.replace("+", "_").replace("/", "_")
    prefix = re.sub(r"(?u)[^-\w.]", "", joined.strip().replace(" ", "_"))
    stamp = as_of.strftime("%Y-%m-%d-%H%M")
    return os.path.join(hashlib.sha1(course_id.encode()).hexdigest(), f"{prefix}_grade_report_{stamp}.csv")


def write_reports(con, out, as_of, as_of_sql):
    """One COPY per course: the wide grade report (its columns depend on the course)."""
    courses = con.execute("""
        SELECT course_id, coalesce(cohorted, false), coalesce(teams_enabled, false) FROM pol ORDER BY course_id
    """).fetchall()
    for course_id, cohorted, teams in courses:
        headers, cells, joins = [], [], []
        for type_ord, fmt, n, j0, has_grader in con.execute("""
                SELECT type_ord, any_value(format), any_value(n_in_type), min(j), bool_and(drop_count IS NOT NULL)
                FROM rctx WHERE course_id = ? GROUP BY type_ord ORDER BY type_ord""", [course_id]).fetchall():
            names = con.execute("SELECT display_name FROM rctx WHERE course_id = ? AND type_ord = ? ORDER BY k",
                                [course_id, type_ord]).fetchall()
            cols_of_type = [f"CASE WHEN r.l[{j0 + i}].s THEN r.l[{j0 + i}].p::VARCHAR ELSE 'Not Attempted' END"
                            for i in range(n)]
            if n > 1:
                headers += [f"{fmt} {k + 1}: {name}" for k, (name,) in enumerate(names)] + [f"{fmt} (Avg)"]
                cells += cols_of_type
                if has_grader:
                    joins.append(f"LEFT JOIN ravg a{type_ord} ON a{type_ord}.cid = e.cid "
                                 f"AND a{type_ord}.user_id = e.user_id AND a{type_ord}.type_ord = {type_ord}")
                    cells.append(f"a{type_ord}.avg")
                else:
                    cells.append("NULL")  # edX writes no value and shifts the rest of the row
            else:
                headers.append(fmt)
                cells += cols_of_type
        experiments = con.execute("""SELECT pid, "name", groups FROM upart
                WHERE course_id = ? AND scheme = 'random' ORDER BY rowid""", [course_id]).fetchall()
        cols = ["e.user_id AS \"Student ID\"",
                f"{neutralise('coalesce(u.email, %s)' % lit(''))} AS \"Email\"",
                f"{neutralise('coalesce(u.username, %s)' % lit(''))} AS \"Username\"",
                "c.percent_grade::VARCHAR AS \"Grade\""]
        cols += [f"{c} AS {ident(neutralise_text(h))}" for c, h in zip(cells, headers)]
        if cohorted:
            cols.append(f"{neutralise('coalesce(coh.cohort_name, %s)' % lit(''))} AS \"Cohort Name\"")
            joins.append("LEFT JOIN coh ON coh.course_id = e.course_id AND coh.user_id = e.user_id")
        for j, (pid, pname, _) in enumerate(experiments):
            joins.append(f"""LEFT JOIN pgrp pg{j} ON pg{j}.course_id = e.course_id AND pg{j}.user_id = e.user_id
                             AND pg{j}.partition_id = {int(pid)}
                             LEFT JOIN (SELECT g.id, g."name" FROM (SELECT unnest(groups) AS g FROM upart
                                        WHERE course_id = {lit(course_id)} AND pid = {int(pid)})) eg{j}
                               ON eg{j}.id = pg{j}.group_id""")
            cols.append(f"{neutralise('coalesce(eg%d.name, %s)' % (j, lit('')))} "
                        f"AS {ident(f'Experiment Group ({pname})')}")
        if teams:
            cols.append(f"{neutralise('coalesce(tm.team_name, %s)' % lit(''))} AS \"Team Name\"")
            joins.append("""LEFT JOIN (SELECT course_id, user_id, last(team_name) AS team_name
                                       FROM i_team_memberships GROUP BY ALL) tm
                              ON tm.course_id = e.course_id AND tm.user_id = e.user_id""")
        verified = "(" + ", ".join(lit(m) for m in VERIFIED_MODES) + ")"
        cols += [
            "e.mode AS \"Enrollment Track\"",
            f"""CASE WHEN e.mode NOT IN {verified} THEN 'N/A' WHEN iv.user_id IS NOT NULL THEN 'ID Verified'
                     ELSE 'Not ID Verified' END AS \"Verification Status\"""",
            f"""CASE WHEN coalesce(al.allowlisted, false) OR (c.letter_grade <> '' AND e.mode IN {verified})
                       OR cert.status = 'downloadable' THEN 'Y' ELSE 'N' END AS \"Certificate Eligible\"""",
            "CASE WHEN cert.delivered THEN 'Y' ELSE 'N' END AS \"Certificate Delivered\"",
            "CASE WHEN cert.delivered THEN gc.mode ELSE 'N/A' END AS \"Certificate Type\"",
            "CASE WHEN e.is_active THEN 'enrolled' ELSE 'unenrolled' END AS \"Enrollment Status\"",
        ]
        query = f"""
        WITH gc0 AS (SELECT course_id, user_id, last(status) AS status, last(mode) AS mode
                     FROM i_generated_certificates WHERE course_id = {lit(course_id)} GROUP BY ALL),
        gc AS (SELECT gc0.*,
                      CASE WHEN gc0.mode = 'audit' AND NOT list_contains(coalesce(pol.course_modes, []), 'honor')
                           THEN 'auditing' ELSE gc0.status END AS cstatus
               FROM gc0 JOIN pol USING (course_id))
        SELECT {", ".join(nullif_empty(c) for c in cols)}
        FROM enr e
        JOIN course_out c ON c.course_id = e.course_id AND c.user_id = e.user_id
        JOIN pol ON pol.course_id = e.course_id
        LEFT JOIN rrow r ON r.cid = e.cid AND r.user_id = e.user_id
        LEFT JOIN i_users u ON u.id = e.user_id
        LEFT JOIN (SELECT DISTINCT user_id FROM i_id_verifications WHERE status = 'approved') iv
          ON iv.user_id = e.user_id
        LEFT JOIN (SELECT course_id, user_id, bool_or(coalesce(allowlist, false)) AS allowlisted
                   FROM i_certificate_allowlist WHERE course_id = {lit(course_id)} GROUP BY ALL) al
          ON al.course_id = e.course_id AND al.user_id = e.user_id
        LEFT JOIN gc ON gc.course_id = e.course_id AND gc.user_id = e.user_id
        LEFT JOIN LATERAL (SELECT gc.cstatus AS status,
              gc.cstatus = 'downloadable' AND (
                  coalesce(pol.self_paced, false)
                  OR pol.certificates_display_behavior IN ('early_with_info', 'early_no_info')
                  OR pol.certificate_available_date < {as_of_sql}
                  OR (pol.certificate_available_date IS NULL AND pol.course_end < {as_of_sql})) AS delivered) cert ON true
        {" ".join(joins)}
        WHERE e.course_id = {lit(course_id)}
        ORDER BY e.user_id"""
        path = os.path.join(out, "reports", report_file_name(course_id, as_of))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        con.execute(f"COPY ({query}) TO {lit(path)} (FORMAT csv, HEADER, NEW_LINE '\\r\\n')")


def parse_as_of(text):
    if text is None:
        return dt.datetime.now(dt.timezone.utc)
    t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return t.astimezone(dt.timezone.utc)


def compare(con, mine, theirs):
    """Exact agreement of this run's outputs with regrade's (untimed)."""
    def src(root, table):
        return f"read_parquet({lit(os.path.join(root, table))} || '/**/*.parquet', hive_partitioning = false)"

    keys = "course_id, user_id, usage_key"
    vals = ["earned_graded", "possible_graded", "earned_all", "possible_all"]
    r = con.execute(f"""
        WITH a AS (SELECT * FROM {src(mine, 'subsection_grades')}),
             b AS (SELECT * FROM {src(theirs, 'subsection_grades')})
        SELECT count(*) FILTER (WHERE a.user_id IS NOT NULL AND b.user_id IS NOT NULL
                                  AND {' AND '.join(f'a.{v} = b.{v}' for v in vals)}) AS same,
               count(*) FILTER (WHERE a.user_id IS NOT NULL AND b.user_id IS NOT NULL
                                  AND a.percent_graded = b.percent_graded
                                  AND a.first_attempted IS NOT DISTINCT FROM b.first_attempted
                                  AND a.attempted_graded = b.attempted_graded
                                  AND a.visible_blocks_hash = b.visible_blocks_hash AND a.source = b.source
                                  AND a.course_version = b.course_version) AS same_other,
               count(*) FILTER (WHERE a.user_id IS NULL) AS only_regrade,
               count(*) FILTER (WHERE b.user_id IS NULL) AS only_duckdb,
               count(*) AS total
        FROM a FULL OUTER JOIN b USING ({keys})""").fetchone()
    same, same_other, only_theirs, only_mine, total = r
    c = con.execute(f"""
        WITH a AS (SELECT * FROM {src(mine, 'course_grades')}),
             b AS (SELECT * FROM {src(theirs, 'course_grades')})
        SELECT count(*) FILTER (WHERE a.percent_grade = b.percent_grade AND a.letter_grade = b.letter_grade),
               count(*) FILTER (WHERE a.raw_percent = b.raw_percent AND a.passed = b.passed
                                  AND a.passed_timestamp IS NOT DISTINCT FROM b.passed_timestamp
                                  AND a.grading_policy_hash = b.grading_policy_hash),
               count(*) FILTER (WHERE a.user_id IS NULL), count(*) FILTER (WHERE b.user_id IS NULL), count(*)
        FROM a FULL OUTER JOIN b USING (course_id, user_id)""").fetchone()
    d = {}
    for table, key in (("subsection_diffs", "course_id, user_id, usage_key"), ("course_grade_diffs", "course_id, user_id")):
        d[table] = con.execute(f"""
            WITH a AS (SELECT * FROM {src(os.path.join(mine, 'diffs'), table)}),
                 b AS (SELECT * FROM {src(os.path.join(theirs, 'diffs'), table)})
            SELECT count(*) FILTER (WHERE a.change = b.change), count(*)
            FROM a FULL OUTER JOIN b USING ({key})""").fetchone()
    result = {
        "subsection_rows": total,
        "subsection_values_agree": same / total if total else 1.0,
        "subsection_other_columns_agree": same_other / total if total else 1.0,
        "subsection_rows_only_in_regrade": only_theirs,
        "subsection_rows_only_in_duckdb": only_mine,
        "course_rows": c[4],
        "course_percent_and_letter_agree": c[0] / c[4] if c[4] else 1.0,
        "course_other_columns_agree": c[1] / c[4] if c[4] else 1.0,
        "course_rows_only_in_regrade": c[2],
        "course_rows_only_in_duckdb": c[3],
    }
    for table, (same_change, n) in d.items():
        result[f"{table}_change_agrees"] = same_change / n if n else 1.0
        result[f"{table}_rows"] = n
    # Report cells, by (file, learner, header).
    cells = total_cells = 0
    for dirpath, _, files in os.walk(os.path.join(mine, "reports")):
        for f in files:
            rel = os.path.relpath(os.path.join(dirpath, f), os.path.join(mine, "reports"))
            other = os.path.join(theirs, "reports", rel)
            if not os.path.exists(other):
                continue
            with open(os.path.join(dirpath, f), newline="") as fa, open(other, newline="") as fb:
                ra, rb = list(csv.reader(fa)), list(csv.reader(fb))
            ha, hb = ra[0], rb[0]
            index_b = {h: i for i, h in enumerate(hb)}
            where = [index_b.get(h) for h in ha]
            rows_b = {row[0]: row for row in rb[1:]}
            for row in ra[1:]:
                other = rows_b.pop(row[0], None)
                total_cells += len(row)
                if other is not None:
                    cells += sum(1 for v, i in zip(row, where) if i is not None and i < len(other) and other[i] == v)
            total_cells += sum(len(row) for row in rows_b.values())  # learners only regrade lists
    result["report_cells"] = total_cells
    result["report_cells_agree"] = cells / total_cells if total_cells else 1.0
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--input", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--as-of", default=None, help="the run's now (RFC 3339); default: the current time")
    ap.add_argument("--compare", metavar="REGRADE_OUTPUT_DIR", default=None)
    ap.add_argument("-v", "--verbose", action="store_true", help="time each step on stderr")
    args = ap.parse_args()

    out = os.path.abspath(args.output)
    if os.path.exists(out) and os.listdir(out):
        sys.exit(f"error: output directory {out} is not empty")
    as_of = parse_as_of(args.as_of)
    as_of_sql = f"'{as_of.isoformat()}'::TIMESTAMPTZ"

    t0 = time.perf_counter()
    con = duckdb.connect()
    con.execute(f"SET threads = {int(args.threads)}")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET preserve_insertion_order = false")
    create_input_views(con, os.path.abspath(args.input))
    os.makedirs(out, exist_ok=True)
    os.makedirs(os.path.join(out, "diffs"), exist_ok=True)
    for name, sql in sql_steps({"AS_OF": as_of_sql, "OUT": out.replace("'", "''")}):
        t = time.perf_counter()
        con.execute(sql)
        if args.verbose:
            print(f"step {name}: {time.perf_counter() - t:.2f}s", file=sys.stderr)
    t = time.perf_counter()
    write_reports(con, out, as_of, as_of_sql)
    if args.verbose:
        print(f"step reports: {time.perf_counter() - t:.2f}s", file=sys.stderr)
    sub_rows = con.execute("SELECT count(*) FROM sub_out").fetchone()[0]
    course_rows = con.execute("SELECT count(*) FROM course_out").fetchone()[0]
    sm_rows = con.execute("SELECT count(*) FROM i_studentmodule").fetchone()[0]
    # Diff counts: the written kinds are counted, unchanged / untouched keys follow from the
    # sizes of both sides (sub_diff keeps only the keys that differ).
    sub_counts = dict(con.execute("SELECT change, count(*) FROM sub_diff GROUP BY ALL").fetchall())
    old_rows = con.execute("SELECT count(*) FROM i_persistent_subsection_grades SEMI JOIN ver USING (course_id)").fetchone()[0]
    new, changed, orphaned = (sub_counts.get(k, 0) for k in ("new", "changed", "orphaned"))
    sub_counts["unchanged"] = sub_rows - new - changed
    sub_counts["untouched"] = old_rows - changed - sub_counts["unchanged"] - orphaned
    seconds = time.perf_counter() - t0
    diffs = {
        "subsection_diffs": sub_counts,
        "course_grade_diffs": dict(con.execute("SELECT change, count(*) FROM course_diff GROUP BY ALL ORDER BY 1").fetchall()),
    }
    print(json.dumps(diffs), file=sys.stderr)
    print(json.dumps({"seconds": round(seconds, 3), "subsection_rows": sub_rows, "course_rows": course_rows,
                      "studentmodule_rows": sm_rows}))
    sys.stdout.flush()
    if args.compare:
        print(json.dumps(compare(con, out, os.path.abspath(args.compare))))


if __name__ == "__main__":
    main()
