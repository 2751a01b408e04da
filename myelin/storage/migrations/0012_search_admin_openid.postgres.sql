-- Myelin schema version 12: server-side search, account locking and suspension, OpenID tokens
-- (ENGINE DIFFERENCE: this file exists once per engine because the full-text index is SQLite
-- FTS5 there and a tsvector column with a GIN index here).

-- "Account locking" and "Account suspension" (spec v1.18 admin endpoints).
ALTER TABLE users ADD COLUMN locked BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN suspended BOOLEAN NOT NULL DEFAULT FALSE;

-- OpenID tokens (POST /user/{userId}/openid/request_token), stored as the hex SHA-256 only.
CREATE TABLE openid_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    expires_ts BIGINT NOT NULL
);
CREATE INDEX openid_tokens_expiry ON openid_tokens (expires_ts);

-- "Server Side Search": one row per (event, searchable key: content.body, content.name,
-- content.topic), written in the transaction that persists the event.
CREATE TABLE event_search (
    event_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    key TEXT NOT NULL,
    vector TSVECTOR NOT NULL,
    PRIMARY KEY (event_id, key)
);
CREATE INDEX event_search_vector ON event_search USING GIN (vector);
CREATE INDEX event_search_room ON event_search (room_id);
