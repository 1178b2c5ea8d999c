//! The layering is kept by reading the source: `domain` is pure, the database (SQL, rusqlite,
//! the store, its threads) lives in `storage` alone, `web` and `cli` reach it only through
//! `service`, and no two modules of a layer use each other.

use std::collections::{BTreeMap, BTreeSet};
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

/// The module of a layer a file belongs to (`pages/tickets.rs` → `pages`), `None` for the
/// layer's own `mod.rs`.
fn module_of(path: &str) -> Option<String> {
    let first = path.split('/').next()?;
    if path == "mod.rs" {
        return None;
    }
    Some(first.trim_end_matches(".rs").to_string())
}

/// The modules of `layer` a file's code names: `crate::layer::m`, and — from a file directly
/// in the layer — `super::m` and `use super::{…, m, …}`.
fn named_modules(
    layer: &str,
    path: &str,
    code: &str,
    modules: &BTreeSet<String>,
) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let direct = !path.contains('/');
    let words = |s: &str| -> Vec<String> {
        s.split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect()
    };
    for m in modules {
        if code.contains(&format!("crate::{layer}::{m}::"))
            || code.contains(&format!("crate::{layer}::{m};"))
            || code.contains(&format!("crate::{layer}::{{{m}"))
        {
            found.insert(m.clone());
        }
        if direct && code.contains(&format!("super::{m}::")) {
            found.insert(m.clone());
        }
    }
    if direct {
        let mut rest = code;
        while let Some(i) = rest.find("use super::{") {
            let after = &rest[i + "use super::{".len()..];
            let end = after.find("};").unwrap_or(after.len());
            for w in words(&after[..end]) {
                if modules.contains(&w) {
                    found.insert(w);
                }
            }
            rest = &after[end..];
        }
    }
    found
}

/// Each module of the layer and the modules of the same layer it uses.
fn module_graph(layer: &str) -> BTreeMap<String, BTreeSet<String>> {
    let files = files_under(layer);
    let modules: BTreeSet<String> = files.iter().filter_map(|(p, _)| module_of(p)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, code) in &files {
        let Some(m) = module_of(path) else {
            continue;
        };
        let uses = named_modules(layer, path, code, &modules);
        graph
            .entry(m.clone())
            .or_default()
            .extend(uses.into_iter().filter(|u| *u != m));
    }
    graph
}

/// A cycle in the graph, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == node) {
            let mut cycle = path[i..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(c) = visit(node, graph, &mut Vec::new(), &mut done) {
            return Some(c);
        }
    }
    None
}

#[test]
fn no_two_modules_of_a_layer_use_each_other() {
    for layer in ["domain", "storage", "service", "web", "mail", "cli"] {
        let graph = module_graph(layer);
        assert!(
            find_cycle(&graph).is_none(),
            "{layer} has an import cycle: {:?}",
            find_cycle(&graph)
        );
    }
}

#[test]
fn the_checks_find_what_they_look_for() {
    assert!(has_word("let s: Store = x;", "Store"));
    assert!(!has_word("rustls::RootCertStore::empty()", "Store"));
    assert!(has_word("use crate::storage::Store;", "Store"));
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("c".into());
    assert!(find_cycle(&g).is_none());
    g.entry("c".into()).or_default().insert("a".into());
    assert_eq!(
        find_cycle(&g),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    let modules: BTreeSet<String> = ["intake".to_string(), "mail".to_string()].into();
    assert_eq!(
        named_modules(
            "service",
            "mail.rs",
            "use super::{Error, intake};",
            &modules
        ),
        BTreeSet::from(["intake".to_string()])
    );
}
