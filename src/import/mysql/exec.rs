//! Running the sources: one worker thread per session, each taking the next (source, course)
//! job from a shared queue, reading it page by page and writing each page as it arrives
//! (Parquet parts rolled every `part_rows` rows, each published atomically). Learner tables go
//! through learner buckets first ([`super::sorted`]), so a course's files come out sorted by
//! learner.
//!
//! A connection that drops is replaced and the job goes on after the last key it read; the new
//! connection has its own, later snapshot, so the import is then no longer one point in time:
//! the job is recorded (the manifest's `resnapshots`) and a warning says so.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use indicatif::ProgressBar;
use mysql::prelude::Queryable;
use mysql::{Params, Value};

use super::convert;
use super::rows::{self, Sink};
use super::snapshot::{self, Session};
use super::sorted::{self, Bounds, BoundsCache, Sorted};
use super::sources::{Keyset, Scope, Source};
use super::Import;
use crate::py::time::Timestamp;
use crate::write::{self, PartWriter, WrittenFile};

/// One unit of work.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub(crate) source: &'static Source,
    /// The course read (`None`: a global source).
    pub(crate) course: Option<String>,
    /// A part of a large course, for sources that can be split ([`Source::split`]): keys
    /// after the first, up to and with the second. Its files are told apart by `part`.
    pub(crate) range: Option<(i64, i64)>,
    /// The job's number among the parts of its course (0 when not split).
    pub(crate) part: usize,
}

/// What a job did.
#[derive(Debug, Default)]
pub(crate) struct Done {
    pub(crate) rows_read: u64,
    /// Per source: (rows read, seconds spent reading and writing it, summed over its jobs).
    pub(crate) by_source: BTreeMap<&'static str, (u64, f64)>,
    pub(crate) rows_written: BTreeMap<&'static str, u64>,
    pub(crate) dropped: BTreeMap<&'static str, u64>,
    pub(crate) files: Vec<WrittenFile>,
    /// Snapshots started after a dropped connection: (job, when).
    pub(crate) resnapshots: Vec<(String, Timestamp)>,
}

impl Done {
    pub(crate) fn absorb(&mut self, other: Done) {
        self.rows_read += other.rows_read;
        for (k, (rows, secs)) in other.by_source {
            let entry = self.by_source.entry(k).or_default();
            entry.0 += rows;
            entry.1 += secs;
        }
        for (k, v) in other.rows_written {
            *self.rows_written.entry(k).or_default() += v;
        }
        for (k, v) in other.dropped {
            *self.dropped.entry(k).or_default() += v;
        }
        self.files.extend(other.files);
        self.resnapshots.extend(other.resnapshots);
    }
}

/// How many times a job reconnects before it fails.
const RECONNECTS: u32 = 5;

/// Run `jobs` on `sessions` (one thread each). The first error stops the other workers after
/// their current page.
pub(crate) fn run(
    import: &Import,
    sessions: Vec<Session>,
    jobs: Vec<Job>,
    bar: &(dyn Fn(&'static str) -> ProgressBar + Sync),
) -> Result<Done> {
    let queue = Mutex::new(VecDeque::from(jobs));
    let cache = BoundsCache::default();
    let failed = std::sync::atomic::AtomicBool::new(false);
    let results: Vec<Result<Done>> = std::thread::scope(|s| {
        let handles: Vec<_> = sessions
            .into_iter()
            .map(|mut session| {
                let (queue, failed, cache) = (&queue, &failed, &cache);
                s.spawn(move || -> Result<Done> {
                    let mut done = Done::default();
                    loop {
                        if failed.load(std::sync::atomic::Ordering::Relaxed) {
                            break;
                        }
                        let Some(job) = queue.lock().expect("job queue").pop_front() else { break };
                        let progress = bar(job.source.name);
                        match run_job(import, &mut session, &job, cache, &progress) {
                            Ok(d) => done.absorb(d),
                            Err(e) => {
                                failed.store(true, std::sync::atomic::Ordering::Relaxed);
                                return Err(e);
                            }
                        }
                    }
                    Ok(done)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("a reader thread panicked"))))
            .collect()
    });
    let mut all = Done::default();
    for r in results {
        all.absorb(r?);
    }
    Ok(all)
}

fn label(job: &Job) -> String {
    let part = match job.range {
        Some((after, upto)) => format!(" (keys {}..={upto})", after + 1),
        None => String::new(),
    };
    match &job.course {
        Some(c) => format!("{} of {c}{part}", job.source.name),
        None => job.source.name.to_string(),
    }
}

/// The paging key's values to start from: before every row (of its range).
fn first_key(job: &Job) -> Vec<Value> {
    if let Some((after, _)) = job.range {
        return vec![Value::from(after)];
    }
    match job.source.key {
        Keyset::One => vec![Value::from(-1i64)],
        // `a > -1` takes every row; `b > NULL` none, whatever b's type.
        Keyset::Two => vec![Value::from(-1i64), Value::NULL],
    }
}

/// The parameters of one page after `last` (the paging key's values).
fn params(import: &Import, job: &Job, last: &[Value]) -> Params {
    let mut p: Vec<Value> = Vec::new();
    if job.source.scope == Scope::Course {
        p.push(Value::from(job.course.as_deref().unwrap_or_default()));
    }
    match job.source.key {
        Keyset::One => p.push(last[0].clone()),
        Keyset::Two => p.extend([last[0].clone(), last[0].clone(), last[1].clone()]),
    }
    if let Some((_, upto)) = job.range {
        p.push(Value::from(upto));
    }
    if job.source.scope != Scope::Course && import.opts.courses.is_some() {
        p.extend(import.courses.iter().map(|c| Value::from(c.as_str())));
    }
    p.push(Value::from(import.opts.page_rows as u64));
    Params::Positional(p)
}

/// The query text of a job: `{courses}` is the source's course filter with `--courses`, and
/// nothing when every course is imported.
fn sql(import: &Import, job: &Job) -> String {
    let filter = match &import.opts.courses {
        Some(_) if job.source.scope != Scope::Course => {
            job.source.courses_filter.replace("{marks}", &vec!["?"; import.courses.len()].join(", "))
        }
        _ => String::new(),
    };
    let upto = match (job.range, job.source.split) {
        (Some(_), Some(column)) => format!("AND {column} <= ?"),
        _ => String::new(),
    };
    let index = import.index_hints.get(job.source.name).map(String::as_str).unwrap_or_default();
    job.source.sql.replace("{courses}", &filter).replace("{upto}", &upto).replace("{index}", index)
}

/// Where one table of one course goes: straight to its writer, or through learner buckets.
enum Out {
    Plain(PartWriter),
    Sorted(Sorted),
}

/// A job's outputs: a sink and an output per table, per course (`None`: not partitioned).
struct Outputs<'a> {
    import: &'a Import,
    source: &'static Source,
    by_course: BTreeMap<Option<String>, (Sink, Vec<Out>)>,
    /// The name prefix of this job's files.
    prefix: String,
    /// The learner buckets of the job's courses (a course not here has one bucket).
    bounds: HashMap<String, Bounds>,
    /// Another job writes the same course (a key range of a split course).
    shared: bool,
}

impl<'a> Outputs<'a> {
    fn new(import: &'a Import, job: &Job, bounds: HashMap<String, Bounds>) -> Self {
        // The parts of a split course write beside each other: their files are told apart.
        let prefix = match job.range {
            Some(_) => format!("{}r{:03}-", import.prefix, job.part),
            None => import.prefix.clone(),
        };
        let shared = job.range.is_some();
        Outputs { import, source: job.source, prefix, by_course: BTreeMap::new(), bounds, shared }
    }

    /// The sink of `course`, with its outputs made on first use.
    fn sink(&mut self, course: Option<&str>) -> Result<&mut Sink> {
        let key = course.map(String::from);
        if !self.by_course.contains_key(&key) {
            let sink = Sink::new(self.source.writes)?;
            let outs =
                self.source.writes.iter().map(|&t| self.out(&sink, t, course)).collect::<Result<_>>()?;
            self.by_course.insert(key.clone(), (sink, outs));
        }
        Ok(&mut self.by_course.get_mut(&key).expect("just made").0)
    }

    fn out(&self, sink: &Sink, table: &'static str, course: Option<&str>) -> Result<Out> {
        let dir = write::table_dir(&self.import.out, table, course)?;
        let schema = sink_schema(sink, table);
        let writer =
            PartWriter::new(self.import.out.clone(), dir, schema.clone(), self.import.opts.part_rows)
                .with_prefix(&self.prefix);
        let (Some(course), Some(column)) = (course, sorted::learner_column(table)) else {
            return Ok(Out::Plain(writer));
        };
        let column = schema.index_of(column)?;
        let bounds = self.bounds.get(course).cloned().unwrap_or_default();
        Ok(Out::Sorted(Sorted::new(writer, column, bounds, self.shared, self.import.opts.part_rows)))
    }

    /// Forget rows converted since the last flush (a page read again after a reconnect).
    fn discard(&mut self) -> Result<()> {
        for (sink, _) in self.by_course.values_mut() {
            *sink = Sink::new(self.source.writes)?;
        }
        Ok(())
    }

    /// Move every sink's rows into its outputs; then, for each table whose buckets hold
    /// [`sorted::buffer_rows`] rows or more (over the job's courses), write the fullest bucket
    /// until they hold fewer.
    fn flush(&mut self, done: &mut Done) -> Result<()> {
        for (sink, outs) in self.by_course.values_mut() {
            flush(self.import, sink, outs, done)?;
        }
        for t in 0..self.source.writes.len() {
            loop {
                let (mut total, mut fullest) = (0, None);
                for (course, (_, outs)) in &self.by_course {
                    if let Out::Sorted(s) = &outs[t] {
                        total += s.buffered();
                        let (rows, bucket) = s.fullest();
                        if fullest.as_ref().is_none_or(|(r, _, _)| rows > *r) {
                            fullest = Some((rows, course.clone(), bucket));
                        }
                    }
                }
                let Some((_, course, bucket)) =
                    fullest.filter(|_| total >= sorted::buffer_rows(self.import.opts.part_rows))
                else {
                    break;
                };
                if let Out::Sorted(s) = &mut self.by_course.get_mut(&course).expect("a course").1[t] {
                    s.write_bucket(&self.import.rt, bucket)?;
                }
            }
        }
        Ok(())
    }

    fn finish(self, done: &mut Done) -> Result<()> {
        for (_, (_, outs)) in self.by_course {
            for out in outs {
                done.files.extend(match out {
                    Out::Plain(w) => self.import.rt.block_on(w.finish())?,
                    Out::Sorted(s) => s.finish(&self.import.rt)?,
                });
            }
        }
        Ok(())
    }
}

/// The learner buckets of the courses a job writes (none for a job without learner tables).
fn job_bounds(
    import: &Import,
    cache: &BoundsCache,
    conn: &mut mysql::Conn,
    job: &Job,
) -> Result<HashMap<String, Bounds>> {
    let mut out = HashMap::new();
    if !job.source.writes.iter().any(|t| sorted::learner_column(t).is_some()) {
        return Ok(out);
    }
    let index = import.index_hints.get("enrollments").map(String::as_str).unwrap_or_default();
    let courses = match (&job.course, job.source.scope) {
        (Some(c), _) => std::slice::from_ref(c),
        (None, Scope::Table { .. }) => &import.courses[..],
        (None, _) => &[],
    };
    for course in courses {
        out.insert(course.clone(), cache.get(conn, index, course)?);
    }
    Ok(out)
}

/// Read one job page by page, writing as it goes; reconnect and resume after a dropped
/// connection.
fn run_job(
    import: &Import,
    session: &mut Session,
    job: &Job,
    cache: &BoundsCache,
    bar: &ProgressBar,
) -> Result<Done> {
    let started = Instant::now();
    let mut done = Done::default();
    let mut attempts = 0;
    let bounds = loop {
        match job_bounds(import, cache, &mut session.conn, job) {
            Ok(b) => break b,
            Err(e) if is_connection_lost(&e) && attempts < RECONNECTS => {
                attempts += 1;
                reconnect(import, session, job, &e, attempts, &mut done);
            }
            Err(e) => {
                return Err(e).with_context(|| format!("reading the learner buckets of {}", label(job)))
            }
        }
    };
    let mut outputs = Outputs::new(import, job, bounds);
    let text = sql(import, job);
    let mut last = first_key(job);
    attempts = 0;
    loop {
        let page = read_page(import, session, &text, params(import, job, &last), job, &mut outputs);
        match page {
            Ok((0, _)) => break,
            Ok((n, key)) => {
                attempts = 0;
                last = key;
                done.rows_read += n as u64;
                bar.inc(n as u64);
                outputs.flush(&mut done)?;
                if n < import.opts.page_rows {
                    break;
                }
                crate::hooks::pause_point(&format!("mysql_page_{}", job.source.name));
            }
            Err(e) if is_connection_lost(&e) && attempts < RECONNECTS => {
                attempts += 1;
                // Rows of the failed page may already be in the sinks: the page is read again.
                outputs.discard()?;
                tracing::warn!("{}: going on after key {last:?}", label(job));
                reconnect(import, session, job, &e, attempts, &mut done);
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", label(job))),
        }
    }
    outputs.finish(&mut done)?;
    done.by_source.insert(job.source.name, (done.rows_read, started.elapsed().as_secs_f64()));
    Ok(done)
}

/// Replace a dropped connection (after a pause); the new one has its own, later snapshot.
fn reconnect(
    import: &Import,
    session: &mut Session,
    job: &Job,
    e: &anyhow::Error,
    attempts: u32,
    done: &mut Done,
) {
    tracing::warn!(
        "{}: the connection dropped ({e}); reconnecting (attempt {attempts} of {RECONNECTS}) in a new snapshot: \
         the import is no longer one point in time",
        label(job)
    );
    std::thread::sleep(Duration::from_millis(200 * u64::from(attempts)));
    match snapshot::open_one(&import.server) {
        Ok(s) => {
            *session = s;
            done.resnapshots.push((label(job), session.started));
        }
        Err(e) => tracing::warn!("{}: reconnecting failed: {e:#}", label(job)),
    }
}

fn sink_schema(sink: &Sink, table: &str) -> arrow::datatypes::SchemaRef {
    sink.tables.iter().find(|(t, _)| *t == table).expect("a table of this source").1.arrow_schema().clone()
}

/// Move the sink's rows into the outputs, and its counts of rows not written into `done`.
fn flush(import: &Import, sink: &mut Sink, outs: &mut [Out], done: &mut Done) -> Result<()> {
    for (why, n) in std::mem::take(&mut sink.dropped) {
        *done.dropped.entry(why).or_default() += n;
    }
    for ((table, builder), out) in sink.tables.iter_mut().zip(outs.iter_mut()) {
        if builder.is_empty() {
            continue;
        }
        let batch = builder.finish()?;
        *done.rows_written.entry(table).or_default() += batch.num_rows() as u64;
        match out {
            Out::Plain(writer) => import.rt.block_on(writer.write(&batch))?,
            Out::Sorted(s) => s.add(batch)?,
        }
    }
    Ok(())
}

/// One page: (rows read, the last row's paging key).
fn read_page(
    import: &Import,
    session: &mut Session,
    sql: &str,
    params: Params,
    job: &Job,
    outputs: &mut Outputs,
) -> Result<(usize, Vec<Value>)> {
    let source = job.source;
    let started = Instant::now();
    let mut result = session.conn.exec_iter(sql, params)?;
    let (mut n, mut last) = (0usize, Vec::new());
    let width = match source.key {
        Keyset::One => 1,
        Keyset::Two => 2,
    };
    let Some(set) = result.iter() else { return Ok((0, last)) };
    match source.scope {
        // One course (or none) per job: its sink is looked up once per page.
        Scope::Course | Scope::Global => {
            let sink = outputs.sink(job.course.as_deref())?;
            for row in set {
                let row = row?;
                n += 1;
                last = paging_key(&row, width);
                rows::convert(source.name, &row, sink)?;
            }
        }
        Scope::Table { course_column } => {
            for row in set {
                let row = row?;
                n += 1;
                last = paging_key(&row, width);
                let at = convert::At { table: source.reads[0].0, column: "course_id", key: 0 };
                let course = convert::string(row.as_ref(course_column).unwrap_or(&Value::NULL), at)?
                    .unwrap_or_default();
                if import.courses.binary_search(&course).is_err() {
                    outputs.sink(None)?.drop_row("course_not_imported");
                    continue;
                }
                rows::convert(source.name, &row, outputs.sink(Some(&course))?)?;
            }
        }
    }
    tracing::trace!("{}: {n} rows in {:?}", source.name, started.elapsed());
    Ok((n, last))
}

/// The paging key of a row: its first `width` values.
fn paging_key(row: &mysql::Row, width: usize) -> Vec<Value> {
    (0..width).map(|i| row.as_ref(i).cloned().unwrap_or(Value::NULL)).collect()
}

/// A dropped or broken connection (retried), as opposed to an SQL or data error (not).
fn is_connection_lost(e: &anyhow::Error) -> bool {
    e.chain().any(|c| match c.downcast_ref::<mysql::Error>() {
        Some(mysql::Error::IoError(_)) => true,
        Some(mysql::Error::DriverError(d)) => {
            matches!(d, mysql::DriverError::ConnectTimeout | mysql::DriverError::PacketOutOfSync)
        }
        Some(mysql::Error::MySqlError(m)) => {
            // 2006 server has gone away, 2013 lost connection, 1053 shutdown in progress,
            // 1927 connection killed (MariaDB), 1317 query interrupted.
            matches!(m.code, 2006 | 2013 | 1053 | 1927 | 1317)
        }
        _ => false,
    })
}
