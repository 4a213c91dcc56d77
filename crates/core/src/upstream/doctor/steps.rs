//! The doctor's steps but the stream: the connection, the catalogue, the session, the sync
//! query, the media upload and the deletes. Each compares what came with what the client
//! reads (`ondemand-api.md` §3, §14).

use std::collections::BTreeSet;
use std::time::Instant;

use serde_json::Value;

use super::{Checkup, PROBE_QUERY, Step, hashed};
use crate::config::Settings;
use crate::upstream::auth::Credential;
use crate::upstream::{
    CATALOGUE_TIMEOUT, Call, MAX_ANSWER_BYTES, QueryBody, ResponseMode, UpstreamClient,
    UpstreamError, read_body, send_within,
};

/// The fields an endpoint carries in the contract (§14.1).
const ENDPOINT_FIELDS: [&str; 15] = [
    "endpoint_id",
    "endpoint_name",
    "endpoint_type",
    "endpoint_url",
    "model_id",
    "status",
    "is_premium",
    "reasoning_efforts",
    "context_length",
    "streaming_supported",
    "fallback_endpoint_id",
    "fallback_max_error_threshold",
    "model_config",
    "createdAt",
    "updatedAt",
];

/// The fields of a sync answer's `data` (§3.3.1; `metrics` is optional but known).
const SYNC_FIELDS: [&str; 5] = ["sessionId", "messageId", "answer", "status", "metrics"];

fn millis(since: Instant) -> f64 {
    (since.elapsed().as_secs_f64() * 10_000.0).round() / 10.0
}

/// Sends one call of the checkup: the answer, its status noted on `step`; or `None`, the
/// step failed with why.
pub(super) async fn call(
    client: &UpstreamClient,
    checkup: Checkup<'_>,
    settings: &Settings,
    (call, body, stream): (Call<'_>, Option<&(impl serde::Serialize + ?Sized)>, bool),
    step: &mut Step,
) -> Option<reqwest::Response> {
    match client
        .send(checkup.caller, settings, call, body, stream)
        .await
    {
        Ok(response) => {
            step.figure("status", response.status().as_u16());
            Some(response)
        }
        Err(e) => {
            step.fail(e.to_string());
            None
        }
    }
}

/// An answer's body as JSON, the time so far noted on `step`; `None`, the step failed.
async fn json(
    response: reqwest::Response,
    settings: &Settings,
    started: Instant,
    step: &mut Step,
) -> Option<Value> {
    let body = read_body(response, settings.request_timeout, MAX_ANSWER_BYTES).await;
    step.figure("ms", millis(started));
    let value = body.ok().and_then(|b| serde_json::from_slice(&b).ok());
    if value.is_none() {
        step.fail("the answer is not JSON");
    }
    value
}

/// What *Test connection* shows: the address, TLS, ALPN, issuer, proxy and time, on a new
/// connection of the account's way.
pub(super) async fn connection(
    client: &UpstreamClient,
    checkup: Checkup<'_>,
    settings: &Settings,
) -> Step {
    let mut step = Step::new("connection");
    let probe = client.probe(Some(checkup.caller), settings).await;
    for (name, value) in [
        ("address", probe.address.clone()),
        ("tls", probe.tls_version.clone()),
        ("protocol", probe.protocol.clone()),
        ("issuer", probe.issuer.clone()),
        ("proxy", probe.proxy.clone()),
        ("trust", probe.trust.map(str::to_owned)),
    ] {
        if let Some(value) = value {
            step.figure(name, value);
        }
    }
    step.figure("ms", probe.latency_ms.round());
    if let Some(status) = probe.status {
        step.figure("status", status);
    }
    if probe.status.is_none() {
        step.fail(probe.error.unwrap_or_else(|| "no answer".into()));
    } else if probe.protocol.as_deref() == Some("http/1.1") && probe.tls_version.is_some() {
        step.deviate("HTTP/1.1 over TLS: the edge offers HTTP/2 (something on the way may not)");
    }
    step
}

/// The catalogue's envelope, its endpoints and their fields; returns the endpoint the
/// queries use (active, not premium, a small model where one is listed).
pub(super) async fn catalogue(
    client: &UpstreamClient,
    checkup: Checkup<'_>,
    settings: &Settings,
) -> (Step, Option<String>) {
    let mut step = Step::new("catalogue");
    let Credential::ApiKey(key) = checkup.caller.credential else {
        step.skipped = true;
        step.error = Some("email/password accounts have no catalogue route".into());
        return (step, checkup.alias_targets.first().cloned());
    };
    let started = Instant::now();
    let answer = async {
        let (route, request) = client.keyed(
            reqwest::Method::GET,
            "/config/v1/public/endpoints",
            key,
            checkup.caller.proxy,
            settings,
        )?;
        let wait = settings.request_timeout.min(CATALOGUE_TIMEOUT);
        let response = send_within(&route, request, wait).await?;
        let status = response.status().as_u16();
        let body = read_body(response, wait, crate::endpoints::MAX_CATALOGUE_BYTES).await?;
        Ok::<_, UpstreamError>((status, body))
    }
    .await;
    step.figure("ms", millis(started));
    let (status, body) = match answer {
        Ok(answer) => answer,
        Err(e) => {
            step.fail(e.to_string());
            return (step, None);
        }
    };
    step.figure("status", status);
    if !(200..300).contains(&status) {
        step.fail(UpstreamError::from_status(status, &body).to_string());
        return (step, None);
    }
    let Ok(value) = serde_json::from_slice::<Value>(&body) else {
        step.fail("the answer is not JSON");
        return (step, None);
    };
    let (envelope, items) = envelope(&value);
    step.figure("envelope", envelope.clone());
    if envelope != "data" {
        step.deviate(format!(
            "the list came as {envelope}, not under `data` as captured in July 2026 (read anyway)"
        ));
    }
    let Some(items) = items else {
        step.fail("no list of endpoints in the answer");
        return (step, None);
    };
    let (mut active, mut unknown, mut missing) = (Vec::new(), BTreeSet::new(), 0);
    for item in items {
        let Some(fields) = item.as_object() else {
            missing += 1;
            continue;
        };
        unknown.extend(
            fields
                .keys()
                .filter(|k| !ENDPOINT_FIELDS.contains(&k.as_str()))
                .cloned(),
        );
        match (
            fields.get("endpoint_id").and_then(Value::as_str),
            fields.get("status"),
        ) {
            (Some(id), Some(Value::String(status))) => {
                if status == "active" {
                    let premium = fields.get("is_premium").and_then(Value::as_bool);
                    active.push((id.to_owned(), premium.unwrap_or(false)));
                }
            }
            _ => missing += 1,
        }
    }
    step.figure("endpoints", items.len());
    step.figure("active", active.len());
    if missing > 0 {
        step.deviate(format!(
            "{missing} entries lack `endpoint_id` or a `status` string"
        ));
    }
    if !unknown.is_empty() {
        let names: Vec<String> = unknown.into_iter().take(20).collect();
        step.deviate(format!("fields not in the contract: {}", names.join(", ")));
    }
    let inactive_targets = checkup
        .alias_targets
        .iter()
        .filter(|t| !active.iter().any(|(id, _)| id == *t))
        .count();
    step.figure("alias_targets_inactive", inactive_targets);
    let chosen = cheapest(&active);
    match &chosen {
        Some(id) => step.figure("asks", id.clone()),
        None => step.fail("no active endpoint that is not premium"),
    }
    (step, chosen)
}

/// The list of a catalogue answer, and how it was wrapped: `data` (the captured form),
/// `array` (bare), `data.endpoints`, or `field <name>` (some other array-valued field).
fn envelope(value: &Value) -> (String, Option<&Vec<Value>>) {
    match value {
        Value::Array(items) => ("array".into(), Some(items)),
        Value::Object(map) => match map.get("data") {
            Some(Value::Array(items)) => ("data".into(), Some(items)),
            Some(Value::Object(data)) => match data.get("endpoints") {
                Some(Value::Array(items)) => ("data.endpoints".into(), Some(items)),
                _ => ("data without a list".into(), None),
            },
            _ => map
                .iter()
                .find_map(|(k, v)| {
                    v.as_array()
                        .map(|items| (format!("field {k}"), Some(items)))
                })
                .unwrap_or(("no list".into(), None)),
        },
        _ => ("not an object".into(), None),
    }
}

/// An active endpoint that is not premium, a small one where the name says so.
fn cheapest(active: &[(String, bool)]) -> Option<String> {
    let free: Vec<&String> = active
        .iter()
        .filter(|(_, premium)| !premium)
        .map(|(id, _)| id)
        .collect();
    ["flash", "haiku", "luna", "mini", "fast"]
        .iter()
        .find_map(|hint| free.iter().find(|id| id.contains(hint)))
        .or(free.first())
        .map(|id| (*id).clone())
}

/// A new session: its status and where its id was.
pub(super) async fn session(
    client: &UpstreamClient,
    checkup: Checkup<'_>,
    settings: &Settings,
) -> (Step, Option<String>) {
    let mut step = Step::new("session");
    let started = Instant::now();
    let body = serde_json::json!({
        "externalUserId": format!("ondemand-proxy-doctor-{:08x}", rand::random::<u32>()),
        "pluginIds": [],
    });
    let request = (Call::CreateSession, Some(&body), false);
    let Some(response) = call(client, checkup, settings, request, &mut step).await else {
        return (step, None);
    };
    let status = response.status().as_u16();
    if status != 201 {
        step.deviate(format!("answered {status}; the contract says 201"));
    }
    let Some(value) = json(response, settings, started, &mut step).await else {
        return (step, None);
    };
    let (at, id) = match (value["data"]["id"].as_str(), value["id"].as_str()) {
        (Some(id), _) => ("data.id", id),
        (None, Some(id)) => ("id", id),
        (None, None) => {
            step.fail("no session id at data.id or id");
            return (step, None);
        }
    };
    step.figure("id_at", at);
    step.figure("id", hashed(id));
    if at != "data.id" {
        step.deviate("the session id came at the top level, not at data.id");
    }
    (step, Some(id.to_owned()))
}

/// The query's body, as the client sends it.
pub(super) fn query<'a>(endpoint: &'a str, mode: ResponseMode) -> QueryBody<'a> {
    static CONFIGS: std::sync::OnceLock<super::super::ModelConfigs> = std::sync::OnceLock::new();
    QueryBody {
        query: PROBE_QUERY.into(),
        endpoint_id: endpoint,
        plugin_ids: [],
        response_mode: mode,
        fulfillment_only: true,
        model_configs: CONFIGS.get_or_init(Default::default),
        reasoning_effort: None,
    }
}

/// A one-word sync query: its status, its answer's fields, and whether usage came exact.
pub(super) async fn sync(
    client: &UpstreamClient,
    checkup: Checkup<'_>,
    settings: &Settings,
    session: &str,
    endpoint: &str,
) -> Step {
    let mut step = Step::new("sync");
    let started = Instant::now();
    let body = query(endpoint, ResponseMode::Sync);
    let request = (Call::Query(session), Some(&body), false);
    let Some(response) = call(client, checkup, settings, request, &mut step).await else {
        return step;
    };
    let Some(value) = json(response, settings, started, &mut step).await else {
        return step;
    };
    let data = &value["data"];
    match data["answer"].as_str() {
        Some(answer) => step.figure("answer_chars", answer.chars().count()),
        None => step.fail("no data.answer"),
    }
    if let Some(status) = data["status"].as_str().filter(|s| *s != "completed") {
        step.deviate(format!("data.status is {status:?}, not \"completed\""));
    }
    let exact = crate::usage::Metrics::from_json(&data["metrics"]).is_some();
    step.figure("exact_usage", exact);
    if let Some(fields) = data.as_object() {
        let unknown: Vec<&str> = fields
            .keys()
            .map(String::as_str)
            .filter(|k| !SYNC_FIELDS.contains(k))
            .collect();
        if !unknown.is_empty() {
            step.deviate(format!(
                "fields not in the contract: {}",
                unknown.join(", ")
            ));
        }
    }
    step
}

/// The session's delete (undocumented; 200 seen live, §14.3).
pub(super) async fn delete(
    client: &UpstreamClient,
    checkup: Checkup<'_>,
    settings: &Settings,
    session: &str,
) -> Step {
    let mut step = Step::new("delete");
    let started = Instant::now();
    let sent = client
        .send(
            checkup.caller,
            settings,
            Call::DeleteSession(session),
            None::<&()>,
            false,
        )
        .await;
    step.figure("ms", millis(started));
    match sent {
        Ok(response) => {
            let status = response.status().as_u16();
            step.figure("status", status);
            crate::upstream::finish(response).await;
            if status != 200 {
                step.deviate(format!("answered {status}; 200 was seen live"));
            }
        }
        // Sessions pile up in the account's history, but nothing the client needs failed.
        Err(e) => match e.status() {
            Some(status) => {
                step.figure("status", status);
                step.deviate(format!("answered {status}; 200 was seen live ({e})"));
            }
            None => step.fail(e.to_string()),
        },
    }
    step
}

/// A 1×1 PNG to the image agent, and its delete (ondemand-media.md §1).
pub(super) async fn media(
    client: &UpstreamClient,
    checkup: Checkup<'_>,
    settings: &Settings,
    session: &str,
) -> Step {
    /// A 1×1 transparent PNG.
    const PIXEL: &[u8] = &[
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44,
        0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f,
        0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00,
        0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49,
        0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
    ];
    let mut step = Step::new("media");
    let started = Instant::now();
    let upload = client
        .upload_image(
            checkup.caller,
            settings,
            session,
            PIXEL.to_vec(),
            crate::images::Kind::Png,
            "doctor-pixel.png",
        )
        .await;
    step.figure("ms", millis(started));
    let upload = match upload {
        Ok(upload) => upload,
        Err(e) => {
            step.fail(e.to_string());
            return step;
        }
    };
    step.figure("action_status", upload.status.clone());
    step.figure("described", !upload.description.is_empty());
    if upload.status != "completed" {
        step.deviate(format!(
            "actionStatus is {:?}, not \"completed\": the description may come later",
            upload.status
        ));
    }
    match upload.media_id {
        Some(id) => {
            step.figure("id", hashed(&id));
            if let Err(e) = client.delete_media(checkup.caller, settings, &id).await {
                step.deviate(format!("deleting the upload failed: {e}"));
            }
        }
        None => step.deviate("no media id (data.id or data._id) to delete it by"),
    }
    step
}
