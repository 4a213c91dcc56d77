//! A stream after its first content: dialect-neutral events for the HTTP layer to encode,
//! and the bookkeeping a stream owes however it ends. On success the account is credited,
//! reuse mode remembers the session, and the usage row gets the final counts; on a failure
//! after content the account's health learns of it; when the client goes away (the stream
//! is dropped) the upstream connection closes and the row says so, with the tokens so far.

use std::collections::VecDeque;
use std::sync::Arc;

use super::{Engine, Hold, SessionUse};
use crate::chat::ChatPlan;
use crate::record::RequestRecord;
use crate::tools::parse::{CallParser, Piece};
use crate::tools::{ToolCall, ToolSet};
use crate::upstream::error::UpstreamError;
use crate::upstream::sse::UpstreamEvent;
use crate::upstream::{Answer, EventStream, ResponseMode};
use crate::usage::TokenUsage;

/// What a stream carries to the client, in any dialect.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// A piece of the answer.
    Text(String),
    /// A piece of the model's reasoning.
    Reasoning(String),
    /// A call the model made, whole (found in the answer's text).
    ToolCall(ToolCall),
    /// The answer is complete; nothing follows.
    Done { usage: TokenUsage, finish: Finish },
    /// The stream broke after it had begun; nothing follows.
    Failed(StreamFailure),
}

/// How an answer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// The model finished its answer.
    Stop,
    /// The answer is calls for the client to make.
    ToolCalls,
}

/// Finding calls in an answer as it streams, and keeping what was found.
#[derive(Debug)]
pub(super) struct Calls {
    set: Arc<ToolSet>,
    parser: CallParser,
    /// Several calls per answer, or only the first.
    parallel: bool,
    /// Text held back while a call the choice requires has not come yet (it is given
    /// before the call, or replaced by the corrective follow-up's answer).
    held: Vec<StreamEvent>,
    /// The answer's text outside calls, and its calls, as given.
    pub(super) prose: String,
    pub(super) found: Vec<ToolCall>,
}

impl Calls {
    pub(super) fn new(set: &Arc<ToolSet>) -> Self {
        Self {
            set: set.clone(),
            parser: CallParser::new(set.names()),
            parallel: set.parallel,
            held: Vec::new(),
            prose: String::new(),
            found: Vec::new(),
        }
    }

    /// A call the choice requires has not come (yet).
    fn missing_call(&self) -> bool {
        self.set.missing_call(&self.found)
    }

    /// Starts over for the corrective follow-up's answer: what the first one said is
    /// dropped (it was held, never given).
    fn restart(&mut self) {
        *self = Self::new(&self.set);
    }

    /// The events `pieces` give: text as it is, each call whole (after the first, only
    /// when calls may be parallel; the others are dropped).
    fn events(&mut self, pieces: Vec<Piece>, out: &mut VecDeque<StreamEvent>) {
        for piece in pieces {
            match piece {
                Piece::Text(text) => {
                    self.prose.push_str(&text);
                    let event = StreamEvent::Text(text);
                    if self.missing_call() {
                        self.held.push(event);
                    } else {
                        out.push_back(event);
                    }
                }
                Piece::Call(call) if self.parallel || self.found.is_empty() => {
                    self.found.push(call.clone());
                    if !self.missing_call() {
                        out.extend(self.held.drain(..));
                    }
                    out.push_back(StreamEvent::ToolCall(call));
                }
                Piece::Call(call) => {
                    tracing::debug!(tool = %call.name, "a second call where one is allowed: dropped");
                }
            }
        }
    }

    pub(super) fn feed(&mut self, text: &str, out: &mut VecDeque<StreamEvent>) {
        let pieces = self.parser.feed(text);
        self.events(pieces, out);
    }

    pub(super) fn finish(&mut self, out: &mut VecDeque<StreamEvent>) {
        let pieces = self.parser.finish();
        self.events(pieces, out);
    }

    /// Gives what was held (the answer ends without the call it needed).
    fn release(&mut self, out: &mut VecDeque<StreamEvent>) {
        out.extend(self.held.drain(..));
    }

    /// A whole answer's prose (trimmed when it has calls) and calls.
    pub(super) fn split(set: &Arc<ToolSet>, answer: &str) -> (String, Vec<ToolCall>) {
        let mut calls = Self::new(set);
        let mut sink = VecDeque::new();
        calls.feed(answer, &mut sink);
        calls.finish(&mut sink);
        if calls.found.is_empty() {
            (calls.prose, calls.found)
        } else {
            (calls.prose.trim().to_owned(), calls.found)
        }
    }

    /// The answer as the next request's history shows it.
    pub(super) fn history(&self) -> String {
        crate::conversation::answer_turn(&self.prose, &self.found)
    }
}

/// Why a stream that had begun broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamFailure {
    pub message: String,
    /// The code the usage row and the client see.
    pub code: &'static str,
}

const STREAM_ERROR: &str = "upstream_stream_error";

/// A stream whose first content has arrived. It holds its account until dropped.
pub struct ChatStream {
    engine: Arc<Engine>,
    plan: ChatPlan,
    /// The account (and the upstream cap's slot), held until the stream ends.
    hold: Hold,
    /// The upstream session; remembered in reuse mode once the answer is complete.
    session: SessionUse,
    /// Events read while waiting for the first content, to pass on before `rest`.
    first: VecDeque<UpstreamEvent>,
    rest: EventStream,
    answer: Answer,
    record: RequestRecord,
    finished: bool,
    /// When tools were offered: the calls in the answer.
    calls: Option<Calls>,
    /// Events decided and not yet given.
    ready: VecDeque<StreamEvent>,
    /// The corrective follow-up was sent (it is sent once at most).
    corrected: bool,
}

impl std::fmt::Debug for ChatStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatStream")
            .field("model", &self.plan.model)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

/// What one upstream event adds to the client's stream, with `answer` kept up to date:
/// the whole answer of the completion log is passed on only when no piece of it came
/// before (§4.1 trap a).
pub(super) fn piece(answer: &mut Answer, event: UpstreamEvent) -> Option<StreamEvent> {
    let out = match &event {
        UpstreamEvent::Content(text) if !text.is_empty() => Some(StreamEvent::Text(text.clone())),
        UpstreamEvent::Reasoning(text) if !text.is_empty() => {
            Some(StreamEvent::Reasoning(text.clone()))
        }
        UpstreamEvent::CompletedAnswer(text) if answer.content.is_empty() && !text.is_empty() => {
            Some(StreamEvent::Text(text.clone()))
        }
        _ => None,
    };
    answer.apply(event);
    out
}

impl ChatStream {
    pub(super) fn new(
        engine: Arc<Engine>,
        plan: ChatPlan,
        hold: Hold,
        session: SessionUse,
        first: Vec<UpstreamEvent>,
        rest: EventStream,
        record: RequestRecord,
    ) -> Self {
        let calls = plan.tools.as_ref().map(Calls::new);
        Self {
            engine,
            plan,
            hold,
            session,
            first: first.into(),
            rest,
            answer: Answer::default(),
            record,
            finished: false,
            calls,
            ready: VecDeque::new(),
            corrected: false,
        }
    }

    pub fn plan(&self) -> &ChatPlan {
        &self.plan
    }

    /// The next event; `None` once [`StreamEvent::Done`] or [`StreamEvent::Failed`] was
    /// given.
    pub async fn next(&mut self) -> Option<StreamEvent> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(event);
            }
            if self.finished {
                return None;
            }
            let event = match self.first.pop_front() {
                Some(event) => Ok(event),
                None => self
                    .rest
                    .next()
                    .await
                    .unwrap_or(Err(UpstreamError::Truncated)),
            };
            let end = match event {
                Ok(UpstreamEvent::Done) => Ok(()),
                Ok(event) => {
                    match (piece(&mut self.answer, event), &mut self.calls) {
                        (Some(StreamEvent::Text(text)), Some(calls)) => {
                            calls.feed(&text, &mut self.ready);
                        }
                        (Some(out), _) => self.ready.push_back(out),
                        (None, _) => {}
                    }
                    continue;
                }
                Err(error) => Err(error),
            };
            // What was held as a possible call is decided now, before the end.
            if let Some(calls) = &mut self.calls {
                calls.finish(&mut self.ready);
                if end.is_ok() && calls.missing_call() && !self.corrected && self.correct().await {
                    continue;
                }
                if let Some(calls) = &mut self.calls {
                    calls.release(&mut self.ready);
                }
            }
            let last = match end {
                Ok(()) => self.done(),
                Err(error) => self.failed(&error),
            };
            self.ready.push_back(last);
        }
    }

    /// The corrective follow-up: the answer ended without the call the choice requires, so
    /// one more query on the same session asks for it, and its answer replaces the first
    /// (which was held, never given). `false` if it could not be sent.
    async fn correct(&mut self) -> bool {
        let Some(set) = self.plan.tools.clone() else {
            return false;
        };
        self.corrected = true;
        let correction = crate::tools::render::correction(&set);
        let settings = self.engine.settings();
        let body = Engine::query_body(&self.plan, &correction, ResponseMode::Stream);
        let credential = &self.hold.account().credential;
        match self
            .engine
            .upstream
            .query_stream(credential, &settings, &self.session.id, &body)
            .await
        {
            Ok(stream) => {
                self.rest = stream;
                self.record.event.corrected = true;
                if let Some(calls) = &mut self.calls {
                    calls.restart();
                }
                true
            }
            Err(error) => {
                tracing::warn!(model = %self.plan.model, %error, "the corrective follow-up failed; the first answer stands");
                false
            }
        }
    }

    /// The row's counts: the tokens and the calls so far.
    fn count(&mut self) {
        let usage = self.usage();
        self.record.count(&usage);
        if let Some(calls) = &self.calls {
            self.record.event.tool_calls = calls.found.iter().map(ToolCall::summary).collect();
        }
    }

    fn usage(&self) -> TokenUsage {
        TokenUsage::resolve(
            self.answer.metrics,
            &self.plan.query,
            &self.answer.content,
            &self.answer.reasoning,
        )
    }

    fn done(&mut self) -> StreamEvent {
        self.finished = true;
        let account = self.hold.account().clone();
        let history = self.calls.as_ref().map(Calls::history);
        self.engine.remember(
            &self.plan,
            history.as_deref().unwrap_or(&self.answer.content),
            &mut self.session,
            &account,
        );
        self.engine.record_stream_end(&account, Ok(()));
        let usage = self.usage();
        self.count();
        self.record.event.error_class = None;
        let called = self.calls.as_ref().is_some_and(|c| !c.found.is_empty());
        StreamEvent::Done {
            usage,
            finish: if called {
                Finish::ToolCalls
            } else {
                Finish::Stop
            },
        }
    }

    fn failed(&mut self, error: &UpstreamError) -> StreamEvent {
        self.finished = true;
        let account = self.hold.account().clone();
        tracing::warn!(model = %self.plan.model, account = %account.name, %error, "stream failed after content was sent");
        self.engine.record_stream_end(&account, Err(error));
        self.count();
        self.record.event.error_class = Some(STREAM_ERROR.into());
        StreamEvent::Failed(StreamFailure {
            message: format!(
                "The on-demand.io stream failed after the answer had started: {error}"
            ),
            code: STREAM_ERROR,
        })
    }
}

impl Drop for ChatStream {
    /// The client went away before the end: the row keeps the tokens so far.
    fn drop(&mut self) {
        if !self.finished {
            self.count();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_completion_logs_answer_is_passed_on_only_without_pieces() {
        let mut answer = Answer::default();
        assert_eq!(
            piece(&mut answer, UpstreamEvent::CompletedAnswer("Whole".into())),
            Some(StreamEvent::Text("Whole".into()))
        );
        let mut answer = Answer::default();
        assert_eq!(
            piece(&mut answer, UpstreamEvent::Content("Wh".into())),
            Some(StreamEvent::Text("Wh".into()))
        );
        assert_eq!(
            piece(&mut answer, UpstreamEvent::CompletedAnswer("Whole".into())),
            None,
            "never repeated as a delta"
        );
        assert_eq!(answer.content, "Wh");
        assert_eq!(
            piece(&mut answer, UpstreamEvent::Reasoning("hmm".into())),
            Some(StreamEvent::Reasoning("hmm".into()))
        );
        assert_eq!(
            piece(&mut answer, UpstreamEvent::Content(String::new())),
            None
        );
        assert_eq!(piece(&mut answer, UpstreamEvent::Other), None);
        assert_eq!(answer.reasoning, "hmm");
    }
}
