//! Values edX keeps inside strings: the group tags of `user_api_usercoursetag` and the
//! `selected` list in the JSON `state` of `library_content` / `itembank` studentmodule rows.

/// The partition service's tag key prefix (`xmodule/partitions/partitions_service.py`:
/// `'xblock.partition_service.partition_{0}'.format(user_partition.id)`).
const TAG_PREFIX: &str = "xblock.partition_service.partition_";

/// `(partition id, group id)` of a tag, or `None` when the key is not a partition tag or the
/// value is not a group id (the service then assigns a new group, so it is no group here).
pub(crate) fn partition_tag(key: &str, value: &str) -> Option<(i64, i64)> {
    let pid = key.strip_prefix(TAG_PREFIX)?.parse().ok()?;
    let gid = value.trim().parse().ok()?;
    Some((pid, gid))
}

/// The usage key of a block `(block_type, block_id)` in course `course_id`, as opaque-keys
/// builds it (`course_key.make_usage_key(type, id)`): `block-v1:ORG+NUM+RUN+type@T+block@ID` for
/// `course-v1:` courses (also `ccx-v1:` -> `ccx-block-v1:`), `i4x://ORG/NUM/T/ID` for old
/// `ORG/NUM/RUN` ids.
pub(crate) fn usage_key(course_id: &str, block_type: &str, block_id: &str) -> Option<String> {
    if let Some(rest) = course_id.strip_prefix("course-v1:") {
        return Some(format!("block-v1:{rest}+type@{block_type}+block@{block_id}"));
    }
    if let Some(rest) = course_id.strip_prefix("ccx-v1:") {
        return Some(format!("ccx-block-v1:{rest}+type@{block_type}+block@{block_id}"));
    }
    let mut parts = course_id.split('/');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(org), Some(num), Some(_run), None) => {
            Some(format!("i4x://{org}/{num}/{block_type}/{block_id}"))
        }
        _ => None,
    }
}

/// The children a library block shows a learner, as usage keys in stored order: `Ok(None)`
/// when the state holds no `selected` list (not assigned yet), an error when it is not what
/// edX writes.
pub(crate) fn selected(course_id: &str, state: &str) -> Result<Option<Vec<String>>, String> {
    if state.trim().is_empty() {
        return Ok(None);
    }
    let json: serde_json::Value =
        serde_json::from_str(state).map_err(|e| format!("the state is not JSON ({e})"))?;
    let Some(list) = json.get("selected") else {
        return Ok(None);
    };
    let list = match list {
        serde_json::Value::Null => return Ok(None),
        serde_json::Value::Array(items) => items,
        other => return Err(format!("'selected' is not a list: {other}")),
    };
    let mut out = Vec::with_capacity(list.len());
    for item in list {
        let pair = item.as_array().filter(|p| p.len() == 2);
        let (kind, id) = match pair.map(|p| (p[0].as_str(), p[1].as_str())) {
            Some((Some(kind), Some(id))) => (kind, id),
            _ => return Err(format!("'selected' holds {item}, not a [block_type, block_id] pair")),
        };
        let key = usage_key(course_id, kind, id)
            .ok_or_else(|| format!("cannot make a usage key in course {course_id}"))?;
        out.push(key);
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_tags() {
        assert_eq!(partition_tag("xblock.partition_service.partition_50", "2"), Some((50, 2)));
        assert_eq!(partition_tag("xblock.partition_service.partition_7", "x"), None);
        assert_eq!(partition_tag("course.some_other_tag", "1"), None);
    }

    #[test]
    fn selections_become_course_usage_keys_in_stored_order() {
        let state = r#"{"selected": [["problem", "b2"], ["problem", "a1"]], "selected_max_count": 2}"#;
        let keys = selected("course-v1:Org+N+R", state).unwrap().unwrap();
        assert_eq!(
            keys,
            ["block-v1:Org+N+R+type@problem+block@b2", "block-v1:Org+N+R+type@problem+block@a1"]
        );
        assert_eq!(
            selected("Org/N/R", r#"{"selected": [["html", "x"]]}"#).unwrap().unwrap(),
            ["i4x://Org/N/html/x"]
        );
        assert_eq!(selected("course-v1:O+N+R", "{}").unwrap(), None);
        assert!(selected("course-v1:O+N+R", r#"{"selected": [["problem"]]}"#).unwrap_err().contains("pair"));
        assert!(selected("course-v1:O+N+R", "{oops").is_err());
    }
}
