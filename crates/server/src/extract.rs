//! The one way each route reads what a client sent: a JSON body, query parameters, a path
//! id and a bearer credential, for `/v1`, the admin API and sign-in alike. Every rejection is
//! an API error in the usual envelope (axum's own answers are plain text), naming the field
//! at fault.

use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Largest admin request body (an import of thousands of entries fits easily).
pub const MAX_BODY: usize = 4 * 1024 * 1024;

/// How long an admin or sign-in body may take to arrive (`/v1` has its setting).
pub const ADMIN_BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A body's bound: at most `bytes` (set by the setting `setting`, if one does), within
/// `time`.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit<'a> {
    pub bytes: usize,
    pub setting: Option<&'a str>,
    pub time: std::time::Duration,
}

impl BodyLimit<'_> {
    /// An admin body's.
    pub const fn admin(bytes: usize) -> BodyLimit<'static> {
        BodyLimit {
            bytes,
            setting: None,
            time: ADMIN_BODY_TIMEOUT,
        }
    }
}

/// A JSON body, any content type (curl users often forget it), at most [`MAX_BODY`].
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, ApiError> {
        read_json(request, BodyLimit::admin(MAX_BODY))
            .await
            .map(JsonBody)
    }
}

/// Reads a JSON body within `limit`, naming the offending field on a type error. A declared
/// `Content-Length` over the limit is refused at once, unread.
pub async fn read_json<T: DeserializeOwned>(
    request: Request,
    limit: BodyLimit<'_>,
) -> Result<T, ApiError> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit.bytes as u64) {
        return Err(ApiError::too_large(limit.bytes, limit.setting));
    }
    let reading = axum::body::to_bytes(request.into_body(), limit.bytes);
    let bytes = match tokio::time::timeout(limit.time, reading).await {
        Ok(read) => read.map_err(|_| ApiError::too_large(limit.bytes, limit.setting))?,
        Err(_) => return Err(ApiError::body_timeout(limit.time, limit.setting.is_some())),
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid("The request body is empty; send JSON."));
    }
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| ApiError::bad_body(&e))
}

/// Query parameters; a bad one is a 400 in the envelope.
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(Params)
            .map_err(|e| {
                let param = e.path().to_string();
                let error =
                    ApiError::invalid(format!("Invalid query parameter `{param}`: {}.", e.inner()));
                if param == "." {
                    error
                } else {
                    error.with_param(&param)
                }
            })
    }
}

/// An optional query value where an empty one (`?outcome=`) means none.
pub fn blank_is_none<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    match <Option<String> as serde::Deserialize>::deserialize(deserializer)?
        .filter(|s| !s.is_empty())
    {
        None => Ok(None),
        Some(s) => {
            T::deserialize(serde::de::value::StrDeserializer::<serde::de::value::Error>::new(&s))
                .map(Some)
                .map_err(serde::de::Error::custom)
        }
    }
}

/// The credential of `Authorization: Bearer <credential>`; the scheme matches in any case
/// (RFC 9110 §11.1).
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credential) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| credential.trim())
        .filter(|c| !c.is_empty())
}

/// A client credential: `Authorization: Bearer <token>`, or Anthropic's `x-api-key` (what
/// the Anthropic SDKs send).
pub fn client_key(headers: &HeaderMap) -> Option<&str> {
    bearer(headers).or_else(|| {
        headers
            .get("x-api-key")?
            .to_str()
            .ok()
            .map(str::trim)
            .filter(|k| !k.is_empty())
    })
}

/// A numeric id in the path; anything else is "not found", as no such entry can exist.
pub struct Id(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let PathText(raw) = PathText::from_request_parts(parts, state).await?;
        raw.parse()
            .map(Id)
            .map_err(|_| ApiError::not_found(format!("No entry with id {raw:?}.")))
    }
}

/// A path parameter as text. A percent-encoding that does not decode to UTF-8 (`%ff`) is a
/// 400 in the envelope, where axum's own answer is plain text.
pub struct PathText(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathText {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(text)| PathText(text))
            .map_err(|_| {
                ApiError::invalid("The path holds a percent-encoding that is not valid UTF-8.")
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_matches_in_any_case() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, value.parse().unwrap());
            bearer(&headers).map(str::to_owned)
        };
        for value in ["Bearer abc", "bearer abc", "BEARER  abc ", "bEaReR abc"] {
            assert_eq!(with(value).as_deref(), Some("abc"), "{value}");
        }
        for value in ["Basic abc", "Bearer ", "Bearerabc", "abc"] {
            assert_eq!(with(value), None, "{value}");
        }
        assert_eq!(bearer(&HeaderMap::new()), None);
    }
}
