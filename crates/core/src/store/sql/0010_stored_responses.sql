-- Responses kept for `previous_response_id` and `GET /v1/responses/{id}`: owned by the client
-- token that made them (and deleted with it), kept for a while, capped in total size.
CREATE TABLE stored_responses (
    id         TEXT PRIMARY KEY,
    token_id   INTEGER NOT NULL REFERENCES client_tokens(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    -- JSON: the conversation's messages (instructions aside), the answer included.
    history    TEXT NOT NULL,
    -- JSON: the response object as answered.
    response   TEXT NOT NULL,
    bytes      INTEGER NOT NULL
) STRICT;
CREATE INDEX stored_responses_by_age ON stored_responses (created_at);
CREATE INDEX stored_responses_by_token ON stored_responses (token_id);
