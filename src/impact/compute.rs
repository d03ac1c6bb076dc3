//! The impact tables as Polars lazy plans over a run's Parquet outputs.
//!
//! Two frames are built per comparison, then aggregated chart by chart:
//!
//! * course pairs, one row per (course, learner) graded on either side: whether the learner
//!   has a grade before and after, and its percent, letter and pass state on each side;
//! * subsection pairs, one row per (course, learner, subsection) whose graded score may have
//!   changed: the score (`earned_graded / possible_graded`, 0 when nothing is possible) before
//!   and after, null on a side without a row.
//!
//! Against the persisted grades, the course pairs are this run's `course_grades` joined with
//! its `course_grade_diffs`: a learner without a diff row is unchanged (the persisted values
//! are this run's), a diff row gives the persisted values (`old_*`) unless it is `new`, and
//! an `orphaned` row has no grade after. The subsection pairs are the `subsection_diffs` rows
//! alone (unchanged and untouched keys are not written, and do not change). Against a
//! baseline run, both are full outer joins of the two runs' grade tables.
//!
//! Every aggregate is computed per course and over all courses (`course_id` null), by
//! stacking each frame on a copy of itself whose `course_id` is null, then grouping by it.

use polars::prelude::*;

use super::table::{Row, Rows};

/// One course's pairs (or a whole run's), as lazy plans.
pub(crate) struct Pairs {
    pub(crate) courses: LazyFrame,
    pub(crate) subsections: LazyFrame,
}

/// One comparison's inputs: its pairs, course by course, and the subsections' types.
pub(crate) struct Inputs {
    pub(crate) comparison: &'static str,
    pub(crate) pairs: Vec<Pairs>,
    /// `course_id`, `usage_key`, `assignment_type` of every subsection of the graded versions.
    pub(crate) types: LazyFrame,
}

/// A grade's change bins are this many points wide, course grades' bins too.
pub(crate) const GRADE_BIN_POINTS: i64 = 5;
/// A subsection score's change bins are this many points wide.
pub(crate) const SCORE_BIN_POINTS: i64 = 10;

/// `floor(x)` as an integer. A cast to an integer truncates toward zero; a negative value with
/// a fraction is then one more than its floor. (Polars' own `floor` needs its `round_series`
/// feature; adding an offset to make every value positive would round away low bits:
/// `14.999999999999998 + 1e6` is `1000015.0`.)
fn floor(x: Expr) -> Expr {
    let t = x.clone().cast(DataType::Int64);
    when(x.lt(t.clone().cast(DataType::Float64))).then(t.clone() - lit(1i64)).otherwise(t)
}

/// A fraction in whole points, rounded half up: `floor(x * 100 + 0.5)`.
fn points(x: Expr) -> Expr {
    floor(x * lit(100.0) + lit(0.5))
}

/// The bin index of a fraction in bins `width` points wide, kept within `lo..=hi`.
fn bin(x: Expr, width: i64, lo: i64, hi: i64) -> Expr {
    let i = floor(points(x).cast(DataType::Float64) / lit(width as f64));
    when(i.clone().lt(lit(lo))).then(lit(lo)).when(i.clone().gt(lit(hi))).then(lit(hi)).otherwise(i)
}

/// The frame stacked on a copy of itself whose `course_id` is null (the all-courses rows).
fn with_total(frame: LazyFrame) -> PolarsResult<LazyFrame> {
    let total = frame.clone().with_column(lit(NULL).cast(DataType::String).alias("course_id"));
    concat([frame, total], UnionArgs::default())
}

/// Course pairs against the persisted grades: `grades` (this run's `course_grades`) and
/// `diffs` (its `course_grade_diffs`).
pub(crate) fn persisted_course_pairs(grades: LazyFrame, diffs: LazyFrame) -> LazyFrame {
    let after = grades.select([
        col("course_id"),
        col("user_id"),
        lit(true).alias("in_run"),
        col("percent_grade").alias("ap"),
        col("letter_grade").alias("al"),
        col("passed").alias("apass"),
    ]);
    let diffs = diffs.select([
        col("course_id"),
        col("user_id"),
        col("change"),
        col("old_percent_grade"),
        col("old_letter_grade"),
        col("old_passed"),
    ]);
    let joined = join_full(after, diffs, &["course_id", "user_id"]);
    let unchanged = col("change").is_null();
    let before = unchanged.clone().or(col("change").neq(lit("new")));
    let side = |same: &str, old: &str| when(unchanged.clone()).then(col(same)).otherwise(col(old));
    joined.select([
        col("course_id"),
        col("user_id"),
        before.alias("b"),
        col("in_run").is_not_null().alias("a"),
        side("ap", "old_percent_grade").alias("bp"),
        side("al", "old_letter_grade").alias("bl"),
        side("apass", "old_passed").alias("bpass"),
        col("ap"),
        col("al"),
        col("apass"),
    ])
}

/// Course pairs between two runs' `course_grades`: `base` before, `run` after.
pub(crate) fn baseline_course_pairs(base: LazyFrame, run: LazyFrame) -> LazyFrame {
    let side = |frame: LazyFrame, p: &str| {
        frame.select([
            col("course_id"),
            col("user_id"),
            lit(true).alias(format!("{p}_in")),
            col("percent_grade").alias(format!("{p}p")),
            col("letter_grade").alias(format!("{p}l")),
            col("passed").alias(format!("{p}pass")),
        ])
    };
    join_full(side(base, "b"), side(run, "a"), &["course_id", "user_id"]).select([
        col("course_id"),
        col("user_id"),
        col("b_in").is_not_null().alias("b"),
        col("a_in").is_not_null().alias("a"),
        col("bp"),
        col("bl"),
        col("bpass"),
        col("ap"),
        col("al"),
        col("apass"),
    ])
}

/// A graded score: `earned / possible`, 0 when nothing is possible; null without a row.
fn score(earned: &str, possible: &str) -> Expr {
    when(col(possible).gt(lit(0.0)))
        .then(col(earned) / col(possible))
        .otherwise(when(col(possible).is_null()).then(lit(NULL).cast(DataType::Float64)).otherwise(lit(0.0)))
}

/// Subsection pairs against the persisted grades: this run's `subsection_diffs`.
pub(crate) fn persisted_subsection_pairs(diffs: LazyFrame) -> LazyFrame {
    diffs.select([
        col("course_id"),
        col("user_id"),
        col("usage_key"),
        when(col("change").eq(lit("new")))
            .then(lit(NULL).cast(DataType::Float64))
            .otherwise(score("old_earned_graded", "old_possible_graded"))
            .alias("before"),
        when(col("change").eq(lit("orphaned")))
            .then(lit(NULL).cast(DataType::Float64))
            .otherwise(score("new_earned_graded", "new_possible_graded"))
            .alias("after"),
    ])
}

/// Subsection pairs between two runs' `subsection_grades` of one course (`course`; both frames
/// hold that course only): `base` before, `run` after.
pub(crate) fn baseline_subsection_pairs(base: LazyFrame, run: LazyFrame, course: Option<&str>) -> LazyFrame {
    // Each side's score is computed before the join, so the join carries one value a side. The
    // keys are the learner and the subsection, the usage key a categorical through the join (a
    // number per row rather than its text), the course added back after it: a baseline report
    // of the 20M-row benchmark (3.1M subsection grades a side in its largest course) peaked at
    // 4.9 GB joining on the three texts, 1.65 GB so.
    let key = DataType::from_categories(Categories::global());
    let side = |frame: LazyFrame, name: &str| {
        frame.select([
            col("user_id"),
            col("usage_key").cast(key.clone()),
            score("earned_graded", "possible_graded").alias(name),
        ])
    };
    let course = match course {
        Some(id) => lit(id.to_owned()),
        None => lit(NULL).cast(DataType::String),
    };
    join_full(side(base, "before"), side(run, "after"), &["user_id", "usage_key"]).select([
        course.alias("course_id"),
        col("user_id"),
        col("usage_key").cast(DataType::String),
        col("before"),
        col("after"),
    ])
}

/// A full outer join on `keys`, the key columns coalesced.
fn join_full(left: LazyFrame, right: LazyFrame, keys: &[&str]) -> LazyFrame {
    let on: Vec<Expr> = keys.iter().map(|k| col(*k)).collect();
    left.join(
        right,
        on.clone(),
        on,
        JoinArgs::new(JoinType::Full).with_coalesce(JoinCoalesce::CoalesceColumns),
    )
}

/// Every chart's rows of one comparison.
pub(crate) fn impact(inputs: Inputs) -> PolarsResult<Rows> {
    let mut rows = Rows::default();
    // Each pair frame is computed once (its scans and joins), course by course, then every
    // chart aggregates it in memory: one row per learner and course, and only the subsection
    // grades that count.
    let started = std::time::Instant::now();
    let (mut courses, mut subsection_pairs) = (Vec::new(), Vec::new());
    for p in inputs.pairs {
        courses.push(p.courses.collect()?.lazy());
        subsection_pairs.push(subsections_that_count(p.subsections).collect()?.lazy());
    }
    let pairs = concat(courses, UnionArgs::default())?.collect()?.lazy();
    let subsection_pairs = concat(subsection_pairs, UnionArgs::default())?.collect()?.lazy();
    tracing::debug!(
        comparison = inputs.comparison,
        seconds = started.elapsed().as_secs_f64(),
        "impact pairs"
    );
    let courses = with_total(pairs.clone())?;
    summary(&mut rows, inputs.comparison, courses.clone())?;
    distribution(&mut rows, inputs.comparison, courses.clone())?;
    grade_change(&mut rows, inputs.comparison, courses.clone())?;
    transitions(&mut rows, inputs.comparison, courses)?;
    crossings(&mut rows, inputs.comparison, pairs)?;
    subsections(&mut rows, inputs.comparison, subsection_pairs, inputs.types)?;
    tracing::debug!(comparison = inputs.comparison, seconds = started.elapsed().as_secs_f64(), "impact rows");
    Ok(rows)
}

/// The subsection pairs the charts count: a grade only before, or a grade this run has whose
/// score differs from the other side's (a missing row before reading as 0, as edX reads it
/// since Olive).
fn subsections_that_count(pairs: LazyFrame) -> LazyFrame {
    let only_before = col("after").is_null().and(col("before").is_not_null());
    let changed = col("after").is_not_null().and(col("after").neq(col("before").fill_null(lit(0.0))));
    pairs.filter(only_before.or(changed))
}

/// Both sides present, and `cond`, as a 0/1 count.
fn both_and(cond: Expr) -> Expr {
    col("b").and(col("a")).and(cond.fill_null(lit(false))).cast(DataType::Int64).sum()
}

/// The headline counts, per course and in total.
fn summary(rows: &mut Rows, comparison: &'static str, courses: LazyFrame) -> PolarsResult<()> {
    let counts: [(&'static str, Expr); 11] = [
        ("learners_before", col("b").cast(DataType::Int64).sum()),
        ("learners_after", col("a").cast(DataType::Int64).sum()),
        ("learners_both", both_and(lit(true))),
        ("percent_changed", both_and(col("ap").neq(col("bp")))),
        ("percent_up", both_and(col("ap").gt(col("bp")))),
        ("percent_down", both_and(col("ap").lt(col("bp")))),
        ("letter_changed", both_and(col("al").neq(col("bl")))),
        ("now_passing", both_and(col("bpass").not().and(col("apass")))),
        ("now_failing", both_and(col("bpass").and(col("apass").not()))),
        ("only_before", col("b").and(col("a").not()).cast(DataType::Int64).sum()),
        ("only_after", col("a").and(col("b").not()).cast(DataType::Int64).sum()),
    ];
    let df = courses
        .group_by([col("course_id")])
        .agg(counts.iter().map(|(name, e)| e.clone().alias(*name)).collect::<Vec<_>>())
        .collect()?;
    let course = df.column("course_id")?.str()?;
    for (name, _) in &counts {
        let values = df.column(name)?.i64()?;
        for i in 0..df.height() {
            rows.push(Row {
                label: Some((*name).to_string()),
                count: values.get(i).unwrap_or(0),
                ..Row::new(comparison, course.get(i), "summary")
            });
        }
    }
    Ok(())
}

/// Learners per course grade bin, before and after.
fn distribution(rows: &mut Rows, comparison: &'static str, courses: LazyFrame) -> PolarsResult<()> {
    let width = GRADE_BIN_POINTS;
    let last = 100 / width - 1;
    for (side, present, percent) in [("before", "b", "bp"), ("after", "a", "ap")] {
        let df = courses
            .clone()
            .filter(col(present))
            .group_by([col("course_id"), bin(col(percent), width, 0, last).alias("bin")])
            .agg([len().cast(DataType::Int64).alias("n")])
            .collect()?;
        let (course, bins, n) =
            (df.column("course_id")?.str()?, df.column("bin")?.i64()?, df.column("n")?.i64()?);
        for i in 0..df.height() {
            let b = bins.get(i).unwrap_or(0);
            rows.push(Row {
                side: Some(side),
                count: n.get(i).unwrap_or(0),
                ..Row::new(comparison, course.get(i), "grade_distribution").with_bin(b, width)
            });
        }
    }
    Ok(())
}

/// Learners graded on both sides whose course grade changed, per bin of the change.
fn grade_change(rows: &mut Rows, comparison: &'static str, courses: LazyFrame) -> PolarsResult<()> {
    let width = GRADE_BIN_POINTS;
    let df = courses
        .filter(col("b").and(col("a")).and(col("ap").neq(col("bp"))))
        .group_by([
            col("course_id"),
            bin(col("ap") - col("bp"), width, -100 / width, 100 / width - 1).alias("bin"),
        ])
        .agg([len().cast(DataType::Int64).alias("n")])
        .collect()?;
    let (course, bins, n) =
        (df.column("course_id")?.str()?, df.column("bin")?.i64()?, df.column("n")?.i64()?);
    for i in 0..df.height() {
        rows.push(Row {
            count: n.get(i).unwrap_or(0),
            ..Row::new(comparison, course.get(i), "grade_change").with_bin(bins.get(i).unwrap_or(0), width)
        });
    }
    Ok(())
}

/// Learners per (letter before, letter after) and per (pass state before, after); a side
/// without a grade is null.
fn transitions(rows: &mut Rows, comparison: &'static str, courses: LazyFrame) -> PolarsResult<()> {
    let null = || lit(NULL).cast(DataType::String);
    let letter = |present: &str, letter: &str| when(col(present)).then(col(letter)).otherwise(null());
    let pass = |present: &str, passed: &str| {
        when(col(present).not()).then(null()).when(col(passed)).then(lit("pass")).otherwise(lit("fail"))
    };
    let charts = [
        ("letter_transitions", letter("b", "bl"), letter("a", "al")),
        ("pass_transitions", pass("b", "bpass"), pass("a", "apass")),
    ];
    for (chart, from, to) in charts {
        let df = courses
            .clone()
            .group_by([col("course_id"), from.alias("from"), to.alias("to")])
            .agg([len().cast(DataType::Int64).alias("n")])
            .collect()?;
        let (course, from, to) =
            (df.column("course_id")?.str()?, df.column("from")?.str()?, df.column("to")?.str()?);
        let n = df.column("n")?.i64()?;
        for i in 0..df.height() {
            rows.push(Row {
                label: from.get(i).map(str::to_string),
                to_label: to.get(i).map(str::to_string),
                count: n.get(i).unwrap_or(0),
                ..Row::new(comparison, course.get(i), chart)
            });
        }
    }
    Ok(())
}

/// One row per learner graded on both sides whose pass state flipped (per course only).
fn crossings(rows: &mut Rows, comparison: &'static str, courses: LazyFrame) -> PolarsResult<()> {
    let df = courses
        .filter(col("b").and(col("a")).and(col("bpass").neq(col("apass"))))
        .select([col("course_id"), col("user_id"), col("bp"), col("ap"), col("bpass"), col("bl"), col("al")])
        .collect()?;
    let (course, user) = (df.column("course_id")?.str()?, df.column("user_id")?.i64()?);
    let (bp, ap, bpass) = (df.column("bp")?.f64()?, df.column("ap")?.f64()?, df.column("bpass")?.bool()?);
    let (bl, al) = (df.column("bl")?.str()?, df.column("al")?.str()?);
    for i in 0..df.height() {
        let was = bpass.get(i).unwrap_or(false);
        rows.push(Row {
            label: bl.get(i).map(str::to_string),
            to_label: al.get(i).map(str::to_string),
            side: Some(if was { "now_failing" } else { "now_passing" }),
            user_id: user.get(i),
            before_value: bp.get(i),
            after_value: ap.get(i),
            count: 1,
            ..Row::new(comparison, course.get(i), "pass_crossings")
        });
    }
    Ok(())
}

/// The subsection charts: per assignment type the grades whose score changed, their mean
/// change and its bins; per subsection the learners whose score changed.
fn subsections(
    rows: &mut Rows,
    comparison: &'static str,
    pairs: LazyFrame,
    types: LazyFrame,
) -> PolarsResult<()> {
    // Only grades this run has: a missing row before reads as 0 (edX since Olive); a grade
    // only before (orphaned, or absent from this run) is counted in the summary instead.
    let only_before = pairs.clone().filter(col("after").is_null().and(col("before").is_not_null()));
    let only_before = with_total(only_before)?
        .group_by([col("course_id")])
        .agg([len().cast(DataType::Int64).alias("n")])
        .collect()?;
    let (course, n) = (only_before.column("course_id")?.str()?, only_before.column("n")?.i64()?);
    for i in 0..only_before.height() {
        rows.push(Row {
            label: Some("subsection_grades_only_before".into()),
            count: n.get(i).unwrap_or(0),
            ..Row::new(comparison, course.get(i), "summary")
        });
    }
    let changed = pairs
        .filter(col("after").is_not_null())
        .with_column((col("after") - col("before").fill_null(lit(0.0))).alias("delta"))
        .filter(col("delta").neq(lit(0.0)))
        .join(
            types,
            [col("course_id"), col("usage_key")],
            [col("course_id"), col("usage_key")],
            JoinArgs::new(JoinType::Left),
        )
        .with_column(col("assignment_type").fill_null(lit("")));
    per_subsection(rows, comparison, changed.clone())?;
    let changed = with_total(changed)?;
    per_type(rows, comparison, changed.clone())?;
    let width = SCORE_BIN_POINTS;
    let df = changed
        .group_by([
            col("course_id"),
            col("assignment_type"),
            bin(col("delta"), width, -100 / width, 100 / width - 1).alias("bin"),
        ])
        .agg([len().cast(DataType::Int64).alias("n")])
        .collect()?;
    let (course, kind) = (df.column("course_id")?.str()?, df.column("assignment_type")?.str()?);
    let (bins, n) = (df.column("bin")?.i64()?, df.column("n")?.i64()?);
    for i in 0..df.height() {
        rows.push(Row {
            label: kind.get(i).map(str::to_string),
            count: n.get(i).unwrap_or(0),
            ..Row::new(comparison, course.get(i), "assignment_change")
                .with_bin(bins.get(i).unwrap_or(0), width)
        });
    }
    Ok(())
}

/// Per assignment type (per course and in total): grades changed, learners, mean change; and
/// the summary count of changed grades.
fn per_type(rows: &mut Rows, comparison: &'static str, changed: LazyFrame) -> PolarsResult<()> {
    let df = changed
        .group_by([col("course_id"), col("assignment_type")])
        .agg([
            len().cast(DataType::Int64).alias("n"),
            col("user_id").n_unique().cast(DataType::Int64).alias("learners"),
            col("delta").mean().alias("mean"),
        ])
        .collect()?;
    let (course, kind) = (df.column("course_id")?.str()?, df.column("assignment_type")?.str()?);
    let (n, learners, mean) =
        (df.column("n")?.i64()?, df.column("learners")?.i64()?, df.column("mean")?.f64()?);
    let mut totals: std::collections::BTreeMap<Option<String>, i64> = Default::default();
    for i in 0..df.height() {
        *totals.entry(course.get(i).map(str::to_string)).or_default() += n.get(i).unwrap_or(0);
        rows.push(Row {
            label: kind.get(i).map(str::to_string),
            count: n.get(i).unwrap_or(0),
            learners: learners.get(i),
            mean_change: mean.get(i),
            ..Row::new(comparison, course.get(i), "assignment_types")
        });
    }
    for (course, n) in totals {
        rows.push(Row {
            label: Some("subsection_grades_changed".into()),
            count: n,
            ..Row::new(comparison, course.as_deref(), "summary")
        });
    }
    Ok(())
}

/// Per subsection (per course only): learners whose graded score changed, mean change.
fn per_subsection(rows: &mut Rows, comparison: &'static str, changed: LazyFrame) -> PolarsResult<()> {
    let df = changed
        .group_by([col("course_id"), col("assignment_type"), col("usage_key")])
        .agg([len().cast(DataType::Int64).alias("n"), col("delta").mean().alias("mean")])
        .collect()?;
    let (course, kind, key) = (
        df.column("course_id")?.str()?,
        df.column("assignment_type")?.str()?,
        df.column("usage_key")?.str()?,
    );
    let (n, mean) = (df.column("n")?.i64()?, df.column("mean")?.f64()?);
    for i in 0..df.height() {
        rows.push(Row {
            label: kind.get(i).map(str::to_string),
            usage_key: key.get(i).map(str::to_string),
            count: n.get(i).unwrap_or(0),
            mean_change: mean.get(i),
            ..Row::new(comparison, course.get(i), "subsections")
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bins as the schema states them, in plain Rust.
    fn oracle(x: f64, width: i64, lo: i64, hi: i64) -> i64 {
        let points = (x * 100.0 + 0.5).floor();
        ((points / width as f64).floor() as i64).clamp(lo, hi)
    }

    #[test]
    fn bins_are_the_schemas_floor_of_whole_points() {
        // Fractions on and around every bin edge, and changes in both directions.
        let mut xs: Vec<f64> = (0..=200).map(|i| i as f64 / 200.0).collect();
        xs.extend((0..=100).map(|i| 0.83 - i as f64 * 0.0173));
        xs.extend([0.7 - 0.4, 0.1 + 0.2, -0.005, 0.005, -0.0049, 0.0449, -1.0, 1.0, 0.999_999]);
        let df = DataFrame::new(xs.len(), vec![Column::new("x".into(), xs.clone())]).unwrap();
        let got = df
            .lazy()
            .select([bin(col("x"), 5, 0, 19).alias("g"), bin(col("x"), 10, -10, 9).alias("s")])
            .collect()
            .unwrap();
        let (g, s) = (got.column("g").unwrap().i64().unwrap(), got.column("s").unwrap().i64().unwrap());
        for (i, &x) in xs.iter().enumerate() {
            assert_eq!(g.get(i), Some(oracle(x, 5, 0, 19)), "grade bin of {x}");
            assert_eq!(s.get(i), Some(oracle(x, 10, -10, 9)), "score change bin of {x}");
        }
    }
}
