//! A source's rows into the contract's rows: one function per source, by column position of
//! its query (`sources.rs`), each value converted with the table, column and key named on error.

use anyhow::{bail, Result};
use mysql::{Row, Value};

use super::convert::{self, At};
use super::state;
use crate::generate::table::{TableBuilder, V};

/// The builders a page's rows go to, by contract table.
pub(crate) struct Sink {
    pub(crate) tables: Vec<(&'static str, TableBuilder)>,
    /// Rows read but not written, by reason (counted in the manifest).
    pub(crate) dropped: std::collections::BTreeMap<&'static str, u64>,
}

impl Sink {
    pub(crate) fn new(tables: &[&'static str]) -> Result<Sink> {
        let tables = tables.iter().map(|&t| Ok((t, TableBuilder::new(t)?))).collect::<Result<_>>()?;
        Ok(Sink { tables, dropped: Default::default() })
    }

    fn table(&mut self, name: &str) -> &mut TableBuilder {
        &mut self.tables.iter_mut().find(|(t, _)| *t == name).expect("a table of this source").1
    }

    /// Append a row by column name ([`TableBuilder::row_by_name`]).
    fn row<'a>(&mut self, table: &str, value: impl Fn(&str) -> V<'a>) -> Result<()> {
        self.table(table).row_by_name(value)
    }

    pub(crate) fn drop_row(&mut self, why: &'static str) {
        *self.dropped.entry(why).or_default() += 1;
    }
}

/// Typed access to one row of a query over `table`, each value converted with its table,
/// column and row named on error.
pub(super) struct R<'a> {
    row: &'a Row,
    table: &'static str,
    names: &'static [&'static str],
    key: i64,
}

impl<'a> R<'a> {
    pub(super) fn new(row: &'a Row, table: &'static str, names: &'static [&'static str]) -> Result<R<'a>> {
        if row.len() != names.len() {
            bail!("{table}: the query returned {} columns, expected {}", row.len(), names.len());
        }
        let mut r = R { row, table, names, key: 0 };
        // Errors name the row by its id (the paging key may be another column), else by its
        // first column when that is a number.
        r.key = match names.iter().position(|n| *n == "id") {
            Some(id) => r.int(id)?.unwrap_or_default(),
            None => r.int(0).ok().flatten().unwrap_or_default(),
        };
        Ok(r)
    }
    fn v(&self, i: usize) -> &Value {
        self.row.as_ref(i).unwrap_or(&Value::NULL)
    }
    fn at(&self, i: usize) -> At<'static> {
        At { table: self.table, column: self.names[i], key: self.key }
    }
    pub(super) fn int(&self, i: usize) -> Result<Option<i64>> {
        convert::int(self.v(i), self.at(i))
    }
    pub(super) fn float(&self, i: usize) -> Result<Option<f64>> {
        convert::float(self.v(i), self.at(i))
    }
    pub(super) fn bool(&self, i: usize) -> Result<Option<bool>> {
        convert::boolean(self.v(i), self.at(i))
    }
    pub(super) fn str(&self, i: usize) -> Result<Option<String>> {
        convert::string(self.v(i), self.at(i))
    }
    pub(super) fn ts(&self, i: usize) -> Result<Option<i64>> {
        convert::datetime(self.v(i), self.at(i))
    }
    /// A column edX declares NOT NULL: NULL is an error naming it.
    fn required<T>(&self, i: usize, v: Option<T>) -> Result<T> {
        v.ok_or_else(|| {
            crate::read::InputError::new(format!("{}: NULL in a NOT NULL column", self.at(i))).into()
        })
    }
}

/// Convert one row of `source` into `sink`.
pub(crate) fn convert(source: &str, row: &Row, sink: &mut Sink) -> Result<()> {
    match source {
        "studentmodule" => studentmodule(row, sink),
        "enrollments" => enrollment(row, sink),
        "submissions" => submission(row, sink),
        "persistent_subsection_grades" => subsection_grade(row, sink),
        "persistent_course_grades" => course_grade(row, sink),
        "visible_blocks" => visible_block(row, sink),
        "subsection_grade_overrides" => override_row(row, sink),
        "cohort_memberships" => cohort_membership(row, sink),
        "partition_groups" => partition_group(row, sink),
        "certificate_allowlist" => allowlist_entry(row, sink),
        "generated_certificates" => certificate(row, sink),
        "users" => user(row, sink),
        other => bail!("no row conversion for source {other}"),
    }
}

fn enrollment(row: &Row, sink: &mut Sink) -> Result<()> {
    let r = R::new(
        row,
        "student_courseenrollment",
        &["id", "user_id", "course_id", "mode", "is_active", "created"],
    )?;
    let (uid, course, mode) =
        (r.required(1, r.int(1)?)?, r.required(2, r.str(2)?)?, r.required(3, r.str(3)?)?);
    let (active, created) = (r.required(4, r.bool(4)?)?, r.ts(5)?);
    sink.row("enrollments", |c| match c {
        "user_id" => V::Int(uid),
        "course_id" => V::Str(&course),
        "mode" => V::Str(&mode),
        "is_active" => V::Bool(active),
        "created" => V::opt_ts(created),
        _ => V::Null,
    })
}

fn submission(row: &Row, sink: &mut Sink) -> Result<()> {
    let names = &[
        "student_item_id",
        "score id",
        "user_id",
        "course_id",
        "item_id",
        "points_earned",
        "points_possible",
        "created_at",
    ];
    let r = R::new(row, "submissions_studentitem", names)?;
    let (id, uid) = (r.required(1, r.int(1)?)?, r.required(2, r.int(2)?)?);
    let (course, item) = (r.required(3, r.str(3)?)?, r.required(4, r.str(4)?)?);
    let (earned, possible) = (r.required(5, r.float(5)?)?, r.required(6, r.float(6)?)?);
    let at = r.required(7, r.ts(7)?)?;
    sink.row("submissions", |c| match c {
        "id" => V::Int(id),
        "user_id" => V::Int(uid),
        "course_id" => V::Str(&course),
        "usage_key" => V::Str(&item),
        "points_earned" => V::Float(earned),
        "points_possible" => V::Float(possible),
        "created_at" => V::Ts(at),
        _ => V::Null,
    })
}

fn visible_block(row: &Row, sink: &mut Sink) -> Result<()> {
    let r = R::new(row, "grades_visibleblocks", &["id", "hashed", "blocks_json", "course_id"])?;
    let (hashed, json, course) =
        (r.required(1, r.str(1)?)?, r.required(2, r.str(2)?)?, r.required(3, r.str(3)?)?);
    sink.row("visible_blocks", |c| match c {
        "hashed" => V::Str(&hashed),
        "blocks_json" => V::Str(&json),
        "course_id" => V::Str(&course),
        _ => V::Null,
    })
}

fn cohort_membership(row: &Row, sink: &mut Sink) -> Result<()> {
    let names = &["course_user_group_id", "id", "user_id", "name", "course_id", "partition_id", "group_id"];
    let r = R::new(row, "course_groups_cohortmembership", names)?;
    let (uid, name, course) =
        (r.required(2, r.int(2)?)?, r.required(3, r.str(3)?)?, r.required(4, r.str(4)?)?);
    let (pid, gid) = (r.int(5)?, r.int(6)?);
    sink.row("cohort_memberships", |c| match c {
        "user_id" => V::Int(uid),
        "course_id" => V::Str(&course),
        "cohort_name" => V::Str(&name),
        "partition_id" => V::opt_int(pid),
        "group_id" => V::opt_int(gid),
        _ => V::Null,
    })
}

fn partition_group(row: &Row, sink: &mut Sink) -> Result<()> {
    let r = R::new(row, "user_api_usercoursetag", &["id", "user_id", "course_id", "key", "value"])?;
    let (uid, course, key) =
        (r.required(1, r.int(1)?)?, r.required(2, r.str(2)?)?, r.required(3, r.str(3)?)?);
    let value = r.str(4)?.unwrap_or_default();
    // The partition service reads the tag `xblock.partition_service.partition_<id>`
    // and the group id as its value; a tag it could not read is not a group.
    match state::partition_tag(&key, &value) {
        Some((pid, gid)) => sink.row("partition_groups", |c| match c {
            "user_id" => V::Int(uid),
            "course_id" => V::Str(&course),
            "partition_id" => V::Int(pid),
            "group_id" => V::Int(gid),
            _ => V::Null,
        }),
        None => {
            sink.drop_row("partition_tag_unreadable");
            Ok(())
        }
    }
}

fn allowlist_entry(row: &Row, sink: &mut Sink) -> Result<()> {
    let r = R::new(row, "certificates_certificateallowlist", &["user_id", "id", "course_id", "allowlist"])?;
    let (uid, course, allow) =
        (r.required(0, r.int(0)?)?, r.required(2, r.str(2)?)?, r.required(3, r.bool(3)?)?);
    sink.row("certificate_allowlist", |c| match c {
        "user_id" => V::Int(uid),
        "course_id" => V::Str(&course),
        "allowlist" => V::Bool(allow),
        _ => V::Null,
    })
}

fn certificate(row: &Row, sink: &mut Sink) -> Result<()> {
    let r =
        R::new(row, "certificates_generatedcertificate", &["id", "user_id", "course_id", "status", "mode"])?;
    let (uid, course) = (r.required(1, r.int(1)?)?, r.required(2, r.str(2)?)?);
    let (status, mode) = (r.required(3, r.str(3)?)?, r.required(4, r.str(4)?)?);
    sink.row("generated_certificates", |c| match c {
        "user_id" => V::Int(uid),
        "course_id" => V::Str(&course),
        "status" => V::Str(&status),
        "mode" => V::Str(&mode),
        _ => V::Null,
    })
}

fn user(row: &Row, sink: &mut Sink) -> Result<()> {
    let r = R::new(row, "auth_user", &["id", "username", "email"])?;
    let (id, name, email) = (r.required(0, r.int(0)?)?, r.required(1, r.str(1)?)?, r.required(2, r.str(2)?)?);
    sink.row("users", |c| match c {
        "id" => V::Int(id),
        "username" => V::Str(&name),
        "email" => V::Str(&email),
        _ => V::Null,
    })
}

fn studentmodule(row: &Row, sink: &mut Sink) -> Result<()> {
    let r = R::new(row, "courseware_studentmodule", super::sources::STUDENTMODULE_COLUMNS)?;
    let (uid, course) = (r.required(1, r.int(1)?)?, r.required(2, r.str(2)?)?);
    let (key, kind) = (r.required(3, r.str(3)?)?, r.required(4, r.str(4)?)?);
    let (grade, max) = (r.float(5)?, r.float(6)?);
    if kind == "library_content" || kind == "itembank" {
        let stored = r.str(9)?.unwrap_or_default();
        match state::selected(&course, &stored) {
            Ok(Some(selected)) => sink.row("library_selections", |c| match c {
                "user_id" => V::Int(uid),
                "course_id" => V::Str(&course),
                "usage_key" => V::Str(&key),
                "selected" => V::List(&selected),
                _ => V::Null,
            })?,
            Ok(None) => sink.drop_row("library_state_without_selection"),
            Err(why) => {
                return Err(crate::read::InputError::new(format!("{}: {why}", r.at(9))).into());
            }
        }
        if max.is_none() {
            return Ok(());
        }
    }
    let Some(max) = max else {
        sink.drop_row("studentmodule_without_max_grade");
        return Ok(());
    };
    let (created, modified) = (r.required(7, r.ts(7)?)?, r.required(8, r.ts(8)?)?);
    sink.row("studentmodule", |c| match c {
        "student_id" => V::Int(uid),
        "course_id" => V::Str(&course),
        "module_state_key" => V::Str(&key),
        "module_type" => V::Str(&kind),
        "grade" => V::opt_float(grade),
        "max_grade" => V::Float(max),
        "created" => V::Ts(created),
        "modified" => V::Ts(modified),
        _ => V::Null,
    })
}

fn subsection_grade(row: &Row, sink: &mut Sink) -> Result<()> {
    let r = R::new(row, "grades_persistentsubsectiongrade", super::sources::SUBSECTION_GRADE_COLUMNS)?;
    let strs = [3, 1, 4, 11].map(|i| r.str(i).and_then(|v| r.required(i, v)));
    let [course, key, version, hash] = strs;
    let (course, key, version, hash) = (course?, key?, version?, hash?);
    let floats = [6, 7, 8, 9].map(|i| r.float(i).and_then(|v| r.required(i, v)));
    let [ea, pa, eg, pg] = floats;
    let (ea, pa, eg, pg) = (ea?, pa?, eg?, pg?);
    let (id, uid) = (r.required(2, r.int(2)?)?, r.required(0, r.int(0)?)?);
    let (edited, first) = (r.ts(5)?, r.ts(10)?);
    let (created, modified) = (r.required(12, r.ts(12)?)?, r.required(13, r.ts(13)?)?);
    sink.row("persistent_subsection_grades", |c| match c {
        "id" => V::Int(id),
        "user_id" => V::Int(uid),
        "course_id" => V::Str(&course),
        "usage_key" => V::Str(&key),
        "course_version" => V::Str(&version),
        "subtree_edited_timestamp" => V::opt_ts(edited),
        "earned_all" => V::Float(ea),
        "possible_all" => V::Float(pa),
        "earned_graded" => V::Float(eg),
        "possible_graded" => V::Float(pg),
        "first_attempted" => V::opt_ts(first),
        "visible_blocks_hash" => V::Str(&hash),
        "created" => V::Ts(created),
        "modified" => V::Ts(modified),
        _ => V::Null,
    })
}

fn course_grade(row: &Row, sink: &mut Sink) -> Result<()> {
    let r = R::new(row, "grades_persistentcoursegrade", super::sources::COURSE_GRADE_COLUMNS)?;
    let (id, uid) = (r.required(1, r.int(1)?)?, r.required(0, r.int(0)?)?);
    let (course, version) = (r.required(2, r.str(2)?)?, r.required(3, r.str(3)?)?);
    let (hash, letter) = (r.required(5, r.str(5)?)?, r.required(7, r.str(7)?)?);
    let percent = r.required(6, r.float(6)?)?;
    let (edited, passed) = (r.ts(4)?, r.ts(8)?);
    let (created, modified) = (r.required(9, r.ts(9)?)?, r.required(10, r.ts(10)?)?);
    sink.row("persistent_course_grades", |c| match c {
        "id" => V::Int(id),
        "user_id" => V::Int(uid),
        "course_id" => V::Str(&course),
        "course_version" => V::Str(&version),
        "course_edited_timestamp" => V::opt_ts(edited),
        "grading_policy_hash" => V::Str(&hash),
        "percent_grade" => V::Float(percent),
        "letter_grade" => V::Str(&letter),
        "passed_timestamp" => V::opt_ts(passed),
        "created" => V::Ts(created),
        "modified" => V::Ts(modified),
        _ => V::Null,
    })
}

fn override_row(row: &Row, sink: &mut Sink) -> Result<()> {
    let r = R::new(row, "grades_persistentsubsectiongradeoverride", super::sources::OVERRIDE_COLUMNS)?;
    let grade_id = r.required(3, r.int(3)?)?;
    let (ea, pa, eg, pg) = (r.float(4)?, r.float(5)?, r.float(6)?, r.float(7)?);
    let (system, reason) = (r.str(8)?, r.str(9)?);
    let (created, modified) = (r.required(10, r.ts(10)?)?, r.required(11, r.ts(11)?)?);
    sink.row("subsection_grade_overrides", |c| match c {
        "grade_id" => V::Int(grade_id),
        "earned_all_override" => V::opt_float(ea),
        "possible_all_override" => V::opt_float(pa),
        "earned_graded_override" => V::opt_float(eg),
        "possible_graded_override" => V::opt_float(pg),
        "system" => V::opt_str(system.as_deref()),
        "override_reason" => V::opt_str(reason.as_deref()),
        "created" => V::Ts(created),
        "modified" => V::Ts(modified),
        _ => V::Null,
    })
}
