//! Incremental parser for on-demand.io's stream (§4, §10 of the upstream contract).
//!
//! Two layers:
//! - [`SseParser`] turns bytes into `(event, data)` frames. It is line based and keeps bytes
//!   until a whole line is there, so chunks may split anywhere, inside a UTF-8 sequence or
//!   between `\r` and `\n`. A frame is dispatched on its `data:` line (the upstream's payloads
//!   are single-line), so frames with or without blank lines between them both parse (§4, §12).
//! - [`interpret`] turns one frame into an [`UpstreamEvent`]. Payloads are parsed as JSON,
//!   never by string matching, because `fulfillment` frames use a different JSON style.

use serde::Deserialize;
use serde_json::Value;

use super::error::UpstreamError;
use crate::usage::Metrics;

/// One `data:` line with the `event:` name in force when it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFrame {
    pub event: Option<String>,
    pub data: String,
}

#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of the line not yet terminated.
    buf: Vec<u8>,
    /// The `event:` name for the next `data:` line; reset by a blank line.
    event: Option<String>,
    /// The previous chunk ended in `\r`: a `\n` opening the next one belongs to it.
    skip_lf: bool,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one chunk, appending every completed frame to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<RawFrame>) -> Result<(), UpstreamError> {
        let mut chunk = chunk;
        // An empty chunk changes nothing: above all, a `\r` that ended the last one may still
        // be followed by its `\n` (found by the property test).
        if chunk.is_empty() {
            return Ok(());
        }
        if self.skip_lf {
            self.skip_lf = false;
            if let Some(rest) = chunk.strip_prefix(b"\n") {
                chunk = rest;
            }
        }
        let mut start = 0;
        let mut i = 0;
        while i < chunk.len() {
            match chunk[i] {
                b'\n' | b'\r' => {
                    let line_end = i;
                    if chunk[i] == b'\r' {
                        if i + 1 < chunk.len() {
                            if chunk[i + 1] == b'\n' {
                                i += 1;
                            }
                        } else {
                            self.skip_lf = true;
                        }
                    }
                    if self.buf.is_empty() {
                        self.line(&chunk[start..line_end], out)?;
                    } else {
                        self.buf.extend_from_slice(&chunk[start..line_end]);
                        let line = std::mem::take(&mut self.buf);
                        self.line(&line, out)?;
                    }
                    start = i + 1;
                }
                _ => {}
            }
            i += 1;
        }
        self.buf.extend_from_slice(&chunk[start..]);
        Ok(())
    }

    /// Ends the input: a last line without a terminator still counts.
    pub fn finish(&mut self, out: &mut Vec<RawFrame>) -> Result<(), UpstreamError> {
        if !self.buf.is_empty() {
            let line = std::mem::take(&mut self.buf);
            self.line(&line, out)?;
        }
        Ok(())
    }

    fn line(&mut self, line: &[u8], out: &mut Vec<RawFrame>) -> Result<(), UpstreamError> {
        if line.is_empty() {
            self.event = None;
            return Ok(());
        }
        if line[0] == b':' {
            return Ok(());
        }
        let Ok(line) = std::str::from_utf8(line) else {
            tracing::debug!("skipped a stream line that is not UTF-8");
            return Ok(());
        };
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = Some(value.to_owned()),
            "data" => out.push(RawFrame {
                event: self.event.clone(),
                data: value.to_owned(),
            }),
            _ => {}
        }
        Ok(())
    }
}

/// What one upstream frame means to the proxy.
#[derive(Debug, Clone, PartialEq)]
pub enum UpstreamEvent {
    /// A piece of the answer (`eventType: fulfillment`).
    Content(String),
    /// A piece of the model's reasoning (`fulfillment_thinking`).
    Reasoning(String),
    /// The whole answer, repeated by the `fulfillment_completed` status log. Never a delta:
    /// used only when no `fulfillment` frame came (§4.1 trap a). Empty when the status log
    /// carried no `answer` (§14.3). Either way the answer is complete.
    CompletedAnswer(String),
    Metrics(Metrics),
    /// `data:[DONE]`: the upstream finished successfully.
    Done,
    /// Anything else (heartbeats, status logs, plugin frames, unknown types): proof of life only.
    Other,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: Option<String>,
    #[serde(default, rename = "errorCode")]
    error_code: Option<String>,
}

impl UpstreamEvent {
    /// Whether this event shows the answer is complete even if `[DONE]` never comes: the
    /// completion status log and the metrics frame come only after the last delta (§14.3).
    pub fn completes(&self) -> bool {
        matches!(
            self,
            Self::CompletedAnswer(_) | Self::Metrics(_) | Self::Done
        )
    }
}

/// Payloads skipped because they were not JSON, over the process's life (for the debug log).
static SKIPPED_FRAMES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Interprets one frame. An `[ERROR]:` frame, or an error-shaped payload, is an `Err`. A
/// payload that is not JSON is skipped, as every public consumer of the stream does (§14.3).
pub fn interpret(frame: &RawFrame) -> Result<UpstreamEvent, UpstreamError> {
    let data = frame.data.trim();
    if data == "[DONE]" {
        return Ok(UpstreamEvent::Done);
    }
    if let Some(rest) = data.strip_prefix("[ERROR]") {
        let rest = rest.strip_prefix(':').unwrap_or(rest).trim();
        let body: ErrorBody = serde_json::from_str(rest).unwrap_or(ErrorBody {
            message: Some(rest.to_owned()),
            error_code: None,
        });
        return Err(UpstreamError::stream_error(body.error_code, body.message));
    }
    if frame.event.as_deref() == Some("heartbeat") {
        return Ok(UpstreamEvent::Other);
    }
    let value: Value = match serde_json::from_str(data) {
        Ok(value) => value,
        Err(error) => {
            let skipped = SKIPPED_FRAMES.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            tracing::debug!(%error, skipped, "skipped a stream frame that is not JSON");
            return Ok(UpstreamEvent::Other);
        }
    };
    let event_type = value.get("eventType").and_then(Value::as_str);
    match event_type {
        Some("fulfillment") => Ok(UpstreamEvent::Content(str_at(&value, &["answer"]))),
        Some("fulfillment_thinking") => Ok(UpstreamEvent::Reasoning(str_at(
            &value,
            &["thinking", "delta"],
        ))),
        Some("metricsLog") => Ok(value
            .get("publicMetrics")
            .and_then(Metrics::from_json)
            .map_or(UpstreamEvent::Other, UpstreamEvent::Metrics)),
        Some("statusLog") => {
            let log = value.get("currentStatusLog");
            let status = log
                .and_then(|l| l.get("statusType"))
                .and_then(Value::as_str);
            match status {
                Some("fulfillment_completed") => Ok(UpstreamEvent::CompletedAnswer(
                    log.and_then(|l| l.get("answer"))
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                )),
                _ => Ok(UpstreamEvent::Other),
            }
        }
        Some("error") => Err(error_from_payload(&value)),
        None if value.get("errorCode").is_some() => Err(error_from_payload(&value)),
        _ => Ok(UpstreamEvent::Other),
    }
}

fn error_from_payload(value: &Value) -> UpstreamError {
    let text = |key| value.get(key).and_then(Value::as_str).map(str::to_owned);
    UpstreamError::stream_error(text("errorCode"), text("message"))
}

fn str_at(value: &Value, path: &[&str]) -> String {
    path.iter()
        .try_fold(value, |v, key| v.get(key))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

#[cfg(test)]
#[path = "sse_tests.rs"]
mod tests;
