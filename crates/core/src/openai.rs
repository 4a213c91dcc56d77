//! OpenAI chat-completions wire types: the request the proxy accepts and the responses and
//! stream chunks it sends, in the exact shapes the official SDKs parse.
//!
//! Requests are deserialised leniently (unknown fields are ignored, as OpenAI's own API
//! tolerates new SDK fields); what the upstream cannot honour is rejected by
//! [`crate::chat::validate`], not silently dropped.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::usage::TokenUsage;

#[derive(Debug, Clone, Deserialize)]
pub struct ChatCompletionRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    #[serde(default)]
    pub presence_penalty: Option<f64>,
    #[serde(default)]
    pub frequency_penalty: Option<f64>,
    #[serde(default)]
    pub stop: Option<Stop>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub reasoning_effort: Option<String>,
    #[serde(default)]
    pub max_tokens: Option<u64>,
    #[serde(default)]
    pub max_completion_tokens: Option<u64>,
    #[serde(default)]
    pub n: Option<u64>,
    /// Read and checked by [`crate::tools::read`].
    #[serde(default)]
    pub tools: Option<Value>,
    #[serde(default)]
    pub tool_choice: Option<Value>,
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
    #[serde(default)]
    pub functions: Option<Value>,
    #[serde(default)]
    pub function_call: Option<Value>,
    /// Read and checked by [`crate::output::read`].
    #[serde(default)]
    pub response_format: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

/// A message; serialisable too, for the conversations the Responses dialect stores.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ChatMessage {
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<MessageContent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// An assistant's calls (checked by [`crate::chat::plan`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Value>,
    /// A `tool` message: the call it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// An assistant's legacy call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_call: Option<Value>,
}

impl ChatMessage {
    /// A message of `parts`: plain text when they are all text (so a conversation keeps the
    /// shape, and the history keys, it had before images were taken), else the parts.
    pub fn of_parts(role: &str, parts: Vec<ContentPart>) -> Self {
        if parts.iter().all(|p| p.kind == "text") {
            let texts: Vec<&str> = parts.iter().filter_map(|p| p.text.as_deref()).collect();
            return Self::text(role, texts.join("\n"));
        }
        let mut message = Self::text(role, String::new());
        message.content = Some(MessageContent::Parts(parts));
        message
    }

    /// A message of plain text.
    pub fn text(role: &str, text: String) -> Self {
        Self {
            role: role.to_owned(),
            content: Some(MessageContent::Text(text)),
            name: None,
            tool_calls: None,
            tool_call_id: None,
            function_call: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum MessageContent {
    Text(String),
    Parts(Vec<ContentPart>),
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ContentPart {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// An `image_url` part's `{url, detail}` (a bare string is taken too); read by
    /// [`crate::images::read`] when the request is planned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<Value>,
    /// Where the part stands in the client's own request, when a dialect decoded it from
    /// another shape (`messages[0].content[2]` of a Messages request), for errors.
    #[serde(skip)]
    pub at: Option<String>,
}

impl ContentPart {
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            kind: "text".into(),
            text: Some(text.into()),
            image_url: None,
            at: None,
        }
    }

    /// An image by `url` (a data URL or an `http(s)` URL), found at `at` in the client's
    /// request.
    pub fn image(url: String, at: String) -> Self {
        Self {
            kind: "image_url".into(),
            text: None,
            image_url: Some(serde_json::json!({ "url": url })),
            at: Some(at),
        }
    }
}

// ---- responses -------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize)]
pub struct ChatCompletion {
    pub id: String,
    pub object: &'static str,
    pub created: u64,
    pub model: String,
    pub choices: Vec<Choice>,
    pub usage: TokenUsage,
    pub system_fingerprint: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Choice {
    pub index: u32,
    pub message: AssistantMessage,
    pub finish_reason: &'static str,
    pub logprobs: Option<Value>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AssistantMessage {
    pub role: &'static str,
    /// `null` when the answer is calls alone.
    pub content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    pub refusal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallOut>>,
    /// The legacy `functions` API's one call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_call: Option<FunctionOut>,
}

/// A call in an answer: `{id, type: "function", function: {name, arguments}}`.
#[derive(Debug, Clone, Serialize)]
pub struct ToolCallOut {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: FunctionOut,
}

#[derive(Debug, Clone, Serialize)]
pub struct FunctionOut {
    pub name: String,
    pub arguments: String,
}

impl From<crate::tools::ToolCall> for ToolCallOut {
    fn from(call: crate::tools::ToolCall) -> Self {
        Self {
            id: call.id,
            kind: "function",
            function: FunctionOut {
                name: call.name,
                arguments: call.arguments,
            },
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ChatCompletionChunk<'a> {
    pub id: &'a str,
    pub object: &'static str,
    pub created: u64,
    pub model: &'a str,
    pub choices: Vec<ChunkChoice<'a>>,
    /// Present (as `null` until the last chunk) only when the client asked for
    /// `stream_options.include_usage`, as OpenAI does.
    #[serde(skip_serializing_if = "ChunkUsage::is_absent")]
    pub usage: ChunkUsage,
    pub system_fingerprint: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize)]
#[serde(untagged)]
pub enum ChunkUsage {
    Absent,
    Pending(Option<()>),
    Final(TokenUsage),
}

impl ChunkUsage {
    fn is_absent(&self) -> bool {
        matches!(self, Self::Absent)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ChunkChoice<'a> {
    pub index: u32,
    pub delta: Delta<'a>,
    pub finish_reason: Option<&'static str>,
    pub logprobs: Option<Value>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<[ToolCallDelta<'a>; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_call: Option<FunctionDelta<'a>>,
}

/// A piece of a call in a stream: the first names it, the next carry its arguments.
#[derive(Debug, Clone, Serialize)]
pub struct ToolCallDelta<'a> {
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    pub function: FunctionDelta<'a>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FunctionDelta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    pub arguments: &'a str,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelList {
    pub object: &'static str,
    pub data: Vec<ModelEntry>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelEntry {
    pub id: String,
    pub object: &'static str,
    pub created: u64,
    pub owned_by: &'static str,
}

/// The OpenAI error envelope's inner object: `{"error": {message, type, param, code}}`.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ErrorObject {
    pub message: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub param: Option<String>,
    pub code: Option<String>,
}

/// Every error, from `/v1` and the admin API alike.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorEnvelope {
    pub error: ErrorObject,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn chunk_usage_serialises_like_openai() {
        let chunk = |usage| ChatCompletionChunk {
            id: "chatcmpl-1",
            object: "chat.completion.chunk",
            created: 1,
            model: "gpt-4o",
            choices: vec![],
            usage,
            system_fingerprint: None,
        };
        let absent = serde_json::to_value(chunk(ChunkUsage::Absent)).unwrap();
        assert!(absent.get("usage").is_none());
        let pending = serde_json::to_value(chunk(ChunkUsage::Pending(None))).unwrap();
        assert_eq!(pending["usage"], Value::Null);
        let usage = TokenUsage {
            prompt_tokens: 1,
            completion_tokens: 2,
            total_tokens: 3,
            estimated: true,
            ..TokenUsage::default()
        };
        let last = serde_json::to_value(chunk(ChunkUsage::Final(usage))).unwrap();
        assert_eq!(
            last["usage"],
            json!({"prompt_tokens":1,"completion_tokens":2,"total_tokens":3})
        );
    }

    #[test]
    fn content_may_be_text_or_parts() {
        let req: ChatCompletionRequest = serde_json::from_value(json!({
            "model": "gpt-4o",
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "user", "content": [{"type": "text", "text": "a"}]},
                {"role": "assistant", "content": null}
            ],
            "stop": "x",
            "some_future_field": true
        }))
        .unwrap();
        assert!(matches!(
            req.messages[0].content,
            Some(MessageContent::Text(_))
        ));
        assert!(matches!(
            req.messages[1].content,
            Some(MessageContent::Parts(_))
        ));
        assert!(req.messages[2].content.is_none());
        assert!(matches!(req.stop, Some(Stop::One(_))));
    }
}
