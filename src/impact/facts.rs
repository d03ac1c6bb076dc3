//! The runs' own facts on the page, from their manifests: inputs, policy, version, release
//! profile, counts, warnings and failures.

use std::fmt::Write;

use serde_json::Value;

use super::source::RunFolder;
use super::svg::esc;

/// A two- or three-column table: what, this run, and the baseline run when there is one.
pub(crate) fn table(run: &RunFolder, baseline: Option<&RunFolder>) -> String {
    let runs: Vec<&RunFolder> = std::iter::once(run).chain(baseline).collect();
    let mut s =
        String::from("<div class=\"scroll\"><table class=\"facts\"><thead><tr><th scope=\"col\"></th>");
    for (i, r) in runs.iter().enumerate() {
        let role = if i == 0 { "this run" } else { "baseline" };
        let _ = write!(s, "<th scope=\"col\">{role}: {}</th>", esc(&r.name()));
    }
    s.push_str("</tr></thead><tbody>");
    for (what, get) in FACTS {
        let cells: Vec<String> = runs.iter().map(|r| get(&r.manifest)).collect();
        let _ = write!(s, "<tr><td>{what}</td>");
        for c in cells {
            let _ = write!(s, "<td>{}</td>", esc(&c));
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table></div>");
    for r in &runs {
        s.push_str(&courses(r));
    }
    s
}

type Fact = (&'static str, fn(&Value) -> String);

/// The rows of the table: a name and how to read it from a manifest.
const FACTS: &[Fact] = &[
    ("regrade version", |m| text(&m["tool_version"])),
    ("started", |m| text(&m["started_at"])),
    ("took", |m| format!("{:.1} s", m["seconds"].as_f64().unwrap_or(0.0))),
    ("input", |m| text(&m["options"]["input"])),
    ("output", |m| text(&m["options"]["output"])),
    ("rescoring policy", |m| text(&m["options"]["rescore"])),
    ("grading policy", |m| match m["options"]["policy"].as_object() {
        Some(p) => format!("what-if {} (SHA-1 {})", text(&p["path"]), text(&p["sha1"])),
        None => "each course version's own".into(),
    }),
    ("course version", |m| text(&m["options"]["course_version"])),
    ("release profile", |m| text(&m["options"]["compat"])),
    ("as of", |m| text(&m["options"]["as_of"])),
    ("courses graded / failed", |m| {
        format!("{} / {}", text(&m["totals"]["courses"]), text(&m["totals"]["courses_failed"]))
    }),
    ("learners (with errors)", |m| {
        format!("{} ({})", text(&m["totals"]["learners"]), text(&m["totals"]["learner_errors"]))
    }),
    ("subsection / course grade rows", |m| {
        format!("{} / {}", text(&m["totals"]["subsection_rows"]), text(&m["totals"]["course_rows"]))
    }),
    ("input rows read", |m| text(&m["totals"]["rows_read"])),
    ("warnings", |m| match m["totals"]["warnings"].as_object() {
        Some(w) if !w.is_empty() => {
            w.iter().map(|(k, v)| format!("{k}: {}", text(v))).collect::<Vec<_>>().join("; ")
        }
        _ => "none".into(),
    }),
    ("failed courses", |m| match m["failed"].as_array() {
        Some(f) if !f.is_empty() => f
            .iter()
            .map(|c| format!("{}: {}", text(&c["course_id"]), text(&c["error"])))
            .collect::<Vec<_>>()
            .join("; "),
        _ => "none".into(),
    }),
];

/// A JSON value as text (strings without quotes, null as a dash).
fn text(v: &Value) -> String {
    match v {
        Value::Null => "–".into(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(", "),
        Value::Number(n) if n.is_i64() => super::svg::count(n.as_i64().unwrap_or_default()),
        other => other.to_string(),
    }
}

/// The run's courses: version graded, policy hash, learners.
fn courses(run: &RunFolder) -> String {
    let mut s = format!(
        "<h3>Courses of {}</h3><div class=\"scroll\"><table><thead><tr><th scope=\"col\">course</th>\
         <th scope=\"col\">version</th><th scope=\"col\">policy hash</th><th scope=\"col\">learners</th></tr></thead><tbody>",
        esc(&run.name())
    );
    for c in run.manifest["courses"].as_array().into_iter().flatten() {
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&text(&c["course_id"])),
            esc(&text(&c["course_version"])),
            esc(&text(&c["grading_policy_hash"])),
            esc(&text(&c["learners"]))
        );
    }
    s.push_str("</tbody></table></div>");
    s
}
