-- Myelin schema version 16: event_push_actions keyed by (user_id, room_id, stream_ordering)
-- (Client-Server API, "Receiving notifications"), cheaper to insert into on every send.
--
-- An event's push actions exist only once it has its position in the events stream, and a
-- position belongs to one event (events.stream_ordering is UNIQUE, never reused), so the key
-- is as unique as (user_id, event_id) was. ENGINE DIFFERENCE: on SQLite the table is WITHOUT
-- ROWID, the rows living in the key's B-tree: each row is inserted into two B-trees instead of
-- four (table, (user_id, event_id), and the two indexes), and the unread counts (user and
-- rooms) read the rows straight from the key. The index on (user_id, stream_ordering) serves
-- /notifications. The rows are carried over.
CREATE TABLE event_push_actions_new (
    user_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    stream_ordering BIGINT NOT NULL,
    actions TEXT NOT NULL,
    notify BOOLEAN NOT NULL,
    highlight BOOLEAN NOT NULL,
    ts BIGINT NOT NULL,
    PRIMARY KEY (user_id, room_id, stream_ordering)
) WITHOUT ROWID;
INSERT OR IGNORE INTO event_push_actions_new (user_id, event_id, room_id, thread_id,
    stream_ordering, actions, notify, highlight, ts)
    SELECT user_id, event_id, room_id, thread_id, stream_ordering, actions, notify, highlight, ts
    FROM event_push_actions;
DROP TABLE event_push_actions;
ALTER TABLE event_push_actions_new RENAME TO event_push_actions;
CREATE INDEX event_push_actions_stream ON event_push_actions (user_id, stream_ordering);
