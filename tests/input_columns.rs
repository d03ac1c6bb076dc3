//! What a file's columns may be (issue 14, items 4 and 13), through the binary: duplicate
//! column names are refused naming the file and the column; lossless variants of the
//! contract's types are read (integer 0/1 booleans, integers and decimals where floats are
//! expected, columns of Arrow's `null` type in a file without rows) and give the same outputs
//! as the canonical types; lossy ones are refused naming the row. `check`, `scan`, `run` and
//! `backfill` share the reader, so each case goes through all four.

#[allow(unused_macros)]
#[macro_use]
mod run_support;

use std::fs;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    new_empty_array, Array, ArrayRef, AsArray, Decimal128Array, Int32Array, Int64Array, Int8Array, NullArray,
    RecordBatch,
};
use arrow::datatypes::{DataType, Field, Float64Type, Schema};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use run_support::*;

const POLICY: &str = r#"{"GRADER": [{"type": "Homework", "min_count": 1, "drop_count": 0, "short_label": "HW", "weight": 1.0}], "GRADE_CUTOFFS": {"Pass": 0.5}}"#;
const T: i64 = COURSE_START + DAY;

/// One course (p: 2 points, q: 1 point), learner 1 active with a studentmodule score on p
/// (1.25/2) and a submissions score on q (1/1), learner 2 enrolled but inactive.
fn dataset() -> Dataset {
    let mut c = Course::new("course-v1:Org+A+1", POLICY);
    c.root(&["ch"]);
    c.chapter("ch", &["s"]);
    c.seq("s", "S", "Homework", &["v"]);
    c.vertical("v", &["p", "q"]);
    c.problem("p", "P", 2.0);
    c.problem("q", "Q", 1.0);
    let mut ds = Dataset::default();
    c.write_to(&mut ds);
    users(&mut ds, &[1, 2]);
    enroll(&mut ds, &c.id, 1, "honor", true);
    enroll(&mut ds, &c.id, 2, "honor", false);
    csm(&mut ds, &c, 1, "p", Some(1.25), 2.0, T);
    row!(ds, "submissions", {
        id: 7i64, user_id: 1i64, course_id: &c.id, usage_key: c.key("q"),
        points_earned: 1.0, points_possible: 1.0, created_at: ts(T),
    });
    persisted_course_grade(&mut ds, &c, 3, 1, 0.5, "Pass");
    ds
}

fn assert_accepted(job: &Job, name: &str) {
    for out in every_command(job, name) {
        assert_eq!(out.code, Some(0), "{}: {}{}", out.command, out.stdout, out.stderr);
    }
}

type Columns = Vec<(String, ArrayRef)>;

/// Rewrites `<table>/part-0.parquet` with its columns edited by `edit`.
fn rewrite(input: &Path, table: &str, edit: impl Fn(&mut Columns)) {
    let path = input.join(table).join("part-0.parquet");
    let file = fs::File::open(&path).unwrap();
    let batch =
        ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap().next().unwrap().unwrap();
    let mut cols: Columns = batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(f, c)| (f.name().clone(), c.clone()))
        .collect();
    edit(&mut cols);
    let fields: Vec<Field> = cols.iter().map(|(n, a)| Field::new(n, a.data_type().clone(), true)).collect();
    let arrays: Vec<ArrayRef> = cols.into_iter().map(|(_, a)| a).collect();
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap();
    let mut w = ArrowWriter::try_new(fs::File::create(&path).unwrap(), batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

fn set(cols: &mut Columns, name: &str, values: ArrayRef) {
    let at = cols.iter().position(|(n, _)| n == name).unwrap_or_else(|| panic!("no column {name}"));
    cols[at].1 = values;
}

fn floats(cols: &Columns, name: &str) -> Vec<Option<f64>> {
    let (_, a) = cols.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no column {name}"));
    a.as_primitive::<Float64Type>().iter().collect()
}

/// A file without rows whose every column of `table` has Arrow's `null` type (as pandas
/// writes an empty frame of object columns).
fn write_null_typed_empty(path: &Path, table: &str) {
    let schema = regrade::schema::input(table).unwrap();
    let fields: Vec<Field> =
        schema.columns.iter().map(|c| Field::new(&c.name, DataType::Null, true)).collect();
    let arrays: Vec<ArrayRef> = fields.iter().map(|_| new_empty_array(&DataType::Null)).collect();
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap();
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut w = ArrowWriter::try_new(fs::File::create(path).unwrap(), batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

#[test]
fn duplicate_column_names_are_refused_naming_file_and_column() {
    let job = Job::new(&dataset());
    let file = format!("{}/studentmodule/part-0.parquet", job.input.display());
    rewrite(&job.input, "studentmodule", |cols| {
        let grade = cols.iter().find(|(n, _)| n == "grade").unwrap().1.clone();
        cols.push(("grade".into(), arrow::compute::kernels::numeric::mul(&grade, &grade).unwrap()));
    });
    assert_refused(&job, "grade", &["studentmodule", &file, "column 'grade' appears 2 times"]);

    // A column run does not read (modified) is refused too: check and run agree.
    let job = Job::new(&dataset());
    rewrite(&job.input, "studentmodule", |cols| {
        let modified = cols.iter().find(|(n, _)| n == "modified").unwrap().1.clone();
        cols.push(("modified".into(), modified));
    });
    assert_refused(&job, "modified", &["studentmodule", "column 'modified' appears 2 times"]);

    // An extra column of no table's contract is ignored, duplicated or not.
    let job = Job::new(&dataset());
    rewrite(&job.input, "studentmodule", |cols| {
        let n = cols[0].1.len();
        cols.push(("state".into(), Arc::new(NullArray::new(n))));
        cols.push(("state".into(), Arc::new(NullArray::new(n))));
    });
    assert_accepted(&job, "extra");
}

#[test]
fn lossless_variants_are_read_and_give_the_same_outputs() {
    let ds = dataset();
    let base_job = Job::new(&ds);
    let base = base_job.run("base", &["--as-of", AS_OF]);
    let job = Job::new(&ds);
    // MySQL's tinyint(1) exported as an integer.
    rewrite(&job.input, "enrollments", |cols| set(cols, "is_active", Arc::new(Int8Array::from(vec![1, 0]))));
    // edX's submissions scores are integers.
    rewrite(&job.input, "submissions", |cols| {
        set(cols, "points_earned", Arc::new(Int64Array::from(vec![1])));
        set(cols, "points_possible", Arc::new(Int32Array::from(vec![1])));
    });
    // Decimal scores: 1.25 and 2 as DECIMAL(10, 2); percent_grade as DECIMAL(38, 30).
    rewrite(&job.input, "studentmodule", |cols| {
        let decimal = |name: &str, scale: i8, precision: u8| -> ArrayRef {
            let scaled =
                floats(cols, name).into_iter().map(|v| v.map(|x| (x * 10f64.powi(scale.into())) as i128));
            Arc::new(Decimal128Array::from_iter(scaled).with_precision_and_scale(precision, scale).unwrap())
        };
        let (grade, max) = (decimal("grade", 2, 10), decimal("max_grade", 2, 10));
        set(cols, "grade", grade);
        set(cols, "max_grade", max);
    });
    rewrite(&job.input, "persistent_course_grades", |cols| {
        let half = Decimal128Array::from(vec![5 * 10i128.pow(29)]).with_precision_and_scale(38, 30).unwrap();
        set(cols, "percent_grade", Arc::new(half));
    });
    // Empty files whose columns have the null type, beside data and as a table's only file.
    write_null_typed_empty(
        &job.input.join("persistent_course_grades/part-1.parquet"),
        "persistent_course_grades",
    );
    write_null_typed_empty(&job.input.join("cohort_memberships/part-0.parquet"), "cohort_memberships");

    assert_accepted(&job, "lossless");
    let ran = job.run("out", &["--as-of", AS_OF]);
    assert_eq!(ran.output_sha1s(), base.output_sha1s(), "the same values as the canonical types");
    let check = regrade("check", &[job.input.to_str().unwrap()]);
    assert!(check.stdout.contains("0 failed"), "{}", check.stdout);
}

#[test]
fn lossy_variants_are_refused_naming_the_row() {
    let ds = dataset();
    let job = Job::new(&ds);
    let file = format!("{}/enrollments/part-0.parquet", job.input.display());
    rewrite(&job.input, "enrollments", |cols| set(cols, "is_active", Arc::new(Int64Array::from(vec![1, 2]))));
    assert_refused(
        &job,
        "bool",
        &["enrollments", &file, "column 'is_active' holds 2 at row 1 of the file", "only 0 or 1"],
    );

    // Beyond 2^53 an int64 is not always a float64: refused, naming the value and the row.
    let job = Job::new(&ds);
    rewrite(&job.input, "submissions", |cols| {
        set(cols, "points_earned", Arc::new(Int64Array::from(vec![(1i64 << 53) + 1])))
    });
    assert_refused(
        &job,
        "big",
        &["submissions", "column 'points_earned' holds 9007199254740993 at row 0 of the file", "2^53"],
    );

    // Still refused with the type error: floats where integers are expected, and a column
    // of the null type in a file with rows (its values would all be null).
    let job = Job::new(&ds);
    rewrite(&job.input, "enrollments", |cols| {
        set(cols, "user_id", Arc::new(arrow::array::Float64Array::from(vec![1.0, 2.0])));
        set(cols, "mode", Arc::new(NullArray::new(2)));
    });
    assert_refused(
        &job,
        "types",
        &["column 'user_id' has type Float64, expected an integer", "column 'mode' has type Null"],
    );
}
