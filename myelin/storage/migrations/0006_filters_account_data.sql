-- Myelin schema version 6: user filters and account data (Client-Server API, "Filtering",
-- "Client Config" and "Room Tagging").

-- Filters uploaded with POST /user/{userId}/filter. filter_id is a small integer per user,
-- served as its decimal string; filter_json is the filter as uploaded.
CREATE TABLE user_filters (
    user_id TEXT NOT NULL,
    filter_id BIGINT NOT NULL,
    filter_json TEXT NOT NULL,
    PRIMARY KEY (user_id, filter_id)
);

-- Account data, global (room_id '') and per room. Tags are the room's 'm.tag' account data.
-- stream_id is the latest change's position in the 'account_data' stream (what /sync
-- compares against); content is the JSON content as set.
CREATE TABLE account_data (
    user_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    type TEXT NOT NULL,
    content TEXT NOT NULL,
    stream_id BIGINT NOT NULL,
    PRIMARY KEY (user_id, room_id, type)
);
CREATE INDEX account_data_stream ON account_data (user_id, stream_id);
INSERT INTO stream_positions (stream, pos) VALUES ('account_data', 0);
