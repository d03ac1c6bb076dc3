//! Typed access to the batches the reader returns ([`Columns`]).
//!
//! The reader hands over batches already checked against `schemas/` and normalised to one
//! Arrow type per column family (Int64, Float64, Utf8, Boolean, Timestamp(µs, UTC),
//! `List<Utf8>`, and dictionaries of Utf8 for `tables::dictionary_for`). This module
//! only walks them; a column of another type is a programming error reported with the table
//! and column, never a panic.

use std::fmt;

use arrow::array::{
    Array, ArrayRef, BooleanArray, DictionaryArray, Float64Array, Int32Array, Int64Array, ListArray,
    RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::Int32Type;

use crate::py::time::Timestamp;

/// A batch that does not have the normalised shape this module expects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadError {
    pub table: String,
    pub column: String,
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: column '{}': {}", self.table, self.column, self.message)
    }
}

impl std::error::Error for LoadError {}

/// Typed access to one normalised batch.
pub struct Columns<'a> {
    table: &'a str,
    batch: &'a RecordBatch,
}

macro_rules! typed {
    ($name:ident, $arr:ty, $ty:literal) => {
        fn $name(&self, column: &str) -> Result<&'a $arr, LoadError> {
            let col = self.column(column)?;
            col.as_any()
                .downcast_ref::<$arr>()
                .ok_or_else(|| self.err(column, concat!("expected ", $ty, ", found ")))
        }
    };
}

/// A required string column whose rows may be keys into a dictionary of distinct values
/// ([`Columns::keyed_str_at`]).
pub(crate) struct KeyedStrings<'a> {
    keys: Option<&'a Int32Array>,
    values: &'a StringArray,
}

impl<'a> KeyedStrings<'a> {
    /// Row `i`'s string.
    pub(crate) fn value(&self, i: usize) -> &'a str {
        match self.keys {
            Some(keys) => self.values.value(keys.value(i) as usize),
            None => self.values.value(i),
        }
    }

    /// `f` of every row's string, as a row accessor; for a dictionary, `f` runs once per
    /// distinct value, not once per row.
    pub(crate) fn map<T: Clone + 'a>(&self, mut f: impl FnMut(&str) -> T) -> impl Fn(usize) -> T + 'a {
        let (keys, values) = (self.keys, self.values);
        // One per dictionary value, or (plain column) one per row.
        let computed: Vec<T> = (0..values.len()).map(|v| f(values.value(v))).collect();
        move |i: usize| match keys {
            Some(k) => computed[k.value(i) as usize].clone(),
            None => computed[i].clone(),
        }
    }
}

impl<'a> Columns<'a> {
    pub fn new(table: &'a str, batch: &'a RecordBatch) -> Self {
        Columns { table, batch }
    }

    pub fn len(&self) -> usize {
        self.batch.num_rows()
    }

    pub fn is_empty(&self) -> bool {
        self.batch.num_rows() == 0
    }

    /// The table's name.
    pub fn table(&self) -> &'a str {
        self.table
    }

    /// The file the batch was read from (set by the reader), or the table name.
    pub fn source(&self) -> &'a str {
        self.batch.schema_ref().metadata().get(super::SOURCE_KEY).map(String::as_str).unwrap_or(self.table)
    }

    fn err(&self, column: &str, message: &str) -> LoadError {
        let found = self
            .batch
            .column_by_name(column)
            .map(|c| c.data_type().to_string())
            .unwrap_or_else(|| "nothing".to_string());
        LoadError {
            table: self.table.to_string(),
            column: column.to_string(),
            message: format!("{message}{found}"),
        }
    }

    fn column(&self, column: &str) -> Result<&'a ArrayRef, LoadError> {
        self.batch.column_by_name(column).ok_or_else(|| LoadError {
            table: self.table.to_string(),
            column: column.to_string(),
            message: "missing from the batch (not projected?)".to_string(),
        })
    }

    typed!(utf8, StringArray, "Utf8");
    typed!(int64, Int64Array, "Int64");
    typed!(float64, Float64Array, "Float64");
    typed!(boolean, BooleanArray, "Boolean");
    typed!(timestamp, TimestampMicrosecondArray, "Timestamp(µs)");
    typed!(list, ListArray, "List<Utf8>");

    /// A required string column as a row accessor.
    pub fn str_at(&self, column: &str) -> Result<impl Fn(usize) -> &'a str + 'a, LoadError> {
        let a = self.utf8(column)?;
        Ok(move |i: usize| a.value(i))
    }

    /// A required string column, plain (`Utf8`) or dictionary-encoded (`Dictionary(Int32,
    /// Utf8)`, as the reader returns the columns it is asked to keep as dictionaries).
    pub(crate) fn keyed_str_at(&self, column: &str) -> Result<KeyedStrings<'a>, LoadError> {
        let col = self.column(column)?;
        if let Some(dict) = col.as_any().downcast_ref::<DictionaryArray<Int32Type>>() {
            let values = dict
                .values()
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| self.err(column, "expected a dictionary of Utf8, found "))?;
            return Ok(KeyedStrings { keys: Some(dict.keys()), values });
        }
        Ok(KeyedStrings { keys: None, values: self.utf8(column)? })
    }

    /// A nullable string column.
    pub(crate) fn opt_str_at(
        &self,
        column: &str,
    ) -> Result<impl Fn(usize) -> Option<&'a str> + 'a, LoadError> {
        let a = self.utf8(column)?;
        Ok(move |i: usize| a.is_valid(i).then(|| a.value(i)))
    }

    pub fn i64_at(&self, column: &str) -> Result<impl Fn(usize) -> Option<i64> + 'a, LoadError> {
        let a = self.int64(column)?;
        Ok(move |i: usize| a.is_valid(i).then(|| a.value(i)))
    }

    /// An integer column that may be absent from the batch (an optional column of the
    /// contract): absent reads as null.
    pub(crate) fn optional_i64_at(
        &self,
        column: &str,
    ) -> Result<impl Fn(usize) -> Option<i64> + 'a, LoadError> {
        let a = match self.batch.column_by_name(column) {
            Some(_) => Some(self.int64(column)?),
            None => None,
        };
        Ok(move |i: usize| a.and_then(|a| a.is_valid(i).then(|| a.value(i))))
    }

    pub fn f64_at(&self, column: &str) -> Result<impl Fn(usize) -> Option<f64> + 'a, LoadError> {
        let a = self.float64(column)?;
        Ok(move |i: usize| a.is_valid(i).then(|| a.value(i)))
    }

    pub(crate) fn bool_at(&self, column: &str) -> Result<impl Fn(usize) -> Option<bool> + 'a, LoadError> {
        let a = self.boolean(column)?;
        Ok(move |i: usize| a.is_valid(i).then(|| a.value(i)))
    }

    pub fn ts_at(&self, column: &str) -> Result<impl Fn(usize) -> Option<Timestamp> + 'a, LoadError> {
        let a = self.timestamp(column)?;
        Ok(move |i: usize| a.is_valid(i).then(|| a.value(i)))
    }

    /// A nullable list of strings.
    pub(crate) fn str_list_at(
        &self,
        column: &str,
    ) -> Result<impl Fn(usize) -> Option<Vec<String>> + 'a, LoadError> {
        let a = self.list(column)?;
        let values = a
            .values()
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| self.err(column, "expected List<Utf8>, found "))?;
        Ok(move |i: usize| {
            a.is_valid(i).then(|| {
                let offsets = a.value_offsets();
                let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
                (start..end).filter(|&j| values.is_valid(j)).map(|j| values.value(j).to_string()).collect()
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ListBuilder, StringBuilder};
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use std::sync::Arc;

    #[test]
    fn lists_and_nulls_load() {
        let mut lb = ListBuilder::new(StringBuilder::new());
        lb.values().append_value("a");
        lb.values().append_value("b");
        lb.append(true);
        lb.append(false);
        let list = lb.finish();
        let ts = TimestampMicrosecondArray::from(vec![Some(5), None]).with_timezone("UTC");
        let schema = Arc::new(Schema::new(vec![
            Field::new("children", list.data_type().clone(), true),
            Field::new("start", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), true),
        ]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(list), Arc::new(ts)]).unwrap();
        let c = Columns::new("t", &batch);
        let kids = c.str_list_at("children").unwrap();
        assert_eq!(kids(0), Some(vec!["a".to_string(), "b".to_string()]));
        assert_eq!(kids(1), None);
        let start = c.ts_at("start").unwrap();
        assert_eq!((start(0), start(1)), (Some(5), None));
    }
}

#[cfg(test)]
mod keyed_tests {
    use super::*;
    use std::cell::Cell;
    use std::sync::Arc;

    #[test]
    fn keyed_strings_read_plain_and_dictionary_columns_alike() {
        let plain: ArrayRef = Arc::new(StringArray::from(vec!["a", "b", "a", "c", "a"]));
        let dict: DictionaryArray<Int32Type> = vec!["a", "b", "a", "c", "a"].into_iter().collect();
        for (array, lookups) in [(plain, 5), (Arc::new(dict) as ArrayRef, 3)] {
            let batch = RecordBatch::try_from_iter([("k", array)]).unwrap();
            let c = Columns::new("t", &batch);
            let keys = c.keyed_str_at("k").unwrap();
            let calls = Cell::new(0);
            let len = keys.map(|s| {
                calls.set(calls.get() + 1);
                s.len() + usize::from(s == "b")
            });
            let got: Vec<(&str, usize)> = (0..5).map(|i| (keys.value(i), len(i))).collect();
            assert_eq!(got, [("a", 1), ("b", 2), ("a", 1), ("c", 1), ("a", 1)]);
            assert_eq!(calls.get(), lookups, "a dictionary's values are mapped once each");
        }
        let ints =
            RecordBatch::try_from_iter([("k", Arc::new(Int64Array::from(vec![1])) as ArrayRef)]).unwrap();
        assert!(Columns::new("t", &ints).keyed_str_at("k").is_err());
    }
}
