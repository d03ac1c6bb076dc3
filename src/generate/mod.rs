//! `regrade generate`: a deterministic synthetic Open edX dataset in the contract's layout.
//!
//! Writes every input table of the data contract (required and optional) to any object-store
//! URL, from a few learners (tests, `make demo`) up to hundreds of millions of studentmodule
//! rows. Memory stays bounded: courses are generated one at a time and learners in chunks of
//! [`CHUNK_LEARNERS`]; each chunk's rows are encoded into the current part file at once, and a
//! part is published (atomically) every [`PART_ROWS`] rows. Learners are generated in the
//! order of their user ids, so every learner table is sorted by learner within its course,
//! across row groups and part files.
//!
//! Layout: course-scoped tables are Hive-partitioned,
//! `<out>/<table>/course_id=<escaped>/part-NNNNN.parquet`; `users` and `id_verifications` are
//! global, `<out>/<table>/part-NNNNN.parquet`.
//!
//! Determinism: all randomness comes from [`rng::Rng`] streams derived from the seed and stable
//! ids (course index, user id), and the Parquet writer is deterministic, so the same seed and
//! flags give byte-identical files.

pub mod course;
pub mod imported;
pub mod learners;
pub mod persisted;
pub mod rng;
pub mod table;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures::{StreamExt, TryStreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use object_store::ObjectStoreExt;

use self::course::Course;
use self::learners::{CourseLearners, LearnerTables};
use self::persisted::{CoursePersisted, PersistedTables};
use self::table::{TableBuilder, V};
use crate::schema;
use crate::store::Location;
use crate::write::{self, PartWriter, WrittenFile};

/// Learners generated between two flushes to the part writers.
pub(crate) const CHUNK_LEARNERS: usize = 5_000;
/// Rows per part file.
pub(crate) const PART_ROWS: usize = 1_000_000;

/// What to generate (the flags of `regrade generate`).
#[derive(Debug, Clone)]
pub struct Options {
    pub seed: u64,
    /// Number of courses.
    pub courses: usize,
    /// Learners of the largest course; the others get fewer (a geometric spread).
    pub learners: usize,
    /// Problems of each course's first version (later versions may add a few).
    pub problems_per_course: usize,
}

/// Rows, files and bytes written per table.
#[derive(Debug, Clone, Default)]
pub struct TableStats {
    pub rows: usize,
    pub files: usize,
    pub bytes: usize,
}

#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub tables: BTreeMap<String, TableStats>,
    pub elapsed: Duration,
}

impl Summary {
    fn add(&mut self, table: &str, stats: &TableStats) {
        let total = self.tables.entry(table.to_string()).or_default();
        total.rows += stats.rows;
        total.files += stats.files;
        total.bytes += stats.bytes;
    }

    fn add_files(&mut self, table: &str, files: &[WrittenFile]) {
        for f in files {
            let stats = TableStats { rows: f.rows.unwrap_or(0), files: 1, bytes: f.bytes };
            self.add(table, &stats);
        }
    }

    fn merge(&mut self, other: &Summary) {
        for (table, stats) in &other.tables {
            self.add(table, stats);
        }
    }

    pub fn total_rows(&self) -> usize {
        self.tables.values().map(|t| t.rows).sum()
    }

    pub fn total_files(&self) -> usize {
        self.tables.values().map(|t| t.files).sum()
    }

    pub fn total_bytes(&self) -> usize {
        self.tables.values().map(|t| t.bytes).sum()
    }
}

/// Course-scoped tables, in the order they are built.
const COURSE_TABLES: &[&str] = &[
    "course_blocks",
    "course_policies",
    "enrollments",
    "studentmodule",
    "submissions",
    "cohort_memberships",
    "partition_groups",
    "team_memberships",
    "certificate_allowlist",
    "generated_certificates",
    "library_selections",
    "visible_blocks",
    "persistent_subsection_grades",
    "subsection_grade_overrides",
    "persistent_course_grades",
];
/// Tables without a course.
const GLOBAL_TABLES: &[&str] = &["users", "id_verifications"];

/// A table being generated: rows accumulate in the builder and move to the part writer on
/// [`Sink::flush`].
struct Sink {
    table: &'static str,
    builder: TableBuilder,
    writer: PartWriter,
}

impl Sink {
    fn new(loc: &Location, table: &'static str, course_id: Option<&str>) -> Result<Self> {
        let builder = TableBuilder::new(table)?;
        let dir = write::table_dir(loc, table, course_id)?;
        let part_rows = crate::hooks::generate_parts().map_or(PART_ROWS, |(rows, _)| rows);
        let writer = PartWriter::new(loc.clone(), dir, builder.arrow_schema().clone(), part_rows);
        Ok(Self { table, builder, writer })
    }

    async fn flush(&mut self) -> Result<()> {
        if !self.builder.is_empty() {
            let batch = self.builder.finish()?;
            self.writer.write(&batch).await?;
        }
        Ok(())
    }

    async fn finish(mut self, summary: &mut Summary) -> Result<()> {
        self.flush().await?;
        let files = self.writer.finish().await?;
        summary.add_files(self.table, &files);
        Ok(())
    }
}

/// The sinks of one course (or of the global tables), by table name.
struct Sinks(Vec<Sink>);

impl Sinks {
    fn new(loc: &Location, tables: &[&'static str], course_id: Option<&str>) -> Result<Self> {
        let sinks = tables.iter().map(|t| Sink::new(loc, t, course_id)).collect::<Result<_>>()?;
        Ok(Self(sinks))
    }

    fn get(&mut self, table: &str) -> Result<&mut TableBuilder> {
        match self.0.iter_mut().find(|s| s.table == table) {
            Some(s) => Ok(&mut s.builder),
            None => bail!("generator has no sink for table '{table}'"),
        }
    }

    async fn flush(&mut self) -> Result<()> {
        for s in &mut self.0 {
            s.flush().await?;
        }
        Ok(())
    }

    async fn finish(self, summary: &mut Summary) -> Result<()> {
        for s in self.0 {
            s.finish(summary).await?;
        }
        Ok(())
    }
}

/// Size of the user pool: courses draw their learners from it, so learners overlap courses.
pub(crate) fn user_pool(opts: &Options) -> u64 {
    (opts.learners as u64 * 3).div_ceil(2).max(1)
}

/// Generate the dataset into `loc`. Fails if `loc` already holds any generated table (pass
/// `overwrite` to delete those tables first), so stale part files never mix with new ones.
pub async fn generate(loc: &Location, opts: &Options, overwrite: bool, progress: bool) -> Result<Summary> {
    if opts.courses == 0 || opts.learners == 0 {
        bail!("--courses and --learners must be at least 1");
    }
    let started = Instant::now();
    prepare_output(loc, overwrite).await?;
    let total_learners: usize = (0..opts.courses).map(|i| course::learners_of(i, opts.learners)).sum();
    let mut summary = run_jobs(loc, opts, None, total_learners, progress).await?;
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// Generate the dataset into `loc` for the courses of `structure`'s `course_blocks` and
/// `course_policies` (copied to `loc` as they are) instead of synthetic ones; `opts.courses`
/// and `opts.problems_per_course` are not used. The structure is read before anything is
/// written, so `structure` may be `loc` itself (with `overwrite`).
pub async fn generate_from_structure(
    loc: &Location,
    structure: &Location,
    opts: &Options,
    overwrite: bool,
    progress: bool,
) -> Result<Summary> {
    if opts.learners == 0 {
        bail!("--learners must be at least 1");
    }
    let started = Instant::now();
    let read = imported::read(structure, opts.seed, opts.learners, user_pool(opts)).await?;
    prepare_output(loc, overwrite).await?;
    imported::copy_files(loc, &read).await?;
    let mut copied = Summary::default();
    for (table, _, content, rows) in &read.files {
        copied.add(table, &TableStats { rows: *rows, files: 1, bytes: content.len() });
    }
    let total_learners = read.courses.iter().map(|c| c.learners).sum();
    let opts = Options { courses: read.courses.len(), ..opts.clone() };
    let mut summary = run_jobs(loc, &opts, Some(Arc::new(read.courses)), total_learners, progress).await?;
    summary.merge(&copied);
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// The course tasks and the users task; `courses` given (read with `--structure`) or built.
async fn run_jobs(
    loc: &Location,
    opts: &Options,
    courses: Option<Arc<Vec<Course>>>,
    total_learners: usize,
    progress: bool,
) -> Result<Summary> {
    let pool = user_pool(opts);
    let bar = if progress {
        let bar = ProgressBar::new(total_learners as u64 + pool);
        bar.set_style(
            ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    // Courses (largest first) and the user table run as parallel tasks, one per core: each
    // writes only its own files and numbers its ids from its course index, so the output does
    // not depend on scheduling. A course is built inside its task: only the courses in flight
    // are in memory.
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut jobs: Vec<Option<usize>> = (0..opts.courses).map(Some).collect();
    jobs.insert(1.min(jobs.len()), None);
    let (n_courses, seed, largest, problems) =
        (opts.courses, opts.seed, opts.learners, opts.problems_per_course);
    let parts: Vec<Summary> = futures::stream::iter(jobs)
        .map(|job| {
            let loc = loc.clone();
            let bar = bar.clone();
            let courses = courses.clone();
            tokio::spawn(async move {
                match job {
                    Some(index) => {
                        let (course, tables) = match &courses {
                            Some(read) => (read[index].clone(), &COURSE_TABLES[2..]),
                            None => (course::build(seed, index, largest, problems, pool), COURSE_TABLES),
                        };
                        tracing::info!(
                            course = %course.id,
                            index = course.index + 1,
                            of = n_courses,
                            learners = course.learners,
                            versions = course.versions.len(),
                            "generating course"
                        );
                        generate_course(&loc, seed, &course, tables, pool, &bar).await
                    }
                    None => generate_users(&loc, seed, pool, &bar).await,
                }
            })
        })
        .buffer_unordered(workers)
        .map(|joined| joined.map_err(anyhow::Error::from).and_then(|r| r))
        .try_collect()
        .await?;
    let mut summary = Summary::default();
    for part in &parts {
        summary.merge(part);
    }
    bar.finish_and_clear();
    Ok(summary)
}

/// `users` and `id_verifications`: every user of the pool, in chunks.
async fn generate_users(loc: &Location, seed: u64, pool: u64, bar: &ProgressBar) -> Result<Summary> {
    let mut summary = Summary::default();
    let mut sinks = Sinks::new(loc, GLOBAL_TABLES, None)?;
    let mut user_id = 1u64;
    while user_id <= pool {
        let end = (user_id + CHUNK_LEARNERS as u64 * 10).min(pool + 1);
        let [users, idv] = &mut sinks.0[..] else {
            bail!("generator: expected two global sinks");
        };
        for id in user_id..end {
            learners::user(seed, id as i64, &mut users.builder, &mut idv.builder)?;
        }
        sinks.flush().await?;
        bar.inc(end - user_id);
        user_id = end;
    }
    sinks.finish(&mut summary).await?;
    Ok(summary)
}

async fn generate_course(
    loc: &Location,
    seed: u64,
    course: &Course,
    tables: &[&'static str],
    pool: u64,
    bar: &ProgressBar,
) -> Result<Summary> {
    let mut summary = Summary::default();
    let mut sinks = Sinks::new(loc, tables, Some(&course.id))?;
    if tables.contains(&"course_blocks") {
        write_structure(course, &mut sinks)?;
    }
    let mut persisted = CoursePersisted::new(course)?;
    let mut people = CourseLearners::new(course, pool);
    let chunk = crate::hooks::generate_parts().map_or(CHUNK_LEARNERS, |(_, learners)| learners.max(1));
    let order: Vec<usize> = by_user_id(course, pool).collect();
    for learners in order.chunks(chunk) {
        for &k in learners {
            learner_rows(seed, k, &mut people, &mut persisted, &mut sinks)?;
        }
        sinks.flush().await?;
        bar.inc(learners.len() as u64);
    }
    sinks.finish(&mut summary).await?;
    Ok(summary)
}

/// The course's learners (their numbers k) in the order of their user ids, so that every
/// learner table is written sorted by learner within the course (`regrade run` reads a large
/// course in ranges of user ids, fetching only the row groups whose min/max overlap them).
/// Learner k is user `1 + (first_user + k) % pool`: the ids climb from `first_user + 1` and,
/// past the end of the pool, start again at 1; those come first.
fn by_user_id(course: &Course, pool: u64) -> impl Iterator<Item = usize> {
    let pool = pool.max(1);
    let wrap = (pool - course.first_user % pool).min(course.learners as u64) as usize;
    (wrap..course.learners).chain(0..wrap)
}

/// Pull the builders of the learner and persisted tables out of the sinks for one learner.
fn learner_rows(
    seed: u64,
    k: usize,
    people: &mut CourseLearners<'_>,
    persisted: &mut CoursePersisted<'_>,
    sinks: &mut Sinks,
) -> Result<()> {
    let mut by_name: BTreeMap<&str, &mut TableBuilder> =
        sinks.0.iter_mut().map(|s| (s.table, &mut s.builder)).collect();
    let mut take = |name: &str| {
        by_name.remove(name).ok_or_else(|| anyhow::anyhow!("generator has no sink for table '{name}'"))
    };
    let mut tables = LearnerTables {
        studentmodule: take("studentmodule")?,
        enrollments: take("enrollments")?,
        submissions: take("submissions")?,
        cohort_memberships: take("cohort_memberships")?,
        partition_groups: take("partition_groups")?,
        team_memberships: take("team_memberships")?,
        certificate_allowlist: take("certificate_allowlist")?,
        generated_certificates: take("generated_certificates")?,
        library_selections: take("library_selections")?,
    };
    let outcome = people.learner(seed, k, &mut tables)?;
    let mut grades = PersistedTables {
        persistent_subsection_grades: take("persistent_subsection_grades")?,
        subsection_grade_overrides: take("subsection_grade_overrides")?,
        persistent_course_grades: take("persistent_course_grades")?,
        visible_blocks: take("visible_blocks")?,
    };
    persisted.learner(seed, &outcome, &mut grades)
}

/// `course_blocks` (every block of every version) and `course_policies` (one row per version).
fn write_structure(course: &Course, sinks: &mut Sinks) -> Result<()> {
    let cid = course.id.as_str();
    for version in &course.versions {
        let blocks = sinks.get("course_blocks")?;
        for row in version.block_rows() {
            blocks.row(&[
                V::Str(cid),
                V::Str(&version.id),
                V::Ts(version.published_at),
                V::Str(&row.usage_key),
                V::Str(&row.block_type),
                V::opt_str(row.display_name.as_deref()),
                row.children.as_deref().map_or(V::Null, V::List),
                V::opt_bool(row.graded),
                V::opt_str(row.format.as_deref()),
                V::opt_float(row.weight),
                V::opt_float(row.max_score),
                V::Bool(row.has_score),
                V::opt_ts(row.start),
                V::opt_ts(row.due),
                V::opt_bool(row.visible_to_staff_only),
                V::opt_str(row.group_access.as_deref()),
                V::opt_str(row.show_correctness.as_deref()),
                V::opt_ts(row.subtree_edited_on),
                row.max_count.map_or(V::Null, V::Int),
            ])?;
        }
        let policy = version.policy.json();
        sinks.get("course_policies")?.row(&[
            V::Str(cid),
            V::Str(&version.id),
            V::Str(&policy),
            V::Ts(course.start),
            V::opt_ts(course.end),
            V::Bool(course.self_paced),
            V::opt_ts(course.certificate_available_date),
            V::Str(&course.certificates_display_behavior),
            V::Bool(course.cohorted),
            V::Bool(course.teams_enabled),
            V::opt_str(course.user_partitions.as_deref()),
            V::List(&course.modes),
        ])?;
    }
    Ok(())
}

/// Refuse to mix with an earlier dataset: error if a generated table already has objects,
/// unless `overwrite`, which deletes them.
async fn prepare_output(loc: &Location, overwrite: bool) -> Result<()> {
    for schema in schema::inputs() {
        let dir = loc.path(&[&schema.table]);
        let existing: Vec<_> = loc.store.list(Some(&dir)).try_collect().await.with_context(|| {
            format!(
                "cannot list '{}' (check the URL and the credentials in the environment)",
                loc.display(&dir)
            )
        })?;
        if existing.is_empty() {
            continue;
        }
        if !overwrite {
            bail!(
                "'{}' already holds a '{}' table; generate into an empty location, delete it \
                 first, or pass --overwrite to replace the generated tables",
                loc.url,
                schema.table
            );
        }
        for meta in existing {
            loc.store.delete(&meta.location).await?;
        }
    }
    Ok(())
}
