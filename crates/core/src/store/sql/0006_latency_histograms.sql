-- Latency and time-to-first-token histograms per hour (log buckets, 20 % wide), so the
-- dashboard's p50/p95 over any range sum a few thousand rows instead of sorting raw ones.
-- kind: 0 latency, 1 time to first token.
CREATE TABLE usage_latency_hourly (
    hour   INTEGER NOT NULL,
    kind   INTEGER NOT NULL CHECK (kind IN (0, 1)),
    bucket INTEGER NOT NULL,
    count  INTEGER NOT NULL,
    PRIMARY KEY (hour, kind, bucket)
) STRICT, WITHOUT ROWID;
