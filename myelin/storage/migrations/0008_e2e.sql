-- Myelin schema version 8: end-to-end encryption (Client-Server API, "End-to-End Encryption",
-- "Send-to-Device messaging", "Server-side key backups", MSC3814 dehydrated devices).
-- JSON columns hold the object exactly as uploaded (canonical JSON text).

-- Device identity keys (POST /keys/upload "device_keys"), one object per device; signatures
-- made later with /keys/signatures/upload are kept apart in e2e_signatures.
CREATE TABLE e2e_device_keys (
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    key_json TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id)
);

-- One-time keys: each is handed out by /keys/claim at most once (the claim deletes it), in
-- the order of upload (uploaded_ts; keys of one upload are equivalent).
CREATE TABLE e2e_one_time_keys (
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    key_id TEXT NOT NULL,
    key_json TEXT NOT NULL,
    uploaded_ts BIGINT NOT NULL,
    PRIMARY KEY (user_id, device_id, algorithm, key_id)
);
CREATE INDEX e2e_one_time_keys_order ON e2e_one_time_keys (user_id, device_id, algorithm, uploaded_ts);

-- Fallback keys: one per device and algorithm; 'used' once /keys/claim handed it out.
CREATE TABLE e2e_fallback_keys (
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    key_id TEXT NOT NULL,
    key_json TEXT NOT NULL,
    used BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (user_id, device_id, algorithm)
);

-- Cross-signing keys: key_type is 'master', 'self_signing' or 'user_signing'; public_key is
-- the unpadded base64 key (the key ID without its 'ed25519:' prefix).
CREATE TABLE e2e_cross_signing_keys (
    user_id TEXT NOT NULL,
    key_type TEXT NOT NULL,
    public_key TEXT NOT NULL,
    key_json TEXT NOT NULL,
    PRIMARY KEY (user_id, key_type)
);

-- Signatures uploaded with /keys/signatures/upload, merged into /keys/query answers.
-- target_key is a device ID or a cross-signing public key of target_user_id.
CREATE TABLE e2e_signatures (
    target_user_id TEXT NOT NULL,
    target_key TEXT NOT NULL,
    signer_user_id TEXT NOT NULL,
    signer_key_id TEXT NOT NULL,
    signature TEXT NOT NULL,
    PRIMARY KEY (target_user_id, target_key, signer_user_id, signer_key_id)
);

-- Device list changes: one row per change of a user's devices or keys, at its position in the
-- 'device_lists' stream (for /sync device_lists and /keys/changes).
CREATE TABLE device_list_changes (
    stream_id BIGINT NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (stream_id, user_id)
);
CREATE INDEX device_list_changes_user ON device_list_changes (user_id, stream_id);
-- Membership changes, at their position in the same stream: who starts or stops sharing a
-- room with whom (for device_lists.changed and .left).
CREATE TABLE device_list_memberships (
    stream_id BIGINT NOT NULL,
    room_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    membership TEXT NOT NULL,
    PRIMARY KEY (stream_id, room_id, user_id)
);
INSERT INTO stream_positions (stream, pos) VALUES ('device_lists', 0);

-- To-device inbox: messages waiting for a device, at their position in the 'to_device'
-- stream; deleted once the device syncs with a 'since' at or past that position.
CREATE TABLE to_device_inbox (
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    stream_id BIGINT NOT NULL,
    message_json TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id, stream_id)
);
INSERT INTO stream_positions (stream, pos) VALUES ('to_device', 0);

-- Transaction IDs of PUT /sendToDevice, per sending device, for idempotency.
CREATE TABLE to_device_txns (
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    txn_id TEXT NOT NULL,
    created_ts BIGINT NOT NULL,
    PRIMARY KEY (user_id, device_id, txn_id)
);

-- Server-side key backup versions; etag grows with every change of the version's keys.
CREATE TABLE e2e_room_keys_versions (
    user_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    algorithm TEXT NOT NULL,
    auth_data TEXT NOT NULL,
    etag BIGINT NOT NULL DEFAULT 0,
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (user_id, version)
);

-- Backed-up room keys: one session per (version, room, session ID).
CREATE TABLE e2e_room_keys (
    user_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    room_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    first_message_index BIGINT NOT NULL,
    forwarded_count BIGINT NOT NULL,
    is_verified BOOLEAN NOT NULL,
    session_data TEXT NOT NULL,
    PRIMARY KEY (user_id, version, room_id, session_id)
);

-- MSC3814 dehydrated devices: at most one per user; the device itself is a row of 'devices'.
CREATE TABLE dehydrated_devices (
    user_id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    device_data TEXT NOT NULL
);
