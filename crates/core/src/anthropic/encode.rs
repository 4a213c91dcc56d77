//! Answers in Anthropic's shapes: the non-stream `message` object, the stream of
//! `message_start` → content blocks → `message_delta` → `message_stop`, and the error
//! envelope `{"type": "error", "error": {"type", "message"}}`.

use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;

use crate::chat::ChatPlan;
use crate::engine::{Completion, Finish, StreamEvent};
use crate::openai::ErrorObject;
use crate::relay::Encoder;
use crate::tools::ToolCall;
use crate::usage::TokenUsage;

/// `msg_` and 24 letters and digits, as Anthropic's look.
pub fn message_id() -> String {
    format!(
        "msg_{}",
        crate::tools::call_id().trim_start_matches("call_")
    )
}

/// A call's id as this dialect writes it: `toolu_…` (the core makes `call_…`).
pub fn tool_use_id(call: &ToolCall) -> String {
    format!("toolu_{}", call.id.trim_start_matches("call_"))
}

fn stop_reason(finish: Finish) -> &'static str {
    match finish {
        Finish::Stop => "end_turn",
        Finish::ToolCalls => "tool_use",
        Finish::StopSequence(_) => "stop_sequence",
    }
}

/// The stop sequence an answer ended on, as written in the request.
fn stop_sequence(plan_stops: &[String], finish: Finish) -> Option<&str> {
    match finish {
        Finish::StopSequence(i) => plan_stops.get(i).map(String::as_str),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_creation_input_tokens: u64,
    pub cache_read_input_tokens: u64,
}

impl From<TokenUsage> for Usage {
    fn from(usage: TokenUsage) -> Self {
        Self {
            input_tokens: usage.prompt_tokens,
            output_tokens: usage.completion_tokens,
            cache_creation_input_tokens: 0,
            cache_read_input_tokens: 0,
        }
    }
}

/// A content block of an answer.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block<'a> {
    Text {
        text: &'a str,
    },
    /// The upstream signs nothing; the signature is empty.
    Thinking {
        thinking: &'a str,
        signature: &'a str,
    },
    ToolUse {
        id: String,
        name: &'a str,
        input: Value,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct MessageOut<'a> {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub role: &'static str,
    pub model: &'a str,
    pub content: Vec<Block<'a>>,
    pub stop_reason: Option<&'static str>,
    pub stop_sequence: Option<&'a str>,
    pub usage: Usage,
}

fn input_of(call: &ToolCall) -> Value {
    serde_json::from_str(&call.arguments).unwrap_or_else(|_| Value::Object(Default::default()))
}

/// The non-stream answer: thinking, text, then one `tool_use` block per call.
pub fn message<'a>(plan: &'a ChatPlan, done: &'a Completion) -> MessageOut<'a> {
    let mut content = Vec::with_capacity(2 + done.calls.len());
    if !done.answer.reasoning.is_empty() {
        content.push(Block::Thinking {
            thinking: &done.answer.reasoning,
            signature: "",
        });
    }
    if !done.answer.answer.is_empty() || done.calls.is_empty() {
        content.push(Block::Text {
            text: &done.answer.answer,
        });
    }
    content.extend(done.calls.iter().map(|call| Block::ToolUse {
        id: tool_use_id(call),
        name: &call.name,
        input: input_of(call),
    }));
    let finish = match (done.stop, done.calls.is_empty()) {
        (Some(i), _) => Finish::StopSequence(i),
        (None, true) => Finish::Stop,
        (None, false) => Finish::ToolCalls,
    };
    MessageOut {
        id: message_id(),
        kind: "message",
        role: "assistant",
        model: &plan.model,
        content,
        stop_reason: Some(stop_reason(finish)),
        stop_sequence: stop_sequence(&plan.model_configs.stop_sequences, finish),
        usage: done.usage.into(),
    }
}

/// Anthropic's error type for a status.
pub fn error_type(status: u16) -> &'static str {
    match status {
        400 | 405 | 422 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        _ => "api_error",
    }
}

/// The error envelope for an error of the OpenAI shape; the parameter at fault, which this
/// envelope has no field for, leads the message.
pub fn error_body(status: u16, error: &ErrorObject) -> Value {
    let message = match &error.param {
        Some(param) => format!("{param}: {}", error.message),
        None => error.message.clone(),
    };
    serde_json::json!({
        "type": "error",
        "error": {"type": error_type(status), "message": message},
    })
}

fn event(name: &str, data: &impl Serialize) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    let _ = serde_json::to_writer(&mut out, data);
    out.extend_from_slice(b"\n\n");
    out
}

const PING: &[u8] = b"event: ping\ndata: {\"type\":\"ping\"}\n\n";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text,
    Thinking,
}

/// Turns a stream's events into Anthropic's SSE events.
#[derive(Debug)]
pub struct MessageEncoder {
    id: String,
    model: String,
    /// The request's stop sequences, to name the one an answer ended on.
    stops: Vec<String>,
    /// `message_start` went out (it goes first, even before pings: the SDKs insist).
    started: bool,
    /// The block being written, if any, and the next block's index.
    open: Option<Open>,
    index: usize,
    /// Text has begun since the last call: reasoning that comes now is not passed on.
    /// Anthropic's grammar has thinking before text; a block per fragment would split the
    /// answer into pieces, and agents show only the last text block.
    texting: bool,
    /// Blank text between blocks (the line breaks around a call), held until text follows:
    /// alone it would be a block of nothing.
    blank: String,
}

impl MessageEncoder {
    pub fn new(plan: &ChatPlan) -> Self {
        Self {
            id: message_id(),
            model: plan.model.clone(),
            stops: plan.model_configs.stop_sequences.clone(),
            started: false,
            open: None,
            index: 0,
            texting: false,
            blank: String::new(),
        }
    }

    fn ensure_started(&mut self, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        out.extend(event(
            "message_start",
            &serde_json::json!({
                "type": "message_start",
                "message": MessageOut {
                    id: self.id.clone(),
                    kind: "message",
                    role: "assistant",
                    model: &self.model,
                    content: Vec::new(),
                    stop_reason: None,
                    stop_sequence: None,
                    usage: TokenUsage::default().into(),
                },
            }),
        ));
    }

    fn close(&mut self, out: &mut Vec<u8>) {
        if self.open.take().is_some() {
            out.extend(event(
                "content_block_stop",
                &serde_json::json!({"type": "content_block_stop", "index": self.index}),
            ));
            self.index += 1;
        }
    }

    fn block_start(&self, out: &mut Vec<u8>, block: &Block<'_>) {
        out.extend(event(
            "content_block_start",
            &serde_json::json!({
                "type": "content_block_start",
                "index": self.index,
                "content_block": block,
            }),
        ));
    }

    fn delta(&self, out: &mut Vec<u8>, delta: Value) {
        out.extend(event(
            "content_block_delta",
            &serde_json::json!({"type": "content_block_delta", "index": self.index, "delta": delta}),
        ));
    }

    /// A piece of text or thinking: in the open block of its kind, or a new one.
    fn piece(&mut self, out: &mut Vec<u8>, kind: Open, text: &str) {
        if kind == Open::Thinking && self.texting {
            return;
        }
        if kind == Open::Text && self.open != Some(Open::Text) && text.trim().is_empty() {
            self.blank.push_str(text);
            return;
        }
        let held;
        let text = if kind == Open::Text && !self.blank.is_empty() {
            held = std::mem::take(&mut self.blank) + text;
            held.as_str()
        } else {
            text
        };
        if self.open != Some(kind) {
            self.close(out);
            self.block_start(
                out,
                &match kind {
                    Open::Text => Block::Text { text: "" },
                    Open::Thinking => Block::Thinking {
                        thinking: "",
                        signature: "",
                    },
                },
            );
            self.open = Some(kind);
            self.texting |= kind == Open::Text;
        }
        self.delta(
            out,
            match kind {
                Open::Text => serde_json::json!({"type": "text_delta", "text": text}),
                Open::Thinking => serde_json::json!({"type": "thinking_delta", "thinking": text}),
            },
        );
    }

    /// A call: its own block, named, with its whole input as one delta.
    fn call(&mut self, out: &mut Vec<u8>, call: &ToolCall) {
        self.close(out);
        self.blank.clear();
        self.texting = false;
        self.block_start(
            out,
            &Block::ToolUse {
                id: tool_use_id(call),
                name: &call.name,
                input: Value::Object(Default::default()),
            },
        );
        self.delta(
            out,
            serde_json::json!({"type": "input_json_delta", "partial_json": call.arguments}),
        );
        self.open = Some(Open::Text);
        self.close(out);
    }

    fn error(&mut self, out: &mut Vec<u8>, status: u16, error: &ErrorObject) {
        out.extend(event("error", &error_body(status, error)));
    }
}

impl Encoder for MessageEncoder {
    fn start(&mut self) -> Bytes {
        let mut out = Vec::new();
        self.ensure_started(&mut out);
        Bytes::from(out)
    }

    fn event(&mut self, ev: &StreamEvent) -> Bytes {
        let mut out = Vec::with_capacity(192);
        self.ensure_started(&mut out);
        match ev {
            StreamEvent::Text(text) => self.piece(&mut out, Open::Text, text),
            StreamEvent::Reasoning(text) => self.piece(&mut out, Open::Thinking, text),
            StreamEvent::ToolCall(call) => self.call(&mut out, call),
            StreamEvent::KeepAlive => out.extend_from_slice(PING),
            StreamEvent::Done { usage, finish } => {
                self.close(&mut out);
                out.extend(event(
                    "message_delta",
                    &serde_json::json!({
                        "type": "message_delta",
                        "delta": {
                            "stop_reason": stop_reason(*finish),
                            "stop_sequence": stop_sequence(&self.stops, *finish),
                        },
                        "usage": Usage::from(*usage),
                    }),
                ));
                out.extend(event(
                    "message_stop",
                    &serde_json::json!({"type": "message_stop"}),
                ));
            }
            StreamEvent::Failed(failure) => self.error(&mut out, 502, &failure.into()),
        }
        Bytes::from(out)
    }

    fn keepalive(&mut self) -> Bytes {
        let mut out = Vec::new();
        self.ensure_started(&mut out);
        out.extend_from_slice(PING);
        Bytes::from(out)
    }

    fn refused(&mut self, status: u16, error: ErrorObject) -> Bytes {
        let mut out = Vec::new();
        self.error(&mut out, status, &error);
        Bytes::from(out)
    }
}
