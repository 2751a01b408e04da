-- Myelin schema version 14: backfilled history (Server-Server API, "Backfilling and retrieving
-- missing events").
--
-- Events fetched with /backfill are older than everything the room already holds, so they take
-- negative stream orderings, counting down from -1: /messages (ordered by stream_ordering) puts
-- them before the events already held, and /sync (which only reads positions above its token,
-- never below zero) never shows them as new. This counter hands out their magnitudes.
INSERT INTO stream_positions (stream, pos) VALUES ('events_backfill', 0);
