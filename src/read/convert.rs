//! Converting an accepted input column to the canonical Arrow type of its family.
//!
//! Besides the widths of a family (any integer, float32, any string or timestamp), the reader
//! accepts the lossless variants exports produce, and converts them exactly or not at all:
//!
//! - **Integers where booleans are expected** (MySQL's `tinyint(1)`): 0 is false, 1 is true;
//!   any other value is refused, naming its row.
//! - **Integers where floats are expected** (edX's `submissions` scores are integers): every
//!   integer up to 2^53 in magnitude is exactly a float64. Beyond, a float64 no longer holds
//!   every integer (2^53 + 1 would read as 2^53), and no score edX stores comes near (its
//!   columns are 32-bit), so such a value is refused, naming its row, rather than changed.
//! - **Decimals where floats are expected**: the nearest float64 to the decimal's exact value
//!   (ties to even), as Python's `float()` of the same digits gives. Arrow's own cast divides
//!   by a power of ten computed in floating point, which is not always the nearest; see
//!   [`decimal_to_f64`].
//! - **Arrow's `null` type** (a column a writer could not type, all nulls): a null column of
//!   the canonical type. Where nulls are not allowed the file is refused before reading
//!   (unless it has no rows), see `columns`.
//!
//! The conversion is chosen once per column from its type; the values are then checked and
//! converted with Arrow's vectorised kernels, a batch at a time.

use std::sync::Arc;

use arrow::array::{new_null_array, Array, ArrayRef, AsArray, PrimitiveArray, TimestampMicrosecondArray};
use arrow::compute::{cast_with_options, CastOptions};
use arrow::datatypes::{
    i256, ArrowNativeTypeOp, ArrowPrimitiveType, DataType, Decimal128Type, Decimal256Type, Decimal32Type,
    Decimal64Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, TimeUnit,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
    UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow::error::ArrowError;

use crate::schema::Family;

/// 2^53: every integer of at most this magnitude is exactly a float64.
pub(super) const EXACT_INTEGERS: u64 = 1 << 53;

/// Why a column could not be converted.
#[derive(Debug)]
pub(super) enum ConvertError {
    /// Arrow's cast failed (a value out of range for the canonical type).
    Arrow(ArrowError),
    /// A value that has no exact counterpart in the canonical type, at `row` of the array.
    Value { row: usize, value: String, why: &'static str },
}

impl From<ArrowError> for ConvertError {
    fn from(e: ArrowError) -> Self {
        ConvertError::Arrow(e)
    }
}

const NOT_A_BIT: &str = "an integer column is read as booleans only when it holds only 0 or 1 \
                         (false and true)";
const TOO_BIG: &str = "beyond 2^53 (9007199254740992) in magnitude a float64 does not hold every \
                       integer, so the value would change; integers are read as floats only up \
                       to 2^53";

/// Convert an accepted input array to the canonical type of its family.
pub(super) fn to_canonical(array: &ArrayRef, family: Family) -> Result<ArrayRef, ConvertError> {
    let target = family.canonical();
    let from = array.data_type();
    if from == &target {
        return Ok(array.clone());
    }
    match (family, from) {
        (_, DataType::Null) => Ok(new_null_array(&target, array.len())),
        (_, DataType::Timestamp(unit, _)) => Ok(timestamp_to_micros_utc(array, *unit)?),
        (Family::Bool, t) if t.is_integer() => bool_from_integers(array),
        (Family::Float, DataType::Int64) => {
            let a = array.as_primitive::<Int64Type>();
            exact(a, |v| v.unsigned_abs() <= EXACT_INTEGERS)?;
            Ok(floats(a, |v| v as f64))
        }
        (Family::Float, DataType::UInt64) => {
            let a = array.as_primitive::<UInt64Type>();
            exact(a, |v| v <= EXACT_INTEGERS)?;
            Ok(floats(a, |v| v as f64))
        }
        (Family::Float, DataType::Decimal32(_, s)) => {
            Ok(floats(array.as_primitive::<Decimal32Type>(), |v| decimal_to_f64(v.into(), *s)))
        }
        (Family::Float, DataType::Decimal64(_, s)) => {
            Ok(floats(array.as_primitive::<Decimal64Type>(), |v| decimal_to_f64(v.into(), *s)))
        }
        (Family::Float, DataType::Decimal128(_, s)) => {
            Ok(floats(array.as_primitive::<Decimal128Type>(), |v| decimal_to_f64(v, *s)))
        }
        (Family::Float, DataType::Decimal256(_, s)) => {
            Ok(floats(array.as_primitive::<Decimal256Type>(), |v| decimal256_to_f64(v, *s)))
        }
        // The rest is exact by construction (narrower integers and float32 to float64, string
        // and list encodings); `safe: false` makes an out-of-range value an error, not a null.
        _ => Ok(cast_with_options(array, &target, &CastOptions { safe: false, ..Default::default() })?),
    }
}

/// [`to_canonical`] with its errors as Arrow errors.
pub fn normalise(array: &ArrayRef, family: Family) -> Result<ArrayRef, ArrowError> {
    to_canonical(array, family).map_err(|e| match e {
        ConvertError::Arrow(e) => e,
        ConvertError::Value { row, value, why } => {
            ArrowError::ComputeError(format!("value {value} at row {row}: {why}"))
        }
    })
}

/// The first valid value `ok` refuses, with its row.
fn first_refused<T: ArrowPrimitiveType>(
    a: &PrimitiveArray<T>,
    ok: impl Fn(T::Native) -> bool,
) -> Option<(usize, T::Native)> {
    a.values().iter().enumerate().find(|&(i, v)| !ok(*v) && a.is_valid(i)).map(|(i, v)| (i, *v))
}

fn refused<N: std::fmt::Debug>((row, value): (usize, N), why: &'static str) -> ConvertError {
    ConvertError::Value { row, value: format!("{value:?}"), why }
}

/// An integer array of 0s and 1s as booleans (nulls kept).
fn bool_from_integers(array: &ArrayRef) -> Result<ArrayRef, ConvertError> {
    fn check<T: ArrowPrimitiveType>(array: &ArrayRef) -> Result<(), ConvertError> {
        let bit = |v: T::Native| v == T::Native::ZERO || v == T::Native::ONE;
        first_refused(array.as_primitive::<T>(), bit).map_or(Ok(()), |r| Err(refused(r, NOT_A_BIT)))
    }
    match array.data_type() {
        DataType::Int8 => check::<Int8Type>(array)?,
        DataType::Int16 => check::<Int16Type>(array)?,
        DataType::Int32 => check::<Int32Type>(array)?,
        DataType::Int64 => check::<Int64Type>(array)?,
        DataType::UInt8 => check::<UInt8Type>(array)?,
        DataType::UInt16 => check::<UInt16Type>(array)?,
        DataType::UInt32 => check::<UInt32Type>(array)?,
        DataType::UInt64 => check::<UInt64Type>(array)?,
        other => return Err(ArrowError::CastError(format!("{other} is not an integer type")).into()),
    }
    Ok(cast_with_options(array, &DataType::Boolean, &CastOptions { safe: false, ..Default::default() })?)
}

/// Refuses the first integer a float64 would not hold exactly.
fn exact<T: ArrowPrimitiveType>(
    a: &PrimitiveArray<T>,
    ok: impl Fn(T::Native) -> bool,
) -> Result<(), ConvertError> {
    first_refused(a, ok).map_or(Ok(()), |r| Err(refused(r, TOO_BIG)))
}

/// A primitive array mapped to float64 value by value (nulls kept).
fn floats<T: ArrowPrimitiveType>(a: &PrimitiveArray<T>, f: impl Fn(T::Native) -> f64) -> ArrayRef {
    Arc::new(a.unary::<_, Float64Type>(f))
}

/// 10^0 ..= 10^22: the powers of ten a float64 holds exactly (5^22 < 2^53).
const EXACT_POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18,
    1e19, 1e20, 1e21, 1e22,
];

/// The float64 nearest to `unscaled * 10^-scale` (ties to even).
///
/// When the unscaled integer is at most 2^53 in magnitude and the scale between 0 and 22,
/// both operands of `unscaled / 10^scale` are exact float64s, and IEEE 754 division rounds the
/// exact quotient to nearest: the result is the nearest float64 (the "fast path" of Clinger's
/// algorithm). Otherwise the decimal is written out (`<digits>e-<scale>`) and parsed by Rust's
/// float parser, which rounds correctly whatever the number of digits. A unit test checks the
/// two agree on random decimals and on the edges of the fast path.
pub(super) fn decimal_to_f64(unscaled: i128, scale: i8) -> f64 {
    if unscaled.unsigned_abs() <= u128::from(EXACT_INTEGERS) {
        if let Some(power) = usize::try_from(scale).ok().and_then(|s| EXACT_POWERS_OF_TEN.get(s)) {
            return unscaled as f64 / power;
        }
    }
    parse_decimal(&unscaled.to_string(), scale)
}

fn decimal256_to_f64(unscaled: i256, scale: i8) -> f64 {
    match unscaled.to_i128() {
        Some(v) => decimal_to_f64(v, scale),
        None => parse_decimal(&unscaled.to_string(), scale),
    }
}

/// `digits * 10^-scale`, correctly rounded by Rust's float parser (the text is always a valid
/// float literal: an optional `-`, digits, `e`, an exponent).
fn parse_decimal(digits: &str, scale: i8) -> f64 {
    format!("{digits}e{}", -i32::from(scale)).parse().unwrap_or(f64::NAN)
}

/// Any timestamp to microseconds, tagged UTC. Stored values are UTC instants (or naive, read as
/// UTC), so only the unit changes; done by hand because Arrow's cast needs a time-zone database
/// to attach "UTC" to a naive timestamp.
fn timestamp_to_micros_utc(array: &ArrayRef, unit: TimeUnit) -> Result<ArrayRef, ArrowError> {
    fn overflow() -> ArrowError {
        ArrowError::ComputeError("timestamp out of range for microseconds".into())
    }
    // `as_primitive` cannot fail: the unit was read from this array's own data type.
    let micros: TimestampMicrosecondArray = match unit {
        TimeUnit::Second => array
            .as_primitive::<TimestampSecondType>()
            .try_unary(|v| v.checked_mul(1_000_000).ok_or_else(overflow))?,
        TimeUnit::Millisecond => array
            .as_primitive::<TimestampMillisecondType>()
            .try_unary(|v| v.checked_mul(1_000).ok_or_else(overflow))?,
        TimeUnit::Microsecond => array.as_primitive::<TimestampMicrosecondType>().unary(|v| v),
        TimeUnit::Nanosecond => {
            array.as_primitive::<TimestampNanosecondType>().unary(|v| v.div_euclid(1_000))
        }
    };
    Ok(Arc::new(micros.with_timezone("UTC")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{BooleanArray, Decimal128Array, Float64Array, Int64Array, Int8Array, UInt64Array};
    use proptest::prelude::*;

    fn f64s(a: &ArrayRef) -> Vec<Option<f64>> {
        a.as_primitive::<Float64Type>().iter().collect()
    }

    #[test]
    // The long literal is the decimal itself; the compiler rounds it to the nearest float64.
    #[allow(clippy::excessive_precision)]
    fn decimals_give_the_nearest_float() {
        // Values whose nearest float64 is known from their literal (Rust parses literals
        // correctly rounded): the fast path and the parsed path alike.
        let cases: [(i128, i8, f64); 9] = [
            (7, 2, 0.07),
            (1, 1, 0.1),
            (125, 2, 1.25),
            (-3, 1, -0.3),
            (1 << 53, 0, 9007199254740992.0),
            ((1 << 53) + 1, 0, 9007199254740992.0),
            (123456789012345678901234567890, 30, 0.123456789012345678901234567890),
            (5, -3, 5000.0),
            (1, 23, 1e-23),
        ];
        for (unscaled, scale, want) in cases {
            assert_eq!(decimal_to_f64(unscaled, scale).to_bits(), want.to_bits(), "{unscaled}e-{scale}");
        }
        // i256 beyond i128: 10^40 with scale 2 is 1e38.
        let big = i256::from_i128(10i128.pow(20)).wrapping_mul(i256::from_i128(10i128.pow(20)));
        assert_eq!(decimal256_to_f64(big, 2), 1e38);
    }

    /// Why not Arrow's cast: it divides by 10^23 computed in floating point, and misses.
    #[test]
    fn arrows_cast_is_not_always_the_nearest_float() {
        let d: ArrayRef = Arc::new(Decimal128Array::from(vec![1]).with_precision_and_scale(38, 23).unwrap());
        let arrow = arrow::compute::cast(&d, &DataType::Float64).unwrap();
        assert_ne!(arrow.as_primitive::<Float64Type>().value(0), 1e-23);
        let ours = to_canonical(&d, Family::Float).expect("decimal");
        assert_eq!(ours.as_primitive::<Float64Type>().value(0), 1e-23);
    }

    proptest! {
        /// The fast path agrees with the correctly rounded parse wherever it is taken.
        #[test]
        fn fast_path_is_correctly_rounded(
            unscaled in -(1i128 << 53)..=(1i128 << 53),
            scale in 0i8..=22,
        ) {
            let parsed = parse_decimal(&unscaled.to_string(), scale);
            prop_assert_eq!(decimal_to_f64(unscaled, scale).to_bits(), parsed.to_bits());
        }
    }

    #[test]
    fn integers_become_booleans_only_when_0_or_1() {
        let ok: ArrayRef = Arc::new(Int8Array::from(vec![Some(1), None, Some(0)]));
        let got = to_canonical(&ok, Family::Bool).expect("0/1");
        assert_eq!(got.as_boolean(), &BooleanArray::from(vec![Some(true), None, Some(false)]));
        // A null slot's stored value does not matter.
        let bad: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), Some(0), Some(-1), Some(2)]));
        match to_canonical(&bad, Family::Bool) {
            Err(ConvertError::Value { row: 2, value, .. }) => assert_eq!(value, "-1"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn integers_become_floats_exactly_up_to_2_pow_53() {
        let edge = EXACT_INTEGERS as i64;
        let ok: ArrayRef = Arc::new(Int64Array::from(vec![Some(edge), None, Some(-edge)]));
        let got = to_canonical(&ok, Family::Float).expect("exact");
        assert_eq!(f64s(&got), vec![Some(9007199254740992.0), None, Some(-9007199254740992.0)]);
        let bad: ArrayRef = Arc::new(Int64Array::from(vec![0, -edge - 1]));
        assert!(matches!(to_canonical(&bad, Family::Float), Err(ConvertError::Value { row: 1, .. })));
        let bad: ArrayRef = Arc::new(UInt64Array::from(vec![u64::MAX]));
        assert!(matches!(to_canonical(&bad, Family::Float), Err(ConvertError::Value { row: 0, .. })));
        let small: ArrayRef = Arc::new(Int8Array::from(vec![-128, 127]));
        assert_eq!(f64s(&to_canonical(&small, Family::Float).expect("i8")), vec![Some(-128.0), Some(127.0)]);
    }

    #[test]
    fn decimal_columns_become_floats() {
        let d: ArrayRef = Arc::new(
            Decimal128Array::from(vec![Some(7), None, Some(-125)]).with_precision_and_scale(10, 2).unwrap(),
        );
        let got = to_canonical(&d, Family::Float).expect("decimal");
        assert_eq!(
            got.as_primitive::<Float64Type>(),
            &Float64Array::from(vec![Some(0.07), None, Some(-1.25)])
        );
    }
}
