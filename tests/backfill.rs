//! `regrade backfill` end to end on a hand-built course, with every expected row and count
//! worked out by hand: which learners miss rows, what edX's forced compute writes for them,
//! which visible-block lists are new, and what the missing rows cost each learner: a wrong
//! grade today (from Olive on), or what turning `grades.assume_zero_grade_if_absent` on would
//! do (before Olive).

#[allow(unused_macros)]
#[macro_use]
mod run_support;

use std::collections::BTreeMap;

use run_support::*;

const POLICY: &str = r#"{"GRADER": [{"type": "Homework", "min_count": 2, "drop_count": 0, "short_label": "HW", "weight": 1.0}], "GRADE_CUTOFFS": {"Très bien 🎓": 0.9, "Pass": 0.5}}"#;
const T1: i64 = COURSE_START + 2 * DAY;
const T2: i64 = COURSE_START + 3 * DAY;
const EDITED: i64 = COURSE_START - DAY;
const TOP: &str = "Très bien 🎓";

/// Two homework subsections (1 and 2 points) and an ungraded one with a unicode id (its
/// problem still scores as graded: `explicit_graded` None counts as True, spec §2.1).
fn course() -> Course {
    let mut c = Course::new("course-v1:Org+Bf+2026", POLICY);
    c.root(&["ch"]);
    c.chapter("ch", &["s1", "s2", "s3-ü"]);
    c.seq("s1", "One", "Homework", &["v1"]);
    c.seq("s2", "Two", "Homework", &["v2"]);
    c.add("sequential", "s3-ü", "Drei", &["v3"]);
    c.vertical("v1", &["p1"]);
    c.vertical("v2", &["p2"]);
    c.vertical("v3", &["p3"]);
    c.problem("p1", "P1", 1.0);
    c.problem("p2", "P2", 2.0);
    c.problem("p3", "P3", 1.0);
    c
}

fn rec(block: &str, raw_possible: f64, graded: bool) -> Record<'_> {
    Record { block, weight: None, raw_possible: Some(raw_possible), graded }
}

/// u1 complete; u2 nothing persisted (p1 solved); u3 course row and s1, s3 rows but no s2 row
/// (p2 solved); u4 inactive audit learner with nothing at all; u5 not enrolled.
fn dataset(c: &Course) -> Dataset {
    let mut ds = Dataset::default();
    c.write_to(&mut ds);
    users(&mut ds, &[1, 2, 3, 4, 5]);
    for u in [1, 2, 3] {
        enroll(&mut ds, &c.id, u, "honor", true);
    }
    enroll(&mut ds, &c.id, 4, "audit", false);
    csm(&mut ds, c, 1, "p1", Some(1.0), 1.0, T1);
    csm(&mut ds, c, 1, "p2", Some(2.0), 2.0, T1);
    csm(&mut ds, c, 2, "p1", Some(1.0), 1.0, T1);
    csm(&mut ds, c, 3, "p1", Some(1.0), 1.0, T1);
    csm(&mut ds, c, 3, "p2", Some(2.0), 2.0, T2);
    let row = |id, user, subsection, values, first, records| SubsectionRow {
        id,
        user,
        subsection,
        values,
        first_attempted: first,
        records,
    };
    persisted_subsection(
        &mut ds,
        c,
        row(1, 1, "s1", [1.0, 1.0, 1.0, 1.0], Some(T1), vec![rec("p1", 1.0, true)]),
    );
    // u1's s2 row was computed when p2 was worth 1 point: its visible blocks differ from today's.
    persisted_subsection(
        &mut ds,
        c,
        row(2, 1, "s2", [1.0, 1.0, 1.0, 1.0], Some(T1), vec![rec("p2", 1.0, true)]),
    );
    persisted_subsection(
        &mut ds,
        c,
        row(3, 1, "s3-ü", [0.0, 1.0, 0.0, 1.0], None, vec![rec("p3", 1.0, true)]),
    );
    persisted_subsection(
        &mut ds,
        c,
        row(4, 3, "s1", [1.0, 1.0, 1.0, 1.0], Some(T1), vec![rec("p1", 1.0, true)]),
    );
    persisted_subsection(
        &mut ds,
        c,
        row(5, 3, "s3-ü", [0.0, 1.0, 0.0, 1.0], None, vec![rec("p3", 1.0, true)]),
    );
    persisted_course_grade(&mut ds, c, 1, 1, 1.0, TOP);
    persisted_course_grade(&mut ds, c, 2, 3, 0.5, "Pass");
    persisted_course_grade(&mut ds, c, 3, 5, 0.7, "Pass");
    ds
}

fn s(x: &str) -> V {
    V::S(x.to_string())
}

fn by_name(rows: &[BTreeMap<String, V>], keys: &[&str]) -> Vec<Vec<V>> {
    rows.iter().map(|r| keys.iter().map(|k| r.get(*k).cloned().unwrap_or(V::Null)).collect()).collect()
}

#[test]
fn backfill_writes_exactly_the_missing_rows_as_forced_compute_would() {
    let c = course();
    let job = Job::new(&dataset(&c));
    let ran = job.backfill("b", &["--as-of", AS_OF]);
    let out = &ran.out;

    // Subsection rows: u2 all three, u3 only s2, u4 all three (never attempted: zero earned,
    // possible from content, first_attempted NULL). u1 and the un-enrolled u5 have none.
    let subs = read_parquet_rows(&out.join("backfill/grades_persistentsubsectiongrade"));
    let (_, h1) = visible_blocks(&c, &[rec("p1", 1.0, true)]);
    let (json2, h2) = visible_blocks(&c, &[rec("p2", 2.0, true)]);
    let (_, h3) = visible_blocks(&c, &[rec("p3", 1.0, true)]);
    let cols = [
        "user_id",
        "usage_key",
        "earned_all",
        "possible_all",
        "earned_graded",
        "possible_graded",
        "first_attempted",
        "visible_blocks_hash",
    ];
    let sub = |u: i64, b: &str, v: [f64; 4], first: Option<i64>, h: &str| {
        vec![V::I(u), s(&c.key(b)), V::F(v[0]), V::F(v[1]), V::F(v[2]), V::F(v[3]), ts_opt(first), s(h)]
    };
    assert_eq!(
        by_name(&subs, &cols),
        vec![
            sub(2, "s1", [1.0, 1.0, 1.0, 1.0], Some(T1), &h1),
            sub(2, "s2", [0.0, 2.0, 0.0, 2.0], None, &h2),
            sub(2, "s3-ü", [0.0, 1.0, 0.0, 1.0], None, &h3),
            sub(3, "s2", [2.0, 2.0, 2.0, 2.0], Some(T2), &h2),
            sub(4, "s1", [0.0, 1.0, 0.0, 1.0], None, &h1),
            sub(4, "s2", [0.0, 2.0, 0.0, 2.0], None, &h2),
            sub(4, "s3-ü", [0.0, 1.0, 0.0, 1.0], None, &h3),
        ]
    );
    for r in &subs {
        assert_eq!(r["id"], V::Null, "MySQL assigns ids");
        assert_eq!((&r["created"], &r["modified"]), (&V::T(AS_OF_US), &V::T(AS_OF_US)));
        assert_eq!(r["subtree_edited_timestamp"], V::T(EDITED));
        assert_eq!(r["course_version"], s("v1"));
        assert_eq!(r["course_id"], s(&c.id));
    }

    // Visible blocks: only today's s2 list is new (u1's s2 row has the 1-point list), once.
    let vb = read_parquet_rows(&out.join("backfill/grades_visibleblocks"));
    assert_eq!(
        by_name(&vb, &["id", "blocks_json", "hashed", "course_id"]),
        vec![vec![V::Null, s(&json2), s(&h2), s(&c.id)]]
    );

    // Course rows: u2 (1/1 and 0/2 -> 50%, Pass, passed now) and u4 (0%, no letter).
    let cg = read_parquet_rows(&out.join("backfill/grades_persistentcoursegrade"));
    assert_eq!(
        by_name(&cg, &["user_id", "percent_grade", "letter_grade", "passed_timestamp"]),
        vec![vec![V::I(2), V::F(0.5), s("Pass"), V::T(AS_OF_US)], vec![V::I(4), V::F(0.0), s(""), V::Null],]
    );
    let hash = ran.manifest()["courses"][0]["grading_policy_hash"].clone();
    for r in &cg {
        assert_eq!(r["course_edited_timestamp"], V::T(EDITED));
        assert_eq!(r["course_version"], s("v1"));
        assert_eq!(
            serde_json::Value::String(match &r["grading_policy_hash"] {
                V::S(h) => h.clone(),
                other => panic!("{other:?}"),
            }),
            hash
        );
    }

    // Readiness (current releases: a missing row reads as zero today): u2 sees the zero grade
    // today instead of 50% Pass (a pass the backfill restores); u3 sees 50% (s2 reads as
    // zero) instead of 100% (top letter, s2 computed); u4 stays at 0%.
    let readiness = std::fs::read_to_string(out.join("readiness.csv")).unwrap();
    assert_eq!(
        readiness,
        "course_id,course_version,learners,learners_missing_rows,learners_missing_course_grade,\
         learners_missing_subsection_grades,grade_would_change,would_lose_pass,wrong_grade_today,\
         pass_restored,learner_errors,subsection_rows_to_insert,visible_blocks_rows_to_insert,\
         course_grade_rows_to_insert,rows_to_insert\n\
         course-v1:Org+Bf+2026,v1,4,3,2,3,,,2,1,0,7,1,2,10\n"
    );
    let m = ran.manifest();
    assert_eq!(m["command"], "backfill");
    assert_eq!(m["totals"]["readiness"]["rows_to_insert"], 10);
    assert_eq!(m["courses"][0]["readiness"]["pass_restored"], 1);
    assert_eq!(m["courses"][0]["readiness"]["would_lose_pass"], serde_json::Value::Null);
    assert_eq!(m["options"]["assume_zero_if_absent"], true);
    assert!(
        ran.stdout().contains("a missing row reads as zero since Olive")
            && ran.stdout().contains("2 learners see a wrong course grade today that the backfill restores, 1 pass only once backfilled"),
        "{}",
        ran.stdout()
    );
}

/// Before Olive, with the waffle switch off (the default there), nothing is wrong yet: the
/// readiness says what turning `grades.assume_zero_grade_if_absent` on would do. The rows to
/// insert are the same.
#[test]
fn before_olive_readiness_says_what_turning_the_switch_on_would_change() {
    let c = course();
    let job = Job::new(&dataset(&c));
    let ran = job.backfill("b", &["--as-of", AS_OF, "--compat", "hawthorn-nutmeg"]);
    let readiness = std::fs::read_to_string(ran.out.join("readiness.csv")).unwrap();
    assert!(readiness.ends_with("\ncourse-v1:Org+Bf+2026,v1,4,3,2,3,2,1,,,0,7,1,2,10\n"), "{readiness}");
    let m = ran.manifest();
    assert_eq!(m["courses"][0]["readiness"]["would_lose_pass"], 1);
    assert_eq!(m["courses"][0]["readiness"]["wrong_grade_today"], serde_json::Value::Null);
    assert_eq!(m["options"]["assume_zero_if_absent"], false);
    let out = ran.stdout();
    assert!(
        out.contains("if grades.assume_zero_grade_if_absent were turned on now: 2 displayed course grades would change, 1 learners would lose a pass"),
        "{out}"
    );
    assert!(out.contains("before turning the switch on"), "{out}");
    // With the switch already on, learners see the zeros today, as from Olive on.
    let on = job
        .backfill("on", &["--as-of", AS_OF, "--compat", "hawthorn-nutmeg", "--assume-zero-if-absent", "on"]);
    let readiness = std::fs::read_to_string(on.out.join("readiness.csv")).unwrap();
    assert!(readiness.ends_with("\ncourse-v1:Org+Bf+2026,v1,4,3,2,3,,,2,1,0,7,1,2,10\n"), "{readiness}");
    assert!(on.stdout().contains("grades.assume_zero_grade_if_absent is on"), "{}", on.stdout());
    // The same rows either way.
    let rows = |r: &Ran| read_parquet_rows(&r.out.join("backfill/grades_persistentsubsectiongrade")).len();
    assert_eq!((rows(&ran), rows(&on)), (7, 7));
}

/// The switch is refused where it does not exist, and the split profile name is refused with
/// its two replacements; both are usage errors (exit 2) that leave no output behind.
#[test]
fn the_switch_and_the_split_profile_are_refused_with_the_release_named() {
    let c = course();
    let job = Job::new(&dataset(&c));
    for (args, needles) in [
        (
            vec!["--assume-zero-if-absent", "off"],
            vec!["Olive", "grades.assume_zero_grade_if_absent", "current"],
        ),
        (
            vec!["--compat", "olive-redwood", "--assume-zero-if-absent", "off"],
            vec!["Olive", "olive-redwood", "hawthorn-nutmeg"],
        ),
        (vec!["--compat", "hawthorn-redwood"], vec!["hawthorn-nutmeg", "olive-redwood"]),
    ] {
        for command in ["run", "backfill"] {
            let ran = job.command(command, "refused", &args);
            assert_eq!(ran.output.status.code(), Some(2), "{command} {args:?}: {}", ran.stderr());
            for n in &needles {
                assert!(ran.stderr().contains(n), "{command} {args:?}: {n} in {}", ran.stderr());
            }
            assert!(!ran.out.join("manifest.json").exists());
        }
    }
}

#[test]
fn load_scripts_list_every_csv_in_foreign_key_order() {
    let c = course();
    let job = Job::new(&dataset(&c));
    let ran = job.backfill("b", &["--as-of", AS_OF]);
    let load = std::fs::read_to_string(ran.out.join("backfill/load_data.sql")).unwrap();
    let at = |t: &str| load.find(&format!("INTO TABLE {t} ")).unwrap_or_else(|| panic!("{t} in {load}"));
    assert!(at("grades_visibleblocks") < at("grades_persistentsubsectiongrade"));
    assert!(at("grades_persistentsubsectiongrade") < at("grades_persistentcoursegrade"));
    let csv_count = load.matches("LOAD DATA LOCAL INFILE").count();
    assert_eq!(csv_count, 3);
    for line in load.lines().filter(|l| l.starts_with("LOAD DATA")) {
        let path = line.split('\'').nth(1).unwrap();
        assert!(ran.out.join("backfill").join(path).is_file(), "{path} is listed but missing");
    }
    let upsert = std::fs::read_to_string(ran.out.join("backfill/upsert.sql")).unwrap();
    let script = upsert.lines().find_map(|l| l.strip_prefix("SOURCE ")).unwrap().trim_end_matches(';');
    let sql = std::fs::read_to_string(ran.out.join("backfill").join(script)).unwrap();
    assert!(sql.contains("first_attempted = COALESCE(first_attempted, VALUES(first_attempted))"));
    assert!(sql.contains("passed_timestamp = COALESCE(passed_timestamp, VALUES(passed_timestamp))"));
    assert!(!sql.contains("created = VALUES(created)"), "created is kept on update");
    // The subsection CSV holds the same 7 rows as the Parquet file.
    let csv_path = load
        .lines()
        .filter(|l| l.contains("grades_persistentsubsectiongrade"))
        .find_map(|l| l.split('\'').nth(1))
        .unwrap();
    let csv = std::fs::read_to_string(ran.out.join("backfill").join(csv_path)).unwrap();
    assert_eq!(csv.lines().count(), 1 + 7);
    assert!(csv.contains(&format!("\"{}\"", c.key("s3-ü"))), "unicode usage keys as UTF-8");
}

#[test]
fn a_complete_course_has_nothing_to_backfill() {
    let c = course();
    let mut ds = Dataset::default();
    c.write_to(&mut ds);
    enroll(&mut ds, &c.id, 1, "honor", true);
    csm(&mut ds, &c, 1, "p1", Some(1.0), 1.0, T1);
    let row = |id, subsection, values, first, records| SubsectionRow {
        id,
        user: 1,
        subsection,
        values,
        first_attempted: first,
        records,
    };
    persisted_subsection(
        &mut ds,
        &c,
        row(1, "s1", [1.0, 1.0, 1.0, 1.0], Some(T1), vec![rec("p1", 1.0, true)]),
    );
    persisted_subsection(&mut ds, &c, row(2, "s2", [0.0, 2.0, 0.0, 2.0], None, vec![rec("p2", 2.0, true)]));
    persisted_subsection(&mut ds, &c, row(3, "s3-ü", [0.0, 1.0, 0.0, 1.0], None, vec![rec("p3", 1.0, true)]));
    persisted_course_grade(&mut ds, &c, 1, 1, 0.5, "Pass");
    let job = Job::new(&ds);
    let ran = job.backfill("b", &["--as-of", AS_OF]);
    let r = &ran.manifest()["totals"]["readiness"];
    assert_eq!((r["learners"].as_u64(), r["rows_to_insert"].as_u64()), (Some(1), Some(0)), "{r}");
    assert!(!ran.out.join("backfill/csv").exists(), "no empty CSV files");
    assert!(ran.stdout().contains("nothing to backfill"), "{}", ran.stdout());
}

#[test]
fn backfill_is_deterministic_across_thread_counts() {
    let c = course();
    let job = Job::new(&dataset(&c));
    let a = job.backfill("a", &["--as-of", AS_OF, "--threads", "1", "--courses-in-flight", "1"]);
    let b = job.backfill("b", &["--as-of", AS_OF, "--threads", "4", "--courses-in-flight", "3"]);
    let (fa, fb) = (a.output_sha1s(), b.output_sha1s());
    assert!(fa.len() >= 10, "{fa:?}");
    assert_eq!(fa, fb);
}

#[test]
fn run_only_options_are_refused() {
    let c = course();
    let job = Job::new(&dataset(&c));
    let ran = job.command("backfill", "x", &["--rescore", "retain"]);
    assert_eq!(ran.output.status.code(), Some(2), "{}", ran.stderr());
    let path = job.input.parent().unwrap().join("job.toml");
    std::fs::write(&path, "policy = \"what-if.json\"\n").unwrap();
    let ran = job.command("backfill", "y", &[path.to_str().unwrap()]);
    assert_eq!(ran.output.status.code(), Some(2));
    assert!(ran.stderr().contains("backfill does not take `policy`"), "{}", ran.stderr());
    assert!(!ran.out.exists(), "nothing written");
}

#[test]
fn a_score_mysql_cannot_store_fails_only_its_course() {
    let c = course();
    let mut ds = dataset(&c);
    let mut huge = Course::new("course-v1:Org+Huge+2026", POLICY);
    huge.root(&["ch"]);
    huge.chapter("ch", &["s1"]);
    huge.seq("s1", "One", "Homework", &["v1"]);
    huge.vertical("v1", &["p1", "p2"]);
    huge.problem("p1", "P1", 1.0);
    huge.problem("p2", "P2", 1.0);
    huge.write_to(&mut ds);
    enroll(&mut ds, &huge.id, 9, "honor", true);
    // Finite scores whose sum overflows: the forced compute's earned_all is inf.
    csm(&mut ds, &huge, 9, "p1", Some(1e308), 1e308, T1);
    csm(&mut ds, &huge, 9, "p2", Some(1e308), 1e308, T1);
    let job = Job::new(&ds);
    let ran = job.command("backfill", "b", &["--as-of", AS_OF]);
    assert_eq!(ran.output.status.code(), Some(1), "{}", ran.stderr());
    let m = ran.manifest();
    let failed = &m["failed"][0];
    assert_eq!(failed["course_id"], huge.id.as_str());
    let error = failed["error"].as_str().unwrap();
    // The row whose score made the sum overflow is named.
    let row = format!("studentmodule row (student_id 9, module_state_key {})", huge.key("p2"));
    for needle in ["user_id 9", "earned_all of subsection", "overflows to inf", &row, "MySQL stores neither"]
    {
        assert!(error.contains(needle), "error lacks {needle:?}: {error}");
    }
    assert_eq!(m["courses"][0]["course_id"], c.id.as_str());
    assert_eq!(m["courses"][0]["readiness"]["rows_to_insert"], 10, "the other course is backfilled");
    let partitions = ran.out.join("backfill/grades_persistentsubsectiongrade").read_dir().unwrap().count();
    assert_eq!(partitions, 1, "no files for the failed course");
}
