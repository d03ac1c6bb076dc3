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

/// Every comparison's rows, usernames added with `--with-names`, sorted.
fn compute_rows(
    run: &RunFolder,
    baseline: Option<&RunFolder>,
    meta: &mut Meta,
    opts: &ReportOptions,
) -> Result<Rows> {
    let types = types_frame(meta)?;
    let grades =
        || run.scan("course_grades", &["course_id", "user_id", "percent_grade", "letter_grade", "passed"]);
    let diff_cols = ["course_id", "user_id", "change", "old_percent_grade", "old_letter_grade", "old_passed"];
    let sub_diff_cols = [
        "course_id",
        "user_id",
        "usage_key",
        "change",
        "old_earned_graded",
        "old_possible_graded",
        "new_earned_graded",
        "new_possible_graded",
    ];
    let mut rows = compute::impact(Inputs {
        comparison: "persisted",
        courses: compute::persisted_course_pairs(grades()?, run.scan("course_grade_diffs", &diff_cols)?),
        subsections: compute::persisted_subsection_pairs(run.scan("subsection_diffs", &sub_diff_cols)?),
        types: types.clone(),
    })?;
    if let Some(base) = baseline {
        // Only the courses this run graded: a course only in the baseline has nothing to compare.
        let ours = courses_frame(run)?;
        let only_ours = |f: LazyFrame| {
            f.join(ours.clone(), [col("course_id")], [col("course_id")], JoinArgs::new(JoinType::Inner))
        };
        let left_out: Vec<&str> = base
            .courses
            .iter()
            .filter(|b| !run.courses.iter().any(|c| c.course_id == b.course_id))
            .map(|b| b.course_id.as_str())
            .collect();
        if !left_out.is_empty() {
            meta.notes.push(format!("courses only in the baseline run, left out: {}", left_out.join(", ")));
        }
        let sub_cols = ["course_id", "user_id", "usage_key", "earned_graded", "possible_graded"];
        let base_grades = only_ours(
            base.scan("course_grades", &["course_id", "user_id", "percent_grade", "letter_grade", "passed"])?,
        );
        rows.extend(compute::impact(Inputs {
            comparison: "baseline",
            courses: compute::baseline_course_pairs(base_grades, grades()?),
            subsections: compute::baseline_subsection_pairs(
                only_ours(base.scan("subsection_grades", &sub_cols)?),
                run.scan("subsection_grades", &sub_cols)?,
            ),
            types,
        })?);
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

/// The run's course ids, one column.
fn courses_frame(run: &RunFolder) -> Result<LazyFrame> {
    let ids: Vec<String> = run.courses.iter().map(|c| c.course_id.clone()).collect();
    Ok(DataFrame::new(ids.len(), vec![Column::new("course_id".into(), ids)])?.lazy())
}

/// Writes a file through a temporary name beside it, then renames it into place.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp-regrade");
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming into {}", path.display()))?;
    Ok(())
}
