-- Myelin schema version 15: implicit reads (Client-Server API, "Receiving notifications":
-- "When the user updates their read receipt (either by using the API or by sending an
-- event), notifications prior to and including that event MUST be marked as read").
--
-- The position (in the events stream) of the latest event each local user sent in each
-- thread of a room: thread_id is 'main' for the main timeline, else the thread root's event
-- ID. Unread counts treat it as a read position in that thread, as a private threaded
-- receipt would be; it is never served as a receipt to anyone.
CREATE TABLE implicit_reads (
    room_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    stream_ordering BIGINT NOT NULL,
    PRIMARY KEY (room_id, user_id, thread_id)
);
