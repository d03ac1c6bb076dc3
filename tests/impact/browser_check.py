"""Loads a `regrade report` page in headless Chromium and checks what a browser can tell.

    python3 browser_check.py INDEX_HTML PNG_DIR

Chromium (Debian's, CHROMIUM or /usr/bin/chromium) is driven over the DevTools protocol by
Playwright, in a fresh profile, with background networking off. At a desktop width (1280 CSS
pixels), a phone's (390) and a desktop window zoomed to 200% (640 CSS pixels at 2 device
pixels each, which is what browser zoom does to layout), it checks:

* no console error and no page error;
* no request but the page's own file (every other request is recorded, and aborted);
* every chart (svg.chart) has a non-empty bounding box, and there is at least one;
* no horizontal overflow: document.documentElement.scrollWidth <= innerWidth;
* text stays readable: every text element is at least MIN_TEXT_PX CSS pixels high as drawn
  (for chart text: its font size times the chart's scale), and lies inside the viewport
  horizontally (or inside a scrolling box) and inside its chart (a matrix number inside its cell).

Writes one full-page PNG per width into PNG_DIR. Prints what it measured; exits 1 listing
every failure.
"""

import json
import os
import sys
import tempfile

from playwright.sync_api import sync_playwright

PAGE, PNG_DIR = os.path.abspath(sys.argv[1]), sys.argv[2]
URL = "file://" + PAGE
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
MIN_TEXT_PX = 10.0
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
VIEWS = [
    ("desktop", 1280, 900, 1),
    ("phone", 390, 844, 2),
    ("zoom200", 640, 450, 2),
]

# Measured in the page: charts, overflow, and every piece of text.
MEASURE = """() => {
  const out = {charts: [], scrollWidth: document.documentElement.scrollWidth, innerWidth: innerWidth, text: []};
  for (const svg of document.querySelectorAll('svg.chart')) {
    const r = svg.getBoundingClientRect();
    out.charts.push({w: r.width, h: r.height, label: svg.getAttribute('aria-label')});
  }
  const scrolls = (el) => { for (let e = el; e; e = e.parentElement) {
      if (e.classList && e.classList.contains('scroll')) return true; } return false; };
  for (const t of document.querySelectorAll('svg.chart text')) {
    const svg = t.ownerSVGElement, m = t.getScreenCTM(), r = t.getBoundingClientRect(), s = svg.getBoundingClientRect();
    const px = parseFloat(getComputedStyle(t).fontSize) * Math.abs(m.a);
    // A matrix's number must lie inside its cell, the rect drawn just before it.
    const before = t.previousElementSibling;
    const cell = t.classList.contains('num') && before && before.classList.contains('cell') ? before.getBoundingClientRect() : s;
    const inside = r.left >= s.left - 1 && r.right <= s.right + 1 && r.top >= s.top - 1 && r.bottom <= s.bottom + 1
      && r.left >= cell.left - 1 && r.right <= cell.right + 1;
    out.text.push({text: t.textContent, px: px, left: r.left, right: r.right, inside: inside, scroll: false});
  }
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!n.textContent.trim() || el.closest('svg') || el.closest('title')) continue;
    const range = document.createRange(); range.selectNodeContents(n);
    const r = range.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    out.text.push({text: n.textContent.trim().slice(0, 40), px: parseFloat(getComputedStyle(el).fontSize),
                   left: r.left, right: r.right, inside: true, scroll: scrolls(el)});
  }
  return out;
}"""


def check(page, name):
    failures = []
    page.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")
    m = page.evaluate(MEASURE)
    if not m["charts"]:
        failures.append(f"{name}: no chart on the page")
    for c in m["charts"]:
        if not (c["w"] > 0 and c["h"] > 0):
            failures.append(f"{name}: chart '{c['label']}' has an empty box {c['w']}x{c['h']}")
    if m["scrollWidth"] > m["innerWidth"]:
        failures.append(f"{name}: horizontal overflow: scrollWidth {m['scrollWidth']} > innerWidth {m['innerWidth']}")
    small = [t for t in m["text"] if t["px"] < MIN_TEXT_PX]
    if small:
        worst = min(small, key=lambda t: t["px"])
        failures.append(f"{name}: {len(small)} texts under {MIN_TEXT_PX}px, smallest {worst['px']:.1f}px: {worst['text']!r}")
    out = [t for t in m["text"] if not t["scroll"] and (t["left"] < -1 or t["right"] > m["innerWidth"] + 1)]
    if out:
        failures.append(f"{name}: {len(out)} texts outside the viewport, e.g. {out[0]['text']!r}")
    clipped = [t for t in m["text"] if not t["inside"]]
    if clipped:
        failures.append(f"{name}: {len(clipped)} chart texts outside their chart (or cell), e.g. {clipped[0]['text']!r}")
    summary = {
        "view": name, "charts": len(m["charts"]), "texts": len(m["text"]),
        "smallest_text_px": round(min(t["px"] for t in m["text"]), 1) if m["text"] else None,
        "scrollWidth": m["scrollWidth"], "innerWidth": m["innerWidth"],
    }
    return failures, summary


def main():
    os.makedirs(PNG_DIR, exist_ok=True)
    failures, summaries, requests, console = [], [], [], []
    with sync_playwright() as pw:
        for name, width, height, scale in VIEWS:
            profile = tempfile.mkdtemp(prefix="regrade-chromium-")
            ctx = pw.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True, args=ARGS,
                viewport={"width": width, "height": height}, device_scale_factor=scale,
            )
            page = ctx.new_page()
            page.on("console", lambda msg: console.append(f"{msg.type}: {msg.text}") if msg.type == "error" else None)
            page.on("pageerror", lambda err: console.append(f"pageerror: {err}"))

            def route(r):
                requests.append(r.request.url)
                if r.request.url == URL:
                    r.continue_()
                else:
                    r.abort()

            ctx.route("**/*", route)
            page.goto(URL, wait_until="load")
            f, s = check(page, name)
            failures += f
            summaries.append(s)
            page.screenshot(path=os.path.join(PNG_DIR, f"{name}.png"), full_page=True)
            ctx.close()
    others = sorted({u for u in requests if u != URL})
    if others:
        failures.append(f"requests beyond the page's own file: {others}")
    if console:
        failures.append(f"console errors: {console}")
    print(json.dumps({"views": summaries, "requests": sorted(set(requests))}, indent=1))
    if failures:
        print("\n".join(failures), file=sys.stderr)
        sys.exit(1)


main()
