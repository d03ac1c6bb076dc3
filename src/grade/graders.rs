//! The course graders (spec §5.3, §5.4) [`xmodule/graders.py`].
//!
//! A course grade is a [`WeightedGrader`] over [`AssignmentFormatGrader`]s, one per
//! assignment type of the grading policy. Each assignment grader averages the graded
//! percents of its subsections (padded with zero placeholders up to `min_count`), dropping
//! the lowest `drop_count`; the weighted grader sums `percent * weight`.
//!
//! The arithmetic is in [`total_with_drops`] and [`WeightedGrader::percent`], which allocate
//! nothing per learner beyond a reused buffer. The display strings (`section_breakdown`,
//! `grade_breakdown`) are built only on request by [`WeightedGrader::grade`].

use super::compat::Compat;
use super::learner::ScoreIndex;
use crate::py::fmt::{self as pyfmt, PyNum};

/// One configured assignment type (`AssignmentFormatGrader` plus its policy weight).
#[derive(Clone, Debug, PartialEq)]
pub struct AssignmentFormatGrader {
    /// `type`: the subsection `format` this grader collects.
    pub kind: String,
    /// `int(float(min_count))`.
    pub min_count: i64,
    pub drop_count: i64,
    pub category: String,
    pub section_type: String,
    pub short_label: String,
    pub show_only_average: bool,
    pub hide_average: bool,
    pub starting_index: i64,
    /// The policy's `weight`, as written (int or float).
    pub weight: PyNum,
}

/// One graded subsection as the grader sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SheetEntry<'a> {
    pub location: &'a str,
    pub display_name: &'a str,
    pub graded_earned: f64,
    pub graded_possible: f64,
    pub percent_graded: f64,
}

/// One entry of `section_breakdown`.
#[derive(Clone, Debug, PartialEq)]
pub struct SectionEntry {
    pub percent: PyNum,
    pub label: String,
    pub detail: String,
    pub category: String,
    pub prominent: bool,
    pub sequential_id: Option<String>,
    /// `mark.detail`, set on dropped entries.
    pub mark: Option<String>,
}

/// One entry of `grade_breakdown` (keyed by category; a repeated category overwrites).
#[derive(Clone, Debug, PartialEq)]
pub struct CategoryBreakdown {
    pub category: String,
    pub percent: PyNum,
    pub detail: String,
}

/// `AssignmentFormatGrader.grade()`'s result.
#[derive(Clone, Debug, PartialEq)]
pub struct AssignmentResult {
    pub percent: PyNum,
    pub section_breakdown: Vec<SectionEntry>,
}

/// `WeightedSubsectionsGrader.grade()`'s result.
#[derive(Clone, Debug, PartialEq)]
pub struct CourseGraderResult {
    pub percent: f64,
    pub section_breakdown: Vec<SectionEntry>,
    pub grade_breakdown: Vec<CategoryBreakdown>,
}

/// `total_with_drops(breakdown)`: sort indices by percent descending (stable), drop the
/// last `drop_count`, average the rest in index order starting from the *integer* 0.
///
/// Returns the total (an int 0 when every entry is dropped or there are none) and whether
/// each index was dropped (`dropped` is cleared and refilled).
pub fn total_with_drops(percents: &[f64], drop_count: i64, dropped: &mut Vec<bool>) -> PyNum {
    dropped.clear();
    dropped.resize(percents.len(), false);
    if drop_count > 0 {
        let mut order: Vec<usize> = (0..percents.len()).collect();
        // Python sorts by key -percent ascending; a stable sort keeps index order on ties.
        order
            .sort_by(|&a, &b| (-percents[a]).partial_cmp(&-percents[b]).unwrap_or(std::cmp::Ordering::Equal));
        let n_drop = (drop_count as usize).min(order.len());
        for &i in &order[order.len() - n_drop..] {
            dropped[i] = true;
        }
    }
    // Python ints: `len - drop_count` never overflows (a drop_count of -2**63 included).
    let divisor = percents.len() as i128 - i128::from(drop_count);
    if divisor <= 0 {
        // Nothing was summed (no entries, or every entry dropped): the int 0 survives.
        return PyNum::Int(0);
    }
    let mut total = 0.0f64;
    for (p, d) in percents.iter().zip(dropped.iter()) {
        if !d {
            total += *p;
        }
    }
    PyNum::Float(total / divisor as f64)
}

impl AssignmentFormatGrader {
    /// The number of breakdown entries for `n` matching subsections.
    pub(crate) fn entry_count(&self, n: usize) -> usize {
        (self.min_count.max(0) as usize).max(n)
    }

    /// The grader's percent for these subsection percents (course order). `buf` and
    /// `dropped` are scratch space reused across learners.
    pub fn percent(&self, percents: &[f64], buf: &mut Vec<f64>, dropped: &mut Vec<bool>) -> PyNum {
        buf.clear();
        buf.extend_from_slice(percents);
        buf.resize(self.entry_count(percents.len()), 0.0);
        total_with_drops(buf, self.drop_count, dropped)
    }

    fn label(&self, index: i128) -> String {
        format!("{} {:02}", self.short_label, index)
    }

    /// `AssignmentFormatGrader.grade(sheet)`, with every display string.
    pub fn grade(&self, sheet: &[SheetEntry<'_>], compat: &Compat) -> AssignmentResult {
        let decimals = compat.detail_percent_decimals;
        let n = self.entry_count(sheet.len());
        let mut entries = Vec::with_capacity(n + 1);
        let mut percents = Vec::with_capacity(n);
        for i in 0..n {
            // Python ints do not overflow: i128 holds any i64 index plus a position.
            let index = i as i128 + i128::from(self.starting_index);
            let (percent, detail, sequential_id) = match sheet.get(i) {
                Some(s) => (
                    s.percent_graded,
                    format!(
                        "{} {} - {} - {} ({}/{})",
                        self.section_type,
                        index,
                        s.display_name,
                        pyfmt::percent(PyNum::Float(s.percent_graded), decimals),
                        pyfmt::general3(s.graded_earned),
                        pyfmt::general3(s.graded_possible),
                    ),
                    Some(s.location.to_string()),
                ),
                None => (0.0, format!("{} {} Unreleased - 0% (?/?)", self.section_type, index), None),
            };
            percents.push(percent);
            entries.push(SectionEntry {
                percent: PyNum::Float(percent),
                label: self.label(index),
                detail,
                category: self.category.clone(),
                prominent: false,
                sequential_id,
                mark: None,
            });
        }
        let mut dropped = Vec::new();
        let total = total_with_drops(&percents, self.drop_count, &mut dropped);
        for (entry, d) in entries.iter_mut().zip(&dropped) {
            if *d {
                entry.mark =
                    Some(format!("The lowest {} {} scores are dropped.", self.drop_count, self.section_type));
            }
        }
        let total_pct = pyfmt::percent(total, decimals);
        if entries.len() == 1 {
            entries = vec![SectionEntry {
                percent: total,
                label: self.short_label.clone(),
                detail: format!("{} = {}", self.section_type, total_pct),
                category: self.category.clone(),
                prominent: true,
                sequential_id: sheet.first().map(|s| s.location.to_string()),
                mark: None,
            }];
        } else {
            if self.show_only_average {
                entries.clear();
            }
            if !self.hide_average {
                entries.push(SectionEntry {
                    percent: total,
                    label: format!("{} Avg", self.short_label),
                    detail: format!("{} Average = {}", self.section_type, total_pct),
                    category: self.category.clone(),
                    prominent: true,
                    sequential_id: None,
                    mark: None,
                });
            }
        }
        AssignmentResult { percent: total, section_breakdown: entries }
    }
}

/// `WeightedSubsectionsGrader`: the course grader built from a grading policy.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct WeightedGrader {
    pub subgraders: Vec<AssignmentFormatGrader>,
}

/// A thread's space for grading learner after learner, reused so nothing is allocated or
/// faulted in afresh per learner: the buffers of [`WeightedGrader::percent`] and the
/// dense index of the learner's problem scores by block
/// ([`crate::grade::learner::grade_learner`] scores each problem once per learner).
#[derive(Default)]
pub struct Scratch {
    buf: Vec<f64>,
    dropped: Vec<bool>,
    scores: ScoreIndex,
}

impl Scratch {
    /// The score index, emptied for a learner of a course with `blocks` blocks.
    pub(crate) fn score_index(&mut self, blocks: usize) -> &mut ScoreIndex {
        self.scores.next_learner(blocks);
        &mut self.scores
    }
}

impl WeightedGrader {
    /// The grader's raw course percent. `percents_for(kind)` gives the graded percents of
    /// the learner's subsections of that format, in course order.
    pub fn percent<'s, F>(&self, mut percents_for: F, scratch: &mut Scratch) -> f64
    where
        F: FnMut(&str) -> &'s [f64],
    {
        let mut total = 0.0f64;
        for g in &self.subgraders {
            let p = g.percent(percents_for(&g.kind), &mut scratch.buf, &mut scratch.dropped);
            total += p.py_mul(g.weight).as_f64();
        }
        total
    }

    /// `WeightedSubsectionsGrader.grade(sheet)`, with every display string. `sheet_for(kind)`
    /// gives the learner's subsections of that format in course order.
    pub fn grade<'s, F>(&self, mut sheet_for: F, compat: &Compat) -> CourseGraderResult
    where
        F: FnMut(&str) -> Vec<SheetEntry<'s>>,
    {
        let mut total = 0.0f64;
        let mut section_breakdown = Vec::new();
        let mut grade_breakdown: Vec<CategoryBreakdown> = Vec::new();
        for g in &self.subgraders {
            let result = g.grade(&sheet_for(&g.kind), compat);
            let wp = result.percent.py_mul(g.weight);
            total += wp.as_f64();
            section_breakdown.extend(result.section_breakdown);
            let entry = CategoryBreakdown {
                category: g.category.clone(),
                percent: wp,
                detail: format!(
                    "{} = {} of a possible {}",
                    g.category,
                    // `.2%` in every release since 2014 (PR #2784); only the
                    // assignment grader's strings changed later.
                    pyfmt::percent(wp, 2),
                    pyfmt::percent(g.weight, 2)
                ),
            };
            match grade_breakdown.iter_mut().find(|e| e.category == g.category) {
                Some(slot) => *slot = entry,
                None => grade_breakdown.push(entry),
            }
        }
        CourseGraderResult { percent: total, section_breakdown, grade_breakdown }
    }
}
