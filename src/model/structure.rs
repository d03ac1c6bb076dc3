//! The course structure of one published version: the block DAG and what edX collects
//! from it at publish time (spec §2) [`lms/djangoapps/grades/transformer.py`,
//! `lms/djangoapps/course_blocks/transformers/*.py`,
//! `openedx/core/djangoapps/content/block_structure/`].
//!
//! * Parent lists are in the order edX's block-structure factory records them: a DFS from
//!   the root in child order that descends into each block once.
//! * Collected, per block, in topological order: `explicit_graded` (own explicit value, else
//!   an `or`-fold over non course/chapter/sequential parents), the merged start (max down a
//!   path, min across parents, course default 2030-01-01), merged `visible_to_staff_only`
//!   (or down a path, and across parents), merged group access (intersection down a path,
//!   union across parents, active partitions only), and the inherited `graded` value.
//! * Per learner ([`CourseStructure::view`]), the transformers' removals are applied: start
//!   date (released when `now > start`), staff-only, group access; `split_test` blocks are
//!   removed keeping their children, which are appended to the end of each parent's child
//!   list, as edX's `remove_block(keep_descendants=True)` does. A block stays if it is
//!   reachable from the root through kept blocks.
//!
//! * The children of randomized library blocks a learner was not assigned are removed, and
//!   the assigned ones put in the assignment's order ([`super::library`]).
//!
//! Not reproduced (no data for them in the contract): beta testers' early starts,
//! staff access, individual due-date overrides. Content type gating never removes a block
//! from the grading structure in edX (the gate is a field override that
//! `UserPartitionTransformer` does not read), so nothing is done for it here.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::fxhash::FxHashMap;
use std::fmt;

use super::library::{LibraryChoice, ITEM_BANK_TYPES};
use crate::py::json::{self as pyjson, Json};
use crate::py::time::Timestamp;

/// `DEFAULT_START_DATE`: 2030-01-01T00:00:00Z, the start of a course that never set one.
pub(crate) const DEFAULT_START: Timestamp = 1_893_456_000_000_000;

/// `ENROLLMENT_TRACK_PARTITION_ID`.
pub(crate) const ENROLLMENT_TRACK_PARTITION_ID: i64 = 50;

/// Group ids of the enrollment-track partition, fixed per mode slug
/// (`settings.COURSE_ENROLLMENT_MODES`).
pub(crate) const ENROLLMENT_TRACK_GROUPS: &[(&str, i64)] = &[
    ("audit", 1),
    ("verified", 2),
    ("professional", 3),
    ("no-id-professional", 4),
    ("credit", 5),
    ("honor", 6),
    ("masters", 7),
    ("executive-education", 8),
    ("unpaid-executive-education", 9),
    ("paid-executive-education", 10),
    ("unpaid-bootcamp", 11),
    ("paid-bootcamp", 12),
];

/// Block types that are "possibly scored" in a stock Open edX (`has_score` or
/// `has_children` on the XBlock class). Types seen in the data with a score or children
/// are added to these.
const POSSIBLY_SCORED_TYPES: &[&str] = &[
    "course",
    "chapter",
    "sequential",
    "vertical",
    "library_content",
    "split_test",
    "conditional",
    "problem",
    "openassessment",
    "lti",
    "lti_consumer",
    "drag-and-drop-v2",
    "staffgradedxblock",
    "itembank",
    "unit",
];

/// One row of `course_blocks`, as read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BlockRow {
    pub usage_key: String,
    pub block_type: String,
    pub display_name: Option<String>,
    pub children: Option<Vec<String>>,
    pub graded: Option<bool>,
    pub format: Option<String>,
    pub weight: Option<f64>,
    pub max_score: Option<f64>,
    pub has_score: bool,
    pub start: Option<Timestamp>,
    pub due: Option<Timestamp>,
    pub visible_to_staff_only: Option<bool>,
    pub group_access: Option<String>,
    pub show_correctness: Option<String>,
    pub subtree_edited_on: Option<Timestamp>,
    /// `library_content` / `itembank`: children shown to each learner (negative or None: all).
    pub max_count: Option<i64>,
}

/// A user partition (`user_partitions` of the course, plus the dynamic enrollment track).
#[derive(Clone, Debug, PartialEq)]
pub struct Partition {
    pub id: i64,
    pub name: String,
    pub scheme: String,
    pub groups: Vec<(i64, String)>,
    pub active: bool,
}

/// Why a course structure cannot be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StructureError {
    /// The block concerned, when there is one.
    pub usage_key: Option<String>,
    pub message: String,
}

impl fmt::Display for StructureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.usage_key {
            Some(k) => write!(f, "block '{k}': {}", self.message),
            None => write!(f, "{}", self.message),
        }
    }
}

impl std::error::Error for StructureError {}

fn serr(key: Option<&str>, message: impl Into<String>) -> StructureError {
    StructureError { usage_key: key.map(str::to_string), message: message.into() }
}

/// Allowed groups per partition; absent partition = unrestricted; empty set = nobody.
pub(crate) type Access = BTreeMap<i64, BTreeSet<i64>>;

/// One block with its collected fields.
#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub row: BlockRow,
    /// Child indices (unknown keys are an error at build time).
    pub children: Vec<u32>,
    pub is_split_test: bool,
    pub possibly_scored: bool,
    /// Collected `explicit_graded` (None counts as True when scoring).
    pub explicit_graded: Option<bool>,
    /// The inherited `graded` setting (own explicit value, else the first parent's).
    pub graded: bool,
    /// Merged start (course default 2030-01-01).
    pub start: Timestamp,
    pub staff_only: bool,
    pub access: Access,
}

/// The block DAG of one course version with everything edX collects from it.
#[derive(Clone, Debug, PartialEq)]
pub struct CourseStructure {
    pub course_id: String,
    pub course_version: String,
    pub blocks: Vec<Block>,
    pub index: FxHashMap<String, u32>,
    pub root: u32,
    /// Parents in edX's order, for blocks reachable from the root.
    pub parents: Vec<Vec<u32>>,
    /// Blocks reachable from the root (others are orphans edX never sees).
    pub reachable: Vec<bool>,
    /// Active partitions (static ones from the course, plus the enrollment track).
    pub partitions: Vec<Partition>,
    /// The item bank blocks (`library_content`, `itembank`) reachable from the root that have
    /// children, in block order: the blocks a learner's [`LibraryChoice`] selects under.
    pub libraries: Vec<u32>,
}

/// A block's own `group_access`: (partition id, allowed groups or None).
pub(crate) type GroupAccess = Vec<(i64, Option<Vec<i64>>)>;

/// Parses a block's `group_access` JSON: `{"<partition id>": [group ids] | null}`.
pub fn parse_group_access(text: &str) -> Result<GroupAccess, String> {
    let v = pyjson::parse(text).map_err(|e| format!("group_access is not valid JSON: {e}"))?;
    let Json::Object(entries) = v else {
        return Err(format!("group_access must be a JSON object, found a {}", v.type_name()));
    };
    let int = |j: &Json| match j {
        Json::Int(d) => d.parse::<i64>().ok(),
        _ => None,
    };
    entries
        .iter()
        .map(|(k, val)| {
            let pid: i64 =
                k.trim().parse().map_err(|_| format!("group_access key {k:?} is not a partition id"))?;
            let groups = match val {
                Json::Null => None,
                Json::Array(items) => Some(
                    items
                        .iter()
                        .map(|g| {
                            int(g).ok_or_else(|| format!("group_access[{k}] holds a non-integer group id"))
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                ),
                other => {
                    return Err(format!("group_access[{k}] is a {}, expected a list", other.type_name()))
                }
            };
            Ok((pid, groups))
        })
        .collect()
}

/// Parses `user_partitions` JSON: `[{id, name, scheme, groups: [{id, name}], active?}]`.
pub fn parse_user_partitions(text: &str) -> Result<Vec<Partition>, String> {
    let v = pyjson::parse(text).map_err(|e| format!("user_partitions is not valid JSON: {e}"))?;
    let Json::Array(items) = v else {
        return Err(format!("user_partitions must be a JSON list, found a {}", v.type_name()));
    };
    let int = |j: Option<&Json>| match j {
        Some(Json::Int(d)) => d.parse::<i64>().ok(),
        _ => None,
    };
    let string = |j: Option<&Json>| match j {
        Some(Json::Str(s)) => s.clone(),
        _ => String::new(),
    };
    items
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let id = int(p.get("id")).ok_or_else(|| format!("user_partitions[{i}] has no integer id"))?;
            let groups = match p.get("groups") {
                Some(Json::Array(gs)) => gs
                    .iter()
                    .map(|g| {
                        int(g.get("id"))
                            .map(|gid| (gid, string(g.get("name"))))
                            .ok_or_else(|| format!("user_partitions[{i}] has a group without an integer id"))
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                _ => Vec::new(),
            };
            let active = !matches!(p.get("active"), Some(Json::Bool(false)));
            Ok(Partition { id, name: string(p.get("name")), scheme: string(p.get("scheme")), groups, active })
        })
        .collect()
}

impl CourseStructure {
    /// Builds the structure of one course version from its `course_blocks` rows.
    ///
    /// `partitions` are the course's `user_partitions`; `course_modes` its modes (for the
    /// enrollment-track partition); `course_start` is used when the root has no `start`.
    pub fn build(
        course_id: &str,
        course_version: &str,
        rows: Vec<BlockRow>,
        partitions: Vec<Partition>,
        course_modes: &[String],
        course_start: Option<Timestamp>,
    ) -> Result<CourseStructure, StructureError> {
        let index = index_by_usage_key(&rows)?;
        let root = find_root(&rows)?;
        let scored_types = possibly_scored_types(&rows);
        let mut children = resolve_children(&rows, &index)?;
        let (parents, reachable) = parents_in_dfs_order(&rows, &children, root)?;
        let partitions = active_partitions(partitions, course_modes);
        let partition_ids: BTreeSet<i64> = partitions.iter().map(|p| p.id).collect();

        let mut blocks: Vec<Block> = Vec::with_capacity(rows.len());
        for (i, r) in rows.into_iter().enumerate() {
            let is_split_test = r.block_type == "split_test";
            let possibly_scored = scored_types.contains(&r.block_type);
            blocks.push(Block {
                row: r,
                children: std::mem::take(&mut children[i]),
                is_split_test,
                possibly_scored,
                explicit_graded: None,
                graded: false,
                start: DEFAULT_START,
                staff_only: false,
                access: Access::new(),
            });
        }

        let mut s = CourseStructure {
            course_id: course_id.to_string(),
            course_version: course_version.to_string(),
            blocks,
            index,
            root,
            parents,
            reachable,
            partitions,
            libraries: Vec::new(),
        };
        s.libraries = (0..s.blocks.len() as u32)
            .filter(|&b| {
                let block = &s.blocks[b as usize];
                s.reachable[b as usize]
                    && !block.children.is_empty()
                    && ITEM_BANK_TYPES.contains(&block.row.block_type.as_str())
            })
            .collect();
        s.collect(&partition_ids, course_start)?;
        Ok(s)
    }

    /// Topological order (every parent before its children), following edX's traversal:
    /// a block is taken once all its parents are.
    pub(crate) fn topological_order(&self) -> Vec<u32> {
        let n = self.blocks.len();
        let mut remaining: Vec<usize> = self.parents.iter().map(Vec::len).collect();
        let mut order = Vec::with_capacity(n);
        let mut stack = vec![self.root];
        let mut done = vec![false; n];
        while let Some(b) = stack.pop() {
            if done[b as usize] {
                continue;
            }
            done[b as usize] = true;
            order.push(b);
            for &c in self.blocks[b as usize].children.iter().rev() {
                remaining[c as usize] -= 1;
                if remaining[c as usize] == 0 {
                    stack.push(c);
                }
            }
        }
        order
    }

    /// Collects, in topological order, each block's `explicit_graded`, inherited `graded`,
    /// merged start, merged staff-only flag and merged group access.
    fn collect(
        &mut self,
        partition_ids: &BTreeSet<i64>,
        course_start: Option<Timestamp>,
    ) -> Result<(), StructureError> {
        let order = self.topological_order();
        for &b in &order {
            let bi = b as usize;
            let parents = self.parents[bi].clone();
            let row = &self.blocks[bi].row;

            let explicit = self.collected_explicit_graded(row, &parents);

            // inherited graded (own value, else the first parent's)
            let graded = row
                .graded
                .unwrap_or_else(|| parents.first().is_some_and(|&p| self.blocks[p as usize].graded));

            let start = self.merged_start(bi, &parents, course_start);

            // merged visible_to_staff_only
            let own_staff = row.visible_to_staff_only.unwrap_or(false);
            let staff_only = own_staff
                || (!parents.is_empty() && parents.iter().all(|&p| self.blocks[p as usize].staff_only));

            // merged group access
            let own_access = match &row.group_access {
                None => Vec::new(),
                Some(text) if text.trim().is_empty() => Vec::new(),
                Some(text) => parse_group_access(text).map_err(|m| serr(Some(&row.usage_key), m))?,
            };
            let access = self.merged_access(&parents, &own_access, partition_ids);

            let block = &mut self.blocks[bi];
            block.explicit_graded = explicit;
            block.graded = graded;
            block.start = start;
            block.staff_only = staff_only;
            block.access = access;
        }
        Ok(())
    }

    /// A block's collected `explicit_graded`: its own explicit value, else an `or`-fold over
    /// its non course/chapter/sequential parents (None for those three types themselves).
    fn collected_explicit_graded(&self, row: &BlockRow, parents: &[u32]) -> Option<bool> {
        if matches!(row.block_type.as_str(), "course" | "chapter" | "sequential") {
            None
        } else if row.graded.is_some() {
            row.graded
        } else {
            parents
                .iter()
                .filter(|&&p| {
                    !matches!(
                        self.blocks[p as usize].row.block_type.as_str(),
                        "course" | "chapter" | "sequential"
                    )
                })
                .map(|&p| self.blocks[p as usize].explicit_graded)
                .fold(None, |acc: Option<bool>, v| if acc == Some(true) { acc } else { v })
        }
    }

    /// Block `bi`'s merged start: max down a path, min across parents (the root falls back
    /// to the course start, then to 2030-01-01).
    fn merged_start(&self, bi: usize, parents: &[u32], course_start: Option<Timestamp>) -> Timestamp {
        let row = &self.blocks[bi].row;
        let own_start = if bi == self.root as usize { row.start.or(course_start) } else { row.start };
        if parents.is_empty() {
            own_start.unwrap_or(DEFAULT_START)
        } else {
            let from_parents =
                parents.iter().map(|&p| self.blocks[p as usize].start).min().unwrap_or(DEFAULT_START);
            match own_start {
                Some(s) => s.max(from_parents),
                None => from_parents,
            }
        }
    }

    /// A block's merged group access over the active partitions: its own allowed groups
    /// intersected with the union of its parents'.
    fn merged_access(
        &self,
        parents: &[u32],
        own_access: &GroupAccess,
        partition_ids: &BTreeSet<i64>,
    ) -> Access {
        let mut access = Access::new();
        for &pid in partition_ids {
            let from_parents = self.parents_access(parents, pid);
            let own: Option<BTreeSet<i64>> = own_access
                .iter()
                .find(|(k, _)| *k == pid)
                .and_then(|(_, g)| g.as_ref())
                .filter(|g| !g.is_empty())
                .map(|g| g.iter().copied().collect());
            let merged = match (own, from_parents) {
                (Some(a), Some(b)) => Some(a.intersection(&b).copied().collect()),
                (Some(a), None) => Some(a),
                (None, Some(b)) => Some(b),
                (None, None) => None,
            };
            if let Some(m) = merged {
                access.insert(pid, m);
            }
        }
        access
    }

    /// The union of the parents' allowed groups in partition `pid`; None (unrestricted)
    /// when there are no parents or one of them is unrestricted.
    fn parents_access(&self, parents: &[u32], pid: i64) -> Option<BTreeSet<i64>> {
        if parents.is_empty() {
            return None;
        }
        let mut union = BTreeSet::new();
        for &p in parents {
            match self.blocks[p as usize].access.get(&pid) {
                Some(set) => union.extend(set.iter().copied()),
                None => return None,
            }
        }
        Some(union)
    }

    /// The block with this usage key.
    pub fn block(&self, usage_key: &str) -> Option<&Block> {
        self.index.get(usage_key).map(|&i| &self.blocks[i as usize])
    }

    /// The collected `subsections` field: every `sequential` that is the block itself or
    /// one of its ancestors, over all parent paths (`collect_unioned_set_field`).
    pub fn containing_subsections(&self, block: u32) -> BTreeSet<u32> {
        let mut out = BTreeSet::new();
        let mut stack = vec![block];
        let mut seen = HashSet::new();
        while let Some(b) = stack.pop() {
            if !seen.insert(b) {
                continue;
            }
            if self.blocks[b as usize].row.block_type == "sequential" {
                out.insert(b);
            }
            stack.extend(self.parents[b as usize].iter().copied());
        }
        out
    }

    /// The partition ids that restrict at least one block: a learner's view depends only on
    /// their groups in these.
    pub(crate) fn restricting_partitions(&self) -> Vec<i64> {
        let mut ids: BTreeSet<i64> = BTreeSet::new();
        for (b, reach) in self.blocks.iter().zip(&self.reachable) {
            if *reach {
                ids.extend(b.access.keys().copied());
            }
        }
        ids.into_iter().collect()
    }

    /// Children as the learner's structure has them: `split_test` children replaced, at the
    /// end of the list, by the split_test's own children (in removal order). A split test
    /// that fails `split_ok` (its own start date or staff-only flag) was removed with its
    /// subtree before the split tests were dissolved, so its children do not come along.
    fn effective_children<G: Fn(&Block) -> bool>(&self, b: u32, split_ok: &G, out: &mut Vec<u32>) {
        out.clear();
        let mut queue: Vec<u32> = Vec::new();
        let take = |c: u32, out: &mut Vec<u32>, queue: &mut Vec<u32>| {
            let child = &self.blocks[c as usize];
            if !child.is_split_test {
                out.push(c);
            } else if split_ok(child) {
                queue.push(c);
            }
        };
        for &c in &self.blocks[b as usize].children {
            take(c, out, &mut queue);
        }
        let mut qi = 0;
        while qi < queue.len() {
            let s = queue[qi];
            qi += 1;
            for &c in &self.blocks[s as usize].children {
                take(c, out, &mut queue);
            }
        }
    }

    /// The learner's structure at time `now`, given their group in each partition
    /// (`group_of(partition_id)`, None when they have none), for a learner without stored
    /// library selections (each item bank block shows its first `max_count` children).
    pub fn view<F>(&self, now: Timestamp, group_of: F) -> CourseView
    where
        F: FnMut(i64) -> Option<i64>,
    {
        let (choice, _) = self.library_choice(&[]);
        self.view_with(now, group_of, &choice, false)
    }

    /// [`CourseStructure::view`] for a learner with this choice of library children
    /// ([`CourseStructure::library_choice`]).
    pub fn library_view<F>(&self, now: Timestamp, group_of: F, library: &LibraryChoice) -> CourseView
    where
        F: FnMut(i64) -> Option<i64>,
    {
        self.view_with(now, group_of, library, false)
    }

    /// A course staff member's structure: nothing is removed but split tests (whose
    /// children are re-parented as for everyone) and the library children not selected
    /// (staff are not exempted; without stored selections, the first `max_count`).
    pub fn staff_view(&self, now: Timestamp) -> CourseView {
        let (choice, _) = self.library_choice(&[]);
        self.view_with(now, |_| None, &choice, true)
    }

    /// The structure as collected at publish time, before any per-learner transformer
    /// (the grading context of the reports uses it).
    pub(crate) fn collected_view(&self) -> CourseView {
        CourseView {
            present: self.reachable.clone(),
            children: self.blocks.iter().map(|b| b.children.clone()).collect(),
            root: self.root,
        }
    }

    fn view_with<F>(
        &self,
        now: Timestamp,
        mut group_of: F,
        library: &LibraryChoice,
        staff: bool,
    ) -> CourseView
    where
        F: FnMut(i64) -> Option<i64>,
    {
        let n = self.blocks.len();
        let (unselected, library_order) = self.library_filter(library);
        let mut groups: HashMap<i64, Option<i64>> = HashMap::new();
        let mut kept = |bi: u32| -> bool {
            let b = &self.blocks[bi as usize];
            if b.is_split_test || unselected[bi as usize] {
                return false;
            }
            if staff {
                return true;
            }
            // Released only when `now > start` (strictly).
            if now <= b.start || b.staff_only {
                return false;
            }
            b.access.iter().all(|(pid, allowed)| {
                let g = *groups.entry(*pid).or_insert_with(|| group_of(*pid));
                g.is_some_and(|g| allowed.contains(&g))
            })
        };

        // Split tests never stay, but their own start/staff-only removal cuts their children.
        let split_ok = |b: &Block| staff || ((now > b.start) && !b.staff_only);

        let mut present = vec![false; n];
        let mut eff: Vec<Vec<u32>> = vec![Vec::new(); n];
        let root = self.root;
        if kept(root) {
            let mut stack = vec![root];
            present[root as usize] = true;
            let mut buf = Vec::new();
            while let Some(b) = stack.pop() {
                self.effective_children(b, &split_ok, &mut buf);
                let mut kids = Vec::with_capacity(buf.len());
                for &c in &buf {
                    if kept(c) {
                        kids.push(c);
                        if !present[c as usize] {
                            present[c as usize] = true;
                            stack.push(c);
                        }
                    }
                }
                // ContentLibraryOrderTransformer: the selection's order, when the remaining
                // children are exactly the selection.
                if let Some(order) = library_order.get(&b) {
                    if kids.len() == order.len() && kids.iter().all(|k| order.contains(k)) {
                        kids.clear();
                        kids.extend_from_slice(order);
                    }
                }
                eff[b as usize] = kids;
            }
        }
        CourseView { present, children: eff, root }
    }
}

/// Row index by usage key; a key that appears twice is an error.
fn index_by_usage_key(rows: &[BlockRow]) -> Result<FxHashMap<String, u32>, StructureError> {
    let mut index: FxHashMap<String, u32> =
        FxHashMap::with_capacity_and_hasher(rows.len(), Default::default());
    for (i, r) in rows.iter().enumerate() {
        if index.insert(r.usage_key.clone(), i as u32).is_some() {
            return Err(serr(Some(&r.usage_key), "appears twice in this course version"));
        }
    }
    Ok(index)
}

/// The row index of the one block of type `course` (the root).
fn find_root(rows: &[BlockRow]) -> Result<u32, StructureError> {
    let roots: Vec<u32> =
        rows.iter().enumerate().filter(|(_, r)| r.block_type == "course").map(|(i, _)| i as u32).collect();
    match roots.as_slice() {
        [r] => Ok(*r),
        [] => Err(serr(None, "no block of type 'course' (the root) in this course version")),
        _ => Err(serr(None, format!("{} blocks of type 'course'; expected exactly one root", roots.len()))),
    }
}

/// Types that may hold scores: the stock list plus what the data shows.
fn possibly_scored_types(rows: &[BlockRow]) -> HashSet<String> {
    let mut scored_types: HashSet<String> = POSSIBLY_SCORED_TYPES.iter().map(|t| t.to_string()).collect();
    for r in rows {
        if r.has_score || r.children.is_some() {
            scored_types.insert(r.block_type.clone());
        }
    }
    scored_types
}

/// Each row's child indices; a child key that is not a block of the version is an error.
fn resolve_children(
    rows: &[BlockRow],
    index: &FxHashMap<String, u32>,
) -> Result<Vec<Vec<u32>>, StructureError> {
    let mut children = Vec::with_capacity(rows.len());
    for r in rows {
        let mut kids = Vec::new();
        for c in r.children.iter().flatten() {
            match index.get(c) {
                Some(&ci) => kids.push(ci),
                None => {
                    return Err(serr(
                        Some(&r.usage_key),
                        format!("lists child '{c}', which is not a block of this course version"),
                    ))
                }
            }
        }
        children.push(kids);
    }
    Ok(children)
}

/// Parents in DFS order (BlockStructureFactory) and which blocks the root reaches; rejects
/// cycles.
fn parents_in_dfs_order(
    rows: &[BlockRow],
    children: &[Vec<u32>],
    root: u32,
) -> Result<(Vec<Vec<u32>>, Vec<bool>), StructureError> {
    let n = rows.len();
    let mut parents: Vec<Vec<u32>> = vec![Vec::new(); n];
    let mut reachable = vec![false; n];
    let mut on_stack = vec![false; n];
    // Iterative DFS: (block, next child position).
    let mut stack: Vec<(u32, usize)> = vec![(root, 0)];
    reachable[root as usize] = true;
    on_stack[root as usize] = true;
    while let Some(&mut (b, ref mut pos)) = stack.last_mut() {
        let kids = &children[b as usize];
        if *pos < kids.len() {
            let c = kids[*pos];
            *pos += 1;
            parents[c as usize].push(b);
            if on_stack[c as usize] {
                return Err(serr(
                    Some(&rows[c as usize].usage_key),
                    "is its own ancestor: the 'children' lists form a cycle",
                ));
            }
            if !reachable[c as usize] {
                reachable[c as usize] = true;
                on_stack[c as usize] = true;
                stack.push((c, 0));
            }
        } else {
            on_stack[b as usize] = false;
            stack.pop();
        }
    }
    Ok((parents, reachable))
}

/// Active partitions: the course's own, plus the enrollment track unless id 50 is taken.
fn active_partitions(partitions: Vec<Partition>, course_modes: &[String]) -> Vec<Partition> {
    let mut partitions: Vec<Partition> = partitions.into_iter().filter(|p| p.active).collect();
    if !partitions.iter().any(|p| p.id == ENROLLMENT_TRACK_PARTITION_ID) {
        let groups = course_modes
            .iter()
            .filter_map(|m| {
                let slug = if m == "credit" { "verified" } else { m.as_str() };
                ENROLLMENT_TRACK_GROUPS.iter().find(|(s, _)| *s == slug).map(|(s, id)| (*id, s.to_string()))
            })
            .collect();
        partitions.push(Partition {
            id: ENROLLMENT_TRACK_PARTITION_ID,
            name: "Enrollment Track Groups".to_string(),
            scheme: "enrollment_track".to_string(),
            groups,
            active: true,
        });
    }
    partitions
}

/// One learner's course structure: which blocks they have, and each block's children in
/// their structure.
#[derive(Clone, Debug, PartialEq)]
pub struct CourseView {
    pub present: Vec<bool>,
    pub children: Vec<Vec<u32>>,
    pub root: u32,
}

impl CourseView {
    /// Chapters and their subsections in course order, each subsection once per chapter
    /// (`_uniqueify_and_keep_order`).
    pub fn chapters(&self) -> Vec<(u32, Vec<u32>)> {
        self.children[self.root as usize]
            .iter()
            .map(|&ch| {
                let mut seen = HashSet::new();
                let subs = self.children[ch as usize].iter().copied().filter(|s| seen.insert(*s)).collect();
                (ch, subs)
            })
            .collect()
    }

    /// Every subsection once, at its first occurrence in course order.
    pub fn subsections(&self) -> Vec<u32> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for (_, subs) in self.chapters() {
            for s in subs {
                if seen.insert(s) {
                    out.push(s);
                }
            }
        }
        out
    }

    /// The scorable blocks of a subsection: a post-order traversal from it over the
    /// learner's structure, skipping blocks (and their subtrees) that are not possibly
    /// scored, each block once, keeping those with `has_score`.
    pub fn problems(&self, structure: &CourseStructure, subsection: u32) -> Vec<u32> {
        let mut out = Vec::new();
        let mut visited: HashSet<u32> = HashSet::new();
        let mut stack: Vec<(u32, usize)> = vec![(subsection, 0)];
        while let Some(&mut (b, ref mut pos)) = stack.last_mut() {
            let block = &structure.blocks[b as usize];
            if visited.contains(&b) || !block.possibly_scored {
                stack.pop();
                continue;
            }
            let kids = &self.children[b as usize];
            if *pos < kids.len() {
                let c = kids[*pos];
                *pos += 1;
                stack.push((c, 0));
            } else {
                visited.insert(b);
                stack.pop();
                if block.row.has_score {
                    out.push(b);
                }
            }
        }
        out
    }
}
