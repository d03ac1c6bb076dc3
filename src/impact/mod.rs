//! `regrade report`: the impact report of a finished run, for whoever signs a regrade off.
//!
//! A stage of its own, outside the grading path: [`report`] reads a run folder
//! ([`source::RunFolder`]: its manifest and output tables), what the charts need from the run's
//! input ([`meta`]: cutoffs, assignment types, titles; usernames only with `--with-names`),
//! computes every chart's numbers with Polars lazy plans ([`compute`]) into
//! [`table::Rows`], and writes them twice: `impact.parquet` (checked against
//! `schemas/output/impact.json`) and `index.html` ([`page`], charts from [`svg`]).
//!
//! Polars is used here only: `run`, `plan`, `finalize` and `backfill` never reach this module.

pub mod compute;
mod facts;
pub mod meta;
pub mod page;
pub mod source;
pub mod svg;
pub mod table;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use polars::prelude::*;

use self::compute::Inputs;
use self::meta::{Meta, MetaOptions};
use self::source::RunFolder;
use self::table::Rows;

/// What `regrade report` is asked to do.
#[derive(Clone, Debug, Default)]
pub struct ReportOptions {
    pub run: PathBuf,
    pub baseline: Option<PathBuf>,
    pub output: PathBuf,
    pub with_names: bool,
    pub meta: MetaOptions,
}

/// What a report wrote.
#[derive(Clone, Debug)]
pub struct Written {
    pub index: PathBuf,
    pub parquet: PathBuf,
    pub rows: usize,
    pub seconds: f64,
}

/// Makes the report: reads, computes, writes `index.html` and `impact.parquet` into
/// `opts.output` (created if needed; those two files replaced).
pub fn report(opts: &ReportOptions) -> Result<Written> {
    let started = Instant::now();
    let run = RunFolder::open(&opts.run)?;
    let baseline = opts.baseline.as_deref().map(RunFolder::open).transpose()?;
    let mut meta = meta::read(&run, baseline.as_ref(), &opts.meta)?;
    let rows = compute_rows(&run, baseline.as_ref(), &mut meta, opts)?;
    let bytes = rows.parquet()?;
    let html = page::Page {
        rows: &rows,
        meta: &meta,
        run: &run,
        baseline: baseline.as_ref(),
        with_names: opts.with_names,
    }
    .html();
    std::fs::create_dir_all(&opts.output).with_context(|| format!("creating {}", opts.output.display()))?;
    let parquet = opts.output.join("impact.parquet");
    let index = opts.output.join("index.html");
    write_atomic(&parquet, &bytes)?;
    write_atomic(&index, html.as_bytes())?;
    let seconds = started.elapsed().as_secs_f64();
    tracing::info!(rows = rows.0.len(), seconds, "impact report written");
    Ok(Written { index, parquet, rows: rows.0.len(), seconds })
}

/// Columns read from each table.
const GRADES: [&str; 5] = ["course_id", "user_id", "percent_grade", "letter_grade", "passed"];
const COURSE_DIFFS: [&str; 6] =
    ["course_id", "user_id", "change", "old_percent_grade", "old_letter_grade", "old_passed"];
const SUBSECTION_DIFFS: [&str; 8] = [
    "course_id",
    "user_id",
    "usage_key",
    "change",
    "old_earned_graded",
    "old_possible_graded",
    "new_earned_graded",
    "new_possible_graded",
];
const SUBSECTIONS: [&str; 5] = ["course_id", "user_id", "usage_key", "earned_graded", "possible_graded"];

/// The courses to compute the pairs of, one at a time (each reads its own partition's files,
/// so memory follows the largest course); `None` alone for a run without courses.
fn course_ids(run: &RunFolder) -> Vec<Option<&str>> {
    let ids: Vec<Option<&str>> = run.courses.iter().map(|c| Some(c.course_id.as_str())).collect();
    if ids.is_empty() {
        vec![None]
    } else {
        ids
    }
}

/// Every comparison's rows, usernames added with `--with-names`, sorted.
fn compute_rows(
    run: &RunFolder,
    baseline: Option<&RunFolder>,
    meta: &mut Meta,
    opts: &ReportOptions,
) -> Result<Rows> {
    let types = types_frame(meta)?;
    let mut pairs = Vec::new();
    for course in course_ids(run) {
        pairs.push(compute::Pairs {
            courses: compute::persisted_course_pairs(
                run.scan("course_grades", &GRADES, course)?,
                run.scan("course_grade_diffs", &COURSE_DIFFS, course)?,
            ),
            subsections: compute::persisted_subsection_pairs(run.scan(
                "subsection_diffs",
                &SUBSECTION_DIFFS,
                course,
            )?),
        });
    }
    let mut rows = compute::impact(Inputs { comparison: "persisted", pairs, types: types.clone() })?;
    if let Some(base) = baseline {
        // Only the courses this run graded: a course only in the baseline has nothing to compare.
        let left_out: Vec<&str> = base
            .courses
            .iter()
            .filter(|b| !run.courses.iter().any(|c| c.course_id == b.course_id))
            .map(|b| b.course_id.as_str())
            .collect();
        if !left_out.is_empty() {
            meta.notes.push(format!("courses only in the baseline run, left out: {}", left_out.join(", ")));
        }
        let mut pairs = Vec::new();
        for course in course_ids(run) {
            pairs.push(compute::Pairs {
                courses: compute::baseline_course_pairs(
                    base.scan("course_grades", &GRADES, course)?,
                    run.scan("course_grades", &GRADES, course)?,
                ),
                subsections: compute::baseline_subsection_pairs(
                    base.scan("subsection_grades", &SUBSECTIONS, course)?,
                    run.scan("subsection_grades", &SUBSECTIONS, course)?,
                    course,
                ),
            });
        }
        rows.extend(compute::impact(Inputs { comparison: "baseline", pairs, types })?);
    }
    if opts.with_names {
        add_usernames(&mut rows, run, opts)?;
    }
    rows.sort();
    Ok(rows)
}

/// Fills `username` of the rows that name a learner (never logged).
fn add_usernames(rows: &mut Rows, run: &RunFolder, opts: &ReportOptions) -> Result<()> {
    let users: HashSet<i64> = rows.0.iter().filter_map(|r| r.user_id).collect();
    let names = meta::usernames(run, opts.meta.input.as_deref(), &users)?;
    for r in rows.0.iter_mut() {
        if let Some(id) = r.user_id {
            r.username = names.get(&id).cloned();
        }
    }
    Ok(())
}

/// `course_id`, `usage_key`, `assignment_type` of every subsection of the graded versions.
fn types_frame(meta: &Meta) -> Result<LazyFrame> {
    let (mut courses, mut keys, mut types) = (Vec::new(), Vec::new(), Vec::new());
    for (course, m) in &meta.courses {
        for (key, sub) in &m.subsections {
            courses.push(course.clone());
            keys.push(key.clone());
            types.push(sub.assignment_type.clone());
        }
    }
    let df = DataFrame::new(
        courses.len(),
        vec![
            Column::new("course_id".into(), courses),
            Column::new("usage_key".into(), keys),
            Column::new("assignment_type".into(), types),
        ],
    )?;
    Ok(df.lazy())
}

/// Writes a file through a temporary name beside it, then renames it into place.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp-regrade");
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming into {}", path.display()))?;
    Ok(())
}
