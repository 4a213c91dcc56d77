//! Property tests: the decoders of everything a client or a file hands the proxy, and the
//! upstream stream parser, on arbitrary input. None may panic; each ends in a value or an
//! error the client gets in an envelope; the stream parser gives the same frames however the
//! bytes are split. Bounded cases, so they run in the test command.

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use serde_json::{Map, Value};

use crate::config::Settings;
use crate::endpoints::EndpointCatalog;
use crate::models::ModelCatalog;
use crate::upstream::sse::{SseParser, interpret};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Field names the decoders look for, and some they do not: arbitrary keys alone would almost
/// never reach past the first check.
const KEYS: &[&str] = &[
    "model",
    "messages",
    "role",
    "content",
    "type",
    "text",
    "name",
    "tools",
    "tool_choice",
    "function",
    "parameters",
    "arguments",
    "tool_calls",
    "tool_call_id",
    "function_call",
    "functions",
    "stop",
    "temperature",
    "top_p",
    "n",
    "stream",
    "response_format",
    "json_schema",
    "schema",
    "strict",
    "input",
    "instructions",
    "system",
    "tool_use_id",
    "input_schema",
    "format",
    "output",
    "call_id",
    "id",
    "thinking",
    "budget_tokens",
    "reasoning",
    "effort",
    "max_tokens",
    "prompt",
    "echo",
    "accounts",
    "tokens",
    "aliases",
    "alias",
    "endpoint_id",
    "api_key",
    "email",
    "password",
    "used_tokens",
    "used_requests",
    "version",
    "format",
    "includes_secrets",
    "secret",
    "models",
    "quota_tokens",
    "x",
];
const WORDS: &[&str] = &[
    "user",
    "assistant",
    "system",
    "developer",
    "tool",
    "function",
    "text",
    "tool_use",
    "tool_result",
    "image",
    "auto",
    "none",
    "required",
    "any",
    "json_schema",
    "json_object",
    "gpt-4o",
    "get_weather",
    "message",
    "function_call",
    "function_call_output",
    "custom",
    "custom_tool_call",
    "reasoning",
    "enabled",
    "adaptive",
    "ondemand-proxy-export",
    "",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(KEYS).prop_map(str::to_owned),
        1 => "[a-z_]{0,8}",
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        proptest::sample::select(WORDS).prop_map(Value::from),
        ".{0,24}".prop_map(Value::from),
    ]
}

/// Any JSON value, a few levels deep, with keys the decoders know.
fn json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            btree_map(key(), inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An object with the given fields over a few arbitrary ones.
fn object(
    fields: Vec<(&'static str, Value)>,
    extra: std::collections::BTreeMap<String, Value>,
) -> Value {
    let mut object: Map<String, Value> = extra.into_iter().collect();
    for (k, v) in fields {
        object.insert(k.to_owned(), v);
    }
    Value::Object(object)
}

/// A content part or block, mostly well formed.
fn part() -> impl Strategy<Value = Value> {
    let kind = prop_oneof![3 => Just("text"), 1 => proptest::sample::select(WORDS)];
    (kind, ".{0,16}", btree_map(key(), leaf(), 0..2)).prop_map(|(kind, text, extra)| {
        object(vec![("type", kind.into()), ("text", text.into())], extra)
    })
}

/// A message or input item, mostly well formed: a role, content as text or parts.
fn message() -> impl Strategy<Value = Value> {
    let content = prop_oneof![
        3 => ".{0,24}".prop_map(Value::from),
        2 => vec(part(), 0..3).prop_map(Value::Array),
        1 => json(),
    ];
    let role = prop_oneof![
        6 => proptest::sample::select(&["user", "assistant", "system", "developer", "tool"][..]),
        1 => proptest::sample::select(WORDS),
    ];
    (role, content, btree_map(key(), leaf(), 0..2)).prop_map(|(role, content, extra)| {
        object(vec![("role", role.into()), ("content", content)], extra)
    })
}

/// An object that names a model, with messages and input items: the shape every dialect's
/// request has, so the decoders and the planner run.
fn request() -> impl Strategy<Value = Value> {
    (
        btree_map(key(), json(), 0..3),
        vec(message(), 1..4),
        prop_oneof![
            ".{0,24}".prop_map(Value::from),
            vec(message(), 0..4).prop_map(Value::Array)
        ],
    )
        .prop_map(|(extra, messages, input)| {
            object(
                vec![
                    ("model", "gpt-4o".into()),
                    ("messages", Value::Array(messages)),
                    ("input", input),
                ],
                extra,
            )
        })
}

fn catalog() -> ModelCatalog {
    ModelCatalog::builtin()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn a_chat_request_plans_or_is_refused(body in request()) {
        if let Ok(request) = serde_json::from_value::<crate::openai::ChatCompletionRequest>(body) {
            if let Ok(plan) = crate::chat::plan(request, &catalog(), &EndpointCatalog::default(), &Settings::default(), "c") {
                prop_assert!(!plan.query.trim().is_empty());
            }
        }
    }

    #[test]
    fn a_messages_request_decodes_and_plans_or_is_refused(body in request()) {
        if let Ok(request) = serde_json::from_value::<crate::anthropic::MessagesRequest>(body)
            && let Ok(decoded) = crate::anthropic::decode(request)
        {
            let _ = crate::chat::plan(decoded.request, &catalog(), &EndpointCatalog::default(), &Settings::default(), "c");
        }
    }

    #[test]
    fn a_responses_request_decodes_and_plans_or_is_refused(body in request()) {
        if let Ok(request) = serde_json::from_value::<crate::responses::ResponsesRequest>(body)
            && let Ok(decoded) = crate::responses::decode(request, Vec::new())
        {
            let _ = crate::chat::plan(decoded.request, &catalog(), &EndpointCatalog::default(), &Settings::default(), "c");
        }
    }

    #[test]
    fn an_import_document_is_checked_without_panicking(mut doc in request()) {
        doc["format"] = Value::from("ondemand-proxy-export");
        doc["version"] = Value::from(1);
        doc["includes_secrets"] = Value::from(true);
        if let Ok(doc) = serde_json::from_value::<crate::control::ExportDocument>(doc) {
            let engine = crate::Engine::new(
                crate::upstream::UpstreamClient::new(),
                crate::pool::Pool::default(),
                catalog(),
                Settings::default(),
                crate::engine::Watch::default(),
                None,
            );
            let _ = crate::control::check_import(&doc, &engine);
        }
    }

    #[test]
    fn the_stream_parser_gives_the_same_frames_however_the_bytes_are_split(
        pieces in vec(prop_oneof![
            Just(b"data: ".to_vec()), Just(b"event: message".to_vec()), Just(b"\n".to_vec()),
            Just(b"\r\n".to_vec()), Just(b"\r".to_vec()), Just(b":".to_vec()),
            Just(br#"{"eventType":"fulfillment","answer":"hi"}"#.to_vec()),
            Just(br#"{"eventType":"fulfillment_thinking","thinking":{"delta":"x"}}"#.to_vec()),
            Just(b"[DONE]".to_vec()), Just(b"[ERROR]: {\"errorCode\":\"x\"}".to_vec()),
            vec(any::<u8>(), 0..8),
        ], 0..40),
        cuts in vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let bytes: Vec<u8> = pieces.concat();
        let parse = |chunks: Vec<&[u8]>| {
            let mut parser = SseParser::new();
            let mut frames = Vec::new();
            for chunk in chunks {
                parser.push(chunk, &mut frames).map_err(|e| e.to_string())?;
            }
            parser.finish(&mut frames).map_err(|e| e.to_string())?;
            Ok::<_, String>(frames)
        };
        let whole = parse(vec![&bytes]);
        let mut at: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
        at.sort_unstable();
        let mut chunks = Vec::new();
        let mut from = 0;
        for cut in at {
            chunks.push(&bytes[from..cut]);
            from = cut;
        }
        chunks.push(&bytes[from..]);
        prop_assert_eq!(&parse(chunks), &whole);
        for frame in whole.iter().flatten() {
            let _ = interpret(frame);
        }
    }
}
