-- The live endpoint catalogue (upstream contract §14.1), kept so a restart starts from the
-- last good read: every endpoint seen, and which account's last good read listed it.
CREATE TABLE endpoints (
    id                TEXT PRIMARY KEY,
    name              TEXT,
    model_id          TEXT,
    active            INTEGER NOT NULL,
    premium           INTEGER NOT NULL,
    reasoning_efforts TEXT NOT NULL,          -- JSON array of strings
    context_length    INTEGER,
    streaming         INTEGER NOT NULL,
    last_seen         INTEGER NOT NULL        -- Unix ms
) STRICT;

CREATE TABLE endpoint_reads (
    account   TEXT PRIMARY KEY,
    ok_at     INTEGER,                        -- last successful read, Unix ms
    error     TEXT,                           -- the last read's error, if it failed
    error_at  INTEGER
) STRICT;

CREATE TABLE endpoint_accounts (
    endpoint_id TEXT NOT NULL,
    account     TEXT NOT NULL REFERENCES endpoint_reads (account) ON DELETE CASCADE,
    PRIMARY KEY (endpoint_id, account)
) STRICT, WITHOUT ROWID;

-- What the proxy changed about a request to suit its endpoint (e.g. a dropped
-- reasoning_effort), one note per line.
ALTER TABLE usage_events ADD COLUMN notes TEXT;
