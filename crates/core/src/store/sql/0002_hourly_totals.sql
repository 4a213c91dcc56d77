-- Totals per hour alone: overview and time series read 24 rows a day instead of one per
-- (model, account, token) combination. Backfilled from usage_hourly.
CREATE TABLE usage_hourly_totals (
    hour             INTEGER PRIMARY KEY,
    requests         INTEGER NOT NULL,
    successes        INTEGER NOT NULL,
    input_tokens     INTEGER NOT NULL,
    output_tokens    INTEGER NOT NULL,
    estimated_tokens INTEGER NOT NULL,
    latency_ms_sum   INTEGER NOT NULL
) STRICT;

INSERT INTO usage_hourly_totals
SELECT hour, SUM(requests), SUM(successes), SUM(input_tokens), SUM(output_tokens), SUM(estimated_tokens), SUM(latency_ms_sum)
FROM usage_hourly GROUP BY hour;
