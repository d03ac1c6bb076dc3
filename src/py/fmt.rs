//! Python-compatible number formatting.
//!
//! edX's numbers reach users and hashes through Python's string conversions, so regrade
//! must print floats exactly as CPython does:
//!
//! * [`repr`]: `repr(float)` / `str(float)`, the shortest string that round-trips, switching
//!   to exponent form when the decimal exponent is below -4 or at least 16 (`1e-05`,
//!   `1e+16`, `0.0001`, `1.0`). Used by CSV cells and by `json.dumps`.
//! * [`percent`]: `format(x, '.2%')` (and `.0%` for old releases): multiply by 100 in f64,
//!   then round the exact binary value half-to-even.
//! * [`general3`]: `format(x, '.3n')` in the C locale, i.e. `.3g`.
//!
//! Rust's float formatting is exact (shortest round-trip for `{}`/`{:e}`, correctly
//! rounded half-to-even for `{:.N}`), so these functions only rearrange its digits.
//!
//! [`PyNum`] keeps Python's int/float distinction where edX's code lets an `int` leak into
//! output (`total_with_drops` starts its sum at the integer `0`).

use std::fmt;

/// A Python number as edX's code produces it: an `int` or a `float`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PyNum {
    Int(i64),
    Float(f64),
}

impl PyNum {
    /// The value as an f64 (Python's implicit conversion in mixed arithmetic).
    pub fn as_f64(self) -> f64 {
        match self {
            PyNum::Int(i) => i as f64,
            PyNum::Float(f) => f,
        }
    }

    /// Python `a * b`: int times int stays an int, anything else is a float.
    pub(crate) fn py_mul(self, other: PyNum) -> PyNum {
        match (self, other) {
            (PyNum::Int(a), PyNum::Int(b)) => PyNum::Int(a.wrapping_mul(b)),
            _ => PyNum::Float(self.as_f64() * other.as_f64()),
        }
    }
}

impl fmt::Display for PyNum {
    /// `str()` of the number, as Python prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PyNum::Int(i) => write!(f, "{i}"),
            PyNum::Float(x) => f.write_str(&repr(*x)),
        }
    }
}

/// Splits Rust's shortest round-trip scientific form into (negative, digits, exponent),
/// with `value = 0.d1d2d3... * 10^exponent` (Python's `decpt` convention).
fn shortest_digits(x: f64) -> (bool, String, i32) {
    let s = format!("{:e}", x);
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.as_str()),
    };
    let (mantissa, exp) = s.split_once('e').expect("`{:e}` always has an exponent");
    let exp: i32 = exp.parse().expect("`{:e}` exponent is an integer");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    (neg, digits, exp + 1)
}

/// Python's `repr(float)`: `0.1`, `1.0`, `1e-05`, `1.5e+16`, `inf`, `nan`, `-0.0`.
pub fn repr(x: f64) -> String {
    let mut out = String::new();
    push_repr(&mut out, x);
    out
}

/// [`repr`] appended to `out`; whole numbers (most report cells) without an allocation.
pub(crate) fn push_repr(out: &mut String, x: f64) {
    if x.is_nan() {
        out.push_str("nan");
    } else if x.is_infinite() {
        out.push_str(if x > 0.0 { "inf" } else { "-inf" });
    } else if x == 0.0 {
        out.push_str(if x.is_sign_negative() { "-0.0" } else { "0.0" });
    } else if x.fract() == 0.0 && x.abs() < 1e16 {
        // Whole numbers below 1e16 (most scores): Python prints the integer and `.0`; exact, as
        // every integer below 2^53 is a float and above it the float *is* that integer.
        use std::fmt::Write;
        let _ = write!(out, "{}.0", x as i64);
    } else {
        out.push_str(&repr_digits(x));
    }
}

/// [`repr`] of a finite, non-zero float, from its shortest digits.
fn repr_digits(x: f64) -> String {
    let (neg, digits, decpt) = shortest_digits(x);
    let mut out = String::with_capacity(digits.len() + 8);
    if neg {
        out.push('-');
    }
    if !(-4 < decpt && decpt <= 16) {
        // Exponent form: d[.ddd]e±XX, at least two exponent digits.
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let e = decpt - 1;
        out.push('e');
        out.push(if e < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", e.abs()));
    } else if decpt <= 0 {
        out.push_str("0.");
        for _ in 0..(-decpt) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let d = decpt as usize;
        if d >= digits.len() {
            out.push_str(&digits);
            for _ in digits.len()..d {
                out.push('0');
            }
            out.push_str(".0");
        } else {
            out.push_str(&digits[..d]);
            out.push('.');
            out.push_str(&digits[d..]);
        }
    }
    out
}

/// Python's `format(x, '.{decimals}%')`: `x * 100` in f64, fixed notation rounded
/// half-to-even on the exact binary value, then `%`.
pub fn percent(x: PyNum, decimals: usize) -> String {
    let v = x.as_f64() * 100.0;
    if v.is_nan() {
        return "nan%".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf%" } else { "-inf%" }.to_string();
    }
    format!("{:.*}%", decimals, v)
}

/// Python's `format(x, '.3n')` (C locale), which is `.3g`: three significant digits,
/// trailing zeros stripped, exponent form when the exponent is below -4 or at least 3.
pub(crate) fn general3(x: f64) -> String {
    general(x, 3)
}

/// Python's `format(x, '.{precision}g')`.
pub(crate) fn general(x: f64, precision: usize) -> String {
    let p = precision.max(1);
    if x.is_nan() {
        return "nan".to_string();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    // The exponent after rounding to p significant digits.
    let sci = format!("{:.*e}", p - 1, x);
    let (mantissa, exp) = sci.split_once('e').expect("`{:e}` always has an exponent");
    let exp: i32 = exp.parse().expect("`{:e}` exponent is an integer");
    if -4 <= exp && exp < p as i32 {
        let decimals = (p as i32 - 1 - exp) as usize;
        strip_zeros(format!("{:.*}", decimals, x))
    } else {
        let mut out = strip_zeros(mantissa.to_string());
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exp.abs()));
        out
    }
}

fn strip_zeros(mut s: String) -> String {
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repr_matches_python() {
        let cases = [
            (0.1, "0.1"),
            (1.0, "1.0"),
            (1e-05, "1e-05"),
            (0.0001, "0.0001"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (123456789012345680.0, "1.2345678901234568e+17"),
            (0.5, "0.5"),
            (0.125, "0.125"),
            (1.0 / 6.0, "0.16666666666666666"),
            (0.11000000000000001, "0.11000000000000001"),
            (-2.5, "-2.5"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (1.5e-7, "1.5e-07"),
            (2.5e100, "2.5e+100"),
            (12345.678, "12345.678"),
            (f64::INFINITY, "inf"),
        ];
        for (x, want) in cases {
            assert_eq!(repr(x), want, "repr({x:e})");
        }
    }

    #[test]
    fn whole_number_fast_path_agrees_with_the_digits() {
        let mut cases =
            vec![1.0, -1.0, 3.0, 42.0, -250.0, 9007199254740992.0, 9999999999999998.0, -9999999999999998.0];
        cases.extend((1..2000).map(|i| i as f64 * 7.0));
        for x in cases {
            assert_eq!(repr(x), repr_digits(x), "repr({x:e})");
        }
        assert_eq!(repr(9999999999999998.0), "9999999999999998.0");
        assert_eq!(repr(-3.0), "-3.0");
    }

    #[test]
    fn percent_matches_python() {
        assert_eq!(percent(PyNum::Float(0.125), 2), "12.50%");
        assert_eq!(percent(PyNum::Float(0.505), 2), "50.50%");
        assert_eq!(percent(PyNum::Int(0), 2), "0.00%");
        assert_eq!(percent(PyNum::Float(0.5), 0), "50%");
        // 0.125 * 100 = 12.5 exactly: half-to-even gives 12.
        assert_eq!(percent(PyNum::Float(0.125), 0), "12%");
        assert_eq!(percent(PyNum::Float(0.135), 0), "14%");
        assert_eq!(percent(PyNum::Float(1.0), 2), "100.00%");
    }

    #[test]
    fn general3_matches_python() {
        let cases = [
            (1.0, "1"),
            (0.5, "0.5"),
            (50.5, "50.5"),
            (100.0, "100"),
            (1234.0, "1.23e+03"),
            (0.12345, "0.123"),
            (0.0, "0"),
            (999.5, "1e+03"),
            (0.0001, "0.0001"),
            (0.00001234, "1.23e-05"),
            (2.0, "2"),
            (16.0, "16"),
            (42.0, "42"),
            (0.25, "0.25"),
        ];
        for (x, want) in cases {
            assert_eq!(general3(x), want, "format({x}, '.3n')");
        }
    }

    #[test]
    fn pynum_arithmetic_keeps_python_types() {
        assert_eq!(PyNum::Int(0).py_mul(PyNum::Int(3)), PyNum::Int(0));
        assert_eq!(PyNum::Int(0).py_mul(PyNum::Float(0.5)), PyNum::Float(0.0));
        assert_eq!(PyNum::Int(0).to_string(), "0");
        assert_eq!(PyNum::Float(0.0).to_string(), "0.0");
    }
}
