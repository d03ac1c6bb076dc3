//! What a file's columns must be beyond each one's type: every column of the contract at most
//! once, and how columns of Arrow's `null` type count in a file without rows.

use arrow::datatypes::{DataType, Field, Schema as ArrowSchema};

use crate::schema::{Schema, SchemaError};

/// Refuses a file holding a column of the table's contract more than once (two `grade`
/// columns, as a `SELECT` naming a column twice or a join writes them): which one holds the
/// data is ambiguous, and reading the first would be a silent guess. Every contract column is
/// checked, whether read or not, so `check` and `run` agree; columns the contract does not know
/// are never read, and may repeat.
pub(crate) fn check_distinct(schema: &Schema, file: &ArrowSchema, shown: &str) -> Result<(), SchemaError> {
    let problems: Vec<String> = schema
        .columns
        .iter()
        .filter_map(|c| {
            let at: Vec<String> = file
                .fields()
                .iter()
                .enumerate()
                .filter(|(_, f)| f.name() == &c.name)
                .map(|(i, _)| i.to_string())
                .collect();
            (at.len() > 1).then(|| {
                format!(
                    "column '{}' appears {} times (columns {} of the file, counting from 0), so \
                     which one holds the data is ambiguous",
                    c.name,
                    at.len(),
                    at.join(" and ")
                )
            })
        })
        .collect();
    if problems.is_empty() {
        return Ok(());
    }
    Err(SchemaError {
        table: schema.table.clone(),
        file: shown.to_string(),
        problems,
        hint: format!(
            "hint: re-export the file with each column once (a SELECT naming a column twice, or \
             a join, writes it twice); `regrade schema {}` lists the columns",
            schema.table
        ),
    })
}

/// The file's fields as the type check sees them. In a file without rows, a contract column
/// of Arrow's `null` type (what a writer gives an empty column it could not type, such as
/// pandas' empty object column) holds no value to convert, so it counts as the column's
/// canonical type. In a file with rows, the `null` type stays and is refused where the
/// contract forbids nulls.
pub(crate) fn fields_to_check(schema: &Schema, file: &ArrowSchema, rows: i64) -> Vec<Field> {
    file.fields()
        .iter()
        .map(|f| match schema.column(f.name()) {
            Some(c) if rows == 0 && f.data_type() == &DataType::Null => {
                f.as_ref().clone().with_data_type(c.arrow_type(schema.kind))
            }
            _ => f.as_ref().clone(),
        })
        .collect()
}
