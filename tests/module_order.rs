//! The crate's top-level modules read in one direction: each names (`crate::x`) only modules
//! declared before it in `src/lib.rs`, so the declaration order is the dependency order and
//! no circle can form. Modules of the binary (`src/cli/`) come after every library module.
//!
//! Like the project's module-graph tool, this reads text: a `crate::x` in code counts, one in
//! a `//` comment does not.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The library's top-level modules in the order `src/lib.rs` declares them.
fn declared_order() -> Vec<String> {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    lib.lines()
        .filter_map(|line| line.trim().strip_prefix("pub mod "))
        .map(|rest| rest.trim_end_matches(';').to_string())
        .collect()
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module names a source text refers to as `crate::x` or `crate::{x, y::z}`,
/// with the line of each, comments left out.
fn named_modules(text: &str) -> Vec<(String, usize)> {
    let mut names = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let preceded_by_ident = rest[..at]
                .chars()
                .last()
                .is_some_and(|c| c.is_alphanumeric() || c == '_');
            rest = &rest[at + "crate::".len()..];
            if preceded_by_ident {
                continue;
            }
            if let Some(group) = rest.strip_prefix('{') {
                let inner = group.split('}').next().unwrap_or("");
                for part in inner.split(',') {
                    let head = part.trim().split("::").next().unwrap_or("").trim();
                    if !head.is_empty() {
                        names.push((head.to_string(), number + 1));
                    }
                }
                continue;
            }
            let head: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            names.push((head, number + 1));
        }
    }
    names
}

#[test]
fn every_module_names_only_modules_declared_before_it() {
    let order = declared_order();
    assert!(
        order.len() >= 10 && order[0] == "base",
        "src/lib.rs declares {order:?}"
    );
    let rank = |name: &str| order.iter().position(|m| m == name);
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut wrong: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut checked = 0;
    for path in &files {
        let relative = path.strip_prefix(src()).unwrap();
        let first = relative.components().next().unwrap().as_os_str();
        let module = first.to_string_lossy().trim_end_matches(".rs").to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        // A module the library does not declare (the binary's `cli`) comes after all.
        let own_rank = rank(&module).unwrap_or(order.len());
        let text = std::fs::read_to_string(path).unwrap();
        for (name, line) in named_modules(&text) {
            let Some(their_rank) = rank(&name) else {
                continue; // `self`, `super`, a binary module naming itself
            };
            checked += 1;
            if their_rank >= own_rank && name != module {
                wrong
                    .entry(format!("{module} -> {name}"))
                    .or_default()
                    .push(format!("{}:{line}", relative.display()));
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} references found: is the parser blind?"
    );
    assert!(
        wrong.is_empty(),
        "modules name modules declared after them in src/lib.rs (declared order: {}):\n{}",
        order.join(" -> "),
        wrong
            .iter()
            .map(|(edge, at)| format!("  {edge}: {}", at.join(", ")))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn the_reader_finds_plain_grouped_and_nested_names_and_skips_comments() {
    let text = "use crate::engine::clock;\n\
                use crate::{metrics::RunResult, report};\n\
                // crate::cluster in a comment\n\
                let x = crate::config::parse(); // and crate::monitor here\n\
                let y = mycrate::schedule::x;\n";
    let names: Vec<String> = named_modules(text).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["engine", "metrics", "report", "config"]);
}
