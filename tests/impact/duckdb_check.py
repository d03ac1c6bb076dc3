"""Recomputes every number of a `regrade report`'s impact.parquet with DuckDB, from the run's
own Parquet files (grades, diffs, the input's course_blocks), and compares.

    python3 duckdb_check.py REPORT_DIR RUN_DIR INPUT_DIR [BASELINE_RUN_DIR] [--names] [--subsections]

Written apart from regrade's code on purpose: the persisted side is rebuilt as a union (rows
the diffs do not name, plus the diffs' old values) where regrade joins and picks; the
baseline side by SQL full joins; the bins with SQL's floor. Exits 1 naming every chart whose
rows differ, 0 when all agree. With --names, every pass_crossings row must carry the
learner's username from the input's users table; without, none may. With --subsections, every
comparison must have changed subsection scores.
"""

import json
import os
import sys

import duckdb

args = [a for a in sys.argv[1:] if not a.startswith("--")]
REPORT, RUN, INPUT = args[0], args[1], args[2]
BASELINE = args[3] if len(args) > 3 else None
NAMES = "--names" in sys.argv
# Every comparison must have changed subsection scores (a baseline run that differs in them).
SUBSECTIONS = "--subsections" in sys.argv

con = duckdb.connect()


def table(run, name):
    return f"read_parquet('{os.path.join(run, name)}/**/*.parquet', hive_partitioning = false)"


def graded_versions(run):
    with open(os.path.join(run, "manifest.json")) as f:
        manifest = json.load(f)
    return [(c["course_id"], c["course_version"]) for c in manifest["courses"]], manifest


courses, manifest = graded_versions(RUN)
con.execute("CREATE TABLE versions (c VARCHAR, v VARCHAR)")
con.executemany("INSERT INTO versions VALUES (?, ?)", courses)
con.execute(f"""
CREATE TABLE types AS
SELECT CAST(b.course_id AS VARCHAR) AS c, b.usage_key AS k, coalesce(b.format, '') AS t
FROM read_parquet('{INPUT}/course_blocks/**/*.parquet', hive_partitioning = false) b
JOIN versions v ON v.c = CAST(b.course_id AS VARCHAR) AND v.v = b.course_version
WHERE b.block_type = 'sequential'
""")

# ---- the pairs: one row per (course, learner) and per (course, learner, subsection) ----------

con.execute(f"""
CREATE TABLE cg AS SELECT CAST(course_id AS VARCHAR) c, user_id u, percent_grade p, letter_grade l, passed s
FROM {table(RUN, 'course_grades')}""")
con.execute(f"""
CREATE TABLE cd AS SELECT CAST(course_id AS VARCHAR) c, user_id u, change, old_percent_grade p,
  old_letter_grade l, old_passed s FROM {table(RUN, 'diffs/course_grade_diffs')}""")
con.execute("""
CREATE TABLE persisted_before AS
SELECT c, u, p, l, s FROM cg WHERE NOT EXISTS (SELECT 1 FROM cd WHERE cd.c = cg.c AND cd.u = cg.u)
UNION ALL
SELECT c, u, p, l, s FROM cd WHERE change <> 'new'
""")


def course_pairs(name, before, after):
    con.execute(f"""
    CREATE TABLE {name} AS
    SELECT coalesce(b.c, a.c) c, coalesce(b.u, a.u) u,
           b.u IS NOT NULL hb, a.u IS NOT NULL ha,
           b.p bp, b.l bl, b.s bs, a.p ap, a.l al, a.s "as"
    FROM {before} b FULL OUTER JOIN {after} a ON b.c = a.c AND b.u = a.u
    """)


course_pairs("persisted_courses", "persisted_before", "cg")

# Subsection scores: earned / possible, 0 when nothing is possible.
SCORE = "CASE WHEN {p} > 0 THEN {e} / {p} WHEN {p} IS NULL THEN NULL ELSE 0.0 END"
con.execute(f"""
CREATE TABLE persisted_subsections AS
SELECT CAST(course_id AS VARCHAR) c, user_id u, usage_key k,
  CASE WHEN change = 'new' THEN NULL ELSE {SCORE.format(e='old_earned_graded', p='old_possible_graded')} END sb,
  CASE WHEN change = 'orphaned' THEN NULL ELSE {SCORE.format(e='new_earned_graded', p='new_possible_graded')} END sa
FROM {table(RUN, 'diffs/subsection_diffs')}
""")

comparisons = ["persisted"]
if BASELINE:
    comparisons.append("baseline")
    ours = "(SELECT DISTINCT c FROM versions)"
    con.execute(f"""
    CREATE TABLE bcg AS SELECT CAST(course_id AS VARCHAR) c, user_id u, percent_grade p, letter_grade l, passed s
    FROM {table(BASELINE, 'course_grades')} WHERE CAST(course_id AS VARCHAR) IN {ours}""")
    course_pairs("baseline_courses", "bcg", "cg")
    sg = "SELECT CAST(course_id AS VARCHAR) c, user_id u, usage_key k, earned_graded e, possible_graded p FROM {}"
    con.execute(f"""
    CREATE TABLE baseline_subsections AS
    SELECT coalesce(b.c, a.c) c, coalesce(b.u, a.u) u, coalesce(b.k, a.k) k,
      {SCORE.format(e='b.e', p='b.p')} sb, {SCORE.format(e='a.e', p='a.p')} sa
    FROM ({sg.format(table(BASELINE, 'subsection_grades'))} WHERE CAST(course_id AS VARCHAR) IN {ours}) b
    FULL OUTER JOIN ({sg.format(table(RUN, 'subsection_grades'))}) a ON b.c = a.c AND b.u = a.u AND b.k = a.k
    """)

POINTS = "floor(({x}) * 100 + 0.5)"


def binned(x, width, lo, hi):
    return f"least(greatest(floor({POINTS.format(x=x)} / {width}), {lo}), {hi})"


def expected(cmp):
    """Every row of one comparison, as (chart, course, side, label, to_label, usage_key,
    bin_lo, user_id, count, learners, mean_change, before_value, after_value)."""
    P = f"{cmp}_courses"
    S = f"{cmp}_subsections"
    rows = []

    def q(sql):
        rows.extend(con.sql(sql).fetchall())

    both = "hb AND ha"
    counts = {
        "learners_before": "hb", "learners_after": "ha", "learners_both": both,
        "percent_changed": f"{both} AND ap <> bp", "percent_up": f"{both} AND ap > bp",
        "percent_down": f"{both} AND ap < bp", "letter_changed": f"{both} AND al <> bl",
        "now_passing": f"{both} AND NOT bs AND \"as\"", "now_failing": f"{both} AND bs AND NOT \"as\"",
        "only_before": "hb AND NOT ha", "only_after": "ha AND NOT hb",
    }
    for label, cond in counts.items():
        q(f"""SELECT 'summary', c, NULL, '{label}', NULL, NULL, NULL, NULL, count(*) FILTER (WHERE {cond}),
              NULL, NULL, NULL, NULL FROM {P} GROUP BY GROUPING SETS ((c), ())""")
    for side, has, p in [("before", "hb", "bp"), ("after", "ha", "ap")]:
        q(f"""SELECT 'grade_distribution', c, '{side}', NULL, NULL, NULL, {binned(p, 5, 0, 19)} * 5 / 100.0 b, NULL,
              count(*), NULL, NULL, NULL, NULL FROM {P} WHERE {has} GROUP BY GROUPING SETS ((c, b), (b))""")
    q(f"""SELECT 'grade_change', c, NULL, NULL, NULL, NULL, {binned('ap - bp', 5, -20, 19)} * 5 / 100.0 b,
          NULL, count(*), NULL, NULL, NULL, NULL FROM {P} WHERE {both} AND ap <> bp GROUP BY GROUPING SETS ((c, b), (b))""")
    q(f"""SELECT 'letter_transitions', c, NULL, CASE WHEN hb THEN bl END f, CASE WHEN ha THEN al END t, NULL, NULL,
          NULL, count(*), NULL, NULL, NULL, NULL FROM {P} GROUP BY GROUPING SETS ((c, f, t), (f, t))""")
    state = "CASE WHEN {h} THEN (CASE WHEN {s} THEN 'pass' ELSE 'fail' END) END"
    q(f"""SELECT 'pass_transitions', c, NULL, {state.format(h='hb', s='bs')} f, {state.format(h='ha', s='"as"')} t,
          NULL, NULL, NULL, count(*), NULL, NULL, NULL, NULL FROM {P} GROUP BY GROUPING SETS ((c, f, t), (f, t))""")
    q(f"""SELECT 'pass_crossings', c, CASE WHEN bs THEN 'now_failing' ELSE 'now_passing' END, bl, al, NULL, NULL, u,
          1, NULL, NULL, bp, ap FROM {P} WHERE {both} AND bs <> "as" """)
    q(f"""SELECT 'summary', c, NULL, 'subsection_grades_only_before', NULL, NULL, NULL, NULL, count(*), NULL, NULL,
          NULL, NULL FROM {S} WHERE sa IS NULL AND sb IS NOT NULL GROUP BY GROUPING SETS ((c), ())""")
    changed = f"""(SELECT s.c, s.u, s.k, coalesce(t.t, '') t, s.sa - coalesce(s.sb, 0) d FROM {S} s
                  LEFT JOIN types t ON t.c = s.c AND t.k = s.k
                  WHERE s.sa IS NOT NULL AND s.sa - coalesce(s.sb, 0) <> 0)"""
    q(f"""SELECT 'assignment_types', c, NULL, t, NULL, NULL, NULL, NULL, count(*), count(DISTINCT u), avg(d), NULL,
          NULL FROM {changed} GROUP BY GROUPING SETS ((c, t), (t))""")
    q(f"""SELECT 'summary', c, NULL, 'subsection_grades_changed', NULL, NULL, NULL, NULL, count(*), NULL, NULL, NULL,
          NULL FROM {changed} GROUP BY GROUPING SETS ((c), ())""")
    q(f"""SELECT 'assignment_change', c, NULL, t, NULL, NULL, {binned('d', 10, -10, 9)} * 10 / 100.0 b, NULL,
          count(*), NULL, NULL, NULL, NULL FROM {changed} GROUP BY GROUPING SETS ((c, t, b), (t, b))""")
    q(f"""SELECT 'subsections', c, NULL, t, NULL, k, NULL, NULL, count(*), NULL, avg(d), NULL, NULL
          FROM {changed} GROUP BY c, t, k""")
    return rows


def normal(row):
    """Floats rounded (sums in another order differ in the last bits), absent counts dropped."""
    return tuple(round(v, 9) if isinstance(v, float) else v for v in row)


failures = []
got_all = con.sql(f"""SELECT comparison, chart, course_id, side, label, to_label, usage_key, bin_lo, user_id, count,
    learners, mean_change, before_value, after_value, username FROM '{REPORT}/impact.parquet'""").fetchall()
for cmp in comparisons:
    want = sorted((normal(r) for r in expected(cmp) if not (r[0] == "summary" and r[8] == 0)), key=repr)
    got = sorted(
        (normal(r[1:14]) for r in got_all if r[0] == cmp and not (r[1] == "summary" and r[9] == 0)), key=repr
    )
    for chart in sorted({r[0] for r in want} | {r[0] for r in got}):
        w = [r for r in want if r[0] == chart]
        g = [r for r in got if r[0] == chart]
        if w != g:
            missing = [r for r in w if r not in g][:5]
            extra = [r for r in g if r not in w][:5]
            failures.append(f"{cmp} {chart}: {len(g)} rows, DuckDB {len(w)}; DuckDB only: {missing}; report only: {extra}")
    if SUBSECTIONS and not any(r[0] == "subsections" for r in got):
        failures.append(f"{cmp}: no subsection score changed: the runs do not exercise the subsection charts")
    print(f"{cmp}: {len(want)} rows agree" if not failures else f"{cmp}: checked")

# The counts regrade's own diff step made agree with the report's (both count pass flips).
totals = manifest["totals"]["course_grade_diffs"]
for label in ["now_passing", "now_failing"]:
    got = sum(r[9] for r in got_all if r[0] == "persisted" and r[1] == "summary" and r[2] is None and r[4] == label)
    if got != totals[label]:
        failures.append(f"summary {label}: report {got}, manifest {totals[label]}")

crossing_users = [(r[8], r[14]) for r in got_all if r[1] == "pass_crossings"]
if NAMES:
    names = dict(con.sql(f"SELECT id, username FROM read_parquet('{INPUT}/users/**/*.parquet')").fetchall())
    wrong = [(u, n) for u, n in crossing_users if n != names.get(u)]
    if wrong or not crossing_users:
        failures.append(f"--with-names: usernames wrong or absent: {wrong[:5]} ({len(crossing_users)} crossings)")
elif any(n is not None for _, n in crossing_users):
    failures.append("usernames in a report made without --with-names")
if not crossing_users:
    failures.append("no learner crosses the pass line: the dataset does not exercise pass_crossings")

if failures:
    print("\n".join(failures), file=sys.stderr)
    sys.exit(1)
