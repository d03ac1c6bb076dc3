//! Writing: memory:// round trip, hostile course ids in Hive paths, deterministic bytes,
//! output-schema enforcement.

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use regrade::read::{read_table, table_schema};
use regrade::store;
use regrade::store::partition::{escape_partition_value, unescape_partition_value};
use regrade::write;

const HOSTILE: &[&str] = &[
    "course-v1:edX+DemoX+2024",
    "../../etc",
    "..",
    ".",
    "a/b/../../c",
    "x=y=z",
    "with space",
    "ünïcødé ✓ 課程",
    "%41%2F",
    "edX/DemoX/2014_T1",
    "",
];

fn enrollments(course_ids: &[&str]) -> RecordBatch {
    let n = course_ids.len();
    RecordBatch::try_new(
        table_schema("enrollments", &[]).expect("schema"),
        vec![
            Arc::new(Int64Array::from((1..=n as i64).collect::<Vec<_>>())) as ArrayRef,
            Arc::new(StringArray::from(course_ids.to_vec())),
            Arc::new(StringArray::from(vec!["audit"; n])),
            Arc::new(BooleanArray::from(vec![true; n])),
            Arc::new(TimestampMicrosecondArray::from(vec![0; n]).with_timezone("UTC")),
        ],
    )
    .expect("batch")
}

async fn round_trip(url: &str) -> store::Location {
    let loc = store::open_output(url).expect("open");
    let batch = enrollments(HOSTILE);
    let schema = batch.schema();
    let written = write::write_partitioned(&loc, "enrollments", &schema, &[batch]).await.expect("write");
    assert_eq!(written.len(), HOSTILE.len());
    for f in &written {
        let parts: Vec<String> = f.path.split('/').map(str::to_string).collect();
        let tail = &parts[parts.len() - 3..];
        assert_eq!(tail[0], "enrollments", "{}", f.path);
        assert!(tail[1].starts_with("course_id="), "{}", f.path);
        assert_eq!(tail[2], "part-00000.parquet");
        assert!(!tail[1].contains('/') && !tail[1].contains(".."), "{}", f.path);
    }
    let back = read_table(&loc, "enrollments", &["course_id"], None).await.expect("read");
    let got: BTreeSet<String> = back
        .iter()
        .flat_map(|b| {
            b.column(0)
                .as_string::<i32>()
                .iter()
                .map(|v| v.unwrap_or_default().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    let want: BTreeSet<String> = HOSTILE.iter().map(|s| s.to_string()).collect();
    assert_eq!(got, want);
    loc
}

#[tokio::test]
async fn memory_round_trip_with_hostile_course_ids() {
    let loc = round_trip("memory://write-test/out").await;
    // Every object of the store is under the table folder.
    let all: Vec<_> = loc.store.list(None).try_collect().await.expect("list");
    assert_eq!(all.len(), HOSTILE.len());
    for m in all {
        assert!(m.location.as_ref().starts_with("out/enrollments/course_id="), "{}", m.location);
    }
}

#[tokio::test]
async fn local_round_trip_never_leaves_the_table_folder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("sub/out");
    round_trip(out.to_str().expect("utf8")).await;
    // Nothing was created outside <out>/enrollments.
    let top: Vec<_> = std::fs::read_dir(dir.path()).expect("ls").map(|e| e.expect("e").file_name()).collect();
    assert_eq!(top, [std::ffi::OsString::from("sub")]);
    let sub: Vec<_> =
        std::fs::read_dir(dir.path().join("sub")).expect("ls").map(|e| e.expect("e").file_name()).collect();
    assert_eq!(sub, [std::ffi::OsString::from("out")]);
    let tables: Vec<_> = std::fs::read_dir(&out).expect("ls").map(|e| e.expect("e").file_name()).collect();
    assert_eq!(tables, [std::ffi::OsString::from("enrollments")]);
    let mut names: Vec<String> = std::fs::read_dir(out.join("enrollments"))
        .expect("ls")
        .map(|e| e.expect("e").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.contains(&"course_id=course-v1%3AedX%2BDemoX%2B2024".to_string()), "{names:?}");
    assert!(names.contains(&"course_id=%2E%2E%2F%2E%2E%2Fetc".to_string()), "{names:?}");
    for n in &names {
        let value = n.strip_prefix("course_id=").expect("hive folder");
        assert_eq!(escape_partition_value(&unescape_partition_value(value).expect("decodes")), value);
    }
}

#[test]
fn encoding_is_deterministic_and_snappy_with_fixed_created_by() {
    let batch = enrollments(&["c1", "c2", "c1"]);
    let a = write::encode(&batch.schema(), std::slice::from_ref(&batch)).expect("encode");
    let b = write::encode(&batch.schema(), std::slice::from_ref(&batch)).expect("encode");
    assert_eq!(a, b);
    let reader = parquet::file::reader::SerializedFileReader::new(a).expect("parquet");
    use parquet::file::reader::FileReader;
    let meta = reader.metadata();
    assert_eq!(meta.file_metadata().created_by(), Some(write::CREATED_BY));
    for col in meta.row_group(0).columns() {
        assert_eq!(col.compression(), parquet::basic::Compression::SNAPPY);
    }
}

#[tokio::test]
async fn output_tables_are_checked_against_their_schema() {
    let loc = store::open_output("memory://write-test/outputs").expect("open");
    let schema = regrade::schema::output("course_grades").expect("schema").arrow_schema();
    let good = regrade::schema::record_batch(
        &schema,
        vec![
            Arc::new(StringArray::from(vec!["course-v1:A+B+C"])) as ArrayRef,
            Arc::new(Int64Array::from(vec![1])),
            Arc::new(StringArray::from(vec!["v1"])),
            Arc::new(StringArray::from(vec!["hash"])),
            Arc::new(Float64Array::from(vec![0.83])),
            Arc::new(Float64Array::from(vec![0.8251])),
            Arc::new(StringArray::from(vec!["B"])),
            Arc::new(BooleanArray::from(vec![true])),
            Arc::new(arrow::array::TimestampMicrosecondArray::from(vec![Some(1_000)]).with_timezone("UTC")),
        ],
    )
    .expect("batch");
    let files =
        write::write_output_table(&loc, "course_grades", std::slice::from_ref(&good)).await.expect("write");
    assert_eq!(files.len(), 1);
    let path = loc.resolve(&files[0].path).expect("a path");
    let bytes = loc.store.get(&path).await.expect("get").bytes().await.expect("bytes");
    let back = parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(bytes, 1024)
        .expect("reader")
        .collect::<Result<Vec<_>, _>>()
        .expect("batches");
    assert_eq!(back, vec![good.clone()]);

    // A float32 percent is rejected: outputs need the exact type.
    let bad = arrow::compute::cast(good.column(4), &arrow::datatypes::DataType::Float32).expect("cast");
    let mut columns = good.columns().to_vec();
    columns[4] = bad;
    let fields: Vec<_> = good
        .schema()
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| f.as_ref().clone().with_data_type(columns[i].data_type().clone()))
        .collect();
    let bad = RecordBatch::try_new(Arc::new(arrow::datatypes::Schema::new(fields)), columns).expect("batch");
    let err = write::write_output_table(&loc, "course_grades", &[bad]).await.expect_err("rejected");
    let msg = format!("{err:#}");
    assert!(msg.contains("course_grades: file 'memory://write-test/outputs/course_grades'"), "{msg}");
    assert!(msg.contains("column 'percent_grade' has type Float32, expected float64"), "{msg}");
}
