"""Receipts (spec: Client-Server API, "Receipts" and "Threaded read receipts").

The latest receipt of each (room, receipt type, user, thread) is kept, with the receipted
event's position in the events stream (what notification counts are compared against) and the
receipt's own position in the ``receipts`` stream (what ``/sync`` pages by). An unthreaded
receipt is stored with thread ``''``.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from myelin.storage.database import Database, Row, chunks, in_list
from myelin.storage.streams import current_position, next_position

RECEIPTS_STREAM = "receipts"
# The receipt types that mark events as read for notification counts.
READ_TYPES = ("m.read", "m.read.private")


@dataclass(frozen=True)
class ReceiptRecord:
    room_id: str
    receipt_type: str
    user_id: str
    # None for an unthreaded receipt, else "main" or a thread root's event ID.
    thread_id: str | None
    event_id: str
    event_stream_ordering: int
    ts: int
    stream_id: int


_COLUMNS = (
    "room_id, receipt_type, user_id, thread_id, event_id, event_stream_ordering, ts, stream_id"
)


def _record(row: Row) -> ReceiptRecord:
    return ReceiptRecord(
        room_id=row["room_id"],
        receipt_type=row["receipt_type"],
        user_id=row["user_id"],
        thread_id=row["thread_id"] or None,
        event_id=row["event_id"],
        event_stream_ordering=int(row["event_stream_ordering"]),
        ts=int(row["ts"]),
        stream_id=int(row["stream_id"]),
    )


class ReceiptStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def current_position(self) -> int:
        return await current_position(self._db, RECEIPTS_STREAM)

    async def insert_receipt(
        self,
        room_id: str,
        receipt_type: str,
        user_id: str,
        thread_id: str | None,
        event_id: str,
        *,
        event_stream_ordering: int,
        ts: int,
    ) -> int | None:
        """Move the receipt to ``event_id``; return its new stream position.

        Receipts only move forward (as in Synapse): a receipt for an event at or before the
        one already receipted changes nothing and returns None.
        """
        thread = thread_id or ""
        async with self._db.transaction() as txn:
            existing = await txn.fetchval(
                "SELECT event_stream_ordering FROM receipts WHERE room_id = $1"
                " AND receipt_type = $2 AND user_id = $3 AND thread_id = $4",
                room_id,
                receipt_type,
                user_id,
                thread,
            )
            if existing is not None and int(existing) >= event_stream_ordering:
                return None
            position = await next_position(txn, RECEIPTS_STREAM)
            await txn.execute(
                "INSERT INTO receipts (room_id, receipt_type, user_id, thread_id, event_id,"
                " event_stream_ordering, ts, stream_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                " ON CONFLICT (room_id, receipt_type, user_id, thread_id) DO UPDATE SET"
                " event_id = EXCLUDED.event_id,"
                " event_stream_ordering = EXCLUDED.event_stream_ordering,"
                " ts = EXCLUDED.ts, stream_id = EXCLUDED.stream_id",
                room_id,
                receipt_type,
                user_id,
                thread,
                event_id,
                event_stream_ordering,
                ts,
                position,
            )
            return position

    async def get_receipts(
        self, room_ids: Sequence[str], after: int = 0, upto: int | None = None
    ) -> list[ReceiptRecord]:
        """The receipts in ``room_ids`` whose stream position is in ``(after, upto]``."""
        found: list[ReceiptRecord] = []
        limit = upto if upto is not None else 2**62
        for part in chunks(list(room_ids)):
            rows = await self._db.fetch(
                f"SELECT {_COLUMNS} FROM receipts WHERE stream_id > $1 AND stream_id <= $2"
                f" AND room_id IN ({in_list(3, len(part))}) ORDER BY stream_id",
                after,
                limit,
                *part,
            )
            found.extend(_record(row) for row in rows)
        return found

    async def get_user_receipts(self, user_id: str, room_id: str) -> list[ReceiptRecord]:
        rows = await self._db.fetch(
            f"SELECT {_COLUMNS} FROM receipts WHERE user_id = $1 AND room_id = $2"
            " ORDER BY receipt_type, thread_id",
            user_id,
            room_id,
        )
        return [_record(row) for row in rows]
