-- Client tokens count what they used, for quotas; the usage writer adds to these in the
-- same transaction as the usage rows, so they survive a crash exactly as the rows do.
ALTER TABLE client_tokens ADD COLUMN used_requests INTEGER NOT NULL DEFAULT 0;
ALTER TABLE client_tokens ADD COLUMN used_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE client_tokens ADD COLUMN last_used_at INTEGER;

-- Aliases match case-insensitively, so two spellings of one alias cannot coexist.
CREATE UNIQUE INDEX model_aliases_nocase ON model_aliases (alias COLLATE NOCASE);

-- The token from API_ACCESS_TOKEN (or the generated one) is now a client token named
-- "default"; rows recorded before tokens had names said "client".
UPDATE usage_events SET client_token = 'default' WHERE client_token = 'client';
UPDATE usage_hourly SET client_token = 'default' WHERE client_token = 'client';

CREATE INDEX conversation_sessions_last_used ON conversation_sessions (last_used);
