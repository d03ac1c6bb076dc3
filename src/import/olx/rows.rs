//! A block tree and its policies as rows of `course_blocks` and `course_policies`.
//!
//! Block fields are explicit only: a field is set on the block whose definition (or
//! `policy.json` entry) sets it, never inherited (spec 2.1). The one collected value is a
//! `split_test` child's group access (edX's `SplitTestTransformer.collect`): its own
//! `group_access` with `{user_partition_id: [group id]}` set, the group whose
//! `group_id_to_child` entry names the child (`[]` when none does), when the course has that
//! partition.

use std::collections::HashMap;

use crate::py::json::Json;
use crate::py::time::Timestamp;

use super::fields::{self, Stored};
use super::scoring;
use super::tree::{Block, Tree};

/// One `course_blocks` row, without its version.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BlockRow {
    pub(crate) usage_key: String,
    pub(crate) block_type: String,
    pub(crate) display_name: Option<String>,
    pub(crate) children: Option<Vec<String>>,
    pub(crate) graded: Option<bool>,
    pub(crate) format: Option<String>,
    pub(crate) weight: Option<f64>,
    pub(crate) max_score: Option<f64>,
    pub(crate) has_score: bool,
    pub(crate) start: Option<Timestamp>,
    pub(crate) due: Option<Timestamp>,
    pub(crate) visible_to_staff_only: Option<bool>,
    pub(crate) group_access: Option<String>,
    pub(crate) show_correctness: Option<String>,
    /// library_content / itembank: children shown per learner.
    pub(crate) max_count: Option<i64>,
}

/// The `course_policies` row, without its version.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PolicyRow {
    pub(crate) grading_policy: String,
    pub(crate) course_start: Option<Timestamp>,
    pub(crate) course_end: Option<Timestamp>,
    pub(crate) self_paced: Option<bool>,
    pub(crate) certificate_available_date: Option<Timestamp>,
    pub(crate) certificates_display_behavior: Option<String>,
    pub(crate) cohorted: Option<bool>,
    pub(crate) teams_enabled: Option<bool>,
    pub(crate) user_partitions: Option<String>,
    pub(crate) course_modes: Option<Vec<String>>,
}

/// The course id and usage keys of a tree.
pub(crate) struct Keys<'t> {
    tree: &'t Tree,
}

impl<'t> Keys<'t> {
    pub(crate) fn new(tree: &'t Tree) -> Self {
        Keys { tree }
    }

    pub(crate) fn course_id(&self) -> String {
        format!("course-v1:{}+{}+{}", self.tree.org, self.tree.course, self.tree.run)
    }

    pub(crate) fn usage_key(&self, block: &Block) -> String {
        let t = self.tree;
        format!(
            "block-v1:{}+{}+{}+type@{}+block@{}",
            t.org, t.course, t.run, block.block_type, block.url_name
        )
    }
}

/// A field decoded, or unset with a warning naming the block when its value cannot be read.
fn decoded<T>(block: &Block, name: &str, decode: impl Fn(&Stored) -> Result<Option<T>, String>) -> Option<T> {
    let stored = block.field(name)?;
    match decode(stored) {
        Ok(v) => v,
        Err(reason) => {
            tracing::warn!(
                "{}: <{} url_name=\"{}\"> {name}: {reason}; left unset",
                block.file,
                block.block_type,
                block.url_name
            );
            None
        }
    }
}

/// Every block's row, in tree order.
pub(crate) fn block_rows(tree: &Tree, partitions: &[Json]) -> Vec<BlockRow> {
    let keys = Keys::new(tree);
    let collected = split_test_access(tree, partitions);
    tree.blocks
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if let Some(w) = &b.scoring.warning {
                tracing::warn!("{}: {}: {w}", b.file, keys.usage_key(b));
            }
            let mut access = decoded(b, "group_access", fields::dict);
            if let Some((pid, groups)) = collected.get(&i) {
                let entries = access.get_or_insert_with(Vec::new);
                let value = Json::Array(groups.iter().map(|g| Json::Int(g.to_string())).collect());
                match entries.iter_mut().find(|(k, _)| k.trim() == pid.to_string()) {
                    Some(slot) => slot.1 = value,
                    None => entries.push((pid.to_string(), value)),
                }
            }
            let max_count = matches!(b.block_type.as_str(), "library_content" | "itembank")
                // LibraryContentBlock / ItemBankBlock default: 1.
                .then(|| decoded(b, "max_count", fields::int).unwrap_or(1));
            BlockRow {
                usage_key: keys.usage_key(b),
                block_type: b.block_type.clone(),
                display_name: display_name(b),
                children: (!b.children.is_empty())
                    .then(|| b.children.iter().map(|c| keys.usage_key(&tree.blocks[*c])).collect()),
                graded: b.field("graded").map(fields::boolean),
                format: decoded(b, "format", fields::string),
                weight: decoded(b, "weight", fields::float),
                max_score: b.scoring.max_score,
                has_score: b.scoring.has_score,
                start: decoded(b, "start", fields::date),
                due: decoded(b, "due", fields::date),
                visible_to_staff_only: b.field("visible_to_staff_only").map(fields::boolean),
                group_access: access.map(|e| fields::dumps(&Json::Object(e))),
                show_correctness: decoded(b, "show_correctness", fields::string),
                max_count,
            }
        })
        .collect()
}

/// `display_name`: the stored one exactly (an ORA's from its `<title>`), else the type's
/// default; an explicit null stays null.
fn display_name(b: &Block) -> Option<String> {
    if let Some(title) = &b.title {
        return Some(title.clone());
    }
    match b.field("display_name") {
        Some(stored) => fields::string(stored).unwrap_or_else(|_| match stored {
            Stored::Attr(text) => Some(text.clone()),
            Stored::Policy(v) => Some(fields::dumps(v)),
        }),
        None => scoring::default_display_name(&b.block_type).map(str::to_string),
    }
}

/// The group access each `split_test` child gets: block index -> (partition id, groups).
fn split_test_access(tree: &Tree, partitions: &[Json]) -> HashMap<usize, (i64, Vec<i64>)> {
    let mut out = HashMap::new();
    for b in tree.blocks.iter().filter(|b| b.block_type == "split_test") {
        let Some(pid) = decoded(b, "user_partition_id", fields::int) else { continue };
        let Some(partition) = partitions.iter().find(|p| json_int(p.get("id")) == Some(pid)) else {
            tracing::warn!("{}: split_test {}: the course has no user partition {pid}", b.file, b.url_name);
            continue;
        };
        let map = decoded(b, "group_id_to_child", fields::dict).unwrap_or_default();
        // child (type, url_name) -> group id, for the partition's groups, as edX builds it.
        let mut child_group: HashMap<(String, String), i64> = HashMap::new();
        if let Some(Json::Array(groups)) = partition.get("groups") {
            for g in groups {
                let Some(gid) = json_int(g.get("id")) else { continue };
                let target = map.iter().find(|(k, _)| k.trim() == gid.to_string()).map(|(_, v)| v);
                if let Some(Json::Str(key)) = target {
                    if let Some(child) = parse_child_key(key) {
                        child_group.insert(child, gid);
                    }
                }
            }
        }
        for &c in &b.children {
            let child = &tree.blocks[c];
            let group = child_group.get(&(child.block_type.clone(), child.url_name.clone()));
            out.insert(c, (pid, group.into_iter().copied().collect()));
        }
    }
    out
}

fn json_int(v: Option<&Json>) -> Option<i64> {
    match v {
        Some(Json::Int(d)) => d.parse().ok(),
        _ => None,
    }
}

/// `(type, url_name)` of a `group_id_to_child` value: `block-v1:...+type@T+block@N` or
/// `i4x://org/course/T/N`.
fn parse_child_key(key: &str) -> Option<(String, String)> {
    if let Some(rest) = key.strip_prefix("i4x://") {
        let parts: Vec<&str> = rest.split('/').collect();
        return (parts.len() >= 4).then(|| (parts[2].to_string(), parts[3].to_string()));
    }
    let block_type = key.split("+type@").nth(1)?.split('+').next()?;
    let url_name = key.split("+block@").nth(1)?;
    Some((block_type.to_string(), url_name.to_string()))
}

/// The course's partitions, from its `user_partitions` setting.
pub(crate) fn partitions(tree: &Tree) -> Vec<Json> {
    decoded(&tree.blocks[0], "user_partitions", fields::list).unwrap_or_default()
}

/// The `course_policies` row: the course block's settings (`course.xml`'s definition and the
/// `course/RUN` entry of `policy.json`) and the grading policy's text.
pub(crate) fn policy_row(tree: &Tree, grading_policy: &str) -> PolicyRow {
    let course = &tree.blocks[0];
    let partitions = decoded(course, "user_partitions", fields::list);
    let teams = decoded(course, "teams_configuration", fields::dict);
    let cohort = decoded(course, "cohort_config", fields::dict);
    PolicyRow {
        grading_policy: grading_policy.to_string(),
        course_start: decoded(course, "start", fields::date),
        course_end: decoded(course, "end", fields::date),
        // CourseBlock default: instructor-paced.
        self_paced: Some(course.field("self_paced").is_some_and(fields::boolean)),
        certificate_available_date: decoded(course, "certificate_available_date", fields::date),
        certificates_display_behavior: decoded(course, "certificates_display_behavior", fields::string),
        // Cohorting lives in the LMS database; the export only has the legacy cohort_config.
        cohorted: cohort.map(|c| {
            c.iter()
                .find(|(k, _)| k == "cohorted")
                .is_some_and(|(_, v)| fields::boolean(&Stored::Policy(v.clone())))
        }),
        teams_enabled: Some(teams.is_some_and(|t| teams_enabled(&t))),
        user_partitions: partitions.map(|p| fields::dumps(&Json::Array(p))),
        // Enrollment modes live in the LMS database, not in the export.
        course_modes: None,
    }
}

/// `TeamsConfig.is_enabled`: an explicit `enabled`, else whether any team-set (topic) is set.
fn teams_enabled(config: &[(String, Json)]) -> bool {
    let get = |k: &str| config.iter().find(|(key, _)| key == k).map(|(_, v)| v);
    if let Some(Json::Bool(b)) = get("enabled") {
        return *b;
    }
    ["team_sets", "topics"].iter().any(|k| matches!(get(k), Some(Json::Array(items)) if !items.is_empty()))
}
