//! The crate's top-level modules read in one direction: each names (`crate::x`) only modules
//! declared before it in `src/lib.rs`, so the declaration order is the dependency order and
//! no circle can form. Modules of the binary (`src/cli/`) come after every library module.
//! Files read in one direction too: no file names another that names it back, directly or
//! round a longer circle (the rules of `shared/tools/module-graph --files`).
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
/// with the line of each, comments left out: the first segment of each `crate::` path
/// [`named_paths`] reads.
fn named_modules(text: &str) -> Vec<(String, usize)> {
    paths(text, &[], &["crate"])
        .into_iter()
        .filter_map(|(path, line)| Some((path.into_iter().next()?, line)))
        .collect()
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

/// A file's module path: `targets/net/http/mod.rs` is `[targets, net, http]`.
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The paths a source text names (`crate::a::b`, `super::c`, `self::d`, and each item of a
/// `use crate::{...}` or `use super::{...}` group), as module paths from the crate root, with
/// the line of each; comments left out. `me` is the text's own module path.
fn named_paths(text: &str, me: &[String]) -> Vec<(Vec<String>, usize)> {
    paths(text, me, &["crate", "super", "self"])
}

/// The paths that start with one of `heads` in a source text whose module path is `me`
/// (see [`named_paths`]).
fn paths(text: &str, me: &[String], heads: &[&str]) -> Vec<(Vec<String>, usize)> {
    let mut found = Vec::new();
    let word = |c: char| c.is_alphanumeric() || c == '_';
    for (number, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        for &head in heads {
            let mut from = 0;
            while let Some(at) = code[from..].find(&format!("{head}::")).map(|i| i + from) {
                from = at + head.len() + 2;
                // Part of a longer path (`super::super::x`, `a::self::b`): read from its start.
                if code[..at].chars().last().is_some_and(word) || code[..at].ends_with("::") {
                    continue;
                }
                let mut base: Vec<String> = match head {
                    "crate" => Vec::new(),
                    "self" => me.to_vec(),
                    _ => me[..me.len().saturating_sub(1)].to_vec(),
                };
                let rest = &code[from..];
                if let Some(group) = rest.strip_prefix('{') {
                    let inner = group.split('}').next().unwrap_or("");
                    for item in inner.split(',') {
                        let segs: Vec<String> = item
                            .trim()
                            .split("::")
                            .filter(|s| !s.is_empty() && *s != "*" && s.chars().all(word))
                            .map(str::to_string)
                            .collect();
                        if !segs.is_empty() {
                            found.push(([base.clone(), segs].concat(), number + 1));
                        }
                    }
                    continue;
                }
                let mut segs: Vec<String> = Vec::new();
                let mut tail = rest;
                loop {
                    let name: String = tail.chars().take_while(|&c| word(c)).collect();
                    if name.is_empty() {
                        break;
                    }
                    tail = &tail[name.len()..];
                    segs.push(name);
                    match tail.strip_prefix("::") {
                        Some(more) => tail = more,
                        None => break,
                    }
                }
                while head == "super" && segs.first().is_some_and(|s| s == "super") {
                    segs.remove(0);
                    base.pop();
                }
                if !segs.is_empty() {
                    found.push(([base, segs].concat(), number + 1));
                }
            }
        }
    }
    found
}

/// Issue 27: no two files of `src/` name each other, directly or round a longer circle. A path
/// counts for the file that defines the longest module it names; a file naming its parent
/// module's file, or its child's, does not count (`mod x;` and `pub use x::Y` are how a
/// folder is built).
#[test]
fn no_file_names_a_file_that_names_it_back() {
    let mut paths = Vec::new();
    rust_files(&src(), &mut paths);
    let files: Vec<(PathBuf, Vec<String>)> = paths
        .iter()
        .map(|p| {
            let relative = p.strip_prefix(src()).unwrap().to_path_buf();
            let module = module_path(&relative);
            (relative, module)
        })
        .collect();
    let index = |module: &[String]| files.iter().position(|(_, m)| m == module);
    let resolve = |segs: &[String]| (1..=segs.len()).rev().find_map(|n| index(&segs[..n]));
    let parent = |i: usize| {
        let m = &files[i].1;
        (!m.is_empty()).then(|| index(&m[..m.len() - 1])).flatten()
    };
    let mut edges: Vec<BTreeMap<usize, String>> = vec![BTreeMap::new(); files.len()];
    for (i, (relative, module)) in files.iter().enumerate() {
        let text = std::fs::read_to_string(src().join(relative)).unwrap();
        for (segs, line) in named_paths(&text, module) {
            let Some(j) = resolve(&segs) else { continue };
            if j != i && Some(j) != parent(i) && parent(j) != Some(i) {
                edges[i]
                    .entry(j)
                    .or_insert_with(|| format!("src/{}:{line}", relative.display()));
            }
        }
    }
    // Depth-first search; a file met again while it is still on the path closes a circle.
    fn visit(
        v: usize,
        edges: &[BTreeMap<usize, String>],
        state: &mut [u8],
        path: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        state[v] = 1;
        path.push(v);
        for &w in edges[v].keys() {
            if state[w] == 1 {
                let start = path.iter().position(|&x| x == w).unwrap();
                return Some(path[start..].to_vec());
            }
            if state[w] == 0 {
                if let Some(circle) = visit(w, edges, state, path) {
                    return Some(circle);
                }
            }
        }
        path.pop();
        state[v] = 2;
        None
    }
    let mut state = vec![0u8; files.len()];
    let edge_count: usize = edges.iter().map(BTreeMap::len).sum();
    assert!(
        files.len() > 50 && edge_count > 100,
        "{} files, {edge_count} references: is the reader blind?",
        files.len()
    );
    for v in 0..files.len() {
        if state[v] != 0 {
            continue;
        }
        if let Some(circle) = visit(v, &edges, &mut state, &mut Vec::new()) {
            let steps: Vec<String> = circle
                .iter()
                .zip(circle.iter().cycle().skip(1))
                .map(|(&a, &b)| {
                    format!(
                        "  src/{} -> src/{}: {}",
                        files[a].0.display(),
                        files[b].0.display(),
                        edges[a][&b]
                    )
                })
                .collect();
            panic!("a circle of {} files:\n{}", circle.len(), steps.join("\n"));
        }
    }
}

#[test]
fn the_path_reader_resolves_crate_super_self_and_groups() {
    let me: Vec<String> = ["targets", "net", "http"].map(String::from).to_vec();
    let text = "use super::tls::TlsClient;\n\
                use crate::{metrics::RunResult, report};\n\
                // crate::cluster in a comment\n\
                let k = super::super::kinds::X; let s = self::url::HttpUrl;\n\
                use super::{Exchange, Parse};\n";
    let found: Vec<String> = named_paths(text, &me)
        .into_iter()
        .map(|(p, _)| p.join("::"))
        .collect();
    assert_eq!(
        found,
        [
            "targets::net::tls::TlsClient",
            "metrics::RunResult",
            "report",
            "targets::kinds::X",
            "targets::net::http::url::HttpUrl",
            "targets::net::Exchange",
            "targets::net::Parse"
        ]
    );
}
