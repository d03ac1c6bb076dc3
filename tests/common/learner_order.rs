//! How a course's learner tables are laid out by learner, read from the Parquet files
//! themselves (footers and values, with the `parquet` crate): what `regrade run`'s partitions,
//! which fetch only the row groups whose learner min/max overlap their range, depend on.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow::array::AsArray;
use arrow::datatypes::{DataType, Int64Type};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::statistics::Statistics;

/// The learner tables of the data contract and their learner column.
pub const LEARNER_TABLES: &[(&str, &str)] = &[
    ("studentmodule", "student_id"),
    ("enrollments", "user_id"),
    ("submissions", "user_id"),
    ("persistent_subsection_grades", "user_id"),
    ("persistent_course_grades", "user_id"),
    ("cohort_memberships", "user_id"),
    ("partition_groups", "user_id"),
    ("library_selections", "user_id"),
    ("team_memberships", "user_id"),
    ("certificate_allowlist", "user_id"),
    ("generated_certificates", "user_id"),
];

/// One row group of a file: its learner min and max (from the footer) and rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Group {
    pub min: i64,
    pub max: i64,
    pub rows: i64,
}

/// One Parquet file of a course: its name, row groups in file order, and whether its learner
/// values are non-decreasing (read from the data, not the footer).
#[derive(Debug)]
pub struct FileLayout {
    pub name: String,
    pub groups: Vec<Group>,
    pub sorted: bool,
}

/// Per course (the escaped `course_id=` folder name), the files of `<root>/<table>/` in name
/// order.
pub fn layout(root: &Path, table: &str, column: &str) -> BTreeMap<String, Vec<FileLayout>> {
    let mut out = BTreeMap::new();
    let Ok(dirs) = std::fs::read_dir(root.join(table)) else { return out };
    for dir in dirs {
        let dir = dir.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let Some(course) = name.strip_prefix("course_id=") else { continue };
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
            .collect();
        files.sort();
        out.insert(course.to_string(), files.iter().map(|f| file_layout(f, column)).collect());
    }
    out
}

fn file_layout(path: &Path, column: &str) -> FileLayout {
    let reader = SerializedFileReader::new(std::fs::File::open(path).unwrap()).unwrap();
    let meta = reader.metadata();
    let idx = meta
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .position(|c| c.name() == column)
        .unwrap_or_else(|| panic!("{}: no column {column}", path.display()));
    let groups = meta
        .row_groups()
        .iter()
        .map(|rg| {
            let (min, max) = match rg.column(idx).statistics() {
                Some(Statistics::Int64(s)) => (*s.min_opt().unwrap(), *s.max_opt().unwrap()),
                Some(Statistics::Int32(s)) => {
                    (i64::from(*s.min_opt().unwrap()), i64::from(*s.max_opt().unwrap()))
                }
                other => panic!("{}: {column} has no integer min/max: {other:?}", path.display()),
            };
            Group { min, max, rows: rg.num_rows() }
        })
        .collect();
    let values = values(path, column);
    FileLayout {
        name: path.file_name().unwrap().to_string_lossy().into_owned(),
        groups,
        sorted: values.windows(2).all(|w| w[0] <= w[1]),
    }
}

/// The learner column of a file, in file order.
pub fn values(path: &Path, column: &str) -> Vec<i64> {
    let file = std::fs::File::open(path).unwrap();
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let idx = builder.parquet_schema().columns().iter().position(|c| c.name() == column).unwrap();
    let mask = parquet::arrow::ProjectionMask::leaves(builder.parquet_schema(), [idx]);
    let mut out = Vec::new();
    for batch in builder.with_projection(mask).build().unwrap() {
        let col = arrow::compute::cast(batch.unwrap().column(0), &DataType::Int64).unwrap();
        out.extend(col.as_primitive::<Int64Type>().iter().map(|v| v.unwrap()));
    }
    out
}

/// The row groups of a course gathered into clusters of overlapping learner ranges (sharing
/// an end value is not overlapping): each cluster as (min, max, rows, row groups).
pub fn clusters<'a>(files: impl IntoIterator<Item = &'a FileLayout>) -> Vec<(i64, i64, i64, usize)> {
    let mut groups: Vec<Group> = files.into_iter().flat_map(|f| f.groups.iter().copied()).collect();
    groups.sort();
    let mut out: Vec<(i64, i64, i64, usize)> = Vec::new();
    for g in groups {
        match out.last_mut() {
            Some(c) if g.min < c.1 => {
                c.1 = c.1.max(g.max);
                c.2 += g.rows;
                c.3 += 1;
            }
            _ => out.push((g.min, g.max, g.rows, 1)),
        }
    }
    out
}

/// Rows a reader of the course fetches, over the rows of the course, when it reads the course
/// in `parts` ranges of equally many of `learners` (sorted, distinct) and fetches every row
/// group whose min/max overlaps a range: 1.0 is no waste; a course written in learner-random
/// order gives about `parts`.
pub fn read_amplification<'a>(
    files: impl IntoIterator<Item = &'a FileLayout>,
    learners: &[i64],
    parts: usize,
) -> f64 {
    let groups: Vec<Group> = files.into_iter().flat_map(|f| f.groups.iter().copied()).collect();
    let total: i64 = groups.iter().map(|g| g.rows).sum();
    if total == 0 || learners.is_empty() {
        return 1.0;
    }
    let mut fetched = 0;
    for p in 0..parts {
        let (a, b) = (p * learners.len() / parts, (p + 1) * learners.len() / parts);
        if a == b {
            continue;
        }
        let (lo, hi) = (learners[a], learners[b - 1]);
        fetched += groups.iter().filter(|g| g.max >= lo && g.min <= hi).map(|g| g.rows).sum::<i64>();
    }
    fetched as f64 / total as f64
}
