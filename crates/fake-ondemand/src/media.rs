//! The Media API as `upstream/ondemand-media.md` records it: an image uploaded with the image
//! agent (`POST /media/v1/public/file/raw`, multipart; or by URL, `POST /media/v1/public/file`)
//! is answered with a text description, `data.context`. The fake's description is derived
//! from the bytes ([`describe`]) so tests can see it reach the query.
//!
//! Played as recorded (§1.5, §6 of that file): no agent → 500
//! `errors.no.executable.plugin.found`; a type the agent does not take → 400
//! `errors.mime.type.not.supported`; the sixth upload within a minute per key → 429
//! `rate_limit_exceeded`; switches for a slow answer and for `actionStatus: "processing"`
//! with no description; `DELETE /media/v1/public/file/{id}` → `Media Deleted!`; the JWT
//! client routes → 401.

use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::caller::{ApiKey, Caller, Seen};
use crate::routes::{Fake, Reject, now_rfc3339, scripted_failure, upstream_error};
use crate::{MediaItem, Stage};

/// The image agent (`plugin-…`) and its `agent-…` twin (§1.4).
pub const IMAGE_PLUGIN: &str = "plugin-1713958591";
pub const IMAGE_AGENT: &str = "agent-1713958591";

/// The fake image agent's description of `bytes`: what they are and a fingerprint, so a
/// test can tell which image a description came from.
pub fn describe(bytes: &[u8]) -> String {
    let kind = match sniff(bytes) {
        Some("image/png") => "PNG",
        Some(_) => "JPEG",
        None => "unknown",
    };
    format!(
        "A {kind} picture of {} bytes whose fingerprint is {}.",
        bytes.len(),
        fingerprint(bytes)
    )
}

/// The first 12 hex digits of the bytes' SHA-256.
pub fn fingerprint(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The types the image agent takes, from the bytes (§1.4: png, jpg, jpeg).
fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else {
        None
    }
}

/// One upload's form, as read.
#[derive(Debug, Default)]
struct Form {
    file: Option<(Bytes, Option<String>, Option<String>)>,
    agents: Vec<String>,
    session_id: Option<String>,
    name: Option<String>,
    size_bytes: Option<String>,
    response_mode: Option<String>,
}

impl Form {
    /// A summary for the request record (the bytes as their fingerprint).
    fn summary(&self) -> Value {
        json!({
            "name": self.name,
            "agents": self.agents,
            "sessionId": self.session_id,
            "sizeBytes": self.size_bytes,
            "responseMode": self.response_mode,
            "file": self.file.as_ref().map(|(bytes, file_name, content_type)| json!({
                "fingerprint": fingerprint(bytes),
                "bytes": bytes.len(),
                "fileName": file_name,
                "contentType": content_type,
            })),
        })
    }
}

/// `plugins`/`agents` values: repeated fields, or a JSON-string array (§1.1).
fn agent_values(value: &str) -> Vec<String> {
    match serde_json::from_str::<Vec<String>>(value) {
        Ok(list) => list,
        Err(_) => vec![value.trim().to_owned()],
    }
    .into_iter()
    .filter(|v| !v.is_empty())
    .collect()
}

async fn read_form(request: Request) -> Result<Form, Response> {
    let bad = |message: String| upstream_error(400, "invalid_request", &message);
    let mut multipart = Multipart::from_request(request, &())
        .await
        .map_err(|e| bad(format!("multipart body expected: {e}")))?;
    let mut form = Form::default();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| bad(format!("bad multipart body: {e}")))?
    {
        let name = field.name().unwrap_or("").to_owned();
        if name == "file" {
            let file_name = field.file_name().map(str::to_owned);
            let content_type = field.content_type().map(str::to_owned);
            let bytes = field.bytes().await.map_err(|e| bad(e.to_string()))?;
            form.file = Some((bytes, file_name, content_type));
            continue;
        }
        let text = field.text().await.map_err(|e| bad(e.to_string()))?;
        match name.as_str() {
            "plugins" | "agents" | "plugins[]" | "agents[]" => {
                form.agents.extend(agent_values(&text));
            }
            "sessionId" => form.session_id = Some(text),
            "name" => form.name = Some(text),
            "sizeBytes" => form.size_bytes = Some(text),
            "responseMode" => form.response_mode = Some(text),
            _ => {}
        }
    }
    Ok(form)
}

/// `POST /media/v1/public/file/raw`.
pub(crate) async fn upload_raw(State(shared): State<Fake>, request: Request) -> Response {
    let (method, uri, headers) = (
        request.method().clone(),
        request.uri().clone(),
        request.headers().clone(),
    );
    // Recorded with a summary of the form for its body (the file's bytes are not kept).
    let mut seen = Seen {
        method,
        uri,
        headers,
        body: Bytes::new(),
    };
    let form = match read_form(request).await {
        Ok(form) => form,
        Err(response) => {
            seen.record(&shared, None);
            return response;
        }
    };
    seen.body = serde_json::to_vec(&form.summary())
        .unwrap_or_default()
        .into();
    let key = match seen.admit::<ApiKey>(&shared) {
        Ok(key) => key,
        Err(reject) => return reject.into_response(),
    };
    let Some((bytes, file_name, _)) = form.file.clone() else {
        return upstream_error(400, "invalid_request", "file is required");
    };
    let name = form.name.clone().or(file_name).unwrap_or_default();
    create(&shared, &key, &form, Upload::Bytes(bytes), name).await
}

/// `POST /media/v1/public/file`: the upstream fetches `url` itself (the fake does not; its
/// description is of the URL's text).
pub(crate) async fn upload_url(
    State(shared): State<Fake>,
    Caller { who: key, seen, .. }: Caller<ApiKey>,
) -> Response {
    let Ok(value) = serde_json::from_slice::<Value>(&seen.body) else {
        return upstream_error(400, "invalid_request", "body must be JSON");
    };
    let Some(url) = value["url"].as_str().filter(|u| !u.is_empty()) else {
        return upstream_error(400, "invalid_request", "url is required");
    };
    let agents = ["plugins", "agents"]
        .iter()
        .filter_map(|k| value[k].as_array())
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    let form = Form {
        agents,
        session_id: value["sessionId"].as_str().map(str::to_owned),
        response_mode: value["responseMode"].as_str().map(str::to_owned),
        ..Form::default()
    };
    let name = value["name"].as_str().unwrap_or(url).to_owned();
    create(&shared, &key, &form, Upload::Url(url.to_owned()), name).await
}

enum Upload {
    Bytes(Bytes),
    Url(String),
}

async fn create(shared: &Fake, key: &str, form: &Form, upload: Upload, name: String) -> Response {
    if let Some(response) = scripted_failure(shared, key, Stage::Media) {
        return response;
    }
    if !form
        .agents
        .iter()
        .any(|a| a == IMAGE_PLUGIN || a == IMAGE_AGENT)
    {
        return upstream_error(500, "server_error", "errors.no.executable.plugin.found");
    }
    let (context, mime, url) = match &upload {
        Upload::Bytes(bytes) => match sniff(bytes) {
            Some(mime) => (describe(bytes), mime, None),
            None => {
                return upstream_error(400, "invalid_request", "errors.mime.type.not.supported");
            }
        },
        Upload::Url(url) => (describe(url.as_bytes()), "image/png", Some(url.clone())),
    };
    let (delay_ms, processing) = {
        let mut state = shared.lock();
        let limit = state.options.media_uploads_per_minute as usize;
        let (delay_ms, processing) = (state.options.media_delay_ms, state.options.media_processing);
        let now = Instant::now();
        let recent = state.uploads.entry(key.to_owned()).or_default();
        recent.retain(|at| now.duration_since(*at) < Duration::from_secs(60));
        if recent.len() >= limit {
            return upstream_error(
                429,
                "rate_limit_exceeded",
                "Media Upload Per Minute limit exceeded",
            );
        }
        recent.push(now);
        (delay_ms, processing)
    };
    if delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
    }
    let id = shared.object_id();
    let (status, context) = if processing {
        ("processing", String::new())
    } else {
        ("completed", context)
    };
    let size = match &upload {
        Upload::Bytes(bytes) => bytes.len(),
        Upload::Url(_) => 0,
    };
    let url = url.unwrap_or_else(|| format!("https://media.on-demand.invalid/{id}/{name}"));
    shared.lock().media.insert(
        id.clone(),
        MediaItem {
            owner: key.to_owned(),
            session_id: form.session_id.clone(),
            deleted: false,
        },
    );
    let now = now_rfc3339();
    let data = json!({
        "id": id,
        "companyId": "6692b763e851d28a036ab30e",
        "sessionId": form.session_id,
        "url": url,
        "sourceUrl": url,
        "name": name,
        "sizeBytes": size,
        "source": "image",
        "mimeType": mime,
        "extension": mime.trim_start_matches("image/").replace("jpeg", "jpg"),
        "plugins": [IMAGE_PLUGIN],
        "agents": [IMAGE_AGENT],
        "context": context,
        "extractedText": context,
        "searchLevel": "deep",
        "actionStatus": status,
        "responseMode": form.response_mode.as_deref().unwrap_or("sync"),
        "createdBy": "6692b763e851d28a036ab30f",
        "createdAt": now,
        "updatedAt": now,
    });
    axum::Json(json!({"message": "Media Created", "data": data})).into_response()
}

/// `DELETE /media/v1/public/file/{id}`.
pub(crate) async fn delete(
    State(shared): State<Fake>,
    Path(id): Path<String>,
    Caller { who: key, .. }: Caller<ApiKey>,
) -> Response {
    let mut state = shared.lock();
    match state.media.get_mut(&id) {
        Some(item) if item.owner == key && !item.deleted => {
            item.deleted = true;
            axum::Json(json!({"message": "Media Deleted!"})).into_response()
        }
        _ => Reject(404, "not_found", "Media not found").into_response(),
    }
}

/// The JWT routes answer an API key as recorded (§1).
pub(crate) async fn client_route(State(shared): State<Fake>, seen: Seen) -> Response {
    seen.record(&shared, None);
    upstream_error(401, "unauthenticated", "No Authorization header")
}
