-- Myelin schema version 5: receipts, presence, push rules, pushers, notification counts and
-- content reports (Client-Server API, "Receipts", "Presence", "Push Notifications",
-- "Reporting Content").

-- Receipts: the latest receipt of each (room, type, user, thread). thread_id is '' for an
-- unthreaded receipt, 'main' or a thread root's event ID otherwise. event_stream_ordering is
-- the receipted event's position in the events stream (what notification counts compare
-- against); stream_id is the receipt's own position in the 'receipts' stream.
CREATE TABLE receipts (
    room_id TEXT NOT NULL,
    receipt_type TEXT NOT NULL,
    user_id TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_stream_ordering BIGINT NOT NULL,
    ts BIGINT NOT NULL,
    stream_id BIGINT NOT NULL,
    PRIMARY KEY (room_id, receipt_type, user_id, thread_id)
);
CREATE INDEX receipts_stream ON receipts (stream_id);
CREATE INDEX receipts_user ON receipts (user_id, room_id);
INSERT INTO stream_positions (stream, pos) VALUES ('receipts', 0);

-- Presence: the last state each user set, with its position in the 'presence' stream.
CREATE TABLE presence (
    user_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    status_msg TEXT,
    last_active_ts BIGINT NOT NULL,
    currently_active BOOLEAN NOT NULL DEFAULT FALSE,
    stream_id BIGINT NOT NULL
);
CREATE INDEX presence_stream ON presence (stream_id);
INSERT INTO stream_positions (stream, pos) VALUES ('presence', 0);

-- Push rules: what a user changed from the server defaults (UserPushRules as JSON).
CREATE TABLE push_rules (
    user_id TEXT PRIMARY KEY,
    rules_json TEXT NOT NULL,
    updated_ts BIGINT NOT NULL
);

-- Pushers, one per (user, app_id, pushkey); data is the pusher's data object as JSON.
CREATE TABLE pushers (
    user_id TEXT NOT NULL,
    app_id TEXT NOT NULL,
    pushkey TEXT NOT NULL,
    kind TEXT NOT NULL,
    app_display_name TEXT NOT NULL,
    device_display_name TEXT NOT NULL,
    profile_tag TEXT,
    lang TEXT NOT NULL,
    data TEXT NOT NULL,
    device_id TEXT,
    created_ts BIGINT NOT NULL,
    PRIMARY KEY (user_id, app_id, pushkey)
);
CREATE INDEX pushers_key ON pushers (app_id, pushkey);

-- The actions push rules gave each event for each local user it notifies (or highlights).
-- thread_id is 'main' for the main timeline, else the thread root's event ID.
CREATE TABLE event_push_actions (
    user_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    stream_ordering BIGINT NOT NULL,
    actions TEXT NOT NULL,
    notify BOOLEAN NOT NULL,
    highlight BOOLEAN NOT NULL,
    ts BIGINT NOT NULL,
    PRIMARY KEY (user_id, event_id)
);
CREATE INDEX event_push_actions_room ON event_push_actions (user_id, room_id, stream_ordering);
CREATE INDEX event_push_actions_stream ON event_push_actions (user_id, stream_ordering);

-- Content reports (events, rooms and users), kept for the server's admins: an event report
-- has room_id and event_id, a room report room_id only, a user report target_user_id only.
CREATE TABLE content_reports (
    report_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    room_id TEXT,
    event_id TEXT,
    target_user_id TEXT,
    reason TEXT,
    score BIGINT,
    received_ts BIGINT NOT NULL
);
CREATE INDEX content_reports_received ON content_reports (received_ts);
