//! `GradingPolicy::parse` (src/grade/policy.rs): a course's stored grading policy JSON
//! `{"GRADER": [...], "GRADE_CUTOFFS": {...}}`, validated as edX's `grader_from_conf` does.
//!
//! For any UTF-8 input, `parse` returns Ok or Err (never panics, loops or overflows the
//! stack). For a policy it accepts:
//!
//! * `hash` is `base64(sha1(canonical JSON of the merged dict))`;
//! * the canonical form of the merged dict is itself an accepted policy with the same hash,
//!   the same graders and the same cutoffs (as a set: canonical JSON sorts the keys, so the
//!   dict order of `GRADE_CUTOFFS`, which breaks ties between equal cutoffs, may change);
//! * letter grades and pass/fail are consistent: at a cutoff's own value the letter grade
//!   has that cutoff value, and it passes when the cutoff is positive;
//! * it grades: the policy module promises to reject what would make edX fail at grading
//!   time, so `WeightedGrader::percent` (the fast path) and `WeightedGrader::grade` (the
//!   report path with every display string) run on a few small gradebooks without
//!   panicking, and agree on the course percent.

#![no_main]

use libfuzzer_sys::fuzz_target;
use regrade::grade::compat::{Compat, PROFILES};
use regrade::grade::graders::{Scratch, SheetEntry};
use regrade::grade::hash::{grading_policy_hash, sha1_base64};
use regrade::grade::policy::GradingPolicy;

/// Gradebooks: the graded percents of a learner's subsections of each assignment type.
const GRADEBOOKS: &[&[f64]] = &[&[], &[0.5], &[1.0, 0.25, 0.0, 0.75]];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(policy) = GradingPolicy::parse(text) else { return };

    let canonical = policy.merged.dumps_canonical();
    assert_eq!(policy.hash, sha1_base64(&canonical));
    assert_eq!(policy.hash, grading_policy_hash(&policy.merged));

    let again = match GradingPolicy::parse(&canonical) {
        Ok(p) => p,
        Err(e) => panic!("the canonical form of an accepted policy is refused: {e}\ncanonical: {canonical}"),
    };
    assert_eq!(again.hash, policy.hash);
    // Debug strings, not ==: a NaN weight is accepted (edX multiplies by it) and NaN != NaN.
    assert_eq!(format!("{:?}", again.grader), format!("{:?}", policy.grader));
    assert_eq!(cutoff_set(&again), cutoff_set(&policy));

    for (letter, cutoff) in &policy.cutoffs {
        let got =
            policy.letter_grade(*cutoff).unwrap_or_else(|| panic!("no letter at {letter}'s own cutoff"));
        let got_cutoff = policy.cutoffs.iter().find(|(l, _)| l == got).map(|(_, c)| *c);
        assert_eq!(got_cutoff, Some(*cutoff), "at {letter}'s cutoff {cutoff} the letter is {got}");
        if *cutoff > 0.0 {
            assert_eq!(policy.passed(*cutoff), Some(true));
        }
    }
    for p in [0.0, 0.5, 1.0, -1.0, f64::NAN, f64::INFINITY] {
        let _ = policy.letter_grade(p);
        let _ = policy.passed(p);
    }

    for compat in [PROFILES[0], Compat::newest()] {
        for percents in GRADEBOOKS {
            let mut scratch = Scratch::default();
            let fast = policy.grader.percent(|_| percents, &mut scratch);
            let sheet: Vec<SheetEntry<'_>> = percents
                .iter()
                .map(|&p| SheetEntry {
                    location: "block-v1:Org+Course+Run+type@sequential+block@s",
                    display_name: "Subsection",
                    graded_earned: p * 4.0,
                    graded_possible: 4.0,
                    percent_graded: p,
                })
                .collect();
            let full = policy.grader.grade(|_| sheet.clone(), &compat);
            assert!(
                full.percent.to_bits() == fast.to_bits() || (full.percent.is_nan() && fast.is_nan()),
                "grade() says {} but percent() says {fast}",
                full.percent
            );
            let _ = policy.letter_grade(fast);
            let _ = policy.passed(fast);
        }
    }
});

/// The cutoffs sorted by letter, as text (NaN is refused, so no float subtleties).
fn cutoff_set(p: &GradingPolicy) -> String {
    let mut c = p.cutoffs.clone();
    c.sort_by(|a, b| a.0.cmp(&b.0));
    format!("{c:?}")
}
