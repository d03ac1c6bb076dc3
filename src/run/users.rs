//! `--users FILE`: regrade only some learners, as edX's `recalculate_learner_grades` does for
//! the `user_id,course_id` pairs of its CSV.
//!
//! The file holds user ids, one per line, or `user_id,course_id` pairs (a CSV whose header
//! names the `user_id` and `course_id` columns, in any order, as edX's command reads it; or
//! headerless lines of an id and a course id). A bare id selects the learner in every course;
//! a pair in that course only. Blank lines and lines starting with `#` are skipped. Every
//! table naming a learner is read for the selected learners only, so the outputs (grades,
//! diffs, reports, backfill and apply files) are those of a run restricted to them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use arrow::datatypes::Int64Type;
use serde::Serialize;

use crate::fxhash::FxHashSet;
use crate::write::sha1_hex;

/// The learners a run is restricted to.
#[derive(Debug, Default)]
pub struct UserSelection {
    /// The file, as given.
    pub file: String,
    /// Its SHA-1, for the manifest.
    pub sha1: String,
    /// Learners selected in every course.
    pub everywhere: FxHashSet<i64>,
    /// Learners selected in one course.
    pub by_course: BTreeMap<String, FxHashSet<i64>>,
}

impl Serialize for UserSelection {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("UserSelection", 4)?;
        st.serialize_field("file", &self.file)?;
        st.serialize_field("sha1", &self.sha1)?;
        st.serialize_field("users_in_every_course", &self.everywhere.len())?;
        st.serialize_field("user_course_pairs", &self.by_course.values().map(|s| s.len()).sum::<usize>())?;
        st.end()
    }
}

impl UserSelection {
    /// Read a users file.
    pub fn load(path: &str) -> Result<Arc<UserSelection>> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read users file '{path}'"))?;
        let mut s = UserSelection::parse(&text, path)?;
        s.sha1 = sha1_hex(text.as_bytes());
        Ok(Arc::new(s))
    }

    /// Parse a users file's text; `shown` names it in errors.
    pub fn parse(text: &str, shown: &str) -> Result<UserSelection> {
        let mut s = UserSelection { file: shown.to_string(), ..Default::default() };
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim()))
            .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
            .peekable();
        let cells = |l: &str| -> Vec<String> {
            l.split(',').map(|c| c.trim().trim_matches('"').to_string()).collect()
        };
        // A header names the columns (edX's CSV); without one, an id and an optional course.
        let (user_at, course_at) = match lines.peek() {
            Some((_, l)) if cells(l).iter().any(|c| c == "user_id") => {
                let header = cells(l);
                lines.next();
                let at = |name: &str| header.iter().position(|c| c == name);
                (at("user_id").expect("checked above"), at("course_id"))
            }
            _ => (0, Some(1)),
        };
        for (n, line) in lines {
            let c = cells(line);
            let Some(id) = c.get(user_at) else { bail!("users file '{shown}', line {n}: no user_id column") };
            let id: i64 = id.parse().with_context(|| {
                format!("users file '{shown}', line {n}: user id '{id}' is not an integer")
            })?;
            match course_at.and_then(|k| c.get(k)).filter(|c| !c.is_empty()) {
                Some(course) => {
                    s.by_course.entry(course.clone()).or_default().insert(id);
                }
                None => {
                    s.everywhere.insert(id);
                }
            }
        }
        if s.everywhere.is_empty() && s.by_course.is_empty() {
            bail!("users file '{shown}' lists no learners");
        }
        Ok(s)
    }

    /// The courses the file limits a run to: those of its pairs, when it has no bare ids.
    pub fn courses(&self) -> Option<BTreeSet<String>> {
        self.everywhere.is_empty().then(|| self.by_course.keys().cloned().collect())
    }

    /// Whether a learner is selected in a course.
    pub fn selects(&self, course_id: &str, user_id: i64) -> bool {
        self.everywhere.contains(&user_id)
            || self.by_course.get(course_id).is_some_and(|s| s.contains(&user_id))
    }

    /// The rows of `batches` whose `column` (a learner's id) is selected in `course_id`.
    pub(crate) fn filter(
        &self,
        course_id: &str,
        batches: Vec<RecordBatch>,
        column: &str,
    ) -> Result<Vec<RecordBatch>> {
        batches
            .into_iter()
            .map(|b| {
                let Some(ids) = b.column_by_name(column) else { return Ok(b) };
                let ids = ids
                    .as_primitive_opt::<Int64Type>()
                    .with_context(|| format!("{column} is not an integer column"))?;
                let keep: BooleanArray = (0..ids.len())
                    .map(|i| Some(ids.is_valid(i) && self.selects(course_id, ids.value(i))))
                    .collect();
                Ok(arrow::compute::filter_record_batch(&b, &keep)?)
            })
            .filter(|b| b.as_ref().map_or(true, |b| b.num_rows() > 0))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_pairs_and_edx_csv_headers_are_read() {
        let s = UserSelection::parse("# learners\n12\n\n7,course-v1:a+b+c\n", "f").unwrap();
        assert!(s.selects("course-v1:x+y+z", 12) && s.selects("course-v1:a+b+c", 12));
        assert!(s.selects("course-v1:a+b+c", 7) && !s.selects("course-v1:x+y+z", 7));
        assert_eq!(s.courses(), None, "a bare id selects the learner everywhere");
        // edX's CSV: a header, columns in any order, quoted cells.
        let s = UserSelection::parse("course_id,user_id\n\"course-v1:a+b+c\",5\ncourse-v1:d+e+f,6\n", "f")
            .unwrap();
        assert!(s.selects("course-v1:a+b+c", 5) && !s.selects("course-v1:d+e+f", 5));
        assert_eq!(
            s.courses().unwrap().into_iter().collect::<Vec<_>>(),
            ["course-v1:a+b+c", "course-v1:d+e+f"]
        );
    }

    #[test]
    fn bad_files_are_refused_with_the_line() {
        let err = UserSelection::parse("1\nabc\n", "users.csv").unwrap_err().to_string();
        assert!(err.contains("users.csv") && err.contains("line 2") && err.contains("abc"), "{err}");
        let err = UserSelection::parse("# nothing\n\n", "users.csv").unwrap_err().to_string();
        assert!(err.contains("lists no learners"), "{err}");
    }
}
