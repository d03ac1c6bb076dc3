//! Table schemas of the data contract, and the check of a Parquet file against them.
//!
//! The JSON files under `schemas/` are the single source of truth for every table regrade reads
//! (`schemas/input/`) or writes (`schemas/output/`). They are embedded into the binary at compile
//! time with `include_str!`, so `regrade` is self-contained and `regrade schema` prints exactly
//! what the code checks. A unit test walks `schemas/` and fails if a file is not embedded here.
//!
//! Input column types are the contract's *logical families* (`string`, `int`, `float`, `bool`,
//! `timestamp`, `list<string>`): any physical width of the family is accepted and normalised by
//! the reader to one canonical Arrow type ([`Column::arrow_type`]). Output column types are the
//! exact Arrow types regrade writes (`int64`, `float64`, `utf8`, `dictionary<int32, utf8>`,
//! `bool`, `timestamp[us, UTC]`).
//!
//! [`check`] compares a file's Arrow schema with a table schema and reports every problem at
//! once (missing columns, wrong types), each naming the table, the file, the column, what was
//! expected, what was found and what to do. [`check_nulls`] does the same for nulls found in a
//! non-nullable column once the data is decoded.

use std::fmt;
use std::sync::{Arc, OnceLock};

use arrow::array::{Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema as ArrowSchema, SchemaRef, TimeUnit};
use serde::{Deserialize, Serialize};

/// Whether a table is read or written by regrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Input,
    Output,
}

/// One table of the data contract, as described by its file under `schemas/`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    pub table: String,
    pub kind: Kind,
    /// Input tables only: a missing required table is an error, a missing optional one is empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
    pub edx_source: String,
    pub description: String,
    pub columns: Vec<Column>,
}

/// One column of a table schema.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Column {
    pub name: String,
    /// Logical family (inputs) or exact Arrow type (outputs), as written in the JSON file.
    #[serde(rename = "type")]
    pub type_name: String,
    pub nullable: bool,
    pub meaning: String,
    pub edx_source: String,
    /// Input columns only: the column may be absent from a file, which then reads as if it
    /// held only nulls (a column added to the contract after exports already existed).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
}

/// An output column written dictionary-encoded: the partition key `course_id`, so that readers
/// that merge a Hive partition key (a dictionary in pyarrow and pandas) with the column of the
/// same name in the files find one type.
pub(crate) const DICTIONARY_UTF8: &str = "dictionary<int32, utf8>";

/// A batch of `schema` from `columns` in its order, each string column the schema writes
/// dictionary-encoded ([`DICTIONARY_UTF8`]) cast to its dictionary type; other columns as given.
pub fn record_batch(
    schema: &SchemaRef,
    mut columns: Vec<arrow::array::ArrayRef>,
) -> Result<RecordBatch, arrow::error::ArrowError> {
    for (field, column) in schema.fields().iter().zip(columns.iter_mut()) {
        if matches!(field.data_type(), DataType::Dictionary(..)) && column.data_type() == &DataType::Utf8 {
            *column = arrow::compute::cast(column, field.data_type())?;
        }
    }
    RecordBatch::try_new(schema.clone(), columns)
}

/// The type families of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    String,
    Int,
    Float,
    Bool,
    Timestamp,
    ListString,
}

impl Family {
    fn parse(kind: Kind, name: &str) -> Option<Family> {
        let family = match (kind, name) {
            (Kind::Input, "string") | (Kind::Output, "utf8" | DICTIONARY_UTF8) => Family::String,
            (Kind::Input, "int") | (Kind::Output, "int64") => Family::Int,
            (Kind::Input, "float") | (Kind::Output, "float64") => Family::Float,
            (_, "bool") => Family::Bool,
            (Kind::Input, "timestamp") | (Kind::Output, "timestamp[us, UTC]") => Family::Timestamp,
            (Kind::Input, "list<string>") | (Kind::Output, "list<utf8>") => Family::ListString,
            _ => return None,
        };
        Some(family)
    }

    /// What an input file may hold for this family, in words for error messages.
    pub fn accepted(self) -> &'static str {
        match self {
            Family::String => "a string (Utf8, LargeUtf8, Utf8View or a dictionary of strings)",
            Family::Int => "an integer (any width, signed or unsigned)",
            Family::Float => "a float (float32 or float64), an integer up to 2^53 or a decimal",
            Family::Bool => "a boolean (or an integer holding only 0 and 1)",
            Family::Timestamp => "a timestamp (any unit, with or without time zone; naive = UTC)",
            Family::ListString => "a list of strings (List or LargeList of any string type)",
        }
    }

    /// The canonical Arrow type every accepted input type is normalised to.
    pub fn canonical(self) -> DataType {
        match self {
            Family::String => DataType::Utf8,
            Family::Int => DataType::Int64,
            Family::Float => DataType::Float64,
            Family::Bool => DataType::Boolean,
            Family::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            Family::ListString => DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
        }
    }

    /// Whether a file column of type `found` can be read as this family.
    pub fn accepts(self, found: &DataType) -> bool {
        match self {
            Family::String => is_string(found),
            Family::Int => found.is_integer(),
            // Integers are converted exactly or refused, decimals to the nearest float
            // (`read::convert`).
            Family::Float => {
                matches!(found, DataType::Float32 | DataType::Float64)
                    || found.is_integer()
                    || found.is_decimal()
            }
            Family::Bool => matches!(found, DataType::Boolean) || found.is_integer(),
            Family::Timestamp => matches!(found, DataType::Timestamp(_, _)),
            Family::ListString => match found {
                DataType::List(f) | DataType::LargeList(f) => is_string(f.data_type()),
                _ => false,
            },
        }
    }
}

fn is_string(t: &DataType) -> bool {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, v) => {
            matches!(v.as_ref(), DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
        }
        _ => false,
    }
}

impl Column {
    /// The column's type family. Embedded schemas are validated by a unit test, so this never
    /// fails for the schemas of [`all`].
    pub(crate) fn family(&self, kind: Kind) -> Family {
        Family::parse(kind, &self.type_name).unwrap_or_else(|| {
            panic!(
                "schemas/: column '{}' has unknown type '{}' (bug in an embedded schema)",
                self.name, self.type_name
            )
        })
    }

    /// Canonical Arrow type of the column (inputs after normalisation; outputs as written).
    pub(crate) fn arrow_type(&self, kind: Kind) -> DataType {
        if kind == Kind::Output && self.type_name == DICTIONARY_UTF8 {
            return DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        }
        self.family(kind).canonical()
    }
}

impl Schema {
    pub fn is_required(&self) -> bool {
        self.required.unwrap_or(false)
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    pub fn column_names(&self) -> Vec<&str> {
        self.columns.iter().map(|c| c.name.as_str()).collect()
    }

    /// Arrow field of a column with its canonical type and the contract's nullability.
    pub fn field(&self, column: &Column) -> Field {
        Field::new(&column.name, column.arrow_type(self.kind), column.nullable)
    }

    /// Canonical Arrow schema of the whole table, columns in contract order.
    pub fn arrow_schema(&self) -> SchemaRef {
        Arc::new(ArrowSchema::new(self.columns.iter().map(|c| self.field(c)).collect::<Vec<_>>()))
    }

    /// Canonical Arrow schema of some columns of the table, in the order given.
    pub fn project(&self, columns: &[&str]) -> Result<SchemaRef, UnknownName> {
        let fields = columns
            .iter()
            .map(|name| {
                self.column(name).map(|c| self.field(c)).ok_or_else(|| UnknownName {
                    what: format!("column of table '{}'", self.table),
                    name: name.to_string(),
                    valid: self.columns.iter().map(|c| c.name.clone()).collect(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Arc::new(ArrowSchema::new(fields)))
    }

    fn hint(&self) -> String {
        match self.kind {
            Kind::Input => format!(
                "hint: re-export the table with the contract's columns and types; \
                 `regrade schema {}` lists them",
                self.table
            ),
            Kind::Output => format!(
                "hint: this is a bug in regrade: an output batch does not match \
                 schemas/output/{}.json",
                self.table
            ),
        }
    }
}

macro_rules! embed {
    ($($dir:literal / $name:literal),* $(,)?) => {
        /// Every schema file, as `(path relative to the crate root, contents)`.
        pub(crate) const EMBEDDED: &[(&str, &str)] = &[
            $((
                concat!("schemas/", $dir, "/", $name, ".json"),
                include_str!(concat!("../schemas/", $dir, "/", $name, ".json")),
            )),*
        ];
    };
}

embed![
    "input" / "course_blocks",
    "input" / "course_policies",
    "input" / "studentmodule",
    "input" / "enrollments",
    "input" / "submissions",
    "input" / "persistent_subsection_grades",
    "input" / "visible_blocks",
    "input" / "subsection_grade_overrides",
    "input" / "persistent_course_grades",
    "input" / "users",
    "input" / "id_verifications",
    "input" / "cohort_memberships",
    "input" / "partition_groups",
    "input" / "team_memberships",
    "input" / "certificate_allowlist",
    "input" / "generated_certificates",
    "input" / "library_selections",
    "input" / "course_versions",
    "input" / "course_settings",
    "output" / "subsection_grades",
    "output" / "course_grades",
    "output" / "subsection_diffs",
    "output" / "course_grade_diffs",
    "output" / "backfill_grades_persistentsubsectiongrade",
    "output" / "backfill_grades_visibleblocks",
    "output" / "backfill_grades_persistentcoursegrade",
    "output" / "impact",
];

/// All schemas: inputs first (contract order), then outputs.
pub fn all() -> &'static [Schema] {
    static ALL: OnceLock<Vec<Schema>> = OnceLock::new();
    ALL.get_or_init(|| {
        EMBEDDED
            .iter()
            .map(|(path, text)| {
                // Embedded at compile time and parsed by a unit test: a failure is a build bug.
                serde_json::from_str(text)
                    .unwrap_or_else(|e| panic!("embedded schema {path} does not parse: {e}"))
            })
            .collect()
    })
}

/// Input tables, in contract order.
pub fn inputs() -> impl Iterator<Item = &'static Schema> {
    all().iter().filter(|s| s.kind == Kind::Input)
}

/// Output tables.
pub fn outputs() -> impl Iterator<Item = &'static Schema> {
    all().iter().filter(|s| s.kind == Kind::Output)
}

/// A table or column name that is not in the contract.
#[derive(Debug, Clone)]
pub struct UnknownName {
    pub what: String,
    pub name: String,
    pub valid: Vec<String>,
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {} '{}'; valid names: {}", self.what, self.name, self.valid.join(", "))
    }
}

impl std::error::Error for UnknownName {}

fn lookup(kind: Kind, name: &str) -> Result<&'static Schema, UnknownName> {
    let mut candidates = all().iter().filter(|s| s.kind == kind);
    candidates.clone().find(|s| s.table == name).ok_or_else(|| UnknownName {
        what: match kind {
            Kind::Input => "input table".into(),
            Kind::Output => "output table".into(),
        },
        name: name.to_string(),
        valid: candidates.by_ref().map(|s| s.table.clone()).collect(),
    })
}

/// The schema of an input table.
pub fn input(name: &str) -> Result<&'static Schema, UnknownName> {
    lookup(Kind::Input, name)
}

/// The schema of an output table.
pub fn output(name: &str) -> Result<&'static Schema, UnknownName> {
    lookup(Kind::Output, name)
}

/// The schema of any table, input or output.
pub fn find(name: &str) -> Result<&'static Schema, UnknownName> {
    all().iter().find(|s| s.table == name).ok_or_else(|| UnknownName {
        what: "table".into(),
        name: name.to_string(),
        valid: all().iter().map(|s| s.table.clone()).collect(),
    })
}

/// Every problem found in one file against one table schema.
#[derive(Debug, Clone)]
pub struct SchemaError {
    pub table: String,
    pub file: String,
    pub problems: Vec<String>,
    pub hint: String,
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}: file '{}': {}", self.table, self.file, p)?;
        }
        write!(f, "\n{}", self.hint)
    }
}

impl std::error::Error for SchemaError {}

/// Check a file's Arrow schema against a table schema, reporting every problem at once.
///
/// Only the columns in `wanted` are checked (all columns of the table when `None`); extra
/// columns in the file are ignored. Inputs accept any type of the column's family, outputs
/// need the exact type. Nullability is not checked here but on the data ([`check_nulls`]),
/// because Parquet writers routinely declare every column nullable.
pub fn check(schema: &Schema, arrow_schema: &ArrowSchema, file: &str) -> Result<(), SchemaError> {
    check_columns(schema, arrow_schema, file, None)
}

/// [`check`] restricted to some columns of the table.
pub(crate) fn check_columns(
    schema: &Schema,
    arrow_schema: &ArrowSchema,
    file: &str,
    wanted: Option<&[&str]>,
) -> Result<(), SchemaError> {
    let mut problems = Vec::new();
    for column in &schema.columns {
        if wanted.is_some_and(|w| !w.contains(&column.name.as_str())) {
            continue;
        }
        let family = column.family(schema.kind);
        match arrow_schema.field_with_name(&column.name) {
            Err(_) if column.optional => {}
            Err(_) => problems.push(format!(
                "column '{}' is missing, expected {}{}",
                column.name,
                match schema.kind {
                    Kind::Input => family.accepted().to_string(),
                    Kind::Output => column.type_name.clone(),
                },
                near_miss(&column.name, arrow_schema)
            )),
            Ok(field) => {
                let ok = match schema.kind {
                    Kind::Input => {
                        family.accepts(field.data_type())
                            || (column.nullable && field.data_type() == &DataType::Null)
                    }
                    Kind::Output => field.data_type() == &column.arrow_type(Kind::Output),
                };
                if !ok {
                    problems.push(format!(
                        "column '{}' has type {}, expected {}",
                        column.name,
                        field.data_type(),
                        match schema.kind {
                            Kind::Input => family.accepted().to_string(),
                            Kind::Output => {
                                format!("{} ({})", column.type_name, column.arrow_type(Kind::Output))
                            }
                        }
                    ));
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(SchemaError {
            table: schema.table.clone(),
            file: file.to_string(),
            problems,
            hint: schema.hint(),
        })
    }
}

/// " (the file has 'Grade')" when a column differs only by case, to point at the likely fix.
fn near_miss(name: &str, arrow_schema: &ArrowSchema) -> String {
    arrow_schema
        .fields()
        .iter()
        .find(|f| f.name().eq_ignore_ascii_case(name))
        .map(|f| format!(" (the file has '{}'; names are case-sensitive)", f.name()))
        .unwrap_or_default()
}

/// Check that the non-nullable columns of a decoded batch hold no nulls, reporting every
/// offending column with its null count and first null row. `first_row` is the row number of
/// the batch's first row within the file (counting from 0), so the message points at the file's
/// row. Columns of the batch that the table schema does not know are ignored.
pub(crate) fn check_nulls(
    schema: &Schema,
    batch: &RecordBatch,
    file: &str,
    first_row: u64,
) -> Result<(), SchemaError> {
    let mut problems = Vec::new();
    for (field, array) in batch.schema().fields().iter().zip(batch.columns()) {
        let Some(column) = schema.column(field.name()) else {
            continue;
        };
        if column.nullable || array.null_count() == 0 {
            continue;
        }
        let first = (0..array.len()).find(|&i| array.is_null(i)).unwrap_or(0) as u64;
        problems.push(format!(
            "column '{}' must not be null, found {} null value{} (first at row {} of the file, \
             counting from 0)",
            column.name,
            array.null_count(),
            if array.null_count() == 1 { "" } else { "s" },
            first_row + first
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(SchemaError {
            table: schema.table.clone(),
            file: file.to_string(),
            problems,
            hint: format!(
                "hint: fill the column in the export (e.g. COALESCE) or drop those rows; \
                 `regrade schema {}` shows which columns may be null",
                schema.table
            ),
        })
    }
}

/// The DDL of edX's grade tables the backfill writes (`schemas/mysql/`), in creation and load
/// order: `(table, CREATE TABLE statement)`.
pub const MYSQL_DDL: [(&str, &str); 3] = [
    ("grades_visibleblocks", include_str!("../schemas/mysql/grades_visibleblocks.sql")),
    (
        "grades_persistentsubsectiongrade",
        include_str!("../schemas/mysql/grades_persistentsubsectiongrade.sql"),
    ),
    ("grades_persistentcoursegrade", include_str!("../schemas/mysql/grades_persistentcoursegrade.sql")),
];

/// The DDL of the other edX tables `regrade import mysql` reads (`schemas/mysql/`), by name:
/// the importer's tests create them, and a unit test checks every column it reads is here.
pub const MYSQL_SOURCE_DDL: [(&str, &str); 27] = [
    ("auth_user", include_str!("../schemas/mysql/auth_user.sql")),
    (
        "certificates_certificateallowlist",
        include_str!("../schemas/mysql/certificates_certificateallowlist.sql"),
    ),
    (
        "certificates_generatedcertificate",
        include_str!("../schemas/mysql/certificates_generatedcertificate.sql"),
    ),
    ("course_groups_cohortmembership", include_str!("../schemas/mysql/course_groups_cohortmembership.sql")),
    ("course_groups_coursecohort", include_str!("../schemas/mysql/course_groups_coursecohort.sql")),
    (
        "course_groups_coursecohortssettings",
        include_str!("../schemas/mysql/course_groups_coursecohortssettings.sql"),
    ),
    ("course_groups_courseusergroup", include_str!("../schemas/mysql/course_groups_courseusergroup.sql")),
    (
        "course_groups_courseusergroup_users",
        include_str!("../schemas/mysql/course_groups_courseusergroup_users.sql"),
    ),
    (
        "course_groups_courseusergrouppartitiongroup",
        include_str!("../schemas/mysql/course_groups_courseusergrouppartitiongroup.sql"),
    ),
    ("course_modes_coursemode", include_str!("../schemas/mysql/course_modes_coursemode.sql")),
    ("courseware_studentmodule", include_str!("../schemas/mysql/courseware_studentmodule.sql")),
    (
        "grades_persistentsubsectiongradeoverride",
        include_str!("../schemas/mysql/grades_persistentsubsectiongradeoverride.sql"),
    ),
    (
        "split_modulestore_django_historicalsplitmodulestorecourseindex",
        include_str!("../schemas/mysql/split_modulestore_django_historicalsplitmodulestorecourseindex.sql"),
    ),
    (
        "split_modulestore_django_splitmodulestorecourseindex",
        include_str!("../schemas/mysql/split_modulestore_django_splitmodulestorecourseindex.sql"),
    ),
    ("student_anonymoususerid", include_str!("../schemas/mysql/student_anonymoususerid.sql")),
    ("student_courseenrollment", include_str!("../schemas/mysql/student_courseenrollment.sql")),
    ("submissions_score", include_str!("../schemas/mysql/submissions_score.sql")),
    ("submissions_scoresummary", include_str!("../schemas/mysql/submissions_scoresummary.sql")),
    ("submissions_studentitem", include_str!("../schemas/mysql/submissions_studentitem.sql")),
    ("submissions_submission", include_str!("../schemas/mysql/submissions_submission.sql")),
    ("teams_courseteam", include_str!("../schemas/mysql/teams_courseteam.sql")),
    ("teams_courseteammembership", include_str!("../schemas/mysql/teams_courseteammembership.sql")),
    ("user_api_usercoursetag", include_str!("../schemas/mysql/user_api_usercoursetag.sql")),
    (
        "verify_student_manualverification",
        include_str!("../schemas/mysql/verify_student_manualverification.sql"),
    ),
    (
        "verify_student_softwaresecurephotoverification",
        include_str!("../schemas/mysql/verify_student_softwaresecurephotoverification.sql"),
    ),
    ("verify_student_ssoverification", include_str!("../schemas/mysql/verify_student_ssoverification.sql")),
    (
        "verify_student_verificationattempt",
        include_str!("../schemas/mysql/verify_student_verificationattempt.sql"),
    ),
];

/// The column names of a `CREATE TABLE` statement, in order (lines of the form
/// `` `name` type ...``; comments and keys skipped).
pub fn ddl_columns(ddl: &str) -> Vec<&str> {
    ddl.lines()
        .map(str::trim_start)
        .filter_map(|l| l.strip_prefix('`'))
        .filter_map(|l| l.split_once('`').map(|(name, _)| name))
        .collect()
}

#[cfg(test)]
mod tests;
