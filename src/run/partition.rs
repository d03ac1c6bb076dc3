//! Partitions: a course, or a range of its user ids, sized so what a partition holds while it
//! is graded stays under the run's memory budget ([`Budget`]).
//!
//! Planning reads the footers of the course tables that name a learner
//! ([`crate::read::tables::user_column`]) and estimates each course's working set from its row
//! counts ([`row_cost`]). A course over its share of the budget is cut into user id ranges of
//! equal learner counts (from its enrollments' user ids); execution then reads, grades and
//! writes the ranges one after the other, in user id order, into the same files, so the
//! outputs are the same bytes whatever the partitioning.
//!
//! Reading a range fetches only the row groups whose statistics on the learner column overlap
//! it, which is what an export sorted by learner within a course gives (`generate` and
//! `import mysql` write them so). In an unsorted export every range reads the whole course
//! table: still correct and within the budget, only slower, so planning measures it (the
//! [`CoursePartitions::scan_factor`]) and says how to sort.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use anyhow::{Context, Result};
use futures::{StreamExt, TryStreamExt};
use parquet::file::metadata::ParquetMetaData;
use serde::{Deserialize, Serialize};

use crate::read::tables::user_column;
use crate::read::{self, InputError, ObjectReader, TableFile, UserRange};
use crate::store::Location;

/// The run's memory budget and where it came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    pub bytes: u64,
    /// `memory_budget` (the option), or how the default was found.
    pub from: String,
}

/// The share of the machine's memory a run takes when no budget is given.
const DEFAULT_SHARE: f64 = 0.5;

impl Budget {
    /// Half the memory this process may use: the cgroup's limit where one is set (a container),
    /// else the machine's.
    pub fn default_for_machine() -> Budget {
        let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map(|b| (b, "the cgroup's memory.max"));
        let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some((kb * 1024, "the machine's MemTotal"))
        });
        let (bytes, what) = match (cgroup, total) {
            (Some(c), Some(t)) if c.0 < t.0 => c,
            (_, Some(t)) => t,
            (Some(c), None) => c,
            (None, None) => (8 << 30, "an assumed 8 GiB (the machine's memory is unknown)"),
        };
        Budget { bytes: (bytes as f64 * DEFAULT_SHARE) as u64, from: format!("half of {what}") }
    }

    /// Parse a size: bytes, or a number with KiB/MiB/GiB/TiB (or K/M/G/T, KB/MB/GB/TB: all
    /// powers of 1024).
    pub fn parse(text: &str) -> Result<Budget> {
        let t = text.trim();
        let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
        let (number, unit) = t.split_at(split);
        let n: f64 = number.parse().ok().filter(|n: &f64| n.is_finite() && *n > 0.0).with_context(|| {
            format!("memory_budget '{text}' is not a size: give bytes or a number with MiB or GiB, e.g. 4GiB")
        })?;
        let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" | "kib" => 1 << 10,
            "m" | "mb" | "mib" => 1 << 20,
            "g" | "gb" | "gib" => 1 << 30,
            "t" | "tb" | "tib" => 1 << 40,
            other => {
                anyhow::bail!("memory_budget '{text}': unknown unit '{other}'; use MiB or GiB, e.g. 4GiB")
            }
        };
        let bytes = (n * scale as f64) as u64;
        if bytes < MIN_BUDGET {
            anyhow::bail!(
                "memory_budget '{text}' is below the least a run needs ({} MiB); give more, e.g. 1GiB",
                MIN_BUDGET >> 20
            );
        }
        Ok(Budget { bytes, from: "memory_budget".to_string() })
    }
}

/// The least budget accepted.
const MIN_BUDGET: u64 = 64 << 20;
/// What a run holds whatever its courses: the program, the runtimes, buffers.
const BASE_BYTES: u64 = 48 << 20;
/// What one course in flight holds besides its partition: its output files' upload buffers
/// and the row groups being encoded.
pub(crate) const COURSE_OUTPUT_BYTES: u64 = 96 << 20;
/// The least a partition is given, whatever the budget says.
const MIN_PARTITION_BYTES: u64 = 8 << 20;

/// The memory grading one row of `table` takes while its partition is held (the decoded row
/// and what loading builds from it, with the grading state of its learner and the allocator's
/// share), measured on `make bench`'s 20M dataset: resident memory per partition over its
/// rows (`-v` logs each partition's resident memory).
pub(crate) fn row_cost(table: &str) -> u64 {
    match table {
        "studentmodule" => 230,
        "submissions" => 230,
        "persistent_subsection_grades" => 320,
        "persistent_course_grades" => 280,
        "enrollments" => 560,
        _ => 170,
    }
}

/// Output bytes one learner being graded holds (its rows of the four output tables, its
/// report lines and diff rows, before they are encoded).
const OUTPUT_BYTES_PER_LEARNER: u64 = 8 << 10;

/// What grading holds besides the partition's input: a course grades `2 x threads` chunks of
/// `learners_per_chunk` learners at once while it encodes as many (`run::course`'s windows).
fn grading_bytes(threads: usize, learners_per_chunk: usize) -> u64 {
    4 * threads.max(1) as u64 * learners_per_chunk as u64 * OUTPUT_BYTES_PER_LEARNER
}

/// What each course in flight may hold for one partition: the budget less what the run holds
/// anyway (`globals_bytes`: the run-wide lookups), shared by the courses in flight, less each
/// course's output buffers and grading windows.
pub(crate) fn partition_budget(budget: &Budget, globals_bytes: u64, execution: Execution) -> u64 {
    // What the process holds already (the program, the runtimes, the lookups), where the OS
    // tells it, else an estimate.
    let held_now = resident_bytes().unwrap_or(0).max(BASE_BYTES + globals_bytes);
    let left = budget.bytes.saturating_sub(held_now);
    let per_course = left / execution.courses_in_flight.max(1) as u64;
    let held = COURSE_OUTPUT_BYTES + grading_bytes(execution.threads, execution.learners_per_chunk);
    crate::hooks::partition_bytes(per_course.saturating_sub(held).max(MIN_PARTITION_BYTES))
}

/// The process's resident memory (Linux), in bytes.
pub(crate) fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// How a run executes, as far as its memory goes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Execution {
    pub courses_in_flight: usize,
    /// Worker threads (resolved: not 0).
    pub threads: usize,
    pub learners_per_chunk: usize,
}

/// One partition of a course: a range of user ids and what planning expects of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    pub users: UserRange,
    /// Enrolled learners in the range (counted when the course is cut; the course's row count
    /// of `enrollments` otherwise).
    pub learners: u64,
    /// Estimated bytes held while the partition is graded.
    pub estimated_bytes: u64,
}

/// A course's partitions, in user id order, and what planning found of its tables.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CoursePartitions {
    pub partitions: Vec<Partition>,
    /// Rows per table of the course (from the files' footers).
    pub rows: BTreeMap<String, u64>,
    /// Rows the partitions fetch over rows the course has, for its largest table: 1.0 when the
    /// export is sorted by learner within the course; up to the number of partitions when not.
    pub scan_factor: f64,
    /// Row groups of that table: with fewer than two per partition, no order of the rows
    /// could spare the partitions a row group.
    pub row_groups: usize,
}

impl CoursePartitions {
    /// One partition: the whole course.
    pub fn whole(learners: u64, estimated_bytes: u64) -> Self {
        CoursePartitions {
            partitions: vec![Partition { users: UserRange::ALL, learners, estimated_bytes }],
            rows: BTreeMap::new(),
            scan_factor: 1.0,
            row_groups: 0,
        }
    }

    /// Whether the course's rows are not sorted by learner where it matters: its partitions
    /// fetch much more than the course holds, though its row groups could have spared it.
    pub fn unsorted(&self) -> bool {
        self.scan_factor > 1.5 && self.row_groups >= 2 * self.partitions.len()
    }
}

/// A row group of a course table: its rows, and the range of its learner column when the
/// footer has statistics.
#[derive(Clone, Copy, Debug)]
struct Group {
    rows: u64,
    users: Option<(i64, i64)>,
}

/// Every row group, per table and course, of the course tables that name a learner.
type Footers = HashMap<&'static str, HashMap<String, Vec<Group>>>;

/// Plan the partitions of `courses`: each course's row counts from the footers of its
/// tables, its estimated working set, and, over `per_partition` bytes, its cut into user id
/// ranges.
pub(crate) async fn plan_partitions(
    input: &Location,
    files: &HashMap<&'static str, Vec<TableFile>>,
    tables: &[&'static str],
    courses: &[String],
    per_partition: u64,
) -> Result<BTreeMap<String, CoursePartitions>> {
    let wanted: HashSet<&str> = courses.iter().map(String::as_str).collect();
    let footers = read_footers(input, files, tables, &wanted).await?;
    let mut out = BTreeMap::new();
    for course_id in courses {
        let mut rows: BTreeMap<String, u64> = BTreeMap::new();
        let mut estimate = 0u64;
        for (&table, per_course) in &footers {
            let n: u64 = per_course.get(course_id).map_or(0, |g| g.iter().map(|g| g.rows).sum());
            rows.insert(table.to_string(), n);
            estimate += n * row_cost(table);
        }
        let learners = rows.get("enrollments").copied().unwrap_or(0);
        let wanted_parts = estimate.div_ceil(per_partition.max(1)).max(1);
        let mut planned = if wanted_parts <= 1 {
            CoursePartitions::whole(learners, estimate)
        } else {
            let users = enrolled_users(input, files, course_id).await?;
            cut(&users, wanted_parts as usize, estimate)
        };
        (planned.scan_factor, planned.row_groups) = scan_factor(&footers, course_id, &planned.partitions);
        planned.rows = rows;
        out.insert(course_id.clone(), planned);
    }
    Ok(out)
}

/// Cut a course into `parts` ranges of equal learner counts (`users`: its enrolled user
/// ids, sorted, distinct). The first range starts at the lowest id and the last ends at the
/// highest, so every row of the course is in exactly one.
fn cut(users: &[i64], parts: usize, estimate: u64) -> CoursePartitions {
    let parts = parts.clamp(1, users.len().max(1));
    let n = users.len();
    let mut starts: Vec<i64> = (1..parts).map(|k| users[k * n / parts]).collect();
    starts.dedup();
    let mut partitions = Vec::with_capacity(starts.len() + 1);
    let mut from = None;
    for to in starts.iter().map(|&s| Some(s)).chain([None]) {
        let range = UserRange { from, to };
        let learners = users.iter().filter(|&&u| range.contains(u)).count() as u64;
        let estimated_bytes = if n == 0 { estimate } else { estimate * learners / n as u64 };
        partitions.push(Partition { users: range, learners, estimated_bytes });
        from = to;
    }
    CoursePartitions { partitions, rows: BTreeMap::new(), scan_factor: 1.0, row_groups: 0 }
}

/// Rows the partitions fetch (row groups overlapping their range) over the rows of the
/// course, for the course's largest table, and that table's row groups.
fn scan_factor(footers: &Footers, course_id: &str, partitions: &[Partition]) -> (f64, usize) {
    let largest = footers
        .values()
        .filter_map(|per_course| per_course.get(course_id))
        .max_by_key(|groups| groups.iter().map(|g| g.rows).sum::<u64>());
    let Some(groups) = largest else { return (1.0, 0) };
    let total: u64 = groups.iter().map(|g| g.rows).sum();
    if total == 0 || partitions.len() <= 1 {
        return (1.0, groups.len());
    }
    let fetched: u64 = partitions
        .iter()
        .map(|p| {
            groups
                .iter()
                .filter(|g| g.users.is_none_or(|(min, max)| p.users.overlaps(min, max)))
                .map(|g| g.rows)
                .sum::<u64>()
        })
        .sum();
    (fetched as f64 / total as f64, groups.len())
}

/// The distinct user ids enrolled in a course, sorted.
async fn enrolled_users(
    input: &Location,
    files: &HashMap<&'static str, Vec<TableFile>>,
    course_id: &str,
) -> Result<Vec<i64>> {
    use arrow::array::AsArray;
    use arrow::datatypes::Int64Type;
    let only = HashSet::from([course_id.to_string()]);
    let listed = files.get("enrollments").cloned().unwrap_or_default();
    let batches = read::read_files(input, "enrollments", listed, &["user_id"], Some(&only)).await?;
    let mut users: Vec<i64> = batches
        .iter()
        .flat_map(|b| b.column(0).as_primitive::<Int64Type>().iter().flatten().collect::<Vec<_>>())
        .collect();
    users.sort_unstable();
    users.dedup();
    Ok(users)
}

/// The footers of the files of `tables` that name a learner, as row groups per course: a
/// file in a `course_id=` folder belongs to that course; another file's row groups go to the
/// wanted courses its `course_id` statistics may hold.
async fn read_footers(
    input: &Location,
    files: &HashMap<&'static str, Vec<TableFile>>,
    tables: &[&'static str],
    wanted: &HashSet<&str>,
) -> Result<Footers> {
    let mut jobs = Vec::new();
    for &table in tables.iter().filter(|t| user_column(t).is_some()) {
        for f in files.get(table).into_iter().flatten() {
            let folder = f.partitions.iter().find(|(k, _)| k == "course_id").map(|(_, v)| v.clone());
            if folder.as_deref().is_some_and(|c| !wanted.contains(c)) {
                continue;
            }
            jobs.push((table, folder, f.clone()));
        }
    }
    let read = futures::stream::iter(jobs)
        .map(|(table, folder, f)| async move {
            let shown = input.display(&f.meta.location);
            let mut reader = ObjectReader::new(input.store.clone(), f.meta.location.clone(), f.meta.size);
            Ok::<_, InputError>((table, folder, read::footer(table, &shown, &mut reader).await?))
        })
        .buffered(16);
    let read: Vec<(&'static str, Option<String>, Arc<ParquetMetaData>)> = read.try_collect().await?;
    let mut footers: Footers = HashMap::new();
    for (table, folder, metadata) in read {
        let per_course = footers.entry(table).or_default();
        let column = user_column(table).expect("filtered above");
        for (course, group) in groups_of(&metadata, column, folder.as_deref(), wanted) {
            per_course.entry(course).or_default().push(group);
        }
    }
    Ok(footers)
}

/// The row groups of one file, with the course each belongs to.
fn groups_of(
    metadata: &ParquetMetaData,
    user_column: &str,
    folder: Option<&str>,
    wanted: &HashSet<&str>,
) -> Vec<(String, Group)> {
    let schema = metadata.file_metadata().schema_descr();
    let leaf = |name: &str| schema.columns().iter().position(|c| c.path().parts() == [name]);
    let (user_leaf, course_leaf) = (leaf(user_column), leaf("course_id"));
    let mut out = Vec::new();
    for g in metadata.row_groups() {
        let rows = g.num_rows().max(0) as u64;
        let users = user_leaf.and_then(|l| read::int_bounds(g.column(l).statistics()));
        let group = Group { rows, users };
        match folder {
            Some(course) => out.push((course.to_string(), group)),
            None => {
                let stats = course_leaf.and_then(|l| g.column(l).statistics());
                for c in wanted.iter().filter(|c| read::may_hold_bytes(stats, c.as_bytes())) {
                    out.push((c.to_string(), group));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_parse_sizes_and_refuse_nonsense() {
        assert_eq!(Budget::parse("2GiB").unwrap().bytes, 2 << 30);
        assert_eq!(Budget::parse("512 MiB").unwrap().bytes, 512 << 20);
        assert_eq!(Budget::parse("1.5g").unwrap().bytes, 3 << 29);
        assert_eq!(Budget::parse("134217728").unwrap().bytes, 128 << 20);
        for bad in ["", "lots", "2 parsecs", "-1GiB", "1MiB"] {
            assert!(Budget::parse(bad).is_err(), "{bad}");
        }
        let default = Budget::default_for_machine();
        assert!(default.bytes >= 1 << 20 && default.from.starts_with("half of"), "{default:?}");
    }

    #[test]
    fn a_cut_covers_every_user_id_once_with_equal_learner_counts() {
        let users: Vec<i64> = (0..10).map(|i| i * 10 + 3).collect();
        let planned = cut(&users, 3, 900);
        let ranges: Vec<UserRange> = planned.partitions.iter().map(|p| p.users).collect();
        assert_eq!(ranges.first().unwrap().from, None);
        assert_eq!(ranges.last().unwrap().to, None);
        for w in ranges.windows(2) {
            assert_eq!(w[0].to, w[1].from, "ranges meet");
        }
        let learners: Vec<u64> = planned.partitions.iter().map(|p| p.learners).collect();
        assert_eq!(learners, [3, 3, 4]);
        assert_eq!(planned.partitions.iter().map(|p| p.estimated_bytes).sum::<u64>(), 900);
        for u in [i64::MIN, -5, 0, 33, 34, 1000, i64::MAX] {
            assert_eq!(ranges.iter().filter(|r| r.contains(u)).count(), 1, "{u}");
        }
        // Never more parts than learners; none for a course without learners.
        assert_eq!(cut(&users[..2], 5, 10).partitions.len(), 2);
        assert_eq!(cut(&[], 5, 10).partitions.len(), 1);
    }

    #[test]
    fn the_scan_factor_tells_sorted_exports_from_unsorted_ones() {
        let parts = cut(&(0..100).collect::<Vec<i64>>(), 4, 0).partitions;
        let sorted: Vec<Group> =
            (0..10).map(|k| Group { rows: 10, users: Some((k * 10, k * 10 + 9)) }).collect();
        let unsorted: Vec<Group> = (0..10).map(|_| Group { rows: 10, users: Some((0, 99)) }).collect();
        let footers = |groups: Vec<Group>| {
            let mut f: Footers = HashMap::new();
            f.entry("studentmodule").or_default().insert("c".to_string(), groups);
            f
        };
        let (s, groups) = scan_factor(&footers(sorted), "c", &parts);
        assert!((1.0..1.5).contains(&s) && groups == 10, "{s} {groups}");
        assert_eq!(scan_factor(&footers(unsorted.clone()), "c", &parts), (4.0, 10));
        let planned = |(scan_factor, row_groups)| CoursePartitions {
            partitions: parts.clone(),
            rows: BTreeMap::new(),
            scan_factor,
            row_groups,
        };
        assert!(planned(scan_factor(&footers(unsorted.clone()), "c", &parts)).unsorted());
        // Too few row groups for any order to help: not called unsorted.
        assert!(!planned(scan_factor(&footers(unsorted[..3].to_vec()), "c", &parts)).unsorted());
    }
}
