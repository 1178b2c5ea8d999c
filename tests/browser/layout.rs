//! The main pages at a desktop width (1280 px) and a phone width (375 px): a screenshot of
//! each (written to `target/screenshots/`), no horizontal scrolling, tap targets at least
//! 40 px high, and nothing loaded from another origin (the one script is our own
//! `/static/app.js`).

use crate::app::App;
use crate::harness::{Browser, say, screenshot_dir};
use crate::pages::{Who, become_, pages, seed};
use serde_json::Value;

pub const WIDTHS: [u32; 2] = [1280, 375];

/// Problems a person would meet on the current page at the current width.
const LAYOUT_PROBLEMS: &str = r#"
const problems = [];
const doc = document.documentElement;
if (doc.scrollWidth > window.innerWidth) {
  const wide = [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
    .slice(0, 5)
    .map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : '') + ' → ' + Math.round(e.getBoundingClientRect().right) + ' px');
  problems.push('scrolls sideways: ' + doc.scrollWidth + ' px of content in ' + window.innerWidth + ' px (' + wide.join(', ') + ')');
}
for (const el of document.querySelectorAll('main *')) {
  const x = getComputedStyle(el).overflowX;
  if ((x === 'auto' || x === 'scroll') && el.scrollWidth > el.clientWidth + 1) {
    problems.push(`${el.tagName.toLowerCase()}.${el.className} scrolls sideways inside: ${el.scrollWidth} px of content in ${el.clientWidth} px`);
  }
}
// Nothing from elsewhere (fonts, scripts, CDNs), and no script but our own one file.
for (const r of performance.getEntriesByType('resource')) {
  if (!r.name.startsWith(location.origin + '/')) problems.push('loads from elsewhere: ' + r.name);
}
for (const s of document.scripts) {
  if (s.src !== location.origin + '/static/app.js') problems.push('runs a script: ' + (s.src || 'inline'));
}
const targets = 'a[href], button, input:not([type=hidden]), select, textarea, summary';
for (const el of document.querySelectorAll(`main :is(${targets}), header :is(${targets})`)) {
  const r = el.getBoundingClientRect();
  if (r.width === 0 && r.height === 0) continue; // not rendered (e.g. inside closed <details>)
  if (el.closest('.sr-only')) continue;
  if (r.height < 40) {
    const what = (el.innerText || el.value || el.name || el.id || '').trim().slice(0, 40);
    problems.push(`${el.tagName.toLowerCase()} "${what}" is ${Math.round(r.height)} px high`);
  }
}
return problems;
"#;

pub async fn layout_problems(b: &Browser) -> Vec<String> {
    match b.js(LAYOUT_PROBLEMS).await {
        Value::Array(a) => a
            .into_iter()
            .map(|v| v.as_str().unwrap_or_default().to_string())
            .collect(),
        other => panic!("layout check returned {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn main_pages_are_usable_at_desktop_and_phone_widths() {
    let app = App::spawn().await;
    let Some(b) = Browser::open(&app.base, WIDTHS[0]).await else {
        return;
    };
    let seeded = seed(&app).await;
    let dir = screenshot_dir();
    let mut who = Who::Nobody;
    let mut problems = Vec::new();
    for page in pages(&seeded) {
        become_(&b, &seeded, page.who, &mut who).await;
        b.goto(&page.path).await;
        for width in WIDTHS {
            b.resize(width, 900).await;
            let file = dir.join(format!("{}-{width}.png", page.name));
            b.screenshot_full_page(&file, width).await;
            // Forms folded in <details> count too: open them for the checks (and a picture).
            let folded = b
                .js(
                    "const d = document.querySelectorAll('details:not([open])'); \
                     d.forEach(x => x.open = true); return d.length",
                )
                .await;
            if folded.as_u64().unwrap_or(0) > 0 {
                let file = dir.join(format!("{}-{width}-desplegado.png", page.name));
                b.screenshot_full_page(&file, width).await;
            }
            for p in layout_problems(&b).await {
                problems.push(format!("{} at {width} px: {p}", page.path));
            }
            b.goto(&page.path).await;
        }
        b.resize(WIDTHS[0], 900).await;
    }
    say(&format!("screenshots written to {}", dir.display()));
    b.close().await;
    assert!(
        problems.is_empty(),
        "layout problems:\n{}",
        problems.join("\n")
    );
}
