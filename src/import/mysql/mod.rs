//! `regrade import mysql`: edX's own tables, read from a MySQL or MariaDB server (a read
//! replica), into the data contract's input tables as Parquet, Hive-partitioned by course.
//!
//! The stages, one file each:
//!
//! * [`connect`]: the URL, credentials (`MYSQL_PWD`, `--defaults-file`) and TLS;
//! * [`snapshot`]: every connection inside one consistent snapshot, and its moment;
//! * [`sources`]: the queries, one per contract table (the README's mapping table);
//! * [`rows`], [`convert`], [`state`]: server values into contract rows;
//! * [`facts`]: courses, course versions and settings, verification status as of a moment;
//! * [`exec`]: the jobs, one per (source, course), on one thread per connection;
//! * [`sorted`]: learner tables written sorted by learner within each course (learner buckets);
//! * [`output`]: the output folder (no-overwrite / `--overwrite`) and the manifest.
//!
//! ```text
//! regrade import mysql --url mysql://ro@replica:3306/edxapp --output s3://bucket/edx-input
//! ```

mod connect;
mod convert;
mod exec;
mod facts;
mod output;
mod rows;
mod snapshot;
mod sorted;
mod sources;
mod state;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use self::connect::Server;
use self::exec::{Done, Job};
use self::sources::{Scope, SOURCES};
use crate::error::UsageError;
use crate::py::time::Timestamp;
use crate::store::Location;

pub use self::output::{Manifest, SourceTiming, TableCount};

/// What `regrade import mysql` was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// `mysql://USER@HOST:PORT/DB[?ssl-mode=…&ssl-ca=…&socket=…]`, without a password.
    pub url: String,
    /// A MySQL option file whose `[client]` group gives the password (and more).
    pub defaults_file: Option<PathBuf>,
    /// Only these courses (default: every course the server has).
    pub courses: Option<Vec<String>>,
    /// The moment verification status is computed at (default: the snapshot's moment).
    pub as_of: Option<Timestamp>,
    /// Replace the tables of an earlier import at the output.
    pub overwrite: bool,
    /// Connections (and reader threads).
    pub threads: usize,
    /// Rows per page (the `LIMIT` of each query): the most a reader holds at once.
    pub page_rows: usize,
    /// Rows per Parquet file before a new part starts.
    pub part_rows: usize,
    /// `VERIFY_STUDENT["DAYS_GOOD_FOR"]`: how long an approved verification counts.
    pub days_good_for: i64,
    /// Show progress bars.
    pub progress: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            url: String::new(),
            defaults_file: None,
            courses: None,
            as_of: None,
            overwrite: false,
            threads: 2,
            page_rows: 50_000,
            part_rows: 4_000_000,
            days_good_for: 365,
            progress: false,
        }
    }
}

/// An import being run: options resolved, the server's tables known, the courses chosen.
pub(crate) struct Import {
    pub(crate) opts: Options,
    pub(crate) server: Server,
    pub(crate) out: Location,
    pub(crate) rt: tokio::runtime::Handle,
    pub(crate) courses: Vec<String>,
    pub(crate) as_of: Timestamp,
    /// When the snapshot started, and how the connections were made to agree on it.
    pub(crate) snapshot_at: Timestamp,
    pub(crate) agreement: snapshot::Agreement,
    /// The TLS version of the connections (`None`: not encrypted).
    pub(crate) tls: Option<String>,
    /// The name prefix of this import's files (`mysql-<start time>-<pid>-`).
    pub(crate) prefix: String,
    columns: HashMap<String, BTreeSet<String>>,
    /// Per source, the `FORCE INDEX (...)` its query reads its course index with (or nothing).
    pub(crate) index_hints: HashMap<&'static str, String>,
}

impl Import {
    pub(crate) fn has_table(&self, table: &str) -> bool {
        self.columns.contains_key(table)
    }
}

/// Import into `out`. Runs on the calling thread and its own reader threads; `rt` writes.
pub fn import(out: Location, opts: Options, rt: tokio::runtime::Handle) -> Result<Manifest> {
    let server = Server::resolve(&opts.url, opts.defaults_file.as_deref(), |k| std::env::var(k).ok())?;
    tracing::info!("reading {}", server.shown());
    let prepared = rt.block_on(output::prepare(&out, opts.overwrite))?;
    // This import's files are told apart by their name, from the first one written.
    let prefix = format!("mysql-{}-{}-", chrono::Utc::now().format("%Y%m%dT%H%M%S%6f"), std::process::id());
    match import_into(&out, opts, server, rt.clone(), prefix.clone(), prepared) {
        Ok(m) => Ok(m),
        Err(e) => {
            if let Err(cleanup) = rt.block_on(output::abandon(&out, &prefix)) {
                tracing::error!("could not remove this import's files after it failed: {cleanup:#}");
            }
            Err(e)
        }
    }
}

fn import_into(
    out: &Location,
    opts: Options,
    server: Server,
    rt: tokio::runtime::Handle,
    prefix: String,
    prepared: output::Prepared,
) -> Result<Manifest> {
    let started = Instant::now();
    let out = out.clone();
    let (mut sessions, agreement) = snapshot::open(&server, opts.threads.max(1))?;
    let snapshot_at = sessions[0].started;
    let tls = snapshot::tls_version(&mut sessions[0].conn)?;
    match &tls {
        Some(v) => tracing::info!("connected with {v}"),
        None => tracing::info!("connected without TLS (the server offers none, or ssl-mode=DISABLED)"),
    }
    let columns = facts::server_columns(&mut sessions[0].conn)?;
    let indexes = facts::server_indexes(&mut sessions[0].conn)?;
    let mut import = Import {
        as_of: opts.as_of.unwrap_or(snapshot_at),
        snapshot_at,
        agreement,
        tls,
        opts,
        server,
        out,
        rt,
        courses: Vec::new(),
        prefix,
        columns,
        index_hints: index_hints(&indexes),
    };
    let sources = check_tables(&import)?;
    import.courses = choose_courses(&import, &mut sessions[0].conn)?;
    let mut done = Done::default();
    done.absorb(facts::course_facts(&import, &mut sessions[0].conn)?);
    done.absorb(facts::verifications(&import, &mut sessions[0].conn)?);
    done.absorb(facts::team_memberships(&import, &mut sessions[0].conn)?);

    let bars = MultiProgress::new();
    if !import.opts.progress {
        bars.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let style =
        ProgressStyle::with_template("{prefix:>30} {spinner} {human_pos:>12} rows {per_sec:>14} {elapsed}")
            .expect("a valid template");
    let by_name: BTreeMap<&'static str, ProgressBar> = sources
        .iter()
        .map(|s| {
            let bar = bars.add(ProgressBar::new_spinner().with_style(style.clone()).with_prefix(s.name));
            (s.name, bar)
        })
        .collect();
    let jobs = plan_jobs(&import, &sources, &mut sessions[0].conn)?;
    let run = exec::run(&import, sessions, jobs, &|name| by_name[name].clone());
    for bar in by_name.values() {
        bar.finish();
    }
    done.absorb(run?);
    if !done.resnapshots.is_empty() {
        tracing::warn!(
            "{} job(s) went on in a later snapshot after a dropped connection: the import is not one point in time \
             (the manifest lists them)",
            done.resnapshots.len()
        );
    }
    let skipped: Vec<&str> =
        SOURCES.iter().filter(|s| !sources.iter().any(|t| t.name == s.name)).map(|s| s.name).collect();
    let manifest = Manifest::new(&import, done, skipped, started.elapsed().as_secs_f64());
    import.rt.block_on(output::publish(&import.out, &manifest, prepared))?;
    Ok(manifest)
}

/// For each source read along a course index, the index of its table that starts with the
/// source's columns (the shortest: a bare `course_id` index leaves the primary key right after
/// it), as `FORCE INDEX (name)`; a table without one is read without a hint, with a warning.
fn index_hints(indexes: &facts::Indexes) -> HashMap<&'static str, String> {
    let mut out = HashMap::new();
    for source in SOURCES {
        let Some((table, leading)) = source.index else { continue };
        let Some(found) = indexes.get(table) else { continue };
        let best = found
            .iter()
            .filter(|(_, columns)| {
                columns.len() >= leading.len() && leading.iter().zip(columns).all(|(a, b)| *a == b)
            })
            .min_by_key(|(name, columns)| (columns.len(), name.clone()));
        match best {
            Some((name, _)) => {
                out.insert(source.name, format!("FORCE INDEX (`{}`)", name.replace('`', "``")));
            }
            None => tracing::warn!(
                "{table} has no index starting with {}: {} is read without one, which is slow on a large table",
                leading.join(", "),
                source.name
            ),
        }
    }
    out
}

/// One job per (source, course); with several connections, the course of a source that can be
/// split ([`sources::Source::split`]) is read as key ranges at once when its keys span more than
/// [`SPLIT_PAGES`] pages (the span comes from its course index: `MIN`/`MAX`, no scan).
fn plan_jobs(
    import: &Import,
    sources: &[&'static sources::Source],
    conn: &mut mysql::Conn,
) -> Result<Vec<Job>> {
    use mysql::prelude::Queryable;
    let threads = import.opts.threads.max(1);
    let mut jobs = Vec::new();
    for &source in sources {
        if source.scope != Scope::Course {
            jobs.push(Job { source, course: None, range: None, part: 0 });
            continue;
        }
        for course in &import.courses {
            let whole = Job { source, course: Some(course.clone()), range: None, part: 0 };
            let Some(column) = source.split.filter(|_| threads > 1) else {
                jobs.push(whole);
                continue;
            };
            let key = column.rsplit('.').next().unwrap_or(column);
            let sql = format!("SELECT MIN({key}), MAX({key}) FROM {} WHERE course_id = ?", source.reads[0].0);
            let span: Option<(Option<i64>, Option<i64>)> = conn.exec_first(sql, (course.as_str(),))?;
            let (lo, hi) = match span {
                Some((Some(lo), Some(hi))) if hi - lo > (SPLIT_PAGES * import.opts.page_rows) as i64 => {
                    (lo, hi)
                }
                _ => {
                    jobs.push(whole);
                    continue;
                }
            };
            let parts = (threads * 2) as i64;
            let step = (hi - lo) / parts + 1;
            for part in 0..parts {
                let after = lo - 1 + part * step;
                let upto = if part + 1 == parts { hi } else { after + step };
                let range = Some((after, upto));
                jobs.push(Job { source, course: Some(course.clone()), range, part: part as usize });
            }
        }
    }
    Ok(jobs)
}

/// A course's keys must span more than this many pages for it to be read in ranges.
const SPLIT_PAGES: usize = 8;

/// The sources whose tables the server has; a missing required table, or a missing column of
/// a table that is there (of a source or of [`facts::FACT_READS`]), is an error naming it.
fn check_tables(import: &Import) -> Result<Vec<&'static sources::Source>> {
    let missing_columns = |table: &str, columns: &[&str]| -> Result<()> {
        let Some(have) = import.columns.get(table) else { return Ok(()) };
        let missing: Vec<&str> = columns.iter().copied().filter(|c| !have.contains(*c)).collect();
        if missing.is_empty() {
            return Ok(());
        }
        Err(crate::read::InputError::new(format!(
            "table {table} has no column {} (it has: {}); it does not have the layout edX's migrations give it",
            missing.join(", "),
            have.iter().cloned().collect::<Vec<_>>().join(", ")
        ))
        .into())
    };
    for (table, columns) in facts::FACT_READS {
        missing_columns(table, columns)?;
    }
    let mut out = Vec::new();
    'sources: for source in SOURCES {
        for (table, columns) in source.reads {
            if !import.has_table(table) {
                if source.required {
                    return Err(UsageError::new(format!(
                        "the database {} has no table {table}, which regrade needs for {}; is this edX's database \
                         (edxapp)?",
                        import.server.database, source.name
                    ))
                    .into());
                }
                tracing::warn!(
                    "no table {table} on the server (an older release, or a feature not in use): {} is empty",
                    source.name
                );
                continue 'sources;
            }
            missing_columns(table, columns)?;
        }
        out.push(source);
    }
    Ok(out)
}

/// `--courses`, each checked to exist on the server, or every course it has.
fn choose_courses(import: &Import, conn: &mut mysql::Conn) -> Result<Vec<String>> {
    let has_index = import.has_table("split_modulestore_django_splitmodulestorecourseindex");
    let known = facts::all_courses(conn, has_index)?;
    let chosen: Vec<String> = match &import.opts.courses {
        None => known.iter().cloned().collect(),
        Some(list) => {
            let unknown: Vec<&String> = list.iter().filter(|c| !known.contains(*c)).collect();
            if !unknown.is_empty() {
                let names: Vec<&str> = unknown.iter().map(|c| c.as_str()).collect();
                return Err(UsageError::new(format!(
                    "--courses: the server has no course {} (no enrollment{}); the server has {} course(s)",
                    names.join(", "),
                    if has_index { " and no course index row" } else { "" },
                    known.len()
                ))
                .into());
            }
            list.iter().cloned().collect::<BTreeSet<_>>().into_iter().collect()
        }
    };
    for c in &chosen {
        crate::store::partition::check_partition_value(c)
            .map_err(|e| crate::read::InputError::new(format!("course id {c}: {e}")))?;
    }
    Ok(chosen)
}
