-- Myelin schema version 16: event_push_actions keyed by (user_id, room_id, stream_ordering)
-- (Client-Server API, "Receiving notifications"), cheaper to insert into on every send.
--
-- An event's push actions exist only once it has its position in the events stream, and a
-- position belongs to one event (events.stream_ordering is UNIQUE, never reused), so the key
-- is as unique as (user_id, event_id) was. ENGINE DIFFERENCE: on PostgreSQL the key replaces
-- the former primary key and the index on (user_id, room_id, stream_ordering), which it
-- covers: each row is inserted into two indexes instead of three. The index on
-- (user_id, stream_ordering) serves /notifications. Rows that would share a key (there can be
-- none: see above) keep one of them.
DELETE FROM event_push_actions a USING event_push_actions b
    WHERE a.user_id = b.user_id AND a.room_id = b.room_id
    AND a.stream_ordering = b.stream_ordering AND a.event_id > b.event_id;
ALTER TABLE event_push_actions DROP CONSTRAINT event_push_actions_pkey;
DROP INDEX event_push_actions_room;
ALTER TABLE event_push_actions ADD PRIMARY KEY (user_id, room_id, stream_ordering);
