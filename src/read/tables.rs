//! Which input tables each command reads and which of their columns: the projection pushed
//! into the Parquet reader (nothing else is fetched) and the columns kept dictionary-encoded.
//! `run`, `scan` and `backfill` read through these lists; each name is a column of the
//! table's schema in `schemas/input/` (a unit test checks it).

/// The input tables a course needs, in the order they are read.
pub(crate) const COURSE_TABLES: &[&str] = &[
    "course_blocks",
    "course_policies",
    "course_settings",
    "enrollments",
    "studentmodule",
    "submissions",
    "persistent_subsection_grades",
    "persistent_course_grades",
    "visible_blocks",
    "cohort_memberships",
    "partition_groups",
    "library_selections",
    "team_memberships",
    "certificate_allowlist",
    "generated_certificates",
];

/// The tables only the reports read: the last of [`COURSE_TABLES`].
const REPORT_ONLY_TABLES: usize = 3;

/// The input tables a backfill reads: [`COURSE_TABLES`] without the report-only ones.
pub(crate) const BACKFILL_TABLES: &[&str] =
    COURSE_TABLES.split_at(COURSE_TABLES.len() - REPORT_ONLY_TABLES).0;

/// Tables read once for the whole run.
pub(crate) const GLOBAL_TABLES: &[&str] =
    &["users", "id_verifications", "subsection_grade_overrides", "course_versions"];

/// What grading reads of `persistent_subsection_grades` and the diff compares and shows (not
/// course_id, the edit and row timestamps: a third of the table's memory): the row's id, its
/// key, then [`SUBSECTION_GRADE_VALUES`].
const PERSISTED_SUBSECTION_COLUMNS: &[&str] = &[
    "id",
    "user_id",
    "usage_key",
    "course_version",
    "earned_all",
    "possible_all",
    "earned_graded",
    "possible_graded",
    "first_attempted",
    "visible_blocks_hash",
];

/// The values of a subsection grade row, after its key (`user_id`, `usage_key`): what the
/// diff compares between a run's rows and the persisted ones.
pub(crate) const SUBSECTION_GRADE_VALUES: &[&str] = PERSISTED_SUBSECTION_COLUMNS.split_at(3).1;

/// The columns read from each input table (everything else is never fetched).
pub(crate) fn columns_for(table: &str) -> &'static [&'static str] {
    match table {
        "studentmodule" => &["student_id", "module_state_key", "grade", "max_grade", "created"],
        "enrollments" => &["user_id", "mode", "is_active"],
        "submissions" => &["id", "user_id", "usage_key", "points_earned", "points_possible", "created_at"],
        "persistent_course_grades" => &[
            "user_id",
            "course_version",
            "grading_policy_hash",
            "percent_grade",
            "letter_grade",
            "passed_timestamp",
        ],
        "persistent_subsection_grades" => PERSISTED_SUBSECTION_COLUMNS,
        "visible_blocks" => &["hashed", "blocks_json"],
        "users" => &["id", "username", "email"],
        "id_verifications" => &["user_id", "status"],
        // Every column: the structure needs all block fields.
        _ => &[],
    }
}

/// The column naming each row's learner in the course tables read by user id range
/// ([`super::UserRange`]): a partition of a course reads only its learners' rows. `None`: the
/// table is read whole for each course (its structure, policy, settings and visible blocks).
pub(crate) fn user_column(table: &str) -> Option<&'static str> {
    match table {
        "studentmodule" => Some("student_id"),
        "enrollments"
        | "submissions"
        | "persistent_subsection_grades"
        | "persistent_course_grades"
        | "cohort_memberships"
        | "partition_groups"
        | "library_selections"
        | "team_memberships"
        | "certificate_allowlist"
        | "generated_certificates" => Some("user_id"),
        _ => None,
    }
}

/// The columns of each input table read dictionary-encoded: many rows, few distinct values,
/// each looked up once per distinct value when the course is loaded.
pub(crate) fn dictionary_for(table: &str) -> &'static [&'static str] {
    match table {
        "studentmodule" => &["module_state_key"],
        // Decoded to strings a chunk of learners at a time, for the diff.
        "persistent_subsection_grades" => &["usage_key", "course_version", "visible_blocks_hash"],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backfill_reads_the_course_tables_but_the_report_only_ones() {
        let report_only = ["team_memberships", "certificate_allowlist", "generated_certificates"];
        let expected: Vec<&str> =
            COURSE_TABLES.iter().copied().filter(|t| !report_only.contains(t)).collect();
        assert_eq!(BACKFILL_TABLES, expected.as_slice());
        assert_eq!(SUBSECTION_GRADE_VALUES[0], "course_version");
        assert_eq!(SUBSECTION_GRADE_VALUES.last(), Some(&"visible_blocks_hash"));
    }

    #[test]
    fn every_course_table_with_a_learner_column_is_read_by_user_range() {
        for &table in COURSE_TABLES {
            let schema = crate::schema::input(table).expect("an input table");
            let learner = ["user_id", "student_id"].into_iter().find(|c| schema.column(c).is_some());
            assert_eq!(user_column(table), learner, "{table}");
            if let Some(column) = learner {
                let read = columns_for(table);
                assert!(read.is_empty() || read.contains(&column), "{table}.{column} is not read");
            }
        }
    }

    #[test]
    fn every_listed_column_is_in_its_tables_schema() {
        for &table in COURSE_TABLES.iter().chain(GLOBAL_TABLES) {
            let schema = crate::schema::input(table).expect("an input table");
            for column in columns_for(table).iter().chain(dictionary_for(table)) {
                assert!(schema.column(column).is_some(), "{table}.{column} is not in its schema");
            }
            for column in dictionary_for(table) {
                let read = columns_for(table);
                assert!(
                    read.is_empty() || read.contains(column),
                    "{table}.{column} is dictionary-read but not read"
                );
            }
        }
    }
}
