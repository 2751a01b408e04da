-- Myelin schema version 3: what accounts and sessions need beyond version 1 (Client-Server
-- API, "User-Interactive Authentication API", "Token-authenticated registration", "Login",
-- "Profiles").

-- User-interactive authentication sessions. The request they were started for is recorded so
-- that a session cannot be reused for another operation; completed stages are a JSON list.
CREATE TABLE uia_sessions (
    session_id TEXT PRIMARY KEY,
    method TEXT NOT NULL,
    uri TEXT NOT NULL,
    user_id TEXT,
    completed TEXT NOT NULL,
    -- The registration token this session completed m.login.registration_token with (its
    -- "pending" use is given back if the session expires unused).
    registration_token TEXT,
    created_ts BIGINT NOT NULL,
    last_used_ts BIGINT NOT NULL
);
CREATE INDEX uia_sessions_last_used ON uia_sessions (last_used_ts);

-- Admin-managed registration tokens (Synapse's admin API shape). NULL uses_allowed: unlimited;
-- NULL expiry_time: never expires. pending counts sessions that completed the stage but have
-- not registered yet; completed counts registrations.
CREATE TABLE registration_tokens (
    token TEXT PRIMARY KEY,
    uses_allowed INTEGER,
    pending INTEGER NOT NULL DEFAULT 0,
    completed INTEGER NOT NULL DEFAULT 0,
    expiry_time BIGINT
);

-- Single-use m.login.token tokens, stored hashed like access tokens.
CREATE TABLE login_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    expires_ts BIGINT NOT NULL
);
CREATE INDEX login_tokens_expiry ON login_tokens (expires_ts);

-- Extended profile fields (spec v1.16) other than displayname and avatar_url, which stay in
-- users. value_json is the field's JSON value as canonical JSON text.
CREATE TABLE profile_fields (
    user_id TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    field_name TEXT NOT NULL,
    value_json TEXT NOT NULL,
    PRIMARY KEY (user_id, field_name)
);
