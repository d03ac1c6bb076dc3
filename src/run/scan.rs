//! `regrade scan`: the read floor. Reads exactly what `regrade run` reads (the same tables,
//! the same projected columns, the same per-course filters, the same threads and courses in
//! flight) and decodes it into Arrow, then drops it: no grading, no diff, no writing.
//!
//! Its time is the least a run over the same input can take with this reader, so a run's
//! time divided by the scan's says how much the rest of the pipeline costs (`make bench`
//! prints that ratio). It is also a quick check of an object store's throughput before a
//! large run.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Result;
use rayon::prelude::*;
use serde::Serialize;

use super::options::CourseSelection;
use super::plan::{plan, Plan, PlanSettings};
use super::runtime;
use crate::error::UsageError;
use crate::load;
use crate::load::catalog::VersionChoice;
use crate::load::globals::read_course;
use crate::read::tables::{columns_for, COURSE_TABLES, GLOBAL_TABLES};
use crate::read::{self, UserRange};
use crate::store;

/// What to scan.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    pub input: String,
    pub courses: CourseSelection,
    /// Worker threads (0: one per core).
    pub threads: usize,
    pub courses_in_flight: usize,
}

/// What a scan read.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScanReport {
    pub courses: usize,
    pub threads: usize,
    /// Rows decoded, per table.
    pub rows: BTreeMap<String, usize>,
    pub total_rows: usize,
    /// Bytes of the Parquet files listed (what the run fetches at most).
    pub input_bytes: u64,
    pub seconds: f64,
    pub rows_per_second: f64,
}

/// Read every input column a run needs and drop it. Unreadable input is an error, as in `run`.
pub fn scan(opts: &ScanOptions) -> Result<ScanReport> {
    let started = Instant::now();
    if opts.threads > super::options::MAX_THREADS {
        let max = super::options::MAX_THREADS;
        return Err(UsageError::new(format!("threads must be between 0 (one per core) and {max}")).into());
    }
    let threads = super::resolve_threads(opts.threads);
    let rt = runtime(threads)?;
    let input = store::open(&opts.input).map_err(crate::error::usage)?;
    let settings = PlanSettings {
        courses: &opts.courses,
        version: &VersionChoice::Latest,
        course_tables: COURSE_TABLES,
    };
    let Plan { files, inputs, courses, .. } = rt.block_on(plan(&input, &settings))?;
    let mut rows: BTreeMap<String, usize> = BTreeMap::new();
    for &t in GLOBAL_TABLES {
        let batches = rt.block_on(read::read_files(&input, t, files[t].clone(), columns_for(t), None))?;
        *rows.entry(t.to_string()).or_default() += load::rows(&batches);
    }
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
    let per_course: Vec<Result<BTreeMap<String, usize>>> = pool.install(|| {
        courses
            .chunks(opts.courses_in_flight.max(1))
            .flat_map(|group| {
                group
                    .par_iter()
                    .map(|c| {
                        let tables = read_course(
                            &rt,
                            &input,
                            &files,
                            &c.course_id,
                            COURSE_TABLES.iter().copied(),
                            UserRange::ALL,
                        )?;
                        Ok(tables.iter().map(|(t, b)| (t.to_string(), load::rows(b))).collect())
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    });
    for r in per_course {
        for (t, n) in r? {
            *rows.entry(t).or_default() += n;
        }
    }
    let total_rows = rows.values().sum();
    let seconds = started.elapsed().as_secs_f64();
    Ok(ScanReport {
        courses: courses.len(),
        threads,
        rows,
        total_rows,
        input_bytes: inputs.values().map(|i| i.bytes).sum(),
        seconds,
        rows_per_second: if seconds > 0.0 { total_rows as f64 / seconds } else { 0.0 },
    })
}
