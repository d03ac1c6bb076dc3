//! `regrade generate --structure URL`: the generator's courses read from existing
//! `course_blocks` and `course_policies` tables (for example `regrade import olx`'s output)
//! instead of synthetic ones.
//!
//! The two tables are copied file by file to the output, byte for byte, so the dataset grades
//! exactly the structure read; the learners, their scores and the persisted grades are
//! generated for it as for a synthetic course. Courses are numbered in course-id order (the
//! first gets `--learners` learners, the others geometrically fewer, as synthetic ones); each
//! course's versions are ordered by `published_at`, then id, and the last is the latest.

use std::collections::{BTreeMap, HashMap};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use object_store::ObjectStoreExt;

use super::course::{self, Block, Course, Policy, Version, STREAM_COURSE};
use super::rng::Rng;
use crate::load::catalog::{course_blocks, course_policies, PolicyRow, VersionBlocks};
use crate::model::structure::{
    parse_group_access, parse_user_partitions, BlockRow, Partition, ENROLLMENT_TRACK_PARTITION_ID,
};
use crate::read;
use crate::store::Location;

/// The two structure tables.
pub(crate) const STRUCTURE_TABLES: &[&str] = &["course_blocks", "course_policies"];

/// 2024-01-01T00:00:00Z: the generator's clock for a course without `course_start`.
const UNSET_START: i64 = 1_704_067_200_000_000;

/// What `--structure` read: the courses and the structure files to copy.
pub struct Structure {
    pub courses: Vec<Course>,
    /// `(table, path relative to the location, content, rows)` of each file.
    pub files: Vec<(&'static str, String, Bytes, usize)>,
}

/// Read the courses of `loc`'s `course_blocks` and `course_policies`.
pub async fn read(loc: &Location, seed: u64, largest: usize, pool: u64) -> Result<Structure> {
    let mut files = Vec::new();
    let mut batches = Vec::new();
    for &table in STRUCTURE_TABLES {
        let listed = read::list_table_files(loc, table).await?;
        for f in &listed {
            let content = loc.store.get(&f.meta.location).await?.bytes().await?;
            files.push((table, loc.relative(&f.meta.location), content, 0));
        }
        let read = read::read_files(loc, table, listed, &[], None).await?;
        // Rows per file are not needed one by one: the table's total goes on its first file.
        let rows: usize = read.iter().map(|b| b.num_rows()).sum();
        if let Some(first) = files.iter_mut().find(|f| f.0 == table) {
            first.3 = rows;
        }
        batches.push(read);
    }
    let blocks = course_blocks(&batches[0])?;
    let policies = course_policies(&batches[1])?;
    let courses = build_courses(blocks, policies, seed, largest, pool)?;
    if courses.is_empty() {
        bail!("'{}' holds no course in course_blocks", loc.url);
    }
    Ok(Structure { courses, files })
}

/// One course per course id of `blocks`, numbered in course-id order.
fn build_courses(
    blocks: BTreeMap<(String, String), VersionBlocks>,
    policies: Vec<PolicyRow>,
    seed: u64,
    largest: usize,
    pool: u64,
) -> Result<Vec<Course>> {
    let mut by_course: BTreeMap<String, Vec<(String, VersionBlocks)>> = BTreeMap::new();
    for ((cid, version), v) in blocks {
        by_course.entry(cid).or_default().push((version, v));
    }
    let mut policy_of: HashMap<(String, String), PolicyRow> = HashMap::new();
    for row in policies {
        let key = (row.course_id.clone(), row.course_version.clone());
        if policy_of.contains_key(&key) {
            bail!("{}: course_policies has several rows for course version '{}'", key.0, key.1);
        }
        policy_of.insert(key, row);
    }
    let mut courses = Vec::new();
    for (index, (cid, mut versions)) in by_course.into_iter().enumerate() {
        versions.sort_by_key(|(id, v)| (v.published_at.unwrap_or(i64::MIN), id.clone()));
        let mut rows = Vec::new();
        for (id, v) in versions {
            let policy = policy_of
                .remove(&(cid.clone(), id.clone()))
                .with_context(|| format!("{cid}: course_policies has no row for course version '{id}'"))?;
            rows.push((id, v, policy));
        }
        courses.push(course(index, &cid, rows, seed, largest, pool)?);
    }
    Ok(courses)
}

/// Course `index` from its versions' rows (the course settings are the latest version's).
fn course(
    index: usize,
    cid: &str,
    versions: Vec<(String, VersionBlocks, PolicyRow)>,
    seed: u64,
    largest: usize,
    pool: u64,
) -> Result<Course> {
    let latest = &versions.last().expect("a course has a version").2;
    let partitions = match &latest.user_partitions {
        Some(text) => parse_user_partitions(text)
            .map_err(|e| anyhow::anyhow!("{cid}: course_policies.user_partitions: {e}"))?,
        None => Vec::new(),
    };
    let groups = |p: &Partition| (p.id, p.groups.iter().map(|(g, _)| *g).collect::<Vec<i64>>());
    let active = |scheme: &'static str| partitions.iter().filter(move |p| p.active && p.scheme == scheme);
    let content_groups = active("cohort").next().map(groups);
    let mut rng = Rng::new(seed, &[STREAM_COURSE, index as u64]);
    let mut course = Course {
        index,
        id: cid.to_string(),
        learners: course::learners_of(index, largest),
        first_user: rng.range(0, pool.max(1)),
        start: latest.course_start.unwrap_or(UNSET_START),
        end: latest.course_end,
        self_paced: latest.self_paced.unwrap_or(false),
        certificate_available_date: latest.certificate_available_date,
        course_start: latest.course_start,
        certificates_display_behavior: latest.certificates_display_behavior.clone().unwrap_or_default(),
        cohorted: latest.cohorted == Some(true) || content_groups.is_some(),
        content_groups,
        teams_enabled: latest.teams_enabled.unwrap_or(false),
        experiments: active("random").map(groups).collect(),
        user_partitions: latest.user_partitions.clone(),
        modes: latest.course_modes.clone(),
        versions: Vec::new(),
    };
    let mut known: Vec<i64> = partitions.iter().filter(|p| p.active).map(|p| p.id).collect();
    known.push(ENROLLMENT_TRACK_PARTITION_ID);
    for (id, v, policy) in versions {
        let version = version(cid, id, v, policy, &known)?;
        course.versions.push(version);
    }
    Ok(course)
}

/// One version: its blocks in row order (children resolved to indices) and its policy text.
fn version(cid: &str, id: String, v: VersionBlocks, policy: PolicyRow, known: &[i64]) -> Result<Version> {
    let index: HashMap<&str, usize> =
        v.rows.iter().enumerate().map(|(i, r)| (r.usage_key.as_str(), i)).collect();
    let mut blocks = Vec::with_capacity(v.rows.len());
    for row in &v.rows {
        blocks.push(
            block(row, &index, known).with_context(|| format!("{cid}: course_blocks of version '{id}'"))?,
        );
    }
    let roots: Vec<usize> = (0..blocks.len()).filter(|&i| blocks[i].block_type == "course").collect();
    let [root] = roots[..] else {
        bail!(
            "{cid}: course_blocks of version '{id}' has {} blocks of type 'course'; expected one",
            roots.len()
        );
    };
    let policy = Policy { graders: Vec::new(), cutoffs: Vec::new(), text: Some(policy.grading_policy) };
    Ok(Version { id, published_at: v.published_at.unwrap_or(0), blocks, root, policy })
}

/// A block as read; `requires` keeps the restrictions to the partitions in `known`.
fn block(row: &BlockRow, index: &HashMap<&str, usize>, known: &[i64]) -> Result<Block> {
    let children = row
        .children
        .iter()
        .flatten()
        .map(|c| {
            index
                .get(c.as_str())
                .copied()
                .with_context(|| format!("block '{}': unknown child '{c}'", row.usage_key))
        })
        .collect::<Result<Vec<usize>>>()?;
    let access = match &row.group_access {
        Some(text) => {
            parse_group_access(text).map_err(|e| anyhow::anyhow!("block '{}': {e}", row.usage_key))?
        }
        None => Vec::new(),
    };
    let requires = access
        .into_iter()
        .filter(|(pid, _)| known.contains(pid))
        .filter_map(|(pid, groups)| groups.filter(|g| !g.is_empty()).map(|g| (pid, g)))
        .collect();
    Ok(Block {
        block_type: row.block_type.clone(),
        usage_key: row.usage_key.clone(),
        display_name: row.display_name.clone(),
        children,
        graded: row.graded,
        format: row.format.clone(),
        weight: row.weight,
        max_score: row.max_score,
        has_score: row.has_score,
        start: row.start,
        due: row.due,
        visible_to_staff_only: row.visible_to_staff_only,
        group_access: row.group_access.clone(),
        requires,
        show_correctness: row.show_correctness.clone(),
        subtree_edited_on: row.subtree_edited_on,
        max_count: row.max_count,
    })
}

/// Copy the structure files to `out`, at the same paths.
pub(crate) async fn copy_files(out: &Location, structure: &Structure) -> Result<()> {
    for (_, rel, content, _) in &structure.files {
        let path = out.resolve(rel).with_context(|| format!("structure file '{rel}'"))?;
        out.store
            .put(&path, content.clone().into())
            .await
            .with_context(|| format!("cannot write '{}'", out.display(&path)))?;
    }
    Ok(())
}
