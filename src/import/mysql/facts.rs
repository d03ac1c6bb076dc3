//! What is not a plain page of rows: the list of courses, each course's published versions and
//! settings (`course_versions`, `course_settings`), and identity verification as of a moment
//! (`id_verifications`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::Result;
use mysql::prelude::Queryable;
use mysql::{Conn, Params, Value};

use super::exec::Done;
use super::rows::R;
use super::Import;
use crate::generate::table::{TableBuilder, V};
use crate::py::time::Timestamp;
use crate::write::{self, PartWriter};

/// The tables and columns read here (each optional: a table the server lacks is skipped; one
/// it has must have these columns). Checked against the server before reading, and against
/// `schemas/mysql/` by a unit test.
pub(crate) const FACT_READS: &[(&str, &[&str])] = &[
    (
        "split_modulestore_django_splitmodulestorecourseindex",
        &["course_id", "published_version", "last_update"],
    ),
    (
        "split_modulestore_django_historicalsplitmodulestorecourseindex",
        &["course_id", "published_version", "history_date"],
    ),
    ("course_modes_coursemode", &["id", "course_id", "mode_slug"]),
    ("course_groups_coursecohortssettings", &["course_id", "is_cohorted"]),
    ("verify_student_softwaresecurephotoverification", &["user_id", "status", "created_at"]),
    ("verify_student_ssoverification", &["user_id", "status", "created_at"]),
    ("verify_student_manualverification", &["user_id", "status", "created_at"]),
    ("verify_student_verificationattempt", &["user_id", "status", "created_at"]),
    ("teams_courseteammembership", &["user_id", "team_id"]),
    ("teams_courseteam", &["id", "name", "course_id"]),
    ("student_courseenrollment", &["user_id", "course_id"]),
    ("auth_user", &["id"]),
];

/// The columns of every table in the current database.
pub(crate) fn server_columns(conn: &mut Conn) -> Result<HashMap<String, BTreeSet<String>>> {
    let rows: Vec<(String, String)> = conn.query(
        "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()",
    )?;
    let mut out: HashMap<String, BTreeSet<String>> = HashMap::new();
    for (t, c) in rows {
        out.entry(t.to_ascii_lowercase()).or_default().insert(c.to_ascii_lowercase());
    }
    Ok(out)
}

/// Table -> its indexes: (name, columns in order).
pub(crate) type Indexes = HashMap<String, Vec<(String, Vec<String>)>>;

/// The indexes of every table in the current database.
pub(crate) fn server_indexes(conn: &mut Conn) -> Result<Indexes> {
    let rows: Vec<(String, String, String)> = conn.query(
        "SELECT TABLE_NAME, INDEX_NAME, GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX SEPARATOR ',') \
         FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() GROUP BY TABLE_NAME, INDEX_NAME",
    )?;
    let mut out = Indexes::new();
    for (t, name, columns) in rows {
        let columns = columns.split(',').map(|c| c.to_ascii_lowercase()).collect();
        out.entry(t.to_ascii_lowercase()).or_default().push((name, columns));
    }
    Ok(out)
}

/// Every course the server knows: enrolled in, or in the course index.
pub(crate) fn all_courses(conn: &mut Conn, has_index: bool) -> Result<BTreeSet<String>> {
    let mut out: BTreeSet<String> =
        conn.query("SELECT DISTINCT course_id FROM student_courseenrollment")?.into_iter().collect();
    if has_index {
        out.extend(conn.query::<String, _>(
            "SELECT course_id FROM split_modulestore_django_splitmodulestorecourseindex",
        )?);
    }
    Ok(out)
}

/// `course_versions` and `course_settings` of every imported course, Hive-partitioned by course.
pub(crate) fn course_facts(import: &Import, conn: &mut Conn) -> Result<Done> {
    let mut done = Done::default();
    for course in &import.courses {
        let mut versions = TableBuilder::new("course_versions")?;
        for (version, (at, current)) in &published_versions(import, conn, course)? {
            versions.row(&[V::Str(course), V::Str(version), V::Ts(*at), V::Bool(*current)])?;
        }
        let modes: Vec<String> = if import.has_table("course_modes_coursemode") {
            conn.exec(
                "SELECT mode_slug FROM course_modes_coursemode WHERE course_id = ? ORDER BY id",
                (course.as_str(),),
            )?
        } else {
            Vec::new()
        };
        let cohorted: Option<bool> = if import.has_table("course_groups_coursecohortssettings") {
            conn.exec_first(
                "SELECT is_cohorted FROM course_groups_coursecohortssettings WHERE course_id = ?",
                (course.as_str(),),
            )?
        } else {
            None
        };
        let mut settings = TableBuilder::new("course_settings")?;
        let modes_value = if modes.is_empty() { V::Null } else { V::List(&modes) };
        settings.row(&[V::Str(course), modes_value, V::opt_bool(cohorted)])?;
        for (table, mut builder) in [("course_versions", versions), ("course_settings", settings)] {
            write_small(import, table, course, &mut builder, &mut done)?;
        }
    }
    Ok(done)
}

/// A course's published versions: the current one from the index, earlier ones from its
/// history (the first time each `published_version` appears there), by version id.
fn published_versions(
    import: &Import,
    conn: &mut Conn,
    course: &str,
) -> Result<BTreeMap<String, (Timestamp, bool)>> {
    let mut seen: BTreeMap<String, (Timestamp, bool)> = BTreeMap::new();
    const HISTORY: &str = "split_modulestore_django_historicalsplitmodulestorecourseindex";
    const INDEX: &str = "split_modulestore_django_splitmodulestorecourseindex";
    if import.has_table(HISTORY) {
        let sql = "SELECT published_version, MIN(history_date) \
                   FROM split_modulestore_django_historicalsplitmodulestorecourseindex \
                   WHERE course_id = ? AND published_version IS NOT NULL AND published_version <> '' \
                   GROUP BY published_version";
        for row in conn.exec::<mysql::Row, _, _>(sql, (course,))? {
            let r = R::new(&row, HISTORY, &["published_version", "history_date"])?;
            if let Some(at) = r.ts(1)? {
                seen.insert(r.str(0)?.unwrap_or_default(), (at, false));
            }
        }
    }
    if import.has_table(INDEX) {
        let sql = "SELECT published_version, last_update FROM split_modulestore_django_splitmodulestorecourseindex \
                   WHERE course_id = ?";
        for row in conn.exec::<mysql::Row, _, _>(sql, (course,))? {
            let r = R::new(&row, INDEX, &["published_version", "last_update"])?;
            let Some(v) = r.str(0)?.filter(|v| !v.is_empty()) else {
                continue;
            };
            // A course untouched since edX copied the index into MySQL has no history row:
            // the index's last write is the best date there is.
            let updated = r.ts(1)?;
            seen.entry(v).or_insert((updated.unwrap_or_default(), true)).1 = true;
        }
    }
    Ok(seen)
}

/// Write a small table's rows of one course as one file.
fn write_small(
    import: &Import,
    table: &'static str,
    course: &str,
    builder: &mut TableBuilder,
    done: &mut Done,
) -> Result<()> {
    if builder.is_empty() {
        return Ok(());
    }
    let batch = builder.finish()?;
    *done.rows_written.entry(table).or_default() += batch.num_rows() as u64;
    let dir = write::table_dir(&import.out, table, Some(course))?;
    let mut w =
        PartWriter::new(import.out.clone(), dir, batch.schema(), usize::MAX).with_prefix(&import.prefix);
    import.rt.block_on(w.write(&batch))?;
    done.files.extend(import.rt.block_on(w.finish())?);
    Ok(())
}

/// One verification row: (status, created_at).
type Attempt = (String, Timestamp);

/// The tables `IDVerificationService.get_verified_user_ids` reads (the last since 2024).
const VERIFICATION_TABLES: &[&str] = &[
    "verify_student_softwaresecurephotoverification",
    "verify_student_ssoverification",
    "verify_student_manualverification",
    "verify_student_verificationattempt",
];

/// `id_verifications` as of `import.as_of`: one row per learner of the imported courses with any
/// verification. `approved` when an approved verification is still valid at that moment
/// (`IDVerificationService.get_verified_user_ids`: a row of any of the tables with status
/// `approved` and `created_at` later than `days_good_for` days before it; the rows' own
/// expiration columns are not read, and a later denial does not cancel it), else `expired` if
/// one was approved, else the newest attempt's status. Rows created after the moment are not
/// seen.
pub(crate) fn verifications(import: &Import, conn: &mut Conn) -> Result<Done> {
    let started = std::time::Instant::now();
    let mut done = Done::default();
    let present: Vec<&str> = VERIFICATION_TABLES.iter().copied().filter(|t| import.has_table(t)).collect();
    let dir = write::table_dir(&import.out, "id_verifications", None)?;
    let mut builder = TableBuilder::new("id_verifications")?;
    let mut writer =
        PartWriter::new(import.out.clone(), dir, builder.arrow_schema().clone(), import.opts.part_rows)
            .with_prefix(&import.prefix);
    if present.is_empty() {
        tracing::info!("no verification tables on the server: id_verifications is empty");
        return Ok(done);
    }
    // Learners with an enrollment: in the imported courses with --courses, in any course else.
    let filtered = import.opts.courses.is_some();
    let in_courses = match filtered {
        true => format!("AND e.course_id IN ({})", vec!["?"; import.courses.len()].join(", ")),
        false => String::new(),
    };
    let filter = format!(
        "AND EXISTS (SELECT 1 FROM student_courseenrollment e WHERE e.user_id = v.user_id {in_courses})"
    );
    let selects: Vec<String> = present
        .iter()
        .map(|t| {
            format!(
                "SELECT v.user_id, v.status, v.created_at FROM {t} v \
                 WHERE v.user_id BETWEEN ? AND ? AND v.created_at <= ? {filter}"
            )
        })
        .collect();
    let sql = format!("{} ORDER BY 1", selects.join(" UNION ALL "));
    let max_user: Option<i64> = conn.query_first("SELECT MAX(id) FROM auth_user")?.flatten();
    // A naive UTC datetime, as the columns hold them.
    let as_of = chrono::DateTime::from_timestamp_micros(import.as_of)
        .expect("a valid as-of")
        .format("%Y-%m-%d %H:%M:%S%.6f")
        .to_string();
    let window = import.opts.days_good_for * 86_400_000_000;
    let step = import.opts.page_rows as i64;
    let mut lo = 0i64;
    while lo <= max_user.unwrap_or(-1) {
        let hi = lo + step - 1;
        let mut params: Vec<Value> = Vec::new();
        for _ in &present {
            params.extend([Value::from(lo), Value::from(hi), Value::from(as_of.as_str())]);
            if filtered {
                params.extend(import.courses.iter().map(|c| Value::from(c.as_str())));
            }
        }
        let mut by_user: BTreeMap<i64, Vec<Attempt>> = BTreeMap::new();
        for row in conn.exec::<mysql::Row, _, _>(&sql, Params::Positional(params))? {
            let r = R::new(&row, "verify_student_*", &["user_id", "status", "created_at"])?;
            let (uid, status) = (r.int(0)?.unwrap_or_default(), r.str(1)?.unwrap_or_default());
            by_user.entry(uid).or_default().push((status, r.ts(2)?.unwrap_or_default()));
            done.rows_read += 1;
        }
        for (uid, attempts) in &by_user {
            builder.row(&[V::Int(*uid), V::Str(status_at(attempts, import.as_of, window))])?;
        }
        if !builder.is_empty() {
            let batch = builder.finish()?;
            *done.rows_written.entry("id_verifications").or_default() += batch.num_rows() as u64;
            import.rt.block_on(writer.write(&batch))?;
        }
        lo += step;
    }
    done.files.extend(import.rt.block_on(writer.finish())?);
    done.by_source.insert("id_verifications", (done.rows_read, started.elapsed().as_secs_f64()));
    Ok(done)
}

/// The contract's status of one learner's attempts at `as_of`.
pub(crate) fn status_at(attempts: &[Attempt], as_of: Timestamp, window: i64) -> &'static str {
    let approved = || attempts.iter().filter(|(s, _)| s == "approved");
    // `created_at__gt=now() - timedelta(days=DAYS_GOOD_FOR)`: strictly later.
    if approved().any(|(_, created)| *created > as_of - window) {
        return "approved";
    }
    if approved().next().is_some() {
        return "expired";
    }
    let newest = attempts.iter().max_by_key(|(_, created)| *created).map(|(s, _)| s.as_str());
    match newest {
        Some("must_retry") => "must_retry",
        Some("denied") => "denied",
        _ => "pending",
    }
}

/// `team_memberships`: one team per learner and course. edX's grade report reads a learner's
/// memberships without an order and keeps the last one it sees, which is the highest team id
/// in practice (`CourseTeamMembership`, `lms/djangoapps/instructor_task/tasks_helper/grades.py`);
/// the same one is kept here, deterministically. Read per course in one query (a course's
/// memberships are at most its enrollments).
pub(crate) fn team_memberships(import: &Import, conn: &mut Conn) -> Result<Done> {
    let started = std::time::Instant::now();
    let mut done = Done::default();
    if !(import.has_table("teams_courseteammembership") && import.has_table("teams_courseteam")) {
        tracing::warn!("no teams tables on the server: team_memberships is empty");
        return Ok(done);
    }
    let sql = "SELECT m.user_id, t.id, t.name FROM teams_courseteammembership m \
               JOIN teams_courseteam t ON t.id = m.team_id WHERE t.course_id = ? ORDER BY m.user_id, t.id";
    for course in &import.courses {
        let mut kept: BTreeMap<i64, String> = BTreeMap::new();
        for row in conn.exec::<mysql::Row, _, _>(sql, (course.as_str(),))? {
            let r = R::new(&row, "teams_courseteammembership", &["user_id", "team_id", "name"])?;
            done.rows_read += 1;
            kept.insert(r.int(0)?.unwrap_or_default(), r.str(2)?.unwrap_or_default());
        }
        let mut builder = TableBuilder::new("team_memberships")?;
        for (uid, name) in &kept {
            builder.row(&[V::Int(*uid), V::Str(course), V::Str(name)])?;
        }
        write_small(import, "team_memberships", course, &mut builder, &mut done)?;
    }
    done.by_source.insert("team_memberships", (done.rows_read, started.elapsed().as_secs_f64()));
    Ok(done)
}
