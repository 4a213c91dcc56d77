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
use crate::upstream::error::UpstreamError;
use crate::upstream::sse::UpstreamEvent;
use crate::upstream::{Answer, EventStream};
use crate::usage::TokenUsage;

/// What a stream carries to the client, in any dialect.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// A piece of the answer.
    Text(String),
    /// A piece of the model's reasoning.
    Reasoning(String),
    /// The answer is complete; nothing follows.
    Done { usage: TokenUsage },
    /// The stream broke after it had begun; nothing follows.
    Failed(StreamFailure),
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
        }
    }

    pub fn plan(&self) -> &ChatPlan {
        &self.plan
    }

    /// The next event; `None` once [`StreamEvent::Done`] or [`StreamEvent::Failed`] was
    /// given.
    pub async fn next(&mut self) -> Option<StreamEvent> {
        if self.finished {
            return None;
        }
        loop {
            let event = match self.first.pop_front() {
                Some(event) => Ok(event),
                None => self
                    .rest
                    .next()
                    .await
                    .unwrap_or(Err(UpstreamError::Truncated)),
            };
            match event {
                Ok(UpstreamEvent::Done) => return Some(self.done()),
                Ok(event) => {
                    if let Some(out) = piece(&mut self.answer, event) {
                        return Some(out);
                    }
                }
                Err(error) => return Some(self.failed(&error)),
            }
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
        self.engine.remember(
            &self.plan,
            &self.answer.content,
            &mut self.session,
            &account,
        );
        self.engine.record_stream_end(&account, Ok(()));
        let usage = self.usage();
        self.record.count(&usage);
        self.record.event.error_class = None;
        StreamEvent::Done { usage }
    }

    fn failed(&mut self, error: &UpstreamError) -> StreamEvent {
        self.finished = true;
        let account = self.hold.account().clone();
        tracing::warn!(model = %self.plan.model, account = %account.name, %error, "stream failed after content was sent");
        self.engine.record_stream_end(&account, Err(error));
        let usage = self.usage();
        self.record.count(&usage);
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
            let usage = self.usage();
            self.record.count(&usage);
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
