//! `regrade import olx`: small OLX exports written by each test, one rule or one bad export
//! each, and the Open edX demo course (`../shared/fixtures/openedx-demo-course/`; skipped with
//! a notice when absent, a failure with `REGRADE_REQUIRE_FIXTURES=1`).

mod common;

use common::demo_course_export as demo;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, TimestampMicrosecondType};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

fn regrade(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_regrade")).args(args).output().expect("run regrade")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Write an export: `files` under `<dir>/course/`.
fn export(dir: &Path, files: &[(&str, &str)]) -> PathBuf {
    let root = dir.join("course");
    for (rel, text) in files {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    root
}

const COURSE_XML: &str = r#"<course url_name="2026" org="Org" course="C1"/>"#;
const GRADING: &str = r#"{"GRADE_CUTOFFS": {"Pass": 0.5}, "GRADER": [{"type": "Homework", "min_count": 1, "drop_count": 0, "weight": 1}]}"#;

/// A minimal valid export plus `extra` files (which may replace the defaults).
fn course(dir: &Path, course_body: &str, extra: &[(&str, &str)]) -> PathBuf {
    let def = format!(r#"<course display_name="Course">{course_body}</course>"#);
    let mut files: BTreeMap<&str, &str> = BTreeMap::new();
    files.insert("course.xml", COURSE_XML);
    files.insert("course/2026.xml", &def);
    files.insert("policies/2026/grading_policy.json", GRADING);
    for (k, v) in extra {
        files.insert(k, v);
    }
    export(dir, &files.into_iter().collect::<Vec<_>>())
}

/// Import with a fixed version and date; panics unless it succeeds.
fn import_ok(exports: &[&Path], out: &Path) {
    let mut args = vec!["import", "olx"];
    let shown: Vec<String> = exports.iter().map(|p| p.display().to_string()).collect();
    args.extend(shown.iter().map(String::as_str));
    let out_s = out.display().to_string();
    args.extend(["--output", &out_s, "--course-version", "v1", "--published-at", "2026-01-01T00:00:00Z"]);
    let res = regrade(&args);
    assert!(res.status.success(), "import failed: {}", stderr(&res));
}

/// Import expecting exit code 2; returns stderr.
fn import_bad(export: &Path, out: &Path) -> String {
    let res = regrade(&[
        "import",
        "olx",
        &export.display().to_string(),
        "--output",
        &out.display().to_string(),
        "--course-version",
        "v1",
        "--published-at",
        "2026-01-01T00:00:00Z",
    ]);
    assert_eq!(res.status.code(), Some(2), "expected exit 2: {}", stderr(&res));
    stderr(&res)
}

/// Every file of a table under `out`, read as one batch per file.
fn read_table(out: &Path, table: &str) -> Vec<RecordBatch> {
    let mut files = Vec::new();
    let mut stack = vec![out.join(table)];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
        .into_iter()
        .map(|f| {
            let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(f).unwrap())
                .unwrap()
                .build()
                .unwrap();
            let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
            arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap()
        })
        .collect()
}

/// A cell as text (`None` for null): strings as is, lists joined with `|`, timestamps as µs.
fn cell(batch: &RecordBatch, column: &str, row: usize) -> Option<String> {
    let mut col = batch.column_by_name(column).unwrap_or_else(|| panic!("no column {column}")).clone();
    if matches!(col.data_type(), DataType::Dictionary(_, _)) {
        col = arrow::compute::cast(&col, &DataType::Utf8).unwrap();
    }
    if col.is_null(row) {
        return None;
    }
    Some(match col.data_type() {
        DataType::Utf8 => col.as_string::<i32>().value(row).to_string(),
        DataType::Boolean => col.as_boolean().value(row).to_string(),
        DataType::Float64 => col.as_primitive::<arrow::datatypes::Float64Type>().value(row).to_string(),
        DataType::Int64 => col.as_primitive::<arrow::datatypes::Int64Type>().value(row).to_string(),
        DataType::Timestamp(_, _) => col.as_primitive::<TimestampMicrosecondType>().value(row).to_string(),
        DataType::List(_) => {
            let list = col.as_list::<i32>().value(row);
            let s = list.as_string::<i32>();
            (0..s.len()).map(|i| s.value(i).to_string()).collect::<Vec<_>>().join("|")
        }
        other => panic!("unexpected type {other}"),
    })
}

/// The blocks of the (only) course version: usage key -> column -> value.
type Rows = Vec<BTreeMap<String, Option<String>>>;

fn rows(batch: &RecordBatch) -> Rows {
    (0..batch.num_rows())
        .map(|r| {
            batch.schema().fields().iter().map(|f| (f.name().clone(), cell(batch, f.name(), r))).collect()
        })
        .collect()
}

fn blocks(out: &Path) -> Rows {
    let tables = read_table(out, "course_blocks");
    assert_eq!(tables.len(), 1, "one course version");
    rows(&tables[0])
}

fn block<'r>(rows: &'r Rows, key: &str) -> &'r BTreeMap<String, Option<String>> {
    rows.iter().find(|r| r["usage_key"].as_deref() == Some(key)).unwrap_or_else(|| panic!("no block {key}"))
}

fn get<'r>(row: &'r BTreeMap<String, Option<String>>, column: &str) -> Option<&'r str> {
    row[column].as_deref()
}

const K: &str = "block-v1:Org+C1+2026+type@";

fn micros(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap().timestamp_micros().to_string()
}

#[test]
fn pointers_inline_blocks_child_order_and_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = course(
        tmp.path(),
        r#"<chapter url_name="ch1"/><wiki slug="x"/><chapter url_name="ch2" display_name="Inline chapter"><sequential url_name="s2"/></chapter>"#,
        &[
            ("chapter/ch1.xml", r#"<chapter display_name="One"><sequential url_name="s1"/></chapter>"#),
            // An inline block is the block even though a file of its name exists.
            ("chapter/ch2.xml", r#"<chapter display_name="From the file"/>"#),
            (
                "sequential/s1.xml",
                r#"<sequential><vertical url_name="v1"><problem url_name="p_inline" display_name="Inline"><choiceresponse/></problem><html url_name="h1"/></vertical></sequential>"#,
            ),
            (
                "sequential/s2.xml",
                r#"<sequential display_name="Two"><vertical url_name="sub:v2"/></sequential>"#,
            ),
            // A `:` in a url_name is a folder of the pointer's file, as edX reads it.
            ("vertical/sub/v2.xml", r#"<vertical display_name="In a folder"/>"#),
            ("html/h1.xml", r#"<html filename="h1" display_name="Page"/>"#),
            // Never read: drafts, and an orphan (malformed on purpose).
            (
                "drafts/vertical/v1.xml",
                r#"<vertical display_name="draft"><problem url_name="zz"/></vertical>"#,
            ),
            ("problem/orphan.xml", "<problem"),
        ],
    );
    let out = tmp.path().join("out");
    import_ok(&[&dir], &out);
    let rows = blocks(&out);
    let keys: Vec<&str> = rows.iter().map(|r| get(r, "usage_key").unwrap()).collect();
    let expected: Vec<String> = [
        "course+block@course",
        "chapter+block@ch1",
        "sequential+block@s1",
        "vertical+block@v1",
        "problem+block@p_inline",
        "html+block@h1",
        "chapter+block@ch2",
        "sequential+block@s2",
        "vertical+block@sub:v2",
    ]
    .iter()
    .map(|k| format!("{K}{k}"))
    .collect();
    assert_eq!(keys, expected);
    assert_eq!(get(&rows[0], "course_id"), Some("course-v1:Org+C1+2026"));
    assert_eq!(
        get(&rows[0], "children"),
        Some(format!("{K}chapter+block@ch1|{K}chapter+block@ch2").as_str())
    );
    assert_eq!(get(block(&rows, &format!("{K}chapter+block@ch2")), "display_name"), Some("Inline chapter"));
    assert_eq!(get(block(&rows, &format!("{K}html+block@h1")), "display_name"), Some("Page"));
    assert_eq!(get(block(&rows, &format!("{K}html+block@h1")), "children"), None);
    assert_eq!(get(&rows[0], "course_version"), Some("v1"));
    assert_eq!(get(&rows[0], "published_at"), Some(micros("2026-01-01T00:00:00Z").as_str()));
}

#[test]
fn attribute_values_decode_as_edx_imports_them_and_are_explicit_only() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = course(
        tmp.path(),
        r#"<chapter url_name="ch" start="&quot;2026-02-01T00:00:00Z&quot;"><sequential url_name="s" graded="True" format="Homework" due="2026-03-01T10:00:00+02:00" show_correctness="past_due"><vertical url_name="v" visible_to_staff_only="true"><problem url_name="p" weight="2.5" graded="False" display_name="  Two  spaces "/><problem url_name="q" weight="null" start="null" due="2026-04-01T00:00:00"/><html url_name="h" group_access="{&quot;5&quot;: [1, 2]}"/></vertical></sequential></chapter>"#,
        &[],
    );
    let out = tmp.path().join("out");
    import_ok(&[&dir], &out);
    let rows = blocks(&out);
    let b = |k: &str| block(&rows, &format!("{K}{k}")).clone();
    assert_eq!(get(&b("chapter+block@ch"), "start"), Some(micros("2026-02-01T00:00:00Z").as_str()));
    let s = b("sequential+block@s");
    assert_eq!(get(&s, "graded"), Some("true"));
    assert_eq!(get(&s, "format"), Some("Homework"));
    assert_eq!(get(&s, "due"), Some(micros("2026-03-01T08:00:00Z").as_str()));
    assert_eq!(get(&s, "show_correctness"), Some("past_due"));
    // Explicit only: nothing is inherited from the sequential.
    let v = b("vertical+block@v");
    assert_eq!((get(&v, "graded"), get(&v, "due"), get(&v, "format")), (None, None, None));
    assert_eq!(get(&v, "visible_to_staff_only"), Some("true"));
    let p = b("problem+block@p");
    assert_eq!((get(&p, "weight"), get(&p, "graded")), (Some("2.5"), Some("false")));
    assert_eq!(get(&p, "display_name"), Some("  Two  spaces "), "the stored name exactly");
    let q = b("problem+block@q");
    assert_eq!((get(&q, "weight"), get(&q, "start")), (None, None));
    assert_eq!(get(&q, "due"), Some(micros("2026-04-01T00:00:00Z").as_str()), "a naive time is UTC");
    assert_eq!(get(&q, "display_name"), Some("Blank Problem"), "the type's default display name");
    assert_eq!(get(&b("html+block@h"), "group_access"), Some(r#"{"5": [1, 2]}"#));
}

#[test]
fn ora_display_name_comes_from_its_title() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = course(
        tmp.path(),
        r#"<chapter url_name="ch"><sequential url_name="s"><vertical url_name="v"><openassessment url_name="ora" submission_due="2029-01-01T00:00:00+00:00"><title>My  ORA</title><assessments><assessment name="self-assessment" start="2001-01-01T00:00:00+00:00"/></assessments></openassessment></vertical></sequential></chapter>"#,
        &[],
    );
    let out = tmp.path().join("out");
    import_ok(&[&dir], &out);
    let rows = blocks(&out);
    assert_eq!(rows.len(), 5, "an ORA's elements are its content, not blocks");
    let ora = block(&rows, &format!("{K}openassessment+block@ora"));
    assert_eq!(get(ora, "display_name"), Some("My  ORA"));
    assert_eq!(get(ora, "start"), None);
}

#[test]
fn policy_json_sets_course_attributes_and_the_grading_policy_text_is_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let policy = r#"{"course/2026": {"start": "2025-09-01T00:00:00Z", "end": "2026-06-30T00:00:00Z", "self_paced": true,
        "display_name": "From policy", "cohort_config": {"cohorted": true}, "certificates_display_behavior": "end_with_date",
        "certificate_available_date": "2026-07-01T00:00:00Z",
        "user_partitions": [{"id": 50, "name": "Content", "scheme": "cohort", "groups": [{"id": 1, "name": "A"}]}]},
        "chapter/ch": {"visible_to_staff_only": true}}"#;
    let dir = course(
        tmp.path(),
        r#"<chapter url_name="ch" display_name="Ch" visible_to_staff_only="false"/>"#,
        &[
            (
                "course/2026.xml",
                r#"<course display_name="From XML" start="2020-01-01T00:00:00Z"><chapter url_name="ch"/></course>"#,
            ),
            ("chapter/ch.xml", r#"<chapter display_name="Ch" visible_to_staff_only="false"/>"#),
            ("policies/2026/policy.json", policy),
        ],
    );
    let out = tmp.path().join("out");
    import_ok(&[&dir], &out);
    let rows = blocks(&out);
    assert_eq!(get(&rows[0], "display_name"), Some("From policy"), "policy.json wins over the XML");
    assert_eq!(get(&rows[0], "start"), Some(micros("2025-09-01T00:00:00Z").as_str()));
    assert_eq!(get(&rows[1], "visible_to_staff_only"), Some("true"));
    let pol = read_table(&out, "course_policies");
    let p = &rows_of(&pol[0])[0];
    assert_eq!(get(p, "grading_policy"), Some(GRADING), "the stored text, key order and int weight kept");
    assert_eq!(get(p, "course_start"), Some(micros("2025-09-01T00:00:00Z").as_str()));
    assert_eq!(get(p, "course_end"), Some(micros("2026-06-30T00:00:00Z").as_str()));
    assert_eq!(get(p, "self_paced"), Some("true"));
    assert_eq!(get(p, "cohorted"), Some("true"));
    assert_eq!(get(p, "teams_enabled"), Some("false"));
    assert_eq!(get(p, "certificates_display_behavior"), Some("end_with_date"));
    assert_eq!(get(p, "certificate_available_date"), Some(micros("2026-07-01T00:00:00Z").as_str()));
    assert_eq!(
        get(p, "user_partitions"),
        Some(r#"[{"id": 50, "name": "Content", "scheme": "cohort", "groups": [{"id": 1, "name": "A"}]}]"#)
    );
}

fn rows_of(batch: &RecordBatch) -> Rows {
    rows(batch)
}

#[test]
fn split_test_children_get_their_experiment_group() {
    let tmp = tempfile::tempdir().unwrap();
    let policy = r#"{"course/2026": {"user_partitions": [{"id": 7, "name": "Exp", "scheme": "random", "groups": [{"id": 0, "name": "A"}, {"id": 1, "name": "B"}]}]}}"#;
    let dir = course(
        tmp.path(),
        r#"<chapter url_name="ch"><sequential url_name="s"><split_test url_name="st" user_partition_id="7" group_id_to_child="{&quot;0&quot;: &quot;block-v1:Org+C1+2026+type@vertical+block@va&quot;, &quot;1&quot;: &quot;block-v1:Org+C1+2026+type@vertical+block@vb&quot;}"><vertical url_name="va" display_name="A"/><vertical url_name="vb" group_access="{&quot;50&quot;: [3]}"/><vertical url_name="vc" display_name="C"/></split_test></sequential></chapter>"#,
        &[("policies/2026/policy.json", policy)],
    );
    let out = tmp.path().join("out");
    import_ok(&[&dir], &out);
    let rows = blocks(&out);
    let ga =
        |k: &str| get(block(&rows, &format!("{K}vertical+block@{k}")), "group_access").map(str::to_string);
    assert_eq!(ga("va").as_deref(), Some(r#"{"7": [0]}"#));
    assert_eq!(ga("vb").as_deref(), Some(r#"{"50": [3], "7": [1]}"#), "merged with the child's own");
    assert_eq!(ga("vc").as_deref(), Some(r#"{"7": []}"#), "a child of no group is shown to none");
    assert_eq!(get(block(&rows, &format!("{K}split_test+block@st")), "group_access"), None);
}

#[test]
fn version_defaults_are_a_content_hash_and_the_newest_file_time_and_output_is_deterministic() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = course(tmp.path(), r#"<chapter url_name="ch"/>"#, &[("chapter/ch.xml", "<chapter/>")]);
    let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_767_225_600); // 2026-01-01
    for f in ["course.xml", "course/2026.xml", "chapter/ch.xml", "policies/2026/grading_policy.json"] {
        std::fs::File::options().write(true).open(dir.join(f)).unwrap().set_modified(when).unwrap();
    }
    let mut outputs = Vec::new();
    for n in 0..2 {
        let out = tmp.path().join(format!("out{n}"));
        let res =
            regrade(&["import", "olx", &dir.display().to_string(), "--output", &out.display().to_string()]);
        assert!(res.status.success(), "{}", stderr(&res));
        assert!(
            stderr(&res).contains("split_modulestore_django_splitmodulestorecourseindex"),
            "{}",
            stderr(&res)
        );
        outputs.push(out);
    }
    let files = |out: &Path| -> BTreeMap<String, Vec<u8>> {
        ["course_blocks", "course_policies"]
            .iter()
            .flat_map(|t| std::fs::read_dir(out.join(t)).unwrap())
            .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
            .map(|f| {
                let p = f.unwrap().path();
                (p.strip_prefix(out).unwrap().display().to_string(), std::fs::read(&p).unwrap())
            })
            .collect()
    };
    let (a, b) = (files(&outputs[0]), files(&outputs[1]));
    assert_eq!(a.len(), 2);
    assert_eq!(a, b, "byte-identical tables");
    let rows = blocks(&outputs[0]);
    let version = get(&rows[0], "course_version").unwrap();
    assert_eq!(version.len(), 24);
    assert!(version.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(
        get(&rows[0], "published_at"),
        Some(micros("2026-01-01T00:00:00Z").as_str()),
        "the newest file time"
    );
}

#[test]
fn a_version_already_there_is_refused_unless_overwrite_and_others_are_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = course(tmp.path(), r#"<chapter url_name="ch" display_name="A"/>"#, &[]);
    let out = tmp.path().join("out");
    import_ok(&[&dir], &out);
    let err = import_bad(&dir, &out);
    assert!(err.contains("already holds version v1") && err.contains("--overwrite"), "{err}");
    // Another version beside it.
    let res = regrade(&[
        "import",
        "olx",
        &dir.display().to_string(),
        "--output",
        &out.display().to_string(),
        "--course-version",
        "v2",
        "--published-at",
        "2026-02-01T00:00:00Z",
    ]);
    assert!(res.status.success(), "{}", stderr(&res));
    let res = regrade(&[
        "import",
        "olx",
        &dir.display().to_string(),
        "--output",
        &out.display().to_string(),
        "--course-version",
        "v1",
        "--published-at",
        "2026-01-01T00:00:00Z",
        "--overwrite",
    ]);
    assert!(res.status.success(), "{}", stderr(&res));
    assert_eq!(read_table(&out, "course_blocks").len(), 2, "v1 replaced, v2 kept");
    assert_eq!(read_table(&out, "course_policies").len(), 2);
}

#[test]
fn tar_gz_exports_and_several_at_once_pass_regrade_check() {
    let tmp = tempfile::tempdir().unwrap();
    let a = course(
        &tmp.path().join("a"),
        r#"<chapter url_name="ch"/>"#,
        &[("chapter/ch.xml", r#"<chapter display_name="X"/>"#)],
    );
    // The same course as a .tar.gz of a top-level folder `./course/`, another run.
    let b = course(
        &tmp.path().join("b"),
        r#"<chapter url_name="ch"/>"#,
        &[
            ("course.xml", r#"<course url_name="2027" org="Org" course="C1"/>"#),
            ("course/2027.xml", r#"<course><chapter url_name="ch"/></course>"#),
            ("chapter/ch.xml", r#"<chapter display_name="Y"/>"#),
        ],
    );
    let tgz = tmp.path().join("b.tar.gz");
    {
        let gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&tgz).unwrap(),
            flate2::Compression::default(),
        );
        let mut tar = tar::Builder::new(gz);
        tar.append_dir_all("./course", &b).unwrap();
        tar.into_inner().unwrap().finish().unwrap();
    }
    let out = tmp.path().join("out");
    import_ok(&[&a, &tgz], &out);
    let tables = read_table(&out, "course_blocks");
    assert_eq!(tables.len(), 2);
    let ids: Vec<String> = tables.iter().map(|t| cell(t, "course_id", 0).unwrap()).collect();
    assert_eq!(ids, ["course-v1:Org+C1+2026", "course-v1:Org+C1+2027"]);
    let res = regrade(&["check", &out.display().to_string(), "--tables", "course_blocks,course_policies"]);
    assert!(res.status.success(), "{}{}", String::from_utf8_lossy(&res.stdout), stderr(&res));
}

#[test]
fn bad_exports_exit_2_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let case = |name: &str, body: &str, extra: &[(&str, &str)]| course(&tmp.path().join(name), body, extra);

    let no_course = export(&tmp.path().join("none"), &[("chapter/ch.xml", "<chapter/>")]);
    let err = import_bad(&no_course, &out);
    assert!(err.contains("no course.xml"), "{err}");

    let err = import_bad(&case("missing", r#"<chapter url_name="gone"/>"#, &[]), &out);
    assert!(err.contains("course/2026.xml") && err.contains("chapter/gone.xml"), "{err}");

    let err = import_bad(
        &case(
            "malformed",
            r#"<chapter url_name="ch"/>"#,
            &[("chapter/ch.xml", "<chapter><sequential></chapter>")],
        ),
        &out,
    );
    assert!(err.contains("chapter/ch.xml") && err.contains("malformed XML"), "{err}");

    let err = import_bad(
        &case(
            "cycle",
            r#"<chapter url_name="ch"/>"#,
            &[
                ("chapter/ch.xml", r#"<chapter><sequential url_name="s"/></chapter>"#),
                ("sequential/s.xml", r#"<sequential><chapter url_name="ch"/></sequential>"#),
            ],
        ),
        &out,
    );
    assert!(
        err.contains("sequential/s.xml")
            && err.contains("cycle")
            && err.contains("chapter/ch -> sequential/s -> chapter/ch"),
        "{err}"
    );

    let err = import_bad(
        &case(
            "dup",
            r#"<chapter url_name="ch"><html url_name="h" display_name="a"/></chapter><chapter url_name="ch2"><html url_name="h" display_name="b"/></chapter>"#,
            &[],
        ),
        &out,
    );
    assert!(
        err.contains("duplicate url_name \"h\" of type html") && err.contains("course/2026.xml"),
        "{err}"
    );

    let err =
        import_bad(&case("grading", "", &[("policies/2026/grading_policy.json", "{\"GRADER\": [")]), &out);
    assert!(err.contains("policies/2026/grading_policy.json") && err.contains("not JSON"), "{err}");

    let err = import_bad(&case("policy", "", &[("policies/2026/policy.json", "{\"course/2026\": ")]), &out);
    assert!(err.contains("policies/2026/policy.json") && err.contains("not JSON"), "{err}");

    let err = import_bad(&case("nameless", r#"<chapter display_name="No name"/>"#, &[]), &out);
    assert!(err.contains("course/2026.xml") && err.contains("<chapter> has no url_name"), "{err}");

    // An archive: the error names the file inside it.
    let tgz = tmp.path().join("bad.tar.gz");
    {
        let gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&tgz).unwrap(),
            flate2::Compression::default(),
        );
        let mut tar = tar::Builder::new(gz);
        tar.append_dir_all("./course", tmp.path().join("malformed/course")).unwrap();
        tar.into_inner().unwrap().finish().unwrap();
    }
    let err = import_bad(&tgz, &out);
    assert!(err.contains("bad.tar.gz: course/chapter/ch.xml: malformed XML"), "{err}");
    assert!(!out.join("course_blocks").exists(), "nothing written for a bad export");
}

#[test]
fn demo_course_facts() {
    let Some(tgz) = demo() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    import_ok(&[&tgz], &out);
    let res = regrade(&["check", &out.display().to_string(), "--tables", "course_blocks,course_policies"]);
    assert!(res.status.success(), "{}{}", String::from_utf8_lossy(&res.stdout), stderr(&res));

    let rows = blocks(&out);
    assert_eq!(get(&rows[0], "course_id"), Some("course-v1:OpenedX+DemoX+DemoCourse"));
    assert_eq!(
        get(&rows[0], "usage_key"),
        Some("block-v1:OpenedX+DemoX+DemoCourse+type@course+block@course")
    );
    assert_eq!(rows.len(), 401);
    let mut by_type: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &rows {
        *by_type.entry(get(r, "block_type").unwrap()).or_default() += 1;
    }
    let expected: BTreeMap<&str, usize> = [
        ("course", 1),
        ("chapter", 6),
        ("sequential", 17),
        ("vertical", 58),
        ("html", 266),
        ("problem", 29),
        ("video", 11),
        ("openassessment", 2),
        ("lti", 2),
        ("library_content", 1),
        ("drag-and-drop-v2", 1),
        ("edx_sga", 1),
        ("staffgradedxblock", 1),
        ("done", 1),
        ("poll", 1),
        ("survey", 1),
        ("discussion", 1),
        ("annotatable", 1),
    ]
    .into_iter()
    .collect();
    assert_eq!(by_type, expected);

    let graded: Vec<(&str, &str, &str)> = rows
        .iter()
        .filter(|r| get(r, "graded") == Some("true"))
        .map(|r| (get(r, "usage_key").unwrap(), get(r, "display_name").unwrap(), get(r, "format").unwrap()))
        .collect();
    let seq = |id: &str| format!("block-v1:OpenedX+DemoX+DemoCourse+type@sequential+block@{id}");
    assert_eq!(
        graded,
        [
            (
                seq("276a277f5a784f53a7525e28b96e9a1b").as_str(),
                "Basic Assessment Tools",
                "Basic Assessment Tools"
            ),
            (
                seq("e2206f6f2cd449ab85a7aa424fd0fb72").as_str(),
                "Intermediate  Assessment Tools",
                "Intermediate Assessment Tools"
            ),
            (
                seq("971737e543204551bb34c4ca44e12b86").as_str(),
                "Advanced  Assessment Tools",
                "Advanced Assessment Tools"
            ),
        ]
    );
    for column in ["due", "visible_to_staff_only", "show_correctness"] {
        assert!(rows.iter().all(|r| get(r, column).is_none()), "no {column} anywhere");
    }
    let with_access: Vec<(&str, &str)> =
        rows.iter().filter_map(|r| Some((get(r, "block_type").unwrap(), get(r, "group_access")?))).collect();
    assert_eq!(
        with_access,
        [("html", r#"{"18587404": [1819362822]}"#), ("html", r#"{"18587404": [205150518]}"#)]
    );
    let lib = block(
        &rows,
        "block-v1:OpenedX+DemoX+DemoCourse+type@library_content+block@34a4d5e71d974c029cbde1956bd7c820",
    );
    assert_eq!(get(lib, "children").unwrap().split('|').count(), 6);

    let pol = read_table(&out, "course_policies");
    let p = &rows_of(&pol[0])[0];
    let stored = std::process::Command::new("tar")
        .args(["xzOf", &tgz.display().to_string(), "./course/policies/DemoCourse/grading_policy.json"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    // `tar` may be missing; the fragments below are checked either way.
    if !stored.is_empty() {
        assert_eq!(get(p, "grading_policy"), Some(stored.as_str()), "the grading policy text as stored");
    } else {
        eprintln!("note: no `tar` to extract the stored grading policy; its fragments are checked");
    }
    let policy = get(p, "grading_policy").unwrap();
    for needle in [
        r#""type": "Basic Assessment Tools""#,
        r#""short_label": "Intermediate""#,
        r#""weight": 0.35"#,
        r#""Pass": 0.5"#,
    ] {
        assert!(policy.contains(needle), "{needle} in {policy}");
    }
    assert_eq!(get(p, "course_start"), Some(micros("2020-01-01T00:00:00Z").as_str()));
    assert_eq!(get(p, "course_end"), None);
    assert_eq!(get(p, "self_paced"), Some("true"));
    let partitions = get(p, "user_partitions").unwrap();
    assert!(
        partitions.starts_with('[')
            && partitions.contains(r#""id": 18587404"#)
            && partitions.contains(r#""scheme": "cohort""#)
    );
    assert_eq!(partitions.matches(r#""version": 1}"#).count(), 3, "three groups: {partitions}");
}

/// Write one Parquet file of `columns` at `path`.
fn write_parquet(path: &Path, columns: Vec<(&str, arrow::array::ArrayRef)>) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let mut w =
        parquet::arrow::ArrowWriter::try_new(std::fs::File::create(path).unwrap(), batch.schema(), None)
            .unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

/// The demo course's library_content block and two of its six problems.
const DEMO_LIBRARY: &str =
    "block-v1:OpenedX+DemoX+DemoCourse+type@library_content+block@34a4d5e71d974c029cbde1956bd7c820";
const DEMO_PICKED: [&str; 2] = [
    "block-v1:OpenedX+DemoX+DemoCourse+type@problem+block@861cd64b013d1addc68f",
    "block-v1:OpenedX+DemoX+DemoCourse+type@problem+block@0895f1b6c0b329e50b90",
];

#[test]
fn demo_course_is_an_input_root_of_regrade_run() {
    use arrow::array::{
        BooleanArray, Float64Array, Int64Array, ListBuilder, StringArray, StringBuilder,
        TimestampMicrosecondArray,
    };
    use std::sync::Arc;
    let Some(tgz) = demo() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("input");
    import_ok(&[&tgz], &input);
    // Two enrolled learners who attempted nothing; learner 1 was shown two of the library's
    // six problems, learner 2 has no stored selection.
    let cid = "course-v1:OpenedX+DemoX+DemoCourse";
    let ts = |v: Vec<i64>| {
        Arc::new(TimestampMicrosecondArray::from(v).with_timezone("UTC")) as arrow::array::ArrayRef
    };
    let strs = |v: Vec<&str>| Arc::new(StringArray::from(v)) as arrow::array::ArrayRef;
    write_parquet(
        &input.join("enrollments/part-0.parquet"),
        vec![
            ("user_id", Arc::new(Int64Array::from(vec![1, 2])) as _),
            ("course_id", strs(vec![cid, cid])),
            ("mode", strs(vec!["audit", "audit"])),
            ("is_active", Arc::new(BooleanArray::from(vec![true, true])) as _),
            ("created", ts(vec![1_767_225_600_000_000, 1_767_225_600_000_000])),
        ],
    );
    let mut selected = ListBuilder::new(StringBuilder::new());
    for key in DEMO_PICKED {
        selected.values().append_value(key);
    }
    selected.append(true);
    write_parquet(
        &input.join("library_selections/part-0.parquet"),
        vec![
            ("user_id", Arc::new(Int64Array::from(vec![1])) as _),
            ("course_id", strs(vec![cid])),
            ("usage_key", strs(vec![DEMO_LIBRARY])),
            ("selected", Arc::new(selected.finish()) as _),
        ],
    );
    write_parquet(
        &input.join("studentmodule/part-0.parquet"),
        vec![
            ("student_id", Arc::new(Int64Array::from(Vec::<i64>::new())) as _),
            ("course_id", strs(vec![])),
            ("module_state_key", strs(vec![])),
            ("module_type", strs(vec![])),
            ("grade", Arc::new(Float64Array::from(Vec::<f64>::new())) as _),
            ("max_grade", Arc::new(Float64Array::from(Vec::<f64>::new())) as _),
            ("created", ts(vec![])),
            ("modified", ts(vec![])),
        ],
    );
    let run = tmp.path().join("run");
    let res = regrade(&[
        "run",
        "--input",
        &input.display().to_string(),
        "--output",
        &run.display().to_string(),
        "--as-of",
        "2026-11-01T00:00:00Z",
    ]);
    assert!(res.status.success(), "{}{}", String::from_utf8_lossy(&res.stdout), stderr(&res));
    let grades = rows_of(&read_table(&run, "course_grades")[0]);
    assert_eq!(grades.len(), 2);
    for g in &grades {
        assert_eq!(get(g, "course_version"), Some("v1"));
        assert_eq!((get(g, "percent_grade"), get(g, "passed")), (Some("0"), Some("false")));
    }
    // Points possible per graded subsection, as the README of the fixture gives them: the
    // library counts 2 of its 6 problems for both learners (18 if all six counted).
    let seq = |id: &str| format!("block-v1:OpenedX+DemoX+DemoCourse+type@sequential+block@{id}");
    let expected = [
        (seq("276a277f5a784f53a7525e28b96e9a1b"), "20"),
        (seq("e2206f6f2cd449ab85a7aa424fd0fb72"), "15"),
        (seq("971737e543204551bb34c4ca44e12b86"), "14"),
    ];
    let subsections: Vec<_> = read_table(&run, "subsection_grades").iter().flat_map(rows_of).collect();
    for user in ["1", "2"] {
        for (key, possible) in &expected {
            let row = subsections
                .iter()
                .find(|r| get(r, "user_id") == Some(user) && get(r, "usage_key") == Some(key.as_str()))
                .unwrap_or_else(|| panic!("user {user}: no row for {key}"));
            assert_eq!(get(row, "possible_graded"), Some(*possible), "user {user}, {key}");
        }
    }
    // The learner without a stored selection is counted, never silently graded.
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("manifest.json")).unwrap()).unwrap();
    let warning = &manifest["courses"][0]["warnings"]["library_content_without_selection"];
    assert_eq!(warning["count"], 1, "{manifest:#}");
    let summary = String::from_utf8_lossy(&res.stdout);
    assert!(summary.contains("warning: 1 learners without a stored library_content selection"), "{summary}");
}

#[test]
fn max_scores_file_replaces_the_computed_max_scores() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = course(
        tmp.path(),
        r#"<chapter url_name="ch"><sequential url_name="s"><vertical url_name="v"><problem url_name="p" display_name="P"/><html url_name="h" display_name="H"/></vertical></sequential></chapter>"#,
        &[],
    );
    let scores = tmp.path().join("scores.csv");
    std::fs::write(&scores, format!("usage_key,max_score\n{K}problem+block@p,7\n{K}html+block@h,\n"))
        .unwrap();
    let out = tmp.path().join("out");
    let args = |out: &Path, scores: &Path| {
        vec![
            "import".to_string(),
            "olx".into(),
            dir.display().to_string(),
            "--output".into(),
            out.display().to_string(),
            "--course-version".into(),
            "v1".into(),
            "--published-at".into(),
            "2026-01-01T00:00:00Z".into(),
            "--max-scores".into(),
            scores.display().to_string(),
        ]
    };
    let a = args(&out, &scores);
    let res = regrade(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(res.status.success(), "{}", stderr(&res));
    let rows = blocks(&out);
    let p = block(&rows, &format!("{K}problem+block@p"));
    assert_eq!((get(p, "max_score"), get(p, "has_score")), (Some("7"), Some("true")));
    let h = block(&rows, &format!("{K}html+block@h"));
    assert_eq!((get(h, "max_score"), get(h, "has_score")), (None, Some("true")));

    std::fs::write(&scores, "usage_key,max_score\nblock-v1:Org+C1+2026+type@problem+block@nope,1\n").unwrap();
    let a = args(&tmp.path().join("out2"), &scores);
    let res = regrade(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(res.status.code(), Some(2));
    assert!(stderr(&res).contains("no imported block has the usage key"), "{}", stderr(&res));
    // A bad value names its line; so does a missing header.
    std::fs::write(&scores, format!("usage_key,max_score\n{K}problem+block@p,-1\n")).unwrap();
    let a = args(&tmp.path().join("out3"), &scores);
    let res = regrade(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(res.status.code(), Some(2));
    assert!(
        stderr(&res).contains("line 2") && stderr(&res).contains("not a non-negative number"),
        "{}",
        stderr(&res)
    );
    std::fs::write(&scores, format!("{K}problem+block@p,1\n")).unwrap();
    let a = args(&tmp.path().join("out4"), &scores);
    let res = regrade(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(res.status.code(), Some(2));
    assert!(stderr(&res).contains("line 1: expected the header usage_key,max_score"), "{}", stderr(&res));
}

/// Where `import mysql` wrote the course index (`course_versions/`), an export without
/// `--course-version`/`--published-at` is the current version there, with its date; the flags
/// still win, and a course the index does not know falls back to the content hash.
#[test]
fn the_course_index_of_import_mysql_names_the_version_and_its_date() {
    use arrow::array::{ArrayRef, BooleanArray, StringArray, TimestampMicrosecondArray};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let export = course(dir.path(), r#"<chapter url_name="ch" display_name="Ch"></chapter>"#, &[]);
    let at = |t: &str| micros(t).parse::<i64>().unwrap();
    let index = |out: &Path, course_id: &str| {
        let ts: ArrayRef = Arc::new(
            TimestampMicrosecondArray::from(vec![at("2025-03-01T00:00:00Z"), at("2025-09-30T12:00:00Z")])
                .with_timezone("UTC"),
        );
        write_parquet(
            &out.join("course_versions/index.parquet"),
            vec![
                ("course_id", Arc::new(StringArray::from(vec![course_id; 2])) as ArrayRef),
                (
                    "course_version",
                    Arc::new(StringArray::from(vec!["aaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbb"])),
                ),
                ("published_at", ts),
                ("current", Arc::new(BooleanArray::from(vec![false, true]))),
            ],
        );
    };
    let versions = |out: &Path| -> Vec<(Option<String>, Option<String>)> {
        let mut v: Vec<_> = blocks(out)
            .iter()
            .map(|r| (get(r, "course_version").map(String::from), get(r, "published_at").map(String::from)))
            .collect();
        v.dedup();
        v
    };

    let out = dir.path().join("known");
    index(&out, "course-v1:Org+C1+2026");
    let res =
        regrade(&["import", "olx", &export.display().to_string(), "--output", &out.display().to_string()]);
    assert!(res.status.success(), "{}", stderr(&res));
    assert!(!stderr(&res).contains("no --course-version"), "no fallback warning: {}", stderr(&res));
    assert_eq!(
        versions(&out),
        [(Some("bbbbbbbbbbbbbbbbbbbbbbbb".into()), Some(micros("2025-09-30T12:00:00Z")))]
    );

    let flagged = dir.path().join("flagged");
    index(&flagged, "course-v1:Org+C1+2026");
    import_ok(&[&export], &flagged);
    assert_eq!(versions(&flagged), [(Some("v1".into()), Some(micros("2026-01-01T00:00:00Z")))]);

    let other = dir.path().join("other");
    index(&other, "course-v1:Org+Other+2026");
    let res =
        regrade(&["import", "olx", &export.display().to_string(), "--output", &other.display().to_string()]);
    assert!(res.status.success(), "{}", stderr(&res));
    assert!(stderr(&res).contains("no --course-version"), "{}", stderr(&res));
    assert_ne!(versions(&other)[0].0.as_deref(), Some("bbbbbbbbbbbbbbbbbbbbbbbb"));
}
