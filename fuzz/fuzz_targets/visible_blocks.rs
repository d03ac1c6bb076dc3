//! `parse_visible_blocks` (src/grade/hash.rs): the `blocks_json` column persisted in
//! `grades_visibleblocks`, `{"blocks":[{"graded":..,"locator":..,"raw_possible":..,
//! "weight":..}],"course_key":..,"version":1}`.
//!
//! For any UTF-8 input, `parse_visible_blocks` returns (never panics). For records it
//! accepts, writing them back with `visible_blocks_json` (the hand-written writer the
//! VisibleBlocks hash is computed over):
//!
//! * is canonical JSON: `dumps_canonical(parse(written)) == written`, i.e. the writer
//!   agrees with the generic `json.dumps(sort_keys=True)` reimplementation;
//! * reads back as the same records (ints stay ints, floats bit for bit, NaN included);
//! * `visible_blocks_hash` is the SHA-1 of that text.

#![no_main]

use libfuzzer_sys::fuzz_target;
use regrade::grade::hash::{parse_visible_blocks, sha1_base64, visible_blocks_hash, visible_blocks_json};
use regrade::py::json::{self as pyjson, Json};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(records) = parse_visible_blocks(text) else { return };
    let course_key = match pyjson::parse(text).ok().as_ref().and_then(|v| v.get("course_key")) {
        Some(Json::Str(s)) => s.clone(),
        _ => "course-v1:Org+Course+Run".to_string(),
    };

    let written = visible_blocks_json(&course_key, &records);
    let parsed = match pyjson::parse(&written) {
        Ok(v) => v,
        Err(e) => panic!("visible_blocks_json wrote invalid JSON: {e}\n{written}"),
    };
    assert_eq!(parsed.dumps_canonical(), written, "visible_blocks_json is not canonical JSON");

    let back = match parse_visible_blocks(&written) {
        Ok(r) => r,
        Err(e) => panic!("visible_blocks_json's output is refused: {e}\n{written}"),
    };
    // Debug strings, not ==: NaN weights survive the round trip but NaN != NaN.
    assert_eq!(format!("{back:?}"), format!("{records:?}"), "records changed in a round trip");
    assert_eq!(visible_blocks_hash(&course_key, &records), sha1_base64(&written));
});
