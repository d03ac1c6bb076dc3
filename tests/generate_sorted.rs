//! `regrade generate` writes every learner table sorted by learner within each course: the
//! learner column's min/max in the Parquet footers never go down from one row group to the
//! next, across the part files of a course in part order, and the values inside each file are
//! sorted. `REGRADE_TEST_GENERATE_PARTS` makes the parts small, so a small dataset has many.

mod common;

use std::path::Path;
use std::process::Command;

use common::learner_order::{self, LEARNER_TABLES};

fn generate(out: &Path, seed: &str) {
    let res = Command::new(env!("CARGO_BIN_EXE_regrade"))
        .args([
            "generate",
            out.to_str().unwrap(),
            "-q",
            "--seed",
            seed,
            "--courses",
            "4",
            "--learners",
            "300",
        ])
        .env("REGRADE_TEST_GENERATE_PARTS", "400,25")
        .output()
        .unwrap();
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
}

#[test]
fn learner_tables_are_sorted_by_learner_across_row_groups_and_parts() {
    let tmp = tempfile::tempdir().unwrap();
    let mut several = 0;
    // Two seeds: courses whose learners wrap around the end of the user pool are likely in one.
    for seed in ["5", "11"] {
        let out = tmp.path().join(seed);
        generate(&out, seed);
        for (table, column) in LEARNER_TABLES {
            let courses = learner_order::layout(&out, table, column);
            assert!(!courses.is_empty(), "seed {seed}: no {table}");
            for (course, files) in courses {
                let what = format!("seed {seed}: {table} of {course}");
                let mut last: Option<(i64, String)> = None;
                for f in &files {
                    assert!(f.sorted, "{what}: {} is not sorted by {column}", f.name);
                    for g in &f.groups {
                        if let Some((max, at)) = &last {
                            assert!(
                                *max <= g.min,
                                "{what}: a row group of {} starts at {} below {max}, the end of one of {at}",
                                f.name,
                                g.min
                            );
                        }
                        last = Some((g.max, f.name.clone()));
                    }
                }
                if files.len() >= 3 {
                    several += 1;
                }
            }
        }
    }
    assert!(
        several >= 10,
        "only {several} (table, course) pairs with 3 files or more: the parts are not small"
    );
}
