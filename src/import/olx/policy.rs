//! `policies/RUN/policy.json` (field values per block, keyed `TYPE/URL_NAME`) and
//! `policies/RUN/grading_policy.json` (kept as its raw text).
//!
//! edX's XML import applies a block's `policy.json` entry over its XML attributes (the entry
//! wins); the `course/RUN` entry holds the course's advanced settings. The grading policy is
//! read from `policies/RUN/grading_policy.json`, else `grading_policy.json` at the top of the
//! export (`CourseBlock.read_grading_policy`), else edX's default policy, with a warning.

use std::collections::HashMap;

use crate::py::json::{self, Json};
use crate::read::InputError;

use super::archive::Export;

/// The default `CourseFields.grading_policy` of edX, for an export without a grading policy.
pub(crate) const DEFAULT_GRADING_POLICY: &str = r#"{"GRADER": [{"type": "Homework", "min_count": 12, "drop_count": 2, "short_label": "HW", "weight": 0.15}, {"type": "Lab", "min_count": 12, "drop_count": 2, "weight": 0.15}, {"type": "Midterm Exam", "short_label": "Midterm", "min_count": 1, "drop_count": 0, "weight": 0.3}, {"type": "Final Exam", "short_label": "Final", "min_count": 1, "drop_count": 0, "weight": 0.4}], "GRADE_CUTOFFS": {"Pass": 0.5}}"#;

/// A course's policies.
#[derive(Debug, Default)]
pub(crate) struct Policies {
    /// `policy.json` entries by `(type, url_name)`: field name and JSON value, in stored order.
    by_block: HashMap<(String, String), Vec<(String, Json)>>,
    /// The grading policy's text as stored.
    pub(crate) grading_policy: String,
}

impl Policies {
    /// Read the policies of the course run `run`.
    pub(crate) fn read(export: &Export, run: &str) -> Result<Policies, InputError> {
        let mut by_block = HashMap::new();
        let path = format!("policies/{run}/policy.json");
        if let Some(text) = export.text(&path)? {
            let value = json::parse(text)
                .map_err(|e| InputError::new(format!("{}: not JSON: {e}", export.shown(&path))))?;
            let Json::Object(entries) = value else {
                return Err(InputError::new(format!(
                    "{}: expected a JSON object of \"TYPE/URL_NAME\" entries, found a {}",
                    export.shown(&path),
                    value.type_name()
                )));
            };
            for (key, fields) in entries {
                let Some((block_type, url_name)) = key.split_once('/') else {
                    tracing::warn!("{}: entry \"{key}\" is not TYPE/URL_NAME; ignored", export.shown(&path));
                    continue;
                };
                let Json::Object(fields) = fields else {
                    tracing::warn!("{}: entry \"{key}\" is not a JSON object; ignored", export.shown(&path));
                    continue;
                };
                by_block.insert((block_type.to_string(), url_name.to_string()), fields);
            }
        }
        let grading_policy = read_grading_policy(export, run)?;
        Ok(Policies { by_block, grading_policy })
    }

    /// The `policy.json` entry of a block, if any.
    pub(crate) fn of(&self, block_type: &str, url_name: &str) -> &[(String, Json)] {
        self.by_block.get(&(block_type.to_string(), url_name.to_string())).map_or(&[], Vec::as_slice)
    }
}

fn read_grading_policy(export: &Export, run: &str) -> Result<String, InputError> {
    for path in [format!("policies/{run}/grading_policy.json"), "grading_policy.json".to_string()] {
        if let Some(text) = export.text(&path)? {
            json::parse(text).map_err(|e| {
                InputError::new(format!("{}: the grading policy is not JSON: {e}", export.shown(&path)))
            })?;
            return Ok(text.to_string());
        }
    }
    tracing::warn!(
        "{}: no policies/{run}/grading_policy.json; the course has edX's default grading policy",
        export.source
    );
    Ok(DEFAULT_GRADING_POLICY.to_string())
}
