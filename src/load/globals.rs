//! The run-wide lookups read once from the tables without a `course_id` ([`Globals`]), and
//! one course's rows of the tables that have one ([`read_course`]).

use std::collections::{HashMap, HashSet};

use anyhow::Result;

use super::CourseTables;
use crate::fxhash::{FxHashMap, FxHashSet};
use crate::grade::subsection::Override;
use crate::read::batch::Columns;
use crate::read::tables::{columns_for, dictionary_for, user_column};
use crate::read::{self, InputError, TableFile, UserRange};
use crate::store::Location;

/// Run-wide lookups from tables without a `course_id` column, read once.
#[derive(Debug, Default)]
pub struct Globals {
    /// `auth_user`: id -> (username, email). Only read when reports are written.
    pub users: FxHashMap<i64, (String, String)>,
    /// `auth_user` ids with more than one row -> the file of the second one. A course with
    /// such a learner enrolled is quarantined, as for any duplicate key.
    pub duplicate_users: FxHashMap<i64, String>,
    /// Users with an approved ID verification.
    pub verified: FxHashSet<i64>,
    /// Overrides by `grade_id` (the persisted subsection grade's id).
    pub overrides: FxHashMap<i64, Override>,
    /// Rows read to build these lookups (for the manifest).
    pub rows_read: usize,
}

impl Globals {
    /// About what the lookups hold in memory, in bytes (the memory budget's share of them).
    pub(crate) fn memory_estimate(&self) -> u64 {
        let users: usize = self.users.values().map(|(n, e)| 64 + n.len() + e.len()).sum();
        (users + self.verified.len() * 16 + self.overrides.len() * 64) as u64
    }
}

/// Read the run-wide lookups; users and ID verifications only when `reports` are written.
pub(crate) async fn read_globals(
    input: &Location,
    files: &HashMap<&'static str, Vec<TableFile>>,
    reports: bool,
) -> Result<Globals> {
    let mut g = Globals::default();
    if reports {
        for b in read::read_files(input, "users", files["users"].clone(), columns_for("users"), None).await? {
            g.rows_read += b.num_rows();
            let c = Columns::new("users", &b);
            let (id, name, email) = (c.i64_at("id")?, c.str_at("username")?, c.str_at("email")?);
            for i in 0..c.len() {
                let uid = id(i).unwrap_or_default();
                if g.users.insert(uid, (name(i).to_string(), email(i).to_string())).is_some() {
                    // Quarantines the courses the user is enrolled in (`Loader::enrollments`).
                    g.duplicate_users.entry(uid).or_insert_with(|| c.source().to_string());
                }
            }
        }
        if !g.duplicate_users.is_empty() {
            tracing::warn!(
                user_ids = g.duplicate_users.len(),
                "users has more than one row for some ids; the courses they are enrolled in are quarantined"
            );
        }
        let batches = read::read_files(
            input,
            "id_verifications",
            files["id_verifications"].clone(),
            columns_for("id_verifications"),
            None,
        )
        .await?;
        for b in batches {
            g.rows_read += b.num_rows();
            let c = Columns::new("id_verifications", &b);
            let (id, status) = (c.i64_at("user_id")?, c.str_at("status")?);
            for i in 0..c.len() {
                if status(i) == "approved" {
                    g.verified.insert(id(i).unwrap_or_default());
                }
            }
        }
    }
    let batches = read::read_files(
        input,
        "subsection_grade_overrides",
        files["subsection_grade_overrides"].clone(),
        &[],
        None,
    )
    .await?;
    for b in batches {
        g.rows_read += b.num_rows();
        let c = Columns::new("subsection_grade_overrides", &b);
        let id = c.i64_at("grade_id")?;
        let (ea, pa) = (c.f64_at("earned_all_override")?, c.f64_at("possible_all_override")?);
        let (eg, pg) = (c.f64_at("earned_graded_override")?, c.f64_at("possible_graded_override")?);
        for i in 0..c.len() {
            for (column, v) in [
                ("earned_all_override", ea(i)),
                ("possible_all_override", pa(i)),
                ("earned_graded_override", eg(i)),
                ("possible_graded_override", pg(i)),
            ] {
                if let Some(x) = v.filter(|x| !x.is_finite() || *x < 0.0) {
                    return Err(InputError::new(format!(
                        "subsection_grade_overrides (file {}): row grade_id {}: {column} is {x}; \
                         overrides must be finite and not negative (or NULL): fix or remove the row",
                        c.source(),
                        id(i).unwrap_or_default()
                    ))
                    .into());
                }
            }
            let ov = Override {
                earned_all: ea(i),
                possible_all: pa(i),
                earned_graded: eg(i),
                possible_graded: pg(i),
            };
            // One override per grade (a OneToOne field in edX): the last row wins.
            g.overrides.insert(id(i).unwrap_or_default(), ov);
        }
    }
    Ok(g)
}

/// One course's rows of `tables`, only those of the learners in `users` where a table names
/// a learner ([`crate::read::tables::user_column`]); the other tables are read whole. The
/// tables are read at once (their files fetched and decoded side by side on the runtime's
/// workers); input errors end the run, the first table's in `tables` order first.
pub(crate) fn read_course(
    rt: &tokio::runtime::Runtime,
    input: &Location,
    files: &HashMap<&'static str, Vec<TableFile>>,
    course_id: &str,
    tables: impl Iterator<Item = &'static str>,
    users: UserRange,
) -> Result<CourseTables> {
    let only = HashSet::from([course_id.to_string()]);
    let reads = tables.map(|t| {
        let range = if user_column(t).is_some() { users } else { UserRange::ALL };
        let only = &only;
        async move {
            let read = read::read_files_with(
                input,
                t,
                files[t].clone(),
                columns_for(t),
                Some(only),
                dictionary_for(t),
                range,
            );
            (t, read.await)
        }
    });
    let read: Vec<_> = rt.block_on(futures::future::join_all(reads));
    let mut out: CourseTables = HashMap::new();
    for (t, batches) in read {
        out.insert(t, batches?);
    }
    Ok(out)
}
