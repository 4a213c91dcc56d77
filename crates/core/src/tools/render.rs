//! The tool protocol as text: the instructions that offer the tools, the blocks that write
//! the history's calls and results, and the corrective follow-up. Deterministic (the same
//! tools and history give the same bytes), so reuse mode and tests can rely on it.

use serde_json::Value;

use super::{ToolChoice, ToolSet};

/// The system part that offers the tools and says how to call them.
pub fn instructions(set: &ToolSet) -> String {
    let mut out = String::from(
        "# Tools\n\nYou can call the tools below. Each line is one tool: its name, what it does, and the JSON Schema of its arguments.\n<tools>\n",
    );
    for tool in &set.tools {
        // Name first, as a reader expects (a JSON map would sort the keys).
        out.push_str(&format!("{{\"name\": {}", Value::from(tool.name.as_str())));
        if let Some(description) = &tool.description {
            out.push_str(&format!(
                ", \"description\": {}",
                Value::from(description.as_str())
            ));
        }
        out.push_str(&format!(", \"parameters\": {}}}\n", tool.parameters));
    }
    out.push_str(
        "</tools>\n\nTo call a tool, write a block exactly like this, with nothing but the JSON between the tags:\n<tool_call>\n{\"name\": \"<tool name>\", \"arguments\": {<the arguments, as JSON>}}\n</tool_call>\n\n",
    );
    out.push_str("The arguments must follow the tool's schema. Use only the tools listed. ");
    out.push_str(if set.parallel {
        "To call several tools at once, write one block per call. "
    } else {
        "Call at most one tool per answer. "
    });
    out.push_str("After your calls, end your answer: the results come back in <tool_response> blocks. Never write a <tool_response> yourself, and never guess a result.\n");
    out.push_str(&match &set.choice {
        ToolChoice::Required => "You must call at least one tool in this answer.".to_owned(),
        ToolChoice::Named(name) => format!("You must call the tool `{name}` in this answer."),
        _ => "Call a tool only when it helps; otherwise answer directly.".to_owned(),
    });
    out
}

/// A call as the protocol writes it. `arguments` is JSON text; it is written compact
/// (invalid JSON is written as a string, as sent).
pub fn call_block(name: &str, arguments: &str) -> String {
    let arguments: Value =
        serde_json::from_str(arguments).unwrap_or_else(|_| Value::from(arguments));
    format!(
        "<tool_call>\n{{\"name\": {}, \"arguments\": {arguments}}}\n</tool_call>",
        Value::from(name)
    )
}

/// A tool's result for the call `call_id` (of the tool `name`, when known). JSON content
/// is written as JSON, anything else as a string.
pub fn response_block(name: Option<&str>, call_id: Option<&str>, content: &str) -> String {
    let content: Value = match serde_json::from_str::<Value>(content) {
        Ok(value @ (Value::Object(_) | Value::Array(_))) => value,
        _ => Value::from(content),
    };
    let mut block = serde_json::Map::new();
    if let Some(name) = name {
        block.insert("name".into(), Value::from(name));
    }
    if let Some(id) = call_id {
        block.insert("tool_call_id".into(), Value::from(id));
    }
    block.insert("content".into(), content);
    format!(
        "<tool_response>\n{}\n</tool_response>",
        Value::Object(block)
    )
}

/// The follow-up sent on the same session when an answer did not make the call it had to.
pub fn correction(set: &ToolSet) -> String {
    let which = match &set.choice {
        ToolChoice::Named(name) => format!("the tool `{name}`"),
        _ => "one of the tools".to_owned(),
    };
    format!(
        "Your answer did not call a tool, but this request requires it. Call {which} now: answer with only the <tool_call> block, in the format given."
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::Tool;
    use super::*;

    fn set(choice: ToolChoice, parallel: bool) -> ToolSet {
        ToolSet {
            tools: vec![Tool {
                name: "get_weather".into(),
                description: Some("Weather now".into()),
                parameters: json!({"type": "object", "properties": {"city": {"type": "string"}}}),
                strict: None,
            }],
            choice,
            parallel,
            legacy: false,
        }
    }

    #[test]
    fn the_instructions_list_each_tool_on_a_line_and_state_the_choice() {
        let text = instructions(&set(ToolChoice::Auto, true));
        assert!(text.contains(
            "\n{\"name\": \"get_weather\", \"description\": \"Weather now\", \"parameters\": {\"properties\":{\"city\":{\"type\":\"string\"}},\"type\":\"object\"}}\n"
        ), "{text}");
        assert!(text.contains("one block per call"));
        assert!(text.ends_with("otherwise answer directly."));
        let named = instructions(&set(ToolChoice::Named("get_weather".into()), false));
        assert!(named.contains("at most one tool"));
        assert!(named.ends_with("You must call the tool `get_weather` in this answer."));
        assert_eq!(
            instructions(&set(ToolChoice::Auto, true)),
            text,
            "deterministic"
        );
    }

    #[test]
    fn calls_and_results_are_written_in_the_protocol() {
        assert_eq!(
            call_block("get_weather", "{\"city\": \"Paris\"}"),
            "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\":\"Paris\"}}\n</tool_call>"
        );
        assert_eq!(
            response_block(Some("get_weather"), Some("call_1"), "18°C"),
            "<tool_response>\n{\"content\":\"18°C\",\"name\":\"get_weather\",\"tool_call_id\":\"call_1\"}\n</tool_response>"
        );
        assert!(response_block(None, None, "{\"t\": 18}").contains("\"content\":{\"t\":18}"));
        assert!(correction(&set(ToolChoice::Required, true)).contains("one of the tools"));
    }
}
