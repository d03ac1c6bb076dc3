//! Synthetic courses: published versions of a block DAG, grading policies and partitions.
//!
//! Each course is built from its own random stream, so courses are independent of each other
//! and of the learner count. The shape follows what edx-grading.md §2 describes: `course` ->
//! `chapter` -> `sequential` (subsection, with `graded`/`format`/`start`/`due`) -> `vertical` ->
//! `problem` / `openassessment` / `html` / `video` leaves, plus the cases a grader must handle:
//! weights None / 0 / explicit, `max_score` None, DAG-shared problems, a `split_test` with
//! group-restricted children, cohort content groups, unreleased and staff-only subsections, and
//! later versions that change weights and max scores or add a subsection.

use crate::model::structure::BlockRow;
use std::collections::HashSet;

use super::rng::Rng;

/// One microsecond-based day.
pub const DAY: i64 = 86_400_000_000;
/// 2026-01-01T00:00:00Z: "now" of the generated data; later starts are unreleased.
pub const NOW: i64 = 1_767_225_600_000_000;
/// 2024-01-01T00:00:00Z.
const BASE: i64 = 1_704_067_200_000_000;

/// Partition id of the cohort content groups. edX reserves 50 (enrollment track) and 51
/// (content type gating); ids of partitions created at run time, like content groups, are 100+.
pub(crate) const CONTENT_PARTITION: i64 = 101;

/// Random-stream ids (first element of an [`Rng::new`] path).
pub(crate) const STREAM_COURSE: u64 = 1;
pub(crate) const STREAM_LEARNER: u64 = 2;
pub(crate) const STREAM_USER: u64 = 3;
pub(crate) const STREAM_PERSISTED: u64 = 4;
/// A course's randomized library block (drawn apart, so the other blocks stay as they were).
pub(crate) const STREAM_LIBRARY: u64 = 5;
/// A learner's library selection and attempts of the library's problems.
pub(crate) const STREAM_LIBRARY_LEARNER: u64 = 6;

/// Block types with randomized children (`ItemBankMixin`).
pub(crate) const LIBRARY_TYPES: &[&str] = &["library_content", "itembank"];

#[derive(Debug, Clone)]
pub struct Block {
    pub block_type: String,
    pub usage_key: String,
    pub display_name: Option<String>,
    pub children: Vec<usize>,
    pub graded: Option<bool>,
    pub format: Option<String>,
    pub weight: Option<f64>,
    pub max_score: Option<f64>,
    pub start: Option<i64>,
    pub due: Option<i64>,
    pub visible_to_staff_only: Option<bool>,
    pub has_score: bool,
    /// edX's `group_access` JSON, as stored.
    pub group_access: Option<String>,
    /// What `group_access` asks of a learner: `(partition id, allowed group ids)`.
    pub requires: Vec<(i64, Vec<i64>)>,
    pub show_correctness: Option<String>,
    pub subtree_edited_on: Option<i64>,
    /// Library blocks: children shown to each learner (-1: all).
    pub max_count: Option<i64>,
}

impl Block {
    /// A synthetic block of `block_type` (scored when a problem or an ORA), no field set.
    pub(crate) fn new(block_type: &str, usage_key: String, name: Option<String>, edited: i64) -> Self {
        Block {
            block_type: block_type.to_string(),
            usage_key,
            display_name: name,
            children: Vec::new(),
            graded: None,
            format: None,
            weight: None,
            max_score: None,
            has_score: matches!(block_type, "problem" | "openassessment"),
            start: None,
            due: None,
            visible_to_staff_only: None,
            group_access: None,
            requires: Vec::new(),
            show_correctness: None,
            subtree_edited_on: Some(edited),
            max_count: None,
        }
    }

    /// Restrict the block to `groups` of partition `pid`.
    pub(crate) fn restrict(&mut self, pid: i64, groups: Vec<i64>) {
        let listed: Vec<String> = groups.iter().map(i64::to_string).collect();
        self.group_access = Some(format!("{{\"{pid}\": [{}]}}", listed.join(", ")));
        self.requires = vec![(pid, groups)];
    }
}

/// One entry of the policy's GRADER list.
#[derive(Debug, Clone)]
pub struct Grader {
    pub kind: &'static str,
    pub short_label: &'static str,
    pub min_count: u32,
    pub drop_count: u32,
    pub weight: f64,
}

#[derive(Debug, Clone)]
pub struct Policy {
    pub graders: Vec<Grader>,
    /// Letter cutoffs, highest first.
    pub cutoffs: Vec<(&'static str, f64)>,
    /// The policy's text as read (`--structure`): written and hashed as it is, byte for byte.
    pub text: Option<String>,
}

impl Policy {
    /// The policy JSON as Studio stores it (keys sorted, like a Mongo dump through json.dumps).
    pub fn json(&self) -> String {
        if let Some(text) = &self.text {
            return text.clone();
        }
        let graders: Vec<serde_json::Value> = self
            .graders
            .iter()
            .map(|g| {
                serde_json::json!({
                    "type": g.kind,
                    "short_label": g.short_label,
                    "min_count": g.min_count,
                    "drop_count": g.drop_count,
                    "weight": g.weight,
                })
            })
            .collect();
        let cutoffs: serde_json::Map<String, serde_json::Value> =
            self.cutoffs.iter().map(|(k, v)| (k.to_string(), serde_json::json!(v))).collect();
        serde_json::json!({"GRADER": graders, "GRADE_CUTOFFS": cutoffs}).to_string()
    }

    /// Letter for a percent, "" below every cutoff.
    pub fn letter(&self, percent: f64) -> &'static str {
        self.cutoffs.iter().find(|(_, c)| percent >= *c).map_or("", |(l, _)| l)
    }

    pub fn pass_cutoff(&self) -> f64 {
        self.cutoffs.iter().map(|(_, c)| *c).fold(1.0, f64::min)
    }
}

#[derive(Debug, Clone)]
pub struct Version {
    pub id: String,
    pub published_at: i64,
    pub blocks: Vec<Block>,
    /// Index of the `course` block in `blocks`.
    pub root: usize,
    pub policy: Policy,
}

impl Version {
    /// The version's `course_blocks` rows: what the dataset holds and what the persisted
    /// grades are computed from (one conversion, so the two cannot drift apart).
    pub(crate) fn block_rows(&self) -> Vec<BlockRow> {
        self.blocks
            .iter()
            .map(|b| BlockRow {
                usage_key: b.usage_key.clone(),
                block_type: b.block_type.clone(),
                display_name: b.display_name.clone(),
                children: (!b.children.is_empty())
                    .then(|| b.children.iter().map(|&c| self.blocks[c].usage_key.clone()).collect()),
                graded: b.graded,
                format: b.format.clone(),
                weight: b.weight,
                max_score: b.max_score,
                has_score: b.has_score,
                start: b.start,
                due: b.due,
                visible_to_staff_only: b.visible_to_staff_only,
                group_access: b.group_access.clone(),
                show_correctness: b.show_correctness.clone(),
                subtree_edited_on: b.subtree_edited_on,
                max_count: b.max_count,
            })
            .collect()
    }
}

/// A scorable block of a version, with what a learner needs to see it.
#[derive(Debug, Clone)]
pub struct Problem {
    pub block: usize,
    /// Partition/group requirements from the block and its ancestors.
    pub requires: Vec<(i64, Vec<i64>)>,
}

#[derive(Debug, Clone)]
pub struct Course {
    pub index: usize,
    pub id: String,
    pub learners: usize,
    /// Learner k of this course is user `1 + (first_user + k) % pool`.
    pub first_user: u64,
    pub start: i64,
    pub end: Option<i64>,
    pub self_paced: bool,
    pub certificate_available_date: Option<i64>,
    /// `course_start` as `course_policies` holds it (`start` is the generator's clock).
    pub course_start: Option<i64>,
    pub certificates_display_behavior: String,
    pub cohorted: bool,
    /// The partition cohorts link to and its group ids (a `cohort` scheme partition).
    pub content_groups: Option<(i64, Vec<i64>)>,
    pub teams_enabled: bool,
    /// Split-test (`random` scheme) partitions and their group ids.
    pub experiments: Vec<(i64, Vec<i64>)>,
    /// `user_partitions` JSON of `course_policies`.
    pub user_partitions: Option<String>,
    pub modes: Vec<String>,
    pub versions: Vec<Version>,
}

const ORGS: &[&str] = &["edX", "MITx", "HarvardX", "DelftX", "UQx", "BerkeleyX"];
const SUBJECTS: &[&str] = &["CS", "MATH", "PHYS", "BIO", "ECON", "HIST", "CHEM", "STAT"];
const WEIGHTS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 0.5];
const DISPLAY_BEHAVIORS: &[&str] = &["end", "early_no_info", "end_with_date"];

impl Course {
    pub fn latest(&self) -> &Version {
        // Every course has at least one version (built in `build`).
        &self.versions[self.versions.len() - 1]
    }

    /// The synthetic course's `user_partitions` JSON.
    fn user_partitions_json(&self) -> Option<String> {
        let mut parts = Vec::new();
        if self.cohorted {
            parts.push(serde_json::json!({
                "id": CONTENT_PARTITION, "name": "Content Groups", "scheme": "cohort",
                "description": "Cohort-linked content groups", "version": 3, "active": true,
                "groups": [{"id": 1, "name": "Group A"}, {"id": 2, "name": "Group B"}],
            }));
        }
        if let Some(p) = self.experiment_partition() {
            parts.push(serde_json::json!({
                "id": p, "name": "Experiment 1", "scheme": "random",
                "description": "A/B test", "version": 3, "active": true,
                "groups": [{"id": 0, "name": "Control"}, {"id": 1, "name": "Variant"}],
            }));
        }
        (!parts.is_empty()).then(|| serde_json::Value::Array(parts).to_string())
    }

    fn experiment_partition(&self) -> Option<i64> {
        self.experiments.first().map(|(p, _)| *p)
    }
}

/// Learners of course `index` out of `courses`: a geometric spread from `largest` down, so a
/// dataset has one big course and many small ones (at least 3 learners, when `largest` allows).
pub(crate) fn learners_of(index: usize, largest: usize) -> usize {
    let n = (largest as f64 * 0.55f64.powi(index as i32)).round() as usize;
    n.max(largest.min(3))
}

/// Build course `index` of a dataset.
pub fn build(seed: u64, index: usize, largest: usize, problems: usize, pool: u64) -> Course {
    let mut rng = Rng::new(seed, &[STREAM_COURSE, index as u64]);
    let org = ORGS[index % ORGS.len()];
    let number = format!("{}{}", SUBJECTS[(index / ORGS.len()) % SUBJECTS.len()], 101 + index);
    let run = format!("{}_T{}", 2024 + (index % 3), 1 + index % 2);
    let id = format!("course-v1:{org}+{number}+{run}");
    let key_prefix = format!("block-v1:{org}+{number}+{run}");
    let start = BASE + (rng.range(0, 540) as i64) * DAY;
    let self_paced = rng.chance(0.25);
    let end = (!self_paced || rng.chance(0.5)).then(|| start + (rng.range(60, 180) as i64) * DAY);
    // Course 0 exercises every feature; the others draw them at random.
    let all = index == 0;
    let cohorted = all || rng.chance(0.35);
    let experiment_partition =
        (all || rng.chance(0.4)).then(|| 1_000_000_000 + rng.range(0, 1_000_000_000) as i64);
    let modes: Vec<String> = if rng.chance(0.3) {
        vec!["audit".into(), "verified".into(), "honor".into()]
    } else {
        vec!["audit".into(), "verified".into()]
    };
    let mut course = Course {
        index,
        id,
        learners: learners_of(index, largest),
        first_user: rng.range(0, pool.max(1)),
        start,
        end,
        self_paced,
        certificate_available_date: end.filter(|_| rng.chance(0.5)).map(|e| e + 7 * DAY),
        course_start: Some(start),
        certificates_display_behavior: DISPLAY_BEHAVIORS[rng.below(DISPLAY_BEHAVIORS.len())].to_string(),
        cohorted,
        content_groups: cohorted.then(|| (CONTENT_PARTITION, vec![1, 2])),
        teams_enabled: all || rng.chance(0.2),
        experiments: experiment_partition.map(|p| (p, vec![0, 1])).into_iter().collect(),
        user_partitions: None,
        modes,
        versions: Vec::new(),
    };
    let problems = problems.max(4);
    let mut builder =
        StructureBuilder { rng: &mut rng, key_prefix, blocks: Vec::new(), published_at: start - 30 * DAY };
    let policy = choose_policy(builder.rng, problems);
    builder.first_version(&course, &policy, problems, all);
    // Course 0 always has a randomized library block, a few others too.
    let mut library_rng = Rng::new(seed, &[STREAM_LIBRARY, index as u64]);
    if all || library_rng.chance(0.3) {
        add_library(&mut builder.blocks, &builder.key_prefix, &mut library_rng, builder.published_at);
    }
    let mut version = Version {
        id: builder.rng.hex(24),
        published_at: builder.published_at,
        blocks: std::mem::take(&mut builder.blocks),
        root: 0,
        policy,
    };
    let n_versions = 1 + builder.rng.below(4);
    for _ in 1..n_versions {
        course.versions.push(version.clone());
        builder.published_at += (builder.rng.range(3, 60) as i64) * DAY;
        builder.blocks = version.blocks.clone();
        let policy = builder.next_version(&version.policy, &course);
        version = Version {
            id: builder.rng.hex(24),
            published_at: builder.published_at,
            blocks: std::mem::take(&mut builder.blocks),
            root: 0,
            policy,
        };
    }
    course.versions.push(version);
    course.user_partitions = course.user_partitions_json();
    course
}

fn choose_policy(rng: &mut Rng, problems: usize) -> Policy {
    let hw = (problems / 6).clamp(2, 12) as u32;
    let lab = (problems / 10).clamp(1, 8) as u32;
    let exam = |kind, short_label, weight| Grader { kind, short_label, min_count: 1, drop_count: 0, weight };
    match rng.below(3) {
        0 => Policy {
            graders: vec![
                Grader {
                    kind: "Homework",
                    short_label: "HW",
                    min_count: hw,
                    drop_count: if hw > 2 { 1 + rng.below(2) as u32 } else { 0 },
                    weight: 0.3,
                },
                Grader {
                    kind: "Lab",
                    short_label: "Lab",
                    min_count: lab,
                    drop_count: rng.below(2) as u32 * u32::from(lab > 1),
                    weight: 0.2,
                },
                exam("Midterm Exam", "Midterm", 0.2),
                exam("Final Exam", "Final", 0.3),
            ],
            cutoffs: vec![("A", 0.9), ("B", 0.8), ("C", 0.7)],
            text: None,
        },
        1 => Policy {
            graders: vec![
                Grader { kind: "Homework", short_label: "HW", min_count: hw, drop_count: 1, weight: 0.5 },
                exam("Final Exam", "Final", 0.5),
            ],
            cutoffs: vec![("Pass", 0.5)],
            text: None,
        },
        _ => Policy {
            graders: vec![
                Grader {
                    kind: "Homework",
                    short_label: "HW",
                    min_count: hw,
                    drop_count: 2.min(hw - 1),
                    weight: 0.15,
                },
                Grader { kind: "Lab", short_label: "Lab", min_count: lab, drop_count: 0, weight: 0.15 },
                exam("Midterm Exam", "Midterm", 0.3),
                exam("Final Exam", "Final", 0.4),
            ],
            cutoffs: vec![("Pass", 0.6)],
            text: None,
        },
    }
}

struct StructureBuilder<'a> {
    rng: &'a mut Rng,
    key_prefix: String,
    blocks: Vec<Block>,
    published_at: i64,
}

impl StructureBuilder<'_> {
    fn add(&mut self, block_type: &'static str, name: Option<String>) -> usize {
        let id = if block_type == "course" { "course".to_string() } else { self.rng.hex(32) };
        let key = format!("{}+type@{block_type}+block@{id}", self.key_prefix);
        self.blocks.push(Block::new(block_type, key, name, self.published_at));
        self.blocks.len() - 1
    }

    fn problem(&mut self, n: usize, ora: bool) -> usize {
        if ora {
            let b = self.add("openassessment", Some(format!("Essay {n}")));
            self.blocks[b].max_score = Some(*self.rng.pick(&[5.0, 10.0, 20.0]));
            return b;
        }
        let b = self.add("problem", Some(format!("Problem {n}")));
        let r = self.rng.f64();
        self.blocks[b].weight = if r < 0.70 {
            None
        } else if r < 0.75 {
            Some(0.0)
        } else {
            Some(*self.rng.pick(WEIGHTS))
        };
        self.blocks[b].max_score = (!self.rng.chance(0.03)).then(|| self.rng.range(1, 6) as f64);
        if self.rng.chance(0.03) {
            self.blocks[b].graded = Some(false);
        }
        b
    }

    fn leaf_content(&mut self, vertical: usize) {
        if self.rng.chance(0.4) {
            let v = self.add("video", Some("Lecture video".into()));
            self.blocks[vertical].children.push(v);
        }
        if self.rng.chance(0.5) {
            let h = self.add("html", Some("Reading".into()));
            self.blocks[vertical].children.push(h);
        }
    }

    /// Subsection with `n_problems` problems spread over 1-3 verticals; returns its index and
    /// the indices of its verticals.
    fn subsection(
        &mut self,
        name: String,
        n_problems: usize,
        counter: &mut usize,
        ora: bool,
    ) -> (usize, Vec<usize>) {
        let seq = self.add("sequential", Some(name));
        let n_vert = 1 + self.rng.below(3.min(n_problems.max(1)));
        let mut verticals = Vec::new();
        for v in 0..n_vert {
            let vert = self.add("vertical", Some(format!("Unit {}", v + 1)));
            self.blocks[seq].children.push(vert);
            self.leaf_content(vert);
            verticals.push(vert);
        }
        for p in 0..n_problems {
            *counter += 1;
            let b = self.problem(*counter, ora && p == 0);
            let vert = verticals[self.rng.below(verticals.len())];
            self.blocks[vert].children.push(b);
        }
        (seq, verticals)
    }

    /// The first version's blocks: chapters of graded and practice subsections following
    /// the policy, then the special cases.
    fn first_version(&mut self, course: &Course, policy: &Policy, problems: usize, all: bool) {
        let root = self.add("course", Some(format!("Course {}", course.index)));
        let plan = self.subsection_plan(policy);
        let counts = self.problem_counts(&plan, problems);

        let mut counter = 0;
        let mut chapter = usize::MAX;
        let mut graded_seqs: Vec<(usize, Vec<usize>)> = Vec::new();
        let mut ora_left = if problems >= 8 { 1 + self.rng.below(2) } else { 0 };
        for (i, kind) in plan.iter().enumerate() {
            if i % 3 == 0 {
                chapter = self.add("chapter", Some(format!("Week {}", i / 3 + 1)));
                self.blocks[chapter].start = Some(course.start);
                self.blocks[root].children.push(chapter);
            }
            let name = match kind {
                Some(k) => format!("{k} {}", i + 1),
                None => format!("Practice {}", i + 1),
            };
            // The first Homework subsections get the ORA blocks, so every course of 8+
            // problems has at least one.
            let ora = kind == &Some("Homework") && ora_left > 0;
            ora_left -= usize::from(ora);
            let (seq, verticals) = self.subsection(name, counts[i], &mut counter, ora);
            self.blocks[chapter].children.push(seq);
            let start = course.start + (i as i64) * 7 * DAY;
            let b = &mut self.blocks[seq];
            b.start = Some(start);
            match kind {
                Some(k) => {
                    b.graded = Some(true);
                    b.format = Some(k.to_string());
                    if !course.self_paced {
                        b.due = Some(start + 14 * DAY);
                    }
                    graded_seqs.push((seq, verticals));
                }
                None => b.graded = if self.rng.chance(0.5) { Some(false) } else { None },
            }
            if self.rng.chance(0.08) {
                let value = if self.rng.chance(0.5) { "past_due" } else { "never_but_include_grade" };
                b.show_correctness = Some(value.to_string());
            }
        }
        self.special_cases(course, &graded_seqs, &mut counter, all);
    }

    /// Subsection plan: each subsection's format (None for an ungraded one). Counts differ
    /// from min_count on purpose: some courses have fewer subsections than the policy
    /// expects, some have more.
    fn subsection_plan(&mut self, policy: &Policy) -> Vec<Option<&'static str>> {
        let mut plan: Vec<Option<&'static str>> = vec![None];
        let mut exams = Vec::new();
        let mut weekly: Vec<Vec<&'static str>> = Vec::new();
        for g in &policy.graders {
            if g.min_count == 1 && g.kind.contains("Exam") {
                exams.push(g.kind);
                continue;
            }
            let delta = *self.rng.pick(&[-2i64, -1, 0, 0, 1, 2]);
            let count = (i64::from(g.min_count) + delta).max(1) as usize;
            for week in 0..count {
                if weekly.len() <= week {
                    weekly.push(Vec::new());
                }
                weekly[week].push(g.kind);
            }
        }
        let half = weekly.len() / 2;
        for (week, kinds) in weekly.iter().enumerate() {
            if week == half {
                if let Some(pos) = exams.iter().position(|k| k.starts_with("Midterm")) {
                    plan.push(Some(exams.remove(pos)));
                }
            }
            plan.extend(kinds.iter().map(|k| Some(*k)));
        }
        if self.rng.chance(0.5) {
            plan.insert(plan.len() / 2, None);
        }
        plan.extend(exams.into_iter().map(Some));
        plan
    }

    /// Problems per subsection of `plan`: at least one per graded subsection, exams weigh
    /// more.
    fn problem_counts(&mut self, plan: &[Option<&'static str>], problems: usize) -> Vec<usize> {
        let graded_slots: Vec<usize> = (0..plan.len()).filter(|&i| plan[i].is_some()).collect();
        let mut counts = vec![0usize; plan.len()];
        for &i in &graded_slots {
            counts[i] = 1;
        }
        let mut left = problems.saturating_sub(graded_slots.len());
        while left > 0 {
            let i = graded_slots[self.rng.below(graded_slots.len())];
            let extra = if plan[i].is_some_and(|k| k.contains("Exam")) { 3 } else { 1 };
            let n = extra.min(left);
            counts[i] += n;
            left -= n;
        }
        counts[0] = usize::from(self.rng.chance(0.5));
        counts
    }

    /// Special cases, on distinct graded subsections (with their verticals) where there are
    /// enough of them: unreleased, staff-only, a DAG-shared problem, a split test, a
    /// cohort-restricted vertical. `counter` numbers the new problems.
    fn special_cases(
        &mut self,
        course: &Course,
        graded_seqs: &[(usize, Vec<usize>)],
        counter: &mut usize,
        all: bool,
    ) {
        let n = graded_seqs.len();
        if n >= 2 && (all || self.rng.chance(0.5)) {
            // Unreleased: starts after "now".
            let (seq, _) = graded_seqs[n - 2];
            self.blocks[seq].start = Some(NOW + (self.rng.range(30, 200) as i64) * DAY);
        }
        if n >= 3 && (all || self.rng.chance(0.4)) {
            let (seq, _) = graded_seqs[n / 2];
            self.blocks[seq].visible_to_staff_only = Some(true);
        }
        if n >= 2 {
            // DAG: a problem of the first graded subsection also listed in the second one.
            let first_problem = graded_seqs[0]
                .1
                .iter()
                .flat_map(|&v| self.blocks[v].children.iter().copied())
                .find(|&c| self.blocks[c].block_type == "problem");
            if let Some(p) = first_problem {
                let target = graded_seqs[1].1[0];
                self.blocks[target].children.push(p);
            }
        }
        if let (Some(pid), Some((_, verticals))) = (course.experiment_partition(), graded_seqs.first()) {
            let host = verticals[0];
            let split = self.add("split_test", Some("Experiment".into()));
            self.blocks[host].children.push(split);
            for group in 0..2 {
                let vert = self.add("vertical", Some(format!("Variant {group}")));
                self.blocks[vert].restrict(pid, vec![group]);
                *counter += 1;
                let p = self.problem(*counter, false);
                self.blocks[vert].children.push(p);
                self.blocks[split].children.push(vert);
            }
        }
        if course.cohorted && n >= 1 {
            let (_, verticals) = &graded_seqs[n - 1];
            let vert = verticals[verticals.len() - 1];
            let group = 1 + self.rng.below(2) as i64;
            self.blocks[vert].restrict(CONTENT_PARTITION, vec![group]);
        }
    }

    /// Mutate the previous version's blocks: new weights and max scores on a few problems,
    /// sometimes a new graded subsection, sometimes new cutoffs.
    fn next_version(&mut self, policy: &Policy, course: &Course) -> Policy {
        // Library problems are left alone (they came from their own stream).
        let in_library = library_children(&self.blocks);
        let scored: Vec<usize> = (0..self.blocks.len())
            .filter(|&i| self.blocks[i].block_type == "problem" && !in_library.contains(&i))
            .collect();
        if scored.is_empty() {
            return policy.clone();
        }
        let mut touched = Vec::new();
        for _ in 0..1 + self.rng.below(2) {
            let b = scored[self.rng.below(scored.len())];
            self.blocks[b].weight = Some(*self.rng.pick(WEIGHTS));
            touched.push(b);
        }
        let b = scored[self.rng.below(scored.len())];
        self.blocks[b].max_score = Some(self.rng.range(1, 8) as f64);
        touched.push(b);
        if self.rng.chance(0.5) {
            if let Some(kind) = policy.graders.first().map(|g| g.kind) {
                let chapters = self.blocks[0].children.clone();
                let chapter = chapters[chapters.len() - 1];
                let mut counter = scored.len() + 100;
                let n = 1 + self.rng.below(2);
                let (seq, _) = self.subsection(format!("{kind} extra"), n, &mut counter, false);
                let b = &mut self.blocks[seq];
                b.graded = Some(true);
                b.format = Some(kind.to_string());
                b.start = Some(course.start);
                self.blocks[chapter].children.push(seq);
                touched.push(seq);
            }
        }
        self.mark_edited(&touched);
        let mut policy = policy.clone();
        if self.rng.chance(0.2) {
            for (_, cutoff) in &mut policy.cutoffs {
                *cutoff = ((*cutoff - 0.05) * 100.0).round() / 100.0;
            }
        }
        policy
    }

    /// Set `subtree_edited_on` on the touched blocks and all their ancestors.
    fn mark_edited(&mut self, touched: &[usize]) {
        let mut parents: Vec<Vec<usize>> = vec![Vec::new(); self.blocks.len()];
        for (i, b) in self.blocks.iter().enumerate() {
            for &c in &b.children {
                parents[c].push(i);
            }
        }
        let mut stack = touched.to_vec();
        let mut seen = HashSet::new();
        while let Some(b) = stack.pop() {
            if seen.insert(b) {
                self.blocks[b].subtree_edited_on = Some(self.published_at);
                stack.extend(parents[b].iter().copied());
            }
        }
    }
}

/// The children of the library blocks.
fn library_children(blocks: &[Block]) -> HashSet<usize> {
    blocks
        .iter()
        .filter(|b| LIBRARY_TYPES.contains(&b.block_type.as_str()))
        .flat_map(|b| b.children.iter().copied())
        .collect()
}

/// A randomized library block (`library_content`, sometimes `itembank`) of 3 to 7 problems
/// showing `max_count` of them (sometimes -1: all), in a vertical of a graded subsection of
/// the first version. Drawn from the library stream only.
fn add_library(blocks: &mut Vec<Block>, key_prefix: &str, rng: &mut Rng, published_at: i64) {
    let hosts: Vec<usize> = (0..blocks.len())
        .filter(|&i| blocks[i].block_type == "sequential" && blocks[i].graded == Some(true))
        .filter_map(|i| blocks[i].children.first().copied())
        .collect();
    if hosts.is_empty() {
        return;
    }
    let host = hosts[rng.below(hosts.len())];
    let block = |block_type: &str, name: String, rng: &mut Rng| {
        let key = format!("{key_prefix}+type@{block_type}+block@{}", rng.hex(32));
        Block::new(block_type, key, Some(name), published_at)
    };
    let kind = if rng.chance(0.3) { "itembank" } else { "library_content" };
    let mut library = block(kind, "Randomized Content".into(), rng);
    let n = 3 + rng.below(5);
    library.max_count = Some(if rng.chance(0.15) { -1 } else { 1 + rng.below(n - 1) as i64 });
    for k in 0..n {
        let mut p = block("problem", format!("Library Problem {}", k + 1), rng);
        p.max_score = Some(rng.range(1, 6) as f64);
        if rng.chance(0.2) {
            p.weight = Some(*rng.pick(WEIGHTS));
        }
        library.children.push(blocks.len());
        blocks.push(p);
    }
    blocks.push(library);
    let at = blocks.len() - 1;
    blocks[host].children.push(at);
}

/// A library block of a version and its children a learner may be assigned.
#[derive(Debug, Clone)]
pub struct Library {
    pub block: usize,
    pub max_count: Option<i64>,
    /// Partition/group requirements from the block's ancestors.
    pub requires: Vec<(i64, Vec<i64>)>,
}

impl Version {
    /// The library blocks reachable from the root, each once, with their group requirements.
    pub fn libraries(&self) -> Vec<Library> {
        let mut out = Vec::new();
        self.walk(|b, requires| {
            let block = &self.blocks[b];
            if LIBRARY_TYPES.contains(&block.block_type.as_str()) {
                out.push(Library { block: b, max_count: block.max_count, requires: requires.to_vec() });
            }
        });
        out
    }

    /// Scorable blocks reachable from the root, each once, with their group requirements;
    /// not those under a library block (see [`Version::libraries`]).
    pub fn problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        self.walk(|b, requires| {
            if self.blocks[b].has_score {
                out.push(Problem { block: b, requires: requires.to_vec() });
            }
        });
        out
    }

    /// Every block reachable from the root but under library blocks, each once, in DFS
    /// order, with its group requirements.
    fn walk(&self, mut visit: impl FnMut(usize, &[(i64, Vec<i64>)])) {
        let mut seen = HashSet::new();
        let mut stack = vec![(self.root, Vec::<(i64, Vec<i64>)>::new())];
        while let Some((b, mut requires)) = stack.pop() {
            if !seen.insert(b) {
                continue;
            }
            let block = &self.blocks[b];
            requires.extend(block.requires.iter().cloned());
            visit(b, &requires);
            if LIBRARY_TYPES.contains(&block.block_type.as_str()) {
                continue;
            }
            for &c in block.children.iter().rev() {
                stack.push((c, requires.clone()));
            }
        }
    }
}
