//! Reuse mode (§8): a conversation keeps its upstream session and sends only the new turn
//! while its history matches exactly; everything else falls back to a fresh session with the
//! full transcript.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use fake_ondemand::{Behaviour, Failure, FakeOptions, Stage};
use ondemand_core::config::{SessionMode, Settings};
use serde_json::{Value, json};

async fn reuse(keys: &[&str], tweak: impl FnOnce(&mut Settings)) -> Harness {
    Harness::build(
        FakeOptions::default(),
        keys.iter().map(|k| key_account(k)).collect(),
        |s| {
            s.session_mode = SessionMode::Reuse;
            tweak(s);
        },
    )
    .await
}

/// A client that keeps its history like a chat UI: it appends the user turn, sends the whole
/// list, and appends the assistant's answer.
struct Chat {
    messages: Vec<Value>,
}

impl Chat {
    fn new() -> Self {
        Self {
            messages: vec![json!({"role": "system", "content": "Be brief."})],
        }
    }

    async fn say(&mut self, h: &Harness, text: &str, stream: bool) -> u16 {
        self.messages.push(json!({"role": "user", "content": text}));
        let body = json!({"model": "gpt-4o", "messages": self.messages});
        let (status, answer) = if stream {
            let (status, events, _) = h.stream(body).await;
            (status, streamed_content(&events))
        } else {
            let (status, body) = h.chat(body).await;
            (
                status,
                body["choices"][0]["message"]["content"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        };
        self.messages
            .push(json!({"role": "assistant", "content": answer}));
        status
    }
}

fn query_texts(h: &Harness) -> Vec<String> {
    h.fake
        .requests_to("/query")
        .into_iter()
        .map(|r| r.body["query"].as_str().unwrap().to_owned())
        .collect()
}

fn query_sessions(h: &Harness) -> Vec<String> {
    h.fake
        .requests_to("/query")
        .into_iter()
        .map(|r| r.path)
        .collect()
}

#[tokio::test]
async fn a_five_turn_conversation_sends_only_each_new_turn_to_one_session() {
    let h = reuse(&["a", "b"], |_| {}).await;
    let mut chat = Chat::new();
    for (turn, stream) in [
        ("Turn 1", false),
        ("Turn 2", true),
        ("Turn 3", false),
        ("Turn 4", true),
        ("Turn 5", false),
    ] {
        assert_eq!(chat.say(&h, turn, stream).await, 200, "{turn}");
    }
    assert_eq!(
        h.fake.requests_to("/sessions").len(),
        1,
        "one upstream session for the whole conversation"
    );
    let sessions = query_sessions(&h);
    assert!(sessions.iter().all(|p| *p == sessions[0]), "{sessions:?}");
    let texts = query_texts(&h);
    assert_eq!(
        texts[0], "[SYSTEM]\nBe brief.\n\n[USER]\nTurn 1",
        "the first turn carries the system prompt"
    );
    assert_eq!(&texts[1..], ["Turn 2", "Turn 3", "Turn 4", "Turn 5"]);
    assert_eq!(
        h.fake
            .session_queries(sessions[0].split('/').nth(4).unwrap()),
        Some(5)
    );
    assert_eq!(
        h.seen("/query")
            .iter()
            .collect::<std::collections::HashSet<_>>()
            .len(),
        1,
        "one account throughout"
    );
}

#[tokio::test]
async fn an_edited_history_starts_a_fresh_session_with_the_full_transcript() {
    let h = reuse(&["a"], |_| {}).await;
    let mut chat = Chat::new();
    chat.say(&h, "One", false).await;
    chat.say(&h, "Two", false).await;
    chat.messages[1]["content"] = json!("One (edited)");
    assert_eq!(chat.say(&h, "Three", false).await, 200);
    assert_eq!(h.fake.requests_to("/sessions").len(), 2);
    let last = query_texts(&h).pop().unwrap();
    assert!(
        last.starts_with("[SYSTEM]\nBe brief.\n\n[USER]\nOne (edited)\n\n[ASSISTANT]\nEcho: One"),
        "{last}"
    );
    assert!(last.ends_with("[USER]\nThree"));
}

#[tokio::test]
async fn a_regenerated_turn_starts_a_fresh_session() {
    let h = reuse(&["a"], |_| {}).await;
    let mut chat = Chat::new();
    chat.say(&h, "One", false).await;
    chat.say(&h, "Two", false).await;
    // Regenerate: drop the last answer and ask the same turn again.
    chat.messages.truncate(chat.messages.len() - 2);
    assert_eq!(chat.say(&h, "Two", false).await, 200);
    assert_eq!(
        h.fake.requests_to("/sessions").len(),
        2,
        "the old session already holds the first answer"
    );
    assert!(query_texts(&h).pop().unwrap().starts_with("[SYSTEM]"));
}

#[tokio::test]
async fn an_idle_session_expires() {
    let h = reuse(&["a"], |s| s.session_timeout = Duration::from_millis(50)).await;
    let mut chat = Chat::new();
    chat.say(&h, "One", false).await;
    tokio::time::sleep(Duration::from_millis(80)).await;
    chat.say(&h, "Two", false).await;
    assert_eq!(h.fake.requests_to("/sessions").len(), 2);
    assert!(
        query_texts(&h).pop().unwrap().contains("[USER]\nOne"),
        "full transcript"
    );
}

#[tokio::test]
async fn a_session_the_upstream_lost_is_replaced_without_penalty() {
    let h = reuse(&["a"], |_| {}).await;
    let mut chat = Chat::new();
    chat.say(&h, "One", false).await;
    h.fake.forget_sessions();
    assert_eq!(chat.say(&h, "Two", true).await, 200);
    let texts = query_texts(&h);
    assert_eq!(texts[1], "Two", "the resume was tried first");
    assert!(
        texts[2].starts_with("[SYSTEM]") && texts[2].ends_with("[USER]\nTwo"),
        "then a fresh session: {}",
        texts[2]
    );
    assert_eq!(h.account_state("a"), "healthy");
    // And the conversation continues on the new session.
    chat.say(&h, "Three", false).await;
    assert_eq!(query_texts(&h).pop().unwrap(), "Three");
}

#[tokio::test]
async fn a_failover_to_another_account_sends_the_full_transcript() {
    let h = reuse(&["a", "b"], |_| {}).await;
    let mut chat = Chat::new();
    chat.say(&h, "One", false).await;
    let first = h.seen("/query")[0].clone();
    let other = if first == "a" { "b" } else { "a" };
    h.fake.set_behaviour(
        &first,
        Behaviour {
            failure: Some(Failure::new(500, "model_error").at(Stage::Query)),
            ..Behaviour::default()
        },
    );
    assert_eq!(chat.say(&h, "Two", false).await, 200);
    assert_eq!(
        h.seen("/query"),
        [first.clone(), first.clone(), other.to_owned()]
    );
    let texts = query_texts(&h);
    assert_eq!(texts[1], "Two");
    assert!(
        texts[2].starts_with("[SYSTEM]") && texts[2].ends_with("[USER]\nTwo"),
        "{}",
        texts[2]
    );
    chat.say(&h, "Three", false).await;
    assert_eq!(
        h.seen("/query").last().unwrap(),
        other,
        "the conversation now lives on the other account"
    );
    assert_eq!(query_texts(&h).pop().unwrap(), "Three");
}

#[tokio::test]
async fn two_concurrent_continuations_never_share_a_session() {
    let h = reuse(&["a"], |_| {}).await;
    let mut chat = Chat::new();
    chat.say(&h, "One", false).await;
    let mut both = chat.messages.clone();
    both.push(json!({"role": "user", "content": "Two"}));
    let body = json!({"model": "gpt-4o", "messages": both});
    let (x, y) = tokio::join!(h.chat(body.clone()), h.chat(body));
    assert_eq!((x.0, y.0), (200, 200));
    let texts = query_texts(&h);
    assert_eq!(
        texts.iter().filter(|t| *t == "Two").count(),
        1,
        "one resumed: {texts:?}"
    );
    assert_eq!(
        h.fake.requests_to("/sessions").len(),
        2,
        "the other got its own session"
    );
}

#[tokio::test]
async fn the_session_cache_stays_within_its_cap() {
    let h = reuse(&["a"], |s| s.session_cache_size = 5).await;
    for i in 0..30 {
        let mut chat = Chat::new();
        chat.say(&h, &format!("conversation {i}"), false).await;
        assert!(h.state.engine().sessions.cache.len() <= 5);
    }
}

#[tokio::test]
async fn stateless_mode_never_reuses() {
    let h = Harness::with_keys(&["a"]).await;
    let mut chat = Chat::new();
    for turn in ["One", "Two", "Three"] {
        chat.say(&h, turn, false).await;
    }
    assert_eq!(h.fake.requests_to("/sessions").len(), 3);
    assert!(h.state.engine().sessions.cache.is_empty());
}
