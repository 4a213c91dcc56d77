//! The parser fed every recorded stream of §4, whole, byte by byte, split at every offset,
//! and with CRLF line ends.

use super::*;
use crate::usage::Metrics;

const PLAIN: &str = include_str!("../../fixtures/plain.sse");
const REASONING: &str = include_str!("../../fixtures/reasoning.sse");
const PLUGIN: &str = include_str!("../../fixtures/plugin.sse");
const ERROR_AFTER_CONTENT: &str = include_str!("../../fixtures/error_after_content.sse");
const DOCS_NO_BLANK_LINES: &str = include_str!("../../fixtures/docs_no_blank_lines.sse");
const ALL: [&str; 5] = [
    PLAIN,
    REASONING,
    PLUGIN,
    ERROR_AFTER_CONTENT,
    DOCS_NO_BLANK_LINES,
];

fn frames_in_chunks(chunks: &[&[u8]]) -> Vec<RawFrame> {
    let mut parser = SseParser::new();
    let mut out = Vec::new();
    for chunk in chunks {
        parser.push(chunk, &mut out).unwrap();
    }
    parser.finish(&mut out).unwrap();
    out
}

fn events(input: &str) -> Vec<Result<UpstreamEvent, UpstreamError>> {
    frames_in_chunks(&[input.as_bytes()])
        .iter()
        .map(interpret)
        .collect()
}

#[test]
fn every_split_offset_gives_the_same_frames() {
    for fixture in ALL {
        let bytes = fixture.as_bytes();
        let whole = frames_in_chunks(&[bytes]);
        assert!(!whole.is_empty());
        for cut in 0..=bytes.len() {
            let (a, b) = bytes.split_at(cut);
            assert_eq!(frames_in_chunks(&[a, b]), whole, "split at byte {cut}");
        }
        let singles: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(frames_in_chunks(&singles), whole, "byte by byte");
    }
}

#[test]
fn crlf_and_lone_cr_line_ends_give_the_same_frames() {
    for fixture in ALL {
        let lf = frames_in_chunks(&[fixture.as_bytes()]);
        let crlf = fixture.replace('\n', "\r\n");
        let bytes = crlf.as_bytes();
        for cut in 0..=bytes.len() {
            let (a, b) = bytes.split_at(cut);
            assert_eq!(frames_in_chunks(&[a, b]), lf, "CRLF split at byte {cut}");
        }
        let cr = fixture.replace('\n', "\r");
        assert_eq!(frames_in_chunks(&[cr.as_bytes()]), lf, "lone CR");
    }
}

#[test]
fn an_empty_chunk_between_cr_and_lf_changes_nothing() {
    // Found by the property test: the empty chunk used to forget the pending `\r`, so the
    // `\n` after it read as a blank line and dropped the `event:` name in force.
    let whole = frames_in_chunks(&[b"event: message\r\ndata: x\r\n"]);
    let split = frames_in_chunks(&[b"event: message\r", b"", b"\ndata: x\r\n"]);
    assert_eq!(split, whole);
    assert_eq!(whole[0].event.as_deref(), Some("message"));
}

#[test]
fn plain_chat_gives_deltas_metrics_and_done() {
    let events: Vec<_> = events(PLAIN).into_iter().map(Result::unwrap).collect();
    let content: String = events
        .iter()
        .filter_map(|e| match e {
            UpstreamEvent::Content(c) => Some(c.as_str()),
            _ => None,
        })
        .collect();
    // The fulfillment_completed log repeats the answer; it must not be counted as a delta.
    assert_eq!(content, "A solar\u{2019}s");
    assert!(events.contains(&UpstreamEvent::CompletedAnswer("A solar’s".into())));
    assert!(events.contains(&UpstreamEvent::Metrics(Metrics {
        input_tokens: 1012,
        output_tokens: 49,
        total_tokens: 1061
    })));
    assert_eq!(events.last(), Some(&UpstreamEvent::Done));
}

#[test]
fn thinking_frames_become_reasoning() {
    let events: Vec<_> = events(REASONING).into_iter().map(Result::unwrap).collect();
    assert_eq!(
        events[..4],
        [
            UpstreamEvent::Reasoning("1.  **Analyze the user's request:** 日食".into()),
            UpstreamEvent::Content("A".into()),
            UpstreamEvent::Reasoning(String::new()),
            UpstreamEvent::Content(" 日食".into()),
        ]
    );
}

#[test]
fn plugin_and_unknown_frames_are_ignored() {
    let events: Vec<_> = events(PLUGIN).into_iter().map(Result::unwrap).collect();
    let meaningful: Vec<_> = events
        .into_iter()
        .filter(|e| *e != UpstreamEvent::Other)
        .collect();
    assert_eq!(
        meaningful,
        [
            UpstreamEvent::Content("Found it.".into()),
            UpstreamEvent::Done
        ]
    );
}

#[test]
fn error_frame_after_content_is_an_error() {
    let events = events(ERROR_AFTER_CONTENT);
    assert_eq!(events[0], Ok(UpstreamEvent::Content("Partial".into())));
    let err = events[1].clone().unwrap_err();
    assert_eq!(err.code(), Some("context_length_exceeded"));
    assert_eq!(
        err.upstream_message(),
        Some("Model context length exceeded")
    );
}

#[test]
fn docs_style_without_blank_lines_and_with_spaces() {
    let events: Vec<_> = events(DOCS_NO_BLANK_LINES)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(events[0], UpstreamEvent::Content("Hi".into()));
    assert_eq!(events[1], UpstreamEvent::Content(" there".into()));
    assert_eq!(events.last(), Some(&UpstreamEvent::Done));
}

#[test]
fn error_variants_and_malformed_frames() {
    let frame = |data: &str| RawFrame {
        event: Some("message".into()),
        data: data.into(),
    };
    let spaced = interpret(&frame(
        r#"[ERROR]: {"message":"m","errorCode":"model_error"}"#,
    ));
    assert_eq!(spaced.unwrap_err().code(), Some("model_error"));
    let text = interpret(&frame("[ERROR]:something broke")).unwrap_err();
    assert_eq!(text.upstream_message(), Some("something broke"));
    let typed = interpret(&frame(
        r#"{"eventType":"error","message":"boom","errorCode":"server_error"}"#,
    ));
    assert_eq!(typed.unwrap_err().code(), Some("server_error"));
    let bare = interpret(&frame(
        r#"{"message":"Invalid API Key","errorCode":"unauthenticated"}"#,
    ));
    assert_eq!(bare.unwrap_err().code(), Some("unauthenticated"));
    // A payload that is not JSON is skipped, as every public consumer does (§14.3).
    assert_eq!(interpret(&frame("{not json")), Ok(UpstreamEvent::Other));
    assert_eq!(interpret(&frame("keep going")), Ok(UpstreamEvent::Other));
    // Heartbeats are never parsed, so odd heartbeat payloads cannot break a stream.
    let hb = RawFrame {
        event: Some("heartbeat".into()),
        data: "ping".into(),
    };
    assert_eq!(interpret(&hb), Ok(UpstreamEvent::Other));
}

#[test]
fn a_line_that_is_not_utf8_is_skipped_not_fatal() {
    let mut parser = SseParser::new();
    let mut out = Vec::new();
    parser
        .push(b"data:\xff\xfe\nevent:message\ndata:[DONE]\n", &mut out)
        .unwrap();
    assert_eq!(
        out,
        [RawFrame {
            event: Some("message".into()),
            data: "[DONE]".into()
        }]
    );
}

#[test]
fn completion_without_done_and_without_answer() {
    let frame = |data: &str| RawFrame {
        event: Some("message".into()),
        data: data.into(),
    };
    let completed = interpret(&frame(
        r#"{"eventType":"statusLog","currentStatusLog":{"statusType":"fulfillment_completed"}}"#,
    ))
    .unwrap();
    assert_eq!(completed, UpstreamEvent::CompletedAnswer(String::new()));
    assert!(completed.completes());
    assert!(!UpstreamEvent::Content("x".into()).completes());
}

#[test]
fn comments_and_unknown_fields_are_skipped() {
    let frames = frames_in_chunks(&[b": keep-alive\nid: 7\nretry: 10\ndata:[DONE]\n"]);
    assert_eq!(
        frames,
        [RawFrame {
            event: None,
            data: "[DONE]".into()
        }]
    );
}
