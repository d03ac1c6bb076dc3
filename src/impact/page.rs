//! `index.html`: one self-contained page (inline CSS and SVG, no script, nothing fetched) that
//! shows a course team what a regrade changes, from the rows of `impact.parquet`.
//!
//! Top down: whether the page holds usernames, the headline counts over all courses, then per
//! comparison (persisted grades -> this run; a baseline run -> this run) the charts over all
//! courses and per course, and last the runs' own facts from their manifests.

use std::collections::BTreeSet;
use std::fmt::Write;

use super::meta::{CourseMeta, Meta};
use super::source::RunFolder;
use super::svg::{self, count, esc, pct, points, Bar, Cutoff};
use super::table::{Row, Rows};

/// Learners listed per course in the pass-line table; the rest are in `impact.parquet`.
const CROSSINGS_SHOWN: usize = 50;
/// Subsections shown per course in the "changed the most learners" chart.
const TOP_SUBSECTIONS: usize = 10;

/// What the page is made of.
pub struct Page<'a> {
    pub rows: &'a Rows,
    pub meta: &'a Meta,
    pub run: &'a RunFolder,
    pub baseline: Option<&'a RunFolder>,
    pub with_names: bool,
}

/// A comparison's name and its words.
struct Comparison {
    key: &'static str,
    title: String,
    before: &'static str,
}

impl Page<'_> {
    /// The whole page.
    pub fn html(&self) -> String {
        let mut out = String::with_capacity(256 * 1024);
        let name = self.run.name();
        let _ = write!(
            out,
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>Impact of regrade run {}</title><style>{CSS}</style></head><body>",
            esc(&name)
        );
        out.push_str(&self.header(&name));
        let comparisons = self.comparisons();
        out.push_str(&self.nav(&comparisons));
        out.push_str("<main>");
        for c in &comparisons {
            out.push_str(&self.section(c, None));
            for course in self.meta.courses.keys() {
                out.push_str(&self.section(c, Some(course)));
            }
        }
        out.push_str(&self.facts());
        out.push_str("</main></body></html>\n");
        out
    }

    fn comparisons(&self) -> Vec<Comparison> {
        let mut out =
            vec![Comparison {
                key: "persisted", title: "Stored grades → this run".into(), before: "stored"
            }];
        if let Some(b) = self.baseline {
            out.push(Comparison {
                key: "baseline",
                title: format!("Baseline run {} → this run", b.name()),
                before: "baseline",
            });
        }
        out
    }

    fn header(&self, name: &str) -> String {
        let mut h = String::from("<header>");
        if self.with_names {
            h.push_str(
                "<p class=\"badge staff\" id=\"privacy\">STAFF ONLY: this copy names learners (usernames). \
                 Do not share it beyond staff.</p>",
            );
        } else {
            h.push_str(
                "<p class=\"badge ids\" id=\"privacy\">Identifiers only: learners appear as user ids, \
                 no names or emails.</p>",
            );
        }
        let _ = write!(h, "<h1>What regrade run <q>{}</q> changes</h1>", esc(name));
        let r = self.rows;
        let (both, changed) =
            (r.summary("persisted", None, "learners_both"), r.summary("persisted", None, "percent_changed"));
        let _ = write!(
            h,
            "<p class=\"lede\">Against the grades edX has stored, <strong>{}</strong> of {} learners \
             graded on both sides get a different course grade ({}); <strong>{}</strong> would now pass and \
             <strong>{}</strong> would now fail, across {} course{}.</p>",
            count(changed),
            count(both),
            share(changed, both),
            count(r.summary("persisted", None, "now_passing")),
            count(r.summary("persisted", None, "now_failing")),
            self.meta.courses.len(),
            if self.meta.courses.len() == 1 { "" } else { "s" }
        );
        if let Some(b) = self.baseline {
            let (both, changed) = (
                r.summary("baseline", None, "learners_both"),
                r.summary("baseline", None, "percent_changed"),
            );
            let _ = write!(
                h,
                "<p class=\"lede\">Against the baseline run <q>{}</q>, <strong>{}</strong> of {} learners \
                 get a different course grade ({}); <strong>{}</strong> would now pass and <strong>{}</strong> \
                 would now fail.</p>",
                esc(&b.name()),
                count(changed),
                count(both),
                share(changed, both),
                count(r.summary("baseline", None, "now_passing")),
                count(r.summary("baseline", None, "now_failing")),
            );
        }
        h.push_str("</header>");
        h
    }

    fn nav(&self, comparisons: &[Comparison]) -> String {
        let mut n = String::from("<nav aria-label=\"contents\"><ul>");
        for c in comparisons {
            let _ = write!(n, "<li><a href=\"#{}\">{}</a><ul>", anchor(c.key, None), esc(&c.title));
            for course in self.meta.courses.keys() {
                let _ =
                    write!(n, "<li><a href=\"#{}\">{}</a></li>", anchor(c.key, Some(course)), esc(course));
            }
            n.push_str("</ul></li>");
        }
        n.push_str("<li><a href=\"#facts\">The run's facts</a></li></ul></nav>");
        n
    }

    /// One comparison over all courses (`course` None) or one course.
    fn section(&self, c: &Comparison, course: Option<&str>) -> String {
        let mut s = String::new();
        let heading = match course {
            None => format!("{}: all courses", c.title),
            Some(id) => format!("{}: {id}", c.title),
        };
        let _ = write!(s, "<section id=\"{}\"><h2>{}</h2>", anchor(c.key, course), esc(&heading));
        s.push_str(&self.cards(c.key, course));
        s.push_str("<div class=\"grid\">");
        s.push_str(&self.distribution(c, course));
        s.push_str(&self.grade_change(c, course));
        s.push_str(&self.letters(c, course));
        s.push_str(&self.pass(c, course));
        s.push_str(&self.assignment_types(c, course));
        if let Some(id) = course {
            s.push_str(&self.top_subsections(c, id));
        }
        s.push_str("</div>");
        s.push_str(&self.assignment_histograms(c, course));
        if let Some(id) = course {
            s.push_str(&self.crossings(c, id));
        }
        s.push_str("</section>");
        s
    }

    fn cards(&self, key: &str, course: Option<&str>) -> String {
        let r = |label: &str| self.rows.summary(key, course, label);
        let both = r("learners_both");
        let cards = [
            ("course grade changed", r("percent_changed"), Some(both)),
            ("grade up", r("percent_up"), None),
            ("grade down", r("percent_down"), None),
            ("now passing", r("now_passing"), None),
            ("now failing", r("now_failing"), None),
            ("letter changed", r("letter_changed"), None),
            ("graded only after", r("only_after"), None),
            ("graded only before", r("only_before"), None),
        ];
        let mut s = String::from("<ul class=\"cards\">");
        for (what, n, of) in cards {
            let of = of.map_or(String::new(), |of| format!(" ({} of {})", share(n, of), count(of)));
            let _ = write!(
                s,
                "<li><span class=\"n\">{}</span><span class=\"what\">{what}{of}</span></li>",
                count(n)
            );
        }
        s.push_str("</ul>");
        s
    }

    fn course_meta(&self, course: Option<&str>) -> Option<&CourseMeta> {
        course.and_then(|c| self.meta.courses.get(c))
    }

    fn distribution(&self, c: &Comparison, course: Option<&str>) -> String {
        let mut before = vec![0i64; 20];
        let mut after = vec![0i64; 20];
        for row in self.rows.chart(c.key, course, "grade_distribution") {
            let i = ((row.bin_lo.unwrap_or(0.0) * 20.0).round() as usize).min(19);
            match row.side {
                Some("before") => before[i] += row.count,
                _ => after[i] += row.count,
            }
        }
        // Cutoffs are drawn for one course, or for all when every course has the same.
        let metas: Vec<&CourseMeta> = match course {
            Some(_) => self.course_meta(course).into_iter().collect(),
            None => self.meta.courses.values().collect(),
        };
        let mut cutoffs = Vec::new();
        let mut note = String::new();
        if let Some(first) = metas.first() {
            let old = if c.key == "baseline" { &first.baseline } else { &first.before };
            if metas.iter().all(|m| m.after.letters == first.after.letters) {
                for (letter, at) in &first.after.letters {
                    let pass = Some(*at) == first.after.pass;
                    cutoffs.push(Cutoff { at: *at, label: letter, pass, before: false });
                }
                let same_old = metas.iter().all(|m| {
                    (if c.key == "baseline" { &m.baseline } else { &m.before }).letters == old.letters
                });
                if same_old && old.letters != first.after.letters {
                    for (letter, at) in &old.letters {
                        cutoffs.push(Cutoff {
                            at: *at,
                            label: letter,
                            pass: Some(*at) == old.pass,
                            before: true,
                        });
                    }
                    note = format!(
                        " Dashed lines: the cutoffs {} ({}).",
                        if c.key == "baseline" {
                            "of the baseline run"
                        } else {
                            "of the course version's own policy"
                        },
                        esc(&old.source)
                    );
                }
                if let Some(p) = first.after.pass {
                    note = format!(" The red line is the pass line ({}).{note}", pct(p));
                }
            } else {
                note = " The courses' cutoffs differ: see each course.".into();
            }
        }
        let title = format!("Course grades, {} and after", c.before);
        let chart = svg::distribution(&title, &before, &after, &cutoffs);
        figure(
            &title,
            &chart,
            &format!(
                "Learners per 5-point band of the course grade: grey {} grades, blue this run's; where they \
                 overlap the bars look darker. Vertical lines are the letter cutoffs of this run's policy.{note}",
                c.before
            ),
        )
    }

    fn grade_change(&self, c: &Comparison, course: Option<&str>) -> String {
        let bins: Vec<(i64, i64)> =
            self.rows.chart(c.key, course, "grade_change").map(|r| (bin_index(r, 5), r.count)).collect();
        let title = "How much course grades moved";
        figure(
            title,
            &svg::change(title, &bins, 5, "learners"),
            "Learners whose course grade changed, per 5-point step of the change: right of the line their \
             grade went up, left down. Learners whose grade did not change are not drawn.",
        )
    }

    fn letters(&self, c: &Comparison, course: Option<&str>) -> String {
        let rows: Vec<&Row> = self.rows.chart(c.key, course, "letter_transitions").collect();
        // Letters by cutoff, highest first (over all courses: each letter at its highest cutoff).
        let metas: Vec<&CourseMeta> = match course {
            Some(_) => self.course_meta(course).into_iter().collect(),
            None => self.meta.courses.values().collect(),
        };
        let mut cutoffs: Vec<(String, f64)> = Vec::new();
        for m in metas {
            for (l, at) in m.after.letters.iter().chain(&m.before.letters).chain(&m.baseline.letters) {
                match cutoffs.iter_mut().find(|(k, _)| k == l) {
                    Some(seen) => seen.1 = seen.1.max(*at),
                    None => cutoffs.push((l.clone(), *at)),
                }
            }
        }
        cutoffs.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut order: Vec<String> = cutoffs.into_iter().map(|(l, _)| l).collect();
        let seen: BTreeSet<String> =
            rows.iter().flat_map(|r| [state(r.label.as_deref()), state(r.to_label.as_deref())]).collect();
        for s in &seen {
            if !order.contains(s) && s != NO_LETTER && s != NO_GRADE {
                order.push(s.clone());
            }
        }
        order.retain(|s| seen.contains(s));
        for s in [NO_LETTER, NO_GRADE] {
            if seen.contains(s) {
                order.push(s.to_string());
            }
        }
        let cell = |from: &str, to: &str| {
            rows.iter()
                .filter(|r| state(r.label.as_deref()) == from && state(r.to_label.as_deref()) == to)
                .map(|r| r.count)
                .sum()
        };
        let title = "Letter grades, before → after";
        figure(
            title,
            &svg::matrix(title, &order, &cell),
            &format!(
                "Each row is a letter {} grade, each column the letter after; a cell counts the learners who \
                 moved so. The outlined diagonal is no change; cells off it are learners whose letter \
                 changed. “{NO_LETTER}” is a grade below every cutoff; “{NO_GRADE}” is a learner with no \
                 grade on that side.",
                c.before
            ),
        )
    }

    fn pass(&self, c: &Comparison, course: Option<&str>) -> String {
        let rows: Vec<&Row> = self.rows.chart(c.key, course, "pass_transitions").collect();
        let name = |s: Option<&str>| match s {
            Some(p) => p.to_string(),
            None => NO_GRADE.to_string(),
        };
        let mut order = vec!["pass".to_string(), "fail".to_string()];
        if rows.iter().any(|r| r.label.is_none() || r.to_label.is_none()) {
            order.push(NO_GRADE.to_string());
        }
        let cell = |from: &str, to: &str| {
            rows.iter()
                .filter(|r| name(r.label.as_deref()) == from && name(r.to_label.as_deref()) == to)
                .map(|r| r.count)
                .sum()
        };
        let title = "Pass and fail, before → after";
        figure(
            title,
            &svg::matrix(title, &order, &cell),
            "Learners by pass state before (rows) and after (columns): fail → pass would now pass, \
             pass → fail would now fail.",
        )
    }

    fn assignment_types(&self, c: &Comparison, course: Option<&str>) -> String {
        let items: Vec<Bar> = self
            .rows
            .chart(c.key, course, "assignment_types")
            .map(|r| {
                let mean = r.mean_change.unwrap_or(0.0);
                Bar {
                    label: type_name(r.label.as_deref()),
                    value: mean,
                    note: format!("{} pts", points(mean)),
                    loss: false,
                    tip: format!(
                        "{}: {} grades of {} learners changed, by {} points on average",
                        type_name(r.label.as_deref()),
                        count(r.count),
                        count(r.learners.unwrap_or(0)),
                        points(mean)
                    ),
                }
            })
            .collect();
        let title = "Mean change of the subsection scores that changed, per assignment type";
        let counts: Vec<String> = self
            .rows
            .chart(c.key, course, "assignment_types")
            .map(|r| {
                format!(
                    "{}: {} grades, {} learners",
                    esc(&type_name(r.label.as_deref())),
                    count(r.count),
                    count(r.learners.unwrap_or(0))
                )
            })
            .collect();
        figure(
            title,
            &svg::bars(title, &items),
            &format!(
                "Per assignment type, the mean change in points of the subsection scores (earned / possible) \
                 that changed; a score this run has and the other side lacks counts from 0. {}.",
                if counts.is_empty() { "No score changed".to_string() } else { counts.join("; ") }
            ),
        )
    }

    fn assignment_histograms(&self, c: &Comparison, course: Option<&str>) -> String {
        let rows: Vec<&Row> = self.rows.chart(c.key, course, "assignment_change").collect();
        let types: BTreeSet<Option<&str>> = rows.iter().map(|r| r.label.as_deref()).collect();
        if types.is_empty() {
            return String::new();
        }
        let mut s = String::from(
            "<h3>How the changed subsection scores moved, per assignment type</h3><div class=\"grid\">",
        );
        for t in types {
            let bins: Vec<(i64, i64)> = rows
                .iter()
                .filter(|r| r.label.as_deref() == t)
                .map(|r| (bin_index(r, 10), r.count))
                .collect();
            let title = format!("{}: changed scores", type_name(t));
            s.push_str(&figure(
                &title,
                &svg::change(&title, &bins, 10, "grades"),
                "Subsection grades (one per learner and subsection) per 10-point step of the score's change.",
            ));
        }
        s.push_str("</div>");
        s
    }

    fn top_subsections(&self, c: &Comparison, course: &str) -> String {
        let mut rows: Vec<&Row> = self.rows.chart(c.key, Some(course), "subsections").collect();
        rows.sort_by(|a, b| b.count.cmp(&a.count).then(a.usage_key.cmp(&b.usage_key)));
        let meta = self.course_meta(Some(course));
        let shown: Vec<(&Row, String)> = rows
            .iter()
            .take(TOP_SUBSECTIONS)
            .map(|r| {
                let key = r.usage_key.as_deref().unwrap_or_default();
                let sub = meta.and_then(|m| m.subsections.get(key));
                let title =
                    sub.map(|s| s.title.clone()).filter(|t| !t.is_empty()).unwrap_or_else(|| key.to_string());
                (*r, title)
            })
            .collect();
        let items: Vec<Bar> = shown
            .iter()
            .map(|(r, title)| {
                let key = r.usage_key.clone().unwrap_or_default();
                // Titles shared by several subsections get the end of their block id.
                let label = if shown.iter().filter(|(_, t)| t == title).count() > 1 {
                    let id: String =
                        key.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
                    format!("{} {id}", svg::clip(title, 11))
                } else {
                    title.clone()
                };
                let mean = r.mean_change.unwrap_or(0.0);
                Bar {
                    label,
                    value: r.count as f64,
                    note: format!("{}, {} pts", count(r.count), points(mean)),
                    loss: mean < 0.0,
                    tip: format!(
                        "{title} ({}, {key}): {} learners' scores changed, by {} points on average",
                        type_name(r.label.as_deref()),
                        count(r.count),
                        points(mean)
                    ),
                }
            })
            .collect();
        let title = "Subsections that changed the most learners";
        figure(
            title,
            &svg::bars(title, &items),
            &format!(
                "The {} subsections whose score changed for the most learners (bar: learners; then the mean \
                 change in points). All are in impact.parquet.",
                items.len()
            ),
        )
    }

    fn crossings(&self, c: &Comparison, course: &str) -> String {
        let rows: Vec<&Row> = self.rows.chart(c.key, Some(course), "pass_crossings").collect();
        if rows.is_empty() {
            return "<p>No learner crosses the pass line.</p>".into();
        }
        let mut s = format!(
            "<h3>Learners who cross the pass line ({})</h3><div class=\"scroll\"><table><thead><tr><th scope=\"col\">user id</th>",
            rows.len()
        );
        if self.with_names {
            s.push_str("<th scope=\"col\">username</th>");
        }
        let _ = write!(
            s,
            "<th scope=\"col\">{}</th><th scope=\"col\">after</th><th scope=\"col\">now</th></tr></thead><tbody>",
            c.before
        );
        for r in rows.iter().take(CROSSINGS_SHOWN) {
            let _ = write!(s, "<tr><td>{}</td>", r.user_id.unwrap_or_default());
            if self.with_names {
                let _ = write!(s, "<td>{}</td>", esc(r.username.as_deref().unwrap_or("")));
            }
            let grade =
                |p: Option<f64>, l: Option<&str>| format!("{} {}", pct(p.unwrap_or(0.0)), esc(&state(l)));
            let _ = write!(
                s,
                "<td>{}</td><td>{}</td><td>{}</td></tr>",
                grade(r.before_value, r.label.as_deref()),
                grade(r.after_value, r.to_label.as_deref()),
                if r.side == Some("now_passing") { "passes" } else { "fails" }
            );
        }
        s.push_str("</tbody></table></div>");
        if rows.len() > CROSSINGS_SHOWN {
            let _ = write!(
                s,
                "<p>… and {} more in impact.parquet (chart pass_crossings).</p>",
                count((rows.len() - CROSSINGS_SHOWN) as i64)
            );
        }
        s
    }

    fn facts(&self) -> String {
        let mut s = String::from("<section id=\"facts\"><h2>The run's facts</h2>");
        s.push_str(&super::facts::table(self.run, self.baseline));
        if !self.meta.notes.is_empty() {
            s.push_str("<h3>Notes</h3><ul>");
            for n in &self.meta.notes {
                let _ = write!(s, "<li>{}</li>", esc(n));
            }
            s.push_str("</ul>");
        }
        s.push_str("</section>");
        s
    }
}

/// A transition state's name: a letter, or [`NO_LETTER`] / [`NO_GRADE`].
fn state(label: Option<&str>) -> String {
    match label {
        None => NO_GRADE.into(),
        Some("") => NO_LETTER.into(),
        Some(l) => l.into(),
    }
}

/// The state of a grade below every cutoff (edX stores no letter: failing).
const NO_LETTER: &str = "none";
/// The state of a learner without a grade on that side.
const NO_GRADE: &str = "absent";

fn type_name(t: Option<&str>) -> String {
    match t {
        None | Some("") => "(no type)".into(),
        Some(t) => t.into(),
    }
}

/// A bin's index from its lower bound, bins `points` wide.
fn bin_index(r: &Row, points: i64) -> i64 {
    (r.bin_lo.unwrap_or(0.0) * 100.0 / points as f64).round() as i64
}

fn share(n: i64, of: i64) -> String {
    if of == 0 {
        "–".into()
    } else {
        format!("{:.1}%", 100.0 * n as f64 / of as f64)
    }
}

/// An element id for a comparison and a course.
fn anchor(key: &str, course: Option<&str>) -> String {
    match course {
        None => format!("{key}-all"),
        Some(c) => {
            let safe: String =
                c.chars().map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '-' }).collect();
            format!("{key}-{safe}")
        }
    }
}

fn figure(title: &str, chart: &str, caption: &str) -> String {
    format!("<figure><figcaption><strong>{}</strong> {caption}</figcaption>{chart}</figure>", esc(title))
}

/// The page's whole style sheet.
const CSS: &str = r#"
:root{--ink:#1f2328;--muted:#57606a;--line:#d0d7de;--before:#8c959f;--after:#0969da;--up:#1a7f37;--down:#cf222e}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);background:#fff}
header,main,nav{max-width:1200px;margin:0 auto;padding:0 16px}
h1{font-size:1.6rem;margin:.4em 0;overflow-wrap:anywhere}
h2{font-size:1.3rem;margin:1.6em 0 .4em;padding-top:.6em;border-top:1px solid var(--line);overflow-wrap:anywhere}
h3{font-size:1.05rem;margin:1.2em 0 .4em}
.lede{font-size:1.1rem;max-width:60em}
.badge{display:inline-block;margin:16px 0 0;padding:4px 10px;border-radius:6px;font-weight:600}
.badge.ids{background:#dafbe1;color:#116329}
.badge.staff{background:#ffebe9;color:#a40e26;border:2px solid #cf222e}
nav ul{margin:.2em 0;padding-left:1.2em}nav a{overflow-wrap:anywhere}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:8px;list-style:none;padding:0;margin:.6em 0}
.cards li{border:1px solid var(--line);border-radius:8px;padding:8px 10px}
.cards .n{font-size:1.5rem;font-weight:700;margin-right:.2em}
.cards .what{display:block;color:var(--muted);font-size:.9rem}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,360px),1fr));gap:16px}
figure{margin:0;border:1px solid var(--line);border-radius:8px;padding:10px;min-width:0}
figcaption{font-size:.9rem;color:var(--muted);margin-bottom:6px}
figcaption strong{display:block;color:var(--ink);font-size:1rem}
svg.chart{display:block;width:100%;max-width:560px;height:auto;margin:0 auto}
svg .before{fill:var(--before);fill-opacity:.55}
svg .after{fill:var(--after);fill-opacity:.5;stroke:var(--after);stroke-width:1}
svg .up{fill:var(--up);fill-opacity:.8}svg .down{fill:var(--down);fill-opacity:.8}
svg .gridline{stroke:#eaeef2}svg .zero{stroke:var(--ink);stroke-width:1}
svg .cut{stroke:var(--ink);stroke-width:1;stroke-opacity:.6}
svg .pass{stroke:var(--down);stroke-width:2.5}
svg .old{stroke-dasharray:4 3;stroke-opacity:.7}
svg text{fill:var(--ink)}svg .tick,svg .axis{fill:var(--muted)}
svg .cell{stroke:#fff;stroke-width:1}svg .same{stroke:var(--ink);stroke-width:1.5}
svg .l0{fill:#f6f8fa}svg .l1{fill:#ddf4ff}svg .l2{fill:#b6e3ff}svg .l3{fill:#80ccff}svg .l4{fill:#218bff}svg .l5{fill:#0550ae}
svg .num.inv{fill:#fff}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;font-size:.95rem}
th,td{border-bottom:1px solid var(--line);padding:4px 10px;text-align:left;vertical-align:top}
td{overflow-wrap:anywhere}
.facts td:first-child{color:var(--muted);white-space:nowrap}
"#;
