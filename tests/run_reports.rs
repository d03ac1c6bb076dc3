//! End-to-end tests of the CSV reports of `regrade run`, cell by cell.
//!
//! Every test writes a tiny input dataset by hand (Parquet under a temp dir), runs the real
//! binary, and compares the grade report and problem grade report with expectations worked
//! out by hand from `../shared/spec/edx-grading.md` §8 (reports), §11 (certificate columns)
//! and §13 (worked examples E41-E49). The arithmetic is in the comments.
//!
//! Conventions of the datasets: users are `user<id>` / `user<id>@example.com`; courses start
//! 2026-01-01; the run's "now" (`--as-of`) is 2026-06-01T00:00:00Z unless said otherwise, so
//! report files end in `_2026-06-01-0000.csv`; learners are in `honor` mode unless said
//! otherwise (Verification Status `N/A`, Certificate Eligible `N` without a verified mode,
//! an allowlist entry or a certificate).

#[macro_use]
mod run_support;

use run_support::*;

/// When the learners answered: 2026-01-11.
const T1: i64 = COURSE_START + 10 * DAY;
const T2: i64 = COURSE_START + 20 * DAY;

const HEADER_TAIL: [&str; 6] = [
    "Enrollment Track",
    "Verification Status",
    "Certificate Eligible",
    "Certificate Delivered",
    "Certificate Type",
    "Enrollment Status",
];

/// The columns after the assignment columns for an honor learner without certificate.
const HONOR: [&str; 6] = ["honor", "N/A", "N", "N", "N/A", "enrolled"];

/// `Student ID, Email, Username, Grade`, the given assignment columns, then the tail.
fn grade_header(middle: &[&str]) -> Vec<String> {
    let mut h = cells(&["Student ID", "Email", "Username", "Grade"]);
    h.extend(cells(middle));
    h.extend(cells(&HEADER_TAIL));
    h
}

/// `Student ID, Email, Username, Enrollment Status, Grade`, then (Earned, Possible) per name.
fn problem_header(problems: &[&str]) -> Vec<String> {
    let mut h = cells(&["Student ID", "Email", "Username", "Enrollment Status", "Grade"]);
    for p in problems {
        h.push(format!("{p} (Earned)"));
        h.push(format!("{p} (Possible)"));
    }
    h
}

/// A course grade report row: identity, then `cells`, then `tail`.
fn grade_row(id: i64, middle: &[&str], tail: &[&str]) -> Vec<String> {
    let mut r = learner_row(id, middle);
    r.extend(cells(tail));
    r
}

/// A one-type policy: Homework, min_count, drop_count, weight 1.0, Pass at 0.5.
fn homework_policy(min_count: u32, drop_count: u32) -> String {
    format!(
        r#"{{"GRADER": [{{"type": "Homework", "min_count": {min_count}, "drop_count": {drop_count}, "short_label": "HW", "weight": 1.0}}], "GRADE_CUTOFFS": {{"Pass": 0.5}}}}"#
    )
}

// ---------------------------------------------------------------------------------------
// E41 / E42: the course grade CSV

/// E41's course: Homework only (min 4, drop 0, weight 1.0). Subsections in order:
/// "Subsection" (p1, max 2), "Hidden" (staff-only, p2), "Unattempted" (p3, max 2),
/// "Empty" (no problems), "Unreleased" (p4, starts 30 days after the run).
fn e41_course(id: &str) -> Course {
    let mut c = Course::new(id, &homework_policy(4, 0));
    c.root(&["ch"]);
    c.chapter("ch", &["sub", "hidden", "unatt", "empty", "unrel"]);
    c.seq("sub", "Subsection", "Homework", &["v1"]);
    c.vertical("v1", &["p1"]);
    c.problem("p1", "Problem 1", 2.0);
    c.seq("hidden", "Hidden", "Homework", &["v2"]).staff_only = Some(true);
    c.vertical("v2", &["p2"]);
    c.problem("p2", "Problem 2", 2.0);
    c.seq("unatt", "Unattempted", "Homework", &["v3"]);
    c.vertical("v3", &["p3"]);
    c.problem("p3", "Problem 3", 2.0);
    c.seq("empty", "Empty", "Homework", &[]);
    c.seq("unrel", "Unreleased", "Homework", &["v4"]).start = Some(AS_OF_US + 30 * DAY);
    c.vertical("v4", &["p4"]);
    c.problem("p4", "Problem 4", 2.0);
    c
}

/// No "Hidden" column (staff-only); "Homework 3: Empty" and "Homework 4: Unreleased" are
/// columns although empty / unreleased (§8.2: every graded, non-staff-only subsection).
fn e41_header() -> Vec<String> {
    grade_header(&[
        "Homework 1: Subsection",
        "Homework 2: Unattempted",
        "Homework 3: Empty",
        "Homework 4: Unreleased",
        "Homework (Avg)",
    ])
}

/// Problem columns from the collected structure: p1, p3, p4 (p2 is under the staff-only
/// subsection; "Empty" has none). `k` counts the type's subsections: Unreleased is 4.
fn e41_problem_header() -> Vec<String> {
    problem_header(&[
        "Homework 1: Subsection - Problem 1",
        "Homework 2: Unattempted - Problem 3",
        "Homework 4: Unreleased - Problem 4",
    ])
}

/// A learner whose course grade reads as zero or 0.0 with nothing attempted:
/// every subsection `Not Attempted`, Avg `0.0`.
fn e41_zero_row(id: i64) -> Vec<String> {
    grade_row(id, &["0.0", "Not Attempted", "Not Attempted", "Not Attempted", "Not Attempted", "0.0"], &HONOR)
}

/// p1 and p3 in the learner's structure, neither attempted; p4 unreleased for learners.
fn e41_zero_problem_row(id: i64) -> Vec<String> {
    problem_row(
        id,
        &[
            "enrolled",
            "0.0",
            "Not Attempted",
            "2.0",
            "Not Attempted",
            "2.0",
            "Not Available",
            "Not Available",
        ],
    )
}

/// E41 and E42 in `--rescore read` mode, from persisted tables exactly as the examples state
/// them; plus learners 2 (nothing at all) and 3 (subsection rows but no course grade row).
#[test]
fn e41_e42_course_grade_csv_read_mode() {
    let c41 = e41_course("course-v1:Org+E41+2026");
    let c42 = e41_course("course-v1:Org+E42+2026");
    let mut ds = Dataset::default();
    users(&mut ds, &[1, 2, 3]);
    for c in [&c41, &c42] {
        c.write_to(&mut ds);
        for u in [1, 2, 3] {
            enroll(&mut ds, &c.id, u, "honor", true);
        }
        // Learner 1 answered 1 of 2 on "Subsection"; learner 3 answered 2 of 2.
        csm(&mut ds, c, 1, "p1", Some(1.0), 2.0, T1);
        csm(&mut ds, c, 3, "p1", Some(2.0), 2.0, T1);
    }
    let p1 = || vec![Record { block: "p1", weight: None, raw_possible: Some(2.0), graded: true }];
    // E41: learner 1's rows as edX stored them after the answer (no row for the others).
    persisted_subsection(
        &mut ds,
        &c41,
        SubsectionRow {
            id: 101,
            user: 1,
            subsection: "sub",
            values: [1.0, 2.0, 1.0, 2.0],
            first_attempted: Some(T1),
            records: p1(),
        },
    );
    // grader [0.5, 0 (Unattempted, possible 2), pad, pad] = 0.5/4 = 0.125; 12.5+0.05 -> 0.13
    persisted_course_grade(&mut ds, &c41, 1, 1, 0.13, "");
    // Learner 3 has a subsection row but no course grade row: ZeroCourseGrade (§5.6).
    persisted_subsection(
        &mut ds,
        &c41,
        SubsectionRow {
            id: 103,
            user: 3,
            subsection: "sub",
            values: [2.0, 2.0, 2.0, 2.0],
            first_attempted: Some(T1),
            records: p1(),
        },
    );
    // E42: the same, plus an override on "Unattempted": the row created for it first
    // (0/2, never attempted), earned_graded_override 2.0, the other fields copied (§4.5).
    persisted_subsection(
        &mut ds,
        &c42,
        SubsectionRow {
            id: 201,
            user: 1,
            subsection: "sub",
            values: [1.0, 2.0, 1.0, 2.0],
            first_attempted: Some(T1),
            records: p1(),
        },
    );
    persisted_subsection(
        &mut ds,
        &c42,
        SubsectionRow {
            id: 202,
            user: 1,
            subsection: "unatt",
            values: [0.0, 2.0, 0.0, 2.0],
            first_attempted: None,
            records: vec![Record { block: "p3", weight: None, raw_possible: Some(2.0), graded: true }],
        },
    );
    row!(ds, "subsection_grade_overrides", {
        grade_id: 202_i64, earned_all_override: 0.0, possible_all_override: 2.0,
        earned_graded_override: 2.0, possible_graded_override: 2.0, system: "GRADEBOOK",
        override_reason: "regrade", created: ts(T2), modified: ts(T2),
    });
    // grader [0.5, 1.0 (override 2/2), pad, pad] = 1.5/4 = 0.375; 37.5+0.05 -> 0.38
    persisted_course_grade(&mut ds, &c42, 2, 1, 0.38, "");
    persisted_subsection(
        &mut ds,
        &c42,
        SubsectionRow {
            id: 203,
            user: 3,
            subsection: "sub",
            values: [2.0, 2.0, 2.0, 2.0],
            first_attempted: Some(T1),
            records: p1(),
        },
    );

    let job = Job::new(&ds);
    let ran = job.run("read", &["--as-of", AS_OF, "--rescore", "read"]);

    assert_csv(
        "E41 grade report",
        &ran.grade_report(&c41.id, "Org_E41_2026"),
        &[
            e41_header(),
            // Homework 1 = percent_graded 1/2 = 0.5 (attempted); Unattempted and Empty have
            // no row (Zero); Unreleased is not in the learner's structure (Zero).
            // Avg = total_with_drops([0.5, 0.0, 0.0, 0.0], 0) = 0.5/4 = 0.125 (not padded).
            grade_row(
                1,
                &["0.13", "0.5", "Not Attempted", "Not Attempted", "Not Attempted", "0.125"],
                &HONOR,
            ),
            // No course grade row: ZeroCourseGrade, percent 0.0, Avg 0.0.
            e41_zero_row(2),
            // A subsection row (2/2, attempted) but no course grade row: still all zero.
            e41_zero_row(3),
        ],
    );
    assert_csv(
        "E41 problem grade report",
        &ran.problem_report(&c41.id, "Org_E41_2026"),
        &[
            e41_problem_header(),
            // p1 re-scored from the persisted visible blocks and CSM: 1.0 of 2.0, attempted;
            // p3 from a zero subsection: Not Attempted of 2.0; p4 not in the structure.
            problem_row(
                1,
                &["enrolled", "0.13", "1.0", "2.0", "Not Attempted", "2.0", "Not Available", "Not Available"],
            ),
            e41_zero_problem_row(2),
            // A zero course grade scores problems from content only, even with CSM 2/2.
            e41_zero_problem_row(3),
        ],
    );

    assert_csv(
        "E42 grade report",
        &ran.grade_report(&c42.id, "Org_E42_2026"),
        &[
            e41_header(),
            // Unattempted: override 2/2 -> 1.0, shown because an override exists although
            // first_attempted is NULL. Avg = (0.5 + 1.0 + 0 + 0)/4 = 0.375.
            grade_row(1, &["0.38", "0.5", "1.0", "Not Attempted", "Not Attempted", "0.375"], &HONOR),
            e41_zero_row(2),
            e41_zero_row(3),
        ],
    );
    assert_csv(
        "E42 problem grade report",
        &ran.problem_report(&c42.id, "Org_E42_2026"),
        &[
            e41_problem_header(),
            // p3: the override changes no problem score: persisted block 0/2, not attempted.
            problem_row(
                1,
                &["enrolled", "0.38", "1.0", "2.0", "Not Attempted", "2.0", "Not Available", "Not Available"],
            ),
            e41_zero_problem_row(2),
            e41_zero_problem_row(3),
        ],
    );
    // Read mode writes reports (and the manifest) only.
    assert!(ran.out.join("manifest.json").exists());
    assert!(!ran.out.join("course_grades").exists(), "read mode writes no grade tables");
}

/// E41 and E42 under `--rescore recompute`, from studentmodule rows: the report shows what
/// edX's report reads after compute_grades persisted every learner's grades. Stale persisted
/// rows must not show through; the E42 override (on a persisted row) still applies.
#[test]
fn e41_e42_course_grade_csv_recompute_mode() {
    let c41 = e41_course("course-v1:Org+E41+2026");
    let c42 = e41_course("course-v1:Org+E42+2026");
    let mut ds = Dataset::default();
    users(&mut ds, &[1, 2, 3]);
    for (n, c) in [&c41, &c42].into_iter().enumerate() {
        let n = n as i64 * 100;
        c.write_to(&mut ds);
        for u in [1, 2, 3] {
            enroll(&mut ds, &c.id, u, "honor", true);
        }
        csm(&mut ds, c, 1, "p1", Some(1.0), 2.0, T1);
        csm(&mut ds, c, 3, "p1", Some(2.0), 2.0, T1);
        // Stale persisted grades the recompute replaces.
        persisted_subsection(
            &mut ds,
            c,
            SubsectionRow {
                id: n + 101,
                user: 1,
                subsection: "sub",
                values: [0.0, 2.0, 0.0, 2.0],
                first_attempted: None,
                records: vec![Record { block: "p1", weight: None, raw_possible: Some(2.0), graded: true }],
            },
        );
        persisted_course_grade(&mut ds, c, n + 1, 1, 0.99, "Pass");
        persisted_course_grade(&mut ds, c, n + 2, 2, 0.77, "Pass");
    }
    // E42's override sits on learner 1's "Unattempted" row (created for the override).
    persisted_subsection(
        &mut ds,
        &c42,
        SubsectionRow {
            id: 202,
            user: 1,
            subsection: "unatt",
            values: [0.0, 2.0, 0.0, 2.0],
            first_attempted: None,
            records: vec![Record { block: "p3", weight: None, raw_possible: Some(2.0), graded: true }],
        },
    );
    row!(ds, "subsection_grade_overrides", {
        grade_id: 202_i64, earned_all_override: 0.0, possible_all_override: 2.0,
        earned_graded_override: 2.0, possible_graded_override: 2.0, system: "GRADEBOOK",
        created: ts(T2), modified: ts(T2),
    });

    let job = Job::new(&ds);
    let ran = job.run("recompute", &["--as-of", AS_OF, "--rescore", "recompute"]);

    // After a forced update every learner has a course grade row (attempted), and rows for
    // every subsection in their structure (Unattempted 0/2 and Empty 0/0 never attempted).
    let learner3 = || {
        // 2/2 -> 1.0; grader [1.0, 0, pad, pad] = 0.25; 25+0.05 -> 0.25; Avg 1.0/4 = 0.25
        grade_row(3, &["0.25", "1.0", "Not Attempted", "Not Attempted", "Not Attempted", "0.25"], &HONOR)
    };
    assert_csv(
        "E41 grade report (recompute)",
        &ran.grade_report(&c41.id, "Org_E41_2026"),
        &[
            e41_header(),
            // 1/2 -> 0.5; grader [0.5, 0, pad, pad] = 0.125 -> 0.13; Avg 0.5/4 = 0.125
            grade_row(
                1,
                &["0.13", "0.5", "Not Attempted", "Not Attempted", "Not Attempted", "0.125"],
                &HONOR,
            ),
            // A persisted 0.0 course grade (not Zero): Avg = total_with_drops([0,0,0,0]) = 0.0
            e41_zero_row(2),
            learner3(),
        ],
    );
    let learner3_problems = || {
        problem_row(
            3,
            &["enrolled", "0.25", "2.0", "2.0", "Not Attempted", "2.0", "Not Available", "Not Available"],
        )
    };
    assert_csv(
        "E41 problem grade report (recompute)",
        &ran.problem_report(&c41.id, "Org_E41_2026"),
        &[
            e41_problem_header(),
            problem_row(
                1,
                &["enrolled", "0.13", "1.0", "2.0", "Not Attempted", "2.0", "Not Available", "Not Available"],
            ),
            e41_zero_problem_row(2),
            learner3_problems(),
        ],
    );
    assert_csv(
        "E42 grade report (recompute)",
        &ran.grade_report(&c42.id, "Org_E42_2026"),
        &[
            e41_header(),
            // Unattempted recomputed 0/2, read back with its override 2/2 -> 1.0;
            // grader [0.5, 1.0, pad, pad] = 0.375 -> 0.38; Avg (0.5+1.0+0+0)/4 = 0.375
            grade_row(1, &["0.38", "0.5", "1.0", "Not Attempted", "Not Attempted", "0.375"], &HONOR),
            e41_zero_row(2),
            learner3(),
        ],
    );
    assert_csv(
        "E42 problem grade report (recompute)",
        &ran.problem_report(&c42.id, "Org_E42_2026"),
        &[
            e41_problem_header(),
            problem_row(
                1,
                &["enrolled", "0.38", "1.0", "2.0", "Not Attempted", "2.0", "Not Available", "Not Available"],
            ),
            e41_zero_problem_row(2),
            learner3_problems(),
        ],
    );
}

// ---------------------------------------------------------------------------------------
// E43 / E44: certificate and enrollment columns

/// One Homework subsection with one problem: the grade report has a single "Homework" column.
fn one_problem_course(id: &str, policy: &str) -> Course {
    let mut c = Course::new(id, policy);
    c.root(&["ch"]);
    c.chapter("ch", &["sub"]);
    c.seq("sub", "Subsection", "Homework", &["v"]);
    c.vertical("v", &["p"]);
    c.problem("p", "Problem1", 2.0);
    c
}

/// E43 (every learner allowlisted; course ended 2 days ago, certificates available
/// yesterday) and E44 (eligibility without allowlist), plus the other verified modes,
/// ID-verification statuses, an `auditing` certificate and an inactive enrollment.
#[test]
fn e43_e44_certificate_and_enrollment_columns() {
    let policy = homework_policy(1, 0);
    let mut c43 = one_problem_course("course-v1:Org+Cert+2026", &policy);
    c43.course_end = Some(AS_OF_US - 2 * DAY);
    c43.certificate_available_date = Some(AS_OF_US - DAY);
    c43.course_modes = vec!["honor".into(), "verified".into()];
    let mut c44 = c43.clone();
    c44.id = "course-v1:Org+Elig+2026".into();
    c44.course_modes = vec!["audit".into(), "verified".into()];

    let mut ds = Dataset::default();
    users(&mut ds, &(1..=15).collect::<Vec<_>>());
    c43.write_to(&mut ds);
    c44.write_to(&mut ds);
    let cert = |ds: &mut Dataset, c: &Course, user: i64, status: &str, mode: &str| {
        row!(ds, "generated_certificates", { user_id: user, course_id: &c.id, status: status, mode: mode });
    };
    let idv = |ds: &mut Dataset, user: i64, status: &str| {
        row!(ds, "id_verifications", { user_id: user, status: status });
    };
    // E43, all allowlisted.
    for (u, mode, percent, letter) in [
        (1, "verified", 0.2, ""),
        (2, "verified", 0.2, ""),
        (3, "honor", 0.8, "Pass"),
        (4, "verified", 0.8, "Pass"),
    ] {
        enroll(&mut ds, &c43.id, u, mode, true);
        persisted_course_grade(&mut ds, &c43, u, u, percent, letter);
        row!(ds, "certificate_allowlist", { user_id: u, course_id: &c43.id, allowlist: true });
    }
    cert(&mut ds, &c43, 1, "notpassing", "honor");
    cert(&mut ds, &c43, 2, "downloadable", "verified");
    cert(&mut ds, &c43, 3, "restricted", "honor");
    cert(&mut ds, &c43, 4, "downloadable", "honor");
    idv(&mut ds, 1, "approved");
    idv(&mut ds, 2, "approved");
    idv(&mut ds, 4, "must_retry");

    // E44 and more, no allowlist unless said: (user, mode, active, persisted grade).
    type Learner = (i64, &'static str, bool, Option<(f64, &'static str)>);
    let e44: [Learner; 11] = [
        (5, "audit", true, None),
        (6, "audit", true, Some((0.3, ""))),
        (7, "audit", true, Some((0.7, "pass"))),
        (8, "verified", true, Some((0.7, "pass"))),
        (9, "professional", true, Some((0.9, "pass"))),
        (10, "no-id-professional", true, Some((0.9, "pass"))),
        (11, "masters", true, Some((0.3, ""))),
        (12, "honor", true, Some((0.7, "pass"))),
        (13, "audit", false, None),
        (14, "verified", true, Some((0.3, ""))),
        (15, "verified", true, None),
    ];
    for (u, mode, active, grade) in e44 {
        enroll(&mut ds, &c44.id, u, mode, active);
        if let Some((percent, letter)) = grade {
            persisted_course_grade(&mut ds, &c44, 100 + u, u, percent, letter);
        }
    }
    idv(&mut ds, 9, "approved");
    idv(&mut ds, 11, "pending");
    idv(&mut ds, 14, "denied");
    idv(&mut ds, 15, "approved");
    cert(&mut ds, &c44, 12, "downloadable", "honor");
    // An audit certificate in a course without an honor mode has status "auditing".
    cert(&mut ds, &c44, 13, "downloadable", "audit");
    row!(ds, "certificate_allowlist", { user_id: 14_i64, course_id: &c44.id, allowlist: false });
    row!(ds, "certificate_allowlist", { user_id: 15_i64, course_id: &c44.id, allowlist: true });

    let job = Job::new(&ds);
    let ran = job.run("read", &["--as-of", AS_OF, "--rescore", "read"]);
    let header = grade_header(&["Homework"]);
    let na = "Not Attempted"; // no subsection rows: every persisted grade reads "Not Attempted"
    assert_csv(
        "E43 grade report",
        &ran.grade_report(&c43.id, "Org_Cert_2026"),
        &[
            header.clone(),
            // allowlisted -> Eligible Y; notpassing certificate -> not delivered
            grade_row(1, &["0.2", na], &["verified", "ID Verified", "Y", "N", "N/A", "enrolled"]),
            // downloadable, available yesterday (< now) -> delivered, type = cert mode
            grade_row(2, &["0.2", na], &["verified", "ID Verified", "Y", "Y", "verified", "enrolled"]),
            // honor is not a verified mode -> N/A; restricted certificate -> not delivered
            grade_row(3, &["0.8", na], &["honor", "N/A", "Y", "N", "N/A", "enrolled"]),
            // IDV must_retry -> Not ID Verified; downloadable honor certificate
            grade_row(4, &["0.8", na], &["verified", "Not ID Verified", "Y", "Y", "honor", "enrolled"]),
        ],
    );
    assert_csv(
        "E44 grade report",
        &ran.grade_report(&c44.id, "Org_Elig_2026"),
        &[
            header,
            // audit, no grade row: ZeroCourseGrade -> letter None -> N
            grade_row(5, &["0.0", na], &["audit", "N/A", "N", "N", "N/A", "enrolled"]),
            grade_row(6, &["0.3", na], &["audit", "N/A", "N", "N", "N/A", "enrolled"]),
            // audit, passing: not a verified mode -> N
            grade_row(7, &["0.7", na], &["audit", "N/A", "N", "N", "N/A", "enrolled"]),
            // verified, passing (letter "pass"), no ID verification -> Y, Not ID Verified
            grade_row(8, &["0.7", na], &["verified", "Not ID Verified", "Y", "N", "N/A", "enrolled"]),
            // professional is a verified mode; IDV approved
            grade_row(9, &["0.9", na], &["professional", "ID Verified", "Y", "N", "N/A", "enrolled"]),
            // no-id-professional is not in VERIFIED_MODES
            grade_row(10, &["0.9", na], &["no-id-professional", "N/A", "N", "N", "N/A", "enrolled"]),
            // masters failing (letter ""), IDV pending
            grade_row(11, &["0.3", na], &["masters", "Not ID Verified", "N", "N", "N/A", "enrolled"]),
            // honor, passing, downloadable honor certificate -> certificate_generated -> Y, Y
            grade_row(12, &["0.7", na], &["honor", "N/A", "Y", "Y", "honor", "enrolled"]),
            // inactive; audit certificate, no honor mode -> "auditing", not generated
            grade_row(13, &["0.0", na], &["audit", "N/A", "N", "N", "N/A", "unenrolled"]),
            // allowlist row with allowlist = false does not count; IDV denied
            grade_row(14, &["0.3", na], &["verified", "Not ID Verified", "N", "N", "N/A", "enrolled"]),
            // allowlisted without any grade -> Y
            grade_row(15, &["0.0", na], &["verified", "ID Verified", "Y", "N", "N/A", "enrolled"]),
        ],
    );
}

/// Certificate Delivered depends on `--as-of` against certificate_available_date (strictly
/// before now), else course_end (ended strictly before now), unless self-paced or displayed
/// early (§11). The same input is run twice: at AS_OF and three days later.
#[test]
fn certificate_delivered_follows_as_of() {
    let policy = homework_policy(1, 0);
    // (course, certificate_available_date, course_end, self_paced, display behavior,
    //  delivered at AS_OF, delivered at AS_OF + 3 days)
    type Case = (&'static str, Option<i64>, Option<i64>, bool, Option<&'static str>, bool, bool);
    let cases: [Case; 11] = [
        ("D1", Some(AS_OF_US - DAY), Some(AS_OF_US - 2 * DAY), false, None, true, true),
        ("D2", Some(AS_OF_US + DAY), Some(AS_OF_US - 2 * DAY), false, None, false, true),
        ("D3", Some(AS_OF_US), Some(AS_OF_US - 2 * DAY), false, None, false, true),
        ("D4", None, Some(AS_OF_US - DAY), false, None, true, true),
        ("D5", None, Some(AS_OF_US + DAY), false, None, false, true),
        ("D6", None, Some(AS_OF_US), false, None, false, true),
        ("D7", None, None, true, None, true, true),
        ("D8", None, Some(AS_OF_US + DAY), false, Some("early_no_info"), true, true),
        ("D9", None, None, false, None, false, false),
        (
            "D10",
            Some(AS_OF_US + 5 * DAY),
            Some(AS_OF_US - 2 * DAY),
            false,
            Some("end_with_date"),
            false,
            false,
        ),
        ("D11", Some(AS_OF_US + 5 * DAY), None, false, Some("early_with_info"), true, true),
    ];
    let mut ds = Dataset::default();
    users(&mut ds, &[1]);
    for (name, cad, end, self_paced, behavior, _, _) in cases {
        let mut c = one_problem_course(&format!("course-v1:Org+{name}+2026"), &policy);
        c.certificate_available_date = cad;
        c.course_end = end;
        c.self_paced = Some(self_paced);
        c.certificates_display_behavior = behavior.map(str::to_string);
        c.course_modes = vec!["audit".into(), "verified".into()];
        c.write_to(&mut ds);
        enroll(&mut ds, &c.id, 1, "verified", true);
        persisted_course_grade(&mut ds, &c, 1, 1, 0.9, "Pass");
        row!(ds, "generated_certificates", {
            user_id: 1_i64, course_id: &c.id, status: "downloadable", mode: "verified",
        });
    }
    let job = Job::new(&ds);
    let now = job.run("now", &["--as-of", AS_OF, "--rescore", "read"]);
    let later = job.run("later", &["--as-of", "2026-06-04T00:00:00Z", "--rescore", "read"]);
    for (name, _, _, _, _, at_now, at_later) in cases {
        let id = format!("course-v1:Org+{name}+2026");
        let prefix = format!("Org_{name}_2026");
        for (ran, stamp, delivered) in [(&now, AS_OF_STAMP, at_now), (&later, "2026-06-04-0000", at_later)] {
            // verified + passing -> Eligible Y; Delivered per the dates; Type = cert mode if delivered
            let (d, kind) = if delivered { ("Y", "verified") } else { ("N", "N/A") };
            assert_csv(
                &format!("{name} grade report at {stamp}"),
                &ran.report(&id, &prefix, "grade_report", stamp),
                &[
                    grade_header(&["Homework"]),
                    grade_row(
                        1,
                        &["0.9", "Not Attempted"],
                        &["verified", "Not ID Verified", "Y", d, kind, "enrolled"],
                    ),
                ],
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// E45-E48: the problem grade report

/// E45 with the default grading policy (`{}` is filled in from DEFAULT_GRADING_POLICY).
/// The same input is run in read mode (persisted grades as edX stored them) and in
/// recompute mode (from studentmodule); both reports must be the same.
#[test]
fn e45_problem_grade_report_default_policy_read_and_recompute() {
    let c = one_problem_course("course-v1:Org+E45+2026", "{}");
    let mut ds = Dataset::default();
    users(&mut ds, &[1, 2, 3]);
    c.write_to(&mut ds);
    enroll(&mut ds, &c.id, 1, "honor", true);
    enroll(&mut ds, &c.id, 2, "honor", true);
    enroll(&mut ds, &c.id, 3, "honor", false);
    csm(&mut ds, &c, 1, "p", Some(1.0), 2.0, T1);
    persisted_subsection(
        &mut ds,
        &c,
        SubsectionRow {
            id: 1,
            user: 1,
            subsection: "sub",
            values: [1.0, 2.0, 1.0, 2.0],
            first_attempted: Some(T1),
            records: vec![Record { block: "p", weight: None, raw_possible: Some(2.0), graded: true }],
        },
    );
    // HW: [0.5] + 11 pads, drop 2 -> 0.5/10 = 0.05; x 0.15 = 0.0075; 0.75+0.05 -> 1 -> 0.01
    persisted_course_grade(&mut ds, &c, 1, 1, 0.01, "");
    let job = Job::new(&ds);
    for mode in ["read", "recompute"] {
        let ran = job.run(mode, &["--as-of", AS_OF, "--rescore", mode]);
        assert_csv(
            &format!("E45 problem grade report ({mode})"),
            &ran.problem_report(&c.id, "Org_E45_2026"),
            &[
                problem_header(&["Homework 1: Subsection - Problem1"]),
                problem_row(1, &["enrolled", "0.01", "1.0", "2.0"]),
                problem_row(2, &["enrolled", "0.0", "Not Attempted", "2.0"]),
                problem_row(3, &["unenrolled", "0.0", "Not Attempted", "2.0"]),
            ],
        );
        // One Homework subsection: a single column headed "Homework", no (Avg).
        assert_csv(
            &format!("E45 grade report ({mode})"),
            &ran.grade_report(&c.id, "Org_E45_2026"),
            &[
                grade_header(&["Homework"]),
                grade_row(1, &["0.01", "0.5"], &HONOR),
                grade_row(2, &["0.0", "Not Attempted"], &HONOR),
                grade_row(3, &["0.0", "Not Attempted"], &["honor", "N/A", "N", "N", "N/A", "unenrolled"]),
            ],
        );
    }
}

/// E46: a split test (partition 10, scheme `random`). Learner 1 is in Group A and sees
/// Problem A, learner 2 in Group B and sees Problem B. Homework min 1, drop 0, weight 1.
#[test]
fn e46_split_test_not_available_and_experiment_group() {
    let mut c = Course::new("course-v1:Org+E46+2026", &homework_policy(1, 0));
    c.user_partitions = Some(
        r#"[{"id": 10, "name": "Experiment 1", "scheme": "random", "groups": [{"id": 0, "name": "Group A"}, {"id": 1, "name": "Group B"}]}]"#
            .into(),
    );
    c.root(&["ch"]);
    c.chapter("ch", &["sub"]);
    c.seq("sub", "Subsection", "Homework", &["v"]);
    c.vertical("v", &["split"]);
    c.add("split_test", "split", "Split", &["va", "vb"]);
    c.vertical("va", &["pa"]).group_access = Some(r#"{"10": [0]}"#.into());
    c.vertical("vb", &["pb"]).group_access = Some(r#"{"10": [1]}"#.into());
    c.problem("pa", "Problem A", 2.0);
    c.problem("pb", "Problem B", 2.0);
    let mut ds = Dataset::default();
    users(&mut ds, &[1, 2]);
    c.write_to(&mut ds);
    for (u, group) in [(1, 0), (2, 1)] {
        enroll(&mut ds, &c.id, u, "honor", true);
        row!(ds, "partition_groups", { user_id: u, course_id: &c.id, partition_id: 10_i64, group_id: group as i64 });
    }
    csm(&mut ds, &c, 1, "pa", Some(2.0), 2.0, T1);
    csm(&mut ds, &c, 2, "pb", Some(1.0), 2.0, T1);
    let job = Job::new(&ds);
    let ran = job.run("recompute", &["--as-of", AS_OF]);
    assert_csv(
        "E46 problem grade report",
        &ran.problem_report(&c.id, "Org_E46_2026"),
        &[
            // Both branches are columns (collected structure, post-order).
            problem_header(&["Homework 1: Subsection - Problem A", "Homework 1: Subsection - Problem B"]),
            // 2/2 -> 1.0 -> course 1.0
            problem_row(1, &["enrolled", "1.0", "2.0", "2.0", "Not Available", "Not Available"]),
            // 1/2 -> 0.5 -> course 0.5
            problem_row(2, &["enrolled", "0.5", "Not Available", "Not Available", "1.0", "2.0"]),
        ],
    );
    assert_csv(
        "E46 grade report",
        &ran.grade_report(&c.id, "Org_E46_2026"),
        &[
            grade_header(&["Homework", "Experiment Group (Experiment 1)"]),
            grade_row(1, &["1.0", "1.0", "Group A"], &HONOR),
            grade_row(2, &["0.5", "0.5", "Group B"], &HONOR),
        ],
    );
}

/// E47's course: a cohorted course whose content groups (partition 1, scheme `cohort`) show
/// Problem0 to alpha and Problem1 to beta.
fn content_group_course(id: &str) -> Course {
    let mut c = Course::new(id, &homework_policy(1, 0));
    c.cohorted = Some(true);
    c.user_partitions = Some(
        r#"[{"id": 1, "name": "Content Groups", "scheme": "cohort", "groups": [{"id": 0, "name": "alpha"}, {"id": 1, "name": "beta"}]}]"#
            .into(),
    );
    c.root(&["ch"]);
    c.chapter("ch", &["sub"]);
    c.seq("sub", "Subsection", "Homework", &["v"]);
    c.vertical("v", &["p0", "p1"]);
    c.problem("p0", "Problem0", 2.0).group_access = Some(r#"{"1": [0]}"#.into());
    c.problem("p1", "Problem1", 2.0).group_access = Some(r#"{"1": [1]}"#.into());
    c
}

/// E47: cohort content groups (partition 1, scheme `cohort`): Problem0 for alpha, Problem1
/// for beta. Learner 3 has no cohort (and a CSM row for Problem0, which they cannot see);
/// learner 4's cohort "gamma" has no content group.
#[test]
fn e47_cohort_content_groups_and_cohort_name() {
    let c = content_group_course("course-v1:Org+E47+2026");
    let mut ds = Dataset::default();
    users(&mut ds, &[1, 2, 3, 4]);
    c.write_to(&mut ds);
    for u in 1..=4 {
        enroll(&mut ds, &c.id, u, "honor", true);
    }
    row!(ds, "cohort_memberships", { user_id: 1_i64, course_id: &c.id, cohort_name: "alpha", partition_id: 1_i64, group_id: 0_i64 });
    row!(ds, "cohort_memberships", { user_id: 2_i64, course_id: &c.id, cohort_name: "beta", partition_id: 1_i64, group_id: 1_i64 });
    row!(ds, "cohort_memberships", { user_id: 4_i64, course_id: &c.id, cohort_name: "gamma" });
    csm(&mut ds, &c, 1, "p0", Some(2.0), 2.0, T1);
    csm(&mut ds, &c, 2, "p1", Some(1.0), 2.0, T1);
    csm(&mut ds, &c, 3, "p0", Some(2.0), 2.0, T1);
    let job = Job::new(&ds);
    let ran = job.run("recompute", &["--as-of", AS_OF]);
    let na = "Not Available";
    assert_csv(
        "E47 problem grade report",
        &ran.problem_report(&c.id, "Org_E47_2026"),
        &[
            problem_header(&["Homework 1: Subsection - Problem0", "Homework 1: Subsection - Problem1"]),
            problem_row(1, &["enrolled", "1.0", "2.0", "2.0", na, na]),
            problem_row(2, &["enrolled", "0.5", na, na, "1.0", "2.0"]),
            // Sees neither problem: subsection possible 0 -> grader [pad] -> 0.0
            problem_row(3, &["enrolled", "0.0", na, na, na, na]),
            problem_row(4, &["enrolled", "0.0", na, na, na, na]),
        ],
    );
    assert_csv(
        "E47 grade report",
        &ran.grade_report(&c.id, "Org_E47_2026"),
        &[
            grade_header(&["Homework", "Cohort Name"]),
            grade_row(1, &["1.0", "1.0", "alpha"], &HONOR),
            grade_row(2, &["0.5", "0.5", "beta"], &HONOR),
            // The recomputed row (0/0) was never attempted.
            grade_row(3, &["0.0", "Not Attempted", ""], &HONOR),
            grade_row(4, &["0.0", "Not Attempted", "gamma"], &HONOR),
        ],
    );
}

/// A cohort's content group counts only in a cohorted course: edX's `get_cohort` returns no
/// cohort in a course that is not. Here the course's own settings say cohorted, but the
/// MySQL-side `course_settings` (written by `import mysql`, which wins) say not: the E47
/// learners see neither problem and the report has no Cohort Name column.
#[test]
fn cohort_content_groups_need_a_cohorted_course() {
    let c = content_group_course("course-v1:Org+E47b+2026");
    let mut ds = Dataset::default();
    users(&mut ds, &[1, 2]);
    c.write_to(&mut ds);
    for u in 1..=2 {
        enroll(&mut ds, &c.id, u, "honor", true);
    }
    row!(ds, "cohort_memberships", { user_id: 1_i64, course_id: &c.id, cohort_name: "alpha", partition_id: 1_i64, group_id: 0_i64 });
    row!(ds, "cohort_memberships", { user_id: 2_i64, course_id: &c.id, cohort_name: "beta", partition_id: 1_i64, group_id: 1_i64 });
    row!(ds, "course_settings", { course_id: &c.id, cohorted: false });
    csm(&mut ds, &c, 1, "p0", Some(2.0), 2.0, T1);
    csm(&mut ds, &c, 2, "p1", Some(1.0), 2.0, T1);
    let job = Job::new(&ds);
    let ran = job.run("recompute", &["--as-of", AS_OF]);
    let na = "Not Available";
    assert_csv(
        "problem grade report, not cohorted",
        &ran.problem_report(&c.id, "Org_E47b_2026"),
        &[
            problem_header(&["Homework 1: Subsection - Problem0", "Homework 1: Subsection - Problem1"]),
            problem_row(1, &["enrolled", "0.0", na, na, na, na]),
            problem_row(2, &["enrolled", "0.0", na, na, na, na]),
        ],
    );
    assert_csv(
        "grade report, not cohorted",
        &ran.grade_report(&c.id, "Org_E47b_2026"),
        &[
            grade_header(&["Homework"]),
            grade_row(1, &["0.0", "Not Attempted"], &HONOR),
            grade_row(2, &["0.0", "Not Attempted"], &HONOR),
        ],
    );
}

/// Where `import mysql` wrote edX's course index (`course_versions`), a run says when the version
/// it grades is not the one edX serves now, and grades what it was asked to all the same.
#[test]
fn the_course_index_says_when_the_graded_version_is_not_the_current_one() {
    let mut c = Course::new("course-v1:Org+Idx+2026", &homework_policy(1, 0));
    c.root(&["ch"]);
    c.chapter("ch", &["sub"]);
    c.seq("sub", "Subsection", "Homework", &["v"]);
    c.vertical("v", &["p0"]);
    c.problem("p0", "Problem0", 2.0);
    let index = |current: &str| {
        let mut ds = Dataset::default();
        users(&mut ds, &[1]);
        c.write_to(&mut ds);
        enroll(&mut ds, &c.id, 1, "honor", true);
        row!(ds, "course_versions", { course_id: &c.id, course_version: current, published_at: V::T(0), current: true });
        ds
    };
    let ds = index("0123456789abcdef01234567");
    let job = Job::new(&ds);
    let ran = job.run("missing", &["--as-of", AS_OF]);
    let err = ran.stderr();
    assert!(
        err.contains("current published version is 0123456789abcdef01234567")
            && err.contains("does not hold it"),
        "{err}"
    );
    assert_eq!(ran.manifest()["courses"][0]["course_version"], "v1", "graded as asked");

    let ds = index("v1");
    let job = Job::new(&ds);
    let err = job.run("current", &["--as-of", AS_OF]).stderr();
    assert!(!err.contains("current published version"), "{err}");
}

/// E48: a course with no graded problems (an ungraded subsection with an html block and a
/// problem): no assignment columns, no problem columns, Grade 0.0 for everyone.
#[test]
fn e48_no_graded_problems() {
    let mut c = Course::new("course-v1:Org+E48+2026", "{}");
    c.root(&["ch"]);
    c.chapter("ch", &["intro"]);
    c.add("sequential", "intro", "Intro", &["v"]).graded = Some(false);
    c.vertical("v", &["welcome", "survey"]);
    c.add("html", "welcome", "Welcome", &[]);
    c.problem("survey", "Survey", 1.0);
    let mut ds = Dataset::default();
    users(&mut ds, &[1, 2]);
    c.write_to(&mut ds);
    enroll(&mut ds, &c.id, 1, "honor", true);
    enroll(&mut ds, &c.id, 2, "honor", true);
    csm(&mut ds, &c, 1, "survey", Some(1.0), 1.0, T1);
    let job = Job::new(&ds);
    let ran = job.run("recompute", &["--as-of", AS_OF]);
    assert_csv(
        "E48 problem grade report",
        &ran.problem_report(&c.id, "Org_E48_2026"),
        &[problem_header(&[]), problem_row(1, &["enrolled", "0.0"]), problem_row(2, &["enrolled", "0.0"])],
    );
    assert_csv(
        "E48 grade report",
        &ran.grade_report(&c.id, "Org_E48_2026"),
        &[grade_header(&[]), grade_row(1, &["0.0"], &HONOR), grade_row(2, &["0.0"], &HONOR)],
    );
}

// ---------------------------------------------------------------------------------------
// E49: file names and folders

/// E49: `{org}_{course}_{run}` made a valid file name (Django `get_valid_filename`: every
/// character outside `[-\w.]` removed, Unicode letters kept), `_{csv_name}_`, the as-of
/// time in UTC as `%Y-%m-%d-%H%M`; the folder is the SHA-1 hex of the course id.
#[test]
fn e49_report_file_names_and_folders() {
    let learner = |c: &Course, ds: &mut Dataset| {
        c.write_to(ds);
        enroll(ds, &c.id, 1, "honor", true);
    };
    // Run 1: the spec's example, frozen at 2020-01-01 00:00 UTC.
    let mut old = one_problem_course("course-v1:edx+1.23x+test_course", &homework_policy(1, 0));
    old.course_start = Some(1_546_300_800_000_000); // 2019-01-01
    let mut ds = Dataset::default();
    users(&mut ds, &[1]);
    learner(&old, &mut ds);
    let job = Job::new(&ds);
    let ran = job.run("e49", &["--as-of", "2020-01-01T00:00:00Z", "--rescore", "read"]);
    assert_eq!(sha1_hex(&old.id), "ebb4d2f354dede83f11b1df99a9e1fada663a7bb");
    assert!(ran.out.join("reports/ebb4d2f354dede83f11b1df99a9e1fada663a7bb").is_dir());
    assert_eq!(
        ran.report_files(&old.id),
        [
            "edx_1.23x_test_course_grade_report_2020-01-01-0000.csv",
            "edx_1.23x_test_course_problem_grade_report_2020-01-01-0000.csv"
        ]
    );

    // Run 2: odd but valid course key characters (`~`, `:`, `.`, Unicode letters), and an
    // as-of with an offset and seconds: 13:07:59+02:00 is 11:07 UTC.
    let odd = one_problem_course("course-v1:Org~X+CS:101+2026.T1", &homework_policy(1, 0));
    let mut ds = Dataset::default();
    users(&mut ds, &[1]);
    learner(&odd, &mut ds);
    let job = Job::new(&ds);
    let ran = job.run("odd", &["--as-of", "2026-06-01T13:07:59+02:00"]);
    assert_eq!(sha1_hex(&odd.id), "56bbcf7b01b6edad32e408114bc6b895ed56dca7");
    // "Org~X_CS:101_2026.T1" -> "~" and ":" removed
    assert_eq!(
        ran.report_files(&odd.id),
        [
            "OrgX_CS101_2026.T1_grade_report_2026-06-01-1107.csv",
            "OrgX_CS101_2026.T1_problem_grade_report_2026-06-01-1107.csv"
        ]
    );
    let expected = [grade_header(&["Homework"]), grade_row(1, &["0.0", "Not Attempted"], &HONOR)];
    assert_csv(
        "odd course grade report",
        &ran.report(&odd.id, "OrgX_CS101_2026.T1", "grade_report", "2026-06-01-1107"),
        &expected,
    );
    // Output tables are partitioned by the escaped course id.
    for table in ["subsection_grades", "course_grades"] {
        let part = ran
            .out
            .join(table)
            .join("course_id=course-v1%3AOrg%7EX%2BCS%3A101%2B2026%2ET1")
            .join("part-00000.parquet");
        assert!(part.is_file(), "missing {}", part.display());
    }
}

/// E49 with Unicode letters in the course key (valid in opaque keys: `[\w\-~.:]`, Unicode
/// `\w`). Django's `get_valid_filename` keeps them (`[^-\w.]` removed, `\w` Unicode), so
/// edX names the file `Üni_Café_2026_grade_report_<ts>.csv` (§8.4).
#[test]

fn e49_unicode_course_key_file_names() {
    let unicode = one_problem_course("course-v1:Üni+Café+2026", &homework_policy(1, 0));
    let mut ds = Dataset::default();
    users(&mut ds, &[1]);
    unicode.write_to(&mut ds);
    enroll(&mut ds, &unicode.id, 1, "honor", true);
    let job = Job::new(&ds);
    let ran = job.run("unicode", &["--as-of", AS_OF, "--rescore", "read"]);
    assert_eq!(sha1_hex(&unicode.id), "5a256c9502d5cb24b88ed92b8980b4f533eb1fd8");
    assert_eq!(
        ran.report_files(&unicode.id),
        [
            "Üni_Café_2026_grade_report_2026-06-01-0000.csv",
            "Üni_Café_2026_problem_grade_report_2026-06-01-0000.csv"
        ]
    );
    assert_csv(
        "unicode course grade report",
        &ran.grade_report(&unicode.id, "Üni_Café_2026"),
        &[grade_header(&["Homework"]), grade_row(1, &["0.0", "Not Attempted"], &HONOR)],
    );
}

// ---------------------------------------------------------------------------------------
// Columns, quoting, order

/// Cohort Name, one Experiment Group column per random-scheme partition (not for the cohort
/// partition), Team Name (last membership wins), assignment types in order of first
/// appearance (Lab before Homework though the policy lists Homework first), a
/// single-subsection type headed by its format ("Final Exam"), excel quoting of names with
/// a comma and quotes, users ordered by numeric user id, inactive enrollments included.
#[test]
fn report_columns_quoting_and_learner_order() {
    let policy = r#"{"GRADER": [
        {"type": "Homework", "min_count": 3, "drop_count": 1, "short_label": "HW", "weight": 0.3},
        {"type": "Lab", "min_count": 2, "drop_count": 0, "weight": 0.2},
        {"type": "Final Exam", "short_label": "Final", "min_count": 1, "drop_count": 0, "weight": 0.5}],
        "GRADE_CUTOFFS": {"Pass": 0.5}}"#;
    let mut c = Course::new("course-v1:Org+Cols+2026", policy);
    c.cohorted = Some(true);
    c.teams_enabled = Some(true);
    c.user_partitions = Some(
        r#"[{"id": 10, "name": "Experiment 1", "scheme": "random", "groups": [{"id": 0, "name": "Group A"}, {"id": 1, "name": "Group B"}]},
            {"id": 11, "name": "Color Test", "scheme": "random", "groups": [{"id": 0, "name": "Red"}, {"id": 1, "name": "Blue"}]},
            {"id": 1, "name": "Content Groups", "scheme": "cohort", "groups": [{"id": 0, "name": "alpha"}]}]"#
            .into(),
    );
    c.root(&["ch1", "ch2"]);
    c.chapter("ch1", &["lab1", "hw1"]);
    c.seq("lab1", "Lab, Part \"One\"", "Lab", &["vl1"]);
    c.vertical("vl1", &["pl1"]);
    c.problem("pl1", "Lab Problem 1", 1.0);
    c.seq("hw1", "Week 1, \"Intro\"", "Homework", &["vh1"]);
    c.vertical("vh1", &["ph1"]);
    c.problem("ph1", "HW Problem 1", 4.0).weight = Some(2.0);
    c.chapter("ch2", &["hw2", "lab2", "final", "notes"]);
    c.seq("hw2", "Week 2", "Homework", &["vh2"]);
    c.vertical("vh2", &["ph2"]);
    c.problem("ph2", "HW Problem 2", 1.0);
    c.seq("lab2", "Lab 2", "Lab", &["vl2"]);
    c.vertical("vl2", &["pl2"]);
    c.problem("pl2", "Lab Problem 2", 1.0);
    c.seq("final", "Finál (UTF-8)", "Final Exam", &["vf"]);
    c.vertical("vf", &["pf"]);
    c.problem("pf", "Final Problem", 10.0);
    c.add("sequential", "notes", "Notes", &["vn"]).graded = Some(false);
    c.vertical("vn", &["pn"]);
    c.problem("pn", "Poll", 1.0);

    let mut ds = Dataset::default();
    users(&mut ds, &[4, 12, 30]);
    c.write_to(&mut ds);
    // Enrollment rows out of order; "12" < "30" < "4" as strings, 4 < 12 < 30 as numbers.
    enroll(&mut ds, &c.id, 30, "honor", true);
    enroll(&mut ds, &c.id, 4, "honor", true);
    enroll(&mut ds, &c.id, 12, "honor", false);
    // Learner 30.
    csm(&mut ds, &c, 30, "pl1", Some(1.0), 1.0, T1);
    csm(&mut ds, &c, 30, "ph1", Some(3.0), 4.0, T1);
    csm(&mut ds, &c, 30, "ph2", Some(0.0), 1.0, T1);
    csm(&mut ds, &c, 30, "pf", Some(7.0), 10.0, T1);
    csm(&mut ds, &c, 30, "pn", Some(1.0), 1.0, T1);
    row!(ds, "cohort_memberships", { user_id: 30_i64, course_id: &c.id, cohort_name: "Section, A" });
    row!(ds, "partition_groups", { user_id: 30_i64, course_id: &c.id, partition_id: 10_i64, group_id: 1_i64 });
    row!(ds, "partition_groups", { user_id: 30_i64, course_id: &c.id, partition_id: 11_i64, group_id: 0_i64 });
    row!(ds, "team_memberships", { user_id: 30_i64, course_id: &c.id, team_name: "Team \"X\"" });
    row!(ds, "team_memberships", { user_id: 30_i64, course_id: &c.id, team_name: "Blue Team" });
    // Learner 4: only an experiment group.
    row!(ds, "partition_groups", { user_id: 4_i64, course_id: &c.id, partition_id: 10_i64, group_id: 0_i64 });
    // Learner 12: inactive, a cohort, a team, a viewed-but-ungraded Lab 2 problem.
    row!(ds, "cohort_memberships", { user_id: 12_i64, course_id: &c.id, cohort_name: "Section B" });
    row!(ds, "team_memberships", { user_id: 12_i64, course_id: &c.id, team_name: "Reds" });
    csm(&mut ds, &c, 12, "pl2", None, 1.0, T1);

    let job = Job::new(&ds);
    let ran = job.run("recompute", &["--as-of", AS_OF]);
    let report = ran.grade_report(&c.id, "Org_Cols_2026");
    let header = "Student ID,Email,Username,Grade,\"Lab 1: Lab, Part \"\"One\"\"\",Lab 2: Lab 2,Lab (Avg),\
                  \"Homework 1: Week 1, \"\"Intro\"\"\",Homework 2: Week 2,Homework (Avg),Final Exam,Cohort Name,\
                  Experiment Group (Experiment 1),Experiment Group (Color Test),Team Name,Enrollment Track,\
                  Verification Status,Certificate Eligible,Certificate Delivered,Certificate Type,Enrollment Status\r\n";
    assert!(report.starts_with(header), "header line:\n{report}");
    let na = "Not Attempted";
    assert_csv(
        "columns grade report",
        &report,
        &[
            grade_header(&[
                "Lab 1: Lab, Part \"One\"",
                "Lab 2: Lab 2",
                "Lab (Avg)",
                "Homework 1: Week 1, \"Intro\"",
                "Homework 2: Week 2",
                "Homework (Avg)",
                "Final Exam",
                "Cohort Name",
                "Experiment Group (Experiment 1)",
                "Experiment Group (Color Test)",
                "Team Name",
            ]),
            // Nothing answered: every recomputed row unattempted. Lab Avg =
            // total_with_drops([0.0, 0.0], 0) = 0.0; HW Avg = ([0.0, 0.0], drop 1) = 0.0/1.
            // No assignment in partition 11: ''.
            grade_row(4, &["0.0", na, na, "0.0", na, na, "0.0", na, "", "Group A", "", ""], &HONOR),
            // Inactive: included, "unenrolled". A CSM row with grade NULL is not an attempt.
            grade_row(
                12,
                &["0.0", na, na, "0.0", na, na, "0.0", na, "Section B", "", "", "Reds"],
                &["honor", "N/A", "N", "N", "N/A", "unenrolled"],
            ),
            // Lab: 1/1 -> 1.0, 0/1 unattempted; grader [1.0, 0.0] = 0.5; Avg ([1.0, 0.0], 0) = 0.5
            // HW: ph1 raw 3/4 weight 2 -> 1.5/2.0 = 0.75; ph2 0/1 attempted -> 0.0;
            //   grader [0.75, 0.0, pad], drop 1 (the pad) -> 0.75/2 = 0.375;
            //   Avg = total_with_drops([0.75, 0.0], 1) = 0.75/1 = 0.75 (not padded)
            // Final: 7/10 = 0.7. Poll is ungraded.
            // total = 0.375*0.3 + 0.5*0.2 + 0.7*0.5 = 0.5625; 56.25+0.05 -> 56 -> 0.56
            // Last team membership wins; honor is not verified -> Eligible N although passing.
            grade_row(
                30,
                &[
                    "0.56",
                    "1.0",
                    na,
                    "0.5",
                    "0.75",
                    "0.0",
                    "0.75",
                    "0.7",
                    "Section, A",
                    "Group B",
                    "Red",
                    "Blue Team",
                ],
                &HONOR,
            ),
        ],
    );
    assert_csv(
        "columns problem grade report",
        &ran.problem_report(&c.id, "Org_Cols_2026"),
        &[
            problem_header(&[
                "Lab 1: Lab, Part \"One\" - Lab Problem 1",
                "Lab 2: Lab 2 - Lab Problem 2",
                "Homework 1: Week 1, \"Intro\" - HW Problem 1",
                "Homework 2: Week 2 - HW Problem 2",
                "Final Exam 1: Finál (UTF-8) - Final Problem",
            ]),
            problem_row(4, &["enrolled", "0.0", na, "1.0", na, "1.0", na, "2.0", na, "1.0", na, "10.0"]),
            problem_row(12, &["unenrolled", "0.0", na, "1.0", na, "1.0", na, "2.0", na, "1.0", na, "10.0"]),
            // Weighted values: ph1 1.5 of 2.0; ph2 attempted 0.0 of 1.0.
            problem_row(
                30,
                &["enrolled", "0.56", "1.0", "1.0", na, "1.0", "1.5", "2.0", "0.0", "1.0", "7.0", "10.0"],
            ),
        ],
    );
}

/// §8.2's bug, kept: the `(Avg)` grader is looked up by *category*. "Quiz" has no grader and
/// "Homework"'s grader has category "Assignments": both get an `(Avg)` header but no value,
/// so every later cell shifts left (the row is two cells shorter than the header).
#[test]
fn avg_column_without_grader_of_that_category_shifts_the_row() {
    let policy = r#"{"GRADER": [
        {"type": "Homework", "category": "Assignments", "min_count": 2, "drop_count": 0, "weight": 0.5},
        {"type": "Final Exam", "min_count": 1, "drop_count": 0, "weight": 0.5}],
        "GRADE_CUTOFFS": {"Pass": 0.5}}"#;
    let mut c = Course::new("course-v1:Org+Quiz+2026", policy);
    c.root(&["ch"]);
    c.chapter("ch", &["q1", "q2", "hw1", "hw2", "fin"]);
    c.seq("q1", "Quiz A", "Quiz", &["pq1"]);
    c.problem("pq1", "Q1", 1.0);
    c.seq("q2", "Quiz B", "Quiz", &["pq2"]);
    c.problem("pq2", "Q2", 1.0);
    c.seq("hw1", "HW A", "Homework", &["ph1"]);
    c.problem("ph1", "H1", 2.0);
    c.seq("hw2", "HW B", "Homework", &["ph2"]);
    c.problem("ph2", "H2", 2.0);
    c.seq("fin", "The Final", "Final Exam", &["pf"]);
    c.problem("pf", "F", 4.0);
    let mut ds = Dataset::default();
    users(&mut ds, &[1, 2]);
    c.write_to(&mut ds);
    enroll(&mut ds, &c.id, 1, "honor", true);
    enroll(&mut ds, &c.id, 2, "honor", true);
    csm(&mut ds, &c, 1, "pq1", Some(1.0), 1.0, T1);
    csm(&mut ds, &c, 1, "ph1", Some(1.0), 2.0, T1);
    csm(&mut ds, &c, 1, "ph2", Some(2.0), 2.0, T1);
    csm(&mut ds, &c, 1, "pf", Some(3.0), 4.0, T1);
    let job = Job::new(&ds);
    let ran = job.run("recompute", &["--as-of", AS_OF]);
    let na = "Not Attempted";
    assert_csv(
        "quiz grade report",
        &ran.grade_report(&c.id, "Org_Quiz_2026"),
        &[
            grade_header(&[
                "Quiz 1: Quiz A",
                "Quiz 2: Quiz B",
                "Quiz (Avg)",
                "Homework 1: HW A",
                "Homework 2: HW B",
                "Homework (Avg)",
                "Final Exam",
            ]),
            // Homework grader on format Homework: [0.5, 1.0] = 0.75 x 0.5 = 0.375;
            // Final 3/4 = 0.75 x 0.5 = 0.375; Quiz not graded: 0.75 -> 75.05 -> 0.75.
            // Cells: Quiz 1, Quiz 2, (no Quiz Avg), HW 1, HW 2, (no HW Avg), Final, tail.
            grade_row(1, &["0.75", "1.0", na, "0.5", "1.0", "0.75"], &HONOR),
            grade_row(2, &["0.0", na, na, na, na, na], &HONOR),
        ],
    );
}

// ---------------------------------------------------------------------------------------
// Bad input

/// A submissions score with earned < 0 and possible > 0 makes edX fail that learner: the
/// learner is left out of both reports and listed in the error CSVs; the run exits 0. A
/// hidden score (possible 0) is ignored, and the latest score of an item wins.
#[test]
fn failing_learner_goes_to_error_csvs() {
    let mut c = Course::new("course-v1:Org+Bad+2026", &homework_policy(1, 0));
    c.root(&["ch"]);
    c.chapter("ch", &["ora"]);
    c.seq("ora", "ORA", "Homework", &["essay"]);
    let essay = c.add("openassessment", "essay", "Essay", &[]);
    essay.has_score = true;
    essay.max_score = Some(5.0);
    essay.weight = Some(10.0);
    let mut ds = Dataset::default();
    users(&mut ds, &[1, 2, 3]);
    c.write_to(&mut ds);
    for u in 1..=3 {
        enroll(&mut ds, &c.id, u, "honor", true);
    }
    let key = c.key("essay");
    let mut sub = |id: i64, user: i64, earned: f64, possible: f64, at: i64| {
        row!(ds, "submissions", {
            id: id, user_id: user, course_id: &c.id, usage_key: &key,
            points_earned: earned, points_possible: possible, created_at: ts(at),
        });
    };
    sub(2, 1, 4.0, 5.0, T2); // the latest of learner 1's two scores
    sub(1, 1, 1.0, 5.0, T1);
    sub(3, 2, -1.0, 5.0, T1); // breaks the submissions contract
    sub(4, 3, 3.0, 0.0, T1); // hidden (a reset): ignored
    let job = Job::new(&ds);
    let ran = job.run("recompute", &["--as-of", AS_OF]);
    let prefix = "Org_Bad_2026";
    assert_csv(
        "bad input grade report",
        &ran.grade_report(&c.id, prefix),
        &[
            grade_header(&["Homework"]),
            // Submissions ignore the weight: 4/5 = 0.8 -> course 0.8
            grade_row(1, &["0.8", "0.8"], &HONOR),
            grade_row(3, &["0.0", "Not Attempted"], &HONOR),
        ],
    );
    assert_csv(
        "bad input problem grade report",
        &ran.problem_report(&c.id, prefix),
        &[
            problem_header(&["Homework 1: ORA - Essay"]),
            problem_row(1, &["enrolled", "0.8", "4.0", "5.0"]),
            // No visible score: content max 5 with weight 10 -> 0 of 10.0
            problem_row(3, &["enrolled", "0.0", "Not Attempted", "10.0"]),
        ],
    );
    let err = ran.report(&c.id, prefix, "grade_report_err", AS_OF_STAMP);
    let lines: Vec<&str> = err.split_terminator("\r\n").collect();
    assert_eq!(lines.len(), 2, "{err:?}");
    assert_eq!(lines[0], "Student ID,Username,Error");
    let row = parse_line(lines[1]);
    assert_eq!(row.len(), 3, "{err:?}");
    assert_eq!(row[..2], ["2", "user2"]);
    assert!(!row[2].is_empty(), "an error message is expected: {err:?}");
    let perr = ran.report(&c.id, prefix, "problem_grade_report_err", AS_OF_STAMP);
    let lines: Vec<&str> = perr.split_terminator("\r\n").collect();
    assert_eq!(lines.len(), 2, "{perr:?}");
    assert_eq!(lines[0], "Student ID,Email,Username,error_msg");
    let row = parse_line(lines[1]);
    assert_eq!(row.len(), 4, "{perr:?}");
    assert_eq!(row[..3], ["2", "user2@example.com", "user2"]);
    assert!(!row[3].is_empty(), "an error message is expected: {perr:?}");
    assert_eq!(
        ran.report_files(&c.id),
        [
            "Org_Bad_2026_grade_report_2026-06-01-0000.csv",
            "Org_Bad_2026_grade_report_err_2026-06-01-0000.csv",
            "Org_Bad_2026_problem_grade_report_2026-06-01-0000.csv",
            "Org_Bad_2026_problem_grade_report_err_2026-06-01-0000.csv",
        ]
    );
    let manifest = ran.manifest();
    assert_eq!(manifest["courses"][0]["learner_errors"], 1, "{manifest:#}");
    assert_eq!(manifest["failed"].as_array().map(Vec::len), Some(0), "{manifest:#}");
}

// ---------------------------------------------------------------------------------------
// More of §8: DAG subsections, float repr, persisted visible blocks, rows outside the view

/// A subsection listed in two chapters (and a subsection whose `graded` is inherited from
/// its chapter). The grading context lists "A" twice (k = 1 and 3): its column keeps its
/// first position with the last header, "Homework 3: A"; there is an (Avg) column because
/// the type has more than one entry. The grader sees "A" once.
#[test]
fn dag_subsection_in_two_chapters_keeps_first_position_last_header() {
    let mut c = Course::new("course-v1:Org+Dag+2026", &homework_policy(2, 0));
    c.root(&["ch1", "ch2"]);
    c.chapter("ch1", &["sa", "sb"]);
    c.chapter("ch2", &["sa", "sc"]).graded = Some(true);
    c.seq("sa", "A", "Homework", &["pa"]);
    c.problem("pa", "PA", 2.0);
    c.seq("sb", "B", "Homework", &["pb"]);
    c.problem("pb", "PB", 2.0);
    c.seq("sc", "C", "Homework", &["pc"]).graded = None; // graded inherited from ch2
    c.problem("pc", "PC", 2.0);
    let mut ds = Dataset::default();
    users(&mut ds, &[1]);
    c.write_to(&mut ds);
    enroll(&mut ds, &c.id, 1, "honor", true);
    csm(&mut ds, &c, 1, "pa", Some(1.0), 2.0, T1);
    csm(&mut ds, &c, 1, "pb", Some(2.0), 2.0, T1);
    csm(&mut ds, &c, 1, "pc", Some(1.0), 2.0, T1);
    let job = Job::new(&ds);
    let ran = job.run("recompute", &["--as-of", AS_OF]);
    assert_csv(
        "DAG grade report",
        &ran.grade_report(&c.id, "Org_Dag_2026"),
        &[
            grade_header(&["Homework 3: A", "Homework 2: B", "Homework 4: C", "Homework (Avg)"]),
            // [0.5, 1.0, 0.5] (A once) = 2.0/3 = 0.6666666666666666; 66.67+0.05 -> 0.67
            grade_row(1, &["0.67", "0.5", "1.0", "0.5", "0.6666666666666666"], &HONOR),
        ],
    );
    assert_csv(
        "DAG problem grade report",
        &ran.problem_report(&c.id, "Org_Dag_2026"),
        &[
            problem_header(&["Homework 3: A - PA", "Homework 2: B - PB", "Homework 4: C - PC"]),
            problem_row(1, &["enrolled", "0.67", "1.0", "2.0", "2.0", "2.0", "1.0", "2.0"]),
        ],
    );
}

/// Cells are Python `str()` of floats: shortest round-trip repr, `e-05` below 1e-4.
/// percent_graded is rounded half-even to 4 decimals; the (Avg) sums from the int 0 in
/// index order and divides by the count. Homework min 2, drop 0, weight 1.
#[test]
fn python_float_repr_in_cells() {
    let mut c = Course::new("course-v1:Org+Repr+2026", &homework_policy(2, 0));
    c.root(&["ch"]);
    c.chapter("ch", &["s1", "s2"]);
    c.seq("s1", "S1", "Homework", &["p1"]);
    c.problem("p1", "P1", 10.0);
    c.seq("s2", "S2", "Homework", &["p2"]);
    c.problem("p2", "P2", 10.0);
    let mut ds = Dataset::default();
    users(&mut ds, &[1, 2, 3]);
    c.write_to(&mut ds);
    for u in 1..=3 {
        enroll(&mut ds, &c.id, u, "honor", true);
    }
    // CSM max_grade is what the learner saw, whatever the collected max_score.
    csm(&mut ds, &c, 1, "p1", Some(1.0), 10.0, T1);
    csm(&mut ds, &c, 1, "p2", Some(2.0), 10.0, T1);
    csm(&mut ds, &c, 2, "p1", Some(1.0), 10000.0, T1);
    csm(&mut ds, &c, 2, "p2", Some(0.0), 10.0, T1);
    csm(&mut ds, &c, 3, "p1", Some(2.0), 3.0, T1);
    csm(&mut ds, &c, 3, "p2", Some(1.0), 7.0, T1);
    let job = Job::new(&ds);
    let ran = job.run("recompute", &["--as-of", AS_OF]);
    assert_csv(
        "repr grade report",
        &ran.grade_report(&c.id, "Org_Repr_2026"),
        &[
            grade_header(&["Homework 1: S1", "Homework 2: S2", "Homework (Avg)"]),
            // (0.1 + 0.2)/2 = 0.30000000000000004/2 = 0.15000000000000002; 15.000000000000002
            // + 0.05 -> 15 -> 0.15
            grade_row(1, &["0.15", "0.1", "0.2", "0.15000000000000002"], &HONOR),
            // 1/10000 = 0.0001; (0.0001 + 0.0)/2 = 5e-05; 0.005+0.05 -> 0 -> 0.0
            grade_row(2, &["0.0", "0.0001", "0.0", "5e-05"], &HONOR),
            // 2/3 -> 0.6667, 1/7 -> 0.1429; (0.6667+0.1429)/2 = 0.4048; 40.48+0.05 -> 41 -> 0.41
            grade_row(3, &["0.41", "0.6667", "0.1429", "0.4048"], &HONOR),
        ],
    );
    assert_csv(
        "repr problem grade report",
        &ran.problem_report(&c.id, "Org_Repr_2026"),
        &[
            problem_header(&["Homework 1: S1 - P1", "Homework 2: S2 - P2"]),
            problem_row(1, &["enrolled", "0.15", "1.0", "10.0", "2.0", "10.0"]),
            problem_row(2, &["enrolled", "0.0", "1.0", "10000.0", "0.0", "10.0"]),
            problem_row(3, &["enrolled", "0.41", "2.0", "3.0", "1.0", "7.0"]),
        ],
    );
}

/// Read mode: a persisted subsection's problem scores are re-scored over its *persisted*
/// visible blocks (§4.2, §8.3): the record's weight applies; CSM max_grade wins over the
/// record's raw_possible; without CSM the record's raw_possible is used; a problem added
/// after the row was persisted is not in `problem_scores` -> `Not Available`.
#[test]
fn problem_report_reads_persisted_visible_blocks() {
    let mut c = Course::new("course-v1:Org+Vb+2026", &homework_policy(1, 0));
    c.root(&["ch"]);
    c.chapter("ch", &["s"]);
    c.seq("s", "S", "Homework", &["p1", "p2", "p3"]);
    c.problem("p1", "P1", 2.0);
    c.problem("p2", "P2", 2.0);
    c.problem("p3", "P3", 2.0);
    let mut ds = Dataset::default();
    users(&mut ds, &[1, 2]);
    c.write_to(&mut ds);
    enroll(&mut ds, &c.id, 1, "honor", true);
    enroll(&mut ds, &c.id, 2, "honor", true);
    csm(&mut ds, &c, 1, "p1", Some(1.0), 2.0, T1);
    persisted_subsection(
        &mut ds,
        &c,
        SubsectionRow {
            id: 1,
            user: 1,
            subsection: "s",
            // p1 1*5/2 = 2.5 of 5; p2 0 of 3 -> 2.5/8 = 0.3125
            values: [2.5, 8.0, 2.5, 8.0],
            first_attempted: Some(T1),
            records: vec![
                Record { block: "p1", weight: Some(5.0), raw_possible: Some(2.0), graded: true },
                Record { block: "p2", weight: None, raw_possible: Some(3.0), graded: true },
            ],
        },
    );
    persisted_course_grade(&mut ds, &c, 1, 1, 0.31, "");
    let job = Job::new(&ds);
    let ran = job.run("read", &["--as-of", AS_OF, "--rescore", "read"]);
    assert_csv(
        "visible blocks grade report",
        &ran.grade_report(&c.id, "Org_Vb_2026"),
        &[
            grade_header(&["Homework"]),
            grade_row(1, &["0.31", "0.3125"], &HONOR),
            grade_row(2, &["0.0", "Not Attempted"], &HONOR),
        ],
    );
    assert_csv(
        "visible blocks problem grade report",
        &ran.problem_report(&c.id, "Org_Vb_2026"),
        &[
            problem_header(&["Homework 1: S - P1", "Homework 1: S - P2", "Homework 1: S - P3"]),
            problem_row(
                1,
                &["enrolled", "0.31", "2.5", "5.0", "Not Attempted", "3.0", "Not Available", "Not Available"],
            ),
            // Zero course grade: content scores (max 2, no weight) for every problem.
            problem_row(
                2,
                &["enrolled", "0.0", "Not Attempted", "2.0", "Not Attempted", "2.0", "Not Attempted", "2.0"],
            ),
        ],
    );
}

/// Read mode: a persisted, attempted subsection row of a subsection that is *not* in the
/// learner's structure now (its start moved into the future). edX's report cell comes from
/// `course_grade.subsection_grade(location)`, which falls back to the collected structure
/// and reads the persisted row through `SubsectionGradeFactory.create` (§5.6, §8.1: "persisted
/// subsection grades or Zero"), so the cell is the row's percent and the (Avg) counts it.
/// Its problem is not in `problem_scores` (built from the learner's structure only).
#[test]

fn persisted_row_of_subsection_outside_learner_structure_is_reported() {
    let mut c = Course::new("course-v1:Org+Gone+2026", &homework_policy(2, 0));
    c.root(&["ch"]);
    c.chapter("ch", &["open", "later"]);
    c.seq("open", "Open", "Homework", &["p1"]);
    c.problem("p1", "P1", 2.0);
    c.seq("later", "Later", "Homework", &["p2"]).start = Some(AS_OF_US + 10 * DAY);
    c.problem("p2", "P2", 2.0);
    let mut ds = Dataset::default();
    users(&mut ds, &[1]);
    c.write_to(&mut ds);
    enroll(&mut ds, &c.id, 1, "honor", true);
    csm(&mut ds, &c, 1, "p1", Some(1.0), 2.0, T1);
    csm(&mut ds, &c, 1, "p2", Some(2.0), 2.0, T1);
    for (id, sub, block, earned) in [(1, "open", "p1", 1.0), (2, "later", "p2", 2.0)] {
        persisted_subsection(
            &mut ds,
            &c,
            SubsectionRow {
                id,
                user: 1,
                subsection: sub,
                values: [earned, 2.0, earned, 2.0],
                first_attempted: Some(T1),
                records: vec![Record { block, weight: None, raw_possible: Some(2.0), graded: true }],
            },
        );
    }
    // Stored when both were open: [0.5, 1.0] = 0.75
    persisted_course_grade(&mut ds, &c, 1, 1, 0.75, "Pass");
    let job = Job::new(&ds);
    let ran = job.run("read", &["--as-of", AS_OF, "--rescore", "read"]);
    assert_csv(
        "outside-structure grade report",
        &ran.grade_report(&c.id, "Org_Gone_2026"),
        &[
            grade_header(&["Homework 1: Open", "Homework 2: Later", "Homework (Avg)"]),
            // Avg = (0.5 + 1.0)/2 = 0.75
            grade_row(1, &["0.75", "0.5", "1.0", "0.75"], &HONOR),
        ],
    );
    assert_csv(
        "outside-structure problem grade report",
        &ran.problem_report(&c.id, "Org_Gone_2026"),
        &[
            problem_header(&["Homework 1: Open - P1", "Homework 2: Later - P2"]),
            problem_row(1, &["enrolled", "0.75", "1.0", "2.0", "Not Available", "Not Available"]),
        ],
    );
}

/// `Experiment Group ({partition.name})` is one column per `random`-scheme partition of the
/// course's `user_partitions` (§8.2 item 5; edX: `get_split_user_partitions`, which does not
/// look at `active`), so an inactive experiment keeps its column; the value is the stored
/// group's name (`get_group(..., assign=False)`).
#[test]

fn experiment_group_column_for_inactive_random_partition() {
    let mut c = one_problem_course("course-v1:Org+Exp+2026", &homework_policy(1, 0));
    c.user_partitions = Some(
        r#"[{"id": 20, "name": "Old Experiment", "scheme": "random", "active": false,
             "groups": [{"id": 0, "name": "Control"}, {"id": 1, "name": "Treatment"}]},
            {"id": 21, "name": "New Experiment", "scheme": "random",
             "groups": [{"id": 0, "name": "A"}, {"id": 1, "name": "B"}]}]"#
            .into(),
    );
    let mut ds = Dataset::default();
    users(&mut ds, &[1, 2]);
    c.write_to(&mut ds);
    enroll(&mut ds, &c.id, 1, "honor", true);
    enroll(&mut ds, &c.id, 2, "honor", true);
    row!(ds, "partition_groups", { user_id: 1_i64, course_id: &c.id, partition_id: 20_i64, group_id: 1_i64 });
    row!(ds, "partition_groups", { user_id: 1_i64, course_id: &c.id, partition_id: 21_i64, group_id: 0_i64 });
    row!(ds, "partition_groups", { user_id: 2_i64, course_id: &c.id, partition_id: 21_i64, group_id: 1_i64 });
    let job = Job::new(&ds);
    let ran = job.run("read", &["--as-of", AS_OF, "--rescore", "read"]);
    assert_csv(
        "experiment groups grade report",
        &ran.grade_report(&c.id, "Org_Exp_2026"),
        &[
            grade_header(&[
                "Homework",
                "Experiment Group (Old Experiment)",
                "Experiment Group (New Experiment)",
            ]),
            grade_row(1, &["0.0", "Not Attempted", "Treatment", "A"], &HONOR),
            grade_row(2, &["0.0", "Not Attempted", "", "B"], &HONOR),
        ],
    );
}

/// The problem report lists every scorable block of a graded subsection, graded or not
/// (§8.3): an explicitly ungraded problem shows its score; a weight-0 problem scores 0/0
/// (§3.2) and still has cells; a problem without a collected max_score has no score unless
/// a CSM row gives one (§3.3 step 3): `Not Available`. Only graded scores feed the grade.
#[test]
fn problem_report_ungraded_weightless_and_unscored_problems() {
    let mut c = Course::new("course-v1:Org+Odd+2026", &homework_policy(1, 0));
    c.root(&["ch"]);
    c.chapter("ch", &["s"]);
    c.seq("s", "S", "Homework", &["pg", "pu", "pw", "pn"]);
    c.problem("pg", "Graded", 2.0);
    c.problem("pu", "Ungraded", 1.0).graded = Some(false);
    c.problem("pw", "Weightless", 1.0).weight = Some(0.0);
    c.problem("pn", "No Max", 1.0).max_score = None;
    let mut ds = Dataset::default();
    users(&mut ds, &[1, 2]);
    c.write_to(&mut ds);
    enroll(&mut ds, &c.id, 1, "honor", true);
    enroll(&mut ds, &c.id, 2, "honor", true);
    csm(&mut ds, &c, 1, "pg", Some(1.0), 2.0, T1);
    csm(&mut ds, &c, 1, "pu", Some(1.0), 1.0, T1);
    csm(&mut ds, &c, 1, "pw", Some(1.0), 1.0, T1);
    csm(&mut ds, &c, 1, "pn", Some(1.0), 1.0, T1);
    let job = Job::new(&ds);
    let ran = job.run("recompute", &["--as-of", AS_OF, "--outputs", "grades,reports"]);
    assert_csv(
        "odd problems grade report",
        &ran.grade_report(&c.id, "Org_Odd_2026"),
        &[
            grade_header(&["Homework"]),
            // graded: pg 1/2 + pn 1/1 (CSM max_grade; explicit_graded None counts as True);
            // pu not graded; pw 0/0 not graded -> 2/3 -> 0.6667; 66.67+0.05 -> 0.67
            grade_row(1, &["0.67", "0.6667"], &HONOR),
            grade_row(2, &["0.0", "Not Attempted"], &HONOR),
        ],
    );
    let na = "Not Available";
    assert_csv(
        "odd problems problem grade report",
        &ran.problem_report(&c.id, "Org_Odd_2026"),
        &[
            problem_header(&[
                "Homework 1: S - Graded",
                "Homework 1: S - Ungraded",
                "Homework 1: S - Weightless",
                "Homework 1: S - No Max",
            ]),
            problem_row(1, &["enrolled", "0.67", "1.0", "2.0", "1.0", "1.0", "0.0", "0.0", "1.0", "1.0"]),
            problem_row(
                2,
                &[
                    "enrolled",
                    "0.0",
                    "Not Attempted",
                    "2.0",
                    "Not Attempted",
                    "1.0",
                    "Not Attempted",
                    "0.0",
                    na,
                    na,
                ],
            ),
        ],
    );
    assert!(ran.out.join("course_grades").is_dir());
    assert!(!ran.out.join("diffs").exists(), "--outputs grades,reports writes no diffs");
}

/// `--rescore only-if-higher` and `retain`: the report reads the rows as they stand after
/// the run. A kept row shows its persisted percent while the problem report re-scores the
/// row's visible blocks against the *current* CSM (§8.3: they can disagree). Homework min 1.
#[test]
fn only_if_higher_and_retain_report_the_rows_kept() {
    let c = one_problem_course("course-v1:Org+Keep+2026", &homework_policy(1, 0));
    let mut ds = Dataset::default();
    users(&mut ds, &[1, 2, 3]);
    c.write_to(&mut ds);
    for u in 1..=3 {
        enroll(&mut ds, &c.id, u, "honor", true);
    }
    // Learner 1 was rescored down (2/2 persisted, CSM now 1/2); learner 2 up (1/2 -> 2/2).
    for (id, user, earned, now) in [(1, 1, 2.0, 1.0), (2, 2, 1.0, 2.0)] {
        persisted_subsection(
            &mut ds,
            &c,
            SubsectionRow {
                id,
                user,
                subsection: "sub",
                values: [earned, 2.0, earned, 2.0],
                first_attempted: Some(T1),
                records: vec![Record { block: "p", weight: None, raw_possible: Some(2.0), graded: true }],
            },
        );
        persisted_course_grade(&mut ds, &c, id, user, earned / 2.0, "Pass");
        csm(&mut ds, &c, user, "p", Some(now), 2.0, T1);
    }
    let job = Job::new(&ds);
    let na = "Not Attempted";
    // (mode, learner 2's grade after the run)
    for (mode, l2) in [("only-if-higher", "1.0"), ("retain", "0.5")] {
        let ran = job.run(mode, &["--as-of", AS_OF, "--rescore", mode]);
        assert_csv(
            &format!("{mode} grade report"),
            &ran.grade_report(&c.id, "Org_Keep_2026"),
            &[
                grade_header(&["Homework"]),
                // only-if-higher: new 0.5 < old 1.0 -> old row kept; retain: kept.
                grade_row(1, &["1.0", "1.0"], &HONOR),
                // only-if-higher: new 1.0 >= old 0.5 -> written; retain: old 1/2 kept.
                grade_row(2, &[l2, l2], &HONOR),
                // Nothing attempted: no row written; the course grade row is 0.0.
                grade_row(3, &["0.0", na], &HONOR),
            ],
        );
        assert_csv(
            &format!("{mode} problem grade report"),
            &ran.problem_report(&c.id, "Org_Keep_2026"),
            &[
                problem_header(&["Homework 1: Subsection - Problem1"]),
                problem_row(1, &["enrolled", "1.0", "1.0", "2.0"]),
                problem_row(2, &["enrolled", l2, "2.0", "2.0"]),
                problem_row(3, &["enrolled", "0.0", na, "2.0"]),
            ],
        );
    }
}

/// In read mode the course grade report reads persisted grades without scoring problems, so a
/// learner whose submission breaks the submissions contract is still in it; only the problem
/// grade report, which re-scores the persisted visible blocks, fails that learner.
#[test]
fn read_mode_bad_submission_fails_the_problem_report_only() {
    let mut c = Course::new("course-v1:Org+BadRead+2026", &homework_policy(1, 0));
    c.root(&["ch"]);
    c.chapter("ch", &["ora"]);
    c.seq("ora", "ORA", "Homework", &["essay"]);
    let essay = c.add("openassessment", "essay", "Essay", &[]);
    essay.has_score = true;
    essay.max_score = Some(5.0);
    let mut ds = Dataset::default();
    users(&mut ds, &[1, 2]);
    c.write_to(&mut ds);
    for u in 1..=2 {
        enroll(&mut ds, &c.id, u, "honor", true);
        // 2/5 persisted: percent_graded 0.4, course 0.4
        persisted_subsection(
            &mut ds,
            &c,
            SubsectionRow {
                id: u,
                user: u,
                subsection: "ora",
                values: [2.0, 5.0, 2.0, 5.0],
                first_attempted: Some(T1),
                records: vec![Record { block: "essay", weight: None, raw_possible: Some(5.0), graded: true }],
            },
        );
        persisted_course_grade(&mut ds, &c, u, u, 0.4, "");
    }
    let key = c.key("essay");
    row!(ds, "submissions", {
        id: 1, user_id: 1, course_id: &c.id, usage_key: &key,
        points_earned: 2.0, points_possible: 5.0, created_at: ts(T1),
    });
    row!(ds, "submissions", {
        id: 2, user_id: 2, course_id: &c.id, usage_key: &key,
        points_earned: -1.0, points_possible: 5.0, created_at: ts(T1),
    });
    let job = Job::new(&ds);
    let ran = job.run("read", &["--as-of", AS_OF, "--rescore", "read"]);
    let prefix = "Org_BadRead_2026";
    assert_csv(
        "read-mode grade report keeps the learner",
        &ran.grade_report(&c.id, prefix),
        &[
            grade_header(&["Homework"]),
            grade_row(1, &["0.4", "0.4"], &HONOR),
            grade_row(2, &["0.4", "0.4"], &HONOR),
        ],
    );
    assert_csv(
        "read-mode problem report drops the learner",
        &ran.problem_report(&c.id, prefix),
        &[problem_header(&["Homework 1: ORA - Essay"]), problem_row(1, &["enrolled", "0.4", "2.0", "5.0"])],
    );
    let perr = ran.report(&c.id, prefix, "problem_grade_report_err", AS_OF_STAMP);
    let lines: Vec<&str> = perr.split_terminator("\r\n").collect();
    assert_eq!(lines.len(), 2, "{perr:?}");
    assert_eq!(parse_line(lines[1])[..3], ["2", "user2@example.com", "user2"]);
    assert!(
        !ran.report_files(&c.id).iter().any(|f| f.contains("_grade_report_err_") && !f.contains("problem")),
        "no course grade report errors: {:?}",
        ran.report_files(&c.id)
    );
}

// ---------------------------------------------------------------------------------------
// Formula (CSV) injection

/// A user- or staff-controlled string: as stored (which is how edX writes it) and as the
/// default report writes it (a leading `'` when it starts with `=`, `+`, `-`, `@`, tab or CR).
type Text = (&'static str, &'static str);

/// One learner of the formula-injection course; an empty cohort or team means no membership.
struct Injected {
    id: i64,
    username: Text,
    email: Text,
    cohort: Text,
    team: Text,
    /// Group of the split test ("=Group A" = 0, "Group -B" = 1).
    group: Option<i64>,
}

/// Usernames, emails, cohort, team and experiment group names and the assignment type
/// (it starts header cells) that a spreadsheet would run as formulas: the default report
/// prefixes them with `'` (OWASP), then quotes as usual; `--edx-csv-parity` writes every
/// report byte for byte as edX does. Numbers and fixed vocabulary are never touched, and a
/// learner edX fails is listed in the `_err` files with the same treatment.
#[test]
fn formula_text_is_neutralised_unless_edx_csv_parity() {
    let policy = r#"{"GRADER": [{"type": "@Quiz", "min_count": 1, "drop_count": 0, "weight": 1.0}],
        "GRADE_CUTOFFS": {"Pass": 0.5}}"#;
    let mut c = Course::new("course-v1:Org+Csv+2026", policy);
    c.cohorted = Some(true);
    c.teams_enabled = Some(true);
    c.user_partitions = Some(
        r#"[{"id": 10, "name": "=Exp", "scheme": "random",
             "groups": [{"id": 0, "name": "=Group A"}, {"id": 1, "name": "Group -B"}]}]"#
            .into(),
    );
    c.root(&["ch"]);
    c.chapter("ch", &["s"]);
    c.seq("s", "-S", "@Quiz", &["p", "essay"]);
    c.problem("p", "=P", 2.0);
    let essay = c.add("openassessment", "essay", "Essay", &[]);
    essay.has_score = true;
    essay.max_score = Some(5.0);

    let plain = |s: &'static str| -> Text { (s, s) };
    let learners = [
        Injected {
            id: 1,
            username: ("=HYPERLINK(\"http://x\",\"y\")", "'=HYPERLINK(\"http://x\",\"y\")"),
            email: ("=1+1@example.com", "'=1+1@example.com"),
            cohort: ("=cohort", "'=cohort"),
            team: ("=SUM(1,2)", "'=SUM(1,2)"),
            group: Some(0),
        },
        Injected {
            id: 2,
            username: ("+1", "'+1"),
            email: ("+1@example.com", "'+1@example.com"),
            cohort: ("+C", "'+C"),
            team: ("+T", "'+T"),
            group: Some(1),
        },
        Injected {
            id: 3,
            username: ("-2+3", "'-2+3"),
            email: ("-x@example.com", "'-x@example.com"),
            cohort: ("-2+3", "'-2+3"),
            team: ("-", "'-"),
            group: None,
        },
        Injected {
            id: 4,
            username: ("@SUM(A1)", "'@SUM(A1)"),
            email: plain("user4@example.com"),
            cohort: ("@SUM(A1)", "'@SUM(A1)"),
            team: ("@team", "'@team"),
            group: None,
        },
        Injected {
            id: 5,
            username: ("\tTAB", "'\tTAB"),
            email: ("\tx@example.com", "'\tx@example.com"),
            cohort: ("\tTAB", "'\tTAB"),
            team: ("\tTAB", "'\tTAB"),
            group: None,
        },
        Injected {
            id: 6,
            username: ("\rCR", "'\rCR"),
            email: plain("user6@example.com"),
            cohort: ("\rCR", "'\rCR"),
            team: ("\rCR", "'\rCR"),
            group: None,
        },
        // The dangerous character not first: untouched.
        Injected {
            id: 7,
            username: plain("a=b"),
            email: plain("a+b@example.com"),
            cohort: plain("Ünï -1"),
            team: plain("Team @1"),
            group: Some(1),
        },
        // Unicode after a dangerous first character; a fullwidth equals sign is not one.
        Injected {
            id: 8,
            username: ("=Ünïcödé", "'=Ünïcödé"),
            email: plain("ü@example.com"),
            cohort: ("@用户", "'@用户"),
            team: plain("\u{FF1D}1"),
            group: None,
        },
        // Fails in edX (a submission below zero): only in the `_err` files.
        Injected {
            id: 9,
            username: ("=ERR()", "'=ERR()"),
            email: ("@err@example.com", "'@err@example.com"),
            cohort: plain(""),
            team: plain(""),
            group: None,
        },
    ];
    let mut ds = Dataset::default();
    c.write_to(&mut ds);
    for l in &learners {
        row!(ds, "users", { id: l.id, username: l.username.0, email: l.email.0 });
        enroll(&mut ds, &c.id, l.id, "honor", true);
        if !l.cohort.0.is_empty() {
            row!(ds, "cohort_memberships", { user_id: l.id, course_id: &c.id, cohort_name: l.cohort.0 });
        }
        if !l.team.0.is_empty() {
            row!(ds, "team_memberships", { user_id: l.id, course_id: &c.id, team_name: l.team.0 });
        }
        if let Some(g) = l.group {
            row!(ds, "partition_groups", { user_id: l.id, course_id: &c.id, partition_id: 10_i64, group_id: g });
        }
    }
    row!(ds, "submissions", {
        id: 1, user_id: 9, course_id: &c.id, usage_key: c.key("essay"),
        points_earned: -1.0, points_possible: 5.0, created_at: ts(T1),
    });
    let group_names: [Text; 2] = [("=Group A", "'=Group A"), plain("Group -B")];

    let job = Job::new(&ds);
    let default = job.run("default", &["--as-of", AS_OF]);
    let parity = job.run("parity", &["--as-of", AS_OF, "--edx-csv-parity"]);
    let prefix = "Org_Csv_2026";
    let na = "Not Attempted";
    let mut err_messages = Vec::new();
    for (ran, edx) in [(&default, false), (&parity, true)] {
        let what = if edx { "--edx-csv-parity" } else { "default" };
        let pick = |t: Text| if edx { t.0 } else { t.1 };
        assert_eq!(ran.manifest()["options"]["edx_csv_parity"], edx, "{what}: manifest options");
        // Nobody attempted anything: Grade 0.0, the one subsection `Not Attempted`.
        let mut grade_rows = vec![grade_header(&[
            pick(("@Quiz", "'@Quiz")),
            "Cohort Name",
            // A fixed prefix: the partition's name does not start the cell.
            "Experiment Group (=Exp)",
            "Team Name",
        ])];
        let problem_columns = [
            pick(("@Quiz 1: -S - =P", "'@Quiz 1: -S - =P")),
            pick(("@Quiz 1: -S - Essay", "'@Quiz 1: -S - Essay")),
        ];
        let mut problem_rows = vec![problem_header(&problem_columns)];
        for l in learners.iter().filter(|l| l.id != 9) {
            let id = l.id.to_string();
            let (email, username) = (pick(l.email), pick(l.username));
            let group = l.group.map_or("", |g| pick(group_names[g as usize]));
            let mut row = cells(&[&id, email, username, "0.0", na, pick(l.cohort), group, pick(l.team)]);
            row.extend(cells(&HONOR));
            grade_rows.push(row);
            problem_rows.push(cells(&[&id, email, username, "enrolled", "0.0", na, "2.0", na, "5.0"]));
        }
        let report = ran.grade_report(&c.id, prefix);
        assert_csv_records(&format!("{what} grade report"), &report, &grade_rows);
        let problems = ran.problem_report(&c.id, prefix);
        assert_csv_records(&format!("{what} problem grade report"), &problems, &problem_rows);
        if !edx {
            // Whatever the data: no text cell starts a formula; numbers stay numbers.
            for record in parse_records(&report).iter().chain(&parse_records(&problems)) {
                for cell in record {
                    assert!(
                        !cell.starts_with(['=', '+', '-', '@', '\t', '\r']) || cell.parse::<f64>().is_ok(),
                        "{cell:?} in {record:?}"
                    );
                }
            }
        }

        let learner9 = &learners[8];
        let err = parse_records(&ran.report(&c.id, prefix, "grade_report_err", AS_OF_STAMP));
        assert_eq!(err.len(), 2, "{what}: {err:?}");
        assert_eq!(err[0], ["Student ID", "Username", "Error"]);
        assert_eq!(err[1][..2], ["9", pick(learner9.username)], "{what}");
        let perr = parse_records(&ran.report(&c.id, prefix, "problem_grade_report_err", AS_OF_STAMP));
        assert_eq!(perr.len(), 2, "{what}: {perr:?}");
        assert_eq!(perr[0], ["Student ID", "Email", "Username", "error_msg"]);
        assert_eq!(perr[1][..3], ["9", pick(learner9.email), pick(learner9.username)], "{what}");
        err_messages.push((err[1][2].clone(), perr[1][3].clone()));
    }
    // regrade's own error text never starts a formula: the same in both runs.
    assert_eq!(err_messages[0], err_messages[1]);
    assert!(
        !err_messages[0].0.is_empty() && !err_messages[0].0.starts_with(['=', '+', '-', '@', '\t', '\r'])
    );
}
