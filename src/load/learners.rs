//! The enrolled learners of a course and their rows, one function per input table.
//!
//! Rows are matched to learners by user id and to blocks of the graded version by usage
//! key; a row for a learner not enrolled or a block outside the version is counted as
//! ignored (persisted grades are not: the diff reports them).

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Result;
use arrow::array::RecordBatch;

use super::finite::{self, Sources};
use super::learner::{Learner, PersistedRow, VisibleBlocks};
use super::{
    bad_score, check_score, dup, warn, Globals, Warning, LIBRARY_SELECTION_CHANGED, LIBRARY_WITHOUT_SELECTION,
};
use crate::fxhash::FxHashMap;
use crate::grade::compat::Compat;
use crate::grade::hash::parse_visible_blocks;
use crate::grade::scores::{CsmScore, SubmissionScore};
use crate::grade::subsection::{PersistedValues, SubsectionGrade};
use crate::model::learner::{Certificate, LearnerContext};
use crate::model::library::{SelectionSource, StoredSelection};
use crate::model::structure::CourseStructure;
use crate::read::batch::Columns;

/// The learners of one course as their tables are loaded.
pub(super) struct Loader<'a> {
    course_id: &'a str,
    structure: &'a CourseStructure,
    globals: &'a Globals,
    compat: &'a Compat,
    sources: Sources,
    /// In user id order.
    learners: Vec<Learner>,
    /// User id -> index in `learners`.
    at: FxHashMap<i64, usize>,
    ignored: BTreeMap<String, usize>,
    warnings: BTreeMap<String, Warning>,
    /// Persisted rows' visible-blocks hashes and versions, interned: learners share a few
    /// hashes per subsection and a few versions.
    hashes: FxHashMap<String, Arc<str>>,
    versions: FxHashMap<String, Arc<str>>,
}

/// One shared copy of each distinct string.
fn intern(seen: &mut FxHashMap<String, Arc<str>>, s: &str) -> Arc<str> {
    match seen.get(s) {
        Some(s) => s.clone(),
        None => {
            let new: Arc<str> = Arc::from(s);
            seen.insert(s.to_string(), new.clone());
            new
        }
    }
}

fn ignore(ignored: &mut BTreeMap<String, usize>, table: &str) {
    *ignored.entry(table.to_string()).or_default() += 1;
}

impl<'a> Loader<'a> {
    pub(super) fn new(
        course_id: &'a str,
        structure: &'a CourseStructure,
        globals: &'a Globals,
        compat: &'a Compat,
        sources: Sources,
        warnings: BTreeMap<String, Warning>,
    ) -> Self {
        Loader {
            course_id,
            structure,
            globals,
            compat,
            sources,
            learners: Vec::new(),
            at: FxHashMap::default(),
            ignored: BTreeMap::new(),
            warnings,
            hashes: FxHashMap::default(),
            versions: FxHashMap::default(),
        }
    }

    /// The learners, ignored row counts, warnings and row sources.
    pub(super) fn finish(
        self,
    ) -> (Vec<Learner>, BTreeMap<String, usize>, BTreeMap<String, Warning>, Sources) {
        (self.learners, self.ignored, self.warnings, self.sources)
    }

    /// `student_courseenrollment`: one learner per row, in user id order; a user id twice,
    /// or a user with two `auth_user` rows, stops the course.
    pub(super) fn enrollments(&mut self, batches: &[RecordBatch]) -> Result<()> {
        for batch in batches {
            let c = Columns::new("enrollments", batch);
            let (uid, mode, active) = (c.i64_at("user_id")?, c.str_at("mode")?, c.bool_at("is_active")?);
            for i in 0..c.len() {
                self.learners.push(Learner {
                    user_id: uid(i).unwrap_or_default(),
                    ctx: LearnerContext {
                        mode: mode(i).to_string(),
                        is_active: active(i).unwrap_or(false),
                        ..LearnerContext::default()
                    },
                    ..Learner::default()
                });
            }
        }
        let learners = &mut self.learners;
        learners.sort_by_key(|l| l.user_id);
        if let Some(w) = learners.windows(2).find(|w| w[0].user_id == w[1].user_id) {
            return Err(dup(self.course_id, "enrollments", format!("user_id {}", w[0].user_id)));
        }
        let duplicates = &self.globals.duplicate_users;
        if !duplicates.is_empty() {
            if let Some((uid, file)) = learners.iter().find_map(|l| duplicates.get_key_value(&l.user_id)) {
                return Err(dup(self.course_id, "users", format!("id {uid} (the second in file {file})")));
            }
        }
        self.at = learners.iter().enumerate().map(|(i, l)| (l.user_id, i)).collect();
        Ok(())
    }

    /// `courseware_studentmodule`: a learner's score per problem.
    pub(super) fn studentmodule(&mut self, batches: &[RecordBatch]) -> Result<()> {
        let (course_id, structure) = (self.course_id, self.structure);
        for batch in batches {
            let c = Columns::new("studentmodule", batch);
            let file = self.sources.index(c.source());
            let (uid, keys) = (c.i64_at("student_id")?, c.keyed_str_at("module_state_key")?);
            let (grade, max, created) = (c.f64_at("grade")?, c.f64_at("max_grade")?, c.ts_at("created")?);
            // Usage keys are looked up once per distinct value of a dictionary-encoded column.
            let block_of = keys.map(|k| structure.index.get(k).copied());
            let key = |i: usize| keys.value(i);
            for i in 0..c.len() {
                let (Some(&l), Some(b)) = (self.at.get(&uid(i).unwrap_or_default()), block_of(i)) else {
                    ignore(&mut self.ignored, "studentmodule");
                    continue;
                };
                let learners = &mut self.learners;
                let key_of = || format!("student_id {}, module_state_key {}", learners[l].user_id, key(i));
                for (column, v) in [("grade", grade(i)), ("max_grade", max(i))] {
                    if let Some(x) = check_score(v) {
                        return Err(bad_score(course_id, &c, &key_of(), column, x));
                    }
                }
                if let (Some(g), Some(m)) = (grade(i), max(i)) {
                    if g > m {
                        warn(&mut self.warnings, "earned_above_possible", || {
                            format!("studentmodule {}: {g} > {m}", key_of())
                        });
                    }
                }
                let score =
                    CsmScore { grade: grade(i), max_grade: max(i), created: created(i).unwrap_or_default() };
                learners[l].csm.push(b, file, score);
            }
        }
        for l in &mut self.learners {
            if let Err(b) = l.csm.seal() {
                let key = &structure.blocks[b as usize].row.usage_key;
                let what = format!("(student_id {}, module_state_key {key})", l.user_id);
                return Err(dup(course_id, "studentmodule", what));
            }
        }
        Ok(())
    }

    /// `submissions_score` (ORA and other submissions-API problems): the latest per item.
    pub(super) fn submissions(&mut self, batches: &[RecordBatch]) -> Result<()> {
        let (course_id, structure) = (self.course_id, self.structure);
        for batch in batches {
            let c = Columns::new("submissions", batch);
            let file = self.sources.index(c.source());
            let (id, uid, key) = (c.i64_at("id")?, c.i64_at("user_id")?, c.str_at("usage_key")?);
            let (earned, possible, at_) =
                (c.f64_at("points_earned")?, c.f64_at("points_possible")?, c.ts_at("created_at")?);
            for i in 0..c.len() {
                let (Some(&l), Some(&b)) =
                    (self.at.get(&uid(i).unwrap_or_default()), structure.index.get(key(i)))
                else {
                    ignore(&mut self.ignored, "submissions");
                    continue;
                };
                let learner = &mut self.learners[l];
                let user_id = learner.user_id;
                let key_of =
                    || format!("id {}, user_id {user_id}, usage_key {}", id(i).unwrap_or_default(), key(i));
                for (column, v) in [("points_earned", earned(i)), ("points_possible", possible(i))] {
                    // NaN and infinity cannot come from MySQL: the export is broken. A finite
                    // negative score is edX's to reject: it fails that learner (error CSVs).
                    if let Some(x) = check_score(v).filter(|x| !x.is_finite()) {
                        return Err(bad_score(course_id, &c, &key_of(), column, x));
                    }
                }
                if earned(i).unwrap_or_default() < 0.0 || possible(i).unwrap_or_default() < 0.0 {
                    let at = format!("submissions row ({}) in file {}", key_of(), c.source());
                    learner.invalid_submissions.push((b, id(i).unwrap_or_default(), at));
                }
                if let (Some(e), Some(p)) = (earned(i), possible(i)) {
                    if e > p {
                        warn(&mut self.warnings, "earned_above_possible", || {
                            format!("submissions {}: {e} > {p}", key_of())
                        });
                    }
                }
                let score = SubmissionScore {
                    points_earned: earned(i).unwrap_or_default(),
                    points_possible: possible(i).unwrap_or_default(),
                    created_at: at_(i).unwrap_or_default(),
                };
                let row_id = id(i).unwrap_or_default();
                // edx-submissions returns the latest score of each item.
                let slot = learner.submissions.entry(b).or_insert((score, row_id, file));
                if (score.created_at, row_id) > (slot.0.created_at, slot.1) {
                    *slot = (score, row_id, file);
                }
            }
        }
        Ok(())
    }

    /// `grades_persistentsubsectiongrade`: learners' rows by subsection of the graded
    /// version, with their overrides.
    pub(super) fn subsection_grades(&mut self, batches: &[RecordBatch]) -> Result<()> {
        let (course_id, structure) = (self.course_id, self.structure);
        for batch in batches {
            let c = Columns::new("persistent_subsection_grades", batch);
            let file = self.sources.index(c.source());
            let (id, uid, keys) = (c.i64_at("id")?, c.i64_at("user_id")?, c.keyed_str_at("usage_key")?);
            let block_of = keys.map(|k| structure.index.get(k).copied());
            let key = |i: usize| keys.value(i);
            let (ea, pa, eg, pg) = (
                c.f64_at("earned_all")?,
                c.f64_at("possible_all")?,
                c.f64_at("earned_graded")?,
                c.f64_at("possible_graded")?,
            );
            let first = c.ts_at("first_attempted")?;
            let hash = c.keyed_str_at("visible_blocks_hash")?.map(|h| intern(&mut self.hashes, h));
            let version = c.keyed_str_at("course_version")?.map(|v| intern(&mut self.versions, v));
            for i in 0..c.len() {
                let (Some(&l), Some(b)) = (self.at.get(&uid(i).unwrap_or_default()), block_of(i)) else {
                    continue; // orphaned or not enrolled: the diff reports it
                };
                let learner = &mut self.learners[l];
                let row_key = || {
                    format!(
                        "id {}, user_id {}, usage_key {}",
                        id(i).unwrap_or_default(),
                        learner.user_id,
                        key(i)
                    )
                };
                for (column, v) in [
                    ("earned_all", ea(i)),
                    ("possible_all", pa(i)),
                    ("earned_graded", eg(i)),
                    ("possible_graded", pg(i)),
                ] {
                    if let Some(x) = check_score(v) {
                        return Err(bad_score(course_id, &c, &row_key(), column, x));
                    }
                }
                let values = PersistedValues {
                    earned_all: ea(i).unwrap_or_default(),
                    possible_all: pa(i).unwrap_or_default(),
                    earned_graded: eg(i).unwrap_or_default(),
                    possible_graded: pg(i).unwrap_or_default(),
                    first_attempted: first(i),
                };
                let ov = self.globals.overrides.get(&id(i).unwrap_or_default()).map(|o| Box::new(*o));
                // A finite row whose percent is not (earned far above a tiny possible).
                let read = SubsectionGrade::read(&values, ov.as_deref());
                if !read.percent_graded(self.compat).is_finite() {
                    return Err(finite::persisted_percent(course_id, &c, &row_key(), &read, ov.is_some()));
                }
                let row = PersistedRow { values, ov, hash: hash(i), version: version(i) };
                learner.persisted.push(b, file, row);
            }
        }
        for l in &mut self.learners {
            if let Err(b) = l.persisted.seal() {
                let key = &structure.blocks[b as usize].row.usage_key;
                let what = format!("(user_id {}, usage_key {key})", l.user_id);
                return Err(dup(course_id, "persistent_subsection_grades", what));
            }
        }
        Ok(())
    }

    /// `grades_persistentcoursegrade`: one row per learner.
    pub(super) fn course_grades(&mut self, batches: &[RecordBatch]) -> Result<()> {
        let course_id = self.course_id;
        for batch in batches {
            let c = Columns::new("persistent_course_grades", batch);
            let (uid, pct, letter) =
                (c.i64_at("user_id")?, c.f64_at("percent_grade")?, c.str_at("letter_grade")?);
            let passed_at = c.ts_at("passed_timestamp")?;
            for i in 0..c.len() {
                let Some(&l) = self.at.get(&uid(i).unwrap_or_default()) else { continue };
                let learner = &mut self.learners[l];
                if let Some(x) = check_score(pct(i)) {
                    let key = format!("user_id {}", learner.user_id);
                    return Err(bad_score(course_id, &c, &key, "percent_grade", x));
                }
                let row = (pct(i).unwrap_or_default(), letter(i).to_string(), passed_at(i));
                if learner.course_row.replace(row).is_some() {
                    let key = format!("user_id {}", learner.user_id);
                    return Err(dup(course_id, "persistent_course_grades", key));
                }
            }
        }
        Ok(())
    }

    /// `grades_visibleblocks`: the rows persisted subsection rows reference, parsed once per
    /// hash (call after [`Self::subsection_grades`]).
    pub(super) fn visible_blocks(&mut self, batches: &[RecordBatch]) -> Result<VisibleBlocks> {
        let mut visible = VisibleBlocks::default();
        for batch in batches {
            let c = Columns::new("visible_blocks", batch);
            let (hashed, json) = (c.str_at("hashed")?, c.str_at("blocks_json")?);
            for i in 0..c.len() {
                let h = hashed(i);
                if !visible.known.contains(h) {
                    visible.known.insert(h.to_string());
                }
                if !self.hashes.contains_key(h) || visible.parsed.contains_key(h) {
                    continue;
                }
                let records = parse_visible_blocks(json(i)).map_err(|e| {
                    anyhow::anyhow!("{}: visible_blocks row '{h}': blocks_json: {e}", self.course_id)
                })?;
                visible.parsed.insert(h.to_string(), records);
            }
        }
        Ok(visible)
    }

    /// `course_groups_cohortmembership`: the cohort and its linked content group, only in a
    /// cohorted course: edX's `get_cohort` returns no cohort in a course that is not (cohorts.py:
    /// "users shouldn't be in a cohort in non-cohorted courses, but settings can change after
    /// course starts"), so its memberships are ignored (and counted).
    pub(super) fn cohort_memberships(&mut self, batches: &[RecordBatch], cohorted: bool) -> Result<()> {
        if !cohorted {
            for _ in 0..super::rows(batches) {
                ignore(&mut self.ignored, "cohort_memberships");
            }
            return Ok(());
        }
        for batch in batches {
            let c = Columns::new("cohort_memberships", batch);
            let (uid, name) = (c.i64_at("user_id")?, c.str_at("cohort_name")?);
            let (pid, gid) = (c.i64_at("partition_id")?, c.i64_at("group_id")?);
            for i in 0..c.len() {
                let Some(&l) = self.at.get(&uid(i).unwrap_or_default()) else { continue };
                self.learners[l].cohort_name = Some(name(i).to_string());
                self.learners[l].ctx.cohort_group = pid(i).zip(gid(i));
            }
        }
        Ok(())
    }

    /// `user_api_usercoursetag`: stored group assignments (the last per partition wins).
    pub(super) fn partition_groups(&mut self, batches: &[RecordBatch]) -> Result<()> {
        for batch in batches {
            let c = Columns::new("partition_groups", batch);
            let (uid, pid, gid) = (c.i64_at("user_id")?, c.i64_at("partition_id")?, c.i64_at("group_id")?);
            for i in 0..c.len() {
                let Some(&l) = self.at.get(&uid(i).unwrap_or_default()) else { continue };
                let (p, g) = (pid(i).unwrap_or_default(), gid(i).unwrap_or_default());
                let groups = &mut self.learners[l].ctx.partition_groups;
                match groups.iter_mut().find(|(x, _)| *x == p) {
                    Some(slot) => slot.1 = g,
                    None => groups.push((p, g)),
                }
            }
        }
        Ok(())
    }

    /// `library_selections` (the `selected` state of `library_content` / `itembank` rows of
    /// `courseware_studentmodule`): a learner's children of a randomized library block. Rows
    /// for a block that is no item bank block with children in the graded version are
    /// ignored; two rows for one (learner, block) stop the course, as studentmodule holds one.
    pub(super) fn library_selections(&mut self, batches: &[RecordBatch]) -> Result<()> {
        let (course_id, structure) = (self.course_id, self.structure);
        for batch in batches {
            let c = Columns::new("library_selections", batch);
            let (uid, key, selected) =
                (c.i64_at("user_id")?, c.str_at("usage_key")?, c.str_list_at("selected")?);
            for i in 0..c.len() {
                let block = structure.index.get(key(i)).copied().filter(|b| structure.libraries.contains(b));
                let (Some(&l), Some(block)) = (self.at.get(&uid(i).unwrap_or_default()), block) else {
                    ignore(&mut self.ignored, "library_selections");
                    continue;
                };
                let learner = &mut self.learners[l];
                if learner.ctx.library_selections.iter().any(|s| s.block == block) {
                    let what = format!("(user_id {}, usage_key {})", learner.user_id, key(i));
                    return Err(dup(course_id, "library_selections", what));
                }
                let keys = selected(i).unwrap_or_default();
                let selected = keys.iter().map(|k| structure.index.get(k).copied()).collect();
                learner.ctx.library_selections.push(StoredSelection { block, selected });
            }
        }
        // A selection edX would make or change at random: counted once per learner and kind.
        if !structure.libraries.is_empty() {
            for l in &self.learners {
                let (_, guessed) = structure.library_choice(&l.ctx.library_selections);
                for kind in [SelectionSource::Missing, SelectionSource::Changed] {
                    let Some(&(block, _)) = guessed.iter().find(|(_, s)| *s == kind) else { continue };
                    let name = match kind {
                        SelectionSource::Missing => LIBRARY_WITHOUT_SELECTION,
                        _ => LIBRARY_SELECTION_CHANGED,
                    };
                    warn(&mut self.warnings, name, || {
                        let key = &structure.blocks[block as usize].row.usage_key;
                        format!("user_id {}, usage_key {key}", l.user_id)
                    });
                }
            }
        }
        Ok(())
    }

    /// `teams_courseteammembership`: the team's name (the last one wins, as in edX).
    pub(super) fn team_memberships(&mut self, batches: &[RecordBatch]) -> Result<()> {
        for batch in batches {
            let c = Columns::new("team_memberships", batch);
            let (uid, name) = (c.i64_at("user_id")?, c.str_at("team_name")?);
            for i in 0..c.len() {
                if let Some(&l) = self.at.get(&uid(i).unwrap_or_default()) {
                    self.learners[l].team_name = Some(name(i).to_string());
                }
            }
        }
        Ok(())
    }

    /// `certificates_certificateallowlist`.
    pub(super) fn certificate_allowlist(&mut self, batches: &[RecordBatch]) -> Result<()> {
        for batch in batches {
            let c = Columns::new("certificate_allowlist", batch);
            let (uid, allow) = (c.i64_at("user_id")?, c.bool_at("allowlist")?);
            for i in 0..c.len() {
                if let Some(&l) = self.at.get(&uid(i).unwrap_or_default()) {
                    self.learners[l].allowlisted |= allow(i).unwrap_or(false);
                }
            }
        }
        Ok(())
    }

    /// `certificates_generatedcertificate`.
    pub(super) fn generated_certificates(&mut self, batches: &[RecordBatch]) -> Result<()> {
        for batch in batches {
            let c = Columns::new("generated_certificates", batch);
            let (uid, status, mode) = (c.i64_at("user_id")?, c.str_at("status")?, c.str_at("mode")?);
            for i in 0..c.len() {
                if let Some(&l) = self.at.get(&uid(i).unwrap_or_default()) {
                    let cert = Certificate { status: status(i).to_string(), mode: mode(i).to_string() };
                    self.learners[l].certificate = Some(cert);
                }
            }
        }
        Ok(())
    }
}
