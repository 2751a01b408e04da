-- Myelin schema version 17: an index on the state events of a room by (type, state_key), in
-- stream order. A user's member events in a room (history visibility on every /sync and
-- /messages, the membership at a position) were found by walking every event of the room;
-- message events (state_key NULL) stay out of the index, so sends do not pay for it.
CREATE INDEX events_room_state ON events (room_id, type, state_key, stream_ordering)
    WHERE state_key IS NOT NULL;
