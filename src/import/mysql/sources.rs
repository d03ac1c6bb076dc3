//! What is read from edX's tables, and how: one [`Source`] per query. A source reads one
//! course at a time along an index that starts with `course_id` (or the whole table, for tables
//! without one), a page of `LIMIT` rows after the last key read (never `OFFSET`), in the order of
//! that index so that the server needs no sort: a page is the most memory a source holds, and a
//! dropped connection resumes after the last key.
//!
//! A query's first one or two columns are its paging key ([`Keyset`]). The column each contract
//! table gets, and the edX rule behind it, is in the README's mapping table; the SQL here is that
//! table.

/// What a source is read per.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// One course at a time: `?` course id, the key's `?`s, `?` limit.
    Course,
    /// The whole table in one pass: the key's `?`s, `{courses}`, `?` limit. Tables without an
    /// index that starts with `course_id`; rows are written to their course's files as they come,
    /// by the course in the query's column `course_column`.
    Table { course_column: usize },
    /// The whole table, not partitioned by course (`users`): the key's `?`s, `{courses}`, `?`
    /// limit.
    Global,
}

/// The paging key: the query's first column, or its first two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keyset {
    /// `AND k > ?` (the primary key, or a column unique within the course).
    One,
    /// `AND (a > ? OR (a = ? AND b > ?))`: a unique (course, a, b) index read in its order.
    Two,
}

/// One query over edX's tables.
#[derive(Debug)]
pub(crate) struct Source {
    /// Its name in progress bars, the summary and the manifest.
    pub name: &'static str,
    /// The contract tables its rows become.
    pub writes: &'static [&'static str],
    /// The edX tables and columns it reads, checked against the server before reading.
    pub reads: &'static [(&'static str, &'static [&'static str])],
    /// A missing table is an error (else: skipped with a notice, the contract table empty).
    pub required: bool,
    pub scope: Scope,
    pub key: Keyset,
    /// The query; `{courses}` becomes [`Source::courses_filter`] with `--courses`, else nothing.
    pub sql: &'static str,
    /// Table and Global scope: the condition that keeps the imported courses' rows, `{marks}`
    /// standing for a `?` per course.
    pub courses_filter: &'static str,
    /// The table read along its course index, and the columns that index starts with
    /// (`course_id`, then the paging key where the index holds it; InnoDB appends the primary
    /// key to every index). `{index}` in the query becomes `FORCE INDEX (<that index>)`: MariaDB otherwise
    /// reads `course_id = ? AND id > ?` as a `ref` on `course_id` and skips the rows before the
    /// key one by one, every page (measured: quadratic in the course's rows). Django names
    /// indexes by hash, so the index is found by its columns on the server.
    pub index: Option<(&'static str, &'static [&'static str])>,
    /// A large course may be read as several key ranges at once: the key column (`{upto}` in
    /// the query becomes `AND <column> <= ?`). Only for a one-column primary key.
    pub split: Option<&'static str>,
}

/// The columns of `grades_persistentsubsectiongrade` in the order its query selects them (its
/// paging key first).
pub(crate) const SUBSECTION_GRADE_COLUMNS: &[&str] = &[
    "user_id",
    "usage_key",
    "id",
    "course_id",
    "course_version",
    "subtree_edited_timestamp",
    "earned_all",
    "possible_all",
    "earned_graded",
    "possible_graded",
    "first_attempted",
    "visible_blocks_hash",
    "created",
    "modified",
];

/// The columns of `grades_persistentcoursegrade` in the order its query selects them.
pub(crate) const COURSE_GRADE_COLUMNS: &[&str] = &[
    "user_id",
    "id",
    "course_id",
    "course_version",
    "course_edited_timestamp",
    "grading_policy_hash",
    "percent_grade",
    "letter_grade",
    "passed_timestamp",
    "created",
    "modified",
];

/// What the overrides' query selects: the paging key (`user_id`, `usage_key` of the grade),
/// then the columns of `grades_persistentsubsectiongradeoverride`.
pub(crate) const OVERRIDE_COLUMNS: &[&str] = &[
    "user_id",
    "usage_key",
    "id",
    "grade_id",
    "earned_all_override",
    "possible_all_override",
    "earned_graded_override",
    "possible_graded_override",
    "system",
    "override_reason",
    "created",
    "modified",
];

pub(crate) const STUDENTMODULE_COLUMNS: &[&str] = &[
    "id",
    "student_id",
    "course_id",
    "module_id",
    "module_type",
    "grade",
    "max_grade",
    "created",
    "modified",
    "state",
];

/// Every source, in the order they are started (the largest first, so they overlap the rest).
pub(crate) const SOURCES: &[Source] = &[
    Source {
        name: "studentmodule",
        writes: &["studentmodule", "library_selections"],
        reads: &[("courseware_studentmodule", STUDENTMODULE_COLUMNS)],
        required: true,
        scope: Scope::Course,
        // Rows without max_grade are never read by edX's get_score (it falls through to the
        // persisted block or the content), so only scored rows are exported; library_content
        // and itembank rows are read for their `selected` state and then dropped. Only their
        // state is transferred.
        key: Keyset::One,
        sql: "SELECT m.id, m.student_id, m.course_id, m.module_id, m.module_type, m.grade, m.max_grade, \
              m.created, m.modified, \
              CASE WHEN m.module_type IN ('library_content', 'itembank') THEN m.state END \
              FROM courseware_studentmodule m {index} \
              WHERE m.course_id = ? AND m.id > ? {upto} \
              AND (m.max_grade IS NOT NULL OR m.module_type IN ('library_content', 'itembank')) \
              ORDER BY m.id LIMIT ?",
        courses_filter: "",
        split: Some("m.id"),
        index: Some(("courseware_studentmodule", &["course_id"])),
    },
    Source {
        name: "enrollments",
        writes: &["enrollments"],
        reads: &[("student_courseenrollment", &["id", "user_id", "course_id", "mode", "is_active", "created"])],
        required: true,
        scope: Scope::Course,
        key: Keyset::One,
        sql: "SELECT e.id, e.user_id, e.course_id, e.mode, e.is_active, e.created \
              FROM student_courseenrollment e {index} WHERE e.course_id = ? AND e.id > ? ORDER BY e.id LIMIT ?",
        courses_filter: "",
        split: None,
        index: Some(("student_courseenrollment", &["course_id"])),
    },
    Source {
        name: "submissions",
        writes: &["submissions"],
        reads: &[
            ("submissions_scoresummary", &["id", "student_item_id", "latest_id"]),
            ("submissions_studentitem", &["id", "student_id", "course_id", "item_id"]),
            ("submissions_score", &["id", "points_earned", "points_possible", "created_at"]),
            ("student_anonymoususerid", &["id", "anonymous_user_id", "course_id", "user_id"]),
        ],
        required: false,
        scope: Scope::Course,
        // get_scores: the ScoreSummary's `latest` score of each student item of the course,
        // filed under the anonymous id anonymous_id_for_user returns today for (user,
        // course): the newest row of student_anonymoususerid for that pair. Scores under an
        // older id, or under a course-agnostic one, are invisible to edX and stay invisible.
        key: Keyset::One,
        sql: "SELECT si.id, sc.id, a.user_id, si.course_id, si.item_id, sc.points_earned, sc.points_possible, \
              sc.created_at \
              FROM submissions_studentitem si {index} \
              JOIN submissions_scoresummary ss ON ss.student_item_id = si.id \
              JOIN submissions_score sc ON sc.id = ss.latest_id \
              JOIN student_anonymoususerid a ON a.anonymous_user_id = si.student_id AND a.course_id = si.course_id \
              WHERE si.course_id = ? AND si.id > ? \
              AND NOT EXISTS (SELECT 1 FROM student_anonymoususerid b \
                              WHERE b.user_id = a.user_id AND b.course_id = a.course_id AND b.id > a.id) \
              ORDER BY si.id LIMIT ?",
        courses_filter: "",
        split: None,
        index: Some(("submissions_studentitem", &["course_id"])),
    },
    Source {
        name: "persistent_subsection_grades",
        writes: &["persistent_subsection_grades"],
        reads: &[("grades_persistentsubsectiongrade", SUBSECTION_GRADE_COLUMNS)],
        required: true,
        scope: Scope::Course,
        key: Keyset::Two,
        sql: "SELECT g.user_id, g.usage_key, g.id, g.course_id, g.course_version, g.subtree_edited_timestamp, \
              g.earned_all, g.possible_all, g.earned_graded, g.possible_graded, g.first_attempted, \
              g.visible_blocks_hash, g.created, g.modified \
              FROM grades_persistentsubsectiongrade g {index} \
              WHERE g.course_id = ? AND (g.user_id > ? OR (g.user_id = ? AND g.usage_key > ?)) \
              ORDER BY g.user_id, g.usage_key LIMIT ?",
        courses_filter: "",
        split: None,
        index: Some(("grades_persistentsubsectiongrade", &["course_id", "user_id"])),
    },
    Source {
        name: "persistent_course_grades",
        writes: &["persistent_course_grades"],
        reads: &[("grades_persistentcoursegrade", COURSE_GRADE_COLUMNS)],
        required: true,
        scope: Scope::Course,
        key: Keyset::One,
        sql: "SELECT g.user_id, g.id, g.course_id, g.course_version, g.course_edited_timestamp, \
              g.grading_policy_hash, g.percent_grade, g.letter_grade, g.passed_timestamp, g.created, g.modified \
              FROM grades_persistentcoursegrade g {index} WHERE g.course_id = ? AND g.user_id > ? ORDER BY g.user_id LIMIT ?",
        courses_filter: "",
        split: None,
        index: Some(("grades_persistentcoursegrade", &["course_id", "user_id"])),
    },
    Source {
        name: "visible_blocks",
        writes: &["visible_blocks"],
        reads: &[("grades_visibleblocks", &["id", "hashed", "blocks_json", "course_id"])],
        required: true,
        scope: Scope::Course,
        key: Keyset::One,
        sql: "SELECT v.id, v.hashed, v.blocks_json, v.course_id \
              FROM grades_visibleblocks v {index} WHERE v.course_id = ? AND v.id > ? ORDER BY v.id LIMIT ?",
        courses_filter: "",
        split: None,
        index: Some(("grades_visibleblocks", &["course_id"])),
    },
    Source {
        name: "subsection_grade_overrides",
        writes: &["subsection_grade_overrides"],
        reads: &[
            ("grades_persistentsubsectiongradeoverride", OVERRIDE_COLUMNS.split_at(2).1),
            ("grades_persistentsubsectiongrade", &["id", "course_id"]),
        ],
        required: false,
        scope: Scope::Course,
        // The override table itself, never its history table.
        key: Keyset::Two,
        sql: "SELECT g.user_id, g.usage_key, o.id, o.grade_id, o.earned_all_override, o.possible_all_override, \
              o.earned_graded_override, o.possible_graded_override, o.system, o.override_reason, o.created, o.modified \
              FROM grades_persistentsubsectiongrade g {index} \
              JOIN grades_persistentsubsectiongradeoverride o ON o.grade_id = g.id \
              WHERE g.course_id = ? AND (g.user_id > ? OR (g.user_id = ? AND g.usage_key > ?)) \
              ORDER BY g.user_id, g.usage_key LIMIT ?",
        courses_filter: "",
        split: None,
        index: Some(("grades_persistentsubsectiongrade", &["course_id", "user_id"])),
    },
    Source {
        name: "cohort_memberships",
        writes: &["cohort_memberships"],
        reads: &[
            ("course_groups_cohortmembership", &["id", "user_id", "course_id", "course_user_group_id"]),
            ("course_groups_courseusergroup", &["id", "name", "group_type"]),
            ("course_groups_courseusergrouppartitiongroup", &["course_user_group_id", "partition_id", "group_id"]),
        ],
        required: false,
        scope: Scope::Course,
        // CohortMembership (one cohort per user and course), not the legacy M2M table; only
        // groups of type 'cohort'; the cohort's linked content group, if any. Memberships have
        // no index starting with course_id: they are read per cohort of the course, along the
        // index on their cohort.
        key: Keyset::Two,
        sql: "SELECT m.course_user_group_id, m.id, m.user_id, g.name, m.course_id, pg.partition_id, pg.group_id \
              FROM course_groups_courseusergroup g {index} \
              JOIN course_groups_cohortmembership m ON m.course_user_group_id = g.id \
              LEFT JOIN course_groups_courseusergrouppartitiongroup pg ON pg.course_user_group_id = g.id \
              WHERE g.course_id = ? AND g.group_type = 'cohort' \
              AND (m.course_user_group_id > ? OR (m.course_user_group_id = ? AND m.id > ?)) \
              ORDER BY m.course_user_group_id, m.id LIMIT ?",
        courses_filter: "",
        split: None,
        index: Some(("course_groups_courseusergroup", &["course_id"])),
    },
    Source {
        name: "partition_groups",
        writes: &["partition_groups"],
        reads: &[("user_api_usercoursetag", &["id", "user_id", "course_id", "key", "value"])],
        required: false,
        scope: Scope::Course,
        key: Keyset::One,
        sql: "SELECT t.id, t.user_id, t.course_id, t.`key`, t.value \
              FROM user_api_usercoursetag t {index} \
              WHERE t.course_id = ? AND t.id > ? AND t.`key` LIKE 'xblock.partition\\_service.partition\\_%' \
              ORDER BY t.id LIMIT ?",
        courses_filter: "",
        split: None,
        index: Some(("user_api_usercoursetag", &["course_id"])),
    },
    Source {
        name: "certificate_allowlist",
        writes: &["certificate_allowlist"],
        reads: &[("certificates_certificateallowlist", &["id", "user_id", "course_id", "allowlist"])],
        required: false,
        scope: Scope::Course,
        key: Keyset::One,
        sql: "SELECT a.user_id, a.id, a.course_id, a.allowlist \
              FROM certificates_certificateallowlist a {index} WHERE a.course_id = ? AND a.user_id > ? \
              ORDER BY a.user_id LIMIT ?",
        courses_filter: "",
        split: None,
        index: Some(("certificates_certificateallowlist", &["course_id", "user_id"])),
    },
    Source {
        name: "generated_certificates",
        writes: &["generated_certificates"],
        reads: &[("certificates_generatedcertificate", &["id", "user_id", "course_id", "status", "mode"])],
        required: false,
        scope: Scope::Table { course_column: 2 },
        key: Keyset::One,
        sql: "SELECT c.id, c.user_id, c.course_id, c.status, c.mode \
              FROM certificates_generatedcertificate c WHERE c.id > ? {courses} ORDER BY c.id LIMIT ?",
        courses_filter: "AND c.course_id IN ({marks})",
        split: None,
        index: None,
    },
    Source {
        name: "users",
        writes: &["users"],
        reads: &[("auth_user", &["id", "username", "email"])],
        required: true,
        scope: Scope::Global,
        key: Keyset::One,
        // Only learners with an enrollment (in an imported course): the table holds personal
        // data, and regrade needs no one else's.
        sql: "SELECT u.id, u.username, u.email FROM auth_user u \
              WHERE u.id > ? AND EXISTS (SELECT 1 FROM student_courseenrollment e WHERE e.user_id = u.id {courses}) \
              ORDER BY u.id LIMIT ?",
        courses_filter: "AND e.course_id IN ({marks})",
        split: None,
        index: None,
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{ddl_columns, MYSQL_DDL, MYSQL_SOURCE_DDL};

    /// The column lists of the `KEY`/`UNIQUE KEY` lines of a `CREATE TABLE`.
    fn ddl_indexes(ddl: &str) -> Vec<Vec<&str>> {
        ddl.lines()
            .map(str::trim)
            .filter(|l| l.starts_with("KEY ") || l.starts_with("UNIQUE KEY "))
            .filter_map(|l| l.split_once('(').and_then(|(_, rest)| rest.split_once(')')))
            .map(|(cols, _)| cols.split(',').map(|c| c.trim().trim_matches('`')).collect())
            .collect()
    }

    /// Every column a query reads is a column of edX's table as `schemas/mysql/` has it, so the
    /// importer's tests (which create the tables from there) cover every query.
    #[test]
    fn every_column_read_is_in_edx_ddl() {
        let facts = crate::import::mysql::facts::FACT_READS.iter().map(|r| ("facts", r));
        let reads = SOURCES.iter().flat_map(|s| s.reads.iter().map(move |r| (s.name, r))).chain(facts);
        for (name, (table, columns)) in reads {
            let ddl = MYSQL_DDL
                .iter()
                .chain(&MYSQL_SOURCE_DDL)
                .find(|(t, _)| t == table)
                .unwrap_or_else(|| panic!("{name}: no DDL for {table} in schemas/mysql/"))
                .1;
            let have = ddl_columns(ddl);
            for c in *columns {
                assert!(have.contains(c), "{name}: {table}.{c} is not in schemas/mysql/{table}.sql");
            }
        }
        let grades = MYSQL_DDL.iter().find(|(t, _)| *t == "grades_persistentsubsectiongrade").expect("DDL").1;
        assert!(
            ddl_indexes(grades).contains(&vec!["course_id", "user_id", "usage_key"]),
            "{:?}",
            ddl_indexes(grades)
        );
        for source in SOURCES {
            assert!(
                source.index.is_some() == source.sql.contains("{index}"),
                "{}: index and {{index}}",
                source.name
            );
            if let Some((table, leading)) = source.index {
                let ddl =
                    MYSQL_DDL.iter().chain(&MYSQL_SOURCE_DDL).find(|(t, _)| *t == table).expect("DDL").1;
                let starts = ddl_indexes(ddl).iter().any(|cols| cols.starts_with(leading));
                assert!(
                    starts,
                    "{}: schemas/mysql/{table}.sql has no index starting with {leading:?}",
                    source.name
                );
            }
            for (table, _) in source.reads {
                assert!(source.sql.contains(table), "{}: its SQL does not read {table}", source.name);
            }
        }
    }
}
