//! edX's content hashes (spec §7): `base64(sha1(canonical JSON))`.
//!
//! * The VisibleBlocks hash identifies the list of problems (with weight, raw_possible and
//!   graded) a subsection grade was computed over; it keys `grades_visibleblocks`.
//! * The grading policy hash is stored on each persisted course grade.

use base64::Engine;
use sha1::{Digest, Sha1};

use super::scores::BlockRecord;
use crate::py::fmt::PyNum;
use crate::py::json::{float_json, write_string_ascii, Json};

/// `base64(sha1(text.encode('utf-8')))`, standard alphabet with padding: 28 characters.
pub fn sha1_base64(text: &str) -> String {
    let digest = Sha1::digest(text.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(digest)
}

/// The grading policy hash of a (merged) policy dict.
pub fn grading_policy_hash(policy: &Json) -> String {
    sha1_base64(&policy.dumps_canonical())
}

/// `BlockRecordList.json_value` serialised as edX does:
/// `{"blocks":[{"graded":..,"locator":..,"raw_possible":..,"weight":..}],"course_key":..,"version":1}`.
pub fn visible_blocks_json(course_key: &str, blocks: &[BlockRecord]) -> String {
    let mut out = String::with_capacity(64 + blocks.len() * 120);
    out.push_str("{\"blocks\":[");
    for (i, b) in blocks.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"graded\":");
        out.push_str(if b.graded { "true" } else { "false" });
        out.push_str(",\"locator\":");
        write_string_ascii(&b.locator, &mut out);
        out.push_str(",\"raw_possible\":");
        write_num(b.raw_possible, &mut out);
        out.push_str(",\"weight\":");
        write_num(b.weight, &mut out);
        out.push('}');
    }
    out.push_str("],\"course_key\":");
    write_string_ascii(course_key, &mut out);
    out.push_str(",\"version\":1}");
    out
}

fn write_num(n: Option<PyNum>, out: &mut String) {
    match n {
        Some(PyNum::Int(i)) => out.push_str(&i.to_string()),
        Some(PyNum::Float(x)) => out.push_str(&float_json(x)),
        None => out.push_str("null"),
    }
}

/// The VisibleBlocks hash (`hashed`) of a list of block records.
pub fn visible_blocks_hash(course_key: &str, blocks: &[BlockRecord]) -> String {
    sha1_base64(&visible_blocks_json(course_key, blocks))
}

/// Parses a persisted `blocks_json` back into records (for ReadSubsectionGrade and the
/// problem grade report). Keeps weights as stored (int or float).
pub fn parse_visible_blocks(blocks_json: &str) -> Result<Vec<BlockRecord>, String> {
    let v = crate::py::json::parse(blocks_json).map_err(|e| e.to_string())?;
    let Some(Json::Array(items)) = v.get("blocks") else {
        return Err("blocks_json has no \"blocks\" list".to_string());
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let locator = match item.get("locator") {
                Some(Json::Str(s)) => s.clone(),
                _ => return Err(format!("blocks[{i}] has no string \"locator\"")),
            };
            let num = |key: &str| -> Result<Option<PyNum>, String> {
                match item.get(key) {
                    None | Some(Json::Null) => Ok(None),
                    Some(Json::Int(d)) => d
                        .parse::<i64>()
                        .map(|i| Some(PyNum::Int(i)))
                        .map_err(|_| format!("blocks[{i}].{key} is out of range")),
                    Some(Json::Float(x)) => Ok(Some(PyNum::Float(*x))),
                    Some(other) => {
                        Err(format!("blocks[{i}].{key} is a {}, expected a number", other.type_name()))
                    }
                }
            };
            let graded = match item.get("graded") {
                Some(Json::Bool(b)) => *b,
                _ => return Err(format!("blocks[{i}] has no boolean \"graded\"")),
            };
            Ok(BlockRecord { locator, weight: num("weight")?, raw_possible: num("raw_possible")?, graded })
        })
        .collect()
}
