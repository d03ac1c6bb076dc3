//! The diff step (`regrade::compare`): every change kind, exact comparison, nulls, empty and
//! duplicated inputs, output order and schema. Batches are built by hand.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, AsArray, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{Float64Type, Int64Type, TimestampMicrosecondType};
use regrade::compare::{course_grade_diffs, subsection_diffs, DiffCounts};
use regrade::schema;

const COURSE: &str = "course-v1:org+c+run";

// ---------------------------------------------------------------------------------------------
// Builders

#[derive(Clone)]
struct Sub {
    user: i64,
    key: &'static str,
    version: &'static str,
    earned_all: f64,
    possible_all: f64,
    earned_graded: f64,
    possible_graded: f64,
    first_attempted: Option<i64>,
    hash: &'static str,
}

fn sub(user: i64, key: &'static str) -> Sub {
    Sub {
        user,
        key,
        version: "v2",
        earned_all: 1.0,
        possible_all: 2.0,
        earned_graded: 1.0,
        possible_graded: 2.0,
        first_attempted: Some(1_700_000_000_000_000),
        hash: "hash-a",
    }
}

fn ts(values: Vec<Option<i64>>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from(values).with_timezone("UTC"))
}

fn strings(values: Vec<&str>) -> ArrayRef {
    Arc::new(StringArray::from(values))
}

fn floats(values: Vec<f64>) -> ArrayRef {
    Arc::new(Float64Array::from(values))
}

fn ints(values: Vec<i64>) -> ArrayRef {
    Arc::new(Int64Array::from(values))
}

/// The value columns shared by both subsection sides, in the order of the contract.
fn sub_values(rows: &[Sub]) -> Vec<(&'static str, ArrayRef)> {
    vec![
        ("user_id", ints(rows.iter().map(|r| r.user).collect())),
        ("usage_key", strings(rows.iter().map(|r| r.key).collect())),
        ("course_version", strings(rows.iter().map(|r| r.version).collect())),
        ("earned_all", floats(rows.iter().map(|r| r.earned_all).collect())),
        ("possible_all", floats(rows.iter().map(|r| r.possible_all).collect())),
        ("earned_graded", floats(rows.iter().map(|r| r.earned_graded).collect())),
        ("possible_graded", floats(rows.iter().map(|r| r.possible_graded).collect())),
        ("first_attempted", ts(rows.iter().map(|r| r.first_attempted).collect())),
        ("visible_blocks_hash", strings(rows.iter().map(|r| r.hash).collect())),
    ]
}

/// Recomputed subsection rows: the columns the diff needs, typed as subsection_grades.
fn new_subs(rows: &[Sub]) -> RecordBatch {
    let values = sub_values(rows);
    let names: Vec<&str> = values.iter().map(|(n, _)| *n).collect();
    let schema = schema::output("subsection_grades").unwrap().project(&names).unwrap();
    RecordBatch::try_new(schema, values.into_iter().map(|(_, a)| a).collect()).unwrap()
}

/// A persistent_subsection_grades batch with every input column, normalised.
fn old_subs(rows: &[Sub]) -> RecordBatch {
    let table = schema::input("persistent_subsection_grades").unwrap();
    let n = rows.len();
    let values = sub_values(rows);
    let columns = table
        .columns
        .iter()
        .map(|c| match values.iter().find(|(name, _)| *name == c.name) {
            Some((_, array)) => array.clone(),
            None => match c.name.as_str() {
                "id" => ints((0..n as i64).map(|i| 1000 + i).collect()),
                "course_id" => strings(vec![COURSE; n]),
                "subtree_edited_timestamp" => ts(vec![None; n]),
                "created" | "modified" => ts(vec![Some(1_600_000_000_000_000); n]),
                other => panic!("unexpected column {other}"),
            },
        })
        .collect();
    RecordBatch::try_new(table.arrow_schema(), columns).unwrap()
}

fn version(keys: &[&str]) -> HashSet<String> {
    keys.iter().map(|k| k.to_string()).collect()
}

#[derive(Clone)]
struct Grade {
    user: i64,
    version: &'static str,
    percent: f64,
    letter: &'static str,
    passed: bool,
}

fn grade(user: i64, percent: f64, letter: &'static str) -> Grade {
    Grade { user, version: "v2", percent, letter, passed: !letter.is_empty() }
}

fn new_grades(rows: &[Grade]) -> RecordBatch {
    let schema = schema::output("course_grades")
        .unwrap()
        .project(&["user_id", "course_version", "percent_grade", "letter_grade", "passed"])
        .unwrap();
    RecordBatch::try_new(
        schema,
        vec![
            ints(rows.iter().map(|r| r.user).collect()),
            strings(rows.iter().map(|r| r.version).collect()),
            floats(rows.iter().map(|r| r.percent).collect()),
            strings(rows.iter().map(|r| r.letter).collect()),
            Arc::new(BooleanArray::from(rows.iter().map(|r| r.passed).collect::<Vec<_>>())),
        ],
    )
    .unwrap()
}

/// A persistent_course_grades batch (its `passed` field is ignored: edX reads it from the letter).
fn old_grades(rows: &[Grade]) -> RecordBatch {
    let table = schema::input("persistent_course_grades").unwrap();
    let n = rows.len();
    let columns = table
        .columns
        .iter()
        .map(|c| match c.name.as_str() {
            "id" => ints((0..n as i64).collect()),
            "user_id" => ints(rows.iter().map(|r| r.user).collect()),
            "course_id" => strings(vec![COURSE; n]),
            "course_version" => strings(rows.iter().map(|r| r.version).collect()),
            "course_edited_timestamp" | "passed_timestamp" => ts(vec![None; n]),
            "grading_policy_hash" => strings(vec!["policy"; n]),
            "percent_grade" => floats(rows.iter().map(|r| r.percent).collect()),
            "letter_grade" => strings(rows.iter().map(|r| r.letter).collect()),
            "created" | "modified" => ts(vec![Some(1_600_000_000_000_000); n]),
            other => panic!("unexpected column {other}"),
        })
        .collect();
    RecordBatch::try_new(table.arrow_schema(), columns).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Readers of the output

fn col<'a>(batch: &'a RecordBatch, name: &str) -> &'a ArrayRef {
    batch.column_by_name(name).unwrap_or_else(|| panic!("no column {name}"))
}

fn str_col(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    // `course_id` is written dictionary-encoded.
    let plain = arrow::compute::cast(col(batch, name), &arrow::datatypes::DataType::Utf8).expect("strings");
    plain.as_string::<i32>().iter().map(|v| v.map(str::to_string)).collect()
}

fn changes(batch: &RecordBatch) -> Vec<String> {
    str_col(batch, "change").into_iter().map(Option::unwrap).collect()
}

fn users(batch: &RecordBatch) -> Vec<i64> {
    col(batch, "user_id").as_primitive::<Int64Type>().values().to_vec()
}

fn f64_col(batch: &RecordBatch, name: &str) -> Vec<Option<f64>> {
    col(batch, name).as_primitive::<Float64Type>().iter().collect()
}

fn ts_col(batch: &RecordBatch, name: &str) -> Vec<Option<i64>> {
    col(batch, name).as_primitive::<TimestampMicrosecondType>().iter().collect()
}

fn keys(batch: &RecordBatch) -> Vec<(i64, String)> {
    users(batch).into_iter().zip(str_col(batch, "usage_key").into_iter().map(Option::unwrap)).collect()
}

// ---------------------------------------------------------------------------------------------
// Subsections

#[test]
fn subsection_every_change_kind() {
    let mut changed = sub(1, "b");
    changed.earned_graded = 2.0;
    let new = new_subs(&[sub(1, "a"), changed, sub(2, "a")]);
    let old = old_subs(&[sub(1, "a"), sub(1, "b"), sub(3, "a"), sub(3, "z")]);
    let (batch, counts) = subsection_diffs(COURSE, &new, &[old], &version(&["a", "b"])).unwrap();

    assert_eq!(
        counts,
        DiffCounts { new: 1, changed: 1, orphaned: 1, unchanged: 1, untouched: 1, ..DiffCounts::default() }
    );
    assert_eq!(keys(&batch), vec![(1, "b".into()), (2, "a".into()), (3, "z".into())]);
    assert_eq!(changes(&batch), ["changed", "new", "orphaned"]);
    assert_eq!(str_col(&batch, "course_id"), vec![Some(COURSE.to_string()); 3]);
    // changed: both sides; new: only new_*; orphaned: only old_*.
    assert_eq!(f64_col(&batch, "old_earned_graded"), [Some(1.0), None, Some(1.0)]);
    assert_eq!(f64_col(&batch, "new_earned_graded"), [Some(2.0), Some(1.0), None]);
    assert_eq!(str_col(&batch, "old_course_version"), [Some("v2".into()), None, Some("v2".into())]);
    assert_eq!(
        str_col(&batch, "new_visible_blocks_hash"),
        [Some("hash-a".into()), Some("hash-a".into()), None]
    );
    assert_eq!(
        ts_col(&batch, "new_first_attempted"),
        [Some(1_700_000_000_000_000), Some(1_700_000_000_000_000), None]
    );
    assert_eq!(batch.schema(), schema::output("subsection_diffs").unwrap().arrow_schema());
}

#[test]
fn subsection_each_value_column_is_compared() {
    let base = sub(7, "s");
    let variants: Vec<(&str, Sub)> = vec![
        ("course_version", Sub { version: "v1", ..base.clone() }),
        ("earned_all", Sub { earned_all: 1.5, ..base.clone() }),
        ("possible_all", Sub { possible_all: 3.0, ..base.clone() }),
        ("earned_graded", Sub { earned_graded: 0.0, ..base.clone() }),
        ("possible_graded", Sub { possible_graded: 4.0, ..base.clone() }),
        ("first_attempted", Sub { first_attempted: Some(1), ..base.clone() }),
        ("visible_blocks_hash", Sub { hash: "hash-b", ..base.clone() }),
    ];
    for (column, old_row) in variants {
        let (batch, counts) = subsection_diffs(
            COURSE,
            &new_subs(std::slice::from_ref(&base)),
            &[old_subs(&[old_row])],
            &version(&["s"]),
        )
        .unwrap();
        assert_eq!(changes(&batch), ["changed"], "{column}");
        assert_eq!(counts, DiffCounts { changed: 1, ..DiffCounts::default() }, "{column}");
    }
    let (batch, counts) = subsection_diffs(
        COURSE,
        &new_subs(std::slice::from_ref(&base)),
        &[old_subs(&[base])],
        &version(&["s"]),
    )
    .unwrap();
    assert_eq!(batch.num_rows(), 0);
    assert_eq!(counts, DiffCounts { unchanged: 1, ..DiffCounts::default() });
}

#[test]
fn subsection_floats_are_compared_exactly() {
    let new =
        new_subs(&[Sub { earned_all: 0.1 + 0.2, ..sub(1, "a") }, Sub { earned_all: 0.0, ..sub(2, "a") }]);
    let old = old_subs(&[Sub { earned_all: 0.3, ..sub(1, "a") }, Sub { earned_all: -0.0, ..sub(2, "a") }]);
    let (batch, counts) = subsection_diffs(COURSE, &new, &[old], &version(&["a"])).unwrap();
    assert_eq!(changes(&batch), ["changed"]);
    assert_eq!(users(&batch), [1]);
    let new_value = f64_col(&batch, "new_earned_all")[0].unwrap();
    let old_value = f64_col(&batch, "old_earned_all")[0].unwrap();
    assert_eq!(new_value.to_bits(), (0.1f64 + 0.2).to_bits());
    assert_eq!(old_value.to_bits(), 0.3f64.to_bits());
    // 0.0 and -0.0 are the same number (and MySQL stores them alike).
    assert_eq!(counts, DiffCounts { changed: 1, unchanged: 1, ..DiffCounts::default() });
}

#[test]
fn subsection_null_first_attempted() {
    let never = |user| Sub { first_attempted: None, ..sub(user, "a") };
    // user 1: null only on the old side; user 2: null only on the new side; user 3: null on both.
    let new = new_subs(&[sub(1, "a"), never(2), never(3)]);
    let old = old_subs(&[never(1), sub(2, "a"), never(3)]);
    let (batch, counts) = subsection_diffs(COURSE, &new, &[old], &version(&["a"])).unwrap();
    assert_eq!(users(&batch), [1, 2]);
    assert_eq!(changes(&batch), ["changed", "changed"]);
    assert_eq!(ts_col(&batch, "old_first_attempted"), [None, Some(1_700_000_000_000_000)]);
    assert_eq!(ts_col(&batch, "new_first_attempted"), [Some(1_700_000_000_000_000), None]);
    assert_eq!(counts, DiffCounts { changed: 2, unchanged: 1, ..DiffCounts::default() });
}

#[test]
fn subsection_empty_old() {
    let new = new_subs(&[sub(2, "b"), sub(1, "a")]);
    let empty_batch = old_subs(&[]);
    for old in [vec![], vec![empty_batch.clone()], vec![empty_batch.clone(), empty_batch.clone()]] {
        let (batch, counts) = subsection_diffs(COURSE, &new, &old, &version(&["a"])).unwrap();
        assert_eq!(keys(&batch), vec![(1, "a".into()), (2, "b".into())]);
        assert_eq!(changes(&batch), ["new", "new"]);
        assert_eq!(f64_col(&batch, "old_possible_all"), [None, None]);
        assert_eq!(counts, DiffCounts { new: 2, ..DiffCounts::default() });
    }
    // Nothing on either side: an empty batch of the output schema.
    let (batch, counts) = subsection_diffs(COURSE, &new_subs(&[]), &[], &HashSet::new()).unwrap();
    assert_eq!(batch.num_rows(), 0);
    assert_eq!(batch.schema(), schema::output("subsection_diffs").unwrap().arrow_schema());
    assert_eq!(counts, DiffCounts::default());
}

#[test]
fn subsection_duplicate_keys_are_errors_naming_the_key() {
    let key = "block-v1:org+c+run+type@sequential+block@s1";
    let old_a = old_subs(&[sub(5, key), sub(6, key)]);
    let old_b = old_subs(&[sub(5, key)]);
    // A duplicate split across two batches of the persisted table.
    let err =
        subsection_diffs(COURSE, &new_subs(&[]), &[old_a, old_b], &version(&[key])).unwrap_err().to_string();
    assert!(err.contains(COURSE), "{err}");
    assert!(err.contains("user 5"), "{err}");
    assert!(err.contains(key), "{err}");
    assert!(err.contains("persisted"), "{err}");

    let err =
        subsection_diffs(COURSE, &new_subs(&[sub(9, "x"), sub(9, "x"), sub(9, "y")]), &[], &version(&[]))
            .unwrap_err()
            .to_string();
    assert!(err.contains(COURSE) && err.contains("user 9") && err.contains("usage key x"), "{err}");
    assert!(err.contains("recomputed"), "{err}");
}

#[test]
fn subsection_output_order_is_deterministic() {
    let changed = |user, key| Sub { possible_all: 9.0, ..sub(user, key) };
    let new_rows = vec![changed(10, "b"), sub(2, "z"), changed(10, "a"), sub(1, "m"), changed(2, "c")];
    let old_rows = vec![sub(10, "b"), sub(3, "q"), sub(10, "a"), sub(2, "c"), sub(1, "k")];
    let expected: Vec<(i64, String)> = [(1, "m"), (2, "c"), (2, "z"), (3, "q"), (10, "a"), (10, "b")]
        .into_iter()
        .map(|(u, k)| (u, k.to_string()))
        .collect();
    let mut previous: Option<RecordBatch> = None;
    for rotation in 0..new_rows.len() {
        let mut new = new_rows.clone();
        new.rotate_left(rotation);
        let mut old = old_rows.clone();
        old.rotate_right(rotation);
        let (first, second) = old.split_at(rotation);
        let (batch, counts) =
            subsection_diffs(COURSE, &new_subs(&new), &[old_subs(first), old_subs(second)], &version(&["k"]))
                .unwrap();
        assert_eq!(keys(&batch), expected);
        assert_eq!(changes(&batch), ["new", "changed", "new", "orphaned", "changed", "changed"]);
        assert_eq!(
            counts,
            DiffCounts { new: 2, changed: 3, orphaned: 1, untouched: 1, ..DiffCounts::default() }
        );
        if let Some(previous) = &previous {
            assert_eq!(&batch, previous);
        }
        previous = Some(batch);
    }
}

#[test]
fn subsection_inputs_are_checked() {
    // A recomputed side with a wrongly typed column is refused, naming it.
    let good = new_subs(&[sub(1, "a")]);
    let mut columns = good.columns().to_vec();
    columns[0] = Arc::new(Int32Array::from(vec![1]));
    let mut fields: Vec<_> = good.schema().fields().iter().map(|f| f.as_ref().clone()).collect();
    fields[0] = arrow::datatypes::Field::new("user_id", arrow::datatypes::DataType::Int32, false);
    let bad = RecordBatch::try_new(Arc::new(arrow::datatypes::Schema::new(fields)), columns).unwrap();
    let err = subsection_diffs(COURSE, &bad, &[], &version(&["a"])).unwrap_err().to_string();
    assert!(err.contains("user_id") && err.contains("Int32"), "{err}");

    // A missing column too.
    let missing = good.project(&[0, 1, 2]).unwrap();
    let err = subsection_diffs(COURSE, &missing, &[], &version(&["a"])).unwrap_err().to_string();
    assert!(err.contains("earned_all") && err.contains("missing"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Course grades

#[test]
fn course_every_change_kind() {
    let new = new_grades(&[
        grade(8, 0.9, "A"),                               // new
        grade(1, 0.5, "Pass"),                            // unchanged
        grade(2, 0.6, "Pass"),                            // now_passing
        grade(3, 0.2, ""),                                // now_failing
        grade(4, 0.95, "A"),                              // letter_changed (B -> A, passed both)
        grade(5, 0.51, "Pass"),                           // changed (percent)
        Grade { version: "v3", ..grade(6, 0.7, "Pass") }, // changed (version)
    ]);
    let old = old_grades(&[
        grade(1, 0.5, "Pass"),
        grade(2, 0.4, ""),
        grade(3, 0.6, "Pass"),
        grade(4, 0.85, "B"),
        grade(5, 0.5, "Pass"),
        grade(6, 0.7, "Pass"),
        grade(9, 0.3, ""), // orphaned
    ]);
    let (batch, counts) = course_grade_diffs(COURSE, &new, &[old]).unwrap();
    assert_eq!(users(&batch), [2, 3, 4, 5, 6, 8, 9]);
    assert_eq!(
        changes(&batch),
        ["now_passing", "now_failing", "letter_changed", "changed", "changed", "new", "orphaned"]
    );
    assert_eq!(
        counts,
        DiffCounts {
            new: 1,
            changed: 2,
            orphaned: 1,
            unchanged: 1,
            untouched: 0,
            letter_changed: 1,
            now_passing: 1,
            now_failing: 1,
        }
    );
    let passed = |name| col(&batch, name).as_boolean().iter().collect::<Vec<_>>();
    assert_eq!(
        passed("old_passed"),
        [Some(false), Some(true), Some(true), Some(true), Some(true), None, Some(false)]
    );
    assert_eq!(
        passed("new_passed"),
        [Some(true), Some(false), Some(true), Some(true), Some(true), Some(true), None]
    );
    assert_eq!(f64_col(&batch, "old_percent_grade")[5], None);
    assert_eq!(f64_col(&batch, "new_percent_grade")[6], None);
    assert_eq!(str_col(&batch, "old_letter_grade")[2].as_deref(), Some("B"));
    assert_eq!(str_col(&batch, "new_letter_grade")[2].as_deref(), Some("A"));
    assert_eq!(str_col(&batch, "old_course_version")[4].as_deref(), Some("v2"));
    assert_eq!(str_col(&batch, "new_course_version")[4].as_deref(), Some("v3"));
    assert_eq!(str_col(&batch, "course_id"), vec![Some(COURSE.to_string()); 7]);
    assert_eq!(batch.schema(), schema::output("course_grade_diffs").unwrap().arrow_schema());
}

#[test]
fn course_passed_on_read_comes_from_the_letter() {
    // A zero-cutoff letter: edX computed passed=False but reads the row back as passed, because
    // the letter is not empty. Recomputing the same letter with passed=False is now_failing.
    let new = new_grades(&[Grade { passed: false, ..grade(1, 0.1, "F") }]);
    let old = old_grades(&[grade(1, 0.1, "F")]);
    let (batch, counts) = course_grade_diffs(COURSE, &new, &[old]).unwrap();
    assert_eq!(changes(&batch), ["now_failing"]);
    assert!(col(&batch, "old_passed").as_boolean().value(0));
    assert_eq!(counts.now_failing, 1);
}

#[test]
fn course_change_priority() {
    // Pass state, letter, percent and version all change: now_passing wins.
    let new = new_grades(&[Grade { version: "v3", ..grade(1, 0.8, "B") }, grade(2, 0.1 + 0.2, "C")]);
    let old = old_grades(&[grade(1, 0.2, ""), grade(2, 0.3, "D")]);
    let (batch, counts) = course_grade_diffs(COURSE, &new, &[old]).unwrap();
    // user 2: letter and percent change, both passed: letter_changed.
    assert_eq!(changes(&batch), ["now_passing", "letter_changed"]);
    assert_eq!(counts, DiffCounts { now_passing: 1, letter_changed: 1, ..DiffCounts::default() });

    // Exact float comparison: 0.1 + 0.2 is not 0.3.
    let new = new_grades(&[grade(2, 0.1 + 0.2, "C")]);
    let old = old_grades(&[grade(2, 0.3, "C")]);
    let (batch, counts) = course_grade_diffs(COURSE, &new, &[old]).unwrap();
    assert_eq!(changes(&batch), ["changed"]);
    assert_eq!(counts, DiffCounts { changed: 1, ..DiffCounts::default() });
}

#[test]
fn course_empty_old_and_many_batches() {
    let new = new_grades(&[grade(3, 0.5, "Pass"), grade(1, 0.0, "")]);
    let (batch, counts) = course_grade_diffs(COURSE, &new, &[]).unwrap();
    assert_eq!(users(&batch), [1, 3]);
    assert_eq!(changes(&batch), ["new", "new"]);
    assert_eq!(counts, DiffCounts { new: 2, ..DiffCounts::default() });

    let olds = [old_grades(&[grade(3, 0.5, "Pass")]), old_grades(&[]), old_grades(&[grade(1, 0.0, "")])];
    let (batch, counts) = course_grade_diffs(COURSE, &new, &olds).unwrap();
    assert_eq!(batch.num_rows(), 0);
    assert_eq!(counts, DiffCounts { unchanged: 2, ..DiffCounts::default() });
}

#[test]
fn course_duplicate_user_is_an_error() {
    let olds = [old_grades(&[grade(4, 0.5, "Pass")]), old_grades(&[grade(4, 0.6, "Pass")])];
    let err = course_grade_diffs(COURSE, &new_grades(&[]), &olds).unwrap_err().to_string();
    assert!(err.contains(COURSE) && err.contains("user 4") && err.contains("persisted"), "{err}");

    let new = new_grades(&[grade(7, 0.5, "Pass"), grade(7, 0.5, "Pass")]);
    let err = course_grade_diffs(COURSE, &new, &[]).unwrap_err().to_string();
    assert!(err.contains(COURSE) && err.contains("user 7") && err.contains("recomputed"), "{err}");
}

#[test]
fn counts_add_and_serialize() {
    let mut total = DiffCounts { new: 1, changed: 2, now_failing: 3, ..DiffCounts::default() };
    total.add(DiffCounts {
        new: 10,
        untouched: 4,
        now_failing: 1,
        letter_changed: 5,
        ..DiffCounts::default()
    });
    assert_eq!(
        total,
        DiffCounts {
            new: 11,
            changed: 2,
            orphaned: 0,
            unchanged: 0,
            untouched: 4,
            letter_changed: 5,
            now_passing: 0,
            now_failing: 4,
        }
    );
    let json = serde_json::to_value(total).unwrap();
    assert_eq!(json["new"], 11);
    assert_eq!(json["letter_changed"], 5);
    assert_eq!(json["now_failing"], 4);
    assert_eq!(json.as_object().unwrap().len(), 8);
}
