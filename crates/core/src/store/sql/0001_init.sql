-- The first schema: accounts, client tokens, model aliases, settings, reuse-mode sessions,
-- and usage (raw events plus hourly rollups). Times are Unix milliseconds (UTC).

CREATE TABLE accounts (
    id             INTEGER PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    kind           TEXT NOT NULL CHECK (kind IN ('api_key', 'email_password')),
    email          TEXT,
    secret         TEXT NOT NULL,
    weight         INTEGER NOT NULL DEFAULT 1 CHECK (weight BETWEEN 1 AND 1000),
    max_concurrent INTEGER CHECK (max_concurrent IS NULL OR max_concurrent > 0),
    enabled        INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    state          TEXT NOT NULL DEFAULT 'healthy',
    state_reason   TEXT,
    -- 'config': synced from config.json/env at start (read-only in the admin API).
    source         TEXT NOT NULL DEFAULT 'api' CHECK (source IN ('api', 'config')),
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
) STRICT;

CREATE TABLE client_tokens (
    id             INTEGER PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    secret_hash    TEXT NOT NULL UNIQUE,
    prefix         TEXT NOT NULL,
    expires_at     INTEGER,
    quota_requests INTEGER,
    quota_tokens   INTEGER,
    models         TEXT,
    rpm            INTEGER,
    enabled        INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    source         TEXT NOT NULL DEFAULT 'api' CHECK (source IN ('api', 'config')),
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
) STRICT;

CREATE TABLE model_aliases (
    alias       TEXT PRIMARY KEY,
    endpoint_id TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE conversation_sessions (
    key        TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    account    TEXT NOT NULL,
    last_used  INTEGER NOT NULL
) STRICT;

-- One row per request, however it ended.
CREATE TABLE usage_events (
    id               INTEGER PRIMARY KEY,
    ts               INTEGER NOT NULL,
    client_token     TEXT NOT NULL,
    account          TEXT,
    model            TEXT NOT NULL,
    endpoint_id      TEXT,
    stream           INTEGER NOT NULL CHECK (stream IN (0, 1)),
    status           INTEGER NOT NULL,
    error_class      TEXT,
    attempts         INTEGER NOT NULL,
    latency_ms       INTEGER NOT NULL,
    ttft_ms          INTEGER,
    input_tokens     INTEGER NOT NULL,
    output_tokens    INTEGER NOT NULL,
    tokens_estimated INTEGER NOT NULL CHECK (tokens_estimated IN (0, 1)),
    session_reused   INTEGER NOT NULL CHECK (session_reused IN (0, 1))
) STRICT;

CREATE INDEX usage_events_ts ON usage_events (ts);

-- Hourly rollups keep charts fast; days (in any whole-hour time zone) sum 24 of them.
CREATE TABLE usage_hourly (
    hour             INTEGER NOT NULL,
    model            TEXT NOT NULL,
    account          TEXT NOT NULL,
    client_token     TEXT NOT NULL,
    requests         INTEGER NOT NULL,
    successes        INTEGER NOT NULL,
    input_tokens     INTEGER NOT NULL,
    output_tokens    INTEGER NOT NULL,
    estimated_tokens INTEGER NOT NULL,
    latency_ms_sum   INTEGER NOT NULL,
    PRIMARY KEY (hour, model, account, client_token)
) STRICT, WITHOUT ROWID;
