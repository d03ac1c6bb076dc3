//! Planning: what a run will read, decided before anything is read of a course. Every input
//! table is listed once; the course catalogue (`course_blocks`' course, version and
//! publication columns) is read; the courses are chosen and, per course, the version to grade
//! ([`CoursePlan`]). Execution then reads, per course, the plan's tables filtered to it.

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::Result;

use super::manifest::{CourseFailure, InputSummary};
use super::options::CourseSelection;
use super::partition::{self, Budget, CoursePartitions};
use crate::load::catalog::{self, choose_version, VersionChoice};
use crate::py::time::Timestamp;
use crate::read::tables::{COURSE_TABLES, GLOBAL_TABLES};
use crate::read::{self, InputError, TableFile};
use crate::store::Location;

/// One course to process: which version, and its partitions ([`super::partition`]).
#[derive(Clone, Debug, PartialEq)]
pub struct CoursePlan {
    pub course_id: String,
    pub version: String,
    pub published_at: Option<Timestamp>,
    /// The course's user id ranges, graded in this order (one, the whole course, until
    /// [`Plan::partition`] cuts it).
    pub partitions: CoursePartitions,
}

/// What planning found: every table's files (listed once), the course tables each course
/// reads, the courses to process and those that cannot be (not found, blank id, no such
/// version).
pub struct Plan {
    pub files: HashMap<&'static str, Vec<TableFile>>,
    /// The tables read for each course, in this order.
    pub course_tables: &'static [&'static str],
    pub inputs: BTreeMap<String, InputSummary>,
    pub ignored_inputs: Vec<String>,
    pub courses: Vec<CoursePlan>,
    pub failed: Vec<CourseFailure>,
}

/// What to plan: the courses, the version of each, the tables each course needs.
pub struct PlanSettings<'a> {
    pub courses: &'a CourseSelection,
    pub version: &'a VersionChoice,
    pub course_tables: &'static [&'static str],
}

impl<'a> PlanSettings<'a> {
    /// What a run or backfill with these options plans.
    pub fn of(opts: &'a super::RunOptions) -> Self {
        let course_tables = match opts.command {
            super::Command::Run => COURSE_TABLES,
            super::Command::Backfill => crate::read::tables::BACKFILL_TABLES,
        };
        PlanSettings { courses: &opts.courses, version: &opts.course_version, course_tables }
    }
}

/// List every input table once, read the course catalogue, choose the courses and their
/// versions.
pub async fn plan(input: &Location, settings: &PlanSettings<'_>) -> Result<Plan> {
    // Every input table is listed (and shown in the manifest), whether this command reads it
    // or not.
    let tables: Vec<&'static str> = COURSE_TABLES.iter().chain(GLOBAL_TABLES).copied().collect();
    let inventory = read::discover::inventory(input, &tables).await?;
    inventory.warn();
    let ignored_inputs = inventory.ignored_paths();
    let mut listed = inventory.into_files()?;
    let mut files: HashMap<&'static str, Vec<TableFile>> = HashMap::new();
    let mut inputs = BTreeMap::new();
    for t in tables {
        let listed = listed.remove(t).unwrap_or_default();
        inputs.insert(
            t.to_string(),
            InputSummary { files: listed.len(), bytes: listed.iter().map(|f| f.meta.size).sum() },
        );
        files.insert(t, listed);
    }
    let filter: Option<HashSet<String>> = match settings.courses {
        CourseSelection::All => None,
        CourseSelection::Ids(ids) => Some(ids.iter().cloned().collect()),
    };
    let catalogue = catalogue(input, &files, filter.as_ref()).await?;
    if catalogue.is_empty() && filter.is_none() {
        return Err(InputError::new(format!(
            "course_blocks under '{}' has no rows: there is no course to grade; check the export",
            input.url
        ))
        .into());
    }
    let (chosen, mut failed): (Vec<String>, Vec<CourseFailure>) = match settings.courses {
        CourseSelection::All => (catalogue.keys().cloned().collect(), Vec::new()),
        CourseSelection::Ids(ids) => {
            let (found, missing): (Vec<String>, Vec<String>) =
                ids.iter().cloned().partition(|c| catalogue.contains_key(c));
            let failed = missing
                .into_iter()
                .map(|c| CourseFailure {
                    error: format!("{c}: not found in course_blocks (check the course id and the input URL)"),
                    course_id: c,
                })
                .collect();
            (found, failed)
        }
    };
    let index = current_versions(input, &files, filter.as_ref()).await?;
    let mut courses = Vec::new();
    for course_id in chosen {
        // A blank course id is no course key: its rows cannot be told apart from a broken export.
        if course_id.trim().is_empty() {
            let error = format!(
                "course_blocks has rows with a blank course_id ({course_id:?}); every row needs a course key"
            );
            failed.push(CourseFailure { course_id, error });
            continue;
        }
        match choose_version(&course_id, &catalogue[&course_id], settings.version) {
            Ok((version, published_at)) => {
                check_current(
                    &course_id,
                    &version,
                    &catalogue[&course_id],
                    index.get(&course_id).map(|(v, _)| v),
                    settings.version,
                );
                courses.push(CoursePlan {
                    course_id,
                    version,
                    published_at,
                    partitions: CoursePartitions::whole(0, 0),
                })
            }
            Err(e) => failed.push(CourseFailure { error: format!("{e:#}"), course_id }),
        }
    }
    Ok(Plan { files, course_tables: settings.course_tables, inputs, ignored_inputs, courses, failed })
}

impl Plan {
    /// Cut every course whose estimated working set is over `per_partition` bytes into user id
    /// ranges ([`partition::plan_partitions`]), warning where the export is not sorted by
    /// learner; the plan's value ([`PlanSummary`]) says what was decided.
    pub async fn partition(
        &mut self,
        input: &Location,
        budget: &Budget,
        per_partition: u64,
    ) -> Result<PlanSummary> {
        let ids: Vec<String> = self.courses.iter().map(|c| c.course_id.clone()).collect();
        let mut planned =
            partition::plan_partitions(input, &self.files, self.course_tables, &ids, per_partition).await?;
        for c in &mut self.courses {
            if let Some(p) = planned.remove(&c.course_id) {
                c.partitions = p;
            }
            let p = &c.partitions;
            if p.unsorted() {
                tracing::warn!(
                    course_id = %c.course_id,
                    partitions = p.partitions.len(),
                    scan_factor = format!("{:.1}", p.scan_factor),
                    "the course's rows are not sorted by learner, so each of its partitions reads most of \
                     its tables (correct, but slower); sort the export by course_id then user id (student_id \
                     for studentmodule), e.g. with DuckDB: COPY (SELECT * FROM 'in/*.parquet' ORDER BY \
                     course_id, student_id) TO 'out' (FORMAT parquet, PARTITION_BY course_id); `regrade \
                     import mysql` and `regrade generate` write them sorted"
                );
            }
        }
        Ok(self.summary(budget, per_partition))
    }

    /// What the plan decided, as a value that can be written out (`--explain`, the manifest).
    pub fn summary(&self, budget: &Budget, per_partition: u64) -> PlanSummary {
        PlanSummary {
            memory_budget: budget.clone(),
            partition_bytes: per_partition,
            courses: self
                .courses
                .iter()
                .map(|c| PlannedCourse {
                    course_id: c.course_id.clone(),
                    course_version: c.version.clone(),
                    rows: c.partitions.rows.clone(),
                    scan_factor: c.partitions.scan_factor,
                    partitions: c.partitions.partitions.clone(),
                })
                .collect(),
            failed: self.failed.clone(),
        }
    }
}

/// The plan as a value: the memory budget, and per course its version and partitions.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct PlanSummary {
    pub memory_budget: Budget,
    /// What one partition may hold, of the budget.
    pub partition_bytes: u64,
    pub courses: Vec<PlannedCourse>,
    /// Courses that cannot be graded (not found, no such version).
    pub failed: Vec<CourseFailure>,
}

/// One course of a [`PlanSummary`].
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct PlannedCourse {
    pub course_id: String,
    pub course_version: String,
    pub rows: BTreeMap<String, u64>,
    pub scan_factor: f64,
    pub partitions: Vec<partition::Partition>,
}

/// The version edX's course index points at now, per course, where `import mysql` wrote it.
async fn current_versions(
    input: &Location,
    files: &HashMap<&'static str, Vec<TableFile>>,
    filter: Option<&HashSet<String>>,
) -> Result<catalog::CurrentVersions> {
    let listed = files.get("course_versions").cloned().unwrap_or_default();
    if listed.is_empty() {
        return Ok(catalog::CurrentVersions::new());
    }
    let columns = ["course_id", "course_version", "published_at", "current"];
    let batches = read::read_files(input, "course_versions", listed, &columns, filter).await?;
    Ok(catalog::current_versions(&batches)?)
}

/// Say so when the version graded is not the one edX serves now: the course index's current
/// version is missing from `course_blocks` (an OLX export of an older version, or none of the
/// current one), or `latest` picked another one.
fn check_current(
    course_id: &str,
    graded: &str,
    versions: &[(String, Option<crate::py::time::Timestamp>)],
    current: Option<&String>,
    choice: &VersionChoice,
) {
    let Some(current) = current.filter(|c| c.as_str() != graded) else { return };
    if !versions.iter().any(|(v, _)| v == current) {
        tracing::warn!(
            "{course_id}: edX's course index says the current published version is {current} (course_versions), \
             but course_blocks does not hold it; grading {graded}. Import an OLX export of the current version \
             (regrade import olx, into the same input) to grade what learners see now"
        );
    } else if *choice == VersionChoice::Latest {
        tracing::warn!(
            "{course_id}: grading {graded}, the newest version in course_blocks by published_at, but edX's course \
             index says the current published version is {current} (course_versions); pass --course-version {current} \
             to grade that one"
        );
    }
}

/// Every course's versions with their publication time ([`catalog::versions`]).
async fn catalogue(
    input: &Location,
    files: &HashMap<&'static str, Vec<TableFile>>,
    filter: Option<&HashSet<String>>,
) -> Result<catalog::Versions> {
    let columns = ["course_id", "course_version", "published_at"];
    let batches =
        read::read_files(input, "course_blocks", files["course_blocks"].clone(), &columns, filter).await?;
    Ok(catalog::versions(&batches)?)
}
