//! Email/password accounts (§2.2): refresh on 401, sign in again when refresh fails, one
//! renewal at a time per account.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use fake_ondemand::{Behaviour, Failure, FakeOptions, Stage};

fn paths(h: &Harness) -> Vec<String> {
    h.fake.requests().into_iter().map(|r| r.path).collect()
}

#[tokio::test]
async fn an_expired_token_is_refreshed_and_the_call_repeated() {
    let h = Harness::build(
        FakeOptions::default(),
        vec![password_account("a@x.io", "pw")],
        |_| {},
    )
    .await;
    assert_eq!(h.chat(user("one")).await.0, 200);
    h.fake.expire_tokens();
    h.fake.clear_requests();
    let (status, body) = h.chat(user("two")).await;
    assert_eq!(status, 200, "{body}");
    let p = paths(&h);
    assert_eq!(
        p[0], "/chat/v1/client/sessions",
        "first try with the old token"
    );
    assert_eq!(p[1], "/v1/auth/user/refresh_token");
    assert_eq!(
        p[2], "/chat/v1/client/sessions",
        "repeated with the new token"
    );
    assert!(!p.contains(&"/v1/auth/user/signin".to_owned()));
    let refresh = &h.fake.requests_to("/refresh_token")[0];
    assert!(
        refresh.body["data"]["refreshToken"]
            .as_str()
            .unwrap()
            .starts_with("rt.")
    );
    assert!(refresh.header("x-company-id").is_some());
}

#[tokio::test]
async fn a_failed_refresh_signs_in_again() {
    let h = Harness::build(
        FakeOptions {
            fail_refresh: true,
            ..FakeOptions::default()
        },
        vec![password_account("a@x.io", "pw")],
        |_| {},
    )
    .await;
    assert_eq!(h.chat(user("one")).await.0, 200);
    h.fake.expire_tokens();
    h.fake.clear_requests();
    assert_eq!(h.chat(user("two")).await.0, 200);
    let p = paths(&h);
    assert_eq!(
        &p[1..3],
        ["/v1/auth/user/refresh_token", "/v1/auth/user/signin"]
    );
}

#[tokio::test]
async fn concurrent_requests_share_one_renewal() {
    let h = Harness::build(
        FakeOptions::default(),
        vec![password_account("a@x.io", "pw")],
        |_| {},
    )
    .await;
    assert_eq!(h.chat(user("warm up")).await.0, 200);
    h.fake.expire_tokens();
    h.fake.clear_requests();
    let requests = (0..20).map(|i| h.chat(user(&format!("q{i}"))));
    let results = futures_util::future::join_all(requests).await;
    assert!(results.iter().all(|(status, _)| *status == 200));
    assert_eq!(
        h.fake.requests_to("/refresh_token").len(),
        1,
        "one refresh for twenty callers"
    );
    assert!(h.fake.requests_to("/signin").is_empty());
}

#[tokio::test]
async fn refused_sign_in_fails_over_to_another_account_and_says_why() {
    let h = Harness::build(
        FakeOptions::default(),
        vec![password_account("bad@x.io", "pw"), key_account("good-key")],
        |_| {},
    )
    .await;
    h.fake.set_behaviour(
        "bad@x.io",
        Behaviour {
            failure: Some(Failure::new(401, "unauthenticated").at(Stage::SignIn)),
            ..Behaviour::default()
        },
    );
    for _ in 0..2 {
        assert_eq!(h.chat(user("x")).await.0, 200);
    }
    // Alone, the refused account gives a clear error.
    let alone = Harness::build(
        FakeOptions::default(),
        vec![password_account("bad@x.io", "wrong-password")],
        |_| {},
    )
    .await;
    alone.fake.add_user("bad@x.io", "the-real-password");
    let (status, body) = alone.chat(user("x")).await;
    assert_eq!(status, 503, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("Invalid email or password"), "{message}");
    assert!(!message.contains("wrong-password"));
}

#[tokio::test]
async fn the_client_route_may_answer_sync_queries_as_sse() {
    let h = Harness::build(
        FakeOptions {
            client_sync_as_sse: true,
            ..FakeOptions::default()
        },
        vec![password_account("a@x.io", "pw")],
        |_| {},
    )
    .await;
    let (status, body) = h.chat(user("sse please")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"][0]["message"]["content"], "Echo: sse please");
    assert!(body["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
}
