-- A client token's own cap on requests in flight at once. NULL: the default share (while
-- other tokens exist, half of max_concurrent_upstream).
ALTER TABLE client_tokens ADD COLUMN max_concurrent INTEGER;
