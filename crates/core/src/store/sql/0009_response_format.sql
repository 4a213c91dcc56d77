-- The answer format a request asked for (`json_object` or `json_schema`; NULL for text).
ALTER TABLE usage_events ADD COLUMN response_format TEXT;
