"""Persisting an event in one PostgreSQL statement (spec: Server-Server API, "Checks performed
on receipt of a PDU", the persisting steps; no wire format of its own).

ENGINE DIFFERENCE: on PostgreSQL every statement is a round trip (asyncpg encoding, an await,
the backend parsing and executing), and a send made about a dozen inside its transaction. Data
modifying CTEs let one statement do what ``EventStore.persist_event`` does statement by
statement on SQLite (where a statement costs no round trip): allocate the stream position,
insert the event, its prev and auth edges, its search index rows, its state group row, move
the forward extremities and record the client transaction ID. It also reads the room's
current state group, so the caller updates the current state only when it changes, and the
room's forward extremities as it leaves them, for the cache.

The statement inserts nothing but the stream position when the event is already stored or the
transaction ID already created an event: ``persist_new_event_txn`` then returns None and the
caller rolls back and takes the general path (which tells the two apart and raises the right
error, or turns a stored outlier into a timeline event).
"""

from dataclasses import dataclass

from myelin.core.events import EventView
from myelin.storage.database import Transaction
from myelin.storage.room_reads import TxnIdKey
from myelin.storage.search import searchable_values
from myelin.storage.streams import EVENTS_STREAM

# Sub-statements that insert rows for the event select FROM ``ins``: they insert nothing when
# the event row was not inserted. All see the snapshot taken when the statement started; the
# foreign keys to ``events`` are checked at its end, once ``ins`` is in.
_PERSIST = (
    "WITH pos AS ("
    "  UPDATE stream_positions SET pos = pos + 1 WHERE stream = $23 RETURNING pos"
    "), ins AS ("
    "  INSERT INTO events (event_id, room_id, type, state_key, sender, depth, origin_server_ts,"
    "   received_ts, stream_ordering, outlier, rejected_reason, soft_failed, event_json)"
    "  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, (SELECT pos FROM pos), FALSE, $9, $10, $11)"
    "  ON CONFLICT (event_id) DO NOTHING RETURNING event_id, stream_ordering"
    "), prev_edges AS ("
    "  INSERT INTO event_edges (event_id, prev_event_id)"
    "  SELECT ins.event_id, p FROM ins, unnest($12::text[]) AS p ON CONFLICT DO NOTHING"
    "), auth_edges AS ("
    "  INSERT INTO event_auth_edges (event_id, auth_event_id)"
    "  SELECT ins.event_id, a FROM ins, unnest($13::text[]) AS a ON CONFLICT DO NOTHING"
    "), search AS ("
    "  INSERT INTO event_search (event_id, room_id, key, vector)"
    "  SELECT ins.event_id, $2, s.key, to_tsvector('simple', s.value)"
    "  FROM ins, unnest($14::text[], $15::text[]) AS s (key, value) ON CONFLICT DO NOTHING"
    "), state AS ("
    "  INSERT INTO event_state_groups (event_id, state_group)"
    "  SELECT ins.event_id, $16::bigint FROM ins WHERE $16::bigint IS NOT NULL"
    "), not_extremities AS ("
    "  DELETE FROM forward_extremities WHERE $17::boolean AND room_id = $2"
    "  AND event_id = ANY($12::text[]) AND EXISTS (SELECT 1 FROM ins)"
    "), extremity AS ("
    "  INSERT INTO forward_extremities (room_id, event_id)"
    "  SELECT $2, ins.event_id FROM ins WHERE $17::boolean AND ($18::boolean OR NOT EXISTS ("
    "   SELECT 1 FROM event_edges ee JOIN events e ON e.event_id = ee.event_id"
    "   WHERE ee.prev_event_id = $1 AND e.room_id = $2 AND e.outlier = FALSE"
    "   AND e.rejected_reason IS NULL AND e.soft_failed = FALSE))"
    "  ON CONFLICT DO NOTHING RETURNING event_id"
    "), txn_ids AS ("
    "  INSERT INTO event_txn_ids (user_id, device_id, txn_id, room_id, event_id, created_ts)"
    "  SELECT $19::text, $20::text, $21::text, $2, ins.event_id, $22::bigint FROM ins"
    "  WHERE $19::text IS NOT NULL ON CONFLICT DO NOTHING RETURNING 1"
    ")"
    " SELECT ins.stream_ordering, (SELECT count(*) FROM txn_ids) AS txn_ids,"
    " (SELECT state_group FROM room_current_state WHERE room_id = $2) AS current_group,"
    # The room's extremities as this transaction leaves them, in get_forward_extremities'
    # order: the snapshot's, less the ones deleted, plus the one inserted.
    " ARRAY(SELECT x.event_id FROM (SELECT event_id FROM forward_extremities WHERE room_id = $2"
    "  AND NOT ($17::boolean AND event_id = ANY($12::text[]))"
    "  UNION SELECT event_id FROM extremity) AS x ORDER BY x.event_id) AS extremities"
    " FROM ins"
)


@dataclass(frozen=True)
class NewEventRow:
    stream_ordering: int
    current_group: int | None  # the room's current state group before this transaction
    extremities: tuple[str, ...]  # the room's forward extremities after it, sorted


async def persist_new_event_txn(
    txn: Transaction,
    event: EventView,
    *,
    text: str,
    received_ts: int,
    rejected_reason: str | None,
    soft_failed: bool,
    group: int | None,
    childless: bool,
    txn_id: TxnIdKey | None,
) -> NewEventRow | None:
    """Insert a new timeline event (not an outlier, not backfilled) with its rows; None when
    it is stored already or ``txn_id`` created an event already (nothing but the stream
    position changed: the caller must roll back)."""
    values = searchable_values(event)
    row = await txn.fetchrow(
        _PERSIST,
        event.event_id,
        event.room_id,
        event.type,
        event.state_key,
        event.sender,
        event.depth,
        event.origin_server_ts,
        received_ts,
        rejected_reason,
        soft_failed,
        text,
        list(event.prev_event_ids),
        list(event.auth_event_ids),
        [key for key, _ in values],
        [value for _, value in values],
        group,
        rejected_reason is None and not soft_failed,  # it moves the forward extremities
        childless,
        None if txn_id is None else txn_id.user_id,
        None if txn_id is None else txn_id.device_id,
        None if txn_id is None else txn_id.txn_id,
        None if txn_id is None else txn_id.created_ts,
        EVENTS_STREAM,
    )
    if row is None or (txn_id is not None and int(row["txn_ids"]) == 0):
        return None
    current = row["current_group"]
    return NewEventRow(
        int(row["stream_ordering"]),
        None if current is None else int(current),
        tuple(row["extremities"]),
    )
