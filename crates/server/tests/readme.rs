//! The README's configuration reference names every key, environment variable and flag.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ondemand_core::config::FIELDS;

#[test]
fn every_setting_is_documented() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let mut missing = Vec::new();
    for field in FIELDS {
        for name in [field.key, field.env, field.flag] {
            if !readme.contains(&format!("`{name}`")) {
                missing.push(name);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "not in the README's config reference: {missing:?}"
    );
}
