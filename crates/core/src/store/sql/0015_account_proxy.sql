-- An account's own outbound proxy (its password included: the row already holds the
-- account's secret, and the database is owner-only). NULL: the global setting.
ALTER TABLE accounts ADD COLUMN proxy TEXT;
