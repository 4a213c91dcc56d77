//! Credentials for upstream calls: an API key (§2.1), or an email/password login (§2.2).
//!
//! Email/password accounts use the dashboard's undocumented JWT flow and are experimental;
//! all of it lives here, so an upstream change breaks only this kind. The login signs in
//! lazily, refreshes when a call is answered 401, and signs in again when the refresh fails.
//! At most one renewal runs per account: concurrent callers that saw the same stale token
//! wait on `renewing` and then use the token the winner fetched.

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use base64::Engine as _;
use serde_json::{Value, json};

use super::error::UpstreamError;
use crate::secret::Secret;

#[derive(Debug, Clone)]
pub enum Credential {
    ApiKey(Secret),
    Password(Arc<PasswordLogin>),
}

/// A signed-in dashboard session.
#[derive(Debug)]
pub struct JwtSession {
    pub token: Secret,
    pub refresh_token: Secret,
    pub user_id: String,
    pub company_id: String,
}

#[derive(Debug)]
pub struct PasswordLogin {
    pub email: String,
    password: Secret,
    session: ArcSwapOption<JwtSession>,
    /// Held only while a sign-in or refresh is in flight (single flight per account).
    renewing: tokio::sync::Mutex<()>,
}

/// What the upstream client needs to renew a login.
pub struct AuthEndpoint<'a> {
    pub route: &'a super::transport::Route,
    pub auth_base_url: &'a str,
    pub user_agent: &'a str,
}

impl PasswordLogin {
    pub fn new(email: String, password: Secret) -> Self {
        Self {
            email,
            password,
            session: ArcSwapOption::empty(),
            renewing: tokio::sync::Mutex::new(()),
        }
    }

    /// The current session, signing in first if there is none.
    pub async fn session(&self, ep: &AuthEndpoint<'_>) -> Result<Arc<JwtSession>, UpstreamError> {
        match self.session.load_full() {
            Some(session) => Ok(session),
            None => self.renew(ep, None).await,
        }
    }

    /// Replaces `stale` (rejected with a 401) by a fresh session: refresh, else sign in.
    /// Callers that arrive while another renewal runs get that renewal's result.
    pub async fn renew(
        &self,
        ep: &AuthEndpoint<'_>,
        stale: Option<&Arc<JwtSession>>,
    ) -> Result<Arc<JwtSession>, UpstreamError> {
        let _one_at_a_time = self.renewing.lock().await;
        let current = self.session.load_full();
        match (&current, stale) {
            (Some(cur), Some(stale)) if !Arc::ptr_eq(cur, stale) => return Ok(cur.clone()),
            (Some(cur), None) => return Ok(cur.clone()),
            _ => {}
        }
        let fresh = match current {
            Some(cur) => match refresh(ep, &cur).await {
                Ok(session) => session,
                Err(e) => {
                    tracing::info!(account = %self.email, error = %e, "token refresh failed; signing in again");
                    self.sign_in(ep).await?
                }
            },
            None => self.sign_in(ep).await?,
        };
        let fresh = Arc::new(fresh);
        self.session.store(Some(fresh.clone()));
        Ok(fresh)
    }

    async fn sign_in(&self, ep: &AuthEndpoint<'_>) -> Result<JwtSession, UpstreamError> {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            self.email,
            self.password.expose()
        ));
        let url = format!("{}/v1/auth/user/signin", ep.auth_base_url);
        let response = ep
            .route
            .request(reqwest::Method::POST, &url)?
            .map(|request| {
                request
                    .header("authorization", format!("Basic {basic}"))
                    .header("user-agent", ep.user_agent)
                    .header("referer", "https://app.on-demand.io/")
                    .json(&json!({"accountType": "default"}))
            })
            .send()
            .await
            .map_err(|e| ep.route.failure(&e))?;
        let body = read_json(response)
            .await
            .map_err(|e| UpstreamError::SignIn(e.to_string()))?;
        let data = &body["data"];
        let field = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
        match (
            field(&data["tokenData"]["token"]),
            field(&data["tokenData"]["refreshToken"]),
            field(&data["user"]["userId"]),
            field(&data["user"]["default_company_id"]),
        ) {
            (Some(token), Some(refresh_token), Some(user_id), Some(company_id)) => Ok(JwtSession {
                token: Secret::new(token),
                refresh_token: Secret::new(refresh_token),
                user_id,
                company_id,
            }),
            _ => Err(UpstreamError::SignIn(
                "the sign-in answer lacks token, refresh token, user or company id".into(),
            )),
        }
    }
}

async fn refresh(ep: &AuthEndpoint<'_>, old: &JwtSession) -> Result<JwtSession, UpstreamError> {
    let url = format!("{}/v1/auth/user/refresh_token", ep.auth_base_url);
    let response = ep
        .route
        .request(reqwest::Method::POST, &url)?
        .map(|request| {
            request
                .header("authorization", format!("Bearer {}", old.token.expose()))
                .header("x-company-id", &old.company_id)
                .header("user-agent", ep.user_agent)
                .json(&json!({"data": {"token": old.token.expose(), "refreshToken": old.refresh_token.expose()}}))
        })
        .send()
        .await
        .map_err(|e| ep.route.failure(&e))?;
    let body = read_json(response).await?;
    let token = body["data"]["token"].as_str().filter(|t| !t.is_empty());
    let Some(token) = token else {
        return Err(UpstreamError::Protocol(
            "the refresh answer has no data.token".into(),
        ));
    };
    Ok(JwtSession {
        token: Secret::new(token),
        // The upstream may omit a new refresh token; the old one then stays valid (P2).
        refresh_token: body["data"]["refreshToken"]
            .as_str()
            .filter(|t| !t.is_empty())
            .map_or_else(|| old.refresh_token.clone(), Secret::new),
        user_id: old.user_id.clone(),
        company_id: old.company_id.clone(),
    })
}

async fn read_json(response: reqwest::Response) -> Result<Value, UpstreamError> {
    let status = response.status().as_u16();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| UpstreamError::Connect(super::describe_reqwest(&e)))?;
    if !(200..300).contains(&status) {
        return Err(UpstreamError::from_status(status, &bytes));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| UpstreamError::Protocol(format!("auth answer is not JSON ({e})")))
}
