//! Reading input tables: schema checks with actionable errors, normalisation of accepted types,
//! course filtering, Hive partitions, optional/required tables, corrupt files.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, DictionaryArray, Float32Array, Float64Array, Int32Array,
    Int64Array, LargeStringArray, RecordBatch, StringArray, StringViewArray, TimestampMillisecondArray,
    TimestampNanosecondArray, UInt8Array,
};
use arrow::datatypes::{
    DataType, Field, Float64Type, Int32Type, Int64Type, Schema, TimeUnit, TimestampMicrosecondType,
};
use parquet::arrow::ArrowWriter;
use regrade::read::{self, read_table};
use regrade::store::{self, Location};

/// Write a Parquet file with parquet's own writer (not regrade's), creating folders.
fn write_file(path: &Path, columns: Vec<(&str, ArrayRef)>) {
    fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    let batch = RecordBatch::try_from_iter(columns).expect("batch");
    let file = fs::File::create(path).expect("create");
    let mut writer = ArrowWriter::try_new(file, batch.schema(), None).expect("writer");
    writer.write(&batch).expect("write");
    writer.close().expect("close");
}

fn ts_ms(values: &[i64]) -> ArrayRef {
    Arc::new(TimestampMillisecondArray::from(values.to_vec()))
}

fn strings(values: &[&str]) -> ArrayRef {
    Arc::new(StringArray::from(values.to_vec()))
}

/// A valid studentmodule file of 3 rows, as (name, array) pairs to tweak.
fn studentmodule_columns() -> Vec<(&'static str, ArrayRef)> {
    vec![
        ("student_id", Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef),
        ("course_id", strings(&["course-v1:A+B+C", "course-v1:A+B+C", "course-v1:X+Y+Z"])),
        ("module_state_key", strings(&["k1", "k2", "k3"])),
        ("module_type", strings(&["problem", "problem", "problem"])),
        ("grade", Arc::new(Float64Array::from(vec![Some(1.0), None, Some(0.5)]))),
        ("max_grade", Arc::new(Float64Array::from(vec![1.0, 2.0, 1.0]))),
        ("created", ts_ms(&[1_000, 2_000, 3_000])),
        ("modified", ts_ms(&[1_500, 2_500, 3_500])),
    ]
}

fn enrollments_columns() -> Vec<(&'static str, ArrayRef)> {
    vec![
        ("user_id", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef),
        ("course_id", strings(&["course-v1:A+B+C", "course-v1:X+Y+Z"])),
        ("mode", strings(&["audit", "verified"])),
        ("is_active", Arc::new(BooleanArray::from(vec![true, false]))),
        ("created", ts_ms(&[0, 0])),
    ]
}

struct Root {
    _dir: tempfile::TempDir,
    path: PathBuf,
    loc: Location,
}

fn root() -> Root {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("in");
    fs::create_dir_all(&path).expect("mkdir");
    let loc = store::open(path.to_str().expect("utf8")).expect("open");
    Root { _dir: dir, path, loc }
}

fn read_err(root: &Root, table: &str) -> String {
    let err = read::read_table_blocking(&root.loc, table, &[], None).expect_err("must fail");
    assert!(read::is_input_error(&err), "input error expected: {err:#}");
    format!("{err:#}")
}

#[test]
fn dropped_required_column_is_named_with_file_and_expectation() {
    let r = root();
    let mut cols = studentmodule_columns();
    cols.retain(|(n, _)| *n != "module_type" && *n != "created");
    let file = r.path.join("studentmodule/part-0.parquet");
    write_file(&file, cols);
    let msg = read_err(&r, "studentmodule");
    let shown = format!("{}/studentmodule/part-0.parquet", r.path.display());
    assert!(
        msg.contains(&format!(
            "studentmodule: file '{shown}': column 'module_type' is missing, expected a string"
        )),
        "{msg}"
    );
    // Every problem at once, and what to do.
    assert!(msg.contains("column 'created' is missing, expected a timestamp"), "{msg}");
    assert!(msg.contains("regrade schema studentmodule"), "{msg}");
}

#[test]
fn wrong_type_names_found_and_expected() {
    let r = root();
    let mut cols = studentmodule_columns();
    cols[4].1 = strings(&["1.0", "", "0.5"]);
    write_file(&r.path.join("studentmodule/part-0.parquet"), cols);
    let msg = read_err(&r, "studentmodule");
    let shown = format!("{}/studentmodule/part-0.parquet", r.path.display());
    assert!(
        msg.contains(&format!(
            "studentmodule: file '{shown}': column 'grade' has type Utf8, expected a float \
             (float32 or float64)"
        )),
        "{msg}"
    );
}

#[test]
fn null_in_required_column_names_the_row() {
    let r = root();
    let mut cols = studentmodule_columns();
    cols[2].1 = Arc::new(StringArray::from(vec![Some("k1"), Some("k2"), None]));
    write_file(&r.path.join("studentmodule/part-0.parquet"), cols);
    let msg = read_err(&r, "studentmodule");
    assert!(msg.contains("studentmodule: file '"), "{msg}");
    assert!(msg.contains("part-0.parquet"), "{msg}");
    assert!(
        msg.contains("column 'module_state_key' must not be null, found 1 null value (first at row 2"),
        "{msg}"
    );
    // A null in a nullable column (grade, row 1) is fine: only one problem reported.
    assert!(!msg.contains("'grade'"), "{msg}");
}

#[test]
fn corrupt_and_truncated_files_name_the_file() {
    let r = root();
    let good = r.path.join("enrollments/part-0.parquet");
    write_file(&good, enrollments_columns());
    let bytes = fs::read(&good).expect("read");
    fs::write(&good, &bytes[..bytes.len() / 2]).expect("truncate");
    let msg = read_err(&r, "enrollments");
    assert!(msg.contains("enrollments: file '"), "{msg}");
    assert!(msg.contains("enrollments/part-0.parquet"), "{msg}");
    assert!(msg.contains("cannot read it as Parquet"), "{msg}");

    fs::write(&good, b"id,course\n1,x\n").expect("write csv");
    let msg = read_err(&r, "enrollments");
    assert!(msg.contains("enrollments/part-0.parquet") && msg.contains("cannot read it as Parquet"), "{msg}");

    // Valid footer, garbage in the data pages.
    write_file(&good, enrollments_columns());
    let mut bytes = fs::read(&good).expect("read");
    for b in bytes.iter_mut().skip(4).take(60) {
        *b ^= 0x5A;
    }
    fs::write(&good, &bytes).expect("write");
    let msg = read_err(&r, "enrollments");
    assert!(msg.contains("enrollments/part-0.parquet"), "{msg}");
}

#[test]
fn missing_required_table_names_table_and_url_and_optional_is_empty() {
    let r = root();
    let msg = read_err(&r, "enrollments");
    assert!(msg.contains("enrollments: required table not found"), "{msg}");
    assert!(msg.contains(&format!("{}/enrollments", r.path.display())), "{msg}");
    let batches = read::read_table_blocking(&r.loc, "users", &[], None).expect("optional");
    assert!(batches.is_empty());
    // Non-parquet and hidden files do not count as a table.
    fs::create_dir_all(r.path.join("enrollments/_tmp")).expect("mkdir");
    fs::write(r.path.join("enrollments/_SUCCESS"), b"").expect("write");
    fs::write(r.path.join("enrollments/README.txt"), b"x").expect("write");
    write_file(&r.path.join("enrollments/_tmp/part-0.parquet"), enrollments_columns());
    let msg = read_err(&r, "enrollments");
    assert!(msg.contains("required table not found"), "{msg}");
}

#[test]
fn unknown_table_and_column_are_input_errors() {
    let r = root();
    let err = read::read_table_blocking(&r.loc, "nope", &[], None).expect_err("unknown");
    assert!(read::is_input_error(&err));
    assert!(err.to_string().contains("studentmodule"), "lists valid names: {err}");
    write_file(&r.path.join("enrollments/part-0.parquet"), enrollments_columns());
    let err = read::read_table_blocking(&r.loc, "enrollments", &["user_id", "bogus"], None)
        .expect_err("unknown column");
    assert!(err.to_string().contains("'bogus'"), "{err}");
}

#[test]
fn accepted_types_are_normalised_and_extra_columns_ignored() {
    let r = root();
    let keys: DictionaryArray<Int32Type> = vec!["k1", "k2", "k1"].into_iter().collect();
    let cols: Vec<(&str, ArrayRef)> = vec![
        ("extra", Arc::new(UInt8Array::from(vec![9, 9, 9]))),
        ("student_id", Arc::new(Int32Array::from(vec![1, 2, 3]))),
        ("course_id", Arc::new(LargeStringArray::from(vec!["c", "c", "c"]))),
        ("module_state_key", Arc::new(keys)),
        ("module_type", Arc::new(StringViewArray::from(vec!["problem"; 3]))),
        ("grade", Arc::new(Float32Array::from(vec![Some(0.5), None, Some(1.0)]))),
        ("max_grade", Arc::new(Float64Array::from(vec![1.0, 1.0, 2.0]))),
        ("created", ts_ms(&[1_000, 2_000, -1])),
        (
            "modified",
            Arc::new(TimestampNanosecondArray::from(vec![1_000_000_000, 1_999, -1]).with_timezone("+02:00")),
        ),
    ];
    write_file(&r.path.join("studentmodule/part-0.parquet"), cols);
    let batches = read::read_table_blocking(&r.loc, "studentmodule", &[], None).expect("read");
    assert_eq!(batches.len(), 1);
    let b = &batches[0];
    let utc = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let expected_types = [
        DataType::Int64,
        DataType::Utf8,
        DataType::Utf8,
        DataType::Utf8,
        DataType::Float64,
        DataType::Float64,
        utc.clone(),
        utc,
    ];
    let schema = b.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(
        names,
        [
            "student_id",
            "course_id",
            "module_state_key",
            "module_type",
            "grade",
            "max_grade",
            "created",
            "modified"
        ]
    );
    for (f, t) in b.schema().fields().iter().zip(expected_types) {
        assert_eq!(f.data_type(), &t, "{}", f.name());
    }
    assert_eq!(b.column(0).as_primitive::<Int64Type>().values(), &[1, 2, 3]);
    assert_eq!(b.column(2).as_string::<i32>().value(1), "k2");
    let grade = b.column(4).as_primitive::<Float64Type>();
    assert_eq!((grade.value(0), grade.is_null(1)), (0.5, true));
    let created = b.column(6).as_primitive::<TimestampMicrosecondType>();
    assert_eq!(created.values(), &[1_000_000, 2_000_000, -1_000]);
    let modified = b.column(7).as_primitive::<TimestampMicrosecondType>();
    // Nanoseconds floor to microseconds; the instant is kept (time zone only relabelled).
    assert_eq!(modified.values(), &[1_000_000, 1, -1]);
    assert!(!b.schema().field(0).is_nullable() && b.schema().field(4).is_nullable());

    // Projection returns exactly the requested columns, in the requested order.
    let some =
        read::read_table_blocking(&r.loc, "studentmodule", &["grade", "student_id"], None).expect("read");
    let names: Vec<String> = some[0].schema().fields().iter().map(|f| f.name().clone()).collect();
    assert_eq!(names, ["grade", "student_id"]);
}

#[test]
fn list_of_strings_and_unsigned_ints_are_normalised() {
    use arrow::array::{LargeListBuilder, LargeStringBuilder};
    let r = root();
    let mut children = LargeListBuilder::new(LargeStringBuilder::new());
    children.values().append_value("a");
    children.values().append_value("b");
    children.append(true);
    children.append(false);
    let cols: Vec<(&str, ArrayRef)> = vec![
        ("user_id", Arc::new(arrow::array::UInt16Array::from(vec![1, 2]))),
        ("course_id", strings(&["c", "c"])),
        ("mode", strings(&["audit", "audit"])),
        ("is_active", Arc::new(BooleanArray::from(vec![true, true]))),
        ("created", ts_ms(&[0, 0])),
        ("children_like_extra", Arc::new(children.finish())),
    ];
    write_file(&r.path.join("enrollments/part-0.parquet"), cols);
    let b = read::read_table_blocking(&r.loc, "enrollments", &[], None).expect("read");
    assert_eq!(b[0].column(0).data_type(), &DataType::Int64);

    // course_blocks.children: LargeList<LargeUtf8> -> List<Utf8>.
    let mut children = LargeListBuilder::new(LargeStringBuilder::new());
    children.values().append_value("block-v1:a+b+c+type@chapter+block@1");
    children.append(true);
    let one = |s: &str| strings(&[s]);
    let cols: Vec<(&str, ArrayRef)> = vec![
        ("course_id", one("c")),
        ("course_version", one("v")),
        ("published_at", ts_ms(&[0])),
        ("usage_key", one("k")),
        ("block_type", one("course")),
        ("children", Arc::new(children.finish())),
        ("has_score", Arc::new(BooleanArray::from(vec![false]))),
    ];
    write_file(&r.path.join("course_blocks/part-0.parquet"), cols.clone());
    let cols_only: Vec<&str> = cols.iter().map(|(n, _)| *n).collect();
    let b = read::read_table_blocking(&r.loc, "course_blocks", &cols_only, None).expect("read");
    let list = b[0].column(5).as_list::<i32>();
    assert_eq!(list.value(0).as_string::<i32>().value(0), "block-v1:a+b+c+type@chapter+block@1");
    // Asking for every column reports the nullable columns this file lacks.
    let msg = read_err(&r, "course_blocks");
    assert!(msg.contains("column 'display_name' is missing"), "{msg}");
}

#[tokio::test]
async fn course_filter_skips_partitions_and_filters_rows() {
    let loc = store::open("memory://read-filter/in").expect("open");
    // Partitioned by course via regrade's writer, plus one unpartitioned file with both.
    let schema = read::table_schema("enrollments", &[]).expect("schema");
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(vec![1, 2, 3])),
            strings(&["course-v1:A+B+C", "course-v1:X+Y+Z", "course-v1:A+B+C"]),
            strings(&["audit", "audit", "verified"]),
            Arc::new(BooleanArray::from(vec![true, true, true])),
            Arc::new(arrow::array::TimestampMicrosecondArray::from(vec![0, 0, 0]).with_timezone("UTC")),
        ],
    )
    .expect("batch");
    let written =
        regrade::write::write_partitioned(&loc, "enrollments", &schema, std::slice::from_ref(&batch))
            .await
            .expect("write");
    assert_eq!(written.len(), 2);
    let all = read_table(&loc, "enrollments", &[], None).await.expect("read");
    assert_eq!(all.iter().map(|b| b.num_rows()).sum::<usize>(), 3);

    let only: HashSet<String> = ["course-v1:A+B+C".to_string()].into();
    let got = read_table(&loc, "enrollments", &["user_id"], Some(&only)).await.expect("read");
    let ids: Vec<i64> =
        got.iter().flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec()).collect();
    assert_eq!(ids, [1, 3]);
    assert_eq!(got[0].num_columns(), 1, "course_id read for filtering only");

    // Unpartitioned file: rows filtered.
    let loc2 = store::open("memory://read-filter/flat").expect("open");
    regrade::write::write_parquet(
        &loc2.store,
        &loc2.path(&["enrollments", "part-0.parquet"]),
        &schema,
        &[batch],
    )
    .await
    .expect("write");
    let got = read_table(&loc2, "enrollments", &["user_id", "course_id"], Some(&only)).await.expect("read");
    assert_eq!(got.iter().map(|b| b.num_rows()).sum::<usize>(), 2);
}

#[test]
fn hive_partition_value_fills_a_missing_course_id_column() {
    let r = root();
    let mut cols = enrollments_columns();
    cols.retain(|(n, _)| *n != "course_id");
    let dir = r.path.join("enrollments/course_id=course-v1%3AA%2BB%2BC");
    write_file(&dir.join("part-0.parquet"), cols);
    let b = read::read_table_blocking(&r.loc, "enrollments", &[], None).expect("read");
    let ids = b[0].column(1).as_string::<i32>();
    assert_eq!(ids.value(0), "course-v1:A+B+C");
    assert_eq!(ids.value(1), "course-v1:A+B+C");
    // And the partition counts for the course filter.
    let other: HashSet<String> = ["course-v1:X+Y+Z".to_string()].into();
    let none = read::read_table_blocking(&r.loc, "enrollments", &[], Some(&other)).expect("read");
    assert!(none.is_empty());
}

#[test]
fn course_filter_without_any_course_id_is_an_error_not_a_silent_pass() {
    let r = root();
    let mut cols = enrollments_columns();
    cols.retain(|(n, _)| *n != "course_id");
    write_file(&r.path.join("enrollments/part-0.parquet"), cols);
    let only: HashSet<String> = ["course-v1:A+B+C".to_string()].into();
    let err = read::read_table_blocking(&r.loc, "enrollments", &["user_id"], Some(&only))
        .expect_err("cannot filter");
    assert!(format!("{err:#}").contains("column 'course_id' is missing"), "{err:#}");
}

#[test]
fn declared_nullability_does_not_matter_only_the_data() {
    // Writers often mark every column nullable, or none; only the data is checked.
    let r = root();
    let fields = vec![
        Field::new("id", DataType::Int64, false),
        Field::new("username", DataType::Utf8, true),
        Field::new("email", DataType::Utf8, true),
    ];
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        vec![
            Arc::new(Int64Array::from(vec![7])),
            strings(&["learner7"]),
            strings(&["learner7@example.invalid"]),
        ],
    )
    .expect("batch");
    let path = r.path.join("users/part-0.parquet");
    fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    let mut w =
        ArrowWriter::try_new(fs::File::create(&path).expect("create"), batch.schema(), None).expect("writer");
    w.write(&batch).expect("write");
    w.close().expect("close");
    let got = read::read_table_blocking(&r.loc, "users", &[], None).expect("read");
    assert_eq!(got[0].num_rows(), 1);
}

#[test]
fn row_groups_of_other_courses_are_not_read_and_rows_keep_file_numbers() {
    // One file sorted by course, two rows per row group: A A | B B | C C, with a null in a
    // required column of the C group (file row 5).
    let r = root();
    let batch = RecordBatch::try_from_iter(vec![
        ("user_id", Arc::new(Int64Array::from(vec![1, 2, 3, 4, 5, 6])) as ArrayRef),
        ("course_id", strings(&["c-A", "c-A", "c-B", "c-B", "c-C", "c-C"])),
        (
            "mode",
            Arc::new(StringArray::from(vec![Some("audit"); 5].into_iter().chain([None]).collect::<Vec<_>>())),
        ),
        ("is_active", Arc::new(BooleanArray::from(vec![true; 6]))),
        ("created", ts_ms(&[0; 6])),
    ])
    .expect("batch");
    let path = r.path.join("enrollments/part-0.parquet");
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let props =
        parquet::file::properties::WriterProperties::builder().set_max_row_group_row_count(Some(2)).build();
    let mut w = ArrowWriter::try_new(fs::File::create(&path).unwrap(), batch.schema(), Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();

    let read = |course: &str| {
        let only: HashSet<String> = [course.to_string()].into();
        read::read_table_blocking(&r.loc, "enrollments", &["user_id", "mode"], Some(&only))
    };
    // Reading course A succeeds: the C group, whose null would fail the read, is never decoded.
    let a = read("c-A").expect("A");
    let ids: Vec<i64> =
        a.iter().flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec()).collect();
    assert_eq!(ids, [1, 2]);
    let b = read("c-B").expect("B");
    assert_eq!(b.iter().map(|b| b.num_rows()).sum::<usize>(), 2);
    // Reading C reports the null at its row number in the file, not in the row group.
    let msg = format!("{:#}", read("c-C").expect_err("null"));
    assert!(msg.contains("first at row 5"), "{msg}");
}

#[tokio::test]
async fn dictionary_columns_come_back_as_dictionaries_whatever_the_file_stores() {
    let r = root();
    let with = |key: ArrayRef, course: ArrayRef| {
        let mut cols = studentmodule_columns();
        for (name, array) in cols.iter_mut() {
            match *name {
                "module_state_key" => *array = key.clone(),
                "course_id" => *array = course.clone(),
                _ => {}
            }
        }
        cols
    };
    let courses = ["course-v1:A+B+C", "course-v1:A+B+C", "course-v1:X+Y+Z"];
    // Utf8 (the writer's dictionary pages), LargeUtf8, an Arrow dictionary.
    write_file(
        &r.path.join("studentmodule/part-0.parquet"),
        with(strings(&["k1", "k2", "k3"]), strings(&courses)),
    );
    write_file(
        &r.path.join("studentmodule/part-1.parquet"),
        with(
            Arc::new(LargeStringArray::from(vec!["k1", "k2", "k3"])),
            Arc::new(LargeStringArray::from(courses.to_vec())),
        ),
    );
    let dict: DictionaryArray<Int32Type> = vec!["k1", "k2", "k3"].into_iter().collect();
    let dict_courses: DictionaryArray<Int32Type> = courses.into_iter().collect();
    write_file(&r.path.join("studentmodule/part-2.parquet"), with(Arc::new(dict), Arc::new(dict_courses)));
    // Plain pages, no dictionary in the file.
    let batch =
        RecordBatch::try_from_iter(with(strings(&["k1", "k2", "k3"]), strings(&courses))).expect("batch");
    let props = parquet::file::properties::WriterProperties::builder().set_dictionary_enabled(false).build();
    let file = fs::File::create(r.path.join("studentmodule/part-3.parquet")).expect("create");
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props)).expect("writer");
    writer.write(&batch).expect("write");
    writer.close().expect("close");
    // And course_id from the Hive partition only.
    let mut cols = with(strings(&["k1", "k2"]), strings(&courses[..2]));
    cols.retain(|(n, _)| *n != "course_id");
    let cols: Vec<_> = cols.into_iter().map(|(n, a)| (n, a.slice(0, 2))).collect();
    write_file(&r.path.join("studentmodule/course_id=course-v1%3AA%2BB%2BC/part-0.parquet"), cols);

    let files = read::list_table_files(&r.loc, "studentmodule").await.expect("list");
    assert_eq!(files.len(), 5);
    let only: HashSet<String> = ["course-v1:A+B+C".to_string()].into();
    let columns = ["student_id", "module_state_key"];
    let batches = read::read_files_with(
        &r.loc,
        "studentmodule",
        files,
        &columns,
        Some(&only),
        &["module_state_key"],
        read::UserRange::ALL,
    )
    .await
    .expect("read");
    let mut rows = Vec::new();
    for b in &batches {
        assert_eq!(b.num_columns(), 2, "course_id read for filtering only");
        assert_eq!(b.schema().field(1).data_type(), &read::dictionary_type());
        let keys = b.column(1).as_dictionary::<Int32Type>();
        let values = keys.values().as_string::<i32>();
        let ids = b.column(0).as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            rows.push((ids.value(i), values.value(keys.keys().value(i) as usize).to_string()));
        }
    }
    rows.sort();
    let expected: Vec<(i64, String)> =
        [1, 1, 1, 1, 1, 2, 2, 2, 2, 2].iter().map(|&i| (i, format!("k{i}"))).collect();
    assert_eq!(rows, expected, "the other course's rows filtered out, every value kept");
    // Without asking, the same column is Utf8.
    let files = read::list_table_files(&r.loc, "studentmodule").await.expect("list");
    let plain = read::read_files(&r.loc, "studentmodule", files, &columns, Some(&only)).await.expect("read");
    assert!(plain.iter().all(|b| b.schema().field(1).data_type() == &DataType::Utf8));
}
