-- Myelin schema version 1: accounts, devices, tokens, rooms, events and their graph.
-- Written once for both engines (PostgreSQL dialect that SQLite also accepts).
-- Booleans are BOOLEAN (SQLite stores 0/1); timestamps are milliseconds since the epoch.

-- Local accounts.
CREATE TABLE users (
    user_id TEXT PRIMARY KEY,
    password_hash TEXT,
    admin BOOLEAN NOT NULL DEFAULT FALSE,
    deactivated BOOLEAN NOT NULL DEFAULT FALSE,
    is_guest BOOLEAN NOT NULL DEFAULT FALSE,
    user_type TEXT,
    appservice_id TEXT,
    displayname TEXT,
    avatar_url TEXT,
    created_ts BIGINT NOT NULL
);

CREATE TABLE devices (
    user_id TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    device_id TEXT NOT NULL,
    display_name TEXT,
    created_ts BIGINT NOT NULL,
    last_seen_ts BIGINT,
    last_seen_ip TEXT,
    last_seen_user_agent TEXT,
    PRIMARY KEY (user_id, device_id)
);

-- Tokens are stored only as the hex SHA-256 of the token: a leaked database holds no working
-- token. Deleting a device deletes its tokens (ON DELETE CASCADE).
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    created_ts BIGINT NOT NULL,
    expires_ts BIGINT,
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);
CREATE INDEX refresh_tokens_device ON refresh_tokens (user_id, device_id);

CREATE TABLE access_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    device_id TEXT,
    created_ts BIGINT NOT NULL,
    expires_ts BIGINT,
    last_used_ts BIGINT,
    -- The refresh token issued with this access token; refreshing deletes both.
    refresh_token_hash TEXT REFERENCES refresh_tokens (token_hash) ON DELETE CASCADE,
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);
CREATE INDEX access_tokens_device ON access_tokens (user_id, device_id);
CREATE INDEX access_tokens_refresh ON access_tokens (refresh_token_hash);

CREATE TABLE rooms (
    room_id TEXT PRIMARY KEY,
    room_version TEXT NOT NULL,
    creator TEXT,
    is_public BOOLEAN NOT NULL DEFAULT FALSE,
    created_ts BIGINT NOT NULL
);

CREATE TABLE room_aliases (
    room_alias TEXT PRIMARY KEY,
    room_id TEXT NOT NULL,
    creator TEXT NOT NULL,
    created_ts BIGINT NOT NULL
);
CREATE INDEX room_aliases_room ON room_aliases (room_id);

-- Stream counters. A counter row is incremented inside the transaction that writes the
-- stream's rows; the row lock it takes is held until commit, so positions are handed out in
-- commit order and the committed counter value is a position below which everything is
-- committed. Counters never go back, even when rows are purged.
CREATE TABLE stream_positions (
    stream TEXT PRIMARY KEY,
    pos BIGINT NOT NULL
);
INSERT INTO stream_positions (stream, pos) VALUES ('events', 0);

-- One row per event. event_json is the PDU exactly as received (TEXT, never parsed into a
-- JSON column type: hashes and signatures depend on it). The other columns are copies for
-- indexing, and server facts (outlier, rejected_reason, soft_failed) that are not part of it.
CREATE TABLE events (
    event_id TEXT PRIMARY KEY,
    room_id TEXT NOT NULL,
    stream_ordering BIGINT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    state_key TEXT,
    sender TEXT NOT NULL,
    depth BIGINT NOT NULL,
    origin_server_ts BIGINT NOT NULL,
    received_ts BIGINT NOT NULL,
    outlier BOOLEAN NOT NULL DEFAULT FALSE,
    rejected_reason TEXT,
    soft_failed BOOLEAN NOT NULL DEFAULT FALSE,
    event_json TEXT NOT NULL
);
CREATE INDEX events_room_stream ON events (room_id, stream_ordering);
CREATE INDEX events_room_depth ON events (room_id, depth);

-- The event graph: prev_events and auth_events edges. The target may not be stored (yet).
CREATE TABLE event_edges (
    event_id TEXT NOT NULL REFERENCES events (event_id) ON DELETE CASCADE,
    prev_event_id TEXT NOT NULL,
    PRIMARY KEY (event_id, prev_event_id)
);
CREATE INDEX event_edges_prev ON event_edges (prev_event_id);

CREATE TABLE event_auth_edges (
    event_id TEXT NOT NULL REFERENCES events (event_id) ON DELETE CASCADE,
    auth_event_id TEXT NOT NULL,
    PRIMARY KEY (event_id, auth_event_id)
);

-- The room's forward extremities: events with no known children.
CREATE TABLE forward_extremities (
    room_id TEXT NOT NULL,
    event_id TEXT NOT NULL REFERENCES events (event_id) ON DELETE CASCADE,
    PRIMARY KEY (room_id, event_id)
);
CREATE INDEX forward_extremities_event ON forward_extremities (event_id);

-- The room's current state spelled out, kept in step with room_current_state (migration 2),
-- for lookups by key and "rooms this user is joined to".
CREATE TABLE current_state_events (
    room_id TEXT NOT NULL,
    type TEXT NOT NULL,
    state_key TEXT NOT NULL,
    event_id TEXT NOT NULL,
    membership TEXT,
    PRIMARY KEY (room_id, type, state_key)
);
CREATE INDEX current_state_members ON current_state_events (state_key, membership)
    WHERE type = 'm.room.member';
