//! The layering is kept by reading the source: `domain` is pure, and `web` reaches storage
//! only through `service`.

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

fn files_under(sub: &str) -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(sub);
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(!files.is_empty(), "src/{sub} has files");
    files
        .into_iter()
        .map(|p| {
            (
                p.display().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect()
}

#[test]
fn domain_imports_no_web_sql_template_or_async_crate() {
    for (path, text) in files_under("domain") {
        let code: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        for banned in ["axum", "sqlx", "askama", "tokio", "reqwest", "tower"] {
            assert!(
                !code.contains(&format!("{banned}::")) && !code.contains(&format!("use {banned}")),
                "{path} uses {banned}"
            );
        }
        for banned in ["crate::storage", "crate::service", "crate::web"] {
            assert!(!code.contains(banned), "{path} reaches {banned}");
        }
    }
}

#[test]
fn web_reaches_storage_only_through_service() {
    for (path, text) in files_under("web") {
        assert!(
            !text.contains("crate::storage::Store")
                && !text.contains("storage::tickets")
                && !text.contains("storage::users"),
            "{path} reaches storage"
        );
        assert!(!text.contains("sqlx::"), "{path} uses SQL");
    }
    for (path, text) in files_under("cli") {
        assert!(
            !text.contains("sqlx::")
                && !text.contains("storage::tickets")
                && !text.contains("storage::users"),
            "{path} reaches storage"
        );
    }
}

#[test]
fn sql_lives_only_in_storage() {
    for sub in ["domain", "service", "web", "cli"] {
        for (path, text) in files_under(sub) {
            assert!(!text.contains("sqlx::query"), "{path} has SQL");
        }
    }
}
