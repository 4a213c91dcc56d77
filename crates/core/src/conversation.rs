//! Turning OpenAI `messages` into the one `query` string the upstream takes (§8).
//!
//! Stateless mode: every request opens a fresh upstream session and sends the whole
//! conversation as a role-labelled transcript. The format is deterministic (same messages,
//! same bytes), which keeps requests reproducible and testable:
//!
//! ```text
//! [SYSTEM]
//! You are terse.
//!
//! [USER]
//! Hi
//!
//! [ASSISTANT]
//! Hello.
//!
//! [USER]
//! What is 2+2?
//! ```
//!
//! Where system messages go: they stay inside the query, in their original position, labelled
//! `[SYSTEM]` (`developer` messages too). They are not sent as `modelConfigs.fulfillmentPrompt`,
//! because that field replaces the upstream's own prompt template and must carry its
//! `{context}`/`{question}` placeholders (§3.3, §8.4); a user's system prompt does not.
//!
//! A conversation that is one user message and nothing else is sent verbatim, with no label,
//! so that simple prompts reach the model exactly as written.

use std::collections::HashMap;

use serde_json::Value;

use crate::openai::{ChatMessage, MessageContent};
use crate::tools::{ToolCall, render};

/// The text of a message's content: a string, or its text parts joined by newlines. Assumes
/// the request was validated (no non-text parts).
fn content_text(message: &ChatMessage) -> String {
    match &message.content {
        None => String::new(),
        Some(MessageContent::Text(text)) => text.clone(),
        Some(MessageContent::Parts(parts)) => parts
            .iter()
            .filter_map(|p| p.text.as_deref())
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

/// The calls an assistant message made, as `(id, name, arguments)`: its `tool_calls`, or
/// the legacy `function_call`. Assumes the request was validated.
pub fn calls_of(message: &ChatMessage) -> Vec<(Option<&str>, &str, &str)> {
    fn call(c: &Value) -> (Option<&str>, &str, &str) {
        let function = c.get("function").unwrap_or(c);
        (
            c.get("id").and_then(Value::as_str),
            function.get("name").and_then(Value::as_str).unwrap_or(""),
            function
                .get("arguments")
                .and_then(Value::as_str)
                .unwrap_or("{}"),
        )
    }
    match (&message.tool_calls, &message.function_call) {
        (Some(Value::Array(calls)), _) => calls.iter().map(call).collect(),
        (_, Some(legacy @ Value::Object(_))) => vec![call(legacy)],
        _ => Vec::new(),
    }
}

/// An assistant's turn as the tool protocol writes it: its prose, then one block per call.
/// The prose is trimmed around calls, so a client that echoes the streamed text and one that
/// echoes the trimmed `content` send the same turn.
pub fn assistant_turn<'a>(
    prose: &str,
    calls: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> String {
    let blocks: Vec<String> = calls
        .into_iter()
        .map(|(name, arguments)| render::call_block(name, arguments))
        .collect();
    if blocks.is_empty() {
        return prose.to_owned();
    }
    let prose = prose.trim();
    let mut out =
        String::with_capacity(prose.len() + blocks.iter().map(|b| b.len() + 1).sum::<usize>());
    out.push_str(prose);
    for block in blocks {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&block);
    }
    out
}

/// The history text of an answer: its prose and its calls, as the next request's
/// assistant message renders.
pub fn answer_turn(prose: &str, calls: &[ToolCall]) -> String {
    assistant_turn(
        prose,
        calls
            .iter()
            .map(|c| (c.name.as_str(), c.arguments.as_str())),
    )
}

/// A message as the transcript writes it: its text, an assistant's calls in the tool
/// protocol, a tool's result as a response block. `tool_names` maps call ids to the tool
/// they called, to name a result (`None` leaves names to the message itself).
fn render(message: &ChatMessage, tool_names: Option<&HashMap<&str, &str>>) -> String {
    let text = content_text(message);
    match message.role.as_str() {
        "assistant" => assistant_turn(&text, calls_of(message).into_iter().map(|(_, n, a)| (n, a))),
        "tool" => {
            let id = message.tool_call_id.as_deref();
            let name = id
                .and_then(|id| tool_names?.get(id).copied())
                .or(message.name.as_deref());
            render::response_block(name, id, &text)
        }
        "function" => render::response_block(message.name.as_deref(), None, &text),
        _ => text,
    }
}

/// The text a message contributes to the history, for reuse mode's keys: as the transcript
/// writes it, without looking up other messages.
pub fn message_text(message: &ChatMessage) -> String {
    render(message, None)
}

fn label(message: &ChatMessage) -> String {
    let role = match message.role.as_str() {
        "system" | "developer" => "SYSTEM",
        "assistant" => "ASSISTANT",
        "tool" | "function" => "TOOL",
        _ => "USER",
    };
    match message.name.as_deref().map(str::trim) {
        Some(name) if !name.is_empty() && role != "TOOL" => format!("[{role} ({name})]"),
        _ => format!("[{role}]"),
    }
}

/// Whether `line` reads as one of the transcript's labels (`[SYSTEM]`, `[USER (ann)]`, …),
/// in any case and spacing.
fn looks_like_label(line: &str) -> bool {
    let Some(inner) = line
        .trim()
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
    else {
        return false;
    };
    let role = inner.split('(').next().unwrap_or("").trim();
    ["SYSTEM", "USER", "ASSISTANT", "TOOL"]
        .iter()
        .any(|label| role.eq_ignore_ascii_case(label))
}

/// `text` with every line that could pass for a label marked as quoted (`> [SYSTEM]`), so a
/// message, a document it carries or a tool's result cannot open a block of its own.
fn neutralise(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.lines().any(looks_like_label) {
        return std::borrow::Cow::Borrowed(text);
    }
    let lines: Vec<String> = text
        .split('\n')
        .map(|line| {
            if looks_like_label(line) {
                format!("> {line}")
            } else {
                line.to_owned()
            }
        })
        .collect();
    std::borrow::Cow::Owned(lines.join("\n"))
}

/// The tool each call id of `messages` called.
pub fn tool_names(messages: &[ChatMessage]) -> HashMap<&str, &str> {
    messages
        .iter()
        .flat_map(calls_of)
        .filter_map(|(id, name, _)| Some((id?, name)))
        .collect()
}

/// The full transcript for a fresh upstream session. Messages with no text are left out;
/// lines of theirs that look like labels are quoted ([`neutralise`]).
/// `instructions` (the tool protocol) go first, as a system part; `names` resolves tool
/// results to their tools (from the whole request, as a resumed turn's calls were made
/// before it).
pub fn transcript(
    messages: &[ChatMessage],
    instructions: Option<&str>,
    names: &HashMap<&str, &str>,
) -> String {
    let turns: Vec<(String, String)> = messages
        .iter()
        .map(|m| (label(m), render(m, Some(names))))
        .filter(|(_, text)| !text.trim().is_empty())
        .collect();
    if let ([(only, text)], None) = (turns.as_slice(), instructions) {
        if only == "[USER]" || only.starts_with("[USER (") {
            return text.clone();
        }
    }
    let mut out = String::with_capacity(
        turns.iter().map(|(_, t)| t.len() + 16).sum::<usize>()
            + instructions.map_or(0, |i| i.len() + 12),
    );
    if let Some(instructions) = instructions {
        out.push_str("[SYSTEM]\n");
        out.push_str(instructions);
    }
    for (label, text) in &turns {
        if !out.is_empty() {
            out.push_str("\n\n");
        }
        out.push_str(label);
        out.push('\n');
        out.push_str(&neutralise(text));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(value: serde_json::Value) -> Vec<ChatMessage> {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_lone_user_message_goes_verbatim() {
        let m = messages(json!([{"role": "user", "content": "  Hello\n[USER] there "}]));
        assert_eq!(
            transcript(&m, None, &HashMap::new()),
            "  Hello\n[USER] there "
        );
    }

    #[test]
    fn a_conversation_becomes_a_labelled_transcript_in_order() {
        let m = messages(json!([
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": "Hi", "name": "ann"},
            {"role": "assistant", "content": "Hello."},
            {"role": "developer", "content": "Answer in French."},
            {"role": "user", "content": [{"type": "text", "text": "2+2?"}, {"type": "text", "text": "Quick."}]}
        ]));
        assert_eq!(
            transcript(&m, None, &HashMap::new()),
            "[SYSTEM]\nBe terse.\n\n[USER (ann)]\nHi\n\n[ASSISTANT]\nHello.\n\n[SYSTEM]\nAnswer in French.\n\n[USER]\n2+2?\nQuick."
        );
    }

    #[test]
    fn system_plus_one_user_is_not_verbatim() {
        let m = messages(json!([
            {"role": "system", "content": "S"},
            {"role": "user", "content": "U"}
        ]));
        assert_eq!(
            transcript(&m, None, &HashMap::new()),
            "[SYSTEM]\nS\n\n[USER]\nU"
        );
    }

    #[test]
    fn empty_messages_are_left_out() {
        let m = messages(json!([
            {"role": "system", "content": ""},
            {"role": "assistant", "content": null},
            {"role": "user", "content": "only"}
        ]));
        assert_eq!(transcript(&m, None, &HashMap::new()), "only");
    }
}
