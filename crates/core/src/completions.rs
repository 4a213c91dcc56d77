//! Legacy completions (`POST /v1/completions`), which some editors and older libraries still
//! send: a `prompt` is sent as it is (one user message goes upstream verbatim), and the answer
//! comes back as `text_completion` objects, whole or as a stream ending in `data: [DONE]`.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::chat::{ChatPlan, PlanError};
use crate::engine::{Completion, StreamEvent};
use crate::openai::{ChatCompletionRequest, ChatMessage, ErrorObject, Stop, StreamOptions};
use crate::relay::{Encoder, KEEPALIVE, error_event, unix_now};
use crate::usage::TokenUsage;

#[derive(Debug, Clone, Deserialize)]
pub struct CompletionRequest {
    pub model: String,
    #[serde(default)]
    pub prompt: Option<Value>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    #[serde(default)]
    pub max_tokens: Option<u64>,
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
    pub n: Option<u64>,
    #[serde(default)]
    pub best_of: Option<u64>,
    #[serde(default)]
    pub echo: Option<bool>,
    #[serde(default)]
    pub suffix: Option<String>,
    #[serde(default)]
    pub logprobs: Option<Value>,
}

/// A decoded request: the chat request to plan, and the prompt when it is to be echoed.
#[derive(Debug)]
pub struct Decoded {
    pub request: ChatCompletionRequest,
    pub echo: Option<String>,
}

fn invalid(param: &str, message: impl Into<String>) -> PlanError {
    PlanError::Invalid {
        message: message.into(),
        param: Some(param.to_owned()),
    }
}

/// Translates a completions request into the chat request the core plans.
pub fn decode(request: CompletionRequest) -> Result<Decoded, PlanError> {
    let prompt = match request.prompt {
        Some(Value::String(prompt)) => prompt,
        Some(Value::Array(items)) if items.len() == 1 && items[0].is_string() => {
            items[0].as_str().unwrap_or_default().to_owned()
        }
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
            return Err(invalid(
                "prompt",
                format!(
                    "One prompt per request here; got {}. Send them one by one.",
                    items.len()
                ),
            ));
        }
        Some(Value::Array(_)) => {
            return Err(invalid(
                "prompt",
                "Token ids are not supported: on-demand.io takes text. Send the prompt as a string.",
            ));
        }
        None | Some(Value::Null) => return Err(invalid("prompt", "`prompt` is required.")),
        Some(_) => return Err(invalid("prompt", "`prompt` is a string.")),
    };
    if request.best_of.is_some_and(|b| b > 1) {
        return Err(invalid(
            "best_of",
            "on-demand.io returns one answer; `best_of` must be 1.",
        ));
    }
    if request
        .logprobs
        .as_ref()
        .is_some_and(|l| !l.is_null() && l != &Value::from(0))
    {
        return Err(invalid(
            "logprobs",
            "on-demand.io returns no log probabilities.",
        ));
    }
    if request.suffix.as_deref().is_some_and(|s| !s.is_empty()) {
        return Err(invalid(
            "suffix",
            "Insertion with `suffix` is not supported.",
        ));
    }
    let echo = request.echo.unwrap_or(false).then(|| prompt.clone());
    Ok(Decoded {
        request: ChatCompletionRequest {
            model: request.model,
            messages: vec![ChatMessage::text("user", prompt)],
            stream: request.stream,
            stream_options: request.stream_options,
            temperature: request.temperature,
            top_p: request.top_p,
            presence_penalty: request.presence_penalty,
            frequency_penalty: request.frequency_penalty,
            stop: request.stop,
            user: request.user,
            reasoning_effort: None,
            max_tokens: request.max_tokens,
            max_completion_tokens: None,
            n: request.n,
            tools: None,
            tool_choice: None,
            parallel_tool_calls: None,
            functions: None,
            function_call: None,
            response_format: None,
        },
        echo,
    })
}

#[derive(Debug, Serialize)]
struct TextChoice<'a> {
    text: &'a str,
    index: u32,
    logprobs: Option<()>,
    finish_reason: Option<&'static str>,
}

#[derive(Debug, Serialize)]
struct TextCompletion<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: Vec<TextChoice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<TokenUsage>,
}

fn completion_id() -> String {
    format!(
        "cmpl-{}",
        crate::relay::completion_id().trim_start_matches("chatcmpl-")
    )
}

/// The whole answer as a `text_completion`.
pub fn completion(plan: &ChatPlan, echo: Option<&str>, done: &Completion) -> Value {
    let text = format!("{}{}", echo.unwrap_or(""), done.answer.answer);
    serde_json::to_value(TextCompletion {
        id: &completion_id(),
        object: "text_completion",
        created: unix_now(),
        model: &plan.model,
        choices: vec![TextChoice {
            text: &text,
            index: 0,
            logprobs: None,
            finish_reason: Some("stop"),
        }],
        usage: Some(done.usage),
    })
    .unwrap_or(Value::Null)
}

/// Turns a stream's events into `text_completion` chunks.
#[derive(Debug)]
pub struct TextEncoder {
    id: String,
    model: String,
    created: u64,
    include_usage: bool,
    /// The prompt, sent first when `echo` asked for it.
    echo: Option<String>,
}

impl TextEncoder {
    pub fn new(plan: &ChatPlan, echo: Option<String>) -> Self {
        Self {
            id: completion_id(),
            model: plan.model.clone(),
            created: unix_now(),
            include_usage: plan.include_usage,
            echo,
        }
    }

    fn chunk(
        &self,
        out: &mut Vec<u8>,
        text: &str,
        finish: Option<&'static str>,
        usage: Option<TokenUsage>,
    ) {
        out.extend_from_slice(b"data: ");
        let _ = serde_json::to_writer(
            &mut *out,
            &TextCompletion {
                id: &self.id,
                object: "text_completion",
                created: self.created,
                model: &self.model,
                choices: if usage.is_some() {
                    Vec::new()
                } else {
                    vec![TextChoice {
                        text,
                        index: 0,
                        logprobs: None,
                        finish_reason: finish,
                    }]
                },
                usage,
            },
        );
        out.extend_from_slice(b"\n\n");
    }
}

impl Encoder for TextEncoder {
    fn start(&mut self) -> Bytes {
        let mut out = Vec::new();
        if let Some(prompt) = self.echo.take() {
            self.chunk(&mut out, &prompt, None, None);
        }
        Bytes::from(out)
    }

    fn event(&mut self, event: &StreamEvent) -> Bytes {
        let mut out = Vec::with_capacity(160);
        match event {
            StreamEvent::Text(text) => self.chunk(&mut out, text, None, None),
            // Completions have no place for reasoning or calls (no tools are offered).
            StreamEvent::Reasoning(_) | StreamEvent::ToolCall(_) => {}
            StreamEvent::KeepAlive => out.extend_from_slice(KEEPALIVE),
            StreamEvent::Done { usage, .. } => {
                self.chunk(&mut out, "", Some("stop"), None);
                if self.include_usage {
                    self.chunk(&mut out, "", None, Some(*usage));
                }
                out.extend_from_slice(b"data: [DONE]\n\n");
            }
            StreamEvent::Failed(failure) => return error_event(failure.into()),
        }
        Bytes::from(out)
    }

    fn keepalive(&mut self) -> Bytes {
        Bytes::from_static(KEEPALIVE)
    }

    fn refused(&mut self, _status: u16, error: ErrorObject) -> Bytes {
        error_event(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decoded(body: Value) -> Result<Decoded, PlanError> {
        decode(serde_json::from_value(body).unwrap())
    }

    #[test]
    fn a_prompt_is_one_user_message_and_what_cannot_be_done_is_named() {
        let d =
            decoded(json!({"model": "m", "prompt": ["Once upon"], "echo": true, "max_tokens": 5}))
                .unwrap();
        assert_eq!(d.request.messages.len(), 1);
        assert_eq!(d.echo.as_deref(), Some("Once upon"));
        assert_eq!(d.request.max_tokens, Some(5));
        let param = |body: Value| match decoded(body) {
            Err(PlanError::Invalid { param, .. }) => param.unwrap(),
            other => panic!("{other:?}"),
        };
        assert_eq!(param(json!({"model": "m", "prompt": ["a", "b"]})), "prompt");
        assert_eq!(param(json!({"model": "m", "prompt": [1, 2, 3]})), "prompt");
        assert_eq!(param(json!({"model": "m"})), "prompt");
        assert_eq!(
            param(json!({"model": "m", "prompt": "x", "best_of": 2})),
            "best_of"
        );
        assert_eq!(
            param(json!({"model": "m", "prompt": "x", "logprobs": 2})),
            "logprobs"
        );
        assert_eq!(
            param(json!({"model": "m", "prompt": "x", "suffix": "end"})),
            "suffix"
        );
        assert!(
            decoded(json!({"model": "m", "prompt": "x", "logprobs": null, "suffix": ""})).is_ok()
        );
    }
}
