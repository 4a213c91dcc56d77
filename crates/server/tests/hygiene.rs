//! Session hygiene (§14.3): the upstream sessions the proxy is done with are deleted in the
//! background, never on the request path; and email/password accounts chat on the host the
//! `client_base_url` setting names.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use fake_ondemand::{FakeOnDemand, FakeOptions};
use ondemand_core::config::SessionMode;
use serde_json::json;

fn created(h: &Harness) -> Vec<String> {
    h.fake
        .requests_to("/query")
        .into_iter()
        .map(|r| r.path.split('/').nth(4).unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn every_stateless_session_is_deleted_after_its_answer_and_never_before() {
    let h = Harness::build(
        FakeOptions {
            // A delete that never answers in the test's life: were it on the request path,
            // the requests below would hang.
            delete_delay_ms: 600_000,
            ..FakeOptions::default()
        },
        vec![key_account("k1")],
        |_| {},
    )
    .await;
    assert_eq!(h.chat(user("one")).await.0, 200);
    let (status, events, _) = h.stream(user("two")).await;
    assert_eq!(
        (status, streamed_content(&events).as_str()),
        (200, "Echo: two")
    );
    h.abandon_stream(user("three")).await;
    let mut deleted = h.deleted_sessions(3).await;
    deleted.sort();
    let mut sessions = created(&h);
    sessions.sort();
    assert_eq!(deleted, sessions, "each session the requests opened");
    let stats = h.state.engine().janitor_stats();
    assert_eq!(
        (stats.deleted, stats.failed, stats.dropped),
        (0, 0, 0),
        "still waiting on the slow deletes"
    );
}

#[tokio::test]
async fn deletes_are_counted_and_the_setting_turns_them_off() {
    let h = Harness::with_keys(&["k1"]).await;
    assert_eq!(h.chat(user("one")).await.0, 200);
    h.deleted_sessions(1).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while h.state.engine().janitor_stats().deleted < 1 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (_, proxy) = h.admin("GET", "/api/proxy", None).await;
    assert_eq!(
        proxy["session_cleanup"],
        json!({"enabled": true, "stats": {"deleted": 1, "failed": 0, "dropped": 0}})
    );

    let (status, _) = h
        .admin(
            "PATCH",
            "/api/settings",
            Some(json!({"delete_sessions": false})),
        )
        .await;
    assert_eq!(status, 200);
    h.fake.clear_requests();
    assert_eq!(h.chat(user("two")).await.0, 200);
    assert_eq!(h.chat(user("three")).await.0, 200);
    let (status, _) = h
        .admin(
            "PATCH",
            "/api/settings",
            Some(json!({"delete_sessions": true})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(h.chat(user("four")).await.0, 200);
    let deleted = h.deleted_sessions(1).await;
    assert_eq!(
        deleted,
        [created(&h)[2].clone()],
        "only the one made with cleanup on"
    );
}

#[tokio::test]
async fn reuse_mode_keeps_its_sessions_until_they_leave_the_cache() {
    let h = Harness::build(FakeOptions::default(), vec![key_account("k1")], |s| {
        s.session_mode = SessionMode::Reuse;
        s.session_cache_size = 1;
    })
    .await;
    let first = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "first"}]});
    let (_, answer) = h.chat(first.clone()).await;
    let reply = answer["choices"][0]["message"]["content"].clone();
    let follow = json!({"model": "gpt-4o", "messages": [
        {"role": "user", "content": "first"}, {"role": "assistant", "content": reply},
        {"role": "user", "content": "again"}]});
    let (_, answer) = h.chat(follow).await;
    assert_eq!(created(&h).len(), 2);
    assert_eq!(created(&h)[0], created(&h)[1], "the session was continued");
    assert_eq!(answer["choices"][0]["message"]["content"], "Echo: again");
    assert!(h.fake.has_session(&created(&h)[0]), "kept while remembered");

    // A second conversation pushes the first out of a cache of one.
    let (status, _) = h
        .chat(json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "other"}]}))
        .await;
    assert_eq!(status, 200);
    let deleted = h.deleted_sessions(1).await;
    assert_eq!(deleted, [created(&h)[0].clone()], "the evicted one");
}

/// Where an email/password account's calls went: the sign-in and chat hosts.
async fn password_chat(client_on_b: bool) -> (Vec<String>, Vec<String>) {
    let a = FakeOnDemand::start(FakeOptions::default()).await.unwrap();
    let b = FakeOnDemand::start(FakeOptions::default()).await.unwrap();
    for fake in [&a, &b] {
        fake.add_user("me@x.io", "pw");
    }
    let chat_host = if client_on_b { b.url() } else { a.url() };
    let h = Harness::build(
        FakeOptions::default(),
        vec![password_account("me@x.io", "pw")],
        |s| {
            s.base_url = a.url();
            s.auth_base_url = chat_host.clone();
            s.client_base_url = chat_host;
        },
    )
    .await;
    let (status, body) = h.chat(user("hello")).await;
    assert_eq!(status, 200, "{body}");
    let paths = |f: &FakeOnDemand| f.requests().into_iter().map(|r| r.path).collect();
    (paths(&a), paths(&b))
}

#[tokio::test]
async fn email_password_accounts_chat_on_the_client_host() {
    assert_eq!(
        ondemand_core::config::Settings::default().client_base_url,
        "https://gateway.on-demand.io",
        "the 2026 dashboard's host (§14.3)"
    );
    let (a, b) = password_chat(true).await;
    assert!(a.is_empty(), "nothing on the API host: {a:?}");
    assert!(b.contains(&"/chat/v1/client/sessions".to_owned()), "{b:?}");
    let (a, b) = password_chat(false).await;
    assert!(b.is_empty(), "{b:?}");
    assert!(
        a.contains(&"/chat/v1/client/sessions".to_owned()),
        "the 2025 host: {a:?}"
    );
}
