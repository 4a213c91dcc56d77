//! The doctor's streamed query: every frame read as it came and compared with §4 of the
//! contract: the event names and types, `statusLog`, `fulfillment`, `metricsLog`,
//! heartbeats and `[DONE]`, frames that are not JSON, the spacing of the JSON, and the time
//! to the first piece of the answer.

use std::collections::BTreeMap;
use std::time::Instant;

use futures_util::StreamExt;
use serde_json::Value;

use super::steps::{call, query};
use super::{Checkup, Step};
use crate::config::Settings;
use crate::upstream::{Call, MAX_ANSWER_BYTES, ResponseMode, UpstreamClient};

/// The `eventType`s the client knows (§4.1 to §4.4): it reads some and skips the rest.
const KNOWN_TYPES: [&str; 11] = [
    "statusLog",
    "fulfillment",
    "fulfillment_thinking",
    "metricsLog",
    "planning_thinking",
    "step_thinking",
    "planning_output",
    "step_output",
    "plugin_sources",
    "clarification_request",
    "error",
];

/// The SSE event names the contract lists.
const KNOWN_EVENTS: [&str; 4] = ["message", "thinking", "heartbeat", "agent"];

/// What the frames of one stream showed.
#[derive(Debug, Default)]
struct Seen {
    events: BTreeMap<String, u64>,
    types: BTreeMap<String, u64>,
    done: bool,
    errors: u64,
    not_json: u64,
    spaced_data: u64,
    /// Frames other than `fulfillment` written with spaces after `:` and `,` (only
    /// `fulfillment` frames are, §4).
    spaced_json: u64,
}

impl Seen {
    fn read(text: &str) -> Self {
        let mut seen = Self::default();
        for line in text.lines() {
            if let Some(name) = line.strip_prefix("event:") {
                *seen.events.entry(name.trim().to_owned()).or_default() += 1;
                continue;
            }
            let Some(payload) = line.strip_prefix("data:") else {
                continue;
            };
            if payload.starts_with(' ') {
                seen.spaced_data += 1;
            }
            let payload = payload.trim();
            if payload == "[DONE]" {
                seen.done = true;
            } else if payload.starts_with("[ERROR]") {
                seen.errors += 1;
            } else {
                match serde_json::from_str::<Value>(payload) {
                    Ok(frame) => seen.frame(&frame, payload),
                    Err(_) => seen.not_json += 1,
                }
            }
        }
        seen
    }

    fn frame(&mut self, frame: &Value, raw: &str) {
        let Some(kind) = frame["eventType"].as_str() else {
            return; // heartbeats carry none
        };
        *self.types.entry(kind.to_owned()).or_default() += 1;
        if kind != "fulfillment" && (raw.contains("\": ") || raw.contains("\", \"")) {
            self.spaced_json += 1;
        }
    }

    fn count(&self, kind: &str) -> u64 {
        self.types.get(kind).copied().unwrap_or(0)
    }
}

/// The same one-word query, streamed.
pub(super) async fn stream(
    client: &UpstreamClient,
    checkup: Checkup<'_>,
    settings: &Settings,
    session: &str,
    endpoint: &str,
) -> Step {
    let mut step = Step::new("stream");
    let started = Instant::now();
    let body = query(endpoint, ResponseMode::Stream);
    let request = (Call::Query(session), Some(&body), true);
    let Some(response) = call(client, checkup, settings, request, &mut step).await else {
        return step;
    };
    if let Some(kind) = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .filter(|kind| !kind.starts_with("text/event-stream"))
    {
        step.deviate(format!("Content-Type is {kind:?}, not text/event-stream"));
    }
    let mut body = response.bytes_stream();
    let mut text = String::new();
    let mut first_content = None;
    let read = tokio::time::timeout(settings.stream_timeout, async {
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| e.to_string())?;
            text.push_str(&String::from_utf8_lossy(&chunk));
            if first_content.is_none() && text.contains("\"fulfillment\"") {
                first_content = Some(started.elapsed());
            }
            if text.len() > MAX_ANSWER_BYTES {
                return Err("the stream grew past the answer limit".to_owned());
            }
        }
        Ok(())
    })
    .await;
    step.figure("ms", (started.elapsed().as_secs_f64() * 1000.0).round());
    if let Some(at) = first_content {
        step.figure("first_content_ms", (at.as_secs_f64() * 1000.0).round());
    }
    match read {
        Err(_) => step.fail("the stream did not end within stream_timeout"),
        Ok(Err(e)) => step.fail(e),
        Ok(Ok(())) => {}
    }
    review(&mut step, &Seen::read(&text));
    step
}

/// The figures and deviations of what was seen.
fn review(step: &mut Step, seen: &Seen) {
    step.figure(
        "events",
        serde_json::to_value(&seen.events).unwrap_or_default(),
    );
    step.figure(
        "types",
        serde_json::to_value(&seen.types).unwrap_or_default(),
    );
    step.figure("status_log", seen.count("statusLog") > 0);
    step.figure(
        "heartbeats",
        seen.events.get("heartbeat").copied().unwrap_or(0),
    );
    step.figure("done", seen.done);
    if seen.count("fulfillment") == 0 && step.ok {
        step.fail("no fulfillment frame: no answer came");
    }
    if seen.count("metricsLog") == 0 {
        step.deviate("no metricsLog frame: token counts would be estimated");
    }
    if !seen.done && step.ok {
        step.fail("no [DONE]: the client takes such a stream as broken");
    }
    if seen.errors > 0 {
        step.fail(format!("{} [ERROR] frames", seen.errors));
    }
    if seen.not_json > 0 {
        step.deviate(format!(
            "{} data frames were not JSON (skipped)",
            seen.not_json
        ));
    }
    if seen.spaced_data > 0 {
        step.deviate(format!(
            "{} frames had a space after `data:`",
            seen.spaced_data
        ));
    }
    if seen.spaced_json > 0 {
        step.deviate(format!(
            "{} frames other than fulfillment were spaced JSON",
            seen.spaced_json
        ));
    }
    for (kind, n) in &seen.types {
        if !KNOWN_TYPES.contains(&kind.as_str()) {
            step.deviate(format!("unknown eventType {kind:?} ({n} frames, skipped)"));
        }
    }
    for (name, n) in &seen.events {
        if !KNOWN_EVENTS.contains(&name.as_str()) {
            step.deviate(format!("unknown event name {name:?} ({n} frames)"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_counted_and_what_differs_is_named() {
        let text = "event:message\ndata:{\"eventType\":\"statusLog\",\"eventIndex\":1}\n\n\
            event:message\ndata:{\"answer\": \"pong\", \"eventIndex\":2, \"eventType\": \"fulfillment\"}\n\n\
            event:heartbeat\ndata:{\"time\":\"t\"}\n\n\
            event:message\ndata:{\"eventType\":\"sparkle\"}\n\n\
            event:message\ndata:not json\n\n\
            event:message\ndata:[DONE]\n\n";
        let seen = Seen::read(text);
        assert_eq!(seen.count("fulfillment"), 1);
        assert_eq!(seen.events["message"], 5);
        assert!(seen.done);
        let mut step = Step::new("stream");
        review(&mut step, &seen);
        assert!(step.ok, "{step:?}");
        let said = step.deviations.join("\n");
        assert!(said.contains("unknown eventType \"sparkle\""), "{said}");
        assert!(said.contains("not JSON"), "{said}");
        assert!(said.contains("no metricsLog"), "{said}");
        assert!(
            !said.contains("spaced"),
            "fulfillment frames are spaced by contract: {said}"
        );
    }
}
