//! Finding tool calls in a model's answer, as it streams.
//!
//! One incremental parser serves both paths: a stream feeds it each text delta, a whole
//! answer is fed at once. Either way the pieces are the same (adjacent text
//! merged), however the answer was split, because every decision waits for the bytes that
//! decide it and for no others.
//!
//! What counts as a call, whatever protocol the prompt asked for:
//! - `<tool_call>{"name": …, "arguments": …}</tool_call>` (Hermes; many models emit it
//!   unprompted), the closing tag optional at the very end of the answer;
//! - the same JSON in a fenced block whose info string is `tool_call`, `json` or empty;
//! - one call object or an array of them; `arguments` as an object or as a JSON string (also
//!   `parameters` or `args`; missing is `{}`); `{"function": {…}}` wrappers.
//!
//! A call to a tool that was not offered, or JSON that cannot be repaired (trailing commas
//! and missing closing brackets at the end are repaired), stays text: nothing is invented.
//!
//! Text is held back only while it could still be the start of a call: a partial opening
//! marker at the end of what arrived (`<tool_c`, two backticks), a fence's info line, or a
//! block that opened as a call until it closes or proves not to be one.

use serde_json::{Map, Value};

use super::ToolCall;

const TAG_OPEN: &str = "<tool_call>";
const TAG_CLOSE: &str = "</tool_call>";
const FENCE: &str = "```";
/// Fence info strings that may hold a call.
const CALL_FENCES: [&str; 4] = ["tool_call", "json", "", "tool_code"];
/// The longest fence info line looked at; longer ones are ordinary code.
const MAX_INFO: usize = 32;

/// A piece of an answer: text, or a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Call(ToolCall),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Ordinary text.
    Text,
    /// After `<tool_call>`: the call's JSON until `</tool_call>`.
    Tag,
    /// After a fence's opening backticks: its info line.
    FenceInfo,
    /// Inside a fence that may hold a call, until the closing backticks.
    CallFence,
    /// Inside an ordinary fence (code): text until the closing backticks.
    CodeFence,
}

/// The incremental parser of one answer.
#[derive(Debug)]
pub struct CallParser {
    offered: Vec<String>,
    state: State,
    /// What arrived and is not decided yet. In `Tag`, `FenceInfo` and `CallFence` it starts
    /// with the block's opening marker.
    held: String,
}

impl CallParser {
    /// A parser that accepts calls to the tools named `offered`.
    pub fn new(offered: Vec<String>) -> Self {
        Self {
            offered,
            state: State::Text,
            held: String::new(),
        }
    }

    /// Takes the next piece of the answer; returns what is decided.
    pub fn feed(&mut self, delta: &str) -> Vec<Piece> {
        self.held.push_str(delta);
        let mut out = Vec::new();
        while self.step(&mut out, false) {}
        merge(out)
    }

    /// The answer is complete: decides whatever is held.
    pub fn finish(&mut self) -> Vec<Piece> {
        let mut out = Vec::new();
        while self.step(&mut out, true) {}
        if !self.held.is_empty() {
            let rest = std::mem::take(&mut self.held);
            match self.state {
                State::Tag => {
                    let body = &rest[TAG_OPEN.len()..];
                    self.block(&rest, body, &mut out);
                }
                State::CallFence => {
                    let body = rest.split_once('\n').map_or("", |(_, b)| b);
                    self.block(&rest, body, &mut out);
                }
                _ => out.push(Piece::Text(rest)),
            }
            self.state = State::Text;
        }
        merge(out)
    }

    /// One decision on what is held; `false` when nothing more can be decided now.
    fn step(&mut self, out: &mut Vec<Piece>, at_end: bool) -> bool {
        match self.state {
            State::Text => {
                let tag = self.held.find(TAG_OPEN);
                let fence = self.held.find(FENCE);
                let next = match (tag, fence) {
                    (Some(t), Some(f)) => Some(t.min(f)),
                    (t, f) => t.or(f),
                };
                match next {
                    Some(at) => {
                        let is_tag = Some(at) == tag;
                        text(out, self.held.drain(..at).collect());
                        self.state = if is_tag { State::Tag } else { State::FenceInfo };
                        true
                    }
                    None => {
                        let keep = if at_end {
                            0
                        } else {
                            partial_marker(&self.held, &[TAG_OPEN, FENCE])
                        };
                        let cut = self.held.len() - keep;
                        text(out, self.held.drain(..cut).collect());
                        false
                    }
                }
            }
            State::Tag => {
                let body = &self.held[TAG_OPEN.len()..];
                // Not a call unless JSON follows: decided at the first other character.
                if let Some(first) = body.trim_start().chars().next()
                    && first != '{'
                    && first != '['
                {
                    self.release_marker(out, TAG_OPEN.len());
                    return true;
                }
                match body.find(TAG_CLOSE) {
                    Some(end) => {
                        let whole_len = TAG_OPEN.len() + end + TAG_CLOSE.len();
                        let whole: String = self.held.drain(..whole_len).collect();
                        let body = &whole[TAG_OPEN.len()..whole.len() - TAG_CLOSE.len()];
                        self.block(&whole, body, out);
                        self.state = State::Text;
                        true
                    }
                    None => false,
                }
            }
            State::FenceInfo => {
                let after = &self.held[FENCE.len()..];
                let newline = after.find('\n');
                let line = &after[..newline.unwrap_or(after.len())];
                if line.contains(FENCE) || line.len() > MAX_INFO {
                    // Inline backticks, or a long info: ordinary text.
                    self.release_marker(out, FENCE.len());
                    return true;
                }
                match newline {
                    Some(end) => {
                        let info = after[..end].trim();
                        self.state = if CALL_FENCES.contains(&info) {
                            State::CallFence
                        } else {
                            State::CodeFence
                        };
                        if self.state == State::CodeFence {
                            let opening = FENCE.len() + end + 1;
                            text(out, self.held.drain(..opening).collect());
                        }
                        true
                    }
                    None => false,
                }
            }
            State::CallFence => {
                let (info_line, body) = match self.held.split_once('\n') {
                    Some((info, body)) => (info.len() + 1, body),
                    None => return false,
                };
                if let Some(first) = body.trim_start().chars().next()
                    && first != '{'
                    && first != '['
                {
                    // Code, not a call: the fence goes on as an ordinary one.
                    text(out, self.held.drain(..info_line).collect());
                    self.state = State::CodeFence;
                    return true;
                }
                match body.find(FENCE) {
                    Some(end) => {
                        let whole_len = info_line + end + FENCE.len();
                        let whole: String = self.held.drain(..whole_len).collect();
                        let body = &whole[info_line..whole.len() - FENCE.len()];
                        self.block(&whole, body, out);
                        self.state = State::Text;
                        true
                    }
                    None => false,
                }
            }
            State::CodeFence => match self.held.find(FENCE) {
                Some(end) => {
                    text(out, self.held.drain(..end + FENCE.len()).collect());
                    self.state = State::Text;
                    true
                }
                None => {
                    let keep = if at_end {
                        0
                    } else {
                        partial_marker(&self.held, &[FENCE])
                    };
                    let cut = self.held.len() - keep;
                    text(out, self.held.drain(..cut).collect());
                    false
                }
            },
        }
    }

    /// The held opening marker was not a call's: it is text, and scanning goes on after it.
    fn release_marker(&mut self, out: &mut Vec<Piece>, marker_len: usize) {
        text(out, self.held.drain(..marker_len).collect());
        self.state = State::Text;
    }

    /// A complete block (`whole`, with its markers) whose JSON is `body`: its calls, or the
    /// block as text when it holds none that can be had.
    fn block(&mut self, whole: &str, body: &str, out: &mut Vec<Piece>) {
        match calls_in(body, &self.offered) {
            Some(calls) => out.extend(calls.into_iter().map(Piece::Call)),
            None => text(out, whole.to_owned()),
        }
    }
}

fn text(out: &mut Vec<Piece>, text: String) {
    if !text.is_empty() {
        out.push(Piece::Text(text));
    }
}

/// Adjacent text pieces as one.
pub fn merge(pieces: Vec<Piece>) -> Vec<Piece> {
    let mut out: Vec<Piece> = Vec::with_capacity(pieces.len());
    for piece in pieces {
        match (out.last_mut(), piece) {
            (Some(Piece::Text(last)), Piece::Text(more)) => last.push_str(&more),
            (_, piece) => out.push(piece),
        }
    }
    out
}

/// How many bytes at the end of `text` could begin one of `markers` (0 if none).
fn partial_marker(text: &str, markers: &[&str]) -> usize {
    markers
        .iter()
        .flat_map(|m| (1..m.len()).rev().map(move |n| (m, n)))
        .filter(|(m, n)| text.ends_with(&m[..*n]))
        .map(|(_, n)| n)
        .max()
        .unwrap_or(0)
}

/// The calls in a block's JSON, or `None` if it holds none that can be had (every call in
/// it must name an offered tool; a block is all calls or text).
fn calls_in(body: &str, offered: &[String]) -> Option<Vec<ToolCall>> {
    let value = repair(body.trim())?;
    let items = match value {
        Value::Array(items) if !items.is_empty() => items,
        Value::Object(_) => vec![value],
        _ => return None,
    };
    items
        .into_iter()
        .map(|item| call_of(item, offered))
        .collect()
}

fn call_of(item: Value, offered: &[String]) -> Option<ToolCall> {
    let Value::Object(mut object) = item else {
        return None;
    };
    if let Some(Value::Object(function)) = object.remove("function") {
        object = function;
    }
    let name = object.get("name")?.as_str()?.trim().to_owned();
    if !offered.contains(&name) {
        return None;
    }
    let arguments = ["arguments", "parameters", "args"]
        .iter()
        .find_map(|k| object.remove(*k))
        .unwrap_or(Value::Object(Map::new()));
    let arguments = match arguments {
        Value::String(text) if text.trim().is_empty() => Value::Object(Map::new()),
        Value::String(text) => repair(&text)?,
        other => other,
    };
    if !arguments.is_object() {
        return None;
    }
    Some(ToolCall {
        id: super::call_id(),
        name,
        arguments: arguments.to_string(),
    })
}

/// JSON as models write it: as is; else without trailing commas; else with the brackets a
/// cut-off answer left open closed.
fn repair(text: &str) -> Option<Value> {
    if let Ok(value) = serde_json::from_str(text) {
        return Some(value);
    }
    let cleaned = without_trailing_commas(text);
    if let Ok(value) = serde_json::from_str(&cleaned) {
        return Some(value);
    }
    serde_json::from_str(&close_open_brackets(&cleaned)?).ok()
}

/// Whether a scan of JSON text is inside a string.
#[derive(Debug, Default)]
struct Strings {
    inside: bool,
    escaped: bool,
}

impl Strings {
    /// Takes the next character; whether it belongs to a string (its quotes included).
    fn step(&mut self, c: char) -> bool {
        if self.inside {
            if self.escaped {
                self.escaped = false;
            } else if c == '\\' {
                self.escaped = true;
            } else if c == '"' {
                self.inside = false;
            }
            true
        } else {
            self.inside = c == '"';
            self.inside
        }
    }
}

/// `text` without commas that stand right before a closing bracket (outside strings).
fn without_trailing_commas(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut strings = Strings::default();
    for (i, c) in text.char_indices() {
        let trailing =
            c == ',' && matches!(text[i + 1..].trim_start().chars().next(), Some('}' | ']'));
        if !strings.step(c) && trailing {
            continue;
        }
        out.push(c);
    }
    out
}

/// `text` with its open brackets closed, if it ends outside a string.
fn close_open_brackets(text: &str) -> Option<String> {
    let mut open = Vec::new();
    let mut strings = Strings::default();
    for c in text.chars() {
        if strings.step(c) {
            continue;
        }
        match c {
            '{' => open.push('}'),
            '[' => open.push(']'),
            '}' | ']' => match open.pop() {
                Some(expected) if expected == c => {}
                _ => return None,
            },
            _ => {}
        }
    }
    if strings.inside || open.is_empty() {
        return None;
    }
    let mut closed = text.trim_end().trim_end_matches(',').to_owned();
    closed.extend(open.into_iter().rev());
    Some(closed)
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
