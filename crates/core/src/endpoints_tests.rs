use super::*;

const ITEMS: &str = r#"[
  {"endpoint_id":"predefined-gpt-5.6-luna","endpoint_name":"GPT 5.6 Luna","model_id":"gpt-5.6-luna",
   "status":"active","is_premium":false,"reasoning_efforts":["low","medium","max"],
   "context_length":400000,"streaming_supported":true,"fallback_endpoint_id":null,
   "model_config":{"x":1},"createdAt":"2026-01-01"},
  {"endpoint_id":"predefined-openai-gpt4o","status":"inactive","is_premium":false,"reasoning_efforts":null},
  {"endpoint_id":"predefined-muse_spark_1.3","status":"active"},
  {"endpoint_name":"no id, skipped"},
  "not an object",
  {"endpoint_id":"predefined-claude-opus-5","status":"ACTIVE","is_premium":true,"context_length":"200000"}
]"#;

#[test]
fn every_envelope_reads_the_same() {
    let wrapped = [
        ITEMS.to_owned(),
        format!(r#"{{"message":"Success","data":{ITEMS}}}"#),
        format!(r#"{{"data":{{"endpoints":{ITEMS},"total":4}}}}"#),
        format!(r#"{{"data":{{"items":{ITEMS}}}}}"#),
        format!(r#"{{"ok":true,"result":{ITEMS}}}"#),
        format!(r#"{{"endpoints":{ITEMS},"other":[]}}"#),
    ];
    let expected = parse(ITEMS.as_bytes(), 7).unwrap();
    assert_eq!(expected.len(), 4);
    for body in &wrapped {
        assert_eq!(parse(body.as_bytes(), 7).unwrap(), expected, "{body}");
    }
    assert!(
        parse(br#"{"a":[],"b":[]}"#, 0).is_err(),
        "two lists: which?"
    );
    assert!(parse(b"<html>", 0).is_err());
    assert_eq!(parse(br#"{"data":[]}"#, 0).unwrap(), []);
}

#[test]
fn fields_are_read_tolerantly() {
    let endpoints = parse(ITEMS.as_bytes(), 42).unwrap();
    let luna = &endpoints[0];
    assert_eq!(luna.id, "predefined-gpt-5.6-luna");
    assert_eq!(luna.name.as_deref(), Some("GPT 5.6 Luna"));
    assert!(luna.active && !luna.premium && luna.streaming);
    assert_eq!(luna.reasoning_efforts, ["low", "medium", "max"]);
    assert_eq!(luna.context_length, Some(400_000));
    assert_eq!(luna.last_seen_ms, 42);
    let old = &endpoints[1];
    assert!(!old.active);
    assert!(old.reasoning_efforts.is_empty(), "null means it takes none");
    assert_eq!(old.context_length, None);
    let opus = &endpoints[3];
    assert!(opus.active && opus.premium, "status in any case");
    assert_eq!(opus.context_length, Some(200_000), "a numeric string");
}

#[test]
fn clean_ids() {
    assert_eq!(
        clean_id("predefined-gpt-5.6-luna").as_deref(),
        Some("gpt-5.6-luna")
    );
    assert_eq!(
        clean_id("predefined-muse_spark_1.3").as_deref(),
        Some("muse-spark-1.3")
    );
    assert_eq!(clean_id("byoi-6e314690"), None);
    assert_eq!(clean_id("predefined-"), None);
}

fn catalogue() -> EndpointCatalog {
    let endpoints = parse(ITEMS.as_bytes(), 1).unwrap();
    EndpointCatalog::default()
        .with_read("a", Ok(endpoints.clone()), 1)
        .with_read("b", Ok(endpoints[..2].to_vec()), 1)
}

#[test]
fn availability_and_visibility() {
    let empty = EndpointCatalog::default();
    assert!(!empty.is_known());
    assert!(
        empty.visible_to("predefined-x", "a"),
        "no list: no restriction"
    );
    let c = catalogue();
    assert!(c.is_known());
    assert!(c.available("predefined-gpt-5.6-luna"));
    assert!(!c.available("predefined-openai-gpt4o"), "inactive");
    assert!(!c.available("predefined-unknown"));
    assert!(c.available("predefined-claude-opus-5"));
    assert!(c.visible_to("predefined-claude-opus-5", "a"));
    assert!(
        !c.visible_to("predefined-claude-opus-5", "b"),
        "b's list lacks it"
    );
    assert!(
        c.visible_to("predefined-claude-opus-5", "c"),
        "c has no list"
    );
    assert_eq!(c.seen_by("predefined-claude-opus-5"), ["a"]);
    assert_eq!(
        c.by_clean_id("MUSE-SPARK-1.3").map(|e| e.id.as_str()),
        Some("predefined-muse_spark_1.3")
    );
    assert!(c.by_clean_id("openai-gpt4o").is_none(), "inactive");
}

#[test]
fn a_failed_read_keeps_the_last_good_list() {
    let c = catalogue().with_read("a", Err("HTTP 500".into()), 9);
    let (_, a) = c.accounts().find(|(n, _)| *n == "a").unwrap();
    assert_eq!(a.error.as_deref(), Some("HTTP 500"));
    assert_eq!((a.ok_ms, a.error_ms), (Some(1), Some(9)));
    assert!(c.available("predefined-claude-opus-5"));
    let never = EndpointCatalog::default().with_read("x", Err("404".into()), 1);
    assert!(!never.is_known(), "a failure alone knows nothing");
    let fixed = c.with_read("a", Ok(Vec::new()), 10);
    assert!(
        !fixed.available("predefined-claude-opus-5"),
        "a successful empty answer does empty that account's list"
    );
}

#[test]
fn removed_accounts_and_long_gone_endpoints_are_dropped() {
    let c = catalogue().retain_accounts(&["b"], 1_000, 100);
    assert_eq!(c.accounts().count(), 1);
    assert!(
        c.get("predefined-claude-opus-5").is_none(),
        "listed by none, long ago"
    );
    assert!(
        c.get("predefined-openai-gpt4o").is_some(),
        "b still lists it"
    );
    let recent = catalogue().retain_accounts(&["b"], 50, 100);
    assert!(recent.get("predefined-claude-opus-5").is_some());
}

#[test]
fn nearest_prefers_the_family() {
    let names = [
        "gpt-5.6-luna",
        "gpt-5.6-terra",
        "claude-sonnet-5",
        "claude-opus-5",
        "claude-4-5-haiku",
        "deepseek-v4-pro",
    ];
    let claude = nearest("claude-3-opus", names);
    assert_eq!(claude[0], "claude-opus-5");
    assert!(
        claude.iter().all(|n| n.starts_with("claude-")),
        "{claude:?}"
    );
    assert_eq!(
        nearest("GPT-4o", names)[..2],
        ["gpt-5.6-luna", "gpt-5.6-terra"]
    );
    assert!(nearest("x", []).is_empty());
}
