-- Myelin schema version 18: event_push_actions without the index on (user_id, stream_ordering),
-- with a partial index on the rows of threads other than the main timeline (Client-Server API,
-- "Receiving notifications", "Listing notifications").
--
-- Every send inserted a row per notified member into both user-first B-trees, each on another
-- page. /notifications now walks the key (user_id, room_id, stream_ordering) room by room. The
-- unread counts read the key's range above the user's read position in a room; the rows of a
-- thread the user read apart from the main timeline are found through the new index, which
-- main-timeline events (most of them) never enter; it carries notify and highlight, so that
-- a count reads the index alone (SQLite prefers the key's range to a partial index that is
-- not covering).
DROP INDEX event_push_actions_stream;
CREATE INDEX event_push_actions_threads
    ON event_push_actions (user_id, room_id, thread_id, stream_ordering, notify, highlight)
    WHERE thread_id <> 'main';
