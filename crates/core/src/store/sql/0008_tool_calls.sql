-- Tool calls over the text-only upstream: how many tools a request offered, the calls its
-- answer made (names and argument sizes, never the arguments), and whether a corrective
-- follow-up was needed. The rollups count tool requests and corrections, so the dashboard
-- shows per model how well each follows the protocol.
ALTER TABLE usage_events ADD COLUMN tools INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_events ADD COLUMN tool_calls TEXT;
ALTER TABLE usage_events ADD COLUMN corrected INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_hourly ADD COLUMN tool_requests INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_hourly ADD COLUMN corrected INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_hourly_totals ADD COLUMN tool_requests INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_hourly_totals ADD COLUMN corrected INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN tool_requests INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN corrected INTEGER NOT NULL DEFAULT 0;
