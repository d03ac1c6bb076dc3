//! Grading policies edX refuses, or would fail on while grading: each is a clear error
//! naming where in the policy the problem is.

use regrade::grade::policy::GradingPolicy;

fn err(policy: &str) -> String {
    GradingPolicy::parse(policy).unwrap_err().to_string()
}

#[test]
fn malformed_json_names_the_byte_offset() {
    let e = err(r#"{"GRADER": [}"#);
    assert!(e.contains("not valid JSON") && e.contains("byte 12"), "{e}");
}

#[test]
fn wrong_shapes_are_named() {
    assert!(err("[]").contains("must be a JSON object"));
    assert!(err(r#"{"GRADER": {}}"#).starts_with("GRADER: must be a list"));
    assert!(err(r#"{"GRADER": [3]}"#).starts_with("GRADER[0]: a GRADER entry must be an object"));
    assert!(err(r#"{"GRADE_CUTOFFS": []}"#).starts_with("GRADE_CUTOFFS: must be an object"));
    let e = err(r#"{"GRADE_CUTOFFS": {"A": "0.9"}}"#);
    assert!(e.starts_with("GRADE_CUTOFFS.A") && e.contains("expected a number"), "{e}");
}

#[test]
fn values_edx_would_fail_on_while_grading() {
    let e = err(r#"{"GRADER": [{"type": "HW", "min_count": 1, "drop_count": 0, "weight": "0.5"}]}"#);
    assert!(e.contains("GRADER[0]") && e.contains("weight is a string"), "{e}");
    let e = err(r#"{"GRADER": [{"type": "HW", "min_count": 1, "drop_count": 1.0}]}"#);
    assert!(e.contains("drop_count is a float"), "{e}");
    let e = err(r#"{"GRADER": [{"type": "HW", "min_count": "many", "drop_count": 0}]}"#);
    assert!(e.contains("min_count \"many\" is not a number"), "{e}");
    let e = err(r#"{"GRADER": [{"type": "HW", "min_count": "nan", "drop_count": 0}]}"#);
    assert!(e.contains("cannot be converted to an integer"), "{e}");
    let e = err(r#"{"GRADER": [{"min_count": 1, "drop_count": 0}]}"#);
    assert!(e.contains("missing required argument 'type'"), "{e}");
    let e = err(r#"{"GRADER": [{"type": 7, "min_count": 1, "drop_count": 0}]}"#);
    assert!(e.contains("type is a int"), "{e}");
}

#[test]
fn edx_leniencies_are_kept() {
    // min_count as a string or float is read with int(float(x)); unknown keys are dropped
    // with a warning; a missing GRADE_CUTOFFS comes from the defaults; weight defaults to 0.
    let p = GradingPolicy::parse(
        r#"{"GRADER": [{"type": "HW", "min_count": " 3.9 ", "drop_count": 0, "colour": "red", "passing": 1}]}"#,
    )
    .unwrap();
    assert_eq!(p.grader.subgraders[0].min_count, 3);
    assert_eq!(p.grader.subgraders[0].weight, regrade::py::fmt::PyNum::Int(0));
    assert_eq!(p.warnings.len(), 1);
    assert!(p.warnings[0].contains("colour") && p.warnings[0].contains("passing"));
    assert_eq!(p.cutoffs, vec![("Pass".to_string(), 0.5)]);
    // Extra top-level keys are kept, and hashed.
    let extra = GradingPolicy::parse(r#"{"GRADER": [], "GRADE_CUTOFFS": {"Pass": 0.5}, "x": 1}"#).unwrap();
    let plain = GradingPolicy::parse(r#"{"GRADER": [], "GRADE_CUTOFFS": {"Pass": 0.5}}"#).unwrap();
    assert_ne!(extra.hash, plain.hash);
    // Negative drop_count: no drop, and edX divides by len + |drop|.
    let neg = GradingPolicy::parse(
        r#"{"GRADER": [{"type": "HW", "min_count": 2, "drop_count": -1, "weight": 1.0}]}"#,
    )
    .unwrap();
    let raw = neg.grader.percent(|_| &[1.0, 1.0], &mut Default::default());
    assert_eq!(raw, 2.0 / 3.0);
}

/// Found by `fuzz/fuzz_targets/grading_policy.rs` (inputs in `fuzz/regressions/grading_policy/`).
#[test]
fn fuzz_regressions_extreme_counts() {
    // A min_count edX would pad every gradebook to: refused, not an 8 TB allocation.
    for text in [
        r#"{"GRADER":[{"type":"","min_count":1e12,"drop_count":0}]}"#,
        r#"{"GRADER":[{"type":"","min_count":1000000000000,"drop_count":0}]}"#,
    ] {
        let e = err(text);
        assert!(e.contains("GRADER[0]") && e.contains("min_count 1000000000000 is more than 100000"), "{e}");
    }
    assert!(GradingPolicy::parse(r#"{"GRADER":[{"type":"","min_count":100000,"drop_count":0}]}"#).is_ok());
    // drop_count -2**63: Python divides by len + 2**63 (no overflow): a tiny positive average.
    let p = GradingPolicy::parse(
        r#"{"GRADER":[{"type":"","min_count":0,"drop_count":-9223372036854775808,"weight":1.0}]}"#,
    )
    .unwrap();
    let raw = p.grader.percent(|_| &[1.0, 1.0], &mut Default::default());
    assert_eq!(raw, 2.0 / (2.0 + 9_223_372_036_854_775_808.0));
    // starting_index 2**63-1: labels count on past i64 as Python ints do.
    let p = GradingPolicy::parse(
        r#"{"GRADER":[{"type":"HW","min_count":2,"drop_count":0,"starting_index":9223372036854775807}]}"#,
    )
    .unwrap();
    let r = p.grader.subgraders[0].grade(&[], &regrade::grade::compat::Compat::newest());
    let labels: Vec<&str> = r.section_breakdown.iter().map(|e| e.label.as_str()).collect();
    assert_eq!(&labels[..2], &["HW 9223372036854775807", "HW 9223372036854775808"]);
}

/// Python's `float()` takes `_` only between digits (found comparing with Python on fuzz inputs).
#[test]
fn min_count_strings_follow_python_float() {
    let p = GradingPolicy::parse(r#"{"GRADER":[{"type":"HW","min_count":"1_0.5","drop_count":0}]}"#).unwrap();
    assert_eq!(p.grader.subgraders[0].min_count, 10);
    for bad in ["1_.5", "1e_5", "1._5", "_1", "1_", "1__0"] {
        let text = format!(r#"{{"GRADER":[{{"type":"HW","min_count":"{bad}","drop_count":0}}]}}"#);
        assert!(err(&text).contains("is not a number"), "{bad}");
    }
}

/// Every regression input the fuzzer found parses without a panic (and grades, when accepted).
#[test]
fn fuzz_regression_files_do_not_panic() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions/grading_policy");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        if let Ok(p) = GradingPolicy::parse(&text) {
            let _ = p.grader.percent(|_| &[0.5, 1.0, 0.0], &mut Default::default());
        }
        n += 1;
    }
    assert!(n >= 3);
}
