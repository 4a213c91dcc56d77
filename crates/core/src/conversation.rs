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

use crate::openai::{ChatMessage, MessageContent};

/// The text of a message: a string, or its text parts joined by newlines. Assumes the
/// request was validated (no non-text parts).
pub fn message_text(message: &ChatMessage) -> String {
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

fn label(message: &ChatMessage) -> String {
    let role = match message.role.as_str() {
        "system" | "developer" => "SYSTEM",
        "assistant" => "ASSISTANT",
        _ => "USER",
    };
    match message.name.as_deref().map(str::trim) {
        Some(name) if !name.is_empty() => format!("[{role} ({name})]"),
        _ => format!("[{role}]"),
    }
}

/// The full transcript for a fresh upstream session. Messages with no text are left out.
pub fn transcript(messages: &[ChatMessage]) -> String {
    let turns: Vec<(&ChatMessage, String)> = messages
        .iter()
        .map(|m| (m, message_text(m)))
        .filter(|(_, text)| !text.trim().is_empty())
        .collect();
    if let [(only, text)] = turns.as_slice() {
        if only.role == "user" {
            return text.clone();
        }
    }
    let mut out = String::with_capacity(turns.iter().map(|(_, t)| t.len() + 16).sum());
    for (i, (message, text)) in turns.iter().enumerate() {
        if i > 0 {
            out.push_str("\n\n");
        }
        out.push_str(&label(message));
        out.push('\n');
        out.push_str(text);
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
        assert_eq!(transcript(&m), "  Hello\n[USER] there ");
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
            transcript(&m),
            "[SYSTEM]\nBe terse.\n\n[USER (ann)]\nHi\n\n[ASSISTANT]\nHello.\n\n[SYSTEM]\nAnswer in French.\n\n[USER]\n2+2?\nQuick."
        );
    }

    #[test]
    fn system_plus_one_user_is_not_verbatim() {
        let m = messages(json!([
            {"role": "system", "content": "S"},
            {"role": "user", "content": "U"}
        ]));
        assert_eq!(transcript(&m), "[SYSTEM]\nS\n\n[USER]\nU");
    }

    #[test]
    fn empty_messages_are_left_out() {
        let m = messages(json!([
            {"role": "system", "content": ""},
            {"role": "assistant", "content": null},
            {"role": "user", "content": "only"}
        ]));
        assert_eq!(transcript(&m), "only");
    }
}
