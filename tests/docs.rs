//! The README documents every config field and every flag.

#[test]
fn the_readme_documents_every_config_field() {
    let readme = include_str!("../README.md");
    for field in openpace::config::FIELDS {
        assert!(
            readme.contains(&format!("| `{}` |", field.name)),
            "README's field tables miss `{}`",
            field.name
        );
    }
}

#[test]
fn the_readme_opens_with_the_two_commands() {
    let readme = include_str!("../README.md");
    let first_block = readme.split("```").nth(1).unwrap();
    assert_eq!(
        first_block.trim().lines().collect::<Vec<_>>(),
        ["text", "cargo run --release", "cargo test --release"]
    );
}
