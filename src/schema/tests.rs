//! The schema registry's tests: every file under `schemas/` parses and agrees with the code.

use super::*;
use std::collections::BTreeSet;

/// The contract's input tables and columns, copied from data-contract.md. A schema file that
/// drifts from the contract (or the contract from the files) fails here.
const CONTRACT: &[(&str, bool, &[&str])] = &[
    (
        "course_blocks",
        true,
        &[
            "course_id",
            "course_version",
            "published_at",
            "usage_key",
            "block_type",
            "display_name",
            "children",
            "graded",
            "format",
            "weight",
            "max_score",
            "has_score",
            "start",
            "due",
            "visible_to_staff_only",
            "group_access",
            "show_correctness",
            "subtree_edited_on",
            "max_count",
        ],
    ),
    (
        "course_policies",
        true,
        &[
            "course_id",
            "course_version",
            "grading_policy",
            "course_start",
            "course_end",
            "self_paced",
            "certificate_available_date",
            "certificates_display_behavior",
            "cohorted",
            "teams_enabled",
            "user_partitions",
            "course_modes",
        ],
    ),
    (
        "studentmodule",
        true,
        &[
            "student_id",
            "course_id",
            "module_state_key",
            "module_type",
            "grade",
            "max_grade",
            "created",
            "modified",
        ],
    ),
    ("enrollments", true, &["user_id", "course_id", "mode", "is_active", "created"]),
    (
        "submissions",
        false,
        &["id", "user_id", "course_id", "usage_key", "points_earned", "points_possible", "created_at"],
    ),
    (
        "persistent_subsection_grades",
        false,
        &[
            "id",
            "user_id",
            "course_id",
            "usage_key",
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
        ],
    ),
    ("visible_blocks", false, &["hashed", "blocks_json", "course_id"]),
    (
        "subsection_grade_overrides",
        false,
        &[
            "grade_id",
            "earned_all_override",
            "possible_all_override",
            "earned_graded_override",
            "possible_graded_override",
            "system",
            "override_reason",
            "created",
            "modified",
        ],
    ),
    (
        "persistent_course_grades",
        false,
        &[
            "id",
            "user_id",
            "course_id",
            "course_version",
            "course_edited_timestamp",
            "grading_policy_hash",
            "percent_grade",
            "letter_grade",
            "passed_timestamp",
            "created",
            "modified",
        ],
    ),
    ("users", false, &["id", "username", "email"]),
    ("id_verifications", false, &["user_id", "status"]),
    ("cohort_memberships", false, &["user_id", "course_id", "cohort_name", "partition_id", "group_id"]),
    ("partition_groups", false, &["user_id", "course_id", "partition_id", "group_id"]),
    ("team_memberships", false, &["user_id", "course_id", "team_name"]),
    ("certificate_allowlist", false, &["user_id", "course_id", "allowlist"]),
    ("generated_certificates", false, &["user_id", "course_id", "status", "mode"]),
    ("library_selections", false, &["user_id", "course_id", "usage_key", "selected"]),
    // Not in the contract document: added through schemas/ for `import mysql` (README, "How the
    // two importers meet").
    ("course_versions", false, &["course_id", "course_version", "published_at", "current"]),
    ("course_settings", false, &["course_id", "course_modes", "cohorted"]),
];

/// Nullable columns of the contract (marked `?` there).
const CONTRACT_NULLABLE: &[(&str, &[&str])] = &[
    (
        "course_blocks",
        &[
            "display_name",
            "children",
            "graded",
            "format",
            "weight",
            "max_score",
            "start",
            "due",
            "visible_to_staff_only",
            "group_access",
            "show_correctness",
            "subtree_edited_on",
            "max_count",
        ],
    ),
    (
        "course_policies",
        &[
            "course_start",
            "course_end",
            "self_paced",
            "certificate_available_date",
            "certificates_display_behavior",
            "cohorted",
            "teams_enabled",
            "user_partitions",
            "course_modes",
        ],
    ),
    ("studentmodule", &["grade", "max_grade"]),
    // Not nullable in the contract document; NULL-able in edX (README, `regrade import mysql`).
    ("enrollments", &["created"]),
    ("course_settings", &["course_modes", "cohorted"]),
    ("persistent_subsection_grades", &["subtree_edited_timestamp", "first_attempted"]),
    (
        "subsection_grade_overrides",
        &[
            "earned_all_override",
            "possible_all_override",
            "earned_graded_override",
            "possible_graded_override",
            "system",
            "override_reason",
        ],
    ),
    ("persistent_course_grades", &["course_edited_timestamp", "passed_timestamp"]),
    ("cohort_memberships", &["partition_id", "group_id"]),
];

#[test]
fn every_schema_file_is_embedded() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut on_disk = BTreeSet::new();
    for dir in ["schemas/input", "schemas/output"] {
        for entry in std::fs::read_dir(root.join(dir)).expect("schemas dir") {
            let name = entry.expect("dir entry").file_name();
            on_disk.insert(format!("{dir}/{}", name.to_string_lossy()));
        }
    }
    // Nothing else (stray files, new sub-folders) under schemas/.
    let top: BTreeSet<String> = std::fs::read_dir(root.join("schemas"))
        .expect("schemas dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(top, BTreeSet::from(["input".to_string(), "mysql".to_string(), "output".to_string()]));
    let mysql: BTreeSet<String> = std::fs::read_dir(root.join("schemas/mysql"))
        .expect("schemas/mysql")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sql"))
        .collect();
    let embedded_ddl: BTreeSet<String> =
        MYSQL_DDL.iter().chain(&MYSQL_SOURCE_DDL).map(|(t, _)| format!("{t}.sql")).collect();
    assert_eq!(mysql, embedded_ddl, "add new DDL files to MYSQL_DDL or MYSQL_SOURCE_DDL in src/schema.rs");
    let embedded: BTreeSet<String> = EMBEDDED.iter().map(|(p, _)| p.to_string()).collect();
    assert_eq!(on_disk, embedded, "add new schema files to embed![] in src/schema.rs");
    for (path, text) in EMBEDDED {
        let on_disk = std::fs::read_to_string(root.join(path)).expect("read schema");
        assert_eq!(&on_disk, text, "{path}");
    }
}

/// The backfill's Parquet and CSV columns are the MySQL table's, in the same order.
#[test]
fn backfill_schemas_follow_the_mysql_ddl() {
    for (table, ddl) in MYSQL_DDL {
        assert!(ddl.contains(&format!("CREATE TABLE IF NOT EXISTS `{table}`")), "{table}");
        let output = output(&format!("backfill_{table}")).expect("backfill schema");
        assert_eq!(ddl_columns(ddl), output.column_names(), "{table}");
        assert_eq!(output.edx_source, table);
    }
}

#[test]
fn schemas_parse_and_are_consistent() {
    assert_eq!(all().len(), EMBEDDED.len());
    for (schema, (path, _)) in all().iter().zip(EMBEDDED) {
        let dir = match schema.kind {
            Kind::Input => "input",
            Kind::Output => "output",
        };
        assert_eq!(*path, format!("schemas/{dir}/{}.json", schema.table));
        assert_eq!(schema.required.is_some(), schema.kind == Kind::Input, "{path}");
        let mut names = BTreeSet::new();
        for c in &schema.columns {
            assert!(names.insert(&c.name), "{path}: duplicate column {}", c.name);
            assert!(Family::parse(schema.kind, &c.type_name).is_some(), "{path}: {}", c.name);
            assert!(!c.meaning.trim().is_empty(), "{path}: {} has no meaning", c.name);
        }
        assert!(!schema.description.trim().is_empty(), "{path}");
    }
}

#[test]
fn inputs_match_the_contract() {
    let tables: Vec<&str> = inputs().map(|s| s.table.as_str()).collect();
    let contract: Vec<&str> = CONTRACT.iter().map(|(t, _, _)| *t).collect();
    assert_eq!(tables, contract);
    for (table, required, columns) in CONTRACT {
        let s = input(table).expect("table");
        assert_eq!(s.is_required(), *required, "{table}");
        assert_eq!(&s.column_names(), columns, "{table}");
        let nullable: Vec<&str> =
            CONTRACT_NULLABLE.iter().find(|(t, _)| t == table).map(|(_, c)| c.to_vec()).unwrap_or_default();
        for c in &s.columns {
            assert_eq!(c.nullable, nullable.contains(&c.name.as_str()), "{table}.{}", c.name);
        }
    }
}

#[test]
fn only_max_count_is_an_optional_column() {
    for s in inputs() {
        for c in &s.columns {
            assert_eq!(
                c.optional,
                s.table == "course_blocks" && c.name == "max_count",
                "{}.{}",
                s.table,
                c.name
            );
        }
    }
}

#[test]
fn outputs_are_the_expected_tables() {
    let names: BTreeSet<&str> = outputs().map(|s| s.table.as_str()).collect();
    let expected = BTreeSet::from([
        "subsection_grades",
        "course_grades",
        "subsection_diffs",
        "course_grade_diffs",
        "backfill_grades_persistentsubsectiongrade",
        "backfill_grades_visibleblocks",
        "backfill_grades_persistentcoursegrade",
        "impact",
    ]);
    assert_eq!(names, expected);
    let sg = output("subsection_grades").expect("table");
    assert_eq!(
        sg.column_names(),
        [
            "course_id",
            "user_id",
            "usage_key",
            "course_version",
            "earned_all",
            "possible_all",
            "earned_graded",
            "possible_graded",
            "percent_graded",
            "first_attempted",
            "attempted_graded",
            "visible_blocks_hash",
            "source"
        ]
    );
}

#[test]
fn check_reports_every_problem() {
    let s = input("studentmodule").expect("table");
    let file = ArrowSchema::new(vec![
        Field::new("student_id", DataType::Int32, true),
        Field::new("course_id", DataType::LargeUtf8, true),
        Field::new("grade", DataType::Utf8, true),
        Field::new("Max_Grade", DataType::Float32, true),
        Field::new("extra", DataType::Binary, true),
    ]);
    let err = check(s, &file, "in/studentmodule/part-0.parquet").expect_err("must fail");
    let text = err.to_string();
    assert!(text.contains(
        "studentmodule: file 'in/studentmodule/part-0.parquet': column 'grade' has type \
         Utf8, expected a float (float32 or float64)"
    ));
    for missing in ["module_state_key", "module_type", "max_grade", "created", "modified"] {
        assert!(text.contains(&format!("column '{missing}' is missing")), "{text}");
    }
    assert!(text.contains("the file has 'Max_Grade'"));
    assert!(!text.contains("'extra'"));
    assert_eq!(err.problems.len(), 6);
}

#[test]
fn unknown_table_lists_valid_names() {
    let err = input("nope").expect_err("unknown");
    let text = err.to_string();
    assert!(text.contains("'nope'") && text.contains("studentmodule"), "{text}");
    assert!(output("studentmodule").is_err());
    assert!(find("course_grades").is_ok());
}
