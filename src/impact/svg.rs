//! The charts, as hand-written inline SVG: text stays text (selectable, searchable, read by
//! screen readers, sized by the page's CSS), no fonts are embedded and nothing is fetched.
//!
//! Every chart is drawn in a viewBox [`W`] units wide, scaled to its box's width by the page;
//! labels are [`FONT`] units high, so at a phone's 390 CSS pixels they stay above 10 pixels.
//! Colours are CSS classes the page defines (`.before`, `.after`, `.up`, `.down`, ...).

use std::fmt::Write;

/// Width of every chart's viewBox.
pub const W: f64 = 400.0;
/// Label size, in viewBox units.
pub const FONT: f64 = 13.0;

/// Escapes text for XML (element content and attribute values).
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A chart being drawn: its height and its elements.
struct Svg {
    h: f64,
    body: String,
}

impl Svg {
    fn new(h: f64) -> Svg {
        Svg { h, body: String::new() }
    }

    fn rect(&mut self, class: &str, x: f64, y: f64, w: f64, h: f64, tip: &str) {
        let _ = write!(
            self.body,
            r#"<rect class="{class}" x="{x:.1}" y="{y:.1}" width="{:.1}" height="{:.1}"><title>{}</title></rect>"#,
            w.max(0.0),
            h.max(0.0),
            esc(tip)
        );
    }

    fn line(&mut self, class: &str, (x1, y1): (f64, f64), (x2, y2): (f64, f64)) {
        let _ = write!(
            self.body,
            r#"<line class="{class}" x1="{x1:.1}" y1="{y1:.1}" x2="{x2:.1}" y2="{y2:.1}"/>"#
        );
    }

    /// Text at (x, y); `anchor` is start, middle or end.
    fn text(&mut self, class: &str, x: f64, y: f64, anchor: &str, s: &str) {
        let _ = write!(
            self.body,
            r#"<text class="{class}" x="{x:.1}" y="{y:.1}" text-anchor="{anchor}">{}</text>"#,
            esc(s)
        );
    }

    fn finish(self, title: &str) -> String {
        format!(
            r#"<svg class="chart" viewBox="0 0 {W} {:.0}" role="img" aria-label="{t}" font-size="{FONT}"><title>{t}</title>{}</svg>"#,
            self.h,
            self.body,
            t = esc(title)
        )
    }
}

/// The largest of some counts, at least 1.
fn top(values: impl IntoIterator<Item = i64>) -> i64 {
    values.into_iter().max().unwrap_or(0).max(1)
}

/// A count for readers, thousands grouped: `244729` -> `244,729`.
pub fn count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// The width of a number's label as drawn, a little over what the page's sans serif takes (a
/// digit 0.64 em, a separator 0.32 em), so that a label that fits here fits in the browser.
fn width(label: &str) -> f64 {
    let em: f64 = label.chars().map(|c| if matches!(c, ',' | '.') { 0.33 } else { 0.65 }).sum();
    em * FONT
}

/// A count rounded to thousands or millions: `227049` -> `227k`, `1234567` -> `1.2M`, `45000`
/// -> `45k`; below 1,000 exact.
pub fn rounded(n: i64) -> String {
    let (value, unit) = match n.unsigned_abs() {
        a if a >= 1_000_000 => (n as f64 / 1e6, "M"),
        a if a >= 1_000 => (n as f64 / 1e3, "k"),
        _ => return n.to_string(),
    };
    let one = format!("{value:.1}");
    let text = if value.abs() >= 10.0 || one.ends_with(".0") { format!("{value:.0}") } else { one };
    format!("{text}{unit}")
}

/// A count in at most `room` pixels: exact (`9,870`) where it fits, else rounded (`227k`).
pub fn fit(n: i64, room: f64) -> String {
    let exact = count(n);
    if width(&exact) <= room {
        exact
    } else {
        rounded(n)
    }
}

/// Round steps for an axis up to `max`: the smallest of 1, 2, 5 times a power of ten that
/// gives at most four steps, and the values 0, step, 2 step, ... up to `max`.
fn ticks(max: i64) -> Vec<i64> {
    let max = max.max(1);
    let mut power = 1i64;
    let step = loop {
        if let Some(k) = [1, 2, 5].into_iter().map(|k| k * power).find(|k| max / k <= 4) {
            break k;
        }
        power *= 10;
    };
    (0..=max / step).map(|i| i * step).collect()
}

/// A percent for labels: `0.85` -> `85%`.
pub fn pct(x: f64) -> String {
    let p = x * 100.0;
    if (p - p.round()).abs() < 1e-9 {
        format!("{}%", p.round() as i64)
    } else {
        format!("{p:.1}%")
    }
}

/// A change in points: `0.05` -> `+5`, `-0.125` -> `-12.5`.
pub fn points(x: f64) -> String {
    let p = x * 100.0;
    let s = if (p - p.round()).abs() < 0.05 { format!("{}", p.round() as i64) } else { format!("{p:.1}") };
    if p > 0.0 {
        format!("+{s}")
    } else {
        s
    }
}

/// A cutoff line to draw on a distribution.
pub struct Cutoff<'a> {
    pub at: f64,
    pub label: &'a str,
    /// The pass line (drawn stronger).
    pub pass: bool,
    /// The compared side's policy (dashed), not this run's.
    pub before: bool,
}

/// Learners per 5-point bin of the course grade, before and after overlaid, with the
/// letter cutoffs and the pass line. `before` and `after` hold 20 counts each.
pub fn distribution(title: &str, before: &[i64], after: &[i64], cutoffs: &[Cutoff<'_>]) -> String {
    let (l, r, t, b) = (44.0, 22.0, 44.0, 44.0);
    let mut s = Svg::new(260.0);
    let (pw, ph) = (W - l - r, s.h - t - b);
    let n = before.len().max(after.len()).max(1);
    let max = top(before.iter().chain(after).copied());
    let y = |v: i64| t + ph - ph * v as f64 / max as f64;
    let x = |frac: f64| l + pw * frac;
    axis_y(&mut s, l, t, ph, max, W - r);
    for (class, counts, name) in [("before", before, "before"), ("after", after, "after")] {
        for (i, &v) in counts.iter().enumerate() {
            let (x0, x1) = (x(i as f64 / n as f64), x((i + 1) as f64 / n as f64));
            let tip = format!(
                "{name}: {v} learners with {}-{}",
                pct(i as f64 / n as f64),
                pct((i + 1) as f64 / n as f64)
            );
            s.rect(class, x0 + 1.0, y(v), x1 - x0 - 2.0, t + ph - y(v), &tip);
        }
    }
    for c in cutoffs {
        let class = match (c.pass, c.before) {
            (true, false) => "pass",
            (true, true) => "pass old",
            (false, false) => "cut",
            (false, true) => "cut old",
        };
        s.line(class, (x(c.at), t - 4.0), (x(c.at), t + ph));
        if !c.before {
            s.text("lbl", x(c.at), t - 7.0, "middle", c.label);
        }
    }
    for tick in 0..=5 {
        let f = tick as f64 / 5.0;
        s.text("tick", x(f), t + ph + 16.0, "middle", &pct(f));
    }
    s.text("axis", l + pw / 2.0, s.h - 8.0, "middle", "course grade");
    legend(&mut s, W - r, 13.0, &[("before", "before"), ("after", "after")]);
    s.finish(title)
}

/// The y axis: round counts from 0 up to the top one, with grid lines to `right`; labels
/// exact where they fit left of the plot (`l`), else rounded (`45k`).
fn axis_y(s: &mut Svg, l: f64, t: f64, ph: f64, max: i64, right: f64) {
    for v in ticks(max) {
        let y = t + ph - ph * v as f64 / max as f64;
        s.line("gridline", (l, y), (right, y));
        s.text("tick", l - 4.0, y + 4.0, "end", &fit(v, l - 6.0));
    }
}

/// A legend at the top right: (class, label) pairs, drawn right to left.
fn legend(s: &mut Svg, right: f64, y: f64, items: &[(&str, &str)]) {
    let mut x = right;
    for (class, label) in items.iter().rev() {
        let w = label.chars().count() as f64 * FONT * 0.6;
        s.text("lbl", x, y, "end", label);
        x -= w + 4.0;
        s.rect(class, x - 12.0, y - 10.0, 12.0, 12.0, label);
        x -= 24.0;
    }
}

/// Counts per bin of a change (bins `points` wide, by index: bin i is `[i, i+1) * points`),
/// drawn around zero: gains to the right, losses to the left.
pub fn change(title: &str, bins: &[(i64, i64)], points_wide: i64, what: &str) -> String {
    let (l, r, t, b) = (44.0, 24.0, 16.0, 44.0);
    let mut s = Svg::new(210.0);
    let (pw, ph) = (W - l - r, s.h - t - b);
    let reach = bins.iter().map(|(i, _)| if *i < 0 { -*i } else { *i + 1 }).max().unwrap_or(1).max(2);
    let max = top(bins.iter().map(|(_, n)| *n));
    let x = |i: i64| l + pw * (i + reach) as f64 / (2 * reach) as f64;
    let y = |v: i64| t + ph - ph * v as f64 / max as f64;
    axis_y(&mut s, l, t, ph, max, W - r);
    for &(i, n) in bins {
        let class = if i < 0 { "down" } else { "up" };
        let (lo, hi) = ((i * points_wide) as f64 / 100.0, ((i + 1) * points_wide) as f64 / 100.0);
        let tip = format!("{} {what} changed by {} to {} points", count(n), points(lo), points(hi));
        s.rect(class, x(i) + 1.0, y(n), x(i + 1) - x(i) - 2.0, t + ph - y(n), &tip);
    }
    s.line("zero", (x(0), t), (x(0), t + ph));
    // Ticks on multiples of a round step (in bins), through zero.
    let step = [1, 2, 5, 10, 20].into_iter().find(|k| reach / k <= 3).unwrap_or(reach);
    let mut i = -(reach / step) * step;
    while i <= reach {
        s.text("tick", x(i), t + ph + 16.0, "middle", &points((i * points_wide) as f64 / 100.0));
        i += step;
    }
    s.text("axis", l + pw / 2.0, s.h - 8.0, "middle", &format!("change, points ({what})"));
    s.finish(title)
}

/// A transition matrix: rows are the states before, columns after, each cell its count,
/// shaded by it; the cells where nothing changed are outlined.
pub fn matrix(title: &str, states: &[String], cell: &dyn Fn(&str, &str) -> i64) -> String {
    let n = states.len().max(1) as f64;
    let (l, t) = (92.0, 40.0);
    let size = ((W - l - 8.0) / n).min(56.0);
    let mut s = Svg::new(t + size * n + 30.0);
    let max = top(states.iter().flat_map(|a| states.iter().map(move |b| cell(a, b))));
    s.text("axis", l + size * n / 2.0, 14.0, "middle", "after →");
    s.text("axis", 4.0, t - 6.0, "start", "before ↓");
    for (j, to) in states.iter().enumerate() {
        s.text("lbl", l + size * (j as f64 + 0.5), t - 8.0, "middle", &clip(to, (size / 8.0) as usize));
    }
    for (i, from) in states.iter().enumerate() {
        let y = t + size * i as f64;
        s.text("lbl", l - 6.0, y + size / 2.0 + 4.0, "end", &clip(from, 12));
        for (j, to) in states.iter().enumerate() {
            let v = cell(from, to);
            let x = l + size * j as f64;
            // Shade by the square root: a few movers stay visible next to a large diagonal.
            let level =
                if v == 0 { 0 } else { 1 + ((v as f64 / max as f64).sqrt() * 4.0).floor().min(4.0) as i64 };
            let class = if i == j { format!("cell l{level} same") } else { format!("cell l{level}") };
            s.rect(&class, x, y, size, size, &format!("{} learners: {from} → {to}", count(v)));
            if v > 0 {
                let ink = if level >= 4 { "num inv" } else { "num" };
                s.text(ink, x + size / 2.0, y + size / 2.0 + 4.0, "middle", &fit(v, size - 4.0));
            }
        }
    }
    s.finish(title)
}

/// Text cut to `max` characters, an ellipsis marking the cut.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max.max(2) {
        return s.to_string();
    }
    let kept: String = s.chars().take(max.max(2) - 1).collect();
    format!("{kept}…")
}

/// One horizontal bar: its label, its value (signed allowed) and the text at its end.
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub note: String,
    pub tip: String,
    /// Drawn as a loss (red) even when its value is positive: a count of grades that fell.
    pub loss: bool,
}

/// Horizontal bars, one per item, from a zero line (negative values to the left).
pub fn bars(title: &str, items: &[Bar]) -> String {
    // Room on the right for the longest note (an average glyph is about 0.6 em wide).
    let note = items.iter().map(|b| b.note.chars().count()).max().unwrap_or(0) as f64;
    let (l, r, t, row) = (146.0, (note * FONT * 0.6 + 8.0).min(130.0), 8.0, 24.0);
    let mut s = Svg::new(t + row * items.len().max(1) as f64 + 8.0);
    let reach = items.iter().map(|b| b.value.abs()).fold(0.0, f64::max).max(1e-9);
    let negative = items.iter().any(|b| b.value < 0.0);
    let zero = if negative { l + (W - l - r) / 2.0 } else { l };
    let scale = if negative { (W - l - r) / 2.0 } else { W - l - r } / reach;
    for (i, b) in items.iter().enumerate() {
        let y = t + row * i as f64;
        s.text("lbl", l - 6.0, y + row / 2.0 + 4.0, "end", &clip(&b.label, 17));
        let w = b.value.abs() * scale;
        let (x, class) =
            if b.value < 0.0 { (zero - w, "down") } else { (zero, if b.loss { "down" } else { "up" }) };
        s.rect(class, x, y + 4.0, w, row - 8.0, &b.tip);
        let (tx, anchor) = if b.value < 0.0 { (x - 4.0, "end") } else { (x + w + 4.0, "start") };
        // A note that would run into the labels goes inside the zero line instead.
        let (tx, anchor) =
            if anchor == "end" && tx < l + 30.0 { (zero + 4.0, "start") } else { (tx, anchor) };
        s.text("num", tx, y + row / 2.0 + 4.0, anchor, &b.note);
    }
    s.line("zero", (zero, t), (zero, t + row * items.len().max(1) as f64));
    if items.is_empty() {
        s.text("lbl", W / 2.0, t + row / 2.0 + 4.0, "middle", "nothing changed");
    }
    s.finish(title)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert_eq!(esc(r#"<a href="x">&'"#), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
        assert_eq!((pct(0.85), pct(0.125), pct(1.0)), ("85%".into(), "12.5%".into(), "100%".into()));
        assert_eq!((points(0.05), points(-0.125), points(0.0)), ("+5".into(), "-12.5".into(), "0".into()));
        assert_eq!((clip("Homework", 8), clip("Homework 12", 8)), ("Homework".into(), "Homewor…".into()));
        let counts: Vec<String> = [0, 999, 1000, 244_729, 1_234_567, -4306].into_iter().map(count).collect();
        assert_eq!(counts, ["0", "999", "1,000", "244,729", "1,234,567", "-4,306"]);
        let short: Vec<String> = [999, 1000, 1500, 37_336, 227_049, 1_234_567, 2_000_000].map(rounded).into();
        assert_eq!(short, ["999", "1k", "1.5k", "37k", "227k", "1.2M", "2M"]);
    }

    #[test]
    fn axis_ticks_are_round_and_labels_fit() {
        assert_eq!(ticks(1), [0, 1]);
        assert_eq!(ticks(7), [0, 2, 4, 6]);
        assert_eq!(ticks(45_044), [0, 10_000, 20_000, 30_000, 40_000]);
        assert_eq!(ticks(90_650), [0, 20_000, 40_000, 60_000, 80_000]);
        assert_eq!(ticks(3_924), [0, 1_000, 2_000, 3_000]);
        // The y axis keeps 38 units left of the plot for its labels.
        for max in [1, 9, 3_924, 45_044, 90_650, 1_234_567, 987_654_321] {
            for v in ticks(max) {
                let label = fit(v, 38.0);
                assert!(width(&label) <= 38.0, "tick {v} of {max}: {label}");
            }
        }
        // A matrix cell of 43 units (seven states) keeps 39 for its number.
        for (v, label) in [(227_049, "227k"), (37_336, "37k"), (9_139, "9,139"), (350, "350")] {
            assert_eq!(fit(v, 39.0), label);
        }
    }

    #[test]
    fn charts_are_svg_with_their_title_and_escaped_text() {
        let cell = |a: &str, b: &str| if a == b { 3 } else { 1 };
        let states = vec!["A".to_string(), "<none>".to_string()];
        let m = matrix("Letters & more", &states, &cell);
        assert!(m.starts_with("<svg class=\"chart\"") && m.ends_with("</svg>"));
        assert!(m.contains("<title>Letters &amp; more</title>") && m.contains("&lt;none&gt;"));
        assert!(!m.contains("<none>"));
        let b = bars("Types", &[]);
        assert!(b.contains("nothing changed"), "an empty bar chart says so");
    }
}
