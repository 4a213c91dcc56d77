//! Encoding answers in the OpenAI Chat Completions format: the non-stream `chat.completion`
//! object, and the stream of `chat.completion.chunk` events (role first, then deltas, then a
//! chunk with `finish_reason`, an optional usage chunk, then `data: [DONE]`).
//!
//! The encoder is a pure function of the engine's [`StreamEvent`]s: the exact bytes a client
//! receives are tested without a server or an upstream.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::chat::ChatPlan;
use crate::engine::{Completion, StreamEvent};
use crate::openai::{
    AssistantMessage, ChatCompletion, ChatCompletionChunk, Choice, ChunkChoice, ChunkUsage, Delta,
    ErrorEnvelope, ErrorObject,
};
use crate::usage::TokenUsage;

/// The upstream has no truncation signal (§5), so every finished answer is a `stop`.
const FINISH_REASON: &str = "stop";

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub fn completion_id() -> String {
    format!("chatcmpl-{:024x}", rand::random::<u128>() >> 32)
}

/// The non-stream response body.
pub fn completion(plan: &ChatPlan, done: Completion) -> ChatCompletion {
    let Completion { answer, usage } = done;
    ChatCompletion {
        id: completion_id(),
        object: "chat.completion",
        created: unix_now(),
        model: plan.model.clone(),
        choices: vec![Choice {
            index: 0,
            message: AssistantMessage {
                role: "assistant",
                content: answer.answer,
                reasoning_content: (!answer.reasoning.is_empty()).then_some(answer.reasoning),
                refusal: None,
            },
            finish_reason: FINISH_REASON,
            logprobs: None,
        }],
        usage,
        system_fingerprint: None,
    }
}

/// Turns a stream's events into OpenAI SSE chunks.
#[derive(Debug)]
pub struct ChunkEncoder {
    id: String,
    model: String,
    created: u64,
    include_usage: bool,
}

fn sse(json: &impl serde::Serialize) -> Bytes {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"data: ");
    // Serialising these plain structs cannot fail.
    let _ = serde_json::to_writer(&mut out, json);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

impl ChunkEncoder {
    pub fn new(plan: &ChatPlan) -> Self {
        Self {
            id: completion_id(),
            model: plan.model.clone(),
            created: unix_now(),
            include_usage: plan.include_usage,
        }
    }

    fn chunk(&self, delta: Delta<'_>, finish_reason: Option<&'static str>) -> Bytes {
        sse(&ChatCompletionChunk {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                finish_reason,
                logprobs: None,
            }],
            usage: if self.include_usage {
                ChunkUsage::Pending(None)
            } else {
                ChunkUsage::Absent
            },
            system_fingerprint: None,
        })
    }

    /// The opening chunk: `delta: {role: "assistant", content: ""}`.
    pub fn start(&self) -> Bytes {
        self.chunk(
            Delta {
                role: Some("assistant"),
                content: Some(""),
                reasoning_content: None,
            },
            None,
        )
    }

    /// The bytes for one event. `Done` closes with the finish chunk, the usage chunk if
    /// asked, and `[DONE]`; `Failed` with an error event and no `[DONE]`, so no client
    /// mistakes a broken answer for a complete one.
    pub fn event(&self, event: &StreamEvent) -> Bytes {
        match event {
            StreamEvent::Text(text) => self.chunk(
                Delta {
                    content: Some(text),
                    ..Delta::default()
                },
                None,
            ),
            StreamEvent::Reasoning(text) => self.chunk(
                Delta {
                    reasoning_content: Some(text),
                    ..Delta::default()
                },
                None,
            ),
            StreamEvent::Done { usage } => self.finish(*usage),
            StreamEvent::Failed(failure) => error_event(ErrorObject {
                message: failure.message.clone(),
                kind: "server_error",
                param: None,
                code: Some(failure.code.into()),
            }),
        }
    }

    fn finish(&self, usage: TokenUsage) -> Bytes {
        let mut out = self.chunk(Delta::default(), Some(FINISH_REASON)).to_vec();
        if self.include_usage {
            out.extend_from_slice(&sse(&ChatCompletionChunk {
                id: &self.id,
                object: "chat.completion.chunk",
                created: self.created,
                model: &self.model,
                choices: vec![],
                usage: ChunkUsage::Final(usage),
                system_fingerprint: None,
            }));
        }
        out.extend_from_slice(b"data: [DONE]\n\n");
        Bytes::from(out)
    }
}

/// The closing bytes of a failed stream: an OpenAI error event and no `[DONE]`, so no client
/// mistakes a broken answer for a complete one.
pub fn error_event(error: ErrorObject) -> Bytes {
    sse(&ErrorEnvelope { error })
}

/// An SSE comment: keeps the client's connection alive while the upstream has said nothing.
pub const KEEPALIVE: &[u8] = b": keep-alive\n\n";

#[cfg(test)]
#[path = "relay_tests.rs"]
mod tests;
