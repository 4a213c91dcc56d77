//! Client tokens and model aliases through the admin API, black box: a token's secret is
//! shown once and its limits hold on `/v1`; aliases added, overridden and deleted are what
//! requests follow.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn client_tokens_are_shown_once_and_their_limits_hold_on_v1() {
    let h = Harness::with_keys(&["k1"]).await;
    let (status, created) = h
        .admin("POST", "/api/tokens", Some(json!({"name": "ci"})))
        .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("sk-odp-") && created["prefix"].as_str().unwrap().ends_with('…'));
    let id = created["id"].as_i64().unwrap();
    let (_, list) = h.admin("GET", "/api/tokens", None).await;
    assert_eq!(ids(&list), ["default", "ci"]);
    assert!(
        !list.to_string().contains(&secret),
        "the secret is never shown again"
    );
    assert!(!list.to_string().contains(TOKEN));

    assert_eq!(h.chat_as(&secret, user("hi")).await.0, 200);
    let (_, one) = h.admin("GET", &format!("/api/tokens/{id}"), None).await;
    assert_eq!(
        (
            one["used_requests"].as_u64(),
            one["used_tokens"].as_u64().map(|n| n > 0)
        ),
        (Some(1), Some(true))
    );

    // Model allow-list, on /v1/models and on chats.
    h.admin(
        "PATCH",
        &format!("/api/tokens/{id}"),
        Some(json!({"models": ["gpt-4o"]})),
    )
    .await;
    let models: Value = h
        .http
        .get(h.url("/v1/models"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["data"].as_array().unwrap().len(), 1);
    let denied = h
        .chat_as(
            &secret,
            json!({"model": "gpt-4.1", "messages": [{"role": "user", "content": "x"}]}),
        )
        .await;
    refused(&denied, 403, Some("model"));
    assert_eq!(denied.1["error"]["code"], "model_not_allowed");

    // Per-token rpm.
    h.admin(
        "PATCH",
        &format!("/api/tokens/{id}"),
        Some(json!({"models": null, "rpm": 2})),
    )
    .await;
    // A fresh bucket of two: the requests made while unlimited do not count.
    assert_eq!(h.chat_as(&secret, user("a")).await.0, 200);
    assert_eq!(h.chat_as(&secret, user("a2")).await.0, 200);
    let limited = h.chat_as(&secret, user("b")).await;
    assert_eq!(limited.0, 429, "{}", limited.1);
    assert_eq!(limited.1["error"]["code"], "rate_limit_exceeded");
    assert_eq!(h.chat(user("other token is not limited")).await.0, 200);

    // Quota of successful requests (three used so far; refusals do not count).
    h.admin(
        "PATCH",
        &format!("/api/tokens/{id}"),
        Some(json!({"rpm": null, "quota_requests": 4})),
    )
    .await;
    assert_eq!(h.chat_as(&secret, user("c")).await.0, 200);
    let quota = h.chat_as(&secret, user("d")).await;
    assert_eq!(
        (quota.0, quota.1["error"]["code"].as_str()),
        (429, Some("insufficient_quota"))
    );

    // Expiry, then revocation.
    h.admin(
        "PATCH",
        &format!("/api/tokens/{id}"),
        Some(json!({"quota_requests": null, "expires_at": 1})),
    )
    .await;
    let expired = h.chat_as(&secret, user("e")).await;
    assert_eq!(expired.0, 401);
    assert!(
        expired.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
    h.admin(
        "PATCH",
        &format!("/api/tokens/{id}"),
        Some(json!({"expires_at": null})),
    )
    .await;
    assert_eq!(h.chat_as(&secret, user("f")).await.0, 200);
    assert_eq!(
        h.admin("DELETE", &format!("/api/tokens/{id}"), None)
            .await
            .0,
        204
    );
    assert_eq!(h.chat_as(&secret, user("g")).await.0, 401);

    // Bad input.
    refuses(
        &h,
        &[
            ("POST", "/api/tokens", Some(json!({})), 400, Some("name")),
            (
                "POST",
                "/api/tokens",
                Some(json!({"name": "default"})),
                409,
                Some("name"),
            ),
            (
                "POST",
                "/api/tokens",
                Some(json!({"name": "x", "rpm": "fast"})),
                400,
                Some("rpm"),
            ),
            (
                "POST",
                "/api/tokens",
                Some(json!({"name": "x", "models": ["gpt-9000"]})),
                400,
                Some("models[0]"),
            ),
            (
                "POST",
                "/api/tokens",
                Some(json!({"name": "x", "quota_tokens": 0})),
                400,
                Some("quota_tokens"),
            ),
            (
                "PATCH",
                "/api/tokens/777",
                Some(json!({"rpm": 1})),
                404,
                None,
            ),
        ],
    )
    .await;
    let default_id = list["data"][0]["id"].as_i64().unwrap();
    refused(
        &h.admin("DELETE", &format!("/api/tokens/{default_id}"), None)
            .await,
        403,
        None,
    );
    assert_eq!(
        ids(&h.admin("GET", "/api/tokens", None).await.1),
        ["default"]
    );
}

#[tokio::test]
async fn aliases_add_override_and_delete_and_requests_follow_them() {
    let h = Harness::with_keys(&["k1"]).await;
    let (status, _) = h
        .admin(
            "POST",
            "/api/aliases",
            Some(json!({"alias": "house", "endpoint_id": "predefined-kimi-k3"})),
        )
        .await;
    assert_eq!(status, 201);
    h.fake.clear_requests();
    assert_eq!(
        h.chat(json!({"model": "House", "messages": [{"role": "user", "content": "x"}]}))
            .await
            .0,
        200
    );
    assert_eq!(
        h.fake.requests_to("/query")[0].body["endpointId"],
        "predefined-kimi-k3"
    );

    let (status, _) = h
        .admin(
            "PUT",
            "/api/aliases/gpt-4o",
            Some(json!({"endpoint_id": "predefined-glm-5.3"})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, list) = h.admin("GET", "/api/aliases", None).await;
    let gpt4o = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["alias"] == "gpt-4o")
        .unwrap();
    assert_eq!(
        (
            gpt4o["endpoint_id"].as_str(),
            gpt4o["overrides_builtin"].as_bool()
        ),
        (Some("predefined-glm-5.3"), Some(true))
    );
    assert_eq!(h.admin("DELETE", "/api/aliases/gpt-4o", None).await.0, 204);
    assert_eq!(
        h.state.engine().catalog().resolve("gpt-4o"),
        Ok("predefined-gpt-5.6-terra"),
        "the built-in returns"
    );

    refuses(
        &h,
        &[
            (
                "POST",
                "/api/aliases",
                Some(json!({"alias": "HOUSE", "endpoint_id": "predefined-x"})),
                409,
                Some("alias"),
            ),
            (
                "POST",
                "/api/aliases",
                Some(json!({"alias": "two words", "endpoint_id": "predefined-x"})),
                400,
                Some("alias"),
            ),
            (
                "POST",
                "/api/aliases",
                Some(json!({"alias": "predefined-x", "endpoint_id": "predefined-x"})),
                400,
                Some("alias"),
            ),
            (
                "POST",
                "/api/aliases",
                Some(json!({"alias": "ok", "endpoint_id": "has space"})),
                400,
                Some("endpoint_id"),
            ),
            (
                "POST",
                "/api/aliases",
                Some(json!({"alias": "ok"})),
                400,
                None,
            ),
            ("DELETE", "/api/aliases/gpt-4.1", None, 400, Some("alias")),
            ("DELETE", "/api/aliases/nothing-here", None, 404, None),
        ],
    )
    .await;
}

#[tokio::test]
async fn concurrent_requests_cannot_overshoot_a_request_quota() {
    let h = Harness::with_keys(&["k1"]).await;
    h.fake.set_behaviour(
        "k1",
        fake_ondemand::Behaviour {
            header_delay_ms: 300,
            ..Default::default()
        },
    );
    let (_, created) = h
        .admin(
            "POST",
            "/api/tokens",
            Some(json!({"name": "one-shot", "quota_requests": 1})),
        )
        .await;
    let secret = created["secret"].as_str().unwrap().to_owned();
    let answers = futures_util::future::join_all(
        (0..20).map(|i| h.chat_as(&secret, user(&format!("race {i}")))),
    )
    .await;
    let served = answers.iter().filter(|(status, _)| *status == 200).count();
    let refused = answers
        .iter()
        .filter(|(status, body)| *status == 429 && body["error"]["code"] == "insufficient_quota")
        .count();
    assert_eq!((served, refused), (1, 19), "{answers:?}");
    // A failed request gives its reservation back.
    let (_, created) = h
        .admin(
            "POST",
            "/api/tokens",
            Some(json!({"name": "retry", "quota_requests": 1})),
        )
        .await;
    let secret = created["secret"].as_str().unwrap().to_owned();
    let mut missing = user("x");
    missing["model"] = json!("no-such-model");
    assert_eq!(h.chat_as(&secret, missing).await.0, 404);
    assert_eq!(h.chat_as(&secret, user("y")).await.0, 200);
    assert_eq!(h.chat_as(&secret, user("z")).await.0, 429);
}
