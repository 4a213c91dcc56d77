//! The Anthropic Messages dialect (`POST /v1/messages`): a request is translated into the
//! Chat Completions request the core plans ([`decode`]), and answers are encoded in
//! Anthropic's shapes ([`encode`]). Nothing here keeps its own failover, usage or session
//! logic: the dialect is a decoder and an encoder around the one core path.
//!
//! Image blocks (base64 or URL sources, in a user turn or a tool result) become the core's
//! image parts, described by on-demand.io's image agent ([`crate::images`]). What the
//! upstream cannot do is refused with a 400 that names it (document blocks, server tools
//! such as `web_search`); what only tunes Anthropic's own serving (`cache_control`,
//! `context_management`, `anthropic-beta`) is accepted and ignored.

pub mod encode;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::chat::PlanError;
use crate::openai::{ChatCompletionRequest, ChatMessage, ContentPart, Stop};

/// A Messages request. Unknown fields are accepted and ignored, as Anthropic's API does
/// for new client fields.
#[derive(Debug, Clone, Deserialize)]
pub struct MessagesRequest {
    pub model: String,
    #[serde(default)]
    pub messages: Vec<Message>,
    #[serde(default)]
    pub system: Option<Content>,
    #[serde(default)]
    pub max_tokens: Option<u64>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    #[serde(default)]
    pub top_k: Option<Value>,
    #[serde(default)]
    pub stop_sequences: Option<Vec<String>>,
    #[serde(default)]
    pub tools: Option<Vec<Value>>,
    #[serde(default)]
    pub tool_choice: Option<Value>,
    #[serde(default)]
    pub thinking: Option<Value>,
    #[serde(default)]
    pub output_config: Option<Value>,
    /// The structured-output beta's older spelling of `output_config.format`.
    #[serde(default)]
    pub output_format: Option<Value>,
    #[serde(default)]
    pub metadata: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: Content,
}

/// A string, or a list of content blocks (read by hand, so that an unsupported block is
/// named by its path).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Blocks(Vec<Value>),
}

/// A decoded request: the chat request to plan, and what was changed to suit the upstream
/// (for the usage row).
#[derive(Debug)]
pub struct Decoded {
    pub request: ChatCompletionRequest,
    pub notes: Vec<String>,
}

fn invalid(param: impl Into<String>, message: impl Into<String>) -> PlanError {
    PlanError::Invalid {
        message: message.into(),
        param: Some(param.into()),
    }
}

fn block_type(block: &Value) -> &str {
    block.get("type").and_then(Value::as_str).unwrap_or("")
}

/// The text of a `text` block; the block is refused without one.
fn text_of<'a>(block: &'a Value, at: &str) -> Result<&'a str, PlanError> {
    block.get("text").and_then(Value::as_str).ok_or_else(|| {
        invalid(
            format!("{at}.text"),
            "A `text` block needs its `text` (a string).",
        )
    })
}

/// Why a block the upstream cannot take is refused.
fn unsupported(kind: &str, at: &str) -> PlanError {
    let why = match kind {
        "document" => {
            "`document` blocks are not supported: on-demand.io chat takes text and images."
                .to_owned()
        }
        "" => "A content block needs its `type`.".to_owned(),
        other => format!("Content blocks of type `{other}` are not supported here."),
    };
    invalid(at, why)
}

/// Text blocks joined by newlines (a `system` list, a tool result's content).
fn joined_text(content: &Content, at: &str) -> Result<String, PlanError> {
    match content {
        Content::Text(text) => Ok(text.clone()),
        Content::Blocks(blocks) => {
            let mut out = Vec::with_capacity(blocks.len());
            for (j, block) in blocks.iter().enumerate() {
                let at = format!("{at}[{j}]");
                match block_type(block) {
                    "text" => out.push(text_of(block, &at)?),
                    kind => return Err(unsupported(kind, &at)),
                }
            }
            Ok(out.join("\n"))
        }
    }
}

/// An `image` block as the core's image part: a base64 source as a data URL (its
/// `media_type` is only a claim: the bytes decide), or a URL source.
fn image_of(block: &Value, at: &str) -> Result<ContentPart, PlanError> {
    let source = block.get("source");
    let field = |key: &str| source.and_then(|s| s.get(key)).and_then(Value::as_str);
    let url = match field("type") {
        Some("base64") => {
            let data = field("data").ok_or_else(|| {
                invalid(
                    format!("{at}.source.data"),
                    "A base64 image needs its `data`.",
                )
            })?;
            let media_type = field("media_type").unwrap_or("image/png");
            format!("data:{media_type};base64,{data}")
        }
        Some("url") => field("url")
            .ok_or_else(|| invalid(format!("{at}.source.url"), "A URL image needs its `url`."))?
            .to_owned(),
        Some(other) => {
            return Err(invalid(
                format!("{at}.source.type"),
                format!(
                    "Image sources of type `{other}` are not supported (Anthropic's Files API has no counterpart here); send `base64` or `url`."
                ),
            ));
        }
        None => {
            return Err(invalid(
                format!("{at}.source"),
                "An `image` block needs a `source` with its `type`.",
            ));
        }
    };
    Ok(ContentPart::image(url, at.to_owned()))
}

/// A tool result's content: text and images.
fn result_parts(content: &Content, at: &str) -> Result<Vec<ContentPart>, PlanError> {
    match content {
        Content::Text(text) => Ok(vec![ContentPart::text(text.clone())]),
        Content::Blocks(blocks) => {
            let mut out = Vec::with_capacity(blocks.len());
            for (j, block) in blocks.iter().enumerate() {
                let at = format!("{at}[{j}]");
                match block_type(block) {
                    "text" => out.push(ContentPart::text(text_of(block, &at)?)),
                    "image" => out.push(image_of(block, &at)?),
                    kind => return Err(unsupported(kind, &at)),
                }
            }
            Ok(out)
        }
    }
}

/// A user turn: its tool results (as `tool` messages, first, as Anthropic orders them),
/// then its text and images.
fn user_turn(content: &Content, i: usize, out: &mut Vec<ChatMessage>) -> Result<(), PlanError> {
    let blocks = match content {
        Content::Text(text) => {
            out.push(ChatMessage::text("user", text.clone()));
            return Ok(());
        }
        Content::Blocks(blocks) => blocks,
    };
    let mut parts = Vec::new();
    for (j, block) in blocks.iter().enumerate() {
        let at = format!("messages[{i}].content[{j}]");
        match block_type(block) {
            "text" => parts.push(ContentPart::text(text_of(block, &at)?)),
            "image" => parts.push(image_of(block, &at)?),
            "tool_result" => {
                let id = block
                    .get("tool_use_id")
                    .and_then(Value::as_str)
                    .filter(|id| !id.trim().is_empty())
                    .ok_or_else(|| {
                        invalid(
                            format!("{at}.tool_use_id"),
                            "A `tool_result` needs the `tool_use_id` of the call it answers.",
                        )
                    })?;
                let mut result = match block.get("content") {
                    None | Some(Value::Null) => vec![ContentPart::text("")],
                    Some(value) => {
                        let content = Content::deserialize(value).map_err(|_| {
                            invalid(
                                format!("{at}.content"),
                                "A tool result's `content` is a string or a list of blocks.",
                            )
                        })?;
                        result_parts(&content, &format!("{at}.content"))?
                    }
                };
                if block.get("is_error").and_then(Value::as_bool) == Some(true) {
                    match result.first_mut().and_then(|p| p.text.as_mut()) {
                        Some(text) => *text = format!("Error: {text}"),
                        None => result.insert(0, ContentPart::text("Error:")),
                    }
                }
                let mut tool = ChatMessage::of_parts("tool", result);
                tool.tool_call_id = Some(id.to_owned());
                out.push(tool);
            }
            // Thinking is not resent: the upstream keeps no signature to check it against.
            "thinking" | "redacted_thinking" => {}
            kind => return Err(unsupported(kind, &at)),
        }
    }
    if !parts.is_empty() {
        out.push(ChatMessage::of_parts("user", parts));
    }
    Ok(())
}

/// An assistant turn: its text, and its `tool_use` blocks as calls.
fn assistant_turn(content: &Content, i: usize) -> Result<ChatMessage, PlanError> {
    let blocks = match content {
        Content::Text(text) => return Ok(ChatMessage::text("assistant", text.clone())),
        Content::Blocks(blocks) => blocks,
    };
    let mut texts = Vec::new();
    let mut calls = Vec::new();
    for (j, block) in blocks.iter().enumerate() {
        let at = format!("messages[{i}].content[{j}]");
        match block_type(block) {
            "text" => texts.push(text_of(block, &at)?),
            "tool_use" => {
                let id = block.get("id").and_then(Value::as_str);
                let name = block.get("name").and_then(Value::as_str);
                let (Some(id), Some(name)) = (id, name) else {
                    return Err(invalid(at, "A `tool_use` block needs its `id` and `name`."));
                };
                let input = block.get("input").cloned().unwrap_or_else(|| json!({}));
                calls.push(json!({
                    "id": id,
                    "type": "function",
                    "function": {"name": name, "arguments": input.to_string()},
                }));
            }
            "thinking" | "redacted_thinking" => {}
            kind => return Err(unsupported(kind, &at)),
        }
    }
    let mut turn = ChatMessage::text("assistant", texts.join("\n"));
    turn.tool_calls = (!calls.is_empty()).then_some(Value::Array(calls));
    Ok(turn)
}

/// Anthropic's tools as Chat Completions' `function` tools. Server tools (`web_search`,
/// `code_execution`, `bash_…`, computer use) run on Anthropic's side; on-demand.io has no
/// such thing, so they are refused by name.
fn tools(list: &[Value]) -> Result<Value, PlanError> {
    let mut out = Vec::with_capacity(list.len());
    for (i, tool) in list.iter().enumerate() {
        let at = format!("tools[{i}]");
        let kind = tool.get("type").and_then(Value::as_str);
        if let Some(kind) = kind.filter(|k| *k != "custom") {
            let name = tool.get("name").and_then(Value::as_str).unwrap_or(kind);
            return Err(invalid(
                format!("{at}.type"),
                format!(
                    "The server tool `{name}` ({kind}) is not supported: on-demand.io runs no tools for the client. Offer client tools (with `input_schema`) instead."
                ),
            ));
        }
        let mut function = Map::new();
        for (from, to) in [
            ("name", "name"),
            ("description", "description"),
            ("input_schema", "parameters"),
            ("strict", "strict"),
        ] {
            if let Some(value) = tool.get(from) {
                function.insert(to.to_owned(), value.clone());
            }
        }
        out.push(json!({"type": "function", "function": function}));
    }
    Ok(Value::Array(out))
}

/// `tool_choice` as Chat Completions' `tool_choice` and `parallel_tool_calls`.
fn tool_choice(choice: &Value) -> Result<(Value, Option<bool>), PlanError> {
    let parallel = choice
        .get("disable_parallel_tool_use")
        .and_then(Value::as_bool)
        .map(|disabled| !disabled);
    let mapped = match choice.get("type").and_then(Value::as_str) {
        Some("auto") => json!("auto"),
        Some("any") => json!("required"),
        Some("none") => json!("none"),
        Some("tool") => match choice.get("name").and_then(Value::as_str) {
            Some(name) => json!({"type": "function", "function": {"name": name}}),
            None => {
                return Err(invalid(
                    "tool_choice.name",
                    "`tool_choice` of type `tool` needs the tool's `name`.",
                ));
            }
        },
        _ => {
            return Err(invalid(
                "tool_choice.type",
                "`tool_choice.type` must be auto, any, tool or none.",
            ));
        }
    };
    Ok((mapped, parallel))
}

/// A planning error, with Chat's parameter paths as this dialect names them (the tools are
/// read and checked by the core, from the translated request).
pub fn in_dialect(error: PlanError) -> PlanError {
    match error {
        PlanError::Invalid {
            message,
            param: Some(param),
        } => PlanError::Invalid {
            message,
            param: Some(
                param
                    .replace(".function.parameters", ".input_schema")
                    .replace(".function.", ".")
                    .replace("response_format", "output_config.format")
                    .replace("reasoning_effort", "output_config.effort"),
            ),
        },
        other => other,
    }
}

/// `thinking` (and `output_config.effort`) as a reasoning effort: a budget maps to the
/// nearest effort, `adaptive` to the effort asked (the model's own choice when none is).
fn effort(request: &MessagesRequest) -> Result<Option<String>, PlanError> {
    let asked = request
        .output_config
        .as_ref()
        .and_then(|c| c.get("effort"))
        .and_then(Value::as_str);
    let Some(thinking) = &request.thinking else {
        return Ok(asked.map(str::to_owned));
    };
    Ok(match thinking.get("type").and_then(Value::as_str) {
        Some("disabled") => None,
        Some("adaptive") => asked.map(str::to_owned),
        Some("enabled") => {
            let budget = thinking.get("budget_tokens").and_then(Value::as_u64);
            let effort = match budget {
                Some(b) if b < 4_096 => "low",
                Some(b) if b < 16_384 => "medium",
                _ => "high",
            };
            Some(asked.unwrap_or(effort).to_owned())
        }
        _ => {
            return Err(invalid(
                "thinking.type",
                "`thinking.type` must be enabled, adaptive or disabled.",
            ));
        }
    })
}

/// The structured-output format (`output_config.format`, or the beta's `output_format`):
/// `{type: "json_schema", schema}` as Chat's `response_format`.
fn response_format(request: &MessagesRequest) -> Result<Option<Value>, PlanError> {
    let format = request
        .output_config
        .as_ref()
        .and_then(|c| c.get("format"))
        .or(request.output_format.as_ref())
        .filter(|f| !f.is_null());
    let Some(format) = format else {
        return Ok(None);
    };
    match (
        format.get("type").and_then(Value::as_str),
        format.get("schema"),
    ) {
        (Some("json_schema"), Some(schema)) => Ok(Some(json!({
            "type": "json_schema",
            "json_schema": {"name": "output", "schema": schema},
        }))),
        _ => Err(invalid(
            "output_config.format",
            "The output format must be `{\"type\": \"json_schema\", \"schema\": …}`.",
        )),
    }
}

/// Translates a Messages request into the Chat Completions request the core plans.
pub fn decode(request: MessagesRequest) -> Result<Decoded, PlanError> {
    let mut notes = Vec::new();
    if request.messages.is_empty() {
        return Err(invalid(
            "messages",
            "`messages` must contain at least one message.",
        ));
    }
    if let Some(t) = request.temperature
        && !(0.0..=1.0).contains(&t)
    {
        return Err(invalid(
            "temperature",
            format!("`temperature` must be between 0 and 1, got {t}."),
        ));
    }
    if request.top_k.as_ref().is_some_and(|k| !k.is_null()) {
        notes.push("top_k dropped: on-demand.io takes none".to_owned());
    }
    let stop = match request.stop_sequences.clone() {
        Some(s) if s.len() > 4 => {
            return Err(invalid(
                "stop_sequences",
                "`stop_sequences` takes at most 4 sequences here.",
            ));
        }
        Some(s) if !s.is_empty() => Some(Stop::Many(s)),
        _ => None,
    };
    let mut messages = Vec::with_capacity(request.messages.len() + 1);
    if let Some(system) = &request.system {
        let text = joined_text(system, "system")?;
        if !text.is_empty() {
            messages.push(ChatMessage::text("system", text));
        }
    }
    for (i, m) in request.messages.iter().enumerate() {
        match m.role.as_str() {
            "user" => user_turn(&m.content, i, &mut messages)?,
            "assistant" => messages.push(assistant_turn(&m.content, i)?),
            // Claude Code puts reminders in a `system` message inside `messages`.
            "system" => messages.push(ChatMessage::text(
                "system",
                joined_text(&m.content, &format!("messages[{i}].content"))?,
            )),
            other => {
                return Err(invalid(
                    format!("messages[{i}].role"),
                    format!("Unknown role `{other}`; expected user or assistant."),
                ));
            }
        }
    }
    let (tool_choice, parallel_tool_calls) = match &request.tool_choice {
        Some(choice) if !choice.is_null() => {
            let (choice, parallel) = tool_choice(choice)?;
            (Some(choice), parallel)
        }
        _ => (None, None),
    };
    // `tool_choice` with no tools is harmless in this dialect (Claude Code sends `auto`).
    let tools = match request.tools.as_deref() {
        Some(list) if !list.is_empty() => Some(tools(list)?),
        _ => None,
    };
    let tool_choice = tools.as_ref().and(tool_choice);
    let user = request
        .metadata
        .as_ref()
        .and_then(|m| m.get("user_id"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let chat = ChatCompletionRequest {
        reasoning_effort: effort(&request)?,
        response_format: response_format(&request)?,
        model: request.model,
        messages,
        stream: request.stream,
        stream_options: None,
        temperature: request.temperature,
        top_p: request.top_p,
        presence_penalty: None,
        frequency_penalty: None,
        stop,
        user,
        max_tokens: request.max_tokens,
        max_completion_tokens: None,
        n: None,
        tools,
        tool_choice,
        parallel_tool_calls,
        functions: None,
        function_call: None,
    };
    Ok(Decoded {
        request: chat,
        notes,
    })
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
