//! The README's configuration table agrees with the one declaration of every setting
//! (`config::SETTINGS`): a row per setting with its key, environment variable, flag and
//! default; and the start-only keys are documented too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ondemand_core::config::{SETTINGS, START_FIELDS};

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap()
}

/// The cells of the README's table row for `key`, trimmed.
fn row(readme: &str, key: &str) -> Option<Vec<String>> {
    let start = format!("| `{key}` |");
    readme.lines().find(|l| l.starts_with(&start)).map(|l| {
        l.trim_matches('|')
            .split(" | ")
            .map(|c| c.trim().to_owned())
            .collect()
    })
}

#[test]
fn every_setting_has_its_row_with_the_declared_names_and_default() {
    let readme = readme();
    let mut wrong = Vec::new();
    for s in SETTINGS {
        let Some(cells) = row(&readme, s.key) else {
            wrong.push(format!("{}: no row", s.key));
            continue;
        };
        let default = s.default_text();
        let expected = [format!("`{}`", s.env), format!("`{}`", s.flag)];
        if cells[1..3] != expected {
            wrong.push(format!(
                "{}: names {:?}, declared {expected:?}",
                s.key,
                &cells[1..3]
            ));
        }
        // Long defaults (the user agent) are described in words; an empty one is "none".
        let shown = if default.is_empty() {
            "none".to_owned()
        } else {
            format!("`{default}`")
        };
        if default.len() <= 60 && !cells[3].starts_with(&shown) {
            wrong.push(format!(
                "{}: default {:?}, declared `{default}`",
                s.key, cells[3]
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "the README disagrees with config::SETTINGS: {wrong:#?}"
    );
}

#[test]
fn the_start_only_keys_are_documented() {
    let readme = readme();
    for field in START_FIELDS {
        for name in [field.key, field.env, field.flag] {
            assert!(
                readme.contains(&format!("`{name}`")),
                "{name} is not in the README"
            );
        }
    }
}

#[test]
fn every_built_in_model_pattern_is_documented() {
    let readme = readme();
    let catalog = ondemand_core::models::ModelCatalog::builtin();
    assert!(!catalog.patterns().is_empty());
    for pattern in catalog.patterns() {
        assert!(
            readme.contains(&format!("`{}`", pattern.pattern)),
            "{} is not in the README's pattern table",
            pattern.pattern
        );
    }
}
