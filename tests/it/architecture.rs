//! The layering is kept by reading the source: `domain` is pure, the database (SQL, rusqlite,
//! the store, its threads) lives in `storage` alone, `web`, `cli` and `mail` reach it only
//! through `service`, and the modules of each layer use each other one way only.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// (path relative to `src/<sub>`, code without comment lines) of every file under `src/<sub>`.
fn files_under(sub: &str) -> Vec<(String, String)> {
    let root = src().join(sub);
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(!files.is_empty(), "src/{sub} has files");
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let code: String = text
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            (p.strip_prefix(&root).unwrap().display().to_string(), code)
        })
        .collect()
}

#[test]
fn domain_imports_no_web_sql_template_or_async_crate() {
    for (path, code) in files_under("domain") {
        for banned in [
            "axum", "sqlx", "askama", "tokio", "reqwest", "tower", "rusqlite", "futures",
        ] {
            assert!(
                !code.contains(&format!("{banned}::")) && !code.contains(&format!("use {banned}")),
                "domain/{path} uses {banned}"
            );
        }
        for banned in [
            "crate::storage",
            "crate::service",
            "crate::web",
            "crate::cli",
        ] {
            assert!(!code.contains(banned), "domain/{path} reaches {banned}");
        }
    }
}

/// Whether `word` stands in `code` as a whole identifier.
fn has_word(code: &str, word: &str) -> bool {
    code.match_indices(word).any(|(i, _)| {
        let before = code[..i].chars().next_back();
        let after = code[i + word.len()..].chars().next();
        let ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        !ident(before) && !ident(after)
    })
}

#[test]
fn web_and_cli_reach_the_database_only_through_service() {
    for layer in ["web", "cli", "mail"] {
        for (path, code) in files_under(layer) {
            for banned in ["storage::", "sqlx::"] {
                assert!(
                    !code.contains(banned),
                    "{layer}/{path} reaches the database ({banned})"
                );
            }
            for banned in ["Store", "Writer", "rusqlite"] {
                assert!(
                    !has_word(&code, banned),
                    "{layer}/{path} reaches the database ({banned})"
                );
            }
        }
    }
}

#[test]
fn the_database_and_its_threads_live_only_in_storage() {
    for layer in ["domain", "service", "web", "cli", "mail"] {
        for (path, code) in files_under(layer) {
            for banned in ["sqlx::query", "rusqlite", "Checkpointer", "begin_with("] {
                assert!(!code.contains(banned), "{layer}/{path} has {banned}");
            }
        }
    }
    // The use cases hand every write to storage's writer: no threads of their own.
    for layer in ["domain", "service", "cli"] {
        for (path, code) in files_under(layer) {
            assert!(
                !code.contains("spawn_blocking"),
                "{layer}/{path} has spawn_blocking"
            );
        }
    }
}

/// The module a file holds: `src/web/pages/tickets.rs` is `web::pages::tickets`,
/// `src/web/pages/mod.rs` is `web::pages`.
fn module_path(path: &Path) -> Vec<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let rel = path.strip_prefix(&src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// `super::{a, b::{c, d as e}}` → `super::a`, `super::b::c`, `super::b::d`.
fn expand_use(tree: &str) -> Vec<String> {
    // Aliases off first (` as name` up to the next `,`, `}` or the end), then spaces.
    let mut plain = tree.to_string();
    while let Some(i) = plain.find(" as ") {
        let end = plain[i..]
            .find([',', '}'])
            .map(|e| i + e)
            .unwrap_or(plain.len());
        plain.replace_range(i..end, "");
    }
    let tree: String = plain.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(open) = tree.find('{') else {
        return vec![tree];
    };
    let close = tree.rfind('}').unwrap();
    let prefix = &tree[..open];
    let (mut parts, mut depth, mut start) = (Vec::new(), 0, open + 1);
    for (i, c) in tree.char_indices().take(close).skip(open + 1) {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&tree[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&tree[start..close]);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .flat_map(expand_use)
        .map(|p| format!("{prefix}{p}"))
        .collect()
}

/// A file's code without comments and its `#[cfg(test)]` module (at the end of each file).
fn code_of(text: &str) -> String {
    text.split("#[cfg(test)]")
        .next()
        .unwrap()
        .lines()
        .map(|l| match l.find("//") {
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every path a file's code names: its `use` trees expanded, and paths written in the code
/// from `crate::`, `super::` or `self::`.
fn paths_named(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("use ") {
        let at_start = rest[..i]
            .chars()
            .next_back()
            .is_none_or(|c| c.is_whitespace() || c == ';' || c == '{' || c == '}');
        let end = rest[i..].find(';').map(|e| i + e).unwrap_or(rest.len());
        if at_start {
            paths.extend(expand_use(&rest[i + 4..end]));
        }
        rest = &rest[end.min(rest.len())..];
        if rest.starts_with(';') {
            rest = &rest[1..];
        }
    }
    for start in ["crate::", "super::", "self::"] {
        paths.extend(paths_from(code, start).map(str::to_string));
    }
    paths
}

/// The paths written in `code` that begin with `start` (a whole word, not the tail of another
/// path).
fn paths_from<'a>(code: &'a str, start: &'a str) -> impl Iterator<Item = &'a str> {
    let part = |c: char| c.is_alphanumeric() || c == '_' || c == ':';
    code.match_indices(start).filter_map(move |(at, _)| {
        if code[..at].chars().next_back().is_some_and(part) {
            return None;
        }
        let len = code[at..].find(|c| !part(c)).unwrap_or(code.len() - at);
        Some(code[at..at + len].trim_end_matches(':'))
    })
}

/// The module a path names, seen from `module`: the longest known module it starts with.
fn target(module: &[String], path: &str, known: &[Vec<String>]) -> Option<Vec<String>> {
    let mut segments = path.split("::").peekable();
    let mut base: Vec<String> = match *segments.peek()? {
        "crate" => {
            segments.next();
            Vec::new()
        }
        "self" => {
            segments.next();
            module.to_vec()
        }
        "super" => {
            let mut base = module.to_vec();
            while segments.peek() == Some(&"super") {
                segments.next();
                base.pop();
            }
            base
        }
        _ => return None,
    };
    base.extend(segments.map(str::to_string));
    known
        .iter()
        .filter(|m| base.starts_with(m))
        .max_by_key(|m| m.len())
        .cloned()
}

/// Which module of `layer` uses which (`web::pages::tickets` → `web::extract`). A parent
/// module and the modules inside it are one unit here (a child takes its parent's shared
/// types, and the parent wires its children together), so only modules side by side or
/// further apart count.
fn uses_in(layer: &str) -> BTreeSet<(String, String)> {
    let root = src().join(layer);
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let modules: Vec<(Vec<String>, String)> = files
        .iter()
        .map(|p| (module_path(p), std::fs::read_to_string(p).unwrap()))
        .collect();
    let known: Vec<Vec<String>> = modules.iter().map(|(m, _)| m.clone()).collect();
    let related = |a: &[String], b: &[String]| a.starts_with(b) || b.starts_with(a);
    let mut edges: BTreeSet<(String, String)> = Default::default();
    for (module, text) in &modules {
        let code = code_of(text);
        let paths = paths_named(&code);
        // A module brought in by `use` is then named by its last segment (`pages::tickets::…`
        // after `use super::pages`).
        let aliases: Vec<(String, Vec<String>)> = paths
            .iter()
            .filter_map(|p| {
                let t = target(module, p, &known)?;
                let last = p.rsplit("::").next()?;
                (t.last().map(String::as_str) == Some(last)).then(|| (format!("{last}::"), t))
            })
            .collect();
        let mut targets: Vec<Vec<String>> = paths
            .iter()
            .filter_map(|p| target(module, p, &known))
            .collect();
        for (alias, base) in &aliases {
            for path in paths_from(&code, alias) {
                let mut full = base.clone();
                full.extend(path.split("::").skip(1).map(str::to_string));
                targets.extend(
                    known
                        .iter()
                        .filter(|m| full.starts_with(m))
                        .max_by_key(|m| m.len())
                        .cloned(),
                );
            }
        }
        for t in targets {
            if !related(module, &t) {
                edges.insert((module.join("::"), t.join("::")));
            }
        }
    }
    edges
}

/// Every loop of uses among `edges`, each once, from its first module in name order.
fn loops_in(edges: &BTreeSet<(String, String)>) -> Vec<String> {
    // A loop is a path from a module back to itself.
    let next = |m: &str| -> Vec<String> {
        edges
            .iter()
            .filter(|(a, _)| a == m)
            .map(|(_, b)| b.clone())
            .collect()
    };
    let starts: BTreeSet<&String> = edges.iter().map(|(a, _)| a).collect();
    let mut loops = Vec::new();
    for start in starts {
        let mut stack = vec![vec![start.clone()]];
        while let Some(trail) = stack.pop() {
            for n in next(trail.last().unwrap()) {
                // Each loop once: from its first module in name order.
                if &n == start && trail.iter().all(|m| m >= start) {
                    loops.push(format!("{} → {start}", trail.join(" → ")));
                } else if !trail.contains(&n) {
                    let mut longer = trail.clone();
                    longer.push(n);
                    stack.push(longer);
                }
            }
        }
    }
    loops
}

/// No two modules of a layer use each other, directly or round a longer loop: what renders
/// errors must not need the pages, the pages need the error renderer; intake and mail share
/// the notices instead of calling each other.
#[test]
fn the_modules_of_each_layer_use_each_other_one_way_only() {
    let web = uses_in("web");
    for (a, b) in [
        ("web::pages::tickets", "web::extract"),
        ("web::api::dashboard", "web::pages::dashboard"),
        ("web::routes", "web::pages::tickets"),
    ] {
        assert!(
            web.contains(&(a.into(), b.into())),
            "the reader finds that {a} uses {b}: {web:#?}"
        );
    }
    let service = uses_in("service");
    assert!(service.contains(&("service::mail".into(), "service::tickets".into())));
    for layer in ["domain", "storage", "service", "web", "mail", "cli"] {
        let loops = loops_in(&uses_in(layer));
        assert!(
            loops.is_empty(),
            "modules of {layer}/ use each other: {loops:#?}"
        );
    }
}

#[test]
fn the_loop_finder_finds_a_loop() {
    let mut edges: BTreeSet<(String, String)> = [("a", "b"), ("b", "c")]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert!(loops_in(&edges).is_empty());
    edges.insert(("c".into(), "a".into()));
    assert_eq!(loops_in(&edges), ["a → b → c → a"]);
}
