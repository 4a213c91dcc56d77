//! Shaping an answer to what the request asked of it: the calls found in its text (tools
//! offered), the JSON it must be (`response_format`), and what it still owes (a call the
//! choice requires, arguments a strict tool's schema refuses, JSON that does not fit) for the
//! one corrective follow-up. One shaper serves a stream, fed piece by piece, and a whole
//! answer, fed at once, so both give the same result.

use std::collections::VecDeque;
use std::sync::Arc;

use super::stream::StreamEvent;
use crate::chat::ChatPlan;
use crate::output::Format;
use crate::tools::parse::{CallParser, Piece};
use crate::tools::{ToolCall, ToolChoice, ToolSet, render};

#[derive(Debug)]
pub(super) struct Shaper {
    tools: Option<Arc<ToolSet>>,
    format: Option<Arc<Format>>,
    parser: Option<CallParser>,
    /// The answer is held whole until it is reviewed: it may owe a corrective follow-up (a
    /// required or named call, a strict tool, a format), whose answer would replace it.
    hold_all: bool,
    /// What is held back.
    held: Vec<StreamEvent>,
    /// The answer's text outside calls, and its calls, as found.
    pub(super) prose: String,
    pub(super) found: Vec<ToolCall>,
}

impl Shaper {
    /// A shaper for `plan`'s answer; `None` when the plan asks nothing of it.
    pub(super) fn new(plan: &ChatPlan) -> Option<Self> {
        (plan.tools.is_some() || plan.format.is_some())
            .then(|| Self::of(plan.tools.clone(), plan.format.clone()))
    }

    fn of(tools: Option<Arc<ToolSet>>, format: Option<Arc<Format>>) -> Self {
        let may_owe = tools.as_deref().is_some_and(|t| {
            matches!(t.choice, ToolChoice::Required | ToolChoice::Named(_))
                || t.tools.iter().any(|tool| tool.strict.is_some())
        });
        Self {
            hold_all: may_owe || format.is_some(),
            parser: tools.as_ref().map(|t| CallParser::new(t.names())),
            tools,
            format,
            held: Vec::new(),
            prose: String::new(),
            found: Vec::new(),
        }
    }

    /// Starts over for the corrective follow-up's answer: what the first one said was held,
    /// never given, and is dropped.
    pub(super) fn restart(&mut self) {
        *self = Self::of(self.tools.take(), self.format.take());
    }

    fn events(&mut self, pieces: Vec<Piece>, out: &mut VecDeque<StreamEvent>) {
        let parallel = self.tools.as_ref().is_some_and(|t| t.parallel);
        for piece in pieces {
            match piece {
                Piece::Text(text) => {
                    self.prose.push_str(&text);
                    self.give(StreamEvent::Text(text), out);
                }
                Piece::Call(call) if !self.chosen(&call) => {
                    // An agent that forces a safe tool must never receive another one.
                    tracing::debug!(tool = %call.name, "a call to a tool the choice does not name: dropped");
                }
                Piece::Call(call) if parallel || self.found.is_empty() => {
                    self.found.push(call.clone());
                    self.give(StreamEvent::ToolCall(call), out);
                }
                Piece::Call(call) => {
                    tracing::debug!(tool = %call.name, "a second call where one is allowed: dropped");
                }
            }
        }
    }

    /// Whether `call` is to a tool the choice allows (any offered one, unless it names one).
    fn chosen(&self, call: &ToolCall) -> bool {
        match self.tools.as_deref().map(|t| &t.choice) {
            Some(ToolChoice::Named(name)) => call.name == *name,
            _ => true,
        }
    }

    fn give(&mut self, event: StreamEvent, out: &mut VecDeque<StreamEvent>) {
        if self.hold_all {
            self.held.push(event);
        } else {
            out.push_back(event);
        }
    }

    pub(super) fn feed(&mut self, text: &str, out: &mut VecDeque<StreamEvent>) {
        let pieces = match &mut self.parser {
            Some(parser) => parser.feed(text),
            None => vec![Piece::Text(text.to_owned())],
        };
        self.events(pieces, out);
    }

    /// The answer is complete: what the parser held is decided.
    pub(super) fn finish(&mut self, out: &mut VecDeque<StreamEvent>) {
        if let Some(parser) = &mut self.parser {
            let pieces = parser.finish();
            self.events(pieces, out);
        }
    }

    /// The corrective follow-up the complete answer needs, if it owes something.
    pub(super) fn review(&self) -> Option<String> {
        if let Some(tools) = &self.tools {
            if tools.missing_call(&self.found) {
                return Some(render::correction(tools));
            }
            if let Some(why) = tools.invalid_arguments(&self.found) {
                return Some(format!(
                    "{why} Call the tool again, with arguments that follow its schema."
                ));
            }
        }
        match (&self.format, self.found.is_empty()) {
            (Some(format), true) => format
                .check(&self.prose)
                .err()
                .map(|why| format.correction(&why)),
            _ => None,
        }
    }

    /// Why the final answer still does not fit its format, for the request log.
    pub(super) fn unfit(&self) -> Option<String> {
        let format = self.format.as_ref().filter(|_| self.found.is_empty())?;
        format.check(&self.prose).err()
    }

    /// Gives what was held, in order. Under a format, an answer that fits goes out as its
    /// JSON alone (the prose or fence around it stripped); one that does not, as it is.
    pub(super) fn release(&mut self, out: &mut VecDeque<StreamEvent>) {
        if let Some(format) = self.format.as_ref().filter(|_| self.found.is_empty())
            && let Ok(json) = format.check(&self.prose)
        {
            let json = json.to_owned();
            self.held.clear();
            self.prose.clone_from(&json);
            out.push_back(StreamEvent::Text(json));
            return;
        }
        out.extend(self.held.drain(..));
    }

    /// Takes a whole answer at once.
    pub(super) fn whole(&mut self, answer: &str) {
        let mut sink = VecDeque::new();
        self.feed(answer, &mut sink);
        self.finish(&mut sink);
    }

    /// The final content (the prose, trimmed around calls; under a format that fits, its
    /// JSON) and calls.
    pub(super) fn content(&mut self) -> (String, Vec<ToolCall>) {
        self.release(&mut VecDeque::new());
        let prose = if self.found.is_empty() {
            self.prose.clone()
        } else {
            self.prose.trim().to_owned()
        };
        (prose, self.found.clone())
    }

    /// The answer as the next request's history shows it.
    pub(super) fn history(&self) -> String {
        crate::conversation::answer_turn(&self.prose, &self.found)
    }
}
