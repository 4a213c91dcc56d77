-- Model patterns people edited on the Models page: the whole ordered list, replacing the
-- built-in one while any row is here. `targets` is a JSON array of endpoint ids, best first.
CREATE TABLE model_patterns (
    position   INTEGER PRIMARY KEY,
    pattern    TEXT NOT NULL,
    targets    TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
