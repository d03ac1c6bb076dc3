//! Synthetic learners of one course: enrollments, problem scores (studentmodule), ORA scores
//! (submissions), cohorts, experiment groups, teams and certificates; and the global `users` and
//! `id_verifications` rows.
//!
//! Every learner draws from its own random stream (seed, course, user id), so a learner's rows
//! do not depend on how learners are chunked. No real personal data: usernames and emails are
//! synthetic (`learner123`, `learner123@example.invalid`).

use std::collections::HashMap;

use anyhow::Result;

use crate::grade::scores::{CsmScore, SubmissionScore};

use super::course::{
    Course, Library, Problem, Version, DAY, STREAM_LEARNER, STREAM_LIBRARY_LEARNER, STREAM_USER,
};
use super::rng::Rng;
use super::table::{TableBuilder, V};
use crate::model::structure::{ENROLLMENT_TRACK_GROUPS, ENROLLMENT_TRACK_PARTITION_ID};

/// What one learner did and is, for computing the grades edX would have persisted.
pub(crate) struct LearnerOutcome {
    pub user_id: i64,
    pub enrolled_at: i64,
    pub mode: &'static str,
    pub is_active: bool,
    /// (partition id, group id): the experiment group and the cohort's content group.
    pub groups: Vec<(i64, i64)>,
    /// The studentmodule row of each attempted problem, by block index of the latest version.
    pub csm: HashMap<usize, CsmScore>,
    /// The latest submissions score of each ORA block, by block index of the latest version.
    pub submissions: HashMap<usize, SubmissionScore>,
    /// Stored library selections: (library block, selected children in stored order), by
    /// block index of the latest version.
    pub library: Vec<(usize, Vec<usize>)>,
}

/// Builders of the per-course learner tables.
pub(crate) struct LearnerTables<'a> {
    pub studentmodule: &'a mut TableBuilder,
    pub enrollments: &'a mut TableBuilder,
    pub submissions: &'a mut TableBuilder,
    pub cohort_memberships: &'a mut TableBuilder,
    pub partition_groups: &'a mut TableBuilder,
    pub team_memberships: &'a mut TableBuilder,
    pub certificate_allowlist: &'a mut TableBuilder,
    pub generated_certificates: &'a mut TableBuilder,
    pub library_selections: &'a mut TableBuilder,
}

/// Per-course state shared by its learners.
pub(crate) struct CourseLearners<'a> {
    pub course: &'a Course,
    pub version: &'a Version,
    pub problems: Vec<Problem>,
    pub libraries: Vec<Library>,
    pub pool: u64,
    pub next_submission_id: i64,
}

impl<'a> CourseLearners<'a> {
    pub(crate) fn new(course: &'a Course, pool: u64) -> Self {
        let version = course.latest();
        Self {
            course,
            version,
            problems: version.problems(),
            libraries: version.libraries(),
            pool,
            // Ids unique across courses: the course index in the high bits.
            next_submission_id: ((course.index as i64) + 1) << 36,
        }
    }

    /// User id of learner `k` of the course.
    pub(crate) fn user_id(&self, k: usize) -> i64 {
        1 + ((self.course.first_user + k as u64) % self.pool.max(1)) as i64
    }

    /// Generate learner `k`'s rows.
    pub(crate) fn learner(
        &mut self,
        seed: u64,
        k: usize,
        out: &mut LearnerTables<'_>,
    ) -> Result<LearnerOutcome> {
        let course = self.course;
        let cid = course.id.as_str();
        let user_id = self.user_id(k);
        let mut rng = Rng::new(seed, &[STREAM_LEARNER, course.index as u64, user_id as u64]);

        let mode = if rng.chance(0.45) {
            "audit"
        } else if rng.chance(0.8) || course.modes.len() < 3 {
            "verified"
        } else {
            "honor"
        };
        let enrolled_at = course.start - (rng.range(0, 60) as i64) * DAY + rng.range(0, DAY as u64) as i64;
        let is_active = !rng.chance(0.03);
        out.enrollments.row(&[
            V::Int(user_id),
            V::Str(cid),
            V::Str(mode),
            V::Bool(is_active),
            V::Ts(enrolled_at),
        ])?;

        let groups = memberships(&mut rng, course, user_id, out)?;
        let seen = seen_groups(&groups, mode, is_active, &course.modes);
        let Attempted { engagement, skill, mut csm, submissions } =
            self.attempts(&mut rng, user_id, enrolled_at, &seen, out)?;
        let library = self.library(seed, user_id, enrolled_at, &seen, (engagement, skill), &mut csm, out)?;

        // Certificates.
        // Rare, but the course's first learner always has one, so small datasets have rows.
        if rng.chance(0.005) || k == 0 {
            out.certificate_allowlist.row(&[V::Int(user_id), V::Str(cid), V::Bool(rng.chance(0.9))])?;
        }
        let certificate = if mode != "audit" && rng.chance(0.5) {
            Some(if rng.chance(0.1) {
                "unavailable"
            } else if skill * engagement > 0.3 {
                "downloadable"
            } else {
                "notpassing"
            })
        } else if mode == "audit" && rng.chance(0.05) {
            Some(if skill > 0.5 { "audit_passing" } else { "audit_notpassing" })
        } else {
            None
        };
        if let Some(status) = certificate {
            out.generated_certificates.row(&[V::Int(user_id), V::Str(cid), V::Str(status), V::Str(mode)])?;
        }
        Ok(LearnerOutcome { user_id, enrolled_at, mode, is_active, groups, csm, submissions, library })
    }

    /// A learner's selections of the library blocks (most learners have one: edX stores it
    /// on first access; the others never opened the block) and their attempts of the
    /// selected problems they can see. From the learner's library stream, so the learner's
    /// other rows are as without library content.
    #[allow(clippy::too_many_arguments)]
    fn library(
        &self,
        seed: u64,
        user_id: i64,
        enrolled_at: i64,
        groups: &[(i64, i64)],
        (engagement, skill): (f64, f64),
        csm: &mut HashMap<usize, CsmScore>,
        out: &mut LearnerTables<'_>,
    ) -> Result<Vec<(usize, Vec<usize>)>> {
        let (course, version) = (self.course, self.version);
        let cid = course.id.as_str();
        let mut rng = Rng::new(seed, &[STREAM_LIBRARY_LEARNER, course.index as u64, user_id as u64]);
        let mut selections = Vec::new();
        for library in &self.libraries {
            if rng.chance(0.15) {
                continue; // never opened: no stored selection
            }
            let mut pool = version.blocks[library.block].children.clone();
            let count = match library.max_count {
                Some(m) if m >= 0 => (m as usize).min(pool.len()),
                _ => pool.len(),
            };
            // A random draw in random order, as edX's make_selection stores it.
            let mut selected = Vec::with_capacity(count);
            for _ in 0..count {
                selected.push(pool.remove(rng.below(pool.len())));
            }
            let keys: Vec<String> = selected.iter().map(|&b| version.blocks[b].usage_key.clone()).collect();
            let lib_key = version.blocks[library.block].usage_key.as_str();
            out.library_selections.row(&[V::Int(user_id), V::Str(cid), V::Str(lib_key), V::List(&keys)])?;
            let visible = library
                .requires
                .iter()
                .all(|(pid, allowed)| groups.iter().any(|(p, g)| p == pid && allowed.contains(g)));
            for &b in selected.iter().filter(|_| visible) {
                if !rng.chance(engagement) {
                    continue;
                }
                let block = &version.blocks[b];
                let max = block.max_score.unwrap_or(1.0);
                let created = enrolled_at.max(course.start) + rng.range(DAY as u64, 120 * DAY as u64) as i64;
                let modified = created + rng.range(0, 10 * DAY as u64) as i64;
                let earned = if rng.chance(skill) { max } else { (rng.f64() * max).floor() };
                out.studentmodule.row(&[
                    V::Int(user_id),
                    V::Str(cid),
                    V::Str(&block.usage_key),
                    V::Str(&block.block_type),
                    V::Float(earned),
                    V::Float(max),
                    V::Ts(created),
                    V::Ts(modified),
                ])?;
                csm.insert(b, CsmScore { grade: Some(earned), max_grade: Some(max), created });
            }
            selections.push((library.block, selected));
        }
        Ok(selections)
    }

    /// A learner's attempts (studentmodule and ORA submission rows): engagement decides how
    /// many of the problems they can see, skill how well.
    fn attempts(
        &mut self,
        rng: &mut Rng,
        user_id: i64,
        enrolled_at: i64,
        groups: &[(i64, i64)],
        out: &mut LearnerTables<'_>,
    ) -> Result<Attempted> {
        let course = self.course;
        let version = self.version;
        let cid = course.id.as_str();
        let engagement = if rng.chance(0.1) { 0.0 } else { rng.f64().powf(0.6) };
        let skill = rng.f64();
        let mut csm = HashMap::new();
        let mut submissions = HashMap::new();
        for problem in &self.problems {
            let visible = problem
                .requires
                .iter()
                .all(|(pid, allowed)| groups.iter().any(|(p, g)| p == pid && allowed.contains(g)));
            if !visible || !rng.chance(engagement) {
                continue;
            }
            let block = &version.blocks[problem.block];
            let max = block.max_score.unwrap_or(1.0);
            let created = enrolled_at.max(course.start) + rng.range(DAY as u64, 120 * DAY as u64) as i64;
            let modified = created + rng.range(0, 10 * DAY as u64) as i64;
            let earned = if rng.chance(skill) { max } else { (rng.f64() * max).floor() };
            if block.block_type == "openassessment" {
                let latest = ora_scores(
                    rng,
                    &mut self.next_submission_id,
                    cid,
                    user_id,
                    &block.usage_key,
                    earned,
                    max,
                    created,
                    out.submissions,
                )?;
                if let Some(latest) = latest {
                    submissions.insert(problem.block, latest);
                }
                continue;
            }
            // Viewed without answering: no grade; half of these rows carry the max_grade of
            // the problem as first shown, which differs from today's max score (a zero grade
            // takes its possible points from the content, a computed one from this row).
            let graded_null = rng.chance(0.03);
            let max = if graded_null && rng.chance(0.5) { max + 1.0 } else { max };
            out.studentmodule.row(&[
                V::Int(user_id),
                V::Str(cid),
                V::Str(&block.usage_key),
                V::Str(&block.block_type),
                if graded_null { V::Null } else { V::Float(earned) },
                V::Float(max),
                V::Ts(created),
                V::Ts(modified),
            ])?;
            let grade = (!graded_null).then_some(earned);
            csm.insert(problem.block, CsmScore { grade, max_grade: Some(max), created });
        }
        Ok(Attempted { engagement, skill, csm, submissions })
    }
}

/// What a learner's attempts left: the engagement and skill drawn for them (their
/// certificate depends on these) and their scores, by block index of the latest version.
struct Attempted {
    engagement: f64,
    skill: f64,
    csm: HashMap<usize, CsmScore>,
    submissions: HashMap<usize, SubmissionScore>,
}

/// The groups that decide what a learner sees: their `groups`, and their enrollment track
/// (partition 50) as edX derives it from an active enrollment's mode.
fn seen_groups(groups: &[(i64, i64)], mode: &str, is_active: bool, modes: &[String]) -> Vec<(i64, i64)> {
    let mut seen = groups.to_vec();
    let slug = if modes.iter().any(|m| m == mode) { mode } else { "audit" };
    let track = ENROLLMENT_TRACK_GROUPS.iter().find(|(s, _)| *s == slug).map(|(_, id)| *id);
    if let Some(g) = track.filter(|_| is_active) {
        seen.push((ENROLLMENT_TRACK_PARTITION_ID, g));
    }
    seen
}

/// Group memberships: a group of each experiment (most learners assigned) and a cohort
/// (linked to a content group, or the default cohort); and sometimes a team. Returns the
/// (partition id, group id) pairs.
fn memberships(
    rng: &mut Rng,
    course: &Course,
    user_id: i64,
    out: &mut LearnerTables<'_>,
) -> Result<Vec<(i64, i64)>> {
    let cid = course.id.as_str();
    let mut groups: Vec<(i64, i64)> = Vec::new();
    for (pid, ids) in course.experiments.iter().filter(|(_, ids)| !ids.is_empty()) {
        if rng.chance(0.92) {
            let g = ids[rng.below(ids.len())];
            groups.push((*pid, g));
            out.partition_groups.row(&[V::Int(user_id), V::Str(cid), V::Int(*pid), V::Int(g)])?;
        }
    }
    if course.cohorted && rng.chance(0.85) {
        let (pid, ids) = course.content_groups.as_ref().map_or((0, &[][..]), |(p, g)| (*p, &g[..]));
        let i = rng.below(ids.len() + 1);
        let link = ids.get(i).copied();
        let name = match link {
            Some(_) if i < 26 => format!("Cohort {}", char::from(b'A' + i as u8)),
            Some(_) => format!("Cohort {}", i + 1),
            None => "Default Group".to_string(),
        };
        if let Some(g) = link {
            groups.push((pid, g));
        }
        out.cohort_memberships.row(&[
            V::Int(user_id),
            V::Str(cid),
            V::Str(&name),
            V::opt_int(link.map(|_| pid)),
            V::opt_int(link),
        ])?;
    }
    if course.teams_enabled && rng.chance(0.3) {
        let team = format!("Team {}", 1 + rng.below(20));
        out.team_memberships.row(&[V::Int(user_id), V::Str(cid), V::Str(&team)])?;
    }
    Ok(groups)
}

/// 1-3 score rows for an ORA item; sometimes the latest is a staff reset (0 of 0). Ids come
/// from the course's counter, so they are unique and stable. Returns the latest score.
#[allow(clippy::too_many_arguments)]
fn ora_scores(
    rng: &mut Rng,
    next_id: &mut i64,
    course_id: &str,
    user_id: i64,
    usage_key: &str,
    earned: f64,
    max: f64,
    created: i64,
    submissions: &mut TableBuilder,
) -> Result<Option<SubmissionScore>> {
    let mut row = |points: f64, possible: f64, at: i64| {
        *next_id += 1;
        submissions.row(&[
            V::Int(*next_id),
            V::Int(user_id),
            V::Str(course_id),
            V::Str(usage_key),
            V::Float(points),
            V::Float(possible),
            V::Ts(at),
        ])
    };
    let n = 1 + rng.below(3);
    let mut at = created;
    let mut latest = None;
    for i in 0..n {
        let points = if i + 1 == n { earned } else { (earned - 1.0).max(0.0) };
        row(points, max, at)?;
        latest = Some(SubmissionScore { points_earned: points, points_possible: max, created_at: at });
        at += rng.range(1, 3 * DAY as u64) as i64;
    }
    if rng.chance(0.08) {
        row(0.0, 0.0, at)?;
        latest = Some(SubmissionScore { points_earned: 0.0, points_possible: 0.0, created_at: at });
    }
    Ok(latest)
}

/// `users` and `id_verifications` rows of one user of the pool.
pub fn user(
    seed: u64,
    user_id: i64,
    users: &mut TableBuilder,
    id_verifications: &mut TableBuilder,
) -> Result<()> {
    let mut rng = Rng::new(seed, &[STREAM_USER, user_id as u64]);
    let username = format!("learner{user_id}");
    let email = format!("learner{user_id}@example.invalid");
    users.row(&[V::Int(user_id), V::Str(&username), V::Str(&email)])?;
    if rng.chance(0.5) {
        let r = rng.f64();
        let status = if r < 0.7 {
            "approved"
        } else if r < 0.8 {
            "pending"
        } else if r < 0.88 {
            "must_retry"
        } else if r < 0.95 {
            "denied"
        } else {
            "expired"
        };
        id_verifications.row(&[V::Int(user_id), V::Str(status)])?;
    }
    Ok(())
}
