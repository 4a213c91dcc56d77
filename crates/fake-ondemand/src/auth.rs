//! The email/password flow (§2.2): sign-in, refresh, and the JWT check of the client routes.

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::Shared;
use crate::Stage;
use crate::caller::Seen;
use crate::routes::{Fake, Reject, scripted_failure, upstream_error};

/// The email behind a request's JWT, checking the company header too.
pub(crate) fn jwt_user(shared: &Shared, headers: &HeaderMap) -> Result<String, Reject> {
    let Some(auth) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Err(Reject(401, "unauthenticated", "No Authorization header"));
    };
    let Some(token) = auth.strip_prefix("Bearer ").filter(|t| !t.is_empty()) else {
        return Err(Reject(401, "unauthenticated", "Token missing from Bearer"));
    };
    let state = shared.lock();
    let Some(email) = state.tokens.get(token) else {
        return Err(Reject(401, "unauthenticated", "Invalid Token"));
    };
    let company = headers.get("x-company-id").and_then(|v| v.to_str().ok());
    match state.users.get(email) {
        Some(user) if company == Some(user.company_id.as_str()) => Ok(email.clone()),
        _ => Err(Reject(403, "unauthorized", "Company mismatch")),
    }
}

fn issue_tokens(shared: &Shared, email: &str) -> (String, String) {
    let token = format!("jwt.{}.{}", shared.object_id(), shared.object_id());
    let refresh = format!("rt.{}", shared.object_id());
    let mut state = shared.lock();
    state.tokens.insert(token.clone(), email.to_owned());
    state
        .refresh_tokens
        .insert(refresh.clone(), email.to_owned());
    (token, refresh)
}

pub(crate) async fn sign_in(State(shared): State<Fake>, seen: Seen) -> Response {
    let headers = &seen.headers;
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let Some((email, password)) = basic.as_deref().and_then(|b| b.split_once(':')) else {
        seen.record(&shared, None);
        return upstream_error(401, "unauthenticated", "No Authorization header");
    };
    seen.record(&shared, Some(email));
    if let Some(response) = scripted_failure(&shared, email, Stage::SignIn) {
        return response;
    }
    let user = shared.lock().users.get(email).cloned();
    let Some(user) = user.filter(|u| u.password == password) else {
        return upstream_error(401, "unauthenticated", "Invalid email or password");
    };
    let (token, refresh) = issue_tokens(&shared, email);
    axum::Json(json!({
        "message": "Signed in successfully",
        "data": {
            "tokenData": {"token": token, "refreshToken": refresh},
            "user": {"userId": user.user_id, "default_company_id": user.company_id, "email": email}
        }
    }))
    .into_response()
}

pub(crate) async fn refresh(State(shared): State<Fake>, seen: Seen) -> Response {
    let parsed: Value = serde_json::from_slice(&seen.body).unwrap_or(Value::Null);
    let rt = parsed["data"]["refreshToken"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    let email = shared.lock().refresh_tokens.get(&rt).cloned();
    seen.record(&shared, email.as_deref());
    let Some(email) = email else {
        return upstream_error(401, "unauthenticated", "Invalid refresh token");
    };
    if shared.lock().options.fail_refresh {
        return upstream_error(401, "unauthenticated", "Refresh token expired");
    }
    if let Some(response) = scripted_failure(&shared, &email, Stage::Refresh) {
        return response;
    }
    shared.lock().refresh_tokens.remove(&rt);
    let (token, refresh) = issue_tokens(&shared, &email);
    axum::Json(
        json!({"message": "Token refreshed", "data": {"token": token, "refreshToken": refresh}}),
    )
    .into_response()
}
