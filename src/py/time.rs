//! Timestamps: microseconds since the Unix epoch, UTC, as edX's `DateTimeField`s hold them
//! (MySQL `datetime(6)`) and the Parquet contract stores them.

/// Microseconds since the Unix epoch, UTC.
pub type Timestamp = i64;

/// RFC 3339 in UTC with as many fractional digits as needed (`2026-11-23T00:00:00Z`), as the
/// manifest and messages show times; a value outside chrono's range is shown as the number.
pub(crate) fn fmt_time(t: Timestamp) -> String {
    chrono::DateTime::from_timestamp_micros(t)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_else(|| t.to_string())
}

/// RFC 3339 (`2026-05-01T00:00:00Z`), or a bare date (`2026-05-01`, midnight UTC).
pub(crate) fn parse_time(s: &str) -> Result<Timestamp, TimeError> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_micros());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        let t = d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc();
        return Ok(t.timestamp_micros());
    }
    Err(TimeError(format!(
        "'{s}' is not an RFC 3339 time (like 2026-05-01T00:00:00Z) or a date (2026-05-01)"
    )))
}

/// A time that does not parse, with what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TimeError(String);

impl std::fmt::Display for TimeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TimeError {}
