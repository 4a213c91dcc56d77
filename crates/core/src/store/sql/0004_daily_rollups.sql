-- Daily rollups (UTC days) per model, account and token: a 30-day breakdown reads whole days
-- here and only the partial days at its edges from usage_hourly. Backfilled from it.
CREATE TABLE usage_daily (
    day              INTEGER NOT NULL,
    model            TEXT NOT NULL,
    account          TEXT NOT NULL,
    client_token     TEXT NOT NULL,
    requests         INTEGER NOT NULL,
    successes        INTEGER NOT NULL,
    input_tokens     INTEGER NOT NULL,
    output_tokens    INTEGER NOT NULL,
    estimated_tokens INTEGER NOT NULL,
    latency_ms_sum   INTEGER NOT NULL,
    PRIMARY KEY (day, model, account, client_token)
) STRICT, WITHOUT ROWID;

INSERT INTO usage_daily
SELECT hour - (hour % 86400000), model, account, client_token, SUM(requests), SUM(successes),
       SUM(input_tokens), SUM(output_tokens), SUM(estimated_tokens), SUM(latency_ms_sum)
FROM usage_hourly GROUP BY 1, 2, 3, 4;
