//! The layers of `src/`, checked: each top-level module uses only those below it, so the
//! import graph has no cycle, and the second SQLite executor (rusqlite) stays inside storage.
//! `docs/architecture.md` draws the same order.

/// The top-level modules, top first: a module may use those after it, never one before it.
/// The HTTP edges, then the call, then storage, settings and the domain at the bottom.
const LAYERS: &[&str] = &[
    "app",
    "admin",
    "ops",
    "providers",
    "http",
    "state",
    "call",
    "import",
    "outbound",
    "metrics",
    "storage",
    "config",
    "sandbox",
    "telemetry",
    "domain",
];

/// Every `.rs` file under `dir`, with its path relative to `src/`.
fn sources(dir: &std::path::Path, found: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            let src = concat!(env!("CARGO_MANIFEST_DIR"), "/src/");
            let relative = path.to_string_lossy().trim_start_matches(src).to_owned();
            found.push((relative, text));
        }
    }
}

/// The code of a file without its comments and its unit tests (which may reach anywhere).
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(text);
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules a file's code names through `crate::`.
fn uses(code: &str) -> std::collections::BTreeSet<&str> {
    code.match_indices("crate::")
        .map(|(at, _)| {
            let rest = &code[at + "crate::".len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .collect()
}

fn files() -> Vec<(String, String)> {
    let mut found = Vec::new();
    sources(
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src")),
        &mut found,
    );
    assert!(found.len() > 50, "src/ was read: {} files", found.len());
    found
}

#[test]
fn every_top_level_module_uses_only_the_layers_below_it() {
    let mut upward = Vec::new();
    for (path, text) in files() {
        let top = path.split('/').next().unwrap().trim_end_matches(".rs");
        if matches!(top, "lib" | "main" | "layers" | "bin") {
            continue;
        }
        let Some(level) = LAYERS.iter().position(|l| *l == top) else {
            panic!("{path}: top-level module `{top}` has no place in LAYERS");
        };
        for used in uses(&code(&text)) {
            if let Some(used_level) = LAYERS.iter().position(|l| *l == used)
                && used_level < level
            {
                upward.push(format!("{path} uses crate::{used}"));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "uses of a layer above:\n{}",
        upward.join("\n")
    );
}

#[test]
fn the_check_sees_an_upward_use() {
    let code =
        code("// crate::app in a comment\nuse crate::storage::Db;\nfn f() { crate::call::x(); }");
    assert_eq!(
        uses(&code).into_iter().collect::<Vec<_>>(),
        vec!["call", "storage"]
    );
}

#[test]
fn rusqlite_stays_inside_storage() {
    let outside: Vec<_> = files()
        .into_iter()
        .filter(|(path, _)| path != "layers.rs")
        .filter(|(path, text)| !path.starts_with("storage/") && code(text).contains("rusqlite"))
        .map(|(path, _)| path)
        .collect();
    assert!(
        outside.is_empty(),
        "rusqlite used outside storage/: {outside:?}"
    );
}
