//! Which files under the input root make each table, and what is not read.
//!
//! A table is either the folder `<root>/<table>/` (every data file in it, recursively, so
//! exports may be split into parts and Hive-partitioned) or one file at the root named
//! `<table>.parquet` (or `.pq`, any case); both at once is ambiguous and refused. In a table's
//! folder a file is data when its name ends in `.parquet` or `.pq` (any case), or when it starts
//! with Parquet's magic bytes `PAR1` whatever its name (Hive's `000000_0`, Spark's
//! `part-00000-...-c000`): only files without a Parquet extension are opened, and only their
//! first four bytes are fetched.
//!
//! Nothing under the root goes unread without a word. Well-known writer markers are skipped
//! silently ([`is_marker`], and Hadoop checksums `.<file>.crc` of a file beside them); anything
//! else that is not read is listed in [`Inventory::ignored`] (the manifest's `ignored_inputs`)
//! and warned about: folders and files at the root that are not tables, hidden files and
//! folders (`_temporary/`: a write in progress or one that failed), files that are not Parquet.
//! What would silently lose data is refused instead: a folder or root file whose name is a
//! likely typo of a table's, a root file named as a table that is not Parquet, a table folder
//! holding files none of which is Parquet (read as empty, every persisted row would be "new").

use std::collections::{BTreeMap, BTreeSet, HashSet};

use anyhow::Result;
use futures::{StreamExt, TryStreamExt};
use object_store::{ObjectMeta, ObjectStoreExt};

use super::{InputError, TableFile};
use crate::schema;
use crate::store::partition::unescape_partition_value;
use crate::store::Location;

/// Parquet's magic bytes, at the start and the end of every Parquet file.
const MAGIC: &[u8; 4] = b"PAR1";

/// First-bytes checks in flight at once (each a 4-byte range request).
const MAGIC_CHECKS: usize = 16;

/// At most this many unread files are named in one error message.
const NAMED_IN_ERRORS: usize = 5;

/// Something under the input root that is not read, and why.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ignored {
    /// Relative to the input root (`exports_2026`, `submissions/README.txt`).
    pub path: String,
    pub why: &'static str,
}

/// What one table is made of.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// Its data files, sorted by path.
    pub files: Vec<TableFile>,
    /// Why the table cannot be read (missing required table, ambiguous, no Parquet among its
    /// files), as a message for the operator.
    pub problem: Option<String>,
}

/// Every table asked for, and what under the root is not read.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    pub tables: BTreeMap<String, Listing>,
    /// Not read, sorted by path.
    pub ignored: Vec<Ignored>,
    /// Problems of the root not tied to one table (a misspelt table name).
    pub problems: Vec<String>,
}

impl Inventory {
    /// Warn (on stderr, through the log) about every input that is not read.
    pub fn warn(&self) {
        for i in &self.ignored {
            tracing::warn!(path = %i.path, reason = i.why, "input not read (listed under ignored_inputs); move it out of the input root, or fix it if it holds data");
        }
    }

    /// The relative paths of [`Inventory::ignored`] (the manifest's `ignored_inputs`).
    pub(crate) fn ignored_paths(&self) -> Vec<String> {
        self.ignored.iter().map(|i| i.path.clone()).collect()
    }

    /// Every problem: the root's, then each table's.
    pub(crate) fn all_problems(&self) -> Vec<String> {
        let tables = self.tables.values().filter_map(|l| l.problem.clone());
        self.problems.iter().cloned().chain(tables).collect()
    }

    /// The files of every table, or one input error listing every problem.
    pub(crate) fn into_files(self) -> Result<BTreeMap<String, Vec<TableFile>>, InputError> {
        let problems = self.all_problems();
        if !problems.is_empty() {
            return Err(InputError::new(problems.join("\n")));
        }
        Ok(self.tables.into_iter().map(|(t, l)| (t, l.files)).collect())
    }
}

fn is_hidden(name: &str) -> bool {
    name.starts_with('_') || name.starts_with('.')
}

/// Markers writers leave beside data files, never data, skipped without a word: Spark's and
/// Hadoop's `_SUCCESS`, Databricks' `_started_<id>` and `_committed_<id>`, and Parquet summary
/// files `_metadata` / `_common_metadata` (footers of other files; reading them as data would
/// be wrong).
pub(crate) fn is_marker(name: &str) -> bool {
    matches!(name, "_SUCCESS" | "_metadata" | "_common_metadata")
        || name.starts_with("_started_")
        || name.starts_with("_committed_")
}

/// `.parquet` or `.pq`, in any case.
fn has_parquet_extension(name: &str) -> bool {
    name.rsplit_once('.').is_some_and(|(stem, ext)| {
        !stem.is_empty() && (ext.eq_ignore_ascii_case("parquet") || ext.eq_ignore_ascii_case("pq"))
    })
}

/// A root file's name up to its first dot: the table it names (`submissions.snappy.parquet`).
fn stem(name: &str) -> &str {
    name.split('.').next().unwrap_or(name)
}

/// Levenshtein distance (names are short).
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The contract's table a name is within two edits of (a likely typo), if any.
fn near_table<'a>(known: &[&'a str], name: &str) -> Option<&'a str> {
    known.iter().copied().find(|k| edit_distance(k, name) <= 2)
}

/// Whether an object starts with Parquet's magic bytes (reads four bytes, not the file).
async fn starts_with_magic(loc: &Location, meta: &ObjectMeta) -> Result<bool, InputError> {
    if meta.size < MAGIC.len() as u64 {
        return Ok(false);
    }
    let head = loc.store.get_range(&meta.location, 0..MAGIC.len() as u64).await.map_err(|e| {
        InputError::fetch_failed(
            format!(
                "file '{}': cannot fetch its first bytes from the object store (it failed after \
                 the retries and timeouts set by the REGRADE_STORE_* variables); check the store, \
                 then run again",
                loc.display(&meta.location)
            ),
            e,
        )
    })?;
    Ok(head.as_ref() == MAGIC)
}

/// Which of `candidates` start with Parquet's magic bytes, checked concurrently; in order.
async fn with_magic(loc: &Location, candidates: Vec<ObjectMeta>) -> Result<Vec<(ObjectMeta, bool)>> {
    Ok(futures::stream::iter(candidates)
        .map(|meta| async move {
            let magic = starts_with_magic(loc, &meta).await?;
            Ok::<_, InputError>((meta, magic))
        })
        .buffered(MAGIC_CHECKS)
        .try_collect()
        .await?)
}

/// The root listed with a delimiter, sorted into what concerns each table.
#[derive(Default)]
struct Root {
    /// Table folders present.
    folders: HashSet<String>,
    /// Root files naming each table (`<table>.parquet`, `<table>.csv`, `<table>`).
    files: BTreeMap<String, Vec<ObjectMeta>>,
    ignored: Vec<Ignored>,
    problems: Vec<String>,
}

async fn list_root(loc: &Location) -> Result<Root> {
    let listed = loc.store.list_with_delimiter(Some(&loc.prefix)).await.map_err(|e| {
        InputError::with_source(
            format!("cannot list the input root '{}' (check the URL and the credentials)", loc.url),
            e,
        )
    })?;
    let known: Vec<&str> = schema::inputs().map(|s| s.table.as_str()).collect();
    let mut root = Root::default();
    for p in listed.common_prefixes {
        let Some(name) = p.filename() else { continue };
        if known.contains(&name) {
            root.folders.insert(name.to_string());
        } else if is_hidden(name) {
            root.ignored.push(Ignored { path: name.into(), why: HIDDEN_FOLDER });
        } else if let Some(meant) = near_table(&known, name) {
            root.problems.push(format!(
                "input folder '{}' is not a table of the data contract; did you mean '{meant}'? Its \
                 rows would be ignored: rename the folder (see `regrade schema`)",
                loc.display(&p)
            ));
        } else {
            root.ignored.push(Ignored { path: name.into(), why: NOT_A_TABLE });
        }
    }
    let names: HashSet<String> =
        listed.objects.iter().filter_map(|m| m.location.filename().map(str::to_string)).collect();
    for meta in listed.objects {
        let Some(name) = meta.location.filename().map(str::to_string) else { continue };
        if is_marker(&name) || is_checksum_of_sibling(&name, |n| names.contains(n)) {
            continue;
        }
        if is_hidden(&name) {
            root.ignored.push(Ignored { path: name, why: HIDDEN_FILE });
        } else if known.contains(&stem(&name)) {
            root.files.entry(stem(&name).to_string()).or_default().push(meta);
        } else if let Some(meant) = near_table(&known, stem(&name)) {
            root.problems.push(format!(
                "input file '{}' is not a table of the data contract; did you mean '{meant}'? Its \
                 rows would be ignored: rename it '{meant}.parquet' or move it into '{meant}/'",
                loc.display(&meta.location)
            ));
        } else {
            root.ignored.push(Ignored { path: name, why: NOT_A_TABLE_FILE });
        }
    }
    Ok(root)
}

const HIDDEN_FOLDER: &str = "a hidden folder: writers stage unfinished or failed output in folders \
                             whose names start with '_' or '.'";
const HIDDEN_FILE: &str = "a hidden file: its name starts with '_' or '.'";
const NOT_A_TABLE: &str = "not a table of the data contract (see `regrade schema`)";
const NOT_A_TABLE_FILE: &str = "not a table of the data contract: a table is a folder '<table>/' or a \
                                file '<table>.parquet' (see `regrade schema`)";
const NOT_PARQUET: &str = "not Parquet: it does not start with Parquet's magic bytes PAR1";

/// Hadoop's checksum `.<name>.crc` of a file `<name>` listed beside it.
fn is_checksum_of_sibling(name: &str, sibling: impl Fn(&str) -> bool) -> bool {
    name.strip_prefix('.').and_then(|n| n.strip_suffix(".crc")).is_some_and(sibling)
}

/// Find the files of `tables` (and everything under the root that is not read). Fails only
/// when the store cannot be listed; what is wrong with the input is in the inventory's
/// problems, so `check` can report all of it and `run` refuse it at once.
pub async fn inventory(loc: &Location, tables: &[&str]) -> Result<Inventory> {
    let mut root = list_root(loc).await?;
    let mut inv = Inventory { problems: std::mem::take(&mut root.problems), ..Inventory::default() };
    let mut ignored: BTreeSet<Ignored> = root.ignored.drain(..).collect();
    for &table in tables {
        let schema = schema::input(table)?;
        let folder = match root.folders.contains(table) {
            true => Some(list_folder(loc, table).await?),
            false => None,
        };
        let singles = root.files.remove(table).unwrap_or_default();
        let singles = with_magic_unless_named(loc, singles).await?;
        let listing = table_listing(loc, schema, folder.as_ref(), &singles);
        if let Some(f) = &folder {
            ignored.extend(f.ignored.iter().cloned());
        }
        inv.tables.insert(table.to_string(), listing);
    }
    inv.ignored = ignored.into_iter().collect();
    Ok(inv)
}

/// Root files with whether each is Parquet (by its extension, else by its first bytes).
async fn with_magic_unless_named(loc: &Location, files: Vec<ObjectMeta>) -> Result<Vec<(ObjectMeta, bool)>> {
    let (named, other): (Vec<ObjectMeta>, Vec<ObjectMeta>) =
        files.into_iter().partition(|m| m.location.filename().is_some_and(has_parquet_extension));
    let mut out: Vec<(ObjectMeta, bool)> = named.into_iter().map(|m| (m, true)).collect();
    out.extend(with_magic(loc, other).await?);
    out.sort_by(|a, b| a.0.location.cmp(&b.0.location));
    Ok(out)
}

/// What a table's folder holds.
struct Folder {
    data: Vec<TableFile>,
    /// Not read (paths relative to the root).
    ignored: Vec<Ignored>,
}

/// List `<root>/<table>/` recursively and sort its files into data and not read.
async fn list_folder(loc: &Location, table: &str) -> Result<Folder> {
    let dir = loc.path(&[table]);
    let metas: Vec<ObjectMeta> = loc.store.list(Some(&dir)).try_collect().await.map_err(|e| {
        InputError::with_source(
            format!(
                "{table}: cannot list '{}' (check the URL and the credentials in the environment)",
                loc.display(&dir)
            ),
            e,
        )
    })?;
    let listed: HashSet<String> = metas.iter().map(|m| m.location.to_string()).collect();
    let mut data = Vec::new();
    let mut unnamed = Vec::new();
    let mut ignored = BTreeSet::new();
    for meta in metas {
        let Some(rel) = meta.location.prefix_match(&dir) else { continue };
        let rel: Vec<String> = rel.map(|p| p.as_ref().to_string()).collect();
        let Some((name, folders)) = rel.split_last() else { continue };
        if let Some(h) = folders.iter().position(|f| is_hidden(f)) {
            let path = std::iter::once(table).chain(folders[..=h].iter().map(String::as_str));
            ignored.insert(Ignored { path: path.collect::<Vec<_>>().join("/"), why: HIDDEN_FOLDER });
            continue;
        }
        let parent = meta.location.as_ref().rsplit_once('/').map_or("", |(p, _)| p);
        if is_marker(name) || is_checksum_of_sibling(name, |n| listed.contains(&format!("{parent}/{n}"))) {
            continue;
        }
        let path = format!("{table}/{}", rel.join("/"));
        if is_hidden(name) {
            ignored.insert(Ignored { path, why: HIDDEN_FILE });
        } else if has_parquet_extension(name) {
            data.push(table_file(meta, folders));
        } else {
            unnamed.push((meta, folders.to_vec(), path));
        }
    }
    let metas: Vec<ObjectMeta> = unnamed.iter().map(|(m, _, _)| m.clone()).collect();
    for ((meta, magic), (_, folders, path)) in with_magic(loc, metas).await?.into_iter().zip(unnamed) {
        match magic {
            true => data.push(table_file(meta, &folders)),
            false => {
                ignored.insert(Ignored { path, why: NOT_PARQUET });
            }
        }
    }
    data.sort_by(|a, b| a.meta.location.cmp(&b.meta.location));
    Ok(Folder { data, ignored: ignored.into_iter().collect() })
}

/// A data file with the Hive `key=value` folders between the table folder and it.
fn table_file(meta: ObjectMeta, folders: &[String]) -> TableFile {
    let partitions = folders
        .iter()
        .filter_map(|f| f.split_once('='))
        .map(|(k, v)| {
            let value = unescape_partition_value(v).unwrap_or_else(|| v.to_string());
            (k.to_string(), value)
        })
        .collect();
    TableFile { meta, partitions }
}

/// A table from its folder (if any) and its root files (with whether each is Parquet).
fn table_listing(
    loc: &Location,
    schema: &schema::Schema,
    folder: Option<&Folder>,
    singles: &[(ObjectMeta, bool)],
) -> Listing {
    let table = schema.table.as_str();
    let shown_dir = format!("{}/", loc.display(&loc.path(&[table])));
    let problem = |p: String| Listing { files: Vec::new(), problem: Some(p) };
    if let Some((meta, _)) = singles.iter().find(|(_, parquet)| !parquet) {
        return problem(format!(
            "{table}: file '{}' is named as this table but is not Parquet (it does not start with \
             Parquet's magic bytes PAR1); regrade reads Parquet only: export the table as Parquet, \
             or move the file out of the input root",
            loc.display(&meta.location)
        ));
    }
    let mut places: Vec<String> =
        singles.iter().map(|(m, _)| format!("'{}'", loc.display(&m.location))).collect();
    if folder.is_some() {
        places.push(format!("the folder '{shown_dir}'"));
    }
    if places.len() > 1 {
        let last = places.pop().unwrap_or_default();
        return problem(format!(
            "{table}: the table is both {} and {last}; which one is current is ambiguous: keep one of \
             them and move the rest out of the input root",
            places.join(", ")
        ));
    }
    if let [(meta, _)] = singles {
        let files = vec![TableFile { meta: meta.clone(), partitions: Vec::new() }];
        return Listing { files, problem: None };
    }
    let (data, unread) = folder.map_or((Vec::new(), Vec::new()), |f| (f.data.clone(), f.ignored.clone()));
    if !data.is_empty() {
        return Listing { files: data, problem: None };
    }
    if !unread.is_empty() {
        let mut named: Vec<String> = unread
            .iter()
            .take(NAMED_IN_ERRORS)
            .map(|i| {
                format!("'{}' ({})", i.path.strip_prefix(&format!("{table}/")).unwrap_or(&i.path), i.why)
            })
            .collect();
        if unread.len() > NAMED_IN_ERRORS {
            named.push(format!("and {} more", unread.len() - NAMED_IN_ERRORS));
        }
        let what = match schema.is_required() {
            true => "required table not found: ",
            false => "the table would read as empty: ",
        };
        return problem(format!(
            "{table}: {what}'{shown_dir}' holds files but no Parquet data file: {}; export the table \
             there as Parquet (see `regrade schema {table}`), or move these files out of the input root",
            named.join(", ")
        ));
    }
    if schema.is_required() {
        return problem(format!(
            "{table}: required table not found: no Parquet files under '{shown_dir}' nor a file \
             '{}.parquet'; export the table there (see `regrade schema {table}`) or check the input URL",
            loc.display(&loc.path(&[table]))
        ));
    }
    Listing::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_examples() {
        assert_eq!(edit_distance("submissions", "submission"), 1);
        assert_eq!(edit_distance("users", "usres"), 2);
        assert_eq!(edit_distance("enrollments", "exports"), 7);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn names() {
        for name in ["a.parquet", "A.PARQUET", "x.snappy.parquet", "p.pq", "p.Pq"] {
            assert!(has_parquet_extension(name), "{name}");
        }
        for name in ["parquet", ".parquet", "000000_0", "part-0.parquet.crc", "x.csv"] {
            assert!(!has_parquet_extension(name), "{name}");
        }
        assert_eq!(stem("submissions.snappy.parquet"), "submissions");
        assert_eq!(stem("users"), "users");
        for name in ["_SUCCESS", "_committed_123", "_started_123", "_metadata", "_common_metadata"] {
            assert!(is_marker(name), "{name}");
        }
        for name in ["_temporary", "SUCCESS", "_SUCCESS.txt", "part-0.parquet"] {
            assert!(!is_marker(name), "{name}");
        }
        assert!(is_checksum_of_sibling(".part-0.parquet.crc", |n| n == "part-0.parquet"));
        assert!(!is_checksum_of_sibling(".part-1.parquet.crc", |n| n == "part-0.parquet"));
        assert!(!is_checksum_of_sibling("part-0.parquet.crc", |_| true));
    }
}
