//! Planning: what a run will read, decided before anything is read of a course. Every input
//! table is listed once; the course catalogue (`course_blocks`' course, version and
//! publication columns) is read; the courses are chosen and, per course, the version to grade
//! ([`CoursePlan`]). Execution then reads, per course, the plan's tables filtered to it.

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::Result;

use super::manifest::{CourseFailure, InputSummary};
use super::options::CourseSelection;
use crate::load::catalog::{self, choose_version, VersionChoice};
use crate::py::time::Timestamp;
use crate::read::tables::{COURSE_TABLES, GLOBAL_TABLES};
use crate::read::{self, InputError, TableFile};
use crate::store::Location;

/// One course to process: which version.
#[derive(Clone, Debug, PartialEq)]
pub struct CoursePlan {
    pub course_id: String,
    pub version: String,
    pub published_at: Option<Timestamp>,
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
                courses.push(CoursePlan { course_id, version, published_at })
            }
            Err(e) => failed.push(CourseFailure { error: format!("{e:#}"), course_id }),
        }
    }
    Ok(Plan { files, course_tables: settings.course_tables, inputs, ignored_inputs, courses, failed })
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
