//! The OpenAI Responses dialect (`POST /v1/responses`, what Codex CLI speaks): a request is
//! translated into the Chat Completions request the core plans ([`decode`]), and answers are
//! encoded as `response` objects and their event stream ([`encode`]).
//!
//! Function tools map one to one. Custom (freeform) tools, which take raw text such as
//! Codex's `exec` JavaScript, are offered to the model as a function of one string, `input`,
//! and their calls come back as `custom_tool_call` items. Tools inside a `namespace`, and
//! those an `additional_tools` input item declares (Codex sends its tools so), are offered by
//! their own names. Built-in tools run on OpenAI's side and get a 400 that names them.

pub mod encode;
pub mod kept;

use std::collections::HashSet;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::chat::PlanError;
use crate::openai::{ChatCompletionRequest, ChatMessage, ContentPart, MessageContent};

/// A Responses request. Unknown fields (`include`, `prompt_cache_key`, `client_metadata`,
/// `truncation`, …) are accepted and ignored.
#[derive(Debug, Clone, Deserialize)]
pub struct ResponsesRequest {
    pub model: String,
    #[serde(default)]
    pub input: Option<Value>,
    #[serde(default)]
    pub instructions: Option<String>,
    #[serde(default)]
    pub tools: Option<Vec<Value>>,
    #[serde(default)]
    pub tool_choice: Option<Value>,
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
    #[serde(default)]
    pub reasoning: Option<Value>,
    #[serde(default)]
    pub text: Option<Value>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    #[serde(default)]
    pub max_output_tokens: Option<u64>,
    #[serde(default)]
    pub metadata: Option<Value>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub safety_identifier: Option<String>,
    #[serde(default)]
    pub stream: Option<bool>,
    /// `false`: the response is not kept (and cannot be continued or retrieved).
    #[serde(default)]
    pub store: Option<bool>,
    #[serde(default)]
    pub previous_response_id: Option<String>,
}

/// A decoded request: the chat request to plan, the history to keep if the response is
/// stored (its messages without the instructions, which do not carry over), and what the
/// response object echoes.
#[derive(Debug)]
pub struct Decoded {
    pub request: ChatCompletionRequest,
    pub history: Vec<ChatMessage>,
    pub echo: Echo,
}

/// What a response object repeats of its request, and how its calls are written.
#[derive(Debug, Clone, Default)]
pub struct Echo {
    /// The request's fields as the response object shows them (`instructions`, `tools`,
    /// `tool_choice`, `temperature`, …).
    pub fields: Map<String, Value>,
    /// Tools offered as custom (freeform): their calls are `custom_tool_call` items.
    pub custom: HashSet<String>,
}

fn invalid(param: impl Into<String>, message: impl Into<String>) -> PlanError {
    PlanError::Invalid {
        message: message.into(),
        param: Some(param.into()),
    }
}

/// An item's `content` (or a call's `output`): a string, or its text and image parts.
fn content_parts(content: &Value, at: &str) -> Result<Vec<ContentPart>, PlanError> {
    match content {
        Value::String(text) => Ok(vec![ContentPart::text(text.clone())]),
        Value::Null => Ok(vec![ContentPart::text("")]),
        Value::Array(parts) => {
            let mut out = Vec::with_capacity(parts.len());
            for (j, part) in parts.iter().enumerate() {
                let at = format!("{at}[{j}]");
                let kind = part.get("type").and_then(Value::as_str).unwrap_or("");
                let text = |key: &str| part.get(key).and_then(Value::as_str);
                match kind {
                    "input_text" | "output_text" | "text" | "summary_text" => {
                        out.push(ContentPart::text(text("text").ok_or_else(|| {
                            invalid(format!("{at}.text"), "A text part needs its `text`.")
                        })?))
                    }
                    "refusal" => out.push(ContentPart::text(text("refusal").unwrap_or(""))),
                    "input_image" => match text("image_url") {
                        Some(url) => out.push(ContentPart::image(url.to_owned(), at)),
                        None if part.get("file_id").is_some() => {
                            return Err(invalid(
                                format!("{at}.file_id"),
                                "Images by `file_id` need OpenAI's Files API, which on-demand.io has no counterpart for; send `image_url` (a data: or http(s) URL).",
                            ));
                        }
                        None => {
                            return Err(invalid(
                                format!("{at}.image_url"),
                                "An `input_image` part needs its `image_url` (a data: or http(s) URL).",
                            ));
                        }
                    },
                    "input_file" | "input_audio" => {
                        return Err(invalid(
                            at,
                            format!(
                                "`{kind}` parts are not supported: on-demand.io chat takes text and images."
                            ),
                        ));
                    }
                    other => {
                        return Err(invalid(
                            at,
                            format!("Content parts of type `{other}` are not supported."),
                        ));
                    }
                }
            }
            Ok(out)
        }
        _ => Err(invalid(at, "`content` is a string or a list of parts.")),
    }
}

/// A custom tool, as the function of one string the model is offered.
fn custom_as_function(tool: &Value) -> Value {
    let mut description = tool
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    if let Some(format) = tool.get("format") {
        if format.get("type").and_then(Value::as_str) == Some("grammar") {
            let syntax = format.get("syntax").and_then(Value::as_str).unwrap_or("");
            let definition = format
                .get("definition")
                .and_then(Value::as_str)
                .unwrap_or("");
            description.push_str(&format!(
                "\n\nThe input follows this {syntax} grammar:\n{definition}"
            ));
        }
    }
    json!({"type": "function", "function": {
        "name": tool.get("name").cloned().unwrap_or(Value::Null),
        "description": description,
        "parameters": {"type": "object", "properties": {"input": {
            "type": "string",
            "description": "The tool's whole input, as raw text (not JSON-encoded).",
        }}, "required": ["input"]},
    }})
}

/// The tools, flattened (namespaces opened), as Chat's function tools.
fn read_tools(
    list: &[Value],
    at: &str,
    out: &mut Vec<Value>,
    custom: &mut HashSet<String>,
) -> Result<(), PlanError> {
    for (i, tool) in list.iter().enumerate() {
        let at = format!("{at}[{i}]");
        match tool
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("function")
        {
            "function" => {
                let mut function = Map::new();
                for key in ["name", "description", "parameters", "strict"] {
                    if let Some(value) = tool.get(key).filter(|v| !v.is_null()) {
                        function.insert(key.to_owned(), value.clone());
                    }
                }
                out.push(json!({"type": "function", "function": function}));
            }
            "custom" => {
                if let Some(name) = tool.get("name").and_then(Value::as_str) {
                    custom.insert(name.to_owned());
                }
                out.push(custom_as_function(tool));
            }
            "namespace" => {
                let inner = tool.get("tools").and_then(Value::as_array);
                read_tools(
                    inner.map_or(&[][..], Vec::as_slice),
                    &format!("{at}.tools"),
                    out,
                    custom,
                )?;
            }
            other => {
                return Err(invalid(
                    format!("{at}.type"),
                    format!(
                        "The built-in tool `{other}` is not supported: on-demand.io runs no tools for the client. Offer function or custom tools instead."
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// An assistant message to add calls to: the last one, if the history ends with an
/// assistant turn, else a new one.
fn assistant(messages: &mut Vec<ChatMessage>, from: usize) -> &mut ChatMessage {
    if messages.len() <= from || messages.last().is_none_or(|m| m.role != "assistant") {
        let mut turn = ChatMessage::text("assistant", String::new());
        turn.content = None;
        messages.push(turn);
    }
    let last = messages.len() - 1;
    &mut messages[last]
}

fn push_call(turn: &mut ChatMessage, call: Value) {
    match &mut turn.tool_calls {
        Some(Value::Array(calls)) => calls.push(call),
        _ => turn.tool_calls = Some(Value::Array(vec![call])),
    }
}

fn string_field<'a>(item: &'a Value, key: &str, at: &str) -> Result<&'a str, PlanError> {
    item.get(key).and_then(Value::as_str).ok_or_else(|| {
        invalid(
            format!("{at}.{key}"),
            format!("The item needs its `{key}`."),
        )
    })
}

/// The input items as Chat messages (appended to `messages`), and the tools any
/// `additional_tools` item declares.
fn read_input(
    input: &Value,
    messages: &mut Vec<ChatMessage>,
    tools: &mut Vec<Value>,
    custom: &mut HashSet<String>,
) -> Result<(), PlanError> {
    let items = match input {
        Value::String(text) => {
            messages.push(ChatMessage::text("user", text.clone()));
            return Ok(());
        }
        Value::Array(items) => items,
        _ => return Err(invalid("input", "`input` is a string or a list of items.")),
    };
    let from = messages.len();
    for (i, item) in items.iter().enumerate() {
        let at = format!("input[{i}]");
        let kind =
            item.get("type")
                .and_then(Value::as_str)
                .unwrap_or(if item.get("role").is_some() {
                    "message"
                } else {
                    ""
                });
        match kind {
            "message" => {
                let role = item.get("role").and_then(Value::as_str).unwrap_or("user");
                let role = match role {
                    "user" | "assistant" | "system" | "developer" => role,
                    other => {
                        return Err(invalid(
                            format!("{at}.role"),
                            format!(
                                "Unknown role `{other}`; expected user, assistant, system or developer."
                            ),
                        ));
                    }
                };
                let parts = content_parts(
                    item.get("content").unwrap_or(&Value::Null),
                    &format!("{at}.content"),
                )?;
                // An assistant's text and the calls that follow it are one turn.
                messages.push(ChatMessage::of_parts(role, parts));
            }
            "function_call" | "custom_tool_call" => {
                let call_id = string_field(item, "call_id", &at)?;
                let name = string_field(item, "name", &at)?;
                let arguments = if kind == "function_call" {
                    string_field(item, "arguments", &at)?.to_owned()
                } else {
                    custom.insert(name.to_owned());
                    json!({"input": item.get("input").and_then(Value::as_str).unwrap_or("")})
                        .to_string()
                };
                push_call(
                    assistant(messages, from),
                    json!({"id": call_id, "type": "function",
                        "function": {"name": name, "arguments": arguments}}),
                );
            }
            "function_call_output" | "custom_tool_call_output" => {
                let call_id = string_field(item, "call_id", &at)?;
                let output = content_parts(
                    item.get("output").unwrap_or(&Value::Null),
                    &format!("{at}.output"),
                )?;
                let mut result = ChatMessage::of_parts("tool", output);
                result.tool_call_id = Some(call_id.to_owned());
                messages.push(result);
            }
            // Reasoning is not resent: the upstream keeps nothing to check it against.
            "reasoning" => {}
            "additional_tools" => {
                let list = item.get("tools").and_then(Value::as_array);
                read_tools(
                    list.map_or(&[][..], Vec::as_slice),
                    &format!("{at}.tools"),
                    tools,
                    custom,
                )?;
            }
            "item_reference" => {
                return Err(invalid(
                    at,
                    "Item references are not supported; send the items, or continue with `previous_response_id`.",
                ));
            }
            "" => {
                return Err(invalid(
                    format!("{at}.type"),
                    "An input item needs its `type`.",
                ));
            }
            other => {
                return Err(invalid(
                    format!("{at}.type"),
                    format!(
                        "Input items of type `{other}` are not supported: they belong to OpenAI's built-in tools."
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// `tool_choice` as Chat's: the strings as they are, a named function or custom tool as a
/// named function; `allowed_tools` narrows the tools offered.
fn tool_choice(choice: &Value, tools: &mut Vec<Value>) -> Result<Value, PlanError> {
    if choice.is_string() {
        return Ok(choice.clone());
    }
    match choice.get("type").and_then(Value::as_str) {
        Some("function" | "custom") => {
            let name = choice.get("name").and_then(Value::as_str).ok_or_else(|| {
                invalid(
                    "tool_choice.name",
                    "A named `tool_choice` needs the tool's `name`.",
                )
            })?;
            Ok(json!({"type": "function", "function": {"name": name}}))
        }
        Some("allowed_tools") => {
            let allowed: HashSet<&str> = choice
                .get("tools")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|t| t.get("name").and_then(Value::as_str))
                .collect();
            tools.retain(|t| {
                t.pointer("/function/name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| allowed.contains(n))
            });
            Ok(choice.get("mode").cloned().unwrap_or_else(|| json!("auto")))
        }
        Some(other) => Err(invalid(
            "tool_choice.type",
            format!("`tool_choice` of type `{other}` is not supported: it names a built-in tool."),
        )),
        None => Err(invalid("tool_choice", "`tool_choice` needs its `type`.")),
    }
}

/// `text.format` as Chat's `response_format`.
fn response_format(text: Option<&Value>) -> Result<Option<Value>, PlanError> {
    let Some(format) = text.and_then(|t| t.get("format")).filter(|f| !f.is_null()) else {
        return Ok(None);
    };
    match format.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(json!({"type": "json_object"}))),
        Some("json_schema") => {
            let mut schema = Map::new();
            for key in ["name", "schema", "strict", "description"] {
                if let Some(value) = format.get(key) {
                    schema.insert(key.to_owned(), value.clone());
                }
            }
            Ok(Some(json!({"type": "json_schema", "json_schema": schema})))
        }
        _ => Err(invalid(
            "text.format.type",
            "`text.format.type` must be text, json_object or json_schema.",
        )),
    }
}

/// The assistant's turn a response's output makes, for the stored history: its message text
/// and its calls (reasoning is not kept, as it is not resent).
pub fn answer_turn(output: &[Value]) -> ChatMessage {
    let mut texts = Vec::new();
    let mut turn = ChatMessage::text("assistant", String::new());
    for item in output {
        match item.get("type").and_then(Value::as_str) {
            Some("message") => texts.extend(
                item.get("content")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|part| part.get("text").and_then(Value::as_str)),
            ),
            Some(kind @ ("function_call" | "custom_tool_call")) => {
                let field = |key: &str| item.get(key).and_then(Value::as_str).unwrap_or("");
                let arguments = if kind == "function_call" {
                    field("arguments").to_owned()
                } else {
                    json!({"input": field("input")}).to_string()
                };
                push_call(
                    &mut turn,
                    json!({"id": field("call_id"), "type": "function",
                        "function": {"name": field("name"), "arguments": arguments}}),
                );
            }
            _ => {}
        }
    }
    turn.content = Some(MessageContent::Text(texts.join("")));
    turn
}

/// A planning error, with Chat's parameter paths as this dialect names them.
pub fn in_dialect(error: PlanError) -> PlanError {
    match error {
        PlanError::Invalid {
            message,
            param: Some(param),
        } => PlanError::Invalid {
            message,
            param: Some(
                param
                    .replace(".function.", ".")
                    .replace("response_format", "text.format")
                    .replace("reasoning_effort", "reasoning.effort")
                    .replace("max_tokens", "max_output_tokens"),
            ),
        },
        other => other,
    }
}

/// Translates a Responses request into the Chat Completions request the core plans.
/// `previous` is the stored history the request continues (`previous_response_id`).
pub fn decode(request: ResponsesRequest, previous: Vec<ChatMessage>) -> Result<Decoded, PlanError> {
    let mut tools = Vec::new();
    let mut custom = HashSet::new();
    if let Some(list) = &request.tools {
        read_tools(list, "tools", &mut tools, &mut custom)?;
    }
    let mut history = previous;
    let Some(input) = request.input.as_ref().filter(|i| !i.is_null()) else {
        return Err(invalid(
            "input",
            "`input` is required: a string or a list of items.",
        ));
    };
    read_input(input, &mut history, &mut tools, &mut custom)?;
    let mut messages = Vec::with_capacity(history.len() + 1);
    if let Some(instructions) = request
        .instructions
        .as_deref()
        .filter(|i| !i.trim().is_empty())
    {
        messages.push(ChatMessage::text("system", instructions.to_owned()));
    }
    messages.extend(history.iter().cloned());
    let tool_choice = match request.tool_choice.as_ref().filter(|c| !c.is_null()) {
        Some(choice) if !tools.is_empty() => Some(tool_choice(choice, &mut tools)?),
        // A choice with no tools (Codex sends `auto` with none) asks nothing.
        _ => None,
    };
    let effort = request
        .reasoning
        .as_ref()
        .and_then(|r| r.get("effort"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let user = request
        .safety_identifier
        .clone()
        .or_else(|| request.user.clone());
    let mut fields = Map::new();
    fields.insert("instructions".into(), json!(request.instructions));
    fields.insert(
        "tools".into(),
        json!(request.tools.clone().unwrap_or_default()),
    );
    fields.insert(
        "tool_choice".into(),
        request.tool_choice.clone().unwrap_or_else(|| json!("auto")),
    );
    fields.insert(
        "parallel_tool_calls".into(),
        json!(request.parallel_tool_calls.unwrap_or(true)),
    );
    fields.insert(
        "temperature".into(),
        json!(request.temperature.unwrap_or(1.0)),
    );
    fields.insert("top_p".into(), json!(request.top_p.unwrap_or(1.0)));
    fields.insert("max_output_tokens".into(), json!(request.max_output_tokens));
    fields.insert(
        "previous_response_id".into(),
        json!(request.previous_response_id),
    );
    fields.insert(
        "reasoning".into(),
        json!({"effort": effort, "summary": request.reasoning.as_ref().and_then(|r| r.get("summary")).cloned()}),
    );
    fields.insert(
        "text".into(),
        request
            .text
            .clone()
            .filter(|t| t.get("format").is_some())
            .unwrap_or_else(|| json!({"format": {"type": "text"}})),
    );
    fields.insert(
        "metadata".into(),
        request.metadata.clone().unwrap_or_else(|| json!({})),
    );
    fields.insert("store".into(), json!(request.store.unwrap_or(true)));
    fields.insert("user".into(), json!(user));
    fields.insert("truncation".into(), json!("disabled"));
    let chat = ChatCompletionRequest {
        response_format: response_format(request.text.as_ref())?,
        model: request.model,
        messages,
        stream: request.stream,
        stream_options: None,
        temperature: request.temperature,
        top_p: request.top_p,
        presence_penalty: None,
        frequency_penalty: None,
        stop: None,
        user,
        reasoning_effort: effort,
        max_tokens: request.max_output_tokens,
        max_completion_tokens: None,
        n: None,
        tools: (!tools.is_empty()).then_some(Value::Array(tools)),
        tool_choice,
        parallel_tool_calls: request.parallel_tool_calls,
        functions: None,
        function_call: None,
    };
    Ok(Decoded {
        request: chat,
        history,
        echo: Echo { fields, custom },
    })
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
