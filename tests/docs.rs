//! The README stays a five-minute read that opens with the two commands; the reference in
//! `docs/` documents every config field and every flag; no link leaves the repository or
//! points at a file or heading that is not there.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// README.md and every Markdown file in docs/.
fn documents() -> Vec<PathBuf> {
    let mut docs = vec![root().join("README.md")];
    for entry in std::fs::read_dir(root().join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            docs.push(path);
        }
    }
    docs.sort();
    docs
}

/// The text outside fenced code blocks.
fn prose(text: &str) -> String {
    let mut out = String::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == ' ' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(text: &str) -> BTreeSet<String> {
    prose(text)
        .lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| anchor(l.trim_start_matches('#')))
        .collect()
}

/// The targets of `[text](target)` links.
fn links(text: &str) -> Vec<String> {
    let prose = prose(text);
    let mut out = Vec::new();
    let mut rest = prose.as_str();
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        if let Some(end) = rest.find(')') {
            out.push(rest[..end].to_string());
        }
    }
    out
}

#[test]
fn the_readme_opens_with_the_two_commands_and_stays_short() {
    let readme = read(&root().join("README.md"));
    let first_block = readme.split("```").nth(1).unwrap();
    assert_eq!(
        first_block.trim().lines().collect::<Vec<_>>(),
        ["text", "cargo run --release", "cargo test --release"]
    );
    // Issue 29 point 12: the first screen says what openpace is, how to install it, a
    // one-line run against a server and how to read what it prints.
    let first_screen: String = readme.lines().take(45).collect::<Vec<_>>().join("\n");
    for needle in [
        "openpace is a load generator",
        "cargo install --path .",
        "openpace http://127.0.0.1:8080/ -R 500 -d 10s",
        "LATENCY METRICS",
    ] {
        assert!(
            first_screen.contains(needle),
            "not in the first 45 lines: {needle}"
        );
    }
    let lines = readme.lines().count();
    assert!(
        lines <= 250,
        "README.md has {lines} lines; the reference belongs in docs/"
    );
}

#[test]
fn every_link_stays_in_the_repository_and_resolves() {
    let mut problems = Vec::new();
    let mut checked = 0;
    for doc in documents() {
        let text = read(&doc);
        for target in links(&text) {
            checked += 1;
            if target.contains("://") || target.starts_with("mailto:") {
                problems.push(format!("{}: {target} leaves the repository", doc.display()));
                continue;
            }
            let (path, heading) = target.split_once('#').unwrap_or((&target, ""));
            let file = if path.is_empty() {
                doc.clone()
            } else {
                doc.parent().unwrap().join(path)
            };
            if !file.exists() {
                problems.push(format!("{}: {target}: no such file", doc.display()));
            } else if !heading.is_empty() && !anchors(&read(&file)).contains(heading) {
                problems.push(format!("{}: {target}: no such heading", doc.display()));
            }
        }
    }
    assert!(checked >= 20, "only {checked} links found");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_field_tables_hold_every_field_once_and_mark_the_run_wide_ones() {
    let config = read(&root().join("docs/config.md"));
    // The field tables are in the first section, before the patterns'.
    let fields = config.split("### Load patterns").next().unwrap();
    let mut rows: Vec<(Vec<String>, String)> = Vec::new();
    for line in prose(fields).lines() {
        let Some(rest) = line.strip_prefix("| `") else {
            continue;
        };
        let (names, _) = rest.split_once(" |").unwrap();
        let names = names
            .split(", ")
            .map(|n| n.trim_matches('`').to_string())
            .collect();
        rows.push((names, line.to_string()));
    }
    let documented: Vec<&String> = rows.iter().flat_map(|(names, _)| names).collect();
    for field in openpace::config::FIELDS.iter() {
        let n = documented.iter().filter(|d| **d == field.name).count();
        assert_eq!(n, 1, "docs/config.md has {n} rows for `{}`", field.name);
        let row = &rows
            .iter()
            .find(|(names, _)| names.iter().any(|x| x == field.name))
            .unwrap()
            .1;
        if field.run_wide {
            assert!(
                row.contains("run-wide"),
                "docs/config.md does not say `{}` is run-wide: {row}",
                field.name
            );
        }
    }
    for name in documented {
        assert!(
            openpace::config::FIELDS.iter().any(|f| f.name == name),
            "docs/config.md documents `{name}`, which is not a field"
        );
    }
}

#[test]
fn the_cli_reference_names_every_flag() {
    let cli = read(&root().join("docs/cli.md"));
    for command in [
        "run",
        "capacity",
        "merge",
        "report",
        "calibrate",
        "compare",
        "ab",
    ] {
        let out = common::openpace(&[command, "--help"]);
        let help = String::from_utf8_lossy(&out.stdout);
        for flag in help
            .split_whitespace()
            .filter(|w| w.starts_with("--") && w.len() > 2)
            .map(|w| {
                let name: String = w[2..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .collect();
                format!("--{name}")
            })
        {
            if flag == "--help" || flag == "--" {
                continue;
            }
            // A field's flag is in docs/config.md's field tables, which the field table makes.
            let of_a_field = openpace::config::FIELDS
                .iter()
                .any(|f| f.flag.is_some_and(|g| format!("--{}", g.long) == flag));
            assert!(
                of_a_field || cli.contains(&flag),
                "docs/cli.md does not mention `{flag}` of `openpace {command}`"
            );
        }
    }
}

/// The flags that set a field are made from the field table: the flag the table names, the
/// table's description, the field's name.
#[test]
fn field_flags_come_from_the_field_table() {
    let out = common::openpace(&["run", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    let mut flagged = 0;
    for field in openpace::config::FIELDS.iter() {
        let Some(flag) = field.flag else { continue };
        flagged += 1;
        assert!(
            help.contains(&format!("--{}", flag.long)),
            "run --help lacks --{}",
            flag.long
        );
        let described = format!("{} (field `{}`)", field.doc, field.name);
        assert!(help.contains(&described), "run --help lacks: {described}");
    }
    assert!(flagged >= 30, "only {flagged} fields have flags");
}

/// Issue 27: docs/config.md's field tables are the field table's, word for word
/// (`OPENPACE_BLESS=1` writes them again after a change to the table).
#[test]
fn the_field_tables_are_made_from_the_field_table() {
    let path = root().join("docs/config.md");
    let text = read(&path);
    let start = "tests/docs.rs holds them to it. -->\n";
    let end = "<!-- end of the field tables -->";
    let (before, rest) = text.split_once(start).expect("the start marker");
    let (tables, after) = rest.split_once(end).expect("the end marker");
    let made = openpace::config::field_reference();
    if std::env::var_os("OPENPACE_BLESS").is_some() {
        std::fs::write(&path, format!("{before}{start}{made}{end}{after}")).unwrap();
        return;
    }
    assert!(
        tables == made,
        "docs/config.md's field tables differ from config::field_reference(); run \
         OPENPACE_BLESS=1 cargo test --release --test docs"
    );
}
