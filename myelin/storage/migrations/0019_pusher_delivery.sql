-- Myelin schema version 19: delivery state of pushers (Push Gateway API; Client-Server API,
-- "Push Notifications").
--
-- last_stream_ordering: the position in the events stream up to which the pusher's
-- notifications were delivered (or given up on), so that a restart catches up from there.
-- A new pusher starts at the stream's current position; the pushers of earlier versions
-- start at the current position too (nothing older is sent). failing_since: when the current
-- streak of failed requests to the push gateway began (NULL: not failing). Both engines take
-- the same statements.
ALTER TABLE pushers ADD COLUMN last_stream_ordering BIGINT NOT NULL DEFAULT 0;
ALTER TABLE pushers ADD COLUMN failing_since BIGINT;
UPDATE pushers SET last_stream_ordering = COALESCE(
    (SELECT pos FROM stream_positions WHERE stream = 'events'), 0);
