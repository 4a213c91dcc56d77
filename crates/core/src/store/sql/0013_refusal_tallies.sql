-- Refusals (requests answered with an error before anything went upstream: rate limits,
-- quotas, bad requests) are not stored one row each: the first of each kind per client token
-- and minute is kept as a sample row, and the rest are counted here (and in the rollups), so
-- a client hammering the proxy cannot fill the disk.
CREATE TABLE usage_refusals (
    minute       INTEGER NOT NULL,
    client_token TEXT NOT NULL,
    status       INTEGER NOT NULL,
    error_class  TEXT NOT NULL,
    count        INTEGER NOT NULL,
    PRIMARY KEY (minute, client_token, status, error_class)
) STRICT, WITHOUT ROWID;
