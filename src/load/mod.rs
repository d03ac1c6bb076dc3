//! Loading: one course's input rows (read, filtered to the course) turned into what grading
//! reads: the graded version's structure and policy ([`catalog`]) and every enrolled learner
//! with their rows (`learners.rs`, one function per input table), plus the run-wide lookups
//! from the tables without a `course_id` ([`Globals`]). No grading here.
//!
//! Where loading stops a course: duplicate keys (edX keeps one row per key), scores no
//! Python float could hold, a structure or policy that does not parse. Each error names the
//! course, the table, the key and the file. Rows that edX would keep but that look wrong are
//! kept and counted as [`Warning`]s; rows for blocks outside the graded version or learners
//! not enrolled are counted as ignored.

pub mod catalog;
pub(crate) mod finite;
pub(crate) mod globals;
pub(crate) mod learner;
mod learners;

use std::collections::{BTreeMap, HashMap};

use anyhow::Result;
use arrow::array::RecordBatch;

use self::finite::Sources;
pub use self::globals::Globals;
use self::learner::{Learner, VisibleBlocks};
use self::learners::Loader;
use crate::grade::compat::Compat;
use crate::grade::policy::GradingPolicy;
use crate::model::structure::{CourseStructure, Partition};
use crate::read::batch::Columns;

/// One course's input batches, by table.
pub(crate) type CourseTables = HashMap<&'static str, Vec<RecordBatch>>;

/// A table's batches (none when the table was not read).
pub(crate) fn table<'a>(tables: &'a CourseTables, name: &str) -> &'a [RecordBatch] {
    tables.get(name).map(Vec::as_slice).unwrap_or(&[])
}

/// Rows of some batches.
pub(crate) fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(|b| b.num_rows()).sum()
}

/// Input rows edX accepts but that look wrong, counted per kind with a few examples.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Warning {
    pub count: usize,
    /// The first few rows, by key (user ids and usage keys, never names).
    pub examples: Vec<String>,
}

/// The warning kind of a course with no graded subsection.
pub const NO_GRADED_CONTENT: &str = "no_graded_content";

/// The warning kind of a learner without a stored selection of some randomized library block
/// (`library_selections`): edX would choose at random on first access, regrade chose the first
/// `max_count` children. Counted once per learner.
pub const LIBRARY_WITHOUT_SELECTION: &str = "library_content_without_selection";

/// The warning kind of a learner whose stored selection edX would change at random (children
/// no longer in the block, or `max_count` changed); regrade changed it deterministically
/// ([`crate::model::library`]). Counted once per learner.
pub const LIBRARY_SELECTION_CHANGED: &str = "library_content_selection_changed";

/// Examples kept per warning kind.
pub(crate) const WARNING_EXAMPLES: usize = 5;

/// Count one more row of a warning kind.
pub(crate) fn warn(warnings: &mut BTreeMap<String, Warning>, kind: &str, example: impl FnOnce() -> String) {
    let w = warnings.entry(kind.to_string()).or_default();
    w.count += 1;
    if w.examples.len() < WARNING_EXAMPLES {
        w.examples.push(example());
    }
}

/// Add a partition's warnings to its course's (`first`: the course's first partition). A
/// course-wide warning is found again by every partition: it counts once.
pub(crate) fn merge_warnings(
    into: &mut BTreeMap<String, Warning>,
    from: BTreeMap<String, Warning>,
    first: bool,
) {
    for (kind, w) in from {
        let course_wide = kind == NO_GRADED_CONTENT && !first;
        let into = into.entry(kind).or_default();
        if course_wide {
            continue;
        }
        into.count += w.count;
        let room = WARNING_EXAMPLES.saturating_sub(into.examples.len());
        into.examples.extend(w.examples.into_iter().take(room));
    }
}

/// Add a partition's rows read to its course's (`first`: the course's first partition). The
/// course-wide tables (those without a learner column) are read once and handed to every
/// partition: they count once.
pub(crate) fn merge_rows_read(
    into: &mut BTreeMap<String, usize>,
    from: BTreeMap<String, usize>,
    first: bool,
) {
    for (t, n) in from {
        if first || crate::read::tables::user_column(&t).is_some() {
            *into.entry(t).or_default() += n;
        }
    }
}

/// Two rows for one key: the course stops here.
fn dup(course_id: &str, table: &str, what: String) -> anyhow::Error {
    anyhow::anyhow!(
        "{course_id}: {table} has two rows for {what}; edX keeps one row per key: de-duplicate the export"
    )
}

/// A score edX cannot grade with: NaN, infinite or negative.
fn bad_score(course_id: &str, c: &Columns<'_>, key: &str, column: &str, value: f64) -> anyhow::Error {
    anyhow::anyhow!(
        "{course_id}: {} row ({key}): {column} is {value}; scores must be finite and not negative \
         (file {}); fix or remove the row in the export",
        c.table(),
        c.source()
    )
}

/// The value, if it is one edX cannot grade with (NaN, infinite or negative).
fn check_score(v: Option<f64>) -> Option<f64> {
    v.filter(|x| !x.is_finite() || *x < 0.0)
}

/// What loading takes of the run's options.
pub struct LoadSettings<'a> {
    /// A what-if grading policy replacing every course's: (path, text).
    pub what_if: Option<&'a (String, String)>,
    /// The release profile (a persisted row's percent must be finite under it).
    pub compat: &'a Compat,
}

/// The course as loaded: structure, policy, learners.
pub(crate) struct Loaded {
    pub(crate) structure: CourseStructure,
    pub(crate) policy: GradingPolicy,
    pub(crate) policy_row: catalog::PolicyRow,
    pub(crate) learners: Vec<Learner>,
    pub(crate) blocks: VisibleBlocks,
    pub(crate) ignored: BTreeMap<String, usize>,
    pub(crate) warnings: BTreeMap<String, Warning>,
    /// Split-test (`random` scheme) partitions, active or not.
    pub(crate) experiments: Vec<Partition>,
    /// The files rows came from, and each block's `course_blocks` file.
    pub(crate) sources: Sources,
}

/// Load `version` of one course from its tables: the version's structure and policy, then
/// the enrolled learners (in user id order) with their rows of every learner table.
pub(crate) fn load(
    course_id: &str,
    version: &str,
    tables: &CourseTables,
    globals: &Globals,
    settings: &LoadSettings<'_>,
) -> Result<Loaded> {
    let catalog::Version { structure, policy, policy_row, experiments } =
        catalog::load_version(course_id, version, tables, settings.what_if)?;
    let mut warnings: BTreeMap<String, Warning> = BTreeMap::new();
    // edX grades a course without graded subsections (every grade 0.0); say so, as it is
    // more likely a wrong export or version than a course meant to be graded that way.
    if !has_graded_content(&structure) {
        warn(&mut warnings, NO_GRADED_CONTENT, || {
            format!("{course_id}: no graded subsection in version {}", structure.course_version)
        });
    }
    let sources = Sources::new(table(tables, "course_blocks"), &structure)?;
    let mut l = Loader::new(course_id, &structure, globals, settings.compat, sources, warnings);
    l.enrollments(table(tables, "enrollments"))?;
    l.studentmodule(table(tables, "studentmodule"))?;
    l.submissions(table(tables, "submissions"))?;
    l.subsection_grades(table(tables, "persistent_subsection_grades"))?;
    l.course_grades(table(tables, "persistent_course_grades"))?;
    let blocks = l.visible_blocks(table(tables, "visible_blocks"))?;
    l.cohort_memberships(table(tables, "cohort_memberships"), policy_row.cohorted == Some(true))?;
    l.partition_groups(table(tables, "partition_groups"))?;
    l.library_selections(table(tables, "library_selections"))?;
    l.team_memberships(table(tables, "team_memberships"))?;
    l.certificate_allowlist(table(tables, "certificate_allowlist"))?;
    l.generated_certificates(table(tables, "generated_certificates"))?;
    let (learners, ignored, warnings, sources) = l.finish();
    Ok(Loaded { structure, policy, policy_row, learners, blocks, ignored, warnings, experiments, sources })
}

/// Whether some chapter of the course has a graded subsection with an assignment type.
fn has_graded_content(structure: &CourseStructure) -> bool {
    let blocks = &structure.blocks;
    blocks[structure.root as usize].children.iter().any(|&ch| {
        blocks[ch as usize].children.iter().any(|&s| {
            let b = &blocks[s as usize];
            b.graded && b.row.format.as_deref().is_some_and(|f| !f.is_empty())
        })
    })
}
