//! What a request holds while it waits on the upstream stays small. Each stream in flight
//! holds its opening call until the first content, so with 5,000 streams every kilobyte
//! here is 5 MB of the proxy's peak (bench/run.sh tls). They were 8,760 bytes (a stream's
//! opening) and 7,976 (a whole answer) before `Attempts::upstream` stopped keeping its call
//! twice and `open_stream` its arguments.

use std::sync::Arc;

use super::*;
use crate::client_tokens::ClientToken;

/// The most either future may take, in bytes.
const MOST: usize = 6 * 1024;

fn engine() -> Arc<Engine> {
    Arc::new(Engine::new(
        UpstreamClient::new(),
        Pool::default(),
        ModelCatalog::builtin(),
        Settings::default(),
        Watch::default(),
        None,
    ))
}

fn plan(stream: bool) -> ChatPlan {
    let request = serde_json::from_value(serde_json::json!({
        "model": "gpt-4o", "stream": stream,
        "messages": [{"role": "user", "content": "hello"}]
    }))
    .unwrap();
    crate::chat::plan(
        request,
        &ModelCatalog::builtin(),
        &EndpointCatalog::default(),
        &Settings::default(),
        "client",
    )
    .unwrap()
}

fn record(engine: &Engine) -> RequestRecord {
    let row = crate::client_tokens::tests::row(1, "sk-size-test", Default::default());
    engine.record(
        None,
        &Settings::default(),
        Arc::new(ClientToken::from_row(&row)),
    )
}

#[test]
fn a_call_waiting_on_the_upstream_holds_a_small_future() {
    let engine = engine();
    let opening = engine.open_stream(plan(true), record(&engine));
    let size = std::mem::size_of_val(&opening);
    assert!(size <= MOST, "a stream's opening takes {size} bytes");
    let plan = plan(false);
    let whole = engine.complete(&plan, record(&engine));
    let size = std::mem::size_of_val(&whole);
    assert!(size <= MOST, "a whole answer's call takes {size} bytes");
}
