//! The stream answer (§4): the frame sequence, with the behaviour's faults, written by a
//! task at the pace and in the pieces the behaviour asks for.

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::Response;

use crate::Behaviour;
use crate::routes::{Fake, now_rfc3339, upstream_error};
use crate::wire::{Frames, chunks, deltas, tokens_for};

/// One query's facts, as the stream builders need them.
pub(crate) struct Turn<'a> {
    pub(crate) session_id: &'a str,
    pub(crate) message_id: &'a str,
    pub(crate) query: &'a str,
    pub(crate) answer: &'a str,
    /// The query exceeds the context: answer with an `[ERROR]` frame.
    pub(crate) too_long: bool,
    pub(crate) thinking: bool,
}

/// Builds the frame sequence of §4.1 (and §4.2 with thinking), with the behaviour's faults.
fn stream_frames(b: &Behaviour, turn: &Turn<'_>) -> Vec<String> {
    let Turn {
        session_id,
        message_id,
        query,
        answer,
        too_long,
        thinking,
    } = *turn;
    let time = now_rfc3339();
    let f = Frames {
        session_id,
        message_id,
        time: &time,
    };
    let mut out = Vec::new();
    if !b.no_status_log {
        out.push(f.status(1, "fulfilling", "Fulfilling the prompt...", None));
    }
    out.push(f.heartbeat());
    if b.unknown_events {
        out.push(f.unknown(2));
    }
    if b.malformed_frame {
        out.push(f.malformed());
    }
    if too_long {
        out.push(f.error("context_length_exceeded", "Model context length exceeded"));
        return out;
    }
    let mut index = 1;
    let mut thinking_index = 0;
    let pieces = match b.delta_chars {
        Some(n) => chunks(answer, n),
        None => deltas(answer),
    };
    for (n, delta) in pieces.iter().enumerate() {
        if b.error_after_deltas == Some(n) {
            let code = b.stream_error_code.as_deref().unwrap_or("model_error");
            out.push(f.error(code, "Model failed to generate a response"));
            return out;
        }
        if thinking {
            thinking_index += 1;
            out.push(f.thinking(thinking_index, &format!("Thinking about part {n}. ")));
        }
        index += 1;
        out.push(f.fulfillment(index, delta));
    }
    if b.error_after_deltas.is_some_and(|k| k >= pieces.len()) {
        let code = b.stream_error_code.as_deref().unwrap_or("model_error");
        out.push(f.error(code, "Model failed to generate a response"));
        return out;
    }
    if b.unknown_events {
        out.push(f.unknown(index + 1));
    }
    if !b.no_status_log {
        out.push(f.status(
            index + 1,
            "fulfillment_completed",
            "Fulfillment completed",
            (!b.completed_without_answer).then_some(answer),
        ));
    }
    if !b.no_metrics {
        out.push(f.metrics(index + 2, tokens_for(query), tokens_for(answer)));
    }
    out.push(f.heartbeat());
    if !b.no_done {
        out.push(f.done());
    }
    if b.spaced_json {
        // Every frame as `fulfillment` frames are written (§4), not compact.
        for frame in out.iter_mut().filter(|f| !f.contains("\"fulfillment\"")) {
            *frame = frame.replace("\":", "\": ").replace(",\"", ", \"");
        }
    }
    out
}

pub(crate) fn stream_response(shared: &Fake, b: &Behaviour, turn: &Turn<'_>) -> Response {
    let mut frames = stream_frames(b, turn);
    let mut abort = false;
    if let Some(k) = b.cut_after_frames {
        frames.truncate(k);
        abort = b.cut_abruptly;
    }
    let frame_delay = Duration::from_millis(b.frame_delay_ms);
    let stall = b
        .stall_after_frames
        .map(|k| (k, Duration::from_millis(b.stall_ms)));
    let split = b.split_writes.filter(|n| *n > 0);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    let open = OpenStream::new(shared.clone());
    tokio::spawn(async move {
        let _open = open;
        for (i, frame) in frames.into_iter().enumerate() {
            if i > 0 && !frame_delay.is_zero() {
                tokio::time::sleep(frame_delay).await;
            }
            if let Some((_, pause)) = stall.filter(|(k, _)| *k == i) {
                tokio::time::sleep(pause).await;
            }
            let bytes = Bytes::from(frame);
            let pieces: Vec<Bytes> = match split {
                Some(n) => (0..bytes.len())
                    .step_by(n)
                    .map(|s| bytes.slice(s..(s + n).min(bytes.len())))
                    .collect(),
                None => vec![bytes],
            };
            for piece in pieces {
                if tx.send(Ok(piece)).await.is_err() {
                    return; // the client went away
                }
            }
        }
        if abort {
            // Let the frames already written reach the client before the connection breaks.
            tokio::time::sleep(Duration::from_millis(50)).await;
            let _ = tx
                .send(Err(std::io::Error::other(
                    "connection dropped by fault injection",
                )))
                .await;
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(body))
        .unwrap_or_else(|_| upstream_error(500, "server_error", "fake failed to build a stream"))
}

/// Counts a stream writer as open until it is dropped, however it ends.
struct OpenStream(Fake);

impl OpenStream {
    fn new(shared: Fake) -> Self {
        shared.open_streams.fetch_add(1, Ordering::SeqCst);
        Self(shared)
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.open_streams.fetch_sub(1, Ordering::SeqCst);
    }
}
