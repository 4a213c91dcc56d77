//! A model that follows the proxy's instructions, for tests and `--demo`: when the latest
//! user message names an offered tool, the answer calls it (arguments built from its
//! schema); when the latest messages are tool results, the answer quotes them; when an
//! answer format is asked, the answer is JSON of that shape (in a fence, with a line of prose,
//! as models write it); anything else is left to the ordinary echo. A session remembers the
//! instructions its first query gave, as a model does.

use serde_json::{Map, Value, json};

const TOOLS_OPEN: &str = "<tools>\n";
const TOOLS_CLOSE: &str = "</tools>";
const LABELS: [&str; 4] = ["[SYSTEM]", "[USER", "[ASSISTANT]", "[TOOL]"];
/// What the proxy's corrective follow-up asks, when it names no tool.
const CALL_ANY: &str = "Call one of the tools now";

const FORMAT: &str = "# Answer format";
const SCHEMA_OPEN: &str = "<schema>\n";
const SCHEMA_CLOSE: &str = "\n</schema>";

/// The query's instructions (what a session keeps): its first system part, when it offers
/// tools or asks for a format.
pub fn block(query: &str) -> Option<&str> {
    let start = query.strip_prefix("[SYSTEM]\n")?;
    let system = start.find("\n\n[").map_or(start, |n| &start[..n]);
    (system.contains(TOOLS_OPEN) || system.contains(FORMAT)).then_some(system)
}

fn between<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = text.find(open)? + open.len();
    let end = start + text[start..].find(close)?;
    Some(&text[start..end])
}

/// `(name, line)` of each tool in the instructions (one JSON object per line, name first).
fn offered(system: &str) -> Vec<(&str, &str)> {
    between(system, TOOLS_OPEN, TOOLS_CLOSE)
        .unwrap_or("")
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("{\"name\": \"")?;
            Some((&rest[..rest.find('"')?], line))
        })
        .collect()
}

/// A tool's parameters, from its line.
fn parameters(line: &str) -> Value {
    serde_json::from_str::<Value>(line)
        .ok()
        .and_then(|tool| tool.get("parameters").cloned())
        .unwrap_or(json!({}))
}

/// The transcript's sections as `(label, text)`; a query with no labels is one user part.
fn sections(query: &str) -> Vec<(&str, &str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    let (mut label, mut start, mut at) = ("[USER", 0, 0);
    for line in query.split_inclusive('\n') {
        let text = line.trim_end_matches('\n');
        if let Some(found) = LABELS
            .iter()
            .find(|l| text.starts_with(**l) && text.ends_with(']'))
        {
            if at > start {
                out.push((label, &query[start..at]));
            }
            label = found;
            start = at + line.len();
        }
        at += line.len();
    }
    out.push((label, &query[start..]));
    out
}

/// The sections that matter for an answer: trailing system parts (reminders an agent adds
/// after the user's turn) are read as a model reads them, as context, not as the turn.
fn turn_sections(query: &str) -> Vec<(&str, &str)> {
    let mut sections = sections(query);
    while sections.len() > 1 && sections.last().is_some_and(|(l, _)| *l == "[SYSTEM]") {
        sections.pop();
    }
    sections
}

/// The text of the query's latest turn (what the echo repeats).
pub fn latest_turn(query: &str) -> &str {
    turn_sections(query).last().map_or(query, |(_, text)| text)
}

/// The answer to a query in a session that offers `tools` (this query's block, or the one
/// the session kept), or `None` for the ordinary echo.
pub fn answer(prefix: &str, query: &str, tools: Option<&str>) -> Option<String> {
    let sections = turn_sections(query);
    let results: Vec<&str> = sections
        .iter()
        .rev()
        .take_while(|(label, _)| *label == "[TOOL]")
        .map(|(_, text)| *text)
        .collect();
    if !results.is_empty() {
        let quoted: Vec<String> = results.into_iter().rev().filter_map(quote).collect();
        return Some(format!("{prefix}{}", quoted.join("; ")));
    }
    let (label, latest) = sections.last()?;
    if *label != "[USER" {
        return None;
    }
    let system = tools?;
    let tools = offered(system);
    let mut named: Vec<(usize, &(&str, &str))> = tools
        .iter()
        .filter_map(|tool| Some((mentioned(latest, tool.0)?, tool)))
        .collect();
    named.sort_by_key(|(at, _)| *at);
    if named.is_empty() && latest.contains(CALL_ANY) {
        named.extend(tools.first().map(|t| (0, t)));
    }
    if named.is_empty() {
        return system
            .contains(FORMAT)
            .then(|| json_answer(prefix, system, latest));
    }
    let mut out = format!(
        "{prefix}Calling {}.\n",
        named
            .iter()
            .map(|(_, (name, _))| *name)
            .collect::<Vec<_>>()
            .join(" and ")
    );
    for (_, (name, line)) in named {
        out.push_str(&format!(
            "<tool_call>\n{}\n</tool_call>\n",
            json!({"name": name, "arguments": arguments(&parameters(line), latest)})
        ));
    }
    Some(out)
}

/// JSON of the asked shape: built from the schema, or `{"echo": …}` for any object; in a
/// fence after a line of prose.
fn json_answer(prefix: &str, system: &str, latest: &str) -> String {
    let value = match between(system, SCHEMA_OPEN, SCHEMA_CLOSE)
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
    {
        Some(schema) => arguments(&schema, latest),
        None => json!({"echo": latest.trim()}),
    };
    format!("{prefix}Here it is:\n```json\n{value}\n```")
}

/// Where `text` names the tool `name` as a word.
fn mentioned(text: &str, name: &str) -> Option<usize> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    text.match_indices(name).map(|(at, _)| at).find(|&at| {
        let before = text[..at].chars().next_back();
        let after = text[at + name.len()..].chars().next();
        !before.is_some_and(word) && !after.is_some_and(word)
    })
}

/// `"<name> returned: <content>"` for each `<tool_response>` block in `text`.
fn quote(text: &str) -> Option<String> {
    let quoted: Vec<String> = text
        .split("<tool_response>")
        .skip(1)
        .filter_map(|rest| rest.split("</tool_response>").next())
        .filter_map(|body| serde_json::from_str::<Value>(body.trim()).ok())
        .map(|result| {
            let name = result
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("the tool");
            let content = match result.get("content") {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            };
            format!("{name} returned: {content}")
        })
        .collect();
    (!quoted.is_empty()).then(|| quoted.join("; "))
}

/// Plausible arguments for a JSON Schema: its required properties (every property when it
/// lists none), each with a value of its type; a path is a file name the user's `message`
/// mentions, if it mentions one.
pub fn arguments(schema: &Value, message: &str) -> Value {
    let required: Option<Vec<&str>> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect());
    let mut out = Map::new();
    for (name, property) in schema
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(name, _)| required.as_ref().is_none_or(|r| r.contains(&name.as_str())))
    {
        out.insert(name.clone(), example(name, property, message));
    }
    Value::Object(out)
}

/// The first `backtick-quoted` span of `message`: the code a user asks a tool to run.
fn quoted(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let end = start + message[start..].find('`')?;
    Some(&message[start..end]).filter(|code| !code.trim().is_empty())
}

/// The last word of `message` that looks like a file name (`notes.txt`, `/tmp/a.md`): the
/// user's own words come after any reminders an agent puts first.
fn file_name(message: &str) -> Option<&str> {
    message
        .split_whitespace()
        .rev()
        .map(|w| {
            let quote = |c: char| "\"'`,;:!?()[]<>".contains(c);
            w.trim_start_matches(quote)
                .trim_end_matches(|c| quote(c) || c == '.')
        })
        .find(|w| {
            w.rsplit_once('.').is_some_and(|(stem, ext)| {
                !stem.is_empty()
                    && !ext.is_empty()
                    && ext.chars().all(|c| c.is_ascii_alphanumeric())
            })
        })
}

fn example(name: &str, schema: &Value, message: &str) -> Value {
    if let Some(first) = schema.get("enum").and_then(|e| e.get(0)) {
        return first.clone();
    }
    let kind = match schema.get("type") {
        Some(Value::Array(kinds)) => kinds.iter().find(|k| *k != "null").cloned(),
        other => other.cloned(),
    };
    match kind.as_ref().and_then(Value::as_str) {
        Some("integer") => json!(3),
        Some("number") => json!(1.5),
        Some("boolean") => json!(true),
        Some("array") => json!([]),
        Some("object") => arguments(schema, message),
        _ => Value::from(match name {
            "city" | "location" | "place" => "Paris",
            "path" | "file" | "file_path" => file_name(message).unwrap_or("README.md"),
            "input" | "code" | "command" | "cmd" | "script" => quoted(message).unwrap_or("example"),
            "query" | "q" | "search" => "on-demand.io",
            "unit" | "units" => "celsius",
            _ => "example",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUERY: &str = "[SYSTEM]\n# Tools\n\nYou can call the tools below.\n<tools>\n{\"name\": \"get_weather\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}, \"days\": {\"type\": \"integer\"}}}}\n{\"name\": \"get_time\", \"parameters\": {}}\n</tools>\n\nRules.\n\n[USER]\nPlease use get_weather, then get_time.";

    #[test]
    fn a_user_naming_tools_gets_calls_with_arguments_from_their_schemas() {
        let answer = answer("Echo: ", QUERY, block(QUERY)).unwrap();
        assert_eq!(
            answer,
            "Echo: Calling get_weather and get_time.\n<tool_call>\n{\"arguments\":{\"city\":\"Paris\",\"days\":3},\"name\":\"get_weather\"}\n</tool_call>\n<tool_call>\n{\"arguments\":{},\"name\":\"get_time\"}\n</tool_call>\n"
        );
        let plain = QUERY.replace("Please use get_weather, then get_time.", "Hello there");
        assert_eq!(answer_of(&plain), None, "no tool named: the ordinary echo");
        let word = QUERY.replace("Please use get_weather, then get_time.", "my_get_weather_x");
        assert_eq!(
            answer_of(&word),
            None,
            "a name inside another word is no mention"
        );
    }

    fn answer_of(query: &str) -> Option<String> {
        answer("", query, block(query))
    }

    #[test]
    fn tool_results_are_quoted_and_a_session_keeps_its_tools() {
        let results = "[ASSISTANT]\n<tool_call>\n{}\n</tool_call>\n\n[TOOL]\n<tool_response>\n{\"content\":\"18°C\",\"name\":\"get_weather\",\"tool_call_id\":\"c1\"}\n</tool_response>\n\n[TOOL]\n<tool_response>\n{\"content\":{\"t\":\"noon\"},\"name\":\"get_time\"}\n</tool_response>";
        assert_eq!(
            answer("", results, None).unwrap(),
            "get_weather returned: 18°C; get_time returned: {\"t\":\"noon\"}"
        );
        let kept = block(QUERY);
        assert!(
            answer("", "Now use get_time please", kept).is_some_and(|a| a.contains("get_time"))
        );
        assert!(
            answer(
                "",
                "Your answer did not call a tool. Call one of the tools now: answer.",
                kept
            )
            .is_some_and(|a| a.contains("get_weather")),
            "the corrective follow-up names no tool: the first one"
        );
        assert_eq!(answer("", "use get_time", None), None, "no tools offered");
    }

    #[test]
    fn an_agents_trailing_reminder_is_context_not_the_turn() {
        let query = QUERY.replace(
            "Please use get_weather, then get_time.",
            "<reminder>CLAUDE.md</reminder>\nUse get_weather on /tmp/notes.txt.\n\n[SYSTEM]\nA reminder.",
        );
        let answer = answer_of(&query).unwrap();
        assert!(answer.contains("get_weather"), "{answer}");
        assert_eq!(latest_turn("[USER]\nhello\n\n[SYSTEM]\nnote"), "hello\n\n");
        assert_eq!(latest_turn("just text"), "just text");
    }

    #[test]
    fn code_to_run_is_taken_from_backticks() {
        let schema = json!({"type": "object", "required": ["input"], "properties": {"input": {"type": "string"}}});
        assert_eq!(
            arguments(&schema, "Use exec to run `text(6 * 7)` please"),
            json!({"input": "text(6 * 7)"})
        );
        assert_eq!(arguments(&schema, "no code"), json!({"input": "example"}));
    }

    #[test]
    fn arguments_fill_required_properties_and_take_a_mentioned_file() {
        let schema = json!({"type": "object", "required": ["file_path"], "properties": {
            "file_path": {"type": "string"}, "offset": {"type": "integer"}}});
        assert_eq!(
            arguments(&schema, "See CLAUDE.md, then read (notes.txt)."),
            json!({"file_path": "notes.txt"})
        );
        assert_eq!(
            arguments(&schema, "no file"),
            json!({"file_path": "README.md"})
        );
        assert_eq!(
            arguments(&schema, "open /tmp/a-b/x.md"),
            json!({"file_path": "/tmp/a-b/x.md"})
        );
    }
}
