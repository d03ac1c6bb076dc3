//! Reading the input tables of the data contract from any object-store URL.
//!
//! A table is every Parquet file under `<root>/<table>/`, listed recursively, so exports may
//! be split into parts and Hive-partitioned (`<table>/course_id=<escaped id>/part-0.parquet`),
//! or one file `<root>/<table>.parquet`; [`discover`] decides which files those are and lists
//! what is not read. For each file the reader:
//!
//! 1. checks the file's schema against `schemas/input/<table>.json` before decoding any data,
//!    reporting every missing column, wrong type and duplicate column name at once;
//! 2. decodes only the requested columns (Parquet projection);
//! 3. normalises them to canonical Arrow types (any int -> Int64, float32/64 -> Float64, any
//!    string -> Utf8, any timestamp -> Timestamp(us, "UTC"), list of strings -> List<Utf8>), and
//!    converts the lossless variants [`convert`] accepts (integer 0/1 booleans, integers and
//!    decimals where floats are expected), refusing a value that would not convert exactly;
//! 4. checks that non-nullable columns hold no nulls, naming the first offending row;
//! 5. with a course filter, skips Hive partitions of other courses and filters the other rows.
//!
//! Errors about the input are [`InputError`]s (or [`SchemaError`](crate::schema::SchemaError)s
//! inside one), so the command line can exit with code 2 for "unreadable input".

pub mod batch;
mod columns;
mod convert;
pub mod discover;
mod parquet;
pub mod tables;

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use anyhow::Result;
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectMeta;

pub use self::convert::normalise;
pub use self::parquet::{dictionary_type, ObjectReader, SOURCE_KEY};
pub(crate) use self::parquet::{footer, int_bounds, may_hold_bytes};
use crate::schema::{self, Schema};
use crate::store::Location;

/// A range of user ids, `from` included and `to` excluded (`None`: unbounded): the learners
/// of one partition of a course. Rows of the course tables that name a learner
/// ([`tables::user_column`]) are read only for the range: row groups whose statistics on that
/// column lie outside it are not fetched, and the other rows are filtered out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UserRange {
    /// The first user id of the range (`None`: from the lowest).
    pub from: Option<i64>,
    /// The first user id after the range (`None`: to the highest).
    pub to: Option<i64>,
}

impl UserRange {
    /// Every user id.
    pub const ALL: UserRange = UserRange { from: None, to: None };

    /// Whether the range holds every user id.
    pub fn is_all(&self) -> bool {
        self.from.is_none() && self.to.is_none()
    }

    /// Whether `user` is in the range.
    pub fn contains(&self, user: i64) -> bool {
        self.from.is_none_or(|f| user >= f) && self.to.is_none_or(|t| user < t)
    }

    /// Whether some id in `min..=max` is in the range.
    pub fn overlaps(&self, min: i64, max: i64) -> bool {
        self.from.is_none_or(|f| max >= f) && self.to.is_none_or(|t| min < t)
    }
}

impl fmt::Display for UserRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.from, self.to) {
            (None, None) => write!(f, "all users"),
            (Some(a), None) => write!(f, "user_id >= {a}"),
            (None, Some(b)) => write!(f, "user_id < {b}"),
            (Some(a), Some(b)) => write!(f, "{a} <= user_id < {b}"),
        }
    }
}

/// How many files are read at once.
const CONCURRENT_FILES: usize = 4;

/// The input cannot be read as the contract describes: missing table, bad schema, corrupt file.
#[derive(Debug)]
pub struct InputError {
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
    /// The input could not be fetched (the object store failed after its retries): not bad
    /// input, so not exit code 2; running again may succeed.
    fetch: bool,
}

impl InputError {
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), source: None, fetch: false }
    }

    pub(crate) fn with_source(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self { message: message.into(), source: Some(Box::new(source)), fetch: false }
    }

    /// A file the object store failed to deliver (see [`InputError::fetch`]).
    pub(crate) fn fetch_failed(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self { fetch: true, ..Self::with_source(message, source) }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for InputError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<schema::SchemaError> for InputError {
    fn from(e: schema::SchemaError) -> Self {
        // The schema error's text (every problem, then the hint) is the whole message.
        Self::new(e.to_string())
    }
}

/// True when an error (anywhere in its chain) means "the input is unreadable or invalid".
pub fn is_input_error(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<InputError>().is_some_and(|i| !i.fetch)
            || e.is::<schema::SchemaError>()
            || e.is::<schema::UnknownName>()
    })
}

/// Canonical Arrow schema of the batches [`read_table`] returns for these columns
/// (all columns of the table when `columns` is empty).
pub fn table_schema(table: &str, columns: &[&str]) -> Result<SchemaRef, schema::UnknownName> {
    let schema = schema::input(table)?;
    if columns.is_empty() {
        Ok(schema.arrow_schema())
    } else {
        schema.project(columns)
    }
}

/// One data file of a table.
#[derive(Debug, Clone)]
pub struct TableFile {
    pub meta: ObjectMeta,
    /// Hive `key=value` folders between the table folder and the file, values unescaped.
    pub partitions: Vec<(String, String)>,
}

/// The data files of a table, sorted by path (so reads are deterministic): see
/// [`discover`] for which files make a table. A table that cannot be read as found (a
/// required table without files, a table both at the root and in a folder, a folder of files
/// none of which is Parquet) is an error naming the table and what to do. Inputs not read are
/// warned about.
pub async fn list_table_files(loc: &Location, table: &str) -> Result<Vec<TableFile>> {
    let inv = discover::inventory(loc, &[table]).await?;
    inv.warn();
    let mut files = inv.into_files()?;
    Ok(files.remove(table).unwrap_or_default())
}

/// Read an input table: `columns` of every file of the table (all columns when
/// empty), checked and normalised, optionally only the rows of `courses`.
///
/// A required table with no files is an error; an optional one returns no batches. Batches come
/// in file order, then row order within a file, all with the schema of [`table_schema`].
pub async fn read_table(
    loc: &Location,
    table: &str,
    columns: &[&str],
    courses: Option<&HashSet<String>>,
) -> Result<Vec<RecordBatch>> {
    let files = list_table_files(loc, table).await?;
    read_files(loc, table, files, columns, courses).await
}

/// Read already-listed files of a table (see [`list_table_files`]): like [`read_table`], but
/// without listing, so a run that reads many courses lists each table once. Files whose
/// `course_id=` partition is not in `courses` are skipped, and within a file, row groups whose
/// `course_id` statistics rule out every wanted course are not fetched.
pub async fn read_files(
    loc: &Location,
    table: &str,
    files: Vec<TableFile>,
    columns: &[&str],
    courses: Option<&HashSet<String>>,
) -> Result<Vec<RecordBatch>> {
    read_files_with(loc, table, files, columns, courses, &[], UserRange::ALL).await
}

/// [`read_files`], with the string columns named in `dictionary` returned dictionary-encoded
/// (`Dictionary(Int32, Utf8)`, see [`parquet::dictionary_type`]) instead of `Utf8`, and only
/// the rows of the learners in `users` (when the table names a learner,
/// [`tables::user_column`], and that column is read).
pub async fn read_files_with(
    loc: &Location,
    table: &str,
    files: Vec<TableFile>,
    columns: &[&str],
    courses: Option<&HashSet<String>>,
    dictionary: &[&str],
    users: UserRange,
) -> Result<Vec<RecordBatch>> {
    let schema: &'static Schema = schema::input(table)?;
    let columns: Vec<String> = if columns.is_empty() {
        schema.columns.iter().map(|c| c.name.clone()).collect()
    } else {
        columns.iter().map(|c| c.to_string()).collect()
    };
    let wanted: Vec<&str> = columns.iter().map(String::as_str).collect();
    let projected = schema.project(&wanted)?;
    let dictionary: Vec<String> =
        dictionary.iter().filter(|d| wanted.contains(d)).map(|d| d.to_string()).collect();
    let out_schema: SchemaRef = Arc::new(arrow::datatypes::Schema::new_with_metadata(
        projected
            .fields()
            .iter()
            .map(|f| match dictionary.contains(f.name()) {
                true => f.as_ref().clone().with_data_type(parquet::dictionary_type()),
                false => f.as_ref().clone(),
            })
            .collect::<Vec<_>>(),
        projected.metadata().clone(),
    ));
    let courses = courses.map(|c| Arc::new(c.clone()));
    let has_course_id = schema.column("course_id").is_some();
    let user_filter =
        tables::user_column(table).filter(|c| !users.is_all() && columns.iter().any(|n| n == c));
    if !users.is_all() && user_filter.is_none() {
        anyhow::bail!("{table}: cannot read the rows of {users}: its learner column is not read");
    }
    let requests: Vec<parquet::FileRequest> = files
        .into_iter()
        .filter(|f| match (&courses, has_course_id) {
            (Some(courses), true) => {
                f.partitions.iter().filter(|(k, _)| k == "course_id").all(|(_, v)| courses.contains(v))
            }
            _ => true,
        })
        .map(|f| {
            let courses = courses.clone().filter(|_| has_course_id);
            let mut req = file_request(loc, schema, f, &columns, courses, &dictionary, &out_schema);
            req.users = user_filter.map(|c| (c, users));
            req
        })
        .collect();
    let n_files = requests.len();
    let per_file: Vec<Vec<RecordBatch>> =
        futures::stream::iter(requests).map(read_one).buffered(CONCURRENT_FILES).try_collect().await?;
    let batches: Vec<RecordBatch> = per_file.into_iter().flatten().collect();
    tracing::debug!(
        table,
        files = n_files,
        rows = batches.iter().map(|b| b.num_rows()).sum::<usize>(),
        "read table"
    );
    Ok(batches)
}

/// [`read_table`] for callers outside a tokio runtime (starts a runtime for the call). Inside
/// a runtime, await [`read_table`] instead: this returns an error there rather than panic.
pub fn read_table_blocking(
    loc: &Location,
    table: &str,
    columns: &[&str],
    courses: Option<&HashSet<String>>,
) -> Result<Vec<RecordBatch>> {
    if tokio::runtime::Handle::try_current().is_ok() {
        anyhow::bail!("read_table_blocking called inside a tokio runtime; await read_table instead");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(read_table(loc, table, columns, courses))
}

/// What [`check_table`] found in one table.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TableCheck {
    pub files: usize,
    pub rows: usize,
    /// One message per failing file (or for a missing required table).
    pub errors: Vec<String>,
}

/// Checks every file of an input table against its schema (types, required columns, nulls,
/// readability), one file at a time so memory stays bounded by the largest file, and
/// collects every failure instead of stopping at the first. `listing` is the table's part of
/// a [`discover::inventory`]: a table that cannot be read as found is one failure.
pub async fn check_table(loc: &Location, table: &str, listing: &discover::Listing) -> Result<TableCheck> {
    let schema: &'static Schema = schema::input(table)?;
    let columns: Vec<String> = schema.columns.iter().map(|c| c.name.clone()).collect();
    let wanted: Vec<&str> = columns.iter().map(String::as_str).collect();
    let out_schema = schema.project(&wanted)?;
    let mut check = TableCheck { files: listing.files.len(), ..TableCheck::default() };
    if let Some(problem) = &listing.problem {
        check.errors.push(problem.clone());
        return Ok(check);
    }
    let results: Vec<Result<usize, InputError>> = futures::stream::iter(listing.files.clone())
        .map(|f| {
            let req = file_request(loc, schema, f, &columns, None, &[], &out_schema);
            async move { read_one(req).await.map(|batches| batches.iter().map(RecordBatch::num_rows).sum()) }
        })
        .buffered(CONCURRENT_FILES)
        .collect()
        .await;
    for r in results {
        match r {
            Ok(rows) => check.rows += rows,
            Err(e) => check.errors.push(e.to_string()),
        }
    }
    Ok(check)
}

/// The read request of one file of a table.
fn file_request(
    loc: &Location,
    schema: &'static Schema,
    f: TableFile,
    columns: &[String],
    courses: Option<Arc<HashSet<String>>>,
    dictionary: &[String],
    out_schema: &SchemaRef,
) -> parquet::FileRequest {
    parquet::FileRequest {
        schema,
        store: loc.store.clone(),
        shown: loc.display(&f.meta.location),
        path: f.meta.location,
        size: f.meta.size,
        columns: columns.to_vec(),
        partitions: f.partitions,
        courses,
        users: None,
        dictionary: dictionary.to_vec(),
        out_schema: out_schema.clone(),
    }
}

/// Reads one file on its own task, so a panic in the Parquet decoder becomes an error
/// naming the file instead of taking the process down.
async fn read_one(req: parquet::FileRequest) -> Result<Vec<RecordBatch>, InputError> {
    let shown = req.shown.clone();
    let table = req.schema.table.clone();
    match tokio::spawn(parquet::read_file(req)).await {
        Ok(result) => result,
        Err(join) => Err(InputError::new(format!(
            "{table}: file '{shown}': the Parquet decoder failed on this file ({join}); \
             it is probably corrupt: re-export or remove it"
        ))),
    }
}
