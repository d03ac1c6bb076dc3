//! The file and folder names a course's outputs take, checked before the course is read:
//! a name over the 255-byte limit of file systems would fail the write and, with it, the
//! whole run. A course whose names cannot fit is quarantined instead, with the reason.
//!
//! The names derived from a course id: its `course_id=<escaped>` partition folders and the
//! journal's `course_id=<escaped>.json` ([`crate::store::partition::check_partition_value`]), and for
//! `run` with reports the report files `<org>_<course>_<run>_<report>_<stamp>.csv` (their
//! folder, `reports/<sha1(course_id)>/`, is always 40 bytes).

use super::options::Settings;
use crate::report::report_file_name;
use crate::store::partition::{check_partition_value, MAX_NAME_BYTES};

/// The report with the longest name (`_err` reports are written only for some courses, but
/// every course's names are checked alike).
const LONGEST_REPORT: &str = "problem_grade_report_err";

/// `Err`: why the course's outputs cannot be named, and what to do.
pub(crate) fn check_course_names(course_id: &str, settings: &Settings) -> Result<(), String> {
    check_partition_value(course_id).map_err(|e| format!("{course_id}: {e}"))?;
    if settings.outputs.reports {
        let name = report_file_name(course_id, LONGEST_REPORT, settings.reports.as_of);
        if name.len() > MAX_NAME_BYTES {
            return Err(format!(
                "{course_id}: its report file names (as edX names them, from the org, course and \
                 run) would take up to {} bytes, over the {MAX_NAME_BYTES} that keep them under the \
                 255-byte limit of file names; grade it without reports (--outputs grades,diffs)",
                name.len()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::options::{Job, RunOptions};

    fn opts(extra: &str) -> Settings {
        let job = Job::parse(&format!("input = \"a\"\noutput = \"b\"\n{extra}"), "j").unwrap();
        RunOptions::resolve(job, 0).unwrap().settings()
    }

    #[test]
    fn report_names_that_cannot_fit_quarantine_a_course_only_when_reports_are_written() {
        // The partition value (212 bytes escaped) fits; the report names (up to 242) do not.
        let id = format!("course-v1:Org+{}+1", "R".repeat(190));
        assert!(check_partition_value(&id).is_ok());
        let e = check_course_names(&id, &opts("")).unwrap_err();
        assert!(e.contains("report file names") && e.contains("--outputs grades,diffs"), "{e}");
        assert!(check_course_names(&id, &opts("outputs = [\"grades\", \"diffs\"]")).is_ok());
        let job = Job::parse("input = \"a\"\noutput = \"b\"", "j").unwrap();
        let backfill = RunOptions::resolve_backfill(job, 0).unwrap().settings();
        assert!(check_course_names(&id, &backfill).is_ok());
        assert!(check_course_names("course-v1:Org+R+1", &opts("")).is_ok());
    }
}
