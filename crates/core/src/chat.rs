//! The first phases of a chat request: validate, resolve the model, plan the upstream query.
//!
//! Everything here is pure: a [`ChatPlan`] says exactly what will be sent upstream, so the
//! mapping of §9 is tested without a network. What the upstream cannot honour is refused
//! with a clear 400 naming the parameter, never silently dropped.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use crate::config::{ImageInput, SessionMode, Settings};
use crate::conversation;
use crate::endpoints::{Endpoint, EndpointCatalog};
use crate::images::{self, Images, Picture};
use crate::models::{ModelCatalog, UnknownModel};
use crate::openai::{ChatCompletionRequest, ChatMessage, ContentPart, MessageContent, Stop};
use crate::output::{self, Format};
use crate::sessions::HistoryHash;
use crate::tools::{self, ToolSet};
use crate::upstream::ModelConfigs;

/// Everything needed to run one chat completion upstream.
#[derive(Debug, Clone)]
pub struct ChatPlan {
    /// The model as the client wrote it; echoed in every response.
    pub model: String,
    /// The bounded name it is counted under (`/metrics`, the usage rollups).
    pub model_label: String,
    pub endpoint_id: String,
    pub query: String,
    pub stream: bool,
    pub include_usage: bool,
    pub model_configs: ModelConfigs,
    pub reasoning_effort: Option<&'static str>,
    /// Sent as the session's `externalUserId` (required upstream).
    pub external_user_id: String,
    /// Reuse mode only: how this request continues a conversation.
    pub conversation: Option<Conversation>,
    /// What the proxy changed about the request to suit the endpoint (e.g. a dropped
    /// `reasoning_effort`), for the usage row.
    pub notes: Vec<String>,
    /// The tools offered, when the tool protocol is in the query: the answer is parsed
    /// for calls.
    pub tools: Option<Arc<ToolSet>>,
    /// The shape the answer must have (`response_format`).
    pub format: Option<Arc<Format>>,
    /// The request's images, each a marker in `query` until the image agent describes it.
    pub images: Option<Arc<Images>>,
}

/// Where a request stands in its conversation, for reuse mode.
#[derive(Debug, Clone)]
pub struct Conversation {
    /// Key of the history before the new turn (everything up to the last assistant message);
    /// `None` when the request starts a conversation.
    pub resume_key: Option<String>,
    /// The new turn alone (the messages after the last assistant message), for a resumed
    /// session. A lone user message is verbatim, as in [`conversation::transcript`].
    pub turn_query: String,
    /// Hash of every message of the request; with the answer added it is the next key.
    pub history: HistoryHash,
}

impl Conversation {
    /// `instructions`, the tool protocol, belong to the conversation: other tools start
    /// another one.
    fn of(
        messages: &[ChatMessage],
        client: &str,
        model: &str,
        instructions: Option<&str>,
        names: &HashMap<&str, &str>,
    ) -> Self {
        let mut history = HistoryHash::new(client, model);
        if let Some(instructions) = instructions {
            history.push("instructions", None, instructions);
        }
        let last_assistant = messages.iter().rposition(|m| m.role == "assistant");
        let (resume_key, turn) = match last_assistant {
            Some(a) if a + 1 < messages.len() => {
                messages[..=a].iter().for_each(|m| history.push_message(m));
                (Some(history.key()), &messages[a + 1..])
            }
            _ => (None, messages),
        };
        turn.iter().for_each(|m| history.push_message(m));
        Self {
            resume_key,
            turn_query: conversation::transcript(turn, None, names),
            history,
        }
    }
}

/// A request the proxy refuses before calling upstream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("{message}")]
    Invalid {
        message: String,
        param: Option<String>,
    },
    #[error(transparent)]
    UnknownModel(#[from] UnknownModel),
    /// The conversation is longer than the endpoint's context window (checked up front, so
    /// no account is tried and none is blamed).
    #[error("{0}")]
    ContextLength(String),
}

fn invalid(param: &str, message: impl Into<String>) -> PlanError {
    PlanError::Invalid {
        message: message.into(),
        param: Some(param.to_owned()),
    }
}

fn in_range(param: &str, value: Option<f64>, lo: f64, hi: f64) -> Result<Option<f64>, PlanError> {
    match value {
        Some(v) if !(lo..=hi).contains(&v) || v.is_nan() => Err(invalid(
            param,
            format!("`{param}` must be between {lo} and {hi} for on-demand.io models, got {v}."),
        )),
        other => Ok(other),
    }
}

/// OpenAI's `reasoning_effort` → the upstream's `reasoningEffort` (`low`/`medium`/`max`, §3.3).
fn map_reasoning_effort(effort: Option<&str>) -> Result<Option<&'static str>, PlanError> {
    Ok(match effort {
        None | Some("none") => None,
        Some("minimal" | "low") => Some("low"),
        Some("medium") => Some("medium"),
        Some("high" | "xhigh" | "max") => Some("max"),
        Some(other) => {
            return Err(invalid(
                "reasoning_effort",
                format!(
                    "`reasoning_effort` must be one of none, minimal, low, medium, high, xhigh; got `{other}`."
                ),
            ));
        }
    })
}

const EFFORTS: [&str; 3] = ["low", "medium", "max"];

/// The effort to send to `endpoint`: only one its catalogue entry lists (the nearest one),
/// or none; what changed goes into `notes`.
fn effort_for(
    effort: Option<&'static str>,
    endpoint: Option<&Endpoint>,
    notes: &mut Vec<String>,
) -> Option<&'static str> {
    let (Some(wanted), Some(endpoint)) = (effort, endpoint) else {
        return effort;
    };
    let rank = |e: &str| EFFORTS.iter().position(|x| *x == e);
    let supported: Vec<&'static str> = EFFORTS
        .into_iter()
        .filter(|e| endpoint.reasoning_efforts.iter().any(|s| s == e))
        .collect();
    let want = rank(wanted).unwrap_or(1);
    let chosen = supported
        .iter()
        .min_by_key(|e| {
            (
                rank(e).unwrap_or(1).abs_diff(want),
                std::cmp::Reverse(rank(e)),
            )
        })
        .copied();
    match chosen {
        None => notes.push(format!(
            "reasoning_effort dropped: {} takes none",
            endpoint.id
        )),
        Some(chosen) if chosen != wanted => notes.push(format!(
            "reasoning_effort {wanted} sent as {chosen}: {} takes {}",
            endpoint.id,
            supported.join(", ")
        )),
        Some(_) => {}
    }
    chosen
}

/// Refuses a query longer than the endpoint's context window. A token is at least a byte,
/// so a query with fewer bytes than the window fits without counting; only longer ones are
/// counted exactly.
fn check_context(query: &str, endpoint: Option<&Endpoint>) -> Result<(), PlanError> {
    let Some((window, id)) = endpoint.and_then(|e| e.context_length.map(|n| (n, &e.id))) else {
        return Ok(());
    };
    if query.len() as u64 <= window {
        return Ok(());
    }
    let tokens = crate::usage::count_tokens(query);
    if tokens <= window {
        return Ok(());
    }
    Err(PlanError::ContextLength(format!(
        "This conversation is about {tokens} tokens, more than the {window} that {id} takes. Shorten it or pick a model with a longer context."
    )))
}

/// The longest model name taken: it is stored with every usage row and echoed in answers.
pub const MAX_MODEL_BYTES: usize = 256;

/// Refuses an empty model name, or one too long to store or echo.
pub fn check_model(model: &str) -> Result<(), PlanError> {
    if model.trim().is_empty() {
        return Err(invalid("model", "`model` must not be empty."));
    }
    if model.len() > MAX_MODEL_BYTES {
        return Err(invalid(
            "model",
            format!("`model` is a name of at most {MAX_MODEL_BYTES} bytes."),
        ));
    }
    Ok(())
}

/// Validates a request and plans its upstream query. `live` is the endpoint catalogue the
/// model must be available in (when it is known). `client` names the client token, which
/// scopes reuse-mode conversations.
pub fn plan(
    mut request: ChatCompletionRequest,
    catalog: &ModelCatalog,
    live: &EndpointCatalog,
    settings: &Settings,
    client: &str,
) -> Result<ChatPlan, PlanError> {
    check_model(&request.model)?;
    if request.messages.is_empty() {
        return Err(invalid(
            "messages",
            "`messages` must contain at least one message.",
        ));
    }
    if request.n.is_some_and(|n| n != 1) {
        return Err(invalid(
            "n",
            "on-demand.io returns one answer per request; `n` must be 1.",
        ));
    }
    let tools = tools::read(tools::Fields {
        tools: request.tools.as_ref(),
        tool_choice: request.tool_choice.as_ref(),
        parallel_tool_calls: request.parallel_tool_calls,
        functions: request.functions.as_ref(),
        function_call: request.function_call.as_ref(),
    })
    .map_err(|refused| invalid(&refused.param, refused.message))?
    .filter(ToolSet::active)
    .map(Arc::new);
    let format = output::read(request.response_format.as_ref())
        .map_err(|refused| invalid(&refused.param, refused.message))?
        .map(Arc::new);
    let mut pictures = Vec::new();
    for (i, message) in request.messages.iter_mut().enumerate() {
        check_tool_fields(i, message)?;
        if let Some(MessageContent::Parts(parts)) = &mut message.content {
            for (j, part) in parts.iter_mut().enumerate() {
                let at = part
                    .at
                    .clone()
                    .unwrap_or_else(|| format!("messages[{i}].content[{j}]"));
                match part.kind.as_str() {
                    "text" if part.text.is_none() => {
                        return Err(invalid(
                            &format!("{at}.text"),
                            "A `text` part needs its `text` (a string).",
                        ));
                    }
                    "text" => {}
                    "image_url" => {
                        let picture = image_part(part, &at, settings)?;
                        *part = ContentPart::text(images::marker(&picture.key));
                        if !pictures.iter().any(|p: &Picture| p.key == picture.key) {
                            if pictures.len() >= settings.image_max_count {
                                return Err(invalid(
                                    &at,
                                    format!(
                                        "At most {} different images per request (image_max_count).",
                                        settings.image_max_count
                                    ),
                                ));
                            }
                            pictures.push(picture);
                        }
                    }
                    other => {
                        return Err(invalid(
                            &at,
                            format!(
                                "Content parts of type `{other}` are not supported: on-demand.io chat takes text and images."
                            ),
                        ));
                    }
                }
            }
        }
    }
    let stop_sequences = match request.stop {
        None => Vec::new(),
        Some(Stop::One(s)) => vec![s],
        Some(Stop::Many(v)) if v.len() > 4 => {
            return Err(invalid("stop", "`stop` takes at most 4 sequences."));
        }
        Some(Stop::Many(v)) => v,
    };
    let max_tokens = if settings.forward_max_tokens {
        request.max_completion_tokens.or(request.max_tokens)
    } else {
        None
    };
    let model_configs = ModelConfigs {
        temperature: in_range("temperature", request.temperature, 0.0, 2.0)?,
        top_p: in_range("top_p", request.top_p, 0.0, 1.0)?,
        presence_penalty: in_range("presence_penalty", request.presence_penalty, 0.0, 2.0)?,
        frequency_penalty: in_range("frequency_penalty", request.frequency_penalty, 0.0, 2.0)?,
        stop_sequences,
        max_tokens,
    };
    let reasoning_effort = map_reasoning_effort(request.reasoning_effort.as_deref())?;
    let resolved = catalog.resolve_live(&request.model, live)?;
    let mut notes = Vec::new();
    let reasoning_effort = effort_for(reasoning_effort, resolved.endpoint.as_ref(), &mut notes);
    // What the answer must be goes first, as a system part: the tools, then the format.
    let parts: Vec<String> = tools
        .as_deref()
        .map(tools::render::instructions)
        .into_iter()
        .chain(format.as_deref().map(Format::instructions))
        .collect();
    let instructions = (!parts.is_empty()).then(|| parts.join("\n\n"));
    let names = conversation::tool_names(&request.messages);
    let query = conversation::transcript(&request.messages, instructions.as_deref(), &names);
    if query.trim().is_empty() {
        return Err(invalid("messages", "The messages contain no text to send."));
    }
    check_context(&query, resolved.endpoint.as_ref())?;
    let external_user_id = match request.user.as_deref().map(str::trim) {
        Some(user) if !user.is_empty() => user.chars().take(128).collect(),
        _ => format!("ondemand-proxy-{:016x}", rand::random::<u64>()),
    };
    let stream = request.stream.unwrap_or(false);
    let conversation = (settings.session_mode == SessionMode::Reuse).then(|| {
        Conversation::of(
            &request.messages,
            client,
            &request.model,
            instructions.as_deref(),
            &names,
        )
    });
    Ok(ChatPlan {
        model: request.model,
        model_label: resolved.label,
        endpoint_id: resolved.endpoint_id,
        query,
        stream,
        include_usage: stream && request.stream_options.is_some_and(|o| o.include_usage),
        model_configs,
        reasoning_effort,
        external_user_id,
        conversation,
        notes,
        tools,
        format,
        images: (!pictures.is_empty()).then(|| Arc::new(Images::new(pictures))),
    })
}

/// An `image_url` part's image, read (and a data URL's bytes checked) now; refused when
/// images are turned off.
fn image_part(part: &ContentPart, at: &str, settings: &Settings) -> Result<Picture, PlanError> {
    if settings.image_input == ImageInput::Refuse {
        return Err(invalid(
            at,
            "Images are turned off on this proxy (image_input = refuse); send text only.",
        ));
    }
    let url = match &part.image_url {
        Some(Value::String(url)) => Some(url.as_str()),
        Some(Value::Object(object)) => object.get("url").and_then(Value::as_str),
        _ => None,
    }
    .ok_or_else(|| {
        invalid(
            &format!("{at}.image_url"),
            "An `image_url` part needs `image_url.url` (a data: or http(s) URL).",
        )
    })?;
    images::read(url, at, settings.image_max_bytes).map_err(|refused| PlanError::Invalid {
        message: refused.message,
        param: Some(refused.param),
    })
}

/// Checks a message's role and its tool fields: a `tool` message answers a call by id, a
/// `function` message names its function, an assistant's calls are well formed.
fn check_tool_fields(i: usize, message: &ChatMessage) -> Result<(), PlanError> {
    let at = |field: &str| format!("messages[{i}].{field}");
    match message.role.as_str() {
        // The name goes into the transcript's label (`[USER (ann)]`): OpenAI's own pattern
        // keeps it from closing the label and forging a block of the proxy's.
        "system" | "developer" | "user" | "assistant" => {
            if let Some(name) = &message.name
                && (name.is_empty()
                    || name.len() > 64
                    || !name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
            {
                return Err(invalid(
                    &at("name"),
                    "A message's `name` is 1 to 64 letters, digits, `_` or `-`.",
                ));
            }
        }
        "tool" => {
            if message
                .tool_call_id
                .as_deref()
                .is_none_or(|id| id.trim().is_empty())
            {
                return Err(invalid(
                    &at("tool_call_id"),
                    "A `tool` message needs the `tool_call_id` of the call it answers.",
                ));
            }
        }
        "function" => {
            if message.name.as_deref().is_none_or(|n| n.trim().is_empty()) {
                return Err(invalid(
                    &at("name"),
                    "A `function` message needs the function's `name`.",
                ));
            }
        }
        other => {
            return Err(invalid(
                &at("role"),
                format!(
                    "Unknown role `{other}`; expected system, developer, user, assistant or tool."
                ),
            ));
        }
    }
    let calls = match (&message.tool_calls, &message.function_call) {
        (None | Some(Value::Null), None | Some(Value::Null)) => return Ok(()),
        _ if message.role != "assistant" => {
            return Err(invalid(
                &at("tool_calls"),
                "Only an assistant message makes calls.",
            ));
        }
        (Some(Value::Array(calls)), _) => calls.iter().collect::<Vec<_>>(),
        (None | Some(Value::Null), Some(call)) => vec![call],
        (Some(_), _) => return Err(invalid(&at("tool_calls"), "`tool_calls` must be an array.")),
    };
    for (j, call) in calls.iter().enumerate() {
        let function = call.get("function").unwrap_or(call);
        let name = function.get("name").and_then(Value::as_str);
        let arguments = function.get("arguments");
        if !name.is_some_and(tools::valid_name)
            || !arguments.is_none_or(|a| a.is_string())
            || !call.get("id").is_none_or(Value::is_string)
        {
            return Err(invalid(
                &at(&format!("tool_calls[{j}]")),
                "A call needs `function.name` (a tool name) and `function.arguments` (a JSON string).",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "chat_tests.rs"]
mod tests;
