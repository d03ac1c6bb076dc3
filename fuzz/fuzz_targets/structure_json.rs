//! `parse_user_partitions` and `parse_group_access` (src/model/structure.rs): the
//! `user_partitions` JSON of a course and the `group_access` JSON of a block, as read from
//! the input tables. Both run on every input; for any UTF-8 input they return Ok or Err
//! (never panic). An accepted `group_access` has one entry per key of the object.

#![no_main]

use libfuzzer_sys::fuzz_target;
use regrade::py::json::{self as pyjson, Json};
use regrade::model::structure::{parse_group_access, parse_user_partitions};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = parse_user_partitions(text);
    if let Ok(access) = parse_group_access(text) {
        let Ok(Json::Object(entries)) = pyjson::parse(text) else {
            panic!("group_access accepted something that is not a JSON object")
        };
        assert_eq!(access.len(), entries.len());
    }
});
