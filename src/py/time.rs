//! Timestamps: microseconds since the Unix epoch, UTC, as edX's `DateTimeField`s hold them
//! (MySQL `datetime(6)`) and the Parquet contract stores them.

/// Microseconds since the Unix epoch, UTC.
pub type Timestamp = i64;

/// RFC 3339 in UTC with as many fractional digits as needed (`2026-11-23T00:00:00Z`), as the
/// manifest and messages show times; a value outside chrono's range is shown as the number.
pub fn fmt_time(t: Timestamp) -> String {
    chrono::DateTime::from_timestamp_micros(t)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_else(|| t.to_string())
}
