//! Values as the server sends them, into the contract's types. Prepared statements return typed
//! values (`Int`, `Double`, `Date`); text results return bytes: both are accepted. A value of
//! the wrong kind is an error naming the table, column and row, never a silent NULL.
//!
//! Datetimes: Django stores `datetime(6)` naive, in UTC (`USE_TZ=True`), whatever the server's
//! or the session's time zone, and the server hands them back as stored: they are read as UTC
//! here, explicitly, never through a time zone.

use mysql::Value;

use crate::py::time::Timestamp;

/// Where a value came from, for error messages: `courseware_studentmodule.grade (id 42)`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct At<'a> {
    pub table: &'a str,
    pub column: &'a str,
    pub key: i64,
}

impl std::fmt::Display for At<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{} (row with key {})", self.table, self.column, self.key)
    }
}

/// Columns whose values are personal data: never shown in a message.
const PERSONAL: &[&str] = &["username", "email", "name", "first_name", "last_name"];

fn bad(at: At, what: &str, v: &Value) -> anyhow::Error {
    let shown = match v {
        _ if PERSONAL.contains(&at.column) => "a value not shown here (personal data)".to_string(),
        Value::Bytes(b) if b.len() > 60 => format!("{:?}…", String::from_utf8_lossy(&b[..60])),
        Value::Bytes(b) => format!("{:?}", String::from_utf8_lossy(b)),
        other => format!("{other:?}"),
    };
    crate::read::InputError::new(format!("{at}: expected {what}, the server sent {shown}")).into()
}

fn text(b: &[u8]) -> Option<&str> {
    std::str::from_utf8(b).ok()
}

/// An integer column; NULL is `None`.
pub(crate) fn int(v: &Value, at: At) -> anyhow::Result<Option<i64>> {
    Ok(match v {
        Value::NULL => None,
        Value::Int(i) => Some(*i),
        Value::UInt(u) => Some(i64::try_from(*u).map_err(|_| bad(at, "an integer below 2^63", v))?),
        Value::Bytes(b) => {
            Some(text(b).and_then(|s| s.parse().ok()).ok_or_else(|| bad(at, "an integer", v))?)
        }
        _ => return Err(bad(at, "an integer", v)),
    })
}

/// A `double` column, exactly (the text protocol prints a double with enough digits to round
/// trip); NULL is `None`.
pub(crate) fn float(v: &Value, at: At) -> anyhow::Result<Option<f64>> {
    Ok(match v {
        Value::NULL => None,
        Value::Double(x) => Some(*x),
        Value::Float(x) => Some(f64::from(*x)),
        Value::Int(i) => Some(*i as f64),
        Value::UInt(u) => Some(*u as f64),
        Value::Bytes(b) => Some(text(b).and_then(|s| s.parse().ok()).ok_or_else(|| bad(at, "a number", v))?),
        _ => return Err(bad(at, "a number", v)),
    })
}

/// A boolean (`tinyint(1)`): 0 is false, anything else true.
pub(crate) fn boolean(v: &Value, at: At) -> anyhow::Result<Option<bool>> {
    Ok(int(v, at)?.map(|i| i != 0))
}

/// A string column; NULL is `None`. Not UTF-8 is an error (the connection speaks utf8mb4).
pub(crate) fn string(v: &Value, at: At) -> anyhow::Result<Option<String>> {
    Ok(match v {
        Value::NULL => None,
        Value::Bytes(b) => Some(text(b).ok_or_else(|| bad(at, "UTF-8 text", v))?.to_string()),
        Value::Int(i) => Some(i.to_string()),
        Value::UInt(u) => Some(u.to_string()),
        _ => return Err(bad(at, "text", v)),
    })
}

/// A `datetime(6)` column as microseconds since the epoch, read as UTC; NULL is `None`. The zero
/// date MySQL allows in non-strict modes is an error.
pub(crate) fn datetime(v: &Value, at: At) -> anyhow::Result<Option<Timestamp>> {
    let parts = match v {
        Value::NULL => return Ok(None),
        Value::Date(y, mo, d, h, mi, s, us) => {
            (i32::from(*y), *mo as u32, *d as u32, *h as u32, *mi as u32, *s as u32, *us)
        }
        Value::Bytes(b) => parse_datetime(b).ok_or_else(|| bad(at, "a datetime", v))?,
        _ => return Err(bad(at, "a datetime", v)),
    };
    let (y, mo, d, h, mi, s, us) = parts;
    let date = chrono::NaiveDate::from_ymd_opt(y, mo, d).ok_or_else(|| bad(at, "a valid date", v))?;
    let time =
        chrono::NaiveTime::from_hms_micro_opt(h, mi, s, us).ok_or_else(|| bad(at, "a valid time", v))?;
    Ok(Some(date.and_time(time).and_utc().timestamp_micros()))
}

/// `YYYY-MM-DD[ HH:MM:SS[.ffffff]]`.
fn parse_datetime(b: &[u8]) -> Option<(i32, u32, u32, u32, u32, u32, u32)> {
    let s = text(b)?;
    let (date, time) = s.split_once(' ').unwrap_or((s, "00:00:00"));
    let mut d = date.splitn(3, '-');
    let (y, mo, day) = (d.next()?.parse().ok()?, d.next()?.parse().ok()?, d.next()?.parse().ok()?);
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.splitn(3, ':');
    let (h, mi, sec) = (t.next()?.parse().ok()?, t.next()?.parse().ok()?, t.next()?.parse().ok()?);
    let us = if frac.is_empty() {
        0
    } else {
        if frac.len() > 6 || !frac.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        frac.parse::<u32>().ok()? * 10u32.pow(6 - frac.len() as u32)
    };
    Some((y, mo, day, h, mi, sec, us))
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: At = At { table: "t", column: "c", key: 7 };

    #[test]
    fn datetimes_are_read_as_utc_from_text_and_binary_results() {
        let text = Value::Bytes(b"2024-02-29 23:59:59.123456".to_vec());
        let binary = Value::Date(2024, 2, 29, 23, 59, 59, 123_456);
        let expected =
            chrono::DateTime::parse_from_rfc3339("2024-02-29T23:59:59.123456Z").unwrap().timestamp_micros();
        assert_eq!(datetime(&text, AT).unwrap(), Some(expected));
        assert_eq!(datetime(&binary, AT).unwrap(), Some(expected));
        assert_eq!(
            datetime(&Value::Bytes(b"2024-01-02 03:04:05.5".to_vec()), AT).unwrap().unwrap() % 1_000_000,
            500_000
        );
        assert_eq!(datetime(&Value::NULL, AT).unwrap(), None);
        let zero = datetime(&Value::Bytes(b"0000-00-00 00:00:00".to_vec()), AT).unwrap_err().to_string();
        assert!(zero.contains("t.c (row with key 7)") && zero.contains("valid date"), "{zero}");
    }

    #[test]
    fn numbers_round_trip_and_junk_is_named() {
        assert_eq!(float(&Value::Bytes(b"0.30000000000000004".to_vec()), AT).unwrap(), Some(0.1 + 0.2));
        assert_eq!(float(&Value::Double(1e-300), AT).unwrap(), Some(1e-300));
        assert_eq!(int(&Value::UInt(5), AT).unwrap(), Some(5));
        assert!(int(&Value::UInt(u64::MAX), AT).is_err());
        let e = int(&Value::Bytes(b"12x".to_vec()), AT).unwrap_err().to_string();
        assert!(e.contains("expected an integer") && e.contains("\"12x\""), "{e}");
        assert!(string(&Value::Bytes(vec![0xff, 0xfe]), AT).is_err());
        assert_eq!(boolean(&Value::Int(1), AT).unwrap(), Some(true));
    }

    #[test]
    fn personal_values_are_never_shown() {
        let at = At { table: "auth_user", column: "email", key: 9 };
        let e = string(&Value::Bytes([b"ann@example.com".as_slice(), &[0xff]].concat()), at)
            .unwrap_err()
            .to_string();
        assert!(e.contains("auth_user.email (row with key 9)") && !e.contains("ann@"), "{e}");
    }
}
