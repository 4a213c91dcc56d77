-- Which dialect a request spoke (chat, messages, responses, completions) and which client
-- family sent it, read from its user agent (claude_code, codex, cherry_studio, openai_sdk,
-- anthropic_sdk, cline, roo_code, curl, other). Rows from before are Chat Completions from
-- an unknown client. A rollup per hour, dialect and client serves the dashboard's breakdown.
ALTER TABLE usage_events ADD COLUMN dialect TEXT NOT NULL DEFAULT 'chat';
ALTER TABLE usage_events ADD COLUMN client TEXT NOT NULL DEFAULT 'other';
CREATE TABLE usage_clients_hourly (
    hour             INTEGER NOT NULL,
    dialect          TEXT NOT NULL,
    client           TEXT NOT NULL,
    requests         INTEGER NOT NULL,
    successes        INTEGER NOT NULL,
    input_tokens     INTEGER NOT NULL,
    output_tokens    INTEGER NOT NULL,
    estimated_tokens INTEGER NOT NULL,
    latency_ms_sum   INTEGER NOT NULL,
    tool_requests    INTEGER NOT NULL,
    corrected        INTEGER NOT NULL,
    PRIMARY KEY (hour, dialect, client)
) STRICT, WITHOUT ROWID;
INSERT INTO usage_clients_hourly
SELECT hour, 'chat', 'other', requests, successes, input_tokens, output_tokens, estimated_tokens,
       latency_ms_sum, tool_requests, corrected
FROM usage_hourly_totals;
