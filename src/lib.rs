//! regrade: recompute Open edX grades in bulk, bit for bit as edX computes them.
//!
//! The crate is laid out as the pipeline it runs; each module imports only the ones listed
//! after it here (the README's layout table has the same order), and the main types are met
//! in this order:
//!
//! * [`import`]: importers of course data in other formats: [`import::olx::import`] turns
//!   course exports (OLX) into the `course_blocks` and `course_policies` input tables.
//! * [`impact`]: `regrade report`, beside the pipeline: a finished run's outputs compared with
//!   the stored grades (and another run) as Polars lazy plans ([`impact::compute`]), written as
//!   `impact.parquet` ([`impact::table::Rows`]) and a self-contained page of hand-written SVG
//!   charts ([`impact::page::Page`]). Polars is used there only; nothing `run` calls reaches it.
//! * [`run`]: orchestration only. [`run::RunOptions`] (a job file and flags, resolved once)
//!   gives each stage its own settings ([`run::Settings`]); [`run::plan::plan`] returns a
//!   [`run::plan::Plan`] (every table's files, per course the version to grade and the tables
//!   to read); [`run::run`] executes it, course by course, and publishes the
//!   [`run::Manifest`]. A sharded run writes its plan out ([`run::shard::plan`] gives a
//!   [`run::shard::ShardPlan`]: the courses of each shard), [`run::run`] with a shard index runs
//!   one shard of it, and [`run::shard::finalize`] publishes the manifest once all are done.
//! * [`write`](mod@write): output tables (Hive-partitioned Parquet), the backfill's MySQL
//!   files; [`write::WrittenFile`] is a file as the manifest lists it.
//! * [`compare`]: the diffs of the rows a run writes against the persisted ones.
//! * [`report`]: edX's grade reports, cell by cell ([`report::CourseReport`]).
//! * [`load`]: one course's input rows into memory: the graded version
//!   ([`load::catalog`]) and its learners, one function per input table, plus the run-wide
//!   [`load::Globals`].
//! * [`grade`]: the pure edX math (no I/O): [`grade::learner::grade_learner`] grades one learner
//!   under [`grade::learner::Rules`] (a rescoring policy and what a missing row reads as) and a
//!   release profile ([`grade::compat::Compat`]), giving a [`grade::learner::LearnerGrade`]:
//!   subsection grades and a [`grade::course::CourseGrade`].
//! * [`model`]: one published version's block DAG, [`model::structure::CourseStructure`], and a
//!   learner's view of it ([`model::structure::CourseView`]).
//! * [`read`]: which files make a table ([`read::discover`]), the tables and columns each
//!   command reads ([`read::tables`]), Parquet checked against `schemas/` ([`schema`]), typed
//!   access to the batches ([`read::batch::Columns`]).
//! * [`store`]: object stores by URL ([`store::Location`]) and Hive partition names.
//! * [`py`]: Python's number, JSON and time formats, where edX's output depends on them.
//!
//! [`error`] says which errors exit with code 2 (usage, unreadable input).
//!
//! Grading one learner with the pure core, as `run` does for every enrolled learner:
//!
//! ```
//! use regrade::grade::compat::Compat;
//! use regrade::grade::graders::Scratch;
//! use regrade::grade::learner::{grade_learner, LearnerData, Rescore, ViewPlan};
//! use regrade::grade::policy::GradingPolicy;
//! use regrade::grade::scores::{CsmScore, SubmissionScore};
//! use regrade::grade::subsection::{Override, PersistedValues};
//! use regrade::model::structure::{BlockRow, CourseStructure};
//!
//! let block = |key: &str, kind: &str, children: &[&str]| BlockRow {
//!     usage_key: key.into(),
//!     block_type: kind.into(),
//!     children: Some(children.iter().map(|c| c.to_string()).collect()),
//!     ..BlockRow::default()
//! };
//! let rows = vec![
//!     BlockRow { start: Some(0), ..block("course", "course", &["ch"]) },
//!     block("ch", "chapter", &["hw1"]),
//!     BlockRow { graded: Some(true), format: Some("Homework".into()), ..block("hw1", "sequential", &["p1"]) },
//!     BlockRow { has_score: true, max_score: Some(2.0), ..block("p1", "problem", &[]) },
//! ];
//! let course = CourseStructure::build("course-v1:Org+C+1", "v1", rows, vec![], &[], None).unwrap();
//! let policy = GradingPolicy::parse(
//!     r#"{"GRADER": [{"type": "Homework", "min_count": 1, "drop_count": 0, "weight": 1.0}],
//!         "GRADE_CUTOFFS": {"Pass": 0.5}}"#,
//! )
//! .unwrap();
//!
//! /// One learner who scored 1 of 2 on p1 and has no persisted rows.
//! struct Learner(CsmScore);
//! impl LearnerData for Learner {
//!     fn submission(&self, _block: u32) -> Option<&SubmissionScore> { None }
//!     fn csm(&self, block: u32) -> Option<&CsmScore> { (block == 3).then_some(&self.0) }
//!     fn persisted(&self, _sub: u32) -> Option<(&PersistedValues, Option<&Override>)> { None }
//! }
//! let learner = Learner(CsmScore { grade: Some(1.0), max_grade: Some(2.0), created: 1 });
//!
//! let plan = ViewPlan::new(&course, &course.view(1_700_000_000_000_000, |_| None));
//! let grade = grade_learner(
//!     &course, &plan, &policy, &Compat::newest(), Rescore::Recompute, &learner, &mut Scratch::default(),
//! )
//! .unwrap();
//! assert_eq!((grade.course.percent, grade.course.letter_grade.as_deref()), (0.5, Some("Pass")));
//! assert!(grade.subsections[0].written, "a forced recompute writes every subsection");
//! ```

// Items not reachable from here are `pub(crate)`, not `pub`: the public surface is what the
// modules below export.
#![warn(unreachable_pub)]

// Orchestration, top down; each module imports only those below it.
pub mod generate;
pub mod impact;
pub mod import;
pub mod run;

pub mod error;
pub mod write;

pub mod compare;
pub mod report;

pub mod load;

pub mod grade;
pub mod model;

pub mod read;
pub mod schema;
pub mod store;

pub mod py;

// Crash and pause points of the end-to-end tests (`REGRADE_TEST_*`; never set in production).
pub(crate) mod hooks;

pub(crate) mod fxhash;
