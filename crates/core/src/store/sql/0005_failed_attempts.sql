-- The attempts that failed before a request's outcome, as JSON
-- [{"account", "status", "code", "message"}, …]; NULL when the first attempt decided it.
ALTER TABLE usage_events ADD COLUMN failed_attempts TEXT;
