//! Reading an answer's events: a whole SSE body (the sync-over-SSE variant), or a live stream
//! with its idle limit, and the accumulation of either into one answer.

use std::collections::VecDeque;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use super::SyncAnswer;
use super::error::{TimeoutPhase, UpstreamError};
use super::sse::{RawFrame, SseParser, UpstreamEvent, interpret};
use crate::usage::Metrics;

pub(super) fn collect_sse(bytes: &[u8]) -> Result<SyncAnswer, UpstreamError> {
    let mut parser = SseParser::new();
    let mut frames = Vec::new();
    parser.push(bytes, &mut frames)?;
    parser.finish(&mut frames)?;
    let mut answer = Answer::default();
    let mut complete = false;
    for frame in &frames {
        let event = interpret(frame)?;
        complete |= event.completes();
        if answer.apply(event) {
            return Ok(answer.into_sync());
        }
    }
    if complete {
        return Ok(answer.into_sync());
    }
    Err(UpstreamError::Truncated)
}

/// Accumulates a streamed answer; shared by the sync-over-SSE path and the stream relay.
#[derive(Debug, Default, Clone)]
pub struct Answer {
    pub content: String,
    pub reasoning: String,
    pub metrics: Option<Metrics>,
}

impl Answer {
    /// Applies one event; true once the stream is done. A `CompletedAnswer` fills the
    /// content only if no delta came (§4.1 trap a).
    pub fn apply(&mut self, event: UpstreamEvent) -> bool {
        match event {
            UpstreamEvent::Content(c) => self.content.push_str(&c),
            UpstreamEvent::Reasoning(r) => self.reasoning.push_str(&r),
            UpstreamEvent::CompletedAnswer(a) if self.content.is_empty() => self.content = a,
            UpstreamEvent::Metrics(m) => self.metrics = Some(m),
            UpstreamEvent::Done => return true,
            UpstreamEvent::CompletedAnswer(_) | UpstreamEvent::Other => {}
        }
        false
    }

    fn into_sync(self) -> SyncAnswer {
        SyncAnswer {
            answer: self.content,
            reasoning: self.reasoning,
            metrics: self.metrics,
        }
    }
}

type ByteStream = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// The events of one upstream stream. Dropping it closes the upstream connection, which
/// is how a client disconnect cancels the upstream request.
pub struct EventStream {
    body: ByteStream,
    parser: SseParser,
    frames: VecDeque<RawFrame>,
    scratch: Vec<RawFrame>,
    idle_timeout: Duration,
    eof: bool,
    finished: bool,
    /// The completion status log or the metrics have come: an end without `[DONE]` is then
    /// a complete answer, not a truncated one (§14.3).
    complete: bool,
    /// The hold on the upstream lane the stream came on, released with the stream.
    _lease: Option<super::transport::Lease>,
}

impl EventStream {
    pub fn new(
        body: impl Stream<Item = reqwest::Result<Bytes>> + Send + 'static,
        idle_timeout: Duration,
    ) -> Self {
        Self {
            body: Box::pin(body),
            parser: SseParser::new(),
            frames: VecDeque::new(),
            scratch: Vec::new(),
            idle_timeout,
            eof: false,
            finished: false,
            complete: false,
            _lease: None,
        }
    }

    /// The same stream, holding `lease` until it is dropped.
    pub(super) fn holding(mut self, lease: Option<super::transport::Lease>) -> Self {
        self._lease = lease;
        self
    }

    /// The next event; `None` after `Done` or an error. An end without `[DONE]` is `Done`
    /// once the completion status log or the metrics came, else
    /// [`UpstreamError::Truncated`]; a silence longer than the idle timeout is a timeout.
    pub async fn next(&mut self) -> Option<Result<UpstreamEvent, UpstreamError>> {
        loop {
            if self.finished {
                return None;
            }
            if let Some(frame) = self.frames.pop_front() {
                let event = interpret(&frame);
                match &event {
                    Ok(UpstreamEvent::Done) | Err(_) => self.finished = true,
                    Ok(e) => self.complete |= e.completes(),
                }
                return Some(event);
            }
            if self.eof {
                self.finished = true;
                return Some(if self.complete {
                    Ok(UpstreamEvent::Done)
                } else {
                    Err(UpstreamError::Truncated)
                });
            }
            let step = match tokio::time::timeout(self.idle_timeout, self.body.next()).await {
                Err(_) => Err(UpstreamError::Timeout(TimeoutPhase::StreamIdle)),
                Ok(Some(Ok(chunk))) => self.parser.push(&chunk, &mut self.scratch),
                Ok(Some(Err(e))) => {
                    tracing::debug!(error = %super::describe_reqwest(&e), "upstream stream broke");
                    Err(UpstreamError::Truncated)
                }
                Ok(None) => {
                    self.eof = true;
                    self.parser.finish(&mut self.scratch)
                }
            };
            if let Err(e) = step {
                self.finished = true;
                return Some(Err(e));
            }
            self.frames.extend(self.scratch.drain(..));
        }
    }
}
