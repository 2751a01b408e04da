"""Event push actions and unread notification counts (spec: Client-Server API, "Receiving
notifications", "Unread notifications" and "Listing notifications").

When an event is persisted, the push rules of each local member it concerns are evaluated and
an event that notifies or highlights is recorded for that user here, with its thread (``main``
for the main timeline). Counts are computed against the user's read receipts (``m.read`` and
``m.read.private``): an event counts while it is after both the user's unthreaded receipt and
their receipt in the event's thread, and after the latest event the user sent in that thread:
sending an event marks the earlier notifications of its thread as read (spec: "Receiving
notifications": "either by using the API or by sending an event"). That implicit read is
kept apart from receipts (table ``implicit_reads``) and never served as a receipt.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from myelin.storage.database import Database, Transaction, chunks, in_list

# The position (in the events stream) the user has read up to in the row's thread.
_READ_UPTO = (
    "COALESCE((SELECT MAX(r.event_stream_ordering) FROM receipts r"
    " WHERE r.room_id = a.room_id AND r.user_id = a.user_id"
    " AND r.receipt_type IN ('m.read', 'm.read.private')"
    " AND (r.thread_id = '' OR r.thread_id = a.thread_id)), 0)"
)
# The position of the latest event the user sent in the row's thread (an implicit read).
_SENT_UPTO = (
    "COALESCE((SELECT i.stream_ordering FROM implicit_reads i"
    " WHERE i.room_id = a.room_id AND i.user_id = a.user_id"
    " AND i.thread_id = a.thread_id), 0)"
)
_UNREAD = f"a.stream_ordering > {_READ_UPTO} AND a.stream_ordering > {_SENT_UPTO}"


@dataclass(frozen=True)
class PushActionRow:
    """One user's actions for one event."""

    user_id: str
    actions: Sequence[Any]
    notify: bool
    highlight: bool


@dataclass(frozen=True)
class PendingPushActions:
    """The push actions of an event not persisted yet: written in the event's transaction.

    ``read_by``: the event's sender when it is a local user, whose send marks the earlier
    notifications of the event's thread as read."""

    rows: Sequence[PushActionRow]
    thread_id: str
    ts: int
    read_by: str | None = None


async def add_push_actions_txn(
    txn: Transaction,
    event_id: str,
    room_id: str,
    rows: Sequence[PushActionRow],
    *,
    thread_id: str,
    stream_ordering: int,
    ts: int,
    read_by: str | None = None,
) -> None:
    """Insert the push actions of an event in ``txn``, and the implicit read of its sender
    ``read_by`` (a local user) up to it in its thread."""
    if read_by is not None:
        await txn.execute(
            "INSERT INTO implicit_reads (room_id, user_id, thread_id, stream_ordering)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (room_id, user_id, thread_id) DO UPDATE"
            " SET stream_ordering = EXCLUDED.stream_ordering"
            " WHERE implicit_reads.stream_ordering < EXCLUDED.stream_ordering",
            room_id,
            read_by,
            thread_id,
            stream_ordering,
        )
    if not rows:
        return
    # Rows usually share their actions object (evaluation gives equal actions one object): one
    # JSON text each. Keyed by id(): every row, so every key's object, lives through the call.
    texts: dict[int, str] = {}
    values: list[tuple[Any, ...]] = []
    for row in rows:
        text = texts.get(id(row.actions))
        if text is None:
            text = texts[id(row.actions)] = json.dumps(list(row.actions), separators=(",", ":"))
        values.append(
            (
                row.user_id,
                event_id,
                room_id,
                thread_id,
                stream_ordering,
                text,
                row.notify,
                row.highlight,
                ts,
            )
        )
    await txn.executemany(
        "INSERT INTO event_push_actions (user_id, event_id, room_id, thread_id,"
        " stream_ordering, actions, notify, highlight, ts)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
        values,
    )


@dataclass(frozen=True)
class Counts:
    notification_count: int = 0
    highlight_count: int = 0


@dataclass
class RoomCounts:
    """A room's unread counts: the main timeline (``main``) and each thread apart."""

    main: Counts = field(default_factory=Counts)
    threads: dict[str, Counts] = field(default_factory=dict)

    def total(self) -> Counts:
        """Everything together (what a client that does not ask for thread counts gets)."""
        notify = self.main.notification_count + sum(
            c.notification_count for c in self.threads.values()
        )
        highlight = self.main.highlight_count + sum(
            c.highlight_count for c in self.threads.values()
        )
        return Counts(notify, highlight)


@dataclass(frozen=True)
class NotificationRecord:
    event_id: str
    room_id: str
    stream_ordering: int
    actions: list[Any]
    ts: int
    highlight: bool
    read: bool


class PushActionStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add_push_actions(
        self,
        event_id: str,
        room_id: str,
        rows: Sequence[PushActionRow],
        *,
        thread_id: str,
        stream_ordering: int,
        ts: int,
        read_by: str | None = None,
    ) -> None:
        if not rows and read_by is None:
            return
        async with self._db.transaction() as txn:
            await add_push_actions_txn(
                txn,
                event_id,
                room_id,
                rows,
                thread_id=thread_id,
                stream_ordering=stream_ordering,
                ts=ts,
                read_by=read_by,
            )

    async def get_unread_counts(
        self, user_id: str, room_ids: Sequence[str]
    ) -> dict[str, RoomCounts]:
        """The unread counts of ``user_id`` in each of ``room_ids`` (every room present)."""
        result = {room_id: RoomCounts() for room_id in room_ids}
        for part in chunks(list(dict.fromkeys(room_ids))):
            rows = await self._db.fetch(
                "SELECT a.room_id, a.thread_id,"
                " SUM(CASE WHEN a.notify THEN 1 ELSE 0 END) AS notify_count,"
                " SUM(CASE WHEN a.highlight THEN 1 ELSE 0 END) AS highlight_count"
                " FROM event_push_actions a"
                f" WHERE a.user_id = $1 AND a.room_id IN ({in_list(2, len(part))})"
                f" AND {_UNREAD}"
                " GROUP BY a.room_id, a.thread_id",
                user_id,
                *part,
            )
            for row in rows:
                counts = Counts(int(row["notify_count"] or 0), int(row["highlight_count"] or 0))
                room = result[row["room_id"]]
                if row["thread_id"] == "main":
                    room.main = counts
                else:
                    room.threads[row["thread_id"]] = counts
        return result

    async def get_notifications(
        self, user_id: str, *, before: int | None, limit: int, only_highlight: bool
    ) -> list[NotificationRecord]:
        """The user's notifications, newest first, with stream orderings below ``before``."""
        highlight = " AND a.highlight = TRUE" if only_highlight else ""
        rows = await self._db.fetch(
            "SELECT a.event_id, a.room_id, a.stream_ordering, a.actions, a.ts, a.highlight,"
            f" CASE WHEN {_UNREAD} THEN 0 ELSE 1 END AS is_read"
            " FROM event_push_actions a WHERE a.user_id = $1 AND a.notify = TRUE"
            f" AND a.stream_ordering < $2{highlight}"
            " ORDER BY a.stream_ordering DESC LIMIT $3",
            user_id,
            before if before is not None else 2**62,
            limit,
        )
        return [
            NotificationRecord(
                event_id=row["event_id"],
                room_id=row["room_id"],
                stream_ordering=int(row["stream_ordering"]),
                actions=json.loads(row["actions"]),
                ts=int(row["ts"]),
                highlight=bool(row["highlight"]),
                read=bool(row["is_read"]),
            )
            for row in rows
        ]
