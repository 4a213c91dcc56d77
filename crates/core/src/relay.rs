//! Encoding answers: the [`Encoder`] every dialect's stream implements, and the OpenAI Chat
//! Completions format: the non-stream `chat.completion` object, and the stream of
//! `chat.completion.chunk` events (role first, then deltas, then a chunk with
//! `finish_reason`, an optional usage chunk, then `data: [DONE]`).
//!
//! An encoder is a pure function of the engine's [`StreamEvent`]s: the exact bytes a client
//! receives are tested without a server or an upstream.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::chat::ChatPlan;
use crate::engine::{Completion, Finish, StreamEvent};
use crate::openai::{
    AssistantMessage, ChatCompletion, ChatCompletionChunk, Choice, ChunkChoice, ChunkUsage, Delta,
    ErrorEnvelope, ErrorObject, FunctionDelta, FunctionOut, ToolCallDelta,
};
use crate::usage::TokenUsage;

/// The finish reason: the upstream has no truncation signal (§5), so an answer is a
/// `stop`, or calls (`function_call` for the legacy `functions` API).
fn finish_reason(finish: Finish, legacy: bool) -> &'static str {
    match (finish, legacy) {
        (Finish::Stop | Finish::StopSequence(_), _) => "stop",
        (Finish::ToolCalls, false) => "tool_calls",
        (Finish::ToolCalls, true) => "function_call",
    }
}

fn legacy(plan: &ChatPlan) -> bool {
    plan.tools.as_deref().is_some_and(|t| t.legacy)
}

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
    let Completion {
        answer,
        calls,
        usage,
        ..
    } = done;
    let legacy = legacy(plan);
    let finish = if calls.is_empty() {
        Finish::Stop
    } else {
        Finish::ToolCalls
    };
    let content = (calls.is_empty() || !answer.answer.is_empty()).then_some(answer.answer);
    let (tool_calls, function_call) = match (calls.is_empty(), legacy) {
        (true, _) => (None, None),
        (false, false) => (Some(calls.into_iter().map(Into::into).collect()), None),
        (false, true) => (
            None,
            calls.into_iter().next().map(|c| FunctionOut {
                name: c.name,
                arguments: c.arguments,
            }),
        ),
    };
    ChatCompletion {
        id: completion_id(),
        object: "chat.completion",
        created: unix_now(),
        model: plan.model.clone(),
        choices: vec![Choice {
            index: 0,
            message: AssistantMessage {
                role: "assistant",
                content,
                reasoning_content: (!answer.reasoning.is_empty()).then_some(answer.reasoning),
                refusal: None,
                tool_calls,
                function_call,
            },
            finish_reason: finish_reason(finish, legacy),
            logprobs: None,
        }],
        usage,
        system_fingerprint: None,
    }
}

/// Turns a stream's dialect-neutral events into one dialect's bytes. The HTTP layer drives
/// it: keep-alives while the answer has not begun, then [`Encoder::start`] and one call of
/// [`Encoder::event`] per event, or [`Encoder::refused`] when the request fails after the
/// `200` went out.
pub trait Encoder: Send + 'static {
    /// The first bytes once the answer has begun.
    fn start(&mut self) -> Bytes;
    /// The bytes for one event; after `Done` or `Failed` nothing more is asked.
    fn event(&mut self, event: &StreamEvent) -> Bytes;
    /// Bytes that keep the connection alive before the answer has begun.
    fn keepalive(&mut self) -> Bytes;
    /// The closing bytes when the request failed after the `200` went out and before any
    /// content: `status` is the one it would have had.
    fn refused(&mut self, status: u16, error: ErrorObject) -> Bytes;
    /// Work to finish after the last event was encoded and before its bytes go out (a
    /// response to store, so that the next request can continue it).
    fn settle(&mut self) -> Option<Settling> {
        None
    }
}

/// See [`Encoder::settle`].
pub type Settling = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Turns a stream's events into OpenAI SSE chunks.
#[derive(Debug)]
pub struct ChunkEncoder {
    id: String,
    model: String,
    created: u64,
    include_usage: bool,
    /// Calls go out as the legacy `function_call`.
    legacy: bool,
    /// Calls sent so far (the next call's `index`).
    calls: usize,
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
            legacy: legacy(plan),
            calls: 0,
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
    fn opening(&self) -> Bytes {
        self.chunk(
            Delta {
                role: Some("assistant"),
                content: Some(""),
                ..Delta::default()
            },
            None,
        )
    }

    /// The bytes for one event. `Done` closes with the finish chunk, the usage chunk if
    /// asked, and `[DONE]`; `Failed` with an error event and no `[DONE]`, so no client
    /// mistakes a broken answer for a complete one.
    fn encode(&mut self, event: &StreamEvent) -> Bytes {
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
            StreamEvent::ToolCall(call) => self.call(call),
            StreamEvent::KeepAlive => Bytes::from_static(KEEPALIVE),
            StreamEvent::Done { usage, finish } => self.finish(*usage, *finish),
            StreamEvent::Failed(failure) => error_event(failure.into()),
        }
    }

    /// A call: a chunk that names it (index, id, type, name), then one with its arguments.
    fn call(&mut self, call: &crate::tools::ToolCall) -> Bytes {
        let index = self.calls;
        self.calls += 1;
        let (named, arguments) = if self.legacy {
            (
                Delta {
                    function_call: Some(FunctionDelta {
                        name: Some(&call.name),
                        arguments: "",
                    }),
                    ..Delta::default()
                },
                Delta {
                    function_call: Some(FunctionDelta {
                        name: None,
                        arguments: &call.arguments,
                    }),
                    ..Delta::default()
                },
            )
        } else {
            (
                Delta {
                    tool_calls: Some([ToolCallDelta {
                        index,
                        id: Some(&call.id),
                        kind: Some("function"),
                        function: FunctionDelta {
                            name: Some(&call.name),
                            arguments: "",
                        },
                    }]),
                    ..Delta::default()
                },
                Delta {
                    tool_calls: Some([ToolCallDelta {
                        index,
                        id: None,
                        kind: None,
                        function: FunctionDelta {
                            name: None,
                            arguments: &call.arguments,
                        },
                    }]),
                    ..Delta::default()
                },
            )
        };
        let mut out = self.chunk(named, None).to_vec();
        out.extend_from_slice(&self.chunk(arguments, None));
        Bytes::from(out)
    }

    fn finish(&self, usage: TokenUsage, finish: Finish) -> Bytes {
        let reason = finish_reason(finish, self.legacy);
        let mut out = self.chunk(Delta::default(), Some(reason)).to_vec();
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

impl Encoder for ChunkEncoder {
    fn start(&mut self) -> Bytes {
        self.opening()
    }

    fn event(&mut self, event: &StreamEvent) -> Bytes {
        self.encode(event)
    }

    fn keepalive(&mut self) -> Bytes {
        Bytes::from_static(KEEPALIVE)
    }

    fn refused(&mut self, _status: u16, error: ErrorObject) -> Bytes {
        error_event(error)
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
