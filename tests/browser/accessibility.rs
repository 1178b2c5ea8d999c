//! Accessibility: every field has a label, the pages work with the keyboard alone, and
//! axe-core (pinned in package.json, injected through WebDriver) finds no serious or critical
//! violation on the main pages.

use crate::app::{App, PASSWORD};
use crate::harness::{Browser, in_ci, say};
use crate::pages::{Who, become_, pages, seed};
use fantoccini::key::Key;
use serde_json::Value;
use soporte::domain::user::Role;
use std::path::Path;

/// Fields (and buttons) a screen reader could not name.
const UNLABELLED: &str = r#"
const bad = [];
for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
  const label = [...el.labels].map(l => l.innerText.trim()).join(' ')
    || el.getAttribute('aria-label') || '';
  if (!label) bad.push(`${el.tagName.toLowerCase()} name=${el.name} id=${el.id}`);
}
for (const el of document.querySelectorAll('button, a[href], summary')) {
  if (!(el.innerText || el.getAttribute('aria-label') || '').trim()) bad.push(`${el.tagName.toLowerCase()} without text`);
}
return bad;
"#;

/// Runs axe-core on the page and returns its serious and critical violations.
const RUN_AXE: &str = r#"
const done = arguments[arguments.length - 1];
axe.run(document, { resultTypes: ['violations'] })
  .then(r => done({
    rules: r.passes.length + r.violations.length + r.incomplete.length,
    serious: r.violations
      .filter(v => v.impact === 'serious' || v.impact === 'critical')
      .map(v => `${v.impact} ${v.id}: ${v.help} — ` + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | ')),
  }))
  .catch(e => done({ rules: 0, serious: ['axe failed: ' + e] }));
"#;

fn axe_source() -> Option<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("node_modules/axe-core/axe.min.js");
    match std::fs::read_to_string(&path) {
        Ok(s) => Some(s),
        Err(e) if in_ci() => panic!(
            "axe-core is required under CI ({}: {e}); .ci/run installs it with npm ci",
            path.display()
        ),
        Err(_) => {
            say("SKIPPED (axe-core check: node_modules/axe-core missing, run `npm ci`; CI unset)");
            None
        }
    }
}

fn strings(v: Value) -> Vec<String> {
    match v {
        Value::Array(a) => a
            .into_iter()
            .map(|x| x.as_str().map(str::to_string).unwrap_or(x.to_string()))
            .collect(),
        other => vec![format!("unexpected result: {other}")],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn main_pages_label_every_field_and_pass_axe() {
    let app = App::spawn().await;
    let Some(b) = Browser::open(&app.base, 1280).await else {
        return;
    };
    let axe = axe_source();
    let seeded = seed(&app).await;
    let mut who = Who::Nobody;
    let mut problems = Vec::new();
    let mut csp_checked = false;
    for page in pages(&seeded) {
        become_(&b, &seeded, page.who, &mut who).await;
        b.goto(&page.path).await;
        b.js("document.querySelectorAll('details').forEach(d => d.open = true); return null")
            .await;
        for p in strings(b.js(UNLABELLED).await) {
            problems.push(format!("{}: {p}", page.path));
        }
        let Some(axe) = &axe else { continue };
        if !csp_checked {
            // The page's CSP forbids inline script: a script element added to the page does
            // not run. WebDriver's execute is not page script, so axe can still be injected.
            let ran = b
                .js("const s = document.createElement('script'); \
                     s.textContent = 'window.__inlineRan = true'; \
                     document.head.appendChild(s); return window.__inlineRan === true")
                .await;
            assert_eq!(ran, Value::Bool(false), "the CSP must block inline script");
            csp_checked = true;
        }
        b.js(&format!("{axe}\nreturn null")).await;
        assert_eq!(
            b.js("return typeof window.axe").await,
            "object",
            "axe-core was injected into {}",
            page.path
        );
        let found = b
            .client
            .execute_async(RUN_AXE, Vec::new())
            .await
            .expect("axe run");
        let rules = found["rules"].as_u64().unwrap_or(0);
        assert!(
            rules > 20,
            "axe checked only {rules} rules on {}",
            page.path
        );
        for p in strings(found["serious"].clone()) {
            problems.push(format!("{}: {p}", page.path));
        }
    }
    b.close().await;
    assert!(
        problems.is_empty(),
        "accessibility problems:\n{}",
        problems.join("\n")
    );
}

/// Whether the focused element shows a visible focus ring.
async fn focus_is_visible(b: &Browser) -> bool {
    b.js("const s = getComputedStyle(document.activeElement); \
          return s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2")
        .await
        == Value::Bool(true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keyboard_alone_signs_in_registers_and_assigns_a_ticket() {
    let app = App::spawn().await;
    let Some(b) = Browser::open(&app.base, 1280).await else {
        return;
    };
    app.user(
        Role::Dispatcher,
        "Carla Mendoza",
        "carla.mendoza@miempresa.com",
        "",
    )
    .await;
    app.user(
        Role::Technician,
        "Ana Quispe",
        "ana.quispe@miempresa.com",
        "Redes",
    )
    .await;
    let tab = char::from(Key::Tab).to_string();
    let enter = char::from(Key::Enter).to_string();

    b.goto("/login").await;
    // The first Tab reaches the skip link, which jumps to the form.
    b.keys(&tab).await;
    assert_eq!(
        b.js("return document.activeElement.textContent").await,
        "Saltar al contenido"
    );
    assert!(focus_is_visible(&b).await, "the skip link shows focus");
    b.keys(&enter).await;
    b.tab_to("#email").await;
    assert!(focus_is_visible(&b).await, "the e-mail field shows focus");
    b.keys("carla.mendoza@miempresa.com").await;
    b.keys(&tab).await;
    b.keys(PASSWORD).await;
    b.keys(&enter).await;
    b.wait_path("/").await;
    b.wait_text("Carla Mendoza").await;

    // Open the hand-made ticket form, fill it, and send it with Enter on the button.
    b.tab_to("details.create summary").await;
    assert!(focus_is_visible(&b).await, "the form toggle shows focus");
    b.keys(&enter).await;
    b.tab_to("#from").await;
    b.keys("cliente@dominio.com").await;
    b.keys(&tab).await;
    b.keys("Problema de red").await;
    b.keys(&tab).await;
    b.keys("No hay conexión").await;
    b.tab_to("details.create button[type=submit]").await;
    b.keys(&enter).await;
    b.wait_text("registrada.").await;
    assert!(b.path().await.starts_with("/tickets/"));

    // Assign it: the technician is chosen with the arrow keys, then Derivar with Enter.
    b.tab_to("#assign_tech").await;
    b.keys(&char::from(Key::Down).to_string()).await;
    assert_eq!(
        b.js("const s = document.querySelector('#assign_tech'); return s.options[s.selectedIndex].text")
            .await,
        "Ana Quispe (Redes)"
    );
    b.tab_to("form[action$='/assign'] button").await;
    b.keys(&enter).await;
    b.wait_text("Incidencia derivada.").await;
    b.wait_text("Asignado").await;
    b.close().await;
}

/// Unlabelled fields and axe-core's serious or critical violations on the current page (for
/// pages reached only by a form, such as a conflict or a confirmation). Without axe-core
/// outside CI, only the labels are checked.
pub async fn page_problems(b: &Browser) -> Vec<String> {
    let mut problems = strings(b.js(UNLABELLED).await);
    if let Some(axe) = axe_source() {
        b.js(&format!("{axe}\nreturn null")).await;
        let found = b
            .client
            .execute_async(RUN_AXE, Vec::new())
            .await
            .expect("axe run");
        problems.extend(strings(found["serious"].clone()));
    }
    problems
}
