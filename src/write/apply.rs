//! `--outputs apply`: the grade rows a run would persist that are new or differ from the
//! persisted ones, as files that load into edX's MySQL tables, and what edX's signals would
//! have acted on.
//!
//! Per course, under `apply/` of the output:
//!
//! | file | what |
//! |---|---|
//! | `<edx table>/course_id=<id>/part-00000.parquet` | the rows, in edX's column layout (the backfill's schemas) |
//! | `csv/<edx table>/course_id=<id>/part-00000.csv` | the same rows for `LOAD DATA` |
//! | `sql/course_id=<id>/<edx table>.sql` | the rows as `INSERT`s into a staging table |
//! | `sql/course_id=<id>/apply.sql` | stages the rows (sourcing the three) and merges them (`INSERT ... ON DUPLICATE KEY UPDATE`) |
//! | `follow_ups/course_id=<id>/follow_ups.csv` | learners passing for the first time, passing again, failing, changing letter |
//! | `orphaned/course_id=<id>/orphaned.csv` | persisted subsection rows outside the graded version (never deleted) |
//!
//! and after every course `apply/apply.sql` and `apply/load_data.sql`. The rows come from the
//! chunk's diff ([`crate::compare`]): subsection keys `new` or `changed`, course grade keys
//! other than `orphaned` (and `unchanged`, which the diff does not write), so what is applied is
//! exactly what the diff lists. Both scripts stage the rows in temporary tables and merge them
//! with [`mysql::merge_sql`]: a row edX changed after the export is left alone and counted.
//! The row writers are the backfill's ([`crate::write::backfill`], [`mysql`]): one writer,
//! two uses.

use std::sync::Arc;

use anyhow::{Context, Result};
use arrow::array::RecordBatch;
use serde::Serialize;

use super::backfill::{CourseColumns, SubsectionColumns, VisibleBlocksColumns};
use super::mysql::{self, MysqlTable, COURSE_GRADES, LOAD_ORDER, SUBSECTION_GRADES, VISIBLE_BLOCKS};
use super::stream::{write_text, StreamedFile};
use super::{CourseTableEncoder, WrittenFile};
use crate::compare::change;
use crate::fxhash::{FxHashMap, FxHashSet};
use crate::grade::subsection::PersistedValues;
use crate::model::structure::CourseStructure;
use crate::py::time::Timestamp;
use crate::read::batch::Columns;
use crate::store::Location;

/// What a course's apply holds, for the manifest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ApplyCounts {
    pub subsection_rows: usize,
    pub course_rows: usize,
    pub visible_blocks_rows: usize,
    /// Persisted subsection rows outside the graded version: listed, never deleted.
    pub orphaned_rows: usize,
    /// Learners whose course grade passes and whose row has no `passed_timestamp` yet: edX's
    /// `COURSE_GRADE_PASSED_FIRST_TIME`.
    pub passed_first_time: usize,
    /// Learners passing again (they passed once: `passed_timestamp` is set).
    pub now_passing: usize,
    pub now_failing: usize,
    /// The letter changes, the passed state does not.
    pub letter_changed: usize,
}

impl ApplyCounts {
    pub(crate) fn add(&mut self, o: &ApplyCounts) {
        self.subsection_rows += o.subsection_rows;
        self.course_rows += o.course_rows;
        self.visible_blocks_rows += o.visible_blocks_rows;
        self.orphaned_rows += o.orphaned_rows;
        self.passed_first_time += o.passed_first_time;
        self.now_passing += o.now_passing;
        self.now_failing += o.now_failing;
        self.letter_changed += o.letter_changed;
    }
}

/// The follow-ups file's header.
pub(crate) const FOLLOW_UP_COLUMNS: &str =
    "course_id,user_id,follow_up,old_percent_grade,new_percent_grade,old_letter_grade,new_letter_grade\n";
/// The orphaned rows file's header.
pub(crate) const ORPHANED_COLUMNS: &str = "course_id,user_id,usage_key,course_version,visible_blocks_hash\n";

/// What a course's chunks read to build their apply rows.
pub(crate) struct ApplyCtx<'a> {
    pub(crate) course_id: &'a str,
    pub(crate) structure: &'a CourseStructure,
    pub(crate) policy_hash: &'a str,
    pub(crate) as_of: Timestamp,
}

/// A graded learner's `passed_timestamp`: persisted, and after the run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Passed {
    pub(crate) user_id: i64,
    pub(crate) before: Option<Timestamp>,
    pub(crate) after: Option<Timestamp>,
}

/// One chunk's apply rows, in user id order.
#[derive(Default)]
pub(crate) struct ApplyChunk {
    subsections: Option<RecordBatch>,
    courses: Option<RecordBatch>,
    /// The subsection and course rows as `LOAD DATA` CSV lines and SQL value tuples, rendered
    /// where the chunk is graded (in parallel), not where the files are written.
    rendered: [Option<(String, mysql::Tuples)>; 2],
    /// New visible-block lists the subsection rows reference: (hash, JSON), first use first.
    blocks: Vec<(Arc<str>, Arc<str>)>,
    follow_ups: String,
    orphaned: String,
    counts: ApplyCounts,
}

fn csv_cells(cells: &[String]) -> String {
    crate::report::csv_line(cells).trim_end_matches("\r\n").to_string() + "\n"
}

/// A chunk's apply rows from its diffs (`sd`, `cd`), the learners' `passed_timestamp`s (in
/// user id order) and the JSON of the visible-block lists the course's table does not hold.
pub(crate) fn apply_chunk(
    ctx: &ApplyCtx<'_>,
    (sd, cd): (&RecordBatch, &RecordBatch),
    passed: &[Passed],
    new_blocks: &FxHashMap<Arc<str>, Arc<str>>,
) -> Result<ApplyChunk> {
    let mut out = ApplyChunk::default();
    subsection_rows(ctx, sd, new_blocks, &mut out)?;
    course_rows(ctx, cd, passed, &mut out)?;
    for (k, batch) in [&out.subsections, &out.courses].into_iter().enumerate() {
        if let Some(batch) = batch {
            let mut csv = String::new();
            mysql::csv_rows(batch, &mut csv)?;
            out.rendered[k] = Some((csv, mysql::Tuples::of(batch)?));
        }
    }
    Ok(out)
}

fn subsection_rows(
    ctx: &ApplyCtx<'_>,
    sd: &RecordBatch,
    new_blocks: &FxHashMap<Arc<str>, Arc<str>>,
    out: &mut ApplyChunk,
) -> Result<()> {
    let c = Columns::new("subsection_diffs", sd);
    let (user, key, kind) = (c.i64_at("user_id")?, c.str_at("usage_key")?, c.str_at("change")?);
    let (old_version, old_hash) = (c.str_at("old_course_version")?, c.str_at("old_visible_blocks_hash")?);
    let version = c.str_at("new_course_version")?;
    let f = |name: &str| c.f64_at(name);
    let (ea, pa, eg, pg) =
        (f("new_earned_all")?, f("new_possible_all")?, f("new_earned_graded")?, f("new_possible_graded")?);
    let (first, hash) = (c.ts_at("new_first_attempted")?, c.str_at("new_visible_blocks_hash")?);
    let mut rows = SubsectionColumns::default();
    let mut seen: FxHashSet<&str> = FxHashSet::default();
    for i in 0..sd.num_rows() {
        let user_id = user(i).unwrap_or_default();
        match kind(i) {
            change::NEW | change::CHANGED => {}
            change::ORPHANED => {
                let cells = [ctx.course_id, &user_id.to_string(), key(i), old_version(i), old_hash(i)];
                out.orphaned.push_str(&csv_cells(&cells.map(str::to_string)));
                out.counts.orphaned_rows += 1;
                continue;
            }
            _ => continue,
        }
        let usage_key = key(i);
        let edited = ctx
            .structure
            .index
            .get(usage_key)
            .and_then(|&b| ctx.structure.blocks[b as usize].row.subtree_edited_on);
        let values = PersistedValues {
            earned_all: ea(i).unwrap_or_default(),
            possible_all: pa(i).unwrap_or_default(),
            earned_graded: eg(i).unwrap_or_default(),
            possible_graded: pg(i).unwrap_or_default(),
            first_attempted: first(i),
        };
        let h = hash(i);
        rows.push(user_id, usage_key, edited, version(i), &values, h);
        if let Some((hash, json)) = new_blocks.get_key_value(h) {
            if seen.insert(h) {
                out.blocks.push((hash.clone(), json.clone()));
            }
        }
    }
    out.counts.subsection_rows = rows.len();
    if rows.len() > 0 {
        out.subsections = Some(rows.finish(ctx.course_id, ctx.as_of)?);
    }
    Ok(())
}

fn course_rows(ctx: &ApplyCtx<'_>, cd: &RecordBatch, passed: &[Passed], out: &mut ApplyChunk) -> Result<()> {
    let c = Columns::new("course_grade_diffs", cd);
    let (user, kind) = (c.i64_at("user_id")?, c.str_at("change")?);
    let (old_percent, new_percent) = (c.f64_at("old_percent_grade")?, c.f64_at("new_percent_grade")?);
    let (old_letter, new_letter) = (c.opt_str_at("old_letter_grade")?, c.opt_str_at("new_letter_grade")?);
    let new_passed = c.bool_at("new_passed")?;
    let mut rows = CourseColumns::default();
    for i in 0..cd.num_rows() {
        let kind = kind(i);
        if kind == change::ORPHANED || kind == change::UNCHANGED {
            continue;
        }
        let user_id = user(i).unwrap_or_default();
        let p = passed.binary_search_by_key(&user_id, |p| p.user_id).ok().map(|k| passed[k]);
        let (before, after) = p.map_or((None, None), |p| (p.before, p.after));
        let letter = new_letter(i).unwrap_or("").to_string();
        rows.push(user_id, new_percent(i).unwrap_or_default(), letter, after);
        let follow_up = if new_passed(i) == Some(true) && before.is_none() {
            out.counts.passed_first_time += 1;
            "passed_first_time"
        } else if kind == change::NOW_PASSING {
            out.counts.now_passing += 1;
            "now_passing"
        } else if kind == change::NOW_FAILING {
            out.counts.now_failing += 1;
            "now_failing"
        } else if kind == change::LETTER_CHANGED {
            out.counts.letter_changed += 1;
            "letter_changed"
        } else {
            continue;
        };
        let num = |x: Option<f64>| x.map(crate::py::fmt::repr).unwrap_or_default();
        let cells = [
            ctx.course_id.to_string(),
            user_id.to_string(),
            follow_up.to_string(),
            num(old_percent(i)),
            num(new_percent(i)),
            old_letter(i).unwrap_or("").to_string(),
            new_letter(i).unwrap_or("").to_string(),
        ];
        out.follow_ups.push_str(&csv_cells(&cells));
    }
    out.counts.course_rows = rows.len();
    if rows.len() > 0 {
        let edited = ctx.structure.blocks[ctx.structure.root as usize].row.subtree_edited_on;
        let version = &ctx.structure.course_version;
        out.courses = Some(rows.finish(ctx.course_id, version, ctx.policy_hash, edited, ctx.as_of)?);
    }
    Ok(())
}

/// A course's apply files as its chunks come in, in user id order. Files without rows are
/// never created; nothing is visible before [`ApplyFiles::finish`].
pub(crate) struct ApplyFiles {
    output: Location,
    course_id: String,
    rt: tokio::runtime::Handle,
    /// The export's snapshot time the merge compares `modified` with.
    export_time: Timestamp,
    /// Parquet, in [`LOAD_ORDER`].
    parquet: [CourseTableEncoder; 3],
    /// `LOAD DATA` CSV, in [`LOAD_ORDER`], created with their first rows.
    csv: [Option<StreamedFile>; 3],
    /// The rows as `INSERT`s into the staging tables, in [`LOAD_ORDER`], created with their
    /// first rows; a statement may stay open from chunk to chunk.
    staged: [Option<(StreamedFile, mysql::Inserts)>; 3],
    follow_ups: Option<StreamedFile>,
    orphaned: Option<StreamedFile>,
    /// Visible-block hashes written already (a list is inserted once per course).
    blocks_written: FxHashSet<Arc<str>>,
    pub(crate) counts: ApplyCounts,
}

/// Where a course's apply file of `kind` goes: `apply/<kind>/course_id=<id>/<name>`.
fn apply_path(
    output: &Location,
    kind: &str,
    course_id: &str,
    name: &str,
) -> Result<object_store::path::Path> {
    let partition = crate::store::partition::partition_segment("course_id", course_id);
    let raw = format!("{}/{kind}/{partition}/{name}", output.sub("apply").prefix);
    // Escaped partition segments hold no ASCII but [A-Za-z0-9_%=-]: `parse` keeps `%` as is.
    object_store::path::Path::parse(raw.trim_start_matches('/'))
        .with_context(|| format!("invalid output path '{raw}'"))
}

/// A course's apply file of `kind` (`apply_path`), started with `first`.
fn open_file(
    (output, course_id, rt): (&Location, &str, &tokio::runtime::Handle),
    kind: &str,
    name: &str,
    first: &str,
) -> Result<StreamedFile> {
    let mut f =
        StreamedFile::new(output.store.clone(), apply_path(output, kind, course_id, name)?, rt.clone());
    write_text(&mut f, first)?;
    Ok(f)
}

impl ApplyFiles {
    pub(crate) fn new(
        output: &Location,
        course_id: &str,
        export_time: Timestamp,
        rt: &tokio::runtime::Handle,
    ) -> Result<Self> {
        let encoder = |t: MysqlTable| {
            CourseTableEncoder::with_schema(
                output,
                course_id,
                ("apply", t.name),
                &format!("backfill_{}", t.name),
                rt,
            )
        };
        Ok(ApplyFiles {
            output: output.clone(),
            course_id: course_id.to_string(),
            rt: rt.clone(),
            export_time,
            parquet: [encoder(VISIBLE_BLOCKS)?, encoder(SUBSECTION_GRADES)?, encoder(COURSE_GRADES)?],
            csv: [None, None, None],
            staged: [None, None, None],
            follow_ups: None,
            orphaned: None,
            blocks_written: FxHashSet::default(),
            counts: ApplyCounts::default(),
        })
    }

    /// Every file the course's apply may write, relative to the output (for the journal).
    pub(crate) fn paths(output: &Location, course_id: &str) -> Result<Vec<object_store::path::Path>> {
        let mut paths = Vec::new();
        for t in LOAD_ORDER {
            let base = output.sub("apply");
            paths.push(
                crate::write::table_dir(&base, t.name, Some(course_id))?.join(crate::write::part_name(0)),
            );
            paths.push(apply_path(output, &format!("csv/{}", t.name), course_id, "part-00000.csv")?);
        }
        for t in LOAD_ORDER {
            paths.push(apply_path(output, "sql", course_id, &format!("{}.sql", t.name))?);
        }
        paths.push(apply_path(output, "sql", course_id, "apply.sql")?);
        paths.push(apply_path(output, "follow_ups", course_id, "follow_ups.csv")?);
        paths.push(apply_path(output, "orphaned", course_id, "orphaned.csv")?);
        Ok(paths)
    }

    fn open(&self, kind: &str, name: &str, first: &str) -> Result<StreamedFile> {
        open_file((&self.output, &self.course_id, &self.rt), kind, name, first)
    }

    /// The store's error, if an upload of one of the files failed.
    pub(crate) fn failed(&self) -> Option<String> {
        let staged = self.staged.iter().flatten().map(|(f, _)| f);
        let texts = self.csv.iter().chain([&self.follow_ups, &self.orphaned]).flatten().chain(staged);
        self.parquet
            .iter()
            .filter_map(|e| e.failed())
            .chain(texts.filter_map(|f| f.failed()))
            .next()
            .map(str::to_string)
    }

    /// Append a chunk's rows to every file: the Parquet files encoded beside the text files
    /// (the text comes rendered with the chunk).
    pub(crate) fn write(&mut self, chunk: &ApplyChunk) -> Result<()> {
        let mut vb = VisibleBlocksColumns::default();
        for (hash, json) in &chunk.blocks {
            if self.blocks_written.insert(hash.clone()) {
                vb.push(json, hash);
            }
        }
        self.counts.add(&ApplyCounts { visible_blocks_rows: vb.len(), ..chunk.counts });
        let blocks = (vb.len() > 0).then(|| vb.finish(&self.course_id)).transpose()?;
        let block_text = match &blocks {
            Some(b) => {
                let mut csv = String::new();
                mysql::csv_rows(b, &mut csv)?;
                Some((csv, mysql::Tuples::of(b)?))
            }
            None => None,
        };
        let batches = [blocks.as_ref(), chunk.subsections.as_ref(), chunk.courses.as_ref()];
        let texts = [block_text.as_ref(), chunk.rendered[0].as_ref(), chunk.rendered[1].as_ref()];
        let Self { parquet, csv, staged, output, course_id, rt, .. } = self;
        let (encoded, written) = rayon::join(
            || -> Result<()> {
                for (e, batch) in parquet.iter_mut().zip(batches) {
                    if let Some(b) = batch {
                        e.write(b)?;
                    }
                }
                Ok(())
            },
            || -> Result<()> {
                let open = |kind: &str, name: &str, first: &str| {
                    open_file((output, course_id, rt), kind, name, first)
                };
                for (k, (batch, text)) in batches.into_iter().zip(texts).enumerate() {
                    let (Some(batch), Some((lines, tuples))) = (batch, text) else { continue };
                    let table = LOAD_ORDER[k];
                    if csv[k].is_none() {
                        csv[k] = Some(open(
                            &format!("csv/{}", table.name),
                            "part-00000.csv",
                            &mysql::csv_header(batch),
                        )?);
                    }
                    write_text(csv[k].as_mut().expect("opened above"), lines)?;
                    if staged[k].is_none() {
                        let f = open("sql", &format!("{}.sql", table.name), "")?;
                        staged[k] = Some((f, mysql::Inserts::new(&mysql::staging(&table), batch, ";\n")));
                    }
                    let (file, inserts) = staged[k].as_mut().expect("opened above");
                    let mut sql = String::new();
                    inserts.tuples(tuples, &mut sql);
                    write_text(file, &sql)?;
                }
                Ok(())
            },
        );
        encoded?;
        written?;
        if !chunk.follow_ups.is_empty() {
            if self.follow_ups.is_none() {
                self.follow_ups = Some(self.open("follow_ups", "follow_ups.csv", FOLLOW_UP_COLUMNS)?);
            }
            write_text(self.follow_ups.as_mut().expect("opened above"), &chunk.follow_ups)?;
        }
        if !chunk.orphaned.is_empty() {
            if self.orphaned.is_none() {
                self.orphaned = Some(self.open("orphaned", "orphaned.csv", ORPHANED_COLUMNS)?);
            }
            write_text(self.orphaned.as_mut().expect("opened above"), &chunk.orphaned)?;
        }
        Ok(())
    }

    /// Publish the course's apply files: the script ends with the merges.
    pub(crate) fn finish(mut self) -> Result<Vec<WrittenFile>> {
        // The course's script: the staged rows sourced, then merged.
        let mut script = None;
        if self.staged.iter().any(Option::is_some) {
            let mut text = script_head(&self.course_id, self.export_time);
            for (file, inserts) in self.staged.iter_mut().flatten() {
                let mut end = String::new();
                inserts.close(&mut end);
                write_text(file, &end)?;
                let path = self.output.sub("apply").relative(file.path());
                text.push_str(&format!("SOURCE {path};\n"));
            }
            text.push_str(&merges());
            script = Some(self.open("sql", "apply.sql", &text)?);
        }
        let output = self.output.clone();
        let written = |path: &object_store::path::Path, rows, done: crate::write::stream::Streamed| {
            WrittenFile { path: output.relative(path), rows, bytes: done.bytes, sha1: done.sha1 }
        };
        let mut files = Vec::new();
        for e in self.parquet {
            if let Some(t) = e.finish()? {
                files.push(written(&t.path, Some(t.rows), t.file));
            }
        }
        let rows = [self.counts.visible_blocks_rows, self.counts.subsection_rows, self.counts.course_rows];
        for (f, rows) in self.csv.into_iter().zip(rows) {
            if let Some(f) = f {
                let path = f.path().clone();
                files.push(written(&path, Some(rows), f.finish()?));
            }
        }
        for (s, rows) in self.staged.into_iter().zip(rows) {
            if let Some((f, _)) = s {
                let path = f.path().clone();
                files.push(written(&path, Some(rows), f.finish()?));
            }
        }
        let texts = [
            (script, None),
            (
                self.follow_ups,
                Some(
                    self.counts.passed_first_time
                        + self.counts.now_passing
                        + self.counts.now_failing
                        + self.counts.letter_changed,
                ),
            ),
            (self.orphaned, Some(self.counts.orphaned_rows)),
        ];
        for (f, rows) in texts {
            if let Some(f) = f {
                let path = f.path().clone();
                files.push(written(&path, rows, f.finish()?));
            }
        }
        Ok(files)
    }

    /// Give the files up: nothing becomes visible.
    pub(crate) fn abort(self) {
        self.parquet.into_iter().for_each(CourseTableEncoder::abort);
        let texts = self.csv.into_iter().chain([self.follow_ups, self.orphaned]);
        texts.flatten().for_each(StreamedFile::abort);
        self.staged.into_iter().flatten().for_each(|(f, _)| f.abort());
    }
}

/// The top of a course's apply script: session set-up, the export time, the staging tables.
fn script_head(course_id: &str, export_time: Timestamp) -> String {
    format!(
        "-- regrade apply of {}: grade rows that are new or differ from the persisted ones.\n\
         -- Run from the apply folder (it sources the staged rows from there): mariadb DATABASE < {}\n\
         -- A row edX changed after the export ({}) is left as it is and counted.\n{}{}{}",
        course_id.replace(['\n', '\r'], " "),
        "sql/<course>/apply.sql",
        crate::py::time::fmt_time(export_time),
        mysql::SCRIPT_HEADER,
        mysql::export_time_sql(export_time),
        mysql::staging_sql()
    )
}

/// The merge of every staged table, in load order, then the staging tables dropped.
pub(crate) fn merges() -> String {
    let mut out = String::new();
    for t in LOAD_ORDER {
        let schema = crate::schema::output(&format!("backfill_{}", t.name))
            .expect("the backfill schemas are built in");
        let columns: Vec<&str> = schema.columns.iter().map(|c| c.name.as_str()).collect();
        out.push_str(&mysql::merge_sql(&t, &columns));
    }
    for t in LOAD_ORDER {
        out.push_str(&format!("DROP TEMPORARY TABLE {};\n", mysql::staging(&t)));
    }
    out
}
