//! Field values as edX's XML import decodes them.
//!
//! An XML attribute goes through `XmlMixin`'s `deserialize_field`: the text is tried as JSON
//! (`"null"` is None, `"1.0"` a float, `"&quot;2020-01-01&quot;"` a string) and kept as JSON
//! when the field's `from_json` accepts it, else kept as the raw text. A `policy.json` value is
//! JSON already. Reading the field then applies its `from_json`:
//!
//! * `Boolean`: a string is true when it is `"true"` in any case (`"True"`); anything else is
//!   Python's `bool(value)` (an explicit null is false);
//! * `Float`, `Integer`: null or `""` is None; a number as is; a string through `float()` /
//!   `int()`;
//! * `Date` (`xmodule.fields.Date`): null or `""` is None; a number is milliseconds since the
//!   epoch; a string is parsed as `dateutil` does for the forms exports hold (RFC 3339 with `Z`
//!   or an offset, naive times read as UTC, bare dates at midnight UTC);
//! * `String`: null or a string; `Dict`: null or an object; `List`: null or a list.
//!
//! A value its field cannot read is an `Err` with the reason; the caller warns and leaves the
//! field unset, as edX logs and falls back.

use crate::py::json::{self, Json};
use crate::py::time::Timestamp;

/// A field's value as the export stores it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Stored {
    /// An XML attribute's text.
    Attr(String),
    /// A `policy.json` value.
    Policy(Json),
}

/// The XBlock field class, as far as decoding goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Bool,
    Float,
    Int,
    Date,
    Str,
    Dict,
    List,
}

/// The JSON value the field holds after import (`deserialize_field` for an attribute).
pub(crate) fn stored_json(kind: Kind, stored: &Stored) -> Json {
    match stored {
        Stored::Policy(v) => v.clone(),
        Stored::Attr(text) => match json::parse(text) {
            Ok(Json::Null) => Json::Null,
            Ok(v) if accepts(kind, &v) => v,
            _ => Json::Str(text.clone()),
        },
    }
}

/// Whether `from_json` of the field accepts a JSON value without raising.
fn accepts(kind: Kind, v: &Json) -> bool {
    match kind {
        Kind::Bool => true,
        Kind::Float => float_of(v).is_ok(),
        Kind::Int => int_of(v).is_ok(),
        Kind::Date => date_of(v).is_ok(),
        Kind::Str => matches!(v, Json::Null | Json::Str(_)),
        Kind::Dict => matches!(v, Json::Null | Json::Object(_)),
        Kind::List => matches!(v, Json::Null | Json::Array(_)),
    }
}

/// `Boolean.from_json`.
pub(crate) fn boolean(stored: &Stored) -> bool {
    match stored_json(Kind::Bool, stored) {
        Json::Str(s) => s.to_lowercase() == "true",
        Json::Bool(b) => b,
        Json::Null => false,
        Json::Int(d) => !d.trim_start_matches('-').trim_start_matches('0').is_empty(),
        Json::Float(x) => x != 0.0,
        Json::Array(items) => !items.is_empty(),
        Json::Object(entries) => !entries.is_empty(),
    }
}

/// `Float.from_json`.
pub(crate) fn float(stored: &Stored) -> Result<Option<f64>, String> {
    float_of(&stored_json(Kind::Float, stored))
}

fn float_of(v: &Json) -> Result<Option<f64>, String> {
    match v {
        Json::Null => Ok(None),
        Json::Str(s) if s.is_empty() => Ok(None),
        Json::Bool(b) => Ok(Some(if *b { 1.0 } else { 0.0 })),
        Json::Int(d) => d.parse::<f64>().map(Some).map_err(|e| e.to_string()),
        Json::Float(x) => Ok(Some(*x)),
        Json::Str(s) => s.trim().parse::<f64>().map(Some).map_err(|_| format!("'{s}' is not a number")),
        other => Err(format!("a {} is not a number", other.type_name())),
    }
}

/// `Integer.from_json`.
pub(crate) fn int(stored: &Stored) -> Result<Option<i64>, String> {
    int_of(&stored_json(Kind::Int, stored))
}

fn int_of(v: &Json) -> Result<Option<i64>, String> {
    match v {
        Json::Null => Ok(None),
        Json::Str(s) if s.is_empty() => Ok(None),
        Json::Bool(b) => Ok(Some(i64::from(*b))),
        Json::Int(d) => d.parse::<i64>().map(Some).map_err(|_| format!("{d} is out of range")),
        Json::Float(x) if x.is_finite() => Ok(Some(x.trunc() as i64)),
        Json::Str(s) => s.trim().parse::<i64>().map(Some).map_err(|_| format!("'{s}' is not an integer")),
        other => Err(format!("a {} is not an integer", other.type_name())),
    }
}

/// `Date.from_json`, microseconds since the epoch.
pub(crate) fn date(stored: &Stored) -> Result<Option<Timestamp>, String> {
    date_of(&stored_json(Kind::Date, stored))
}

fn date_of(v: &Json) -> Result<Option<Timestamp>, String> {
    match v {
        Json::Null => Ok(None),
        Json::Str(s) if s.is_empty() => Ok(None),
        Json::Str(s) => parse_date(s).map(Some),
        Json::Int(d) => d
            .parse::<i64>()
            .ok()
            .and_then(|ms| ms.checked_mul(1000))
            .map(Some)
            .ok_or_else(|| format!("{d} is out of range")),
        Json::Float(x) if x.is_finite() => Ok(Some((x * 1000.0).round() as i64)),
        other => Err(format!("a {} is not a date", other.type_name())),
    }
}

/// `String.from_json`.
pub(crate) fn string(stored: &Stored) -> Result<Option<String>, String> {
    match stored_json(Kind::Str, stored) {
        Json::Null => Ok(None),
        Json::Str(s) => Ok(Some(s)),
        other => Err(format!("a {} is not a string", other.type_name())),
    }
}

/// `Dict.from_json`: the object's entries in stored order.
pub(crate) fn dict(stored: &Stored) -> Result<Option<Vec<(String, Json)>>, String> {
    match stored_json(Kind::Dict, stored) {
        Json::Null => Ok(None),
        Json::Object(entries) => Ok(Some(entries)),
        other => Err(format!("a {} is not a JSON object", other.type_name())),
    }
}

/// `List.from_json`.
pub(crate) fn list(stored: &Stored) -> Result<Option<Vec<Json>>, String> {
    match stored_json(Kind::List, stored) {
        Json::Null => Ok(None),
        Json::Array(items) => Ok(Some(items)),
        other => Err(format!("a {} is not a JSON list", other.type_name())),
    }
}

/// A date string as `dateutil.parser.parse` reads the forms exports hold; a time without an
/// offset is UTC, as `Date.from_json` makes it.
pub(crate) fn parse_date(text: &str) -> Result<Timestamp, String> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime};
    let s = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_micros());
    }
    let t_form = s.replacen(' ', "T", 1);
    let zulu = t_form.strip_suffix('Z').or_else(|| t_form.strip_suffix('z')).map(|x| format!("{x}+00:00"));
    let candidate = zulu.as_deref().unwrap_or(&t_form);
    for f in ["%Y-%m-%dT%H:%M:%S%.f%:z", "%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M%:z", "%Y-%m-%dT%H:%M%z"] {
        if let Ok(t) = DateTime::parse_from_str(candidate, f) {
            return Ok(t.timestamp_micros());
        }
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(&t_form, f) {
            return Ok(t.and_utc().timestamp_micros());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        if let Some(t) = d.and_hms_opt(0, 0, 0) {
            return Ok(t.and_utc().timestamp_micros());
        }
    }
    Err(format!("'{text}' is not a date"))
}

/// `json.dumps(value)` with Python's default separators (`", "`, `": "`), keys in stored order,
/// `ensure_ascii`.
pub(crate) fn dumps(value: &Json) -> String {
    let mut out = String::new();
    write_json(value, &mut out);
    out
}

fn write_json(value: &Json, out: &mut String) {
    match value {
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_json(item, out);
            }
            out.push(']');
        }
        Json::Object(entries) => {
            out.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                json::write_string_ascii(k, out);
                out.push_str(": ");
                write_json(v, out);
            }
            out.push('}');
        }
        scalar => out.push_str(&scalar.dumps_canonical()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(s: &str) -> Stored {
        Stored::Attr(s.to_string())
    }

    #[test]
    fn booleans_as_edx_reads_them() {
        assert!(boolean(&attr("true")));
        assert!(boolean(&attr("True")));
        assert!(!boolean(&attr("False")));
        assert!(!boolean(&attr("null")));
        assert!(!boolean(&attr("yes")));
        assert!(boolean(&attr("1")));
    }

    #[test]
    fn dates_json_quoted_offsets_and_naive() {
        let utc = parse_date("2020-01-01T00:00:00Z").unwrap();
        assert_eq!(date(&attr("\"2020-01-01T00:00:00Z\"")), Ok(Some(utc)));
        assert_eq!(date(&attr("2020-01-01T05:00:00+05:00")), Ok(Some(utc)));
        assert_eq!(date(&attr("2020-01-01T00:00:00")), Ok(Some(utc)));
        assert_eq!(date(&attr("2020-01-01")), Ok(Some(utc)));
        assert_eq!(date(&attr("null")), Ok(None));
        assert_eq!(date(&attr("1577836800000")), Ok(Some(utc)));
        assert!(date(&attr("soon")).is_err());
    }

    #[test]
    fn floats_strings_dicts() {
        assert_eq!(float(&attr("1.0")), Ok(Some(1.0)));
        assert_eq!(float(&attr("null")), Ok(None));
        assert_eq!(float(&attr("")), Ok(None));
        assert_eq!(string(&attr("Homework")), Ok(Some("Homework".into())));
        assert_eq!(string(&attr("\"Homework\"")), Ok(Some("Homework".into())));
        assert_eq!(string(&attr("123")), Ok(Some("123".into())));
        assert_eq!(string(&attr("null")), Ok(None));
        let d = dict(&attr("{\"5\": [1, 2]}")).unwrap().unwrap();
        assert_eq!(dumps(&Json::Object(d)), "{\"5\": [1, 2]}");
    }
}
