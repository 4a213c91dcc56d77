//! Answers as `response` objects (`resp_…`, with `message`, `reasoning`, `function_call` and
//! `custom_tool_call` output items) and the Responses event stream: `response.created`,
//! `response.in_progress`, each item's `output_item.added` → its parts and deltas → their
//! `.done` → `output_item.done`, then `response.completed` (or `response.failed`), every
//! event numbered by `sequence_number`.

use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::Echo;
use crate::engine::{Completion, Finish, StreamEvent};
use crate::openai::ErrorObject;
use crate::relay::{Encoder, KEEPALIVE, unix_now};
use crate::tools::ToolCall;
use crate::usage::TokenUsage;

fn suffix() -> String {
    crate::tools::call_id()
        .trim_start_matches("call_")
        .to_owned()
}

/// A fresh response id, `resp_` and 24 letters and digits.
pub fn response_id() -> String {
    format!("resp_{}", suffix())
}

fn usage(usage: &TokenUsage) -> Value {
    json!({
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.total_tokens,
    })
}

/// What a response object is made of besides its output: for the whole answer and each
/// stream event alike.
#[derive(Debug, Clone)]
pub struct Shell {
    pub id: String,
    pub model: String,
    pub created_at: u64,
    pub echo: Echo,
}

impl Shell {
    pub fn new(model: &str, echo: Echo) -> Self {
        Self {
            id: response_id(),
            model: model.to_owned(),
            created_at: unix_now(),
            echo,
        }
    }

    /// The response object in a state.
    pub fn object(
        &self,
        status: &str,
        output: &[Value],
        usage_: Option<&TokenUsage>,
        error: Value,
    ) -> Value {
        let mut object = Map::with_capacity(self.echo.fields.len() + 10);
        object.insert("id".into(), json!(self.id));
        object.insert("object".into(), json!("response"));
        object.insert("created_at".into(), json!(self.created_at));
        object.insert("status".into(), json!(status));
        object.insert("error".into(), error);
        object.insert("incomplete_details".into(), Value::Null);
        object.insert("model".into(), json!(self.model));
        object.insert("output".into(), Value::Array(output.to_vec()));
        object.insert("usage".into(), usage_.map_or(Value::Null, usage));
        for (key, value) in &self.echo.fields {
            object.insert(key.clone(), value.clone());
        }
        Value::Object(object)
    }

    /// A call's item: `function_call`, or `custom_tool_call` with the `input` its arguments
    /// carry.
    fn call_item(&self, call: &ToolCall, status: &str) -> Value {
        if self.echo.custom.contains(&call.name) {
            json!({"type": "custom_tool_call", "id": format!("ctc_{}", suffix()), "status": status,
                "call_id": call.id, "name": call.name, "input": custom_input(call)})
        } else {
            json!({"type": "function_call", "id": format!("fc_{}", suffix()), "status": status,
                "call_id": call.id, "name": call.name, "arguments": call.arguments})
        }
    }
}

/// A custom tool's raw input, out of the arguments the model gave it.
fn custom_input(call: &ToolCall) -> String {
    match serde_json::from_str::<Value>(&call.arguments) {
        Ok(Value::Object(mut args)) => match args.remove("input") {
            Some(Value::String(input)) => input,
            Some(other) => other.to_string(),
            None => call.arguments.clone(),
        },
        _ => call.arguments.clone(),
    }
}

fn message_item(text: &str, status: &str) -> Value {
    json!({"type": "message", "id": format!("msg_{}", suffix()), "status": status, "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]})
}

fn reasoning_item(text: &str) -> Value {
    json!({"type": "reasoning", "id": format!("rs_{}", suffix()),
        "summary": [{"type": "summary_text", "text": text}]})
}

/// The whole answer's output items: reasoning, the message, then the calls.
pub fn output(shell: &Shell, done: &Completion) -> Vec<Value> {
    let mut output = Vec::with_capacity(2 + done.calls.len());
    if !done.answer.reasoning.is_empty() {
        output.push(reasoning_item(&done.answer.reasoning));
    }
    if !done.answer.answer.trim().is_empty() || done.calls.is_empty() {
        output.push(message_item(&done.answer.answer, "completed"));
    }
    output.extend(done.calls.iter().map(|c| shell.call_item(c, "completed")));
    output
}

/// The whole answer as a completed response object.
pub fn response(shell: &Shell, done: &Completion) -> Value {
    shell.object(
        "completed",
        &output(shell, done),
        Some(&done.usage),
        Value::Null,
    )
}

/// The item being streamed.
#[derive(Debug)]
enum Open {
    Reasoning { id: String, text: String },
    Message { id: String, text: String },
}

/// Turns a stream's events into the Responses event stream.
#[derive(Debug)]
pub struct ResponseEncoder {
    shell: Shell,
    sequence: u64,
    started: bool,
    /// Finished items, for the final response object.
    output: Vec<Value>,
    open: Option<Open>,
    /// Text has begun since the last call: later reasoning is not passed on (an item per
    /// fragment would split the message).
    texting: bool,
    /// Blank text between items, held until text follows.
    blank: String,
    /// The completed response object, once the stream is done.
    completed: Option<Value>,
}

impl ResponseEncoder {
    pub fn new(shell: Shell) -> Self {
        Self {
            shell,
            sequence: 0,
            started: false,
            output: Vec::new(),
            open: None,
            texting: false,
            blank: String::new(),
            completed: None,
        }
    }

    fn emit(&mut self, out: &mut Vec<u8>, kind: &str, mut data: Value) {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(self.sequence);
        self.sequence += 1;
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(kind.as_bytes());
        out.extend_from_slice(b"\ndata: ");
        let _ = serde_json::to_writer(&mut *out, &data);
        out.extend_from_slice(b"\n\n");
    }

    fn ensure_started(&mut self, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        let response = self.shell.object("in_progress", &[], None, Value::Null);
        self.emit(out, "response.created", json!({"response": response}));
        let response = self.shell.object("in_progress", &[], None, Value::Null);
        self.emit(out, "response.in_progress", json!({"response": response}));
    }

    fn index(&self) -> usize {
        self.output.len()
    }

    fn close(&mut self, out: &mut Vec<u8>) {
        let index = self.index();
        match self.open.take() {
            None => {}
            Some(Open::Reasoning { id, text }) => {
                let part = json!({"type": "summary_text", "text": text});
                let base = json!({"item_id": id, "output_index": index, "summary_index": 0});
                let mut done = base.clone();
                done["text"] = json!(text);
                self.emit(out, "response.reasoning_summary_text.done", done);
                let mut done = base;
                done["part"] = part.clone();
                self.emit(out, "response.reasoning_summary_part.done", done);
                let item = json!({"type": "reasoning", "id": id, "summary": [part]});
                self.emit(
                    out,
                    "response.output_item.done",
                    json!({"output_index": index, "item": item}),
                );
                self.output.push(item);
            }
            Some(Open::Message { id, text }) => {
                let base = json!({"item_id": id, "output_index": index, "content_index": 0});
                let mut done = base.clone();
                done["text"] = json!(text);
                done["logprobs"] = json!([]);
                self.emit(out, "response.output_text.done", done);
                let mut done = base;
                done["part"] =
                    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []});
                self.emit(out, "response.content_part.done", done);
                let mut item = message_item(&text, "completed");
                item["id"] = json!(id);
                self.emit(
                    out,
                    "response.output_item.done",
                    json!({"output_index": index, "item": item}),
                );
                self.output.push(item);
            }
        }
    }

    fn open_message(&mut self, out: &mut Vec<u8>) {
        if matches!(self.open, Some(Open::Message { .. })) {
            return;
        }
        self.close(out);
        let id = format!("msg_{}", suffix());
        let index = self.index();
        let mut item = message_item("", "in_progress");
        item["id"] = json!(id);
        item["content"] = json!([]);
        self.emit(
            out,
            "response.output_item.added",
            json!({"output_index": index, "item": item}),
        );
        self.emit(
            out,
            "response.content_part.added",
            json!({"item_id": id, "output_index": index, "content_index": 0,
                "part": {"type": "output_text", "text": "", "annotations": [], "logprobs": []}}),
        );
        self.open = Some(Open::Message {
            id,
            text: String::new(),
        });
        self.texting = true;
    }

    fn text(&mut self, out: &mut Vec<u8>, piece: &str) {
        if !matches!(self.open, Some(Open::Message { .. })) && piece.trim().is_empty() {
            self.blank.push_str(piece);
            return;
        }
        let piece = std::mem::take(&mut self.blank) + piece;
        self.open_message(out);
        let index = self.index();
        if let Some(Open::Message { id, text }) = &mut self.open {
            text.push_str(&piece);
            let data = json!({"item_id": id, "output_index": index, "content_index": 0,
                "delta": piece, "logprobs": []});
            self.emit(out, "response.output_text.delta", data);
        }
    }

    fn reasoning(&mut self, out: &mut Vec<u8>, piece: &str) {
        if self.texting {
            return;
        }
        if !matches!(self.open, Some(Open::Reasoning { .. })) {
            self.close(out);
            let id = format!("rs_{}", suffix());
            let index = self.index();
            self.emit(
                out,
                "response.output_item.added",
                json!({"output_index": index, "item": {"type": "reasoning", "id": id, "summary": []}}),
            );
            self.emit(
                out,
                "response.reasoning_summary_part.added",
                json!({"item_id": id, "output_index": index, "summary_index": 0,
                    "part": {"type": "summary_text", "text": ""}}),
            );
            self.open = Some(Open::Reasoning {
                id,
                text: String::new(),
            });
        }
        let index = self.index();
        if let Some(Open::Reasoning { id, text }) = &mut self.open {
            text.push_str(piece);
            let data =
                json!({"item_id": id, "output_index": index, "summary_index": 0, "delta": piece});
            self.emit(out, "response.reasoning_summary_text.delta", data);
        }
    }

    fn call(&mut self, out: &mut Vec<u8>, call: &ToolCall) {
        self.close(out);
        self.blank.clear();
        self.texting = false;
        let index = self.index();
        let done = self.shell.call_item(call, "completed");
        let id = done["id"].clone();
        let mut added = done.clone();
        added["status"] = json!("in_progress");
        let custom = done["type"] == "custom_tool_call";
        if custom {
            added["input"] = json!("");
        } else {
            added["arguments"] = json!("");
        }
        self.emit(
            out,
            "response.output_item.added",
            json!({"output_index": index, "item": added}),
        );
        if custom {
            let input = done["input"].clone();
            self.emit(
                out,
                "response.custom_tool_call_input.delta",
                json!({"item_id": id, "output_index": index, "delta": input}),
            );
            self.emit(
                out,
                "response.custom_tool_call_input.done",
                json!({"item_id": id, "output_index": index, "input": input}),
            );
        } else {
            self.emit(
                out,
                "response.function_call_arguments.delta",
                json!({"item_id": id, "output_index": index, "delta": call.arguments}),
            );
            self.emit(
                out,
                "response.function_call_arguments.done",
                json!({"item_id": id, "output_index": index, "name": call.name, "arguments": call.arguments}),
            );
        }
        self.emit(
            out,
            "response.output_item.done",
            json!({"output_index": index, "item": done}),
        );
        self.output.push(done);
    }

    fn failed(&mut self, out: &mut Vec<u8>, code: &str, message: &str) {
        self.close(out);
        let error = json!({"code": code, "message": message});
        let response = self.shell.object("failed", &self.output, None, error);
        self.emit(out, "response.failed", json!({"response": response}));
    }

    /// The completed response object, once: after `Done` was encoded.
    pub fn take_completed(&mut self) -> Option<Value> {
        self.completed.take()
    }
}

impl Encoder for ResponseEncoder {
    fn start(&mut self) -> Bytes {
        let mut out = Vec::new();
        self.ensure_started(&mut out);
        Bytes::from(out)
    }

    fn event(&mut self, event: &StreamEvent) -> Bytes {
        let mut out = Vec::with_capacity(256);
        self.ensure_started(&mut out);
        match event {
            StreamEvent::Text(text) => self.text(&mut out, text),
            StreamEvent::Reasoning(text) => self.reasoning(&mut out, text),
            StreamEvent::ToolCall(call) => self.call(&mut out, call),
            StreamEvent::KeepAlive => out.extend_from_slice(KEEPALIVE),
            StreamEvent::Done { usage, finish } => {
                if self.output.is_empty() && self.open.is_none() && *finish == Finish::Stop {
                    // An empty answer is still a message, as the whole answer's is.
                    self.open_message(&mut out);
                }
                self.close(&mut out);
                let response =
                    self.shell
                        .object("completed", &self.output, Some(usage), Value::Null);
                self.emit(
                    &mut out,
                    "response.completed",
                    json!({"response": &response}),
                );
                self.completed = Some(response);
            }
            StreamEvent::Failed(failure) => self.failed(&mut out, failure.code, &failure.message),
        }
        Bytes::from(out)
    }

    fn keepalive(&mut self) -> Bytes {
        let mut out = Vec::new();
        self.ensure_started(&mut out);
        out.extend_from_slice(KEEPALIVE);
        Bytes::from(out)
    }

    fn refused(&mut self, _status: u16, error: ErrorObject) -> Bytes {
        let mut out = Vec::new();
        self.ensure_started(&mut out);
        let code = error.code.as_deref().unwrap_or("server_error").to_owned();
        self.failed(&mut out, &code, &error.message);
        Bytes::from(out)
    }
}
