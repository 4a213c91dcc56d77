-- Images in requests are described by on-demand.io's image agent. A description is kept by
-- the SHA-256 of the image's bytes (never the image), so the same image sent again (clients
-- resend every earlier image on every turn) costs no upload. Old ones expire; past a cap the
-- least recently used go first.
CREATE TABLE image_descriptions (
    hash        TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    created_ms  INTEGER NOT NULL,
    used_ms     INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX image_descriptions_used ON image_descriptions (used_ms);
-- How many images each request had described by the image agent, and found in the cache.
ALTER TABLE usage_events ADD COLUMN images_described INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_events ADD COLUMN images_cached INTEGER NOT NULL DEFAULT 0;
