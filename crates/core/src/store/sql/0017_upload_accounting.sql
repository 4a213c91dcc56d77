-- Image uploads to the Media API, counted per request and per client token whether or not
-- the request then succeeded (uploads spend the accounts' allowance either way). Earlier
-- rows knew only the uploads that were described.
ALTER TABLE usage_events ADD COLUMN images_uploaded INTEGER NOT NULL DEFAULT 0;
UPDATE usage_events SET images_uploaded = images_described;
ALTER TABLE client_tokens ADD COLUMN used_uploads INTEGER NOT NULL DEFAULT 0;
UPDATE client_tokens SET used_uploads = (
    SELECT COALESCE(SUM(images_described), 0) FROM usage_events WHERE client_token = client_tokens.name
);
