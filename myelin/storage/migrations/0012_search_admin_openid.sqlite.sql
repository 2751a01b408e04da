-- Myelin schema version 12: server-side search, account locking and suspension, OpenID tokens
-- (ENGINE DIFFERENCE: this file exists once per engine because the full-text index is SQLite
-- FTS5 here and a tsvector column with a GIN index on PostgreSQL).

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
-- content.topic), written in the transaction that persists the event. The other columns are
-- UNINDEXED copies used to restrict and join the matches.
CREATE VIRTUAL TABLE event_search USING fts5 (
    value,
    event_id UNINDEXED,
    room_id UNINDEXED,
    key UNINDEXED,
    tokenize = 'unicode61 remove_diacritics 2'
);
