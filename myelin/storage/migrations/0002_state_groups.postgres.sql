-- Myelin schema version 2: room state snapshots stored as deltas (ENGINE DIFFERENCE: this
-- file exists once per engine because identity columns are spelled differently).
-- (type, state_key) pairs are interned as small integers; a state group is a parent group plus
-- delta rows, and chain_length (0 for a full snapshot) bounds how far a lookup walks.

CREATE TABLE state_keys (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    type TEXT NOT NULL,
    state_key TEXT NOT NULL,
    UNIQUE (type, state_key)
);

CREATE TABLE state_groups (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    room_id TEXT NOT NULL,
    parent_id BIGINT REFERENCES state_groups (id),
    chain_length INTEGER NOT NULL
);
CREATE INDEX state_groups_room ON state_groups (room_id);
CREATE INDEX state_groups_parent ON state_groups (parent_id);

-- The delta of a group against its parent: key -> event ID, or NULL for "removed".
-- A group without parent (a full snapshot) lists every key.
CREATE TABLE state_group_entries (
    state_group BIGINT NOT NULL REFERENCES state_groups (id) ON DELETE CASCADE,
    key_id BIGINT NOT NULL REFERENCES state_keys (id),
    event_id TEXT,
    PRIMARY KEY (state_group, key_id)
);

-- The state after each (non-outlier) event.
CREATE TABLE event_state_groups (
    event_id TEXT PRIMARY KEY REFERENCES events (event_id) ON DELETE CASCADE,
    state_group BIGINT NOT NULL REFERENCES state_groups (id)
);
CREATE INDEX event_state_groups_group ON event_state_groups (state_group);

-- The current state of each room.
CREATE TABLE room_current_state (
    room_id TEXT PRIMARY KEY,
    state_group BIGINT NOT NULL REFERENCES state_groups (id)
);
CREATE INDEX room_current_state_group ON room_current_state (state_group);
