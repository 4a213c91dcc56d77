//! Who calls the fake, and what it records of each call: every route takes its request
//! through [`Seen`] (recorded as sent) or [`Caller`] (let in by a credential, and recorded
//! either way, with the credential when it was valid).

use std::collections::HashMap;
use std::marker::PhantomData;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::routes::{Fake, Reject};
use crate::{Recorded, Shared};

/// A request as the fake saw it: its line, headers and body.
pub(crate) struct Seen {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl FromRequest<Fake> for Seen {
    type Rejection = Response;

    async fn from_request(request: Request, state: &Fake) -> Result<Self, Response> {
        let (method, uri, headers) = (
            request.method().clone(),
            request.uri().clone(),
            request.headers().clone(),
        );
        let body = Bytes::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Self {
            method,
            uri,
            headers,
            body,
        })
    }
}

impl Seen {
    /// Records the request (when the options say so), as sent with `credential` (`None`:
    /// no valid one).
    pub(crate) fn record(&self, shared: &Shared, credential: Option<&str>) {
        let mut state = shared.lock();
        if !state.options.record {
            return;
        }
        let headers = self
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect::<HashMap<_, _>>();
        state.recorded.push(Recorded {
            method: self.method.to_string(),
            path: self.uri.path().to_owned(),
            headers,
            body: serde_json::from_slice(&self.body).unwrap_or(Value::Null),
            credential: credential.map(str::to_owned),
        });
    }

    /// Checks the request's credential `C` and records the request either way; gives who
    /// sent it.
    pub(crate) fn admit<C: Credential>(&self, shared: &Shared) -> Result<String, Reject> {
        let result = C::check(shared, &self.headers);
        self.record(shared, result.as_ref().ok().map(String::as_str));
        result
    }
}

/// A kind of credential the upstream takes.
pub(crate) trait Credential: Send {
    /// Who the headers' credential names, or the upstream's refusal.
    fn check(shared: &Shared, headers: &HeaderMap) -> Result<String, Reject>;
}

/// The API key of the public chat, media and catalogue routes (`apikey`).
pub(crate) struct ApiKey;

impl Credential for ApiKey {
    fn check(shared: &Shared, headers: &HeaderMap) -> Result<String, Reject> {
        let key = headers
            .get("apikey")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .trim();
        let state = shared.lock();
        if !key.is_empty() && (state.options.accept_any_key || state.keys.contains(key)) {
            Ok(key.to_owned())
        } else {
            Err(Reject(401, "unauthenticated", "Invalid API Key"))
        }
    }
}

/// A signed-in user's bearer token, with their company (the client routes, §14.3).
pub(crate) struct Jwt;

impl Credential for Jwt {
    fn check(shared: &Shared, headers: &HeaderMap) -> Result<String, Reject> {
        crate::auth::jwt_user(shared, headers)
    }
}

/// A request let in by its credential `C`: who sent it, and the request as seen.
pub(crate) struct Caller<C> {
    pub who: String,
    pub seen: Seen,
    credential: PhantomData<C>,
}

impl<C: Credential> FromRequest<Fake> for Caller<C> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &Fake) -> Result<Self, Response> {
        let seen = Seen::from_request(request, state).await?;
        let who = seen
            .admit::<C>(state)
            .map_err(IntoResponse::into_response)?;
        Ok(Self {
            who,
            seen,
            credential: PhantomData,
        })
    }
}
