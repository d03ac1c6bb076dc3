-- DuckDB equivalent of `regrade run --rescore recompute` (see duckdb_equivalent.py for the
-- driver, the per-course report COPYs, the comparison and what is left out).
--
-- The driver creates one view per input table (i_<table>: the columns used here, cast to the
-- contract's types; an absent optional table is an empty view) and substitutes:
--   ${AS_OF}  the run's "now" (TIMESTAMPTZ literal)
--   ${OUT}    the output directory (SQL string literal body)
-- Steps are separated by "-- @step <name>" lines; the driver runs and times them in order.
--
-- Keys: every block of a graded course version gets a global integer id (bid), so a
-- (user_id, bid) pair is unique across courses and the big joins are on integers.

-- @step version
-- The graded version of each course: the latest published_at (regrade's `latest`), ties
-- broken by the version id as regrade does.
CREATE TEMP TABLE ver AS
SELECT course_id,
       max_by(course_version, (coalesce(published_at, '-infinity'::TIMESTAMPTZ), course_version)) AS course_version,
       max_by(published_at, (coalesce(published_at, '-infinity'::TIMESTAMPTZ), course_version)) AS published_at,
       (row_number() OVER (ORDER BY course_id))::INTEGER AS cid
FROM (SELECT DISTINCT course_id, course_version, published_at FROM i_course_blocks)
GROUP BY course_id;

CREATE TEMP TABLE pol AS
SELECT p.*,
       coalesce(json_extract(p.grading_policy::JSON, '$.GRADER'),
                '[{"type":"Homework","min_count":12,"drop_count":2,"short_label":"HW","weight":0.15},{"type":"Lab","min_count":12,"drop_count":2,"weight":0.15},{"type":"Midterm Exam","short_label":"Midterm","min_count":1,"drop_count":0,"weight":0.3},{"type":"Final Exam","short_label":"Final","min_count":1,"drop_count":0,"weight":0.4}]'::JSON) AS grader_json,
       coalesce(json_extract(p.grading_policy::JSON, '$.GRADE_CUTOFFS'), '{"Pass":0.5}'::JSON) AS cutoffs_json,
       -- The stored policy JSON is hashed as stored (minified); edX hashes its canonical
       -- (sorted-key) dump, which is what the exports hold.
       to_base64(unhex(sha1(json(p.grading_policy)::VARCHAR))) AS grading_policy_hash
FROM i_course_policies p JOIN ver v USING (course_id, course_version);

-- One row per subgrader, in policy order.
CREATE TEMP TABLE grader AS
WITH g AS (
  SELECT course_id,
         unnest(from_json(grader_json, '[{"type": "VARCHAR", "min_count": "JSON", "drop_count": "BIGINT", "weight": "DOUBLE", "category": "VARCHAR"}]')) AS g,
         generate_subscripts(CAST(grader_json AS JSON[]), 1) AS gidx
  FROM pol)
SELECT course_id, gidx, g."type" AS kind,
       greatest(trunc(TRY_CAST(json_extract_string(g.min_count, '$') AS DOUBLE)), 0)::BIGINT AS min_count,
       g.drop_count AS drop_count, coalesce(g.weight, 0.0) AS weight,
       coalesce(nullif(g.category, ''), g."type") AS category
FROM g;

-- Letter cutoffs in dict order.
CREATE TEMP TABLE cutoff AS
WITH c AS (
  SELECT course_id, unnest(map_entries(CAST(cutoffs_json AS MAP(VARCHAR, DOUBLE)))) AS e,
         generate_subscripts(map_entries(CAST(cutoffs_json AS MAP(VARCHAR, DOUBLE))), 1) AS cidx
  FROM pol)
SELECT course_id, cidx, e.key AS letter, e.value AS cutoff FROM c;

-- @step structure
CREATE TEMP TABLE blk AS
SELECT (row_number() OVER (ORDER BY b.course_id, b.usage_key))::INTEGER AS bid,
       v.cid, b.course_id, b.usage_key, b.block_type, b.display_name, b.children, b.graded, b.format,
       b.weight, b.max_score, coalesce(b.has_score, false) AS has_score, b.start,
       coalesce(b.visible_to_staff_only, false) AS own_staff, b.group_access,
       b.block_type = 'split_test' AS is_split
FROM i_course_blocks b JOIN ver v USING (course_id, course_version);

CREATE TEMP TABLE root AS SELECT course_id, bid FROM blk WHERE block_type = 'course';

-- Parent -> child edges in child-list order (pos from 1).
CREATE TEMP TABLE edge AS
WITH e AS (
  SELECT course_id, bid AS parent, unnest(children) AS child_key, generate_subscripts(children, 1) AS pos
  FROM blk WHERE children IS NOT NULL)
SELECT e.course_id, e.parent, c.bid AS child, e.pos::INTEGER AS pos
FROM e JOIN blk c ON c.course_id = e.course_id AND c.usage_key = e.child_key;

-- Every root path over the collected DAG: the inherited `graded` (own, else the first
-- parent's: the first parent is the one on the lexicographically first path),
-- `explicit_graded` (own if set, else from non course/chapter/sequential parents) and the
-- merged `visible_to_staff_only` (staff-only when every path crosses a staff-only block).
CREATE TEMP TABLE swalk AS
WITH RECURSIVE w(bid, key, inh_graded, eg, path_staff, depth) AS (
  SELECT r.bid, []::INTEGER[], coalesce(b.graded, false), NULL::BOOLEAN, b.own_staff, 0
  FROM root r JOIN blk b USING (bid)
  UNION ALL
  SELECT e.child, list_append(w.key, e.pos), coalesce(c.graded, w.inh_graded),
         CASE WHEN c.block_type IN ('course', 'chapter', 'sequential') THEN NULL
              ELSE coalesce(c.graded, w.eg) END,
         w.path_staff OR c.own_staff, w.depth + 1
  FROM w JOIN edge e ON e.parent = w.bid JOIN blk c ON c.bid = e.child
  WHERE w.depth < 64)
SELECT * FROM w;

CREATE TEMP TABLE sblock AS
SELECT bid,
       arg_min(inh_graded, key) AS graded,
       CASE WHEN bool_or(eg) THEN true WHEN bool_or(NOT eg) THEN false END AS explicit_graded,
       bool_and(path_staff) AS staff_only
FROM swalk GROUP BY bid;

-- Subsections of the collected structure (children of the chapters), in course order: the
-- report's grading context and the orphan test of the diff.
CREATE TEMP TABLE csub AS
SELECT b.course_id, s.bid, min(s.key) AS key, b.usage_key, coalesce(b.display_name, '') AS display_name,
       coalesce(b.format, '') AS format, any_value(sb.graded) AS graded, any_value(sb.staff_only) AS staff_only
FROM swalk s JOIN blk b USING (bid) JOIN sblock sb USING (bid)
WHERE s.depth = 2
GROUP BY ALL;

-- User partitions: the course's (all, for the report's experiment columns) and the active
-- ones plus the enrollment track (id 50) that group access uses.
CREATE TEMP TABLE upart AS
WITH p AS (
  SELECT course_id,
         unnest(from_json(user_partitions, '[{"id": "BIGINT", "name": "VARCHAR", "scheme": "VARCHAR", "active": "BOOLEAN",
                                               "groups": [{"id": "BIGINT", "name": "VARCHAR"}]}]')) AS p
  FROM pol WHERE nullif(trim(user_partitions), '') IS NOT NULL)
SELECT course_id, p.id AS pid, coalesce(p."name", '') AS "name", coalesce(p.scheme, '') AS scheme,
       coalesce(p.active, true) AS active, p.groups AS groups
FROM p;

CREATE TEMP TABLE part AS
SELECT course_id, pid, scheme FROM upart WHERE active
UNION ALL
SELECT course_id, 50, 'enrollment_track' FROM pol
WHERE course_id NOT IN (SELECT course_id FROM upart WHERE active AND pid = 50);

-- Own group access of each block, for active partitions, non-empty group lists only.
CREATE TEMP TABLE acc AS
WITH a AS (
  SELECT course_id, bid, unnest(map_entries(CAST(group_access::JSON AS MAP(VARCHAR, BIGINT[])))) AS e
  FROM blk WHERE nullif(trim(group_access), '') IS NOT NULL)
SELECT a.course_id, a.bid, p.pid, a.e.value AS groups
FROM a JOIN part p ON p.course_id = a.course_id AND p.pid = TRY_CAST(trim(a.e.key) AS BIGINT)
WHERE len(a.e.value) > 0;

-- Partitions that restrict some block: a learner's structure depends on their groups there.
CREATE TEMP TABLE rpart AS
SELECT DISTINCT a.course_id, a.pid, p.scheme
FROM acc a JOIN part p USING (course_id, pid);

-- @step learners
CREATE TEMP TABLE enr AS
SELECT v.cid, e.course_id, e.user_id, any_value(e.mode) AS mode, coalesce(any_value(e.is_active), false) AS is_active
FROM i_enrollments e JOIN ver v USING (course_id)
GROUP BY ALL;

CREATE TEMP TABLE coh AS
SELECT course_id, user_id, last(cohort_name) AS cohort_name, last(partition_id) AS partition_id,
       last(group_id) AS group_id
FROM i_cohort_memberships GROUP BY ALL;

CREATE TEMP TABLE pgrp AS
SELECT course_id, user_id, partition_id, last(group_id) AS group_id
FROM i_partition_groups GROUP BY ALL;

-- A learner's group in each restricting partition, by scheme: the cohort's content group,
-- the enrollment track of an active enrollment (a mode the course does not offer counts as
-- audit), or the stored assignment (split tests and other schemes).
CREATE TEMP TABLE lgroup AS
WITH track(slug, gid) AS (VALUES ('audit', 1), ('verified', 2), ('professional', 3), ('no-id-professional', 4),
    ('credit', 5), ('honor', 6), ('masters', 7), ('executive-education', 8), ('unpaid-executive-education', 9),
    ('paid-executive-education', 10), ('unpaid-bootcamp', 11), ('paid-bootcamp', 12)),
m AS (
  SELECT e.*, CASE WHEN e.mode = 'credit' THEN 'verified' ELSE e.mode END AS mode2, pol.course_modes
  FROM enr e JOIN pol USING (course_id))
SELECT m.course_id, m.user_id, r.pid,
       CASE WHEN r.scheme = 'cohort' THEN CASE WHEN c.partition_id = r.pid THEN c.group_id END
            WHEN r.scheme = 'enrollment_track' AND r.pid = 50 THEN
                 CASE WHEN m.is_active THEN t.gid END
            ELSE g.group_id END AS gid
FROM m JOIN rpart r USING (course_id)
LEFT JOIN coh c ON c.course_id = m.course_id AND c.user_id = m.user_id
LEFT JOIN pgrp g ON g.course_id = m.course_id AND g.user_id = m.user_id AND g.partition_id = r.pid
LEFT JOIN track t ON t.slug = CASE WHEN list_contains(coalesce(m.course_modes, []), m.mode2)
                                     OR (m.mode2 = 'verified' AND list_contains(coalesce(m.course_modes, []), 'credit'))
                                   THEN m.mode2 ELSE 'audit' END;

-- Learners with the same groups see the same structure: one "view" per distinct key.
CREATE TEMP TABLE lkey AS
SELECT e.cid, e.course_id, e.user_id, coalesce(k.vkey, '') AS vkey
FROM enr e LEFT JOIN (
  SELECT course_id, user_id, string_agg(pid::VARCHAR || '=' || coalesce(gid::VARCHAR, '-'), ',' ORDER BY pid) AS vkey
  FROM lgroup GROUP BY ALL) k USING (course_id, user_id);

CREATE TEMP TABLE views AS
SELECT (row_number() OVER (ORDER BY course_id, vkey))::INTEGER AS view_id, course_id, vkey
FROM (SELECT DISTINCT course_id, vkey FROM lkey);

CREATE TEMP TABLE lview AS
SELECT l.cid, l.course_id, l.user_id, v.view_id FROM lkey l JOIN views v USING (course_id, vkey);

CREATE TEMP TABLE vgroup AS
SELECT DISTINCT v.view_id, g.pid, g.gid
FROM (SELECT view_id, any_value(course_id) AS course_id, any_value(user_id) AS user_id FROM lview GROUP BY view_id) v
JOIN lgroup g USING (course_id, user_id);

-- @step views
-- Blocks whose own settings let a view's learners see them: released (now > start; the
-- root falls back to the course start, then 2030-01-01), not staff-only, and group access
-- met. A block is in a learner's structure when some root path has only such blocks (that
-- is what edX's merged start / staff-only / group access and its removal of unreachable
-- blocks amount to).
CREATE TEMP TABLE vblock AS
WITH denied AS (
  SELECT DISTINCT v.view_id, a.bid
  FROM views v JOIN acc a USING (course_id)
  LEFT JOIN vgroup g ON g.view_id = v.view_id AND g.pid = a.pid
  WHERE g.gid IS NULL OR NOT list_contains(a.groups, g.gid)),
ok AS (
  SELECT b.bid, b.course_id FROM blk b JOIN pol USING (course_id)
  WHERE NOT b.own_staff
    AND CASE WHEN b.block_type = 'course'
             THEN ${AS_OF} > coalesce(b.start, pol.course_start, '2030-01-01 00:00:00+00'::TIMESTAMPTZ)
             ELSE b.start IS NULL OR ${AS_OF} > b.start END)
SELECT v.view_id, ok.bid
FROM views v JOIN ok USING (course_id)
ANTI JOIN denied d ON d.view_id = v.view_id AND d.bid = ok.bid;

-- Walk each view's structure from the root. split_test blocks are dissolved as edX's
-- transformer does: their children move to the end of the parent's child list (in queue
-- order). `key` orders blocks as a depth-first walk of the learner's structure: one
-- fixed-width segment per step, '0'+pos for a direct child, '<level>'+positions for a
-- child lifted out of split tests. `sub` is the depth-2 block (subsection) above a block and
-- `rel` its key below that subsection.
CREATE TEMP TABLE vwalk AS
WITH RECURSIVE w(view_id, bid, is_split, depth, key, lvl, pend, sub, rel) AS (
  SELECT vb.view_id, r.bid, false, 0, '', 0, '', NULL::INTEGER, ''
  FROM root r JOIN vblock vb USING (bid)
  UNION ALL
  SELECT w.view_id, c.bid, c.is_split,
         CASE WHEN c.is_split THEN w.depth ELSE w.depth + 1 END,
         CASE WHEN c.is_split THEN w.key ELSE w.key || w.lvl::VARCHAR || w.pend || lpad(e.pos::VARCHAR, 5, '0') END,
         CASE WHEN c.is_split THEN w.lvl + 1 ELSE 0 END,
         CASE WHEN c.is_split THEN w.pend || lpad(e.pos::VARCHAR, 5, '0') ELSE '' END,
         CASE WHEN c.is_split THEN w.sub WHEN w.depth + 1 = 2 THEN c.bid ELSE w.sub END,
         CASE WHEN c.is_split THEN w.rel
              WHEN w.depth + 1 <= 2 THEN ''
              ELSE w.rel || w.lvl::VARCHAR || w.pend || lpad(e.pos::VARCHAR, 5, '0') END
  FROM w JOIN edge e ON e.parent = w.bid
  JOIN blk c ON c.bid = e.child
  JOIN vblock vb ON vb.view_id = w.view_id AND vb.bid = e.child
  WHERE w.depth < 64)
SELECT view_id, bid, depth, key, sub, rel FROM w WHERE NOT is_split;

-- The subsections of each view in course order (each once, at its first occurrence).
CREATE TEMP TABLE vsub AS
SELECT view_id, bid AS sub, (row_number() OVER (PARTITION BY view_id ORDER BY min(key)))::INTEGER AS sub_ord
FROM vwalk WHERE depth = 2 GROUP BY view_id, bid;

-- The scorable blocks of each view's subsections, in edX's post-order (first visit; a block
-- below several paths of one subsection counts once, a block under several subsections
-- counts in each).
CREATE TEMP TABLE vprob AS
SELECT w.view_id, w.sub, w.bid,
       (row_number() OVER (PARTITION BY w.view_id, w.sub ORDER BY min(w.rel || '~')))::INTEGER AS ord
FROM vwalk w JOIN blk b USING (bid)
WHERE b.has_score AND w.depth >= 2
GROUP BY w.view_id, w.sub, w.bid;

-- What the content says about each scorable block.
CREATE TEMP TABLE pc AS
SELECT b.bid, b.cid, b.course_id, b.usage_key, b.weight, b.max_score, coalesce(sb.explicit_graded, true) AS explicit_graded
FROM blk b LEFT JOIN sblock sb USING (bid) WHERE b.has_score;

-- @step scores
CREATE OR REPLACE TEMP MACRO w_earned(e, p, w) AS
  CASE WHEN p IS NULL THEN NULL WHEN w IS NULL OR p = 0 THEN e ELSE e * w / p END;
CREATE OR REPLACE TEMP MACRO w_possible(p, w) AS
  CASE WHEN p IS NULL THEN NULL WHEN w IS NULL OR p = 0 THEN p ELSE w END;
-- A multiple of 2^-16 below 2^24: sums of up to 8192 such values are exact in any order.
CREATE OR REPLACE TEMP MACRO dyadic(x) AS
  x IS NULL OR (x * 65536.0::DOUBLE = round(x * 65536.0::DOUBLE) AND abs(x) < 16777216.0::DOUBLE);
-- compute_percent: rounded half-even to 4 decimals.
CREATE OR REPLACE TEMP MACRO pct4(e, p) AS
  CASE WHEN p > 0 THEN round_even(e / p * 10000.0::DOUBLE, 0) / 10000.0::DOUBLE ELSE 0.0 END;
-- One record of edX's visible-blocks JSON.
CREATE OR REPLACE TEMP MACRO vb_record(graded, locator, raw_possible, weight) AS
  '{"graded":' || CASE WHEN graded THEN 'true' ELSE 'false' END || ',"locator":' || to_json(locator)::VARCHAR
  || ',"raw_possible":' || coalesce(raw_possible::VARCHAR, 'null') || ',"weight":' || coalesce(weight::VARCHAR, 'null') || '}';
CREATE OR REPLACE TEMP MACRO vb_hash(records, course_id) AS
  to_base64(unhex(sha1('{"blocks":[' || coalesce(records, '') || '],"course_key":' || to_json(course_id)::VARCHAR
                       || ',"version":1}')));

-- The latest submissions score per (learner, block), by (created_at, id); a hidden latest
-- score (points_possible = 0, a reset) leaves the block to studentmodule.
CREATE TEMP TABLE subm AS
SELECT user_id, bid, cid, latest.e AS points_earned, latest.p AS points_possible, latest.t AS created_at
FROM (
  SELECT s.user_id, b.bid, any_value(b.cid) AS cid,
         arg_max({'e': s.points_earned, 'p': s.points_possible, 't': s.created_at}, (s.created_at, s.id)) AS latest
  FROM i_submissions s JOIN pc b ON b.course_id = s.course_id AND b.usage_key = s.usage_key
  GROUP BY s.user_id, b.bid)
WHERE latest.p <> 0;

-- The record a problem score leaves in the visible blocks ("variant", vcode): 1 = no score row
-- (the content's max_score), 2 / 3 = a submissions score with possible > 0 / <= 0, 4.. = a
-- studentmodule row with a given max_grade.
CREATE TEMP TABLE variant_m AS
SELECT bid, max_grade, (3 + row_number() OVER (PARTITION BY bid ORDER BY max_grade))::INTEGER AS vcode
FROM (SELECT DISTINCT pc.bid, s.max_grade
      FROM i_studentmodule s JOIN pc ON pc.course_id = s.course_id AND pc.usage_key = s.module_state_key
      WHERE s.max_grade IS NOT NULL);

CREATE TEMP TABLE variant AS
SELECT bid, 1 AS vcode, max_score AS raw_possible, w_possible(max_score, weight) AS possible,
       coalesce(w_possible(max_score, weight) > 0 AND explicit_graded, false) AS graded,
       max_score IS NULL AS dropped
FROM pc
UNION ALL SELECT bid, 2, NULL, NULL, explicit_graded, false FROM pc
UNION ALL SELECT bid, 3, NULL, NULL, false, false FROM pc
UNION ALL
SELECT m.bid, m.vcode, m.max_grade, w_possible(m.max_grade, pc.weight),
       w_possible(m.max_grade, pc.weight) > 0 AND pc.explicit_graded, false
FROM variant_m m JOIN pc USING (bid);

-- Each view's problem positions with the content's score. A learner's record list is
-- encoded as sum(vcode << bits * (ord - 1)) (exact integer arithmetic, so order-free);
-- subsections with too many problems for 126 bits ("wide") are hashed per learner instead.
CREATE TEMP TABLE vcontent AS
WITH b AS (SELECT greatest(1, ceil(log2(max(vcode) + 1)))::INTEGER AS bits FROM variant),
c AS (
  SELECT vp.view_id, vp.sub, vp.ord, vp.bid, v.possible AS c_p, v.graded AS c_g, v.dropped,
         count(*) OVER (PARTITION BY vp.view_id, vp.sub) AS n, b.bits
  FROM vprob vp JOIN variant v ON v.bid = vp.bid AND v.vcode = 1 CROSS JOIN b)
SELECT *, CASE WHEN n * bits <= 126 THEN bits * (ord - 1) END AS shift,
       -- one integer key for (view, block): with two join keys DuckDB would build the hash
       -- table on the learners x problems side
       (view_id::BIGINT << 32) + bid AS vb
FROM c;

CREATE TEMP TABLE vstatic AS
SELECT c.view_id, c.sub, any_value(c.n) * any_value(c.bits) > 126 AS wide,
       -- edX's left-to-right sums of an unattempted subsection
       coalesce(list_sum(list(c.c_p ORDER BY c.ord)), 0.0) AS c_pa,
       coalesce(list_sum(list(CASE WHEN c.c_g THEN c.c_p END ORDER BY c.ord)), 0.0) AS c_pg,
       bool_and(dyadic(c.c_p)) AS c_safe,
       coalesce(sum(1::HUGEINT << c.shift), 0) AS c_sig,
       vb_hash(string_agg(vb_record(c.c_g, pc.usage_key, pc.max_score, pc.weight), ',' ORDER BY c.ord)
                 FILTER (WHERE NOT c.dropped), any_value(pc.course_id)) AS c_hash
FROM vcontent c JOIN pc USING (bid)
GROUP BY c.view_id, c.sub;

-- Every score row (submissions first, else studentmodule with a max_grade) placed in the
-- learner's structure: (learner, subsection, position), weighted as get_score does.
CREATE TEMP TABLE att AS
WITH smr AS (
  SELECT s.student_id AS user_id, pc.bid, pc.cid, pc.weight, pc.explicit_graded, s.grade, s.max_grade, s.created
  FROM i_studentmodule s JOIN pc ON pc.course_id = s.course_id AND pc.usage_key = s.module_state_key
  WHERE s.max_grade IS NOT NULL),
r AS (
  SELECT sb.user_id, sb.bid, sb.cid, sb.points_earned AS e_w, sb.points_possible AS p_w, sb.created_at AS fa,
         sb.points_possible > 0 AND pc.explicit_graded AS graded,
         CASE WHEN sb.points_possible > 0 THEN 2 ELSE 3 END AS vcode
  FROM subm sb JOIN pc USING (bid)
  UNION ALL
  SELECT smr.user_id, smr.bid, smr.cid, w_earned(coalesce(smr.grade, 0.0), smr.max_grade, smr.weight),
         w_possible(smr.max_grade, smr.weight), CASE WHEN smr.grade IS NOT NULL THEN smr.created END,
         w_possible(smr.max_grade, smr.weight) > 0 AND smr.explicit_graded, vm.vcode
  FROM smr JOIN variant_m vm ON vm.bid = smr.bid AND vm.max_grade = smr.max_grade
  ANTI JOIN subm sb ON sb.user_id = smr.user_id AND sb.bid = smr.bid)
SELECT lv.user_id, lv.view_id, vc.sub, vc.ord, vc.shift, r.bid, r.e_w, r.p_w, r.fa, r.graded, r.vcode, vc.c_p, vc.c_g
FROM r JOIN lview lv ON lv.cid = r.cid AND lv.user_id = r.user_id
JOIN vcontent vc ON vc.vb = (lv.view_id::BIGINT << 32) + r.bid;

-- Per (learner, subsection) with score rows: the totals as sums over the rows, on top of the
-- unattempted subsection's (a row replaces its position's content score). Exact, whatever the
-- order, when every value is dyadic; other groups are recomputed in problem order below.
CREATE TEMP TABLE agg AS
SELECT user_id, sub, any_value(view_id) AS view_id,
       sum(e_w) AS ea,
       sum(CASE WHEN graded THEN e_w END) AS eg,
       sum(p_w - coalesce(c_p, 0.0)) AS d_pa,
       sum(CASE WHEN graded THEN p_w ELSE 0.0 END - CASE WHEN c_g THEN c_p ELSE 0.0 END) AS d_pg,
       min(fa) AS fa_all,
       min(CASE WHEN graded THEN fa END) AS fa_graded,
       sum((vcode - 1)::HUGEINT << shift) AS d_sig,
       bool_or(NOT (dyadic(e_w) AND dyadic(p_w))) AS unsafe
FROM att GROUP BY user_id, sub;

-- The rest: edX's left-to-right sums over every position, in problem order.
CREATE TEMP TABLE fb AS
SELECT a.user_id, a.sub, a.view_id, st.wide, (a.user_id::HUGEINT << 32) + a.sub AS us
FROM agg a JOIN vstatic st USING (view_id, sub)
WHERE a.unsafe OR NOT st.c_safe OR st.wide;

CREATE TEMP TABLE fbitem AS
WITH a AS (SELECT (user_id::HUGEINT << 32) + sub AS us, * FROM att WHERE (user_id::HUGEINT << 32) + sub IN (SELECT us FROM fb))
SELECT f.user_id, f.sub, f.view_id, f.wide, vc.ord, vc.bid,
       CASE WHEN a.user_id IS NOT NULL THEN a.e_w WHEN NOT vc.dropped THEN w_earned(0.0, pc.max_score, pc.weight) END AS e,
       CASE WHEN a.user_id IS NOT NULL THEN a.p_w ELSE vc.c_p END AS p,
       CASE WHEN a.user_id IS NOT NULL THEN a.graded ELSE vc.c_g END AS g,
       coalesce(a.vcode, 1) AS vcode
FROM fb f JOIN vcontent vc USING (view_id, sub) JOIN pc ON pc.bid = vc.bid
LEFT JOIN a ON a.us = f.us AND a.ord = vc.ord;

CREATE TEMP TABLE fbres AS
WITH l AS (SELECT user_id, sub, list_sort(list({'o': ord, 'e': e, 'p': p, 'g': g})) AS l FROM fbitem GROUP BY user_id, sub),
-- wide subsections: the visible-blocks hash of each learner's records
h AS (
  SELECT i.user_id, i.sub,
         vb_hash(string_agg(vb_record(v.graded, pc.usage_key, v.raw_possible, pc.weight), ',' ORDER BY i.ord)
                   FILTER (WHERE NOT v.dropped), any_value(pc.course_id)) AS hash
  FROM fbitem i JOIN variant v USING (bid, vcode) JOIN pc USING (bid)
  WHERE i.wide
  GROUP BY i.user_id, i.sub)
SELECT l.user_id, l.sub, h.hash,
       coalesce(list_sum(list_transform(l, lambda x: x.e)), 0.0) AS ea,
       coalesce(list_sum(list_transform(l, lambda x: x.p)), 0.0) AS pa,
       coalesce(list_sum(list_transform(l, lambda x: CASE WHEN x.g THEN x.e END)), 0.0) AS eg,
       coalesce(list_sum(list_transform(l, lambda x: CASE WHEN x.g THEN x.p END)), 0.0) AS pg
FROM l LEFT JOIN h USING (user_id, sub);

DROP TABLE fbitem;
DROP TABLE att;

-- @step subsections
-- Every subsection of every enrolled learner's structure (recompute writes them all).
CREATE TEMP TABLE sgrade AS
SELECT lv.cid, lv.user_id, lv.view_id, vs.sub, vs.sub_ord,
       CASE WHEN f.user_id IS NOT NULL THEN f.ea WHEN a.user_id IS NOT NULL THEN a.ea ELSE 0.0 END AS earned_all,
       CASE WHEN f.user_id IS NOT NULL THEN f.pa WHEN a.user_id IS NOT NULL THEN coalesce(st.c_pa, 0.0) + a.d_pa
            ELSE coalesce(st.c_pa, 0.0) END AS possible_all,
       CASE WHEN f.user_id IS NOT NULL THEN f.eg ELSE coalesce(a.eg, 0.0) END AS earned_graded,
       CASE WHEN f.user_id IS NOT NULL THEN f.pg WHEN a.user_id IS NOT NULL THEN coalesce(st.c_pg, 0.0) + a.d_pg
            ELSE coalesce(st.c_pg, 0.0) END AS possible_graded,
       a.fa_all, a.fa_graded,
       CASE WHEN a.user_id IS NULL THEN coalesce(st.c_hash, vb_hash(NULL, lv.course_id)) ELSE f.hash END AS hash,
       CASE WHEN a.user_id IS NOT NULL AND NOT st.wide THEN st.c_sig + a.d_sig END AS sig
FROM lview lv JOIN vsub vs USING (view_id)
LEFT JOIN vstatic st USING (view_id, sub)
LEFT JOIN agg a ON a.user_id = lv.user_id AND a.sub = vs.sub
LEFT JOIN fbres f ON f.user_id = lv.user_id AND f.sub = vs.sub;

-- visible_blocks_hash of the record lists learners actually have, each computed once.
CREATE TEMP TABLE vbhash AS
WITH d AS (SELECT DISTINCT view_id, sub, sig FROM sgrade WHERE sig IS NOT NULL),
pos AS (SELECT d.*, vc.ord, vc.bid, ((d.sig >> vc.shift) & ((1::HUGEINT << vc.bits) - 1))::INTEGER AS vcode
        FROM d JOIN vcontent vc USING (view_id, sub))
SELECT pos.view_id, pos.sub, pos.sig,
       vb_hash(string_agg(vb_record(v.graded, pc.usage_key, v.raw_possible, pc.weight), ',' ORDER BY pos.ord)
                 FILTER (WHERE NOT v.dropped), any_value(pc.course_id)) AS hash
FROM pos JOIN variant v USING (bid, vcode) JOIN pc USING (bid)
GROUP BY pos.view_id, pos.sub, pos.sig;

-- Persisted subsection rows of graded-version blocks, with their override.
CREATE TEMP TABLE ovr AS
SELECT grade_id, last(earned_all_override) AS earned_all_override, last(possible_all_override) AS possible_all_override,
       last(earned_graded_override) AS earned_graded_override, last(possible_graded_override) AS possible_graded_override
FROM i_subsection_grade_overrides GROUP BY grade_id;

CREATE TEMP TABLE pss AS
SELECT p.user_id, b.bid, p.first_attempted, p.earned_graded, p.possible_graded, o.grade_id IS NOT NULL AS has_override,
       o.earned_all_override, o.possible_all_override, o.earned_graded_override, o.possible_graded_override
FROM i_persistent_subsection_grades p
JOIN blk b ON b.course_id = p.course_id AND b.usage_key = p.usage_key
LEFT JOIN ovr o ON o.grade_id = p.id;

-- The subsection_grades rows: overrides applied to the totals (edX applies them on read; the
-- course grade uses them), first_attempted set once (the persisted value wins), and the
-- written (not override-adjusted) values for the diff.
CREATE TEMP TABLE sub_out AS
SELECT g.cid, g.user_id, g.sub, g.sub_ord,
       CASE WHEN p.has_override THEN coalesce(p.earned_all_override, g.earned_all) ELSE g.earned_all END AS earned_all,
       CASE WHEN p.has_override THEN coalesce(p.possible_all_override, g.possible_all) ELSE g.possible_all END AS possible_all,
       CASE WHEN p.has_override THEN coalesce(p.earned_graded_override, g.earned_graded) ELSE g.earned_graded END AS earned_graded,
       CASE WHEN p.has_override THEN coalesce(p.possible_graded_override, g.possible_graded) ELSE g.possible_graded END AS possible_graded,
       coalesce(p.first_attempted, g.fa_all) AS first_attempted,
       -- An overridden row is re-read after the write: its stored (set-once) first_attempted.
       CASE WHEN p.has_override THEN coalesce(p.first_attempted, g.fa_all) IS NOT NULL
            ELSE g.fa_graded IS NOT NULL END AS attempted_graded,
       coalesce(g.hash, h.hash) AS visible_blocks_hash,
       coalesce(p.has_override, false) AS has_override,
       g.earned_all AS w_earned_all, g.possible_all AS w_possible_all,
       g.earned_graded AS w_earned_graded, g.possible_graded AS w_possible_graded
FROM sgrade g
LEFT JOIN pss p ON p.bid = g.sub AND p.user_id = g.user_id
LEFT JOIN vbhash h ON h.view_id = g.view_id AND h.sub = g.sub AND h.sig = g.sig;

DROP TABLE sgrade;
DROP TABLE agg;
DROP TABLE fbres;

-- @step course_grades
-- The grader: per assignment type, the graded subsections with a positive graded possible,
-- in course order, padded with zeros to min_count; the drop_count lowest dropped (stable
-- sort by percent descending: among ties the later ones go); the rest summed in order and
-- averaged; then weighted and summed in policy order.
CREATE TEMP TABLE fmt_total AS
WITH e AS (
  SELECT s.cid, s.user_id, coalesce(b.format, '') AS format, s.sub_ord, pct4(s.earned_graded, s.possible_graded) AS pct
  FROM sub_out s JOIN blk b ON b.bid = s.sub JOIN sblock sb ON sb.bid = s.sub
  WHERE sb.graded AND s.possible_graded > 0),
r AS (
  SELECT *, row_number() OVER w AS rk, count(*) OVER (PARTITION BY cid, user_id, format) AS n_real
  FROM e WINDOW w AS (PARTITION BY cid, user_id, format ORDER BY pct DESC, sub_ord))
SELECT r.cid, r.user_id, g.gidx,
       greatest(g.min_count, any_value(r.n_real)) AS n,
       -- the real entries left once the lowest (drop_count - padding zeros) are dropped, summed in course order
       coalesce(sum(r.pct ORDER BY r.sub_ord) FILTER (
         WHERE r.rk <= r.n_real - greatest(g.drop_count - (greatest(g.min_count, r.n_real) - r.n_real), 0)), 0.0) AS kept_sum
FROM r JOIN ver v USING (cid) JOIN grader g ON g.course_id = v.course_id AND g.kind = r.format
GROUP BY r.cid, r.user_id, g.gidx, g.min_count, g.drop_count;

CREATE TEMP TABLE course_out AS
WITH per_grader AS (
  SELECT e.cid, e.user_id, g.gidx, g.weight,
         CASE WHEN coalesce(t.n, g.min_count) - g.drop_count <= 0 THEN 0.0
              ELSE coalesce(t.kept_sum, 0.0) / (coalesce(t.n, g.min_count) - g.drop_count)::DOUBLE END AS total
  FROM enr e JOIN grader g USING (course_id)
  LEFT JOIN fmt_total t ON t.cid = e.cid AND t.user_id = e.user_id AND t.gidx = g.gidx),
raw AS (
  SELECT e.cid, e.course_id, e.user_id,
         coalesce(list_sum(list(pg.total * pg.weight ORDER BY pg.gidx)), 0.0) AS raw_percent
  FROM enr e LEFT JOIN per_grader pg USING (cid, user_id)
  GROUP BY ALL),
pct AS (
  SELECT *, floor((raw_percent * 100.0::DOUBLE + 0.05::DOUBLE) + 0.5::DOUBLE) / 100.0::DOUBLE AS percent_grade FROM raw),
letter AS (
  SELECT p.cid, p.user_id, arg_max(c.letter, (c.cutoff, -c.cidx)) AS letter_grade
  FROM pct p JOIN cutoff c ON c.course_id = p.course_id AND p.percent_grade >= c.cutoff
  GROUP BY ALL),
pass AS (SELECT course_id, min(cutoff) FILTER (WHERE cutoff > 0) AS pass_cutoff FROM cutoff GROUP BY ALL)
SELECT p.cid, p.course_id, p.user_id, v.course_version, pol.grading_policy_hash, p.percent_grade, p.raw_percent,
       coalesce(l.letter_grade, '') AS letter_grade,
       coalesce(p.percent_grade >= ps.pass_cutoff, false) AS passed,
       CASE WHEN o.passed_timestamp IS NOT NULL THEN o.passed_timestamp
            WHEN coalesce(p.percent_grade >= ps.pass_cutoff, false) THEN ${AS_OF} END AS passed_timestamp
FROM pct p
JOIN ver v USING (cid)
JOIN pol ON pol.course_id = p.course_id
LEFT JOIN letter l USING (cid, user_id)
LEFT JOIN pass ps ON ps.course_id = p.course_id
LEFT JOIN (SELECT course_id, user_id, any_value(passed_timestamp) AS passed_timestamp
           FROM i_persistent_course_grades GROUP BY ALL) o ON o.course_id = p.course_id AND o.user_id = p.user_id;

DROP TABLE fmt_total;

-- @step diffs
-- Recomputed (as written: not override-adjusted) against persisted, by key; only the keys
-- that differ are kept (the unchanged ones are counted from the sizes of both sides).
CREATE TEMP TABLE sub_diff AS
WITH o AS (
  SELECT p.*, b.bid, b.bid IN (SELECT bid FROM csub) AS in_version
  FROM i_persistent_subsection_grades p SEMI JOIN ver USING (course_id)
  LEFT JOIN blk b ON b.course_id = p.course_id AND b.usage_key = p.usage_key),
n AS (SELECT s.*, v.course_version FROM sub_out s JOIN ver v USING (cid)),
j AS (
  SELECT n.cid AS n_cid, n.sub AS n_sub, o.course_id AS o_course_id, o.usage_key AS o_usage_key,
         coalesce(n.user_id, o.user_id) AS user_id,
         o.course_version AS old_course_version, n.course_version AS new_course_version,
         o.earned_all AS old_earned_all, n.w_earned_all AS new_earned_all,
         o.possible_all AS old_possible_all, n.w_possible_all AS new_possible_all,
         o.earned_graded AS old_earned_graded, n.w_earned_graded AS new_earned_graded,
         o.possible_graded AS old_possible_graded, n.w_possible_graded AS new_possible_graded,
         o.first_attempted AS old_first_attempted, n.first_attempted AS new_first_attempted,
         o.visible_blocks_hash AS old_visible_blocks_hash, n.visible_blocks_hash AS new_visible_blocks_hash,
         o.user_id IS NULL AS is_new, n.user_id IS NULL AS is_old_only, coalesce(o.in_version, false) AS in_version
  FROM n FULL OUTER JOIN o ON n.user_id = o.user_id AND n.sub = o.bid
  -- written: new, orphaned (persisted, not in the graded version) and changed keys
  WHERE o.user_id IS NULL
     OR (n.user_id IS NULL AND NOT coalesce(o.in_version, false))
     OR (n.user_id IS NOT NULL AND (
            o.earned_all IS DISTINCT FROM n.w_earned_all OR o.possible_all IS DISTINCT FROM n.w_possible_all
         OR o.earned_graded IS DISTINCT FROM n.w_earned_graded OR o.possible_graded IS DISTINCT FROM n.w_possible_graded
         OR o.first_attempted IS DISTINCT FROM n.first_attempted
         OR o.visible_blocks_hash IS DISTINCT FROM n.visible_blocks_hash
         OR o.course_version IS DISTINCT FROM n.course_version)))
SELECT coalesce(v.course_id, j.o_course_id) AS course_id, j.user_id, coalesce(b.usage_key, j.o_usage_key) AS usage_key,
       j.* EXCLUDE (n_cid, n_sub, o_course_id, o_usage_key, user_id, is_new, is_old_only, in_version),
       CASE WHEN j.is_new THEN 'new' WHEN j.is_old_only THEN 'orphaned' ELSE 'changed' END AS change
FROM j LEFT JOIN ver v ON v.cid = j.n_cid LEFT JOIN blk b ON b.bid = j.n_sub;

CREATE TEMP TABLE course_diff AS
WITH o AS (
  SELECT course_id, user_id, course_version, percent_grade, letter_grade, letter_grade <> '' AS passed
  FROM i_persistent_course_grades SEMI JOIN ver USING (course_id)),
n AS (SELECT course_id, user_id, course_version, percent_grade, letter_grade, letter_grade <> '' AS passed FROM course_out)
SELECT coalesce(n.course_id, o.course_id) AS course_id, coalesce(n.user_id, o.user_id) AS user_id,
       o.course_version AS old_course_version, n.course_version AS new_course_version,
       o.percent_grade AS old_percent_grade, n.percent_grade AS new_percent_grade,
       o.letter_grade AS old_letter_grade, n.letter_grade AS new_letter_grade,
       o.passed AS old_passed, n.passed AS new_passed,
       CASE WHEN o.user_id IS NULL THEN 'new'
            WHEN n.user_id IS NULL THEN 'orphaned'
            WHEN NOT o.passed AND n.passed THEN 'now_passing'
            WHEN o.passed AND NOT n.passed THEN 'now_failing'
            WHEN o.letter_grade IS DISTINCT FROM n.letter_grade THEN 'letter_changed'
            WHEN o.percent_grade IS DISTINCT FROM n.percent_grade OR o.course_version IS DISTINCT FROM n.course_version
            THEN 'changed'
            ELSE 'unchanged' END AS change
FROM n FULL OUTER JOIN o ON n.course_id = o.course_id AND n.user_id = o.user_id;

-- @step write_tables
COPY (
  SELECT v.course_id, s.user_id, b.usage_key, v.course_version, s.earned_all, s.possible_all, s.earned_graded,
         s.possible_graded, pct4(s.earned_graded, s.possible_graded) AS percent_graded, s.first_attempted,
         s.attempted_graded, s.visible_blocks_hash, CASE WHEN s.has_override THEN 'override' ELSE 'recomputed' END AS source
  FROM sub_out s JOIN ver v USING (cid) JOIN blk b ON b.bid = s.sub
) TO '${OUT}/subsection_grades' (FORMAT parquet, PARTITION_BY (course_id), WRITE_PARTITION_COLUMNS true);

COPY (
  SELECT course_id, user_id, course_version, grading_policy_hash, percent_grade, raw_percent, letter_grade, passed,
         passed_timestamp
  FROM course_out
) TO '${OUT}/course_grades' (FORMAT parquet, PARTITION_BY (course_id), WRITE_PARTITION_COLUMNS true);

COPY (SELECT * FROM sub_diff)
TO '${OUT}/diffs/subsection_diffs' (FORMAT parquet, PARTITION_BY (course_id), WRITE_PARTITION_COLUMNS true);

COPY (SELECT * FROM course_diff WHERE change <> 'unchanged')
TO '${OUT}/diffs/course_grade_diffs' (FORMAT parquet, PARTITION_BY (course_id), WRITE_PARTITION_COLUMNS true);

-- @step report_cells
-- The course grade report's assignment columns (edX's grading context): every graded,
-- not staff-only subsection of the collected structure, grouped by format in order of first
-- appearance; one column per subsection plus "(Avg)" when a format has several.
CREATE TEMP TABLE rctx AS
WITH c AS (
  SELECT course_id, bid, key, display_name, format,
         min(key) OVER (PARTITION BY course_id, format) AS type_key,
         (row_number() OVER (PARTITION BY course_id, format ORDER BY key))::INTEGER AS k,
         count(*) OVER (PARTITION BY course_id, format) AS n_in_type
  FROM csub WHERE graded AND NOT staff_only),
t AS (
  SELECT c.*, dense_rank() OVER (PARTITION BY c.course_id ORDER BY c.type_key)::INTEGER AS type_ord, g.drop_count
  FROM c LEFT JOIN (SELECT course_id, category, arg_max(drop_count, gidx) AS drop_count FROM grader GROUP BY ALL) g
    ON g.course_id = c.course_id AND g.category = c.format)
-- j: the column's index among the subsection columns of the course
SELECT t.*, v.cid, (row_number() OVER (PARTITION BY t.course_id ORDER BY t.type_ord, t.k))::INTEGER AS j
FROM t JOIN ver v USING (course_id);

-- A cell reads the learner's stored row after the run: this run's row, else a persisted row
-- (of a subsection outside the learner's structure), else nothing ("Not Attempted").
CREATE TEMP TABLE rcell AS
WITH vmiss AS (
  SELECT v.view_id, c.bid FROM views v JOIN rctx c USING (course_id)
  ANTI JOIN vsub vs ON vs.view_id = v.view_id AND vs.sub = c.bid)
SELECT s.cid, s.user_id, s.sub AS bid, pct4(s.earned_graded, s.possible_graded) AS pct,
       s.first_attempted IS NOT NULL OR s.has_override AS shown
FROM sub_out s SEMI JOIN rctx c ON c.bid = s.sub
UNION ALL
SELECT lv.cid, lv.user_id, m.bid,
       CASE WHEN p.user_id IS NULL THEN 0.0
            ELSE pct4(coalesce(p.earned_graded_override, p.earned_graded), coalesce(p.possible_graded_override, p.possible_graded)) END,
       coalesce(p.first_attempted IS NOT NULL OR p.has_override, false)
FROM lview lv JOIN vmiss m USING (view_id)
LEFT JOIN pss p ON p.user_id = lv.user_id AND p.bid = m.bid;

-- Each learner's cells in column order (percent, and whether the cell shows it or says
-- "Not Attempted"); the driver's per-course COPY picks them by index.
CREATE TEMP TABLE rrow AS
SELECT r.cid, r.user_id, list_sort(list({'j': c.j, 'p': r.pct, 's': r.shown})) AS l
FROM rcell r JOIN rctx c USING (bid)
GROUP BY r.cid, r.user_id;

-- "(Avg)" of a format with several columns: total_with_drops over the column percents (not
-- padded): the lowest drop_count dropped (ties: the later columns), the rest summed in column
-- order, divided by (n - drop_count); the int 0 when everything is dropped.
CREATE TEMP TABLE ravg AS
WITH e AS (
  SELECT r.cid, r.user_id, c.type_ord, c.k, r.pct, c.n_in_type AS n, c.drop_count,
         row_number() OVER (PARTITION BY r.cid, r.user_id, c.type_ord ORDER BY r.pct DESC, c.k) AS rk
  FROM rcell r JOIN rctx c USING (bid)
  WHERE c.n_in_type > 1 AND c.drop_count IS NOT NULL)
SELECT cid, user_id, type_ord,
       CASE WHEN n - drop_count <= 0 THEN '0'
            ELSE (coalesce(sum(pct ORDER BY k) FILTER (WHERE rk <= n - greatest(drop_count, 0)), 0.0)
                  / (n - drop_count)::DOUBLE)::VARCHAR END AS avg
FROM e GROUP BY cid, user_id, type_ord, n, drop_count;

DROP TABLE rcell;
