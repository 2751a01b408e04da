-- Myelin schema version 4: what the Client-Server room endpoints need beyond the event graph.

-- Transaction IDs of sent events (spec: Client-Server API, "Transaction identifiers"): a
-- retried PUT /send, /state or /redact with the same (user, device, transaction ID) returns
-- the event it created the first time. device_id is '' for requests without a device.
CREATE TABLE event_txn_ids (
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    txn_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    created_ts BIGINT NOT NULL,
    PRIMARY KEY (user_id, device_id, txn_id)
);
CREATE INDEX event_txn_ids_event ON event_txn_ids (event_id);

-- Relationships between events (spec: "Forming relationships between events"), filled when an
-- event with a valid content.m.relates_to is persisted. The related event may not be stored.
CREATE TABLE event_relations (
    event_id TEXT PRIMARY KEY REFERENCES events (event_id) ON DELETE CASCADE,
    room_id TEXT NOT NULL,
    relates_to_id TEXT NOT NULL,
    rel_type TEXT NOT NULL
);
CREATE INDEX event_relations_target ON event_relations (relates_to_id, rel_type);

-- Redaction events by the event they redact (spec: "Redactions"), filled on persist; whether a
-- redaction applies is decided when the event is served.
CREATE TABLE redactions (
    event_id TEXT PRIMARY KEY REFERENCES events (event_id) ON DELETE CASCADE,
    redacts TEXT NOT NULL
);
CREATE INDEX redactions_redacts ON redactions (redacts);

-- Rooms a user has forgotten (spec: "POST /rooms/{roomId}/forget"); joining again clears it.
CREATE TABLE room_forgotten (
    user_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    PRIMARY KEY (user_id, room_id)
);
