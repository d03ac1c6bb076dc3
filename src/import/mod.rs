//! Importers: course data from other formats into the data contract's input tables, so their
//! output is an input root of `regrade run`.
//!
//! * [`olx`]: a course export (OLX, as Studio exports it) into `course_blocks` and
//!   `course_policies`.

pub mod mysql;
pub mod olx;
