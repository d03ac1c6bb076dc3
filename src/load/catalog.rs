//! The course catalogue: `course_blocks` and `course_policies` rows of one course, the
//! version to grade chosen among them, and that version's structure and grading policy.

use std::collections::{BTreeMap, HashMap};

use anyhow::{bail, Context, Result};
use arrow::array::RecordBatch;

use super::{dup, CourseTables};
use crate::grade::policy::GradingPolicy;
use crate::model::structure::{parse_user_partitions, BlockRow, CourseStructure, Partition};
use crate::py::time::{fmt_time, Timestamp};
use crate::read::batch::{Columns, LoadError};

/// Which course version each course is graded against.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionChoice {
    Latest,
    Named(String),
    AsOf(Timestamp),
}

impl VersionChoice {
    pub fn parse(s: &str) -> Result<VersionChoice> {
        let s = s.trim();
        if s.is_empty() || s == "latest" {
            return Ok(VersionChoice::Latest);
        }
        if let Some(t) = s.strip_prefix("as-of:").or_else(|| s.strip_prefix("as-of ")) {
            return Ok(VersionChoice::AsOf(
                crate::py::time::parse_time(t.trim()).context("course_version as-of")?,
            ));
        }
        Ok(VersionChoice::Named(s.to_string()))
    }
}

/// Pick the version to grade from `(version, published_at)` pairs.
pub(crate) fn choose_version(
    course_id: &str,
    versions: &[(String, Option<Timestamp>)],
    choice: &VersionChoice,
) -> Result<(String, Option<Timestamp>)> {
    let key = |v: &&(String, Option<Timestamp>)| (v.1.unwrap_or(i64::MIN), v.0.clone());
    let found = match choice {
        VersionChoice::Latest => versions.iter().max_by_key(key),
        VersionChoice::Named(name) => versions.iter().find(|(v, _)| v == name),
        VersionChoice::AsOf(t) => versions.iter().filter(|(_, p)| p.is_some_and(|p| p <= *t)).max_by_key(key),
    };
    match found {
        Some(v) => Ok(v.clone()),
        None => {
            let listed: Vec<&str> = versions.iter().map(|(v, _)| v.as_str()).collect();
            let what = match choice {
                VersionChoice::Latest => "any version".to_string(),
                VersionChoice::Named(n) => format!("version '{n}'"),
                VersionChoice::AsOf(t) => format!("a version published at or before {}", fmt_time(*t)),
            };
            if listed.is_empty() {
                bail!("{course_id}: course_blocks has no rows for this course");
            }
            bail!("{course_id}: course_blocks has no {what}; versions found: {}", listed.join(", "))
        }
    }
}

/// The graded version of a course: its structure, grading policy and course settings.
pub struct Version {
    pub(crate) structure: CourseStructure,
    pub(crate) policy: GradingPolicy,
    pub(crate) policy_row: PolicyRow,
    /// Split-test (`random` scheme) partitions, active or not: `get_split_user_partitions`
    /// does not look at `active`, so inactive split tests get a report column too.
    pub(crate) experiments: Vec<Partition>,
}

/// Build `version` of the course from its `course_blocks` and `course_policies` rows;
/// `what_if` replaces the version's grading policy (`(path, text)`).
pub(crate) fn load_version(
    course_id: &str,
    version: &str,
    tables: &CourseTables,
    what_if: Option<&(String, String)>,
) -> Result<Version> {
    let mut versions = course_blocks(super::table(tables, "course_blocks"))?;
    let blocks = versions
        .remove(&(course_id.to_string(), version.to_string()))
        .with_context(|| format!("{course_id}: course_blocks has no rows for version '{version}'"))?
        .rows;
    let mut policy_rows: Vec<PolicyRow> = course_policies(super::table(tables, "course_policies"))?
        .into_iter()
        .filter(|p| p.course_id == course_id && p.course_version == version)
        .collect();
    if policy_rows.len() > 1 {
        return Err(dup(course_id, "course_policies", format!("course_version '{version}'")));
    }
    let mut policy_row = policy_rows.pop().with_context(|| {
        format!("{course_id}: course_policies has no row for course version '{version}'; export it")
    })?;
    apply_settings(course_id, &mut policy_row, super::table(tables, "course_settings"))?;
    let policy_text = what_if.map(|(_, t)| t.as_str()).unwrap_or(&policy_row.grading_policy);
    let policy = GradingPolicy::parse(policy_text).map_err(|e| match what_if {
        Some((path, _)) => anyhow::anyhow!("{course_id}: what-if policy '{path}': {e}"),
        None => anyhow::anyhow!("{course_id}: course_policies.grading_policy of version '{version}': {e}"),
    })?;
    let partitions = match &policy_row.user_partitions {
        Some(text) => parse_user_partitions(text)
            .map_err(|e| anyhow::anyhow!("{course_id}: course_policies.user_partitions: {e}"))?,
        None => Vec::new(),
    };
    let experiments = partitions.iter().filter(|p| p.scheme == "random").cloned().collect();
    let structure = CourseStructure::build(
        course_id,
        version,
        blocks,
        partitions,
        &policy_row.course_modes,
        policy_row.course_start,
    )
    .map_err(|e| anyhow::anyhow!("{course_id}: course_blocks of version '{version}': {e}"))?;
    Ok(Version { structure, policy, policy_row, experiments })
}

/// `course_settings` (written by `import mysql`: what edX keeps in MySQL, not in the course)
/// over a version's `course_policies` row: its non-NULL `course_modes` and `cohorted` replace
/// the row's. edX reads both from MySQL: `CourseMode` rows, and `CourseCohortsSettings`, which
/// wins over the course's `cohort_config` once it exists.
fn apply_settings(course_id: &str, row: &mut PolicyRow, batches: &[RecordBatch]) -> Result<()> {
    let mut seen = false;
    for batch in batches {
        let c = Columns::new("course_settings", batch);
        let (ids, modes, cohorted) =
            (c.str_at("course_id")?, c.str_list_at("course_modes")?, c.bool_at("cohorted")?);
        for i in (0..c.len()).filter(|&i| ids(i) == course_id) {
            if std::mem::replace(&mut seen, true) {
                return Err(dup(course_id, "course_settings", "course_id".to_string()));
            }
            if let Some(m) = modes(i) {
                row.course_modes = m;
            }
            if let Some(c) = cohorted(i) {
                row.cohorted = Some(c);
            }
        }
    }
    Ok(())
}

/// Course id -> the version edX's course index points at now, with its publication time: the
/// `current` rows of `course_versions` (written by `import mysql`).
pub(crate) type CurrentVersions = HashMap<String, (String, Option<Timestamp>)>;

/// The `current` rows of `course_versions` batches (read with at least `course_id`,
/// `course_version`, `published_at` and `current`).
pub(crate) fn current_versions(batches: &[RecordBatch]) -> Result<CurrentVersions, LoadError> {
    let mut out = CurrentVersions::new();
    for b in batches {
        let c = Columns::new("course_versions", b);
        let (course, version, at, current) = (
            c.str_at("course_id")?,
            c.str_at("course_version")?,
            c.ts_at("published_at")?,
            c.bool_at("current")?,
        );
        for i in (0..c.len()).filter(|&i| current(i) == Some(true)) {
            out.insert(course(i).to_string(), (version(i).to_string(), at(i)));
        }
    }
    Ok(out)
}

/// One published course version's blocks.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VersionBlocks {
    pub published_at: Option<Timestamp>,
    pub rows: Vec<BlockRow>,
}

/// Course id -> its (version, published_at), as [`versions`] lists them.
pub(crate) type Versions = BTreeMap<String, Vec<(String, Option<Timestamp>)>>;

/// Every course's versions, in the order `course_blocks` lists them, each with its
/// publication time: the first one set on the version's rows, as [`course_blocks`] takes it.
/// Reads `course_id`, `course_version` and `published_at` only (the planner's catalogue).
pub(crate) fn versions(batches: &[RecordBatch]) -> Result<Versions, LoadError> {
    let mut out = Versions::new();
    for b in batches {
        let c = Columns::new("course_blocks", b);
        let (id, version, published) =
            (c.str_at("course_id")?, c.str_at("course_version")?, c.ts_at("published_at")?);
        for i in 0..c.len() {
            let versions = out.entry(id(i).to_string()).or_default();
            match versions.iter_mut().find(|(v, _)| v == version(i)) {
                Some((_, at)) => *at = at.or(published(i)),
                None => versions.push((version(i).to_string(), published(i))),
            }
        }
    }
    Ok(out)
}

/// `course_blocks` batches grouped by (course_id, course_version).
pub fn course_blocks(
    batches: &[RecordBatch],
) -> Result<BTreeMap<(String, String), VersionBlocks>, LoadError> {
    let mut out: BTreeMap<(String, String), VersionBlocks> = BTreeMap::new();
    for batch in batches {
        let c = Columns::new("course_blocks", batch);
        let course_id = c.str_at("course_id")?;
        let version = c.str_at("course_version")?;
        let published = c.ts_at("published_at")?;
        let usage_key = c.str_at("usage_key")?;
        let block_type = c.str_at("block_type")?;
        let display_name = c.opt_str_at("display_name")?;
        let children = c.str_list_at("children")?;
        let graded = c.bool_at("graded")?;
        let format = c.opt_str_at("format")?;
        let weight = c.f64_at("weight")?;
        let max_score = c.f64_at("max_score")?;
        let has_score = c.bool_at("has_score")?;
        let start = c.ts_at("start")?;
        let due = c.ts_at("due")?;
        let staff = c.bool_at("visible_to_staff_only")?;
        let group_access = c.opt_str_at("group_access")?;
        let show_correctness = c.opt_str_at("show_correctness")?;
        let edited = c.ts_at("subtree_edited_on")?;
        let max_count = c.optional_i64_at("max_count")?;
        for i in 0..c.len() {
            let entry = out.entry((course_id(i).to_string(), version(i).to_string())).or_default();
            if entry.published_at.is_none() {
                entry.published_at = published(i);
            }
            entry.rows.push(BlockRow {
                usage_key: usage_key(i).to_string(),
                block_type: block_type(i).to_string(),
                display_name: display_name(i).map(str::to_string),
                children: children(i),
                graded: graded(i),
                format: format(i).map(str::to_string),
                weight: weight(i),
                max_score: max_score(i),
                has_score: has_score(i).unwrap_or(false),
                start: start(i),
                due: due(i),
                visible_to_staff_only: staff(i),
                group_access: group_access(i).map(str::to_string),
                show_correctness: show_correctness(i).map(str::to_string),
                subtree_edited_on: edited(i),
                max_count: max_count(i),
            });
        }
    }
    Ok(out)
}

/// One row of `course_policies`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PolicyRow {
    pub course_id: String,
    pub course_version: String,
    pub grading_policy: String,
    pub course_start: Option<Timestamp>,
    pub course_end: Option<Timestamp>,
    pub self_paced: Option<bool>,
    pub certificate_available_date: Option<Timestamp>,
    pub certificates_display_behavior: Option<String>,
    pub cohorted: Option<bool>,
    pub teams_enabled: Option<bool>,
    pub user_partitions: Option<String>,
    pub course_modes: Vec<String>,
}

/// `course_policies` rows.
pub fn course_policies(batches: &[RecordBatch]) -> Result<Vec<PolicyRow>, LoadError> {
    let mut out = Vec::new();
    for batch in batches {
        let c = Columns::new("course_policies", batch);
        let course_id = c.str_at("course_id")?;
        let version = c.str_at("course_version")?;
        let policy = c.str_at("grading_policy")?;
        let start = c.ts_at("course_start")?;
        let end = c.ts_at("course_end")?;
        let self_paced = c.bool_at("self_paced")?;
        let cad = c.ts_at("certificate_available_date")?;
        let cdb = c.opt_str_at("certificates_display_behavior")?;
        let cohorted = c.bool_at("cohorted")?;
        let teams = c.bool_at("teams_enabled")?;
        let partitions = c.opt_str_at("user_partitions")?;
        let modes = c.str_list_at("course_modes")?;
        for i in 0..c.len() {
            out.push(PolicyRow {
                course_id: course_id(i).to_string(),
                course_version: version(i).to_string(),
                grading_policy: policy(i).to_string(),
                course_start: start(i),
                course_end: end(i),
                self_paced: self_paced(i),
                certificate_available_date: cad(i),
                certificates_display_behavior: cdb(i).map(str::to_string),
                cohorted: cohorted(i),
                teams_enabled: teams(i),
                user_partitions: partitions(i).map(str::to_string),
                course_modes: modes(i).unwrap_or_default(),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    /// `import mysql`'s course_settings replace what the course's own settings say, only where
    /// they say something, and only for their course.
    #[test]
    fn course_settings_override_modes_and_cohorting_where_not_null() {
        use crate::generate::table::{TableBuilder, V};
        let modes = vec!["audit".to_string(), "verified".to_string()];
        let mut b = TableBuilder::new("course_settings").unwrap();
        b.row(&[V::Str("c1"), V::List(&modes), V::Bool(true)]).unwrap();
        b.row(&[V::Str("c2"), V::Null, V::Null]).unwrap();
        let batch = b.finish().unwrap();
        let base =
            PolicyRow { course_modes: vec!["honor".into()], cohorted: Some(false), ..Default::default() };
        let mut row = base.clone();
        apply_settings("c1", &mut row, std::slice::from_ref(&batch)).unwrap();
        assert_eq!((row.course_modes.clone(), row.cohorted), (modes.clone(), Some(true)));
        let mut row = base.clone();
        apply_settings("c2", &mut row, std::slice::from_ref(&batch)).unwrap();
        assert_eq!(row, base);
        let mut row = base.clone();
        apply_settings("c3", &mut row, &[]).unwrap();
        assert_eq!(row, base);
        let twice = [batch.clone(), batch];
        assert!(apply_settings("c1", &mut base.clone(), &twice)
            .unwrap_err()
            .to_string()
            .contains("course_settings"));
    }

    #[test]
    fn wrong_type_names_table_and_column() {
        let schema = Arc::new(Schema::new(vec![Field::new("course_id", DataType::Int64, false)]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![1]))]).unwrap();
        let err = course_blocks(&[batch]).err().unwrap();
        assert_eq!(err.table, "course_blocks");
        assert_eq!(err.column, "course_id");
        assert!(err.to_string().contains("expected Utf8, found Int64"), "{err}");
    }
}
