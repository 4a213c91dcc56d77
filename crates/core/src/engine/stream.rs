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
use crate::tools::ToolCall;

use super::shape::Shaper;
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
    /// Nothing was given for `stream_keepalive` while the answer goes on (its text is held:
    /// a possible call, a required call, JSON to check): the client hears the stream is alive.
    KeepAlive,
}

/// How an answer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// The model finished its answer.
    Stop,
    /// The answer is calls for the client to make.
    ToolCalls,
    /// The answer met this stop sequence (its index in the plan's) and was cut there.
    StopSequence(usize),
}

/// Why a stream that had begun broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamFailure {
    pub message: String,
    /// The code the usage row and the client see.
    pub code: &'static str,
}

impl From<&StreamFailure> for crate::openai::ErrorObject {
    /// The error a stream's client sees, in the OpenAI shape the dialects start from.
    fn from(failure: &StreamFailure) -> Self {
        Self {
            message: failure.message.clone(),
            kind: "server_error",
            param: None,
            code: Some(failure.code.into()),
        }
    }
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
    /// When the request asked something of the answer (tools, a format): its shaping.
    shaper: Option<Shaper>,
    /// Events decided and not yet given.
    ready: VecDeque<StreamEvent>,
    /// The corrective follow-up was sent (it is sent once at most).
    corrected: bool,
    /// When the client was last given something.
    given: tokio::time::Instant,
    /// After a corrective follow-up: the first answer's usage, and the follow-up's query.
    earlier: Option<TokenUsage>,
    query: String,
    /// Stop sequences the upstream may not honour, watched for in the text given (not with
    /// tools: their text is shaped whole).
    stops: Option<crate::stops::StopScan>,
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
        let shaper = Shaper::new(&plan);
        let stops = shaper
            .is_none()
            .then(|| crate::stops::StopScan::new(&plan.model_configs.stop_sequences))
            .flatten();
        Self {
            stops,
            engine,
            plan,
            hold,
            session,
            first: first.into(),
            rest,
            answer: Answer::default(),
            record,
            finished: false,
            shaper,
            ready: VecDeque::new(),
            corrected: false,
            given: tokio::time::Instant::now(),
            earlier: None,
            query: String::new(),
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
                let Some(event) = self.through_stops(event) else {
                    continue;
                };
                self.given = tokio::time::Instant::now();
                return Some(event);
            }
            if self.finished {
                return None;
            }
            let due = self.given + self.engine.settings().stream_keepalive;
            let event = match self.first.pop_front() {
                Some(event) => Ok(event),
                // Reading the next event is safe to stop and start again (the upstream
                // stream keeps its place), so waiting for it can end in a keep-alive.
                None => {
                    let next = tokio::time::timeout_at(due, self.rest.next());
                    match self.record.attempts.upstream(next).await {
                        Ok(event) => event.unwrap_or(Err(UpstreamError::Truncated)),
                        Err(_) => {
                            self.given = tokio::time::Instant::now();
                            return Some(StreamEvent::KeepAlive);
                        }
                    }
                }
            };
            let end = match event {
                Ok(UpstreamEvent::Done) => Ok(()),
                Ok(event) => {
                    match (piece(&mut self.answer, event), &mut self.shaper) {
                        (Some(StreamEvent::Text(text)), Some(shaper)) => {
                            shaper.feed(&text, &mut self.ready);
                        }
                        (Some(out), _) => self.ready.push_back(out),
                        (None, _) => {}
                    }
                    continue;
                }
                Err(error) => Err(error),
            };
            // What was held is decided now, before the end: a possible call, a required
            // call that did not come, JSON that must fit.
            if let Some(shaper) = &mut self.shaper {
                shaper.finish(&mut self.ready);
                if let Some(correction) = shaper.review()
                    && end.is_ok()
                    && !self.corrected
                    && self.correct(&correction).await
                {
                    continue;
                }
                if let Some(shaper) = &mut self.shaper {
                    if let Some(why) = shaper.unfit() {
                        self.record.note(&format!("response_format not met: {why}"));
                    }
                    shaper.release(&mut self.ready);
                }
            }
            let last = match end {
                Ok(()) => self.done(),
                Err(error) => self.failed(&error),
            };
            self.ready.push_back(last);
        }
    }

    /// An event as the stop sequences leave it: text up to a stop sequence (less what could
    /// still begin one), nothing after it, and the end saying it stopped there. The text
    /// held back goes out before the end.
    fn through_stops(&mut self, event: StreamEvent) -> Option<StreamEvent> {
        let Some(scan) = &mut self.stops else {
            return Some(event);
        };
        match event {
            StreamEvent::Text(text) => Some(scan.feed(&text))
                .filter(|t| !t.is_empty())
                .map(StreamEvent::Text),
            StreamEvent::Reasoning(_) if scan.stopped().is_some() => None,
            StreamEvent::Done { usage, finish } => {
                let held = scan.finish();
                let finish = scan.stopped().map_or(finish, Finish::StopSequence);
                let done = StreamEvent::Done { usage, finish };
                if held.is_empty() {
                    return Some(done);
                }
                self.ready.push_front(done);
                Some(StreamEvent::Text(held))
            }
            other => Some(other),
        }
    }

    /// The corrective follow-up: the answer ended owing something (a required call, valid
    /// arguments, JSON that fits), so one more query on the same session asks for it, and
    /// its answer replaces the first (which was held, never given). `false` if it could not
    /// be sent.
    async fn correct(&mut self, correction: &str) -> bool {
        self.corrected = true;
        let settings = self.engine.settings();
        let body = Engine::query_body(&self.plan, correction, ResponseMode::Stream);
        let caller = self.hold.account().caller();
        let open =
            self.engine
                .routing
                .upstream
                .query_stream(caller, &settings, &self.session.id, &body);
        match self.record.attempts.upstream(open).await {
            Ok(stream) => {
                self.rest = stream;
                // The follow-up's answer is read afresh; the first one's usage is kept.
                let first = std::mem::take(&mut self.answer);
                self.earlier = Some(TokenUsage::resolve(
                    first.metrics,
                    &self.plan.query,
                    &first.content,
                    &first.reasoning,
                ));
                self.query = correction.to_owned();
                self.record.event.corrected = true;
                if let Some(shaper) = &mut self.shaper {
                    shaper.restart();
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
        if let Some(shaper) = &self.shaper {
            self.record.event.tool_calls = shaper.found.iter().map(ToolCall::summary).collect();
        }
    }

    /// The stream's usage: its answer's, plus the first answer's when a follow-up was sent.
    fn usage(&self) -> TokenUsage {
        let query = if self.earlier.is_some() {
            &self.query
        } else {
            &self.plan.query
        };
        let usage = TokenUsage::resolve(
            self.answer.metrics,
            query,
            &self.answer.content,
            &self.answer.reasoning,
        );
        self.earlier.map_or(usage, |earlier| earlier + usage)
    }

    fn done(&mut self) -> StreamEvent {
        self.finished = true;
        let account = self.hold.account().clone();
        let history = self.shaper.as_ref().map(Shaper::history);
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
        let called = self.shaper.as_ref().is_some_and(|c| !c.found.is_empty());
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
