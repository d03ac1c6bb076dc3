//! `pyjson::parse` and `Json::dumps_canonical` (src/grade/pyjson.rs), and the grading policy
//! hash over them (src/grade/hash.rs).
//!
//! For any UTF-8 input: `parse` returns (never panics, loops or overflows the stack). For
//! any input it accepts, with `c = dumps_canonical(parse(input))`:
//!
//! * `c` is ASCII (`ensure_ascii=True`) and parses again;
//! * re-parsing `c` gives back the same value with its object keys sorted: same types (int
//!   stays int, float stays float), same ints digit for digit, same floats bit for bit
//!   (`-0.0`, NaN and the infinities included), same strings;
//! * so the canonical form is idempotent: `dumps_canonical(parse(c)) == c`;
//! * every finite float's Python repr reads back as the same f64 (shortest round trip);
//! * ints are canonical decimal digits (no `+`, no leading zero, no `-0`);
//! * `grading_policy_hash(v) == sha1_base64(c) == grading_policy_hash(parse(c))`.
//!
//! Values are compared structurally with [`same`], not with `==`: `Json`'s derived
//! `PartialEq` says NaN != NaN and 0.0 == -0.0, and Python's `json.dumps` writes NaN as
//! `NaN` and keeps the sign of zero, so the canonical text, not `==`, is what must agree.

#![no_main]

use libfuzzer_sys::fuzz_target;
use regrade::grade::hash::{grading_policy_hash, sha1_base64};
use regrade::py::fmt as pyfmt;
use regrade::py::json::{self as pyjson, Json};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(value) = pyjson::parse(text) else { return };
    check_leaves(&value);

    let canonical = value.dumps_canonical();
    assert!(canonical.is_ascii(), "dumps_canonical wrote non-ASCII: {canonical:?}");
    let again = match pyjson::parse(&canonical) {
        Ok(v) => v,
        Err(e) => panic!("canonical form does not parse again: {e}\ncanonical: {canonical}"),
    };
    assert!(
        same(&sorted(&value), &again),
        "re-parsed canonical form differs\n input: {value:?}\n again: {again:?}\ncanonical: {canonical}"
    );
    assert_eq!(again.dumps_canonical(), canonical, "dumps_canonical is not idempotent");

    let hash = grading_policy_hash(&value);
    assert_eq!(hash, sha1_base64(&canonical));
    assert_eq!(hash, grading_policy_hash(&again));
});

/// The value with every object's entries sorted by key, as `sort_keys=True` writes them.
fn sorted(v: &Json) -> Json {
    match v {
        Json::Array(items) => Json::Array(items.iter().map(sorted).collect()),
        Json::Object(entries) => {
            let mut entries: Vec<(String, Json)> =
                entries.iter().map(|(k, v)| (k.clone(), sorted(v))).collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Json::Object(entries)
        }
        other => other.clone(),
    }
}

/// Structural equality, floats compared bit for bit (NaN payloads aside: Python writes
/// every NaN as `NaN`).
fn same(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Float(x), Json::Float(y)) => (x.is_nan() && y.is_nan()) || x.to_bits() == y.to_bits(),
        (Json::Array(xs), Json::Array(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| same(x, y))
        }
        (Json::Object(xs), Json::Object(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys).all(|((kx, x), (ky, y))| kx == ky && same(x, y))
        }
        (Json::Float(_), _) | (_, Json::Float(_)) => false,
        _ => a == b,
    }
}

/// Leaf invariants: canonical int digits, float repr round trip, no duplicate keys.
fn check_leaves(v: &Json) {
    match v {
        Json::Int(d) => {
            let digits = d.strip_prefix('-').unwrap_or(d);
            assert!(!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()), "bad int {d:?}");
            assert!(digits == "0" || !digits.starts_with('0'), "int with a leading zero {d:?}");
            assert_ne!(d, "-0", "-0 must read as the int 0");
        }
        Json::Float(x) if x.is_finite() => {
            let r = pyfmt::repr(*x);
            let back: f64 = r.parse().unwrap_or_else(|e| panic!("repr({x:?}) = {r:?} does not parse: {e}"));
            assert_eq!(back.to_bits(), x.to_bits(), "repr({x:?}) = {r:?} does not round-trip");
        }
        Json::Array(items) => items.iter().for_each(check_leaves),
        Json::Object(entries) => {
            for (i, (k, v)) in entries.iter().enumerate() {
                assert!(entries[..i].iter().all(|(k2, _)| k2 != k), "duplicate key {k:?} kept twice");
                check_leaves(v);
            }
        }
        _ => {}
    }
}
