//! No function in `src/` runs much past 80 lines (issue 13): a longer one is a sequence of
//! steps that want names. `cargo test --release --test function_length -- --nocapture` prints
//! the longest.
//!
//! Reads text, as rustfmt leaves it: a function runs from its `fn` line to the first line
//! that is its indentation and a closing brace. Test modules (`mod tests {` to the end of the
//! file) are left out.

use std::path::{Path, PathBuf};

/// The bar: about 80 lines, with room for a signature that grows by a line or two.
const MAX_LINES: usize = 85;

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

/// Whether `line` starts a function definition (or declaration): `fn`, after visibility and
/// qualifiers.
fn starts_fn(line: &str) -> bool {
    let mut rest = line.trim_start();
    for prefix in [
        "pub(crate) ",
        "pub(super) ",
        "pub ",
        "const ",
        "unsafe ",
        "extern \"C\" ",
    ] {
        rest = rest.strip_prefix(prefix).unwrap_or(rest);
    }
    rest.starts_with("fn ")
}

/// (lines, name, first line) of every function with a body in `text`.
fn functions(text: &str) -> Vec<(usize, String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let end = lines
        .iter()
        .position(|l| l.trim_start().starts_with("mod tests {"))
        .unwrap_or(lines.len());
    let mut out = Vec::new();
    for (i, line) in lines[..end].iter().enumerate() {
        if !starts_fn(line) {
            continue;
        }
        // A declaration (`fn f();` in a trait) has no body.
        let body = lines[i..end]
            .iter()
            .find(|l| l.contains('{') || l.trim_end().ends_with(';'))
            .is_some_and(|l| l.contains('{'));
        if !body {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let close = format!("{}}}", " ".repeat(indent));
        let single = line.trim_end().ends_with('}');
        let last = if single {
            Some(i)
        } else {
            (i + 1..end).find(|&j| lines[j] == close)
        };
        if let Some(last) = last {
            let name = line
                .split("fn ")
                .nth(1)
                .unwrap_or("")
                .split(['(', '<'])
                .next()
                .unwrap_or("")
                .to_string();
            out.push((last - i + 1, name, i + 1));
        }
    }
    out
}

#[test]
fn no_function_runs_much_past_80_lines() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut all: Vec<(usize, String)> = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let relative = path.strip_prefix(&src).unwrap().display().to_string();
        for (lines, name, at) in functions(&text) {
            all.push((lines, format!("src/{relative}:{at} {name}")));
        }
    }
    all.sort_by(|a, b| b.cmp(a));
    assert!(all.len() > 500, "only {} functions found", all.len());
    for (lines, place) in all.iter().take(5) {
        eprintln!("{lines:4} lines  {place}");
    }
    let long: Vec<String> = all
        .iter()
        .filter(|(lines, _)| *lines > MAX_LINES)
        .map(|(lines, place)| format!("{lines} lines: {place}"))
        .collect();
    assert!(
        long.is_empty(),
        "functions past {MAX_LINES} lines:\n{}",
        long.join("\n")
    );
}

#[test]
fn the_reader_measures_bodies_and_skips_declarations_and_tests() {
    let text = "pub fn one() {\n    a();\n}\n\
                trait T {\n    fn declared(&self);\n}\n\
                impl X {\n    pub(crate) fn two(\n        x: u8,\n    ) -> u8 {\n        x\n    }\n}\n\
                fn short() {}\n\
                mod tests {\n    fn not_counted() {\n    }\n}\n";
    let found: Vec<(usize, String)> = functions(text)
        .into_iter()
        .map(|(n, name, _)| (n, name))
        .collect();
    assert_eq!(
        found,
        [(3, "one".into()), (5, "two".into()), (1, "short".into())]
    );
}
