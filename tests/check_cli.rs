//! `regrade check`: a generated dataset passes; a table with a dropped column, a wrong type
//! or a truncated file is rejected with exit code 2 and a message naming file and column.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;

fn regrade(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_regrade")).args(args).output().expect("run regrade");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A studentmodule file whose `grade` is a string and that has no `max_grade` column.
fn write_bad_studentmodule(path: &Path) {
    let ts = || Arc::new(TimestampMicrosecondArray::from(vec![1_000_000]).with_timezone("UTC"));
    let schema = Arc::new(Schema::new(vec![
        Field::new("student_id", DataType::Int64, false),
        Field::new("course_id", DataType::Utf8, false),
        Field::new("module_state_key", DataType::Utf8, false),
        Field::new("module_type", DataType::Utf8, false),
        Field::new("grade", DataType::Utf8, true),
        Field::new("created", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false),
        Field::new("modified", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(vec![1])),
            Arc::new(StringArray::from(vec!["course-v1:a+b+c"])),
            Arc::new(StringArray::from(vec!["block-v1:a+b+c+type@problem+block@p"])),
            Arc::new(StringArray::from(vec!["problem"])),
            Arc::new(StringArray::from(vec!["1.0"])),
            ts(),
            ts(),
        ],
    )
    .unwrap();
    let mut w = ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

#[test]
fn generated_data_passes_and_broken_tables_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("in");
    let root_s = root.to_str().unwrap();
    let (code, _, err) = regrade(&["generate", root_s, "--seed", "1", "--learners", "60", "-q"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = regrade(&["check", root_s]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("checked 19 tables") && out.contains("0 failed"), "{out}");

    // Break studentmodule: one file with a wrong type and a missing column, one truncated.
    let sm = root.join("studentmodule");
    let bad = sm.join("zz-bad.parquet");
    write_bad_studentmodule(&bad);
    let truncated = sm.join("zz-truncated.parquet");
    let bytes = std::fs::read(&bad).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();

    let (code, out, err) = regrade(&["check", root_s]);
    assert_eq!(code, 2, "bad input exits 2\n{out}{err}");
    assert!(out.contains("FAILED"), "{out}");
    let line_for = |needle: &str| err.lines().find(|l| l.contains(needle)).map(str::to_string);
    let bad_line =
        line_for("zz-bad.parquet").unwrap_or_else(|| panic!("no error names the bad file:\n{err}"));
    assert!(bad_line.contains("studentmodule"), "{bad_line}");
    assert!(err.contains("'grade'") && err.contains("Utf8"), "names the column and the type found:\n{err}");
    assert!(err.contains("'max_grade'") && err.contains("missing"), "names the missing column:\n{err}");
    assert!(line_for("zz-truncated.parquet").is_some(), "names the truncated file:\n{err}");
    assert!(err.contains("1 of 19 tables failed their checks: studentmodule"), "{err}");

    // --tables limits the check; an unknown table name is a usage error listing valid names.
    let (code, _, _) = regrade(&["check", root_s, "--tables", "users,enrollments"]);
    assert_eq!(code, 0);
    let (code, _, err) = regrade(&["check", root_s, "--tables", "nope"]);
    assert_eq!(code, 2);
    assert!(err.contains("studentmodule"), "lists valid names: {err}");
}
