//! Hive partition folders: course ids escaped into `course_id=<value>` names, and the
//! limits a name must keep to be written on every store.
//!
//! Course ids go into folder names, so they are escaped with [`escape_partition_value`]: every
//! ASCII byte outside `[A-Za-z0-9_-]`, and every non-ASCII control or space character, becomes
//! `%XX` (two upper-case hex digits per UTF-8 byte); other non-ASCII characters are written as
//! UTF-8, as Hive and Spark write them. `course-v1:edX+DemoX+2024` is written
//! `course_id=course-v1%3AedX%2BDemoX%2B2024`; `course-v1:Орг+Курс+2024` keeps its Cyrillic.
//!
//! * Reversible: `%` itself is escaped, so [`unescape_partition_value`] restores any id exactly.
//! * Safe: the escaped value holds no ASCII but `[A-Za-z0-9_%-]`, so it can never contain `/`,
//!   `.` or `..` and can never leave the table folder, whatever the id (`../../etc`, `a/b`,
//!   spaces, unicode). `.` is escaped too (`%2E`), so no value is ever `.` or `..`.
//! * Hive-compatible: Hive, Spark, DuckDB, Polars and pyarrow URL-decode `key=value` folder
//!   names, so they read the original course id back (Hive escapes a smaller set; decoding is
//!   the same; UTF-8 is decoded as itself).
//! * Short enough: file systems refuse names over 255 bytes. Writing UTF-8 as is keeps a
//!   Cyrillic id at two bytes a letter (percent-encoded it took six); an id whose escaped value
//!   is over [`MAX_PARTITION_VALUE_BYTES`] cannot have a folder, and no encoding that readers
//!   decode back to the id would be shorter: [`check_partition_value`] says so, and the run
//!   quarantines the course.
//!
/// Escape a partition value for a folder name (see the module docs).
pub fn escape_partition_value(value: &str) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        let kept = if c.is_ascii() {
            c.is_ascii_alphanumeric() || c == '_' || c == '-'
        } else {
            !(c.is_control() || c.is_whitespace())
        };
        if kept {
            out.push(c);
        } else {
            for b in c.encode_utf8(&mut [0; 4]).bytes() {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// Bytes a store adds to a file's name while the file is written: a local file is staged as
/// `_NAME.regrade-staging` ([`super::STAGING_SUFFIX`]) and renamed into place.
pub(crate) const STAGING_EXTRA_BYTES: usize = 1 + super::STAGING_SUFFIX.len();

/// The most bytes of a file or folder name regrade writes: 255, the limit of common file
/// systems, less [`STAGING_EXTRA_BYTES`].
pub(crate) const MAX_NAME_BYTES: usize = 255 - STAGING_EXTRA_BYTES;

/// The longest suffix of a journal file named after a course: `course_id=<value>.pending.json`
/// (the run journal lists a course's files there before writing them).
pub(crate) const JOURNAL_PENDING_SUFFIX: &str = ".pending.json";

/// The longest escaped partition value: the longest name made from it, the journal's
/// `course_id=<value>.pending.json`, staged, is at most 255 bytes (folders `course_id=<value>`
/// are shorter).
pub const MAX_PARTITION_VALUE_BYTES: usize =
    MAX_NAME_BYTES - "course_id=".len() - JOURNAL_PENDING_SUFFIX.len();

/// Whether a course id's partition folder can be written: `Err` says why not (its escaped
/// length against the file systems' limit).
pub(crate) fn check_partition_value(value: &str) -> Result<(), String> {
    let escaped = escape_partition_value(value).len();
    if escaped <= MAX_PARTITION_VALUE_BYTES {
        return Ok(());
    }
    Err(format!(
        "the course id is too long for a folder name: escaped for its course_id=... partition \
         folder it takes {escaped} bytes, over the {MAX_PARTITION_VALUE_BYTES} that keep folder and \
         journal names under the 255-byte limit of file systems; no folder name that Hive readers \
         decode back to this id would fit, so this course is not graded (the others are)"
    ))
}

/// Reverse of [`escape_partition_value`]; also decodes lower-case hex and values escaped by
/// other tools. `None` when a `%` is not followed by two hex digits or the bytes are not UTF-8.
pub fn unescape_partition_value(escaped: &str) -> Option<String> {
    let bytes = escaped.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = escaped.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `course_id=<escaped>` folder name.
pub(crate) fn partition_segment(key: &str, value: &str) -> String {
    format!("{key}={}", escape_partition_value(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_ascii_is_kept_as_utf8_and_fits() {
        let cyrillic = "course-v1:Организация+Курс+2024";
        assert_eq!(escape_partition_value(cyrillic), "course-v1%3AОрганизация%2BКурс%2B2024");
        assert_eq!(escape_partition_value("a\u{a0}b\u{85}c"), "a%C2%A0b%C2%85c");
        let long: String = std::iter::repeat_n('ж', 68).collect();
        assert!(check_partition_value(&long).is_ok(), "68 Cyrillic letters take 136 bytes");
        let too_long = "x".repeat(MAX_PARTITION_VALUE_BYTES + 1);
        assert!(check_partition_value(&"x".repeat(MAX_PARTITION_VALUE_BYTES)).is_ok());
        assert!(check_partition_value(&too_long).unwrap_err().contains("255-byte"));
    }

    #[test]
    fn escape_examples() {
        assert_eq!(escape_partition_value("course-v1:edX+DemoX+2024"), "course-v1%3AedX%2BDemoX%2B2024");
        assert_eq!(escape_partition_value("../x"), "%2E%2E%2Fx");
        assert_eq!(escape_partition_value("é"), "é");
        assert_eq!(unescape_partition_value("a%2fb").as_deref(), Some("a/b"));
        assert_eq!(unescape_partition_value("a%2"), None);
        assert_eq!(unescape_partition_value("%FF"), None);
    }

    proptest::proptest! {
        #[test]
        fn escape_round_trips_and_stays_in_its_folder(s in "\\PC{0,40}") {
            let e = escape_partition_value(&s);
            proptest::prop_assert!(e.bytes().all(|b| !b.is_ascii() || b.is_ascii_alphanumeric() || b"_%-".contains(&b)));
            proptest::prop_assert!(e.chars().all(|c| !c.is_control() && !c.is_whitespace()));
            proptest::prop_assert_eq!(unescape_partition_value(&e), Some(s));
        }
    }
}
