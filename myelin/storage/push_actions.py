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
    pending: "PendingPushActions",
    stream_ordering: int,
) -> None:
    """Insert the push actions of an event in ``txn``, and the implicit read of its sender
    ``pending.read_by`` (a local user) up to it in its thread."""
    rows, thread_id, ts, read_by = pending.rows, pending.thread_id, pending.ts, pending.read_by
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


@dataclass
class _ReadUpto:
    """What the user has read in one room (positions in the events stream): ``unthreaded``,
    their unthreaded receipt, and per thread they read or sent in, the latest of that, their
    receipt in the thread and the unthreaded one. A row is unread while its position is above
    ``upto(thread)`` (the semantics of receipts and implicit reads in the module docstring)."""

    unthreaded: int = 0
    threads: dict[str, int] = field(default_factory=dict)

    def upto(self, thread_id: str) -> int:
        return self.threads.get(thread_id, self.unthreaded)


async def _read_upto(db: Database, user_id: str, room_ids: Sequence[str]) -> dict[str, _ReadUpto]:
    """The read positions of ``user_id`` in ``room_ids`` (only the rooms with one): receipts
    (``m.read`` and ``m.read.private``, threaded and not) and implicit reads, seeking in the
    keys of both tables (room, then user)."""
    found: dict[str, _ReadUpto] = {}
    positions: list[tuple[str, str, int]] = []
    for part in chunks(list(dict.fromkeys(room_ids))):
        rooms = in_list(2, len(part))
        rows = await db.fetch(
            "SELECT room_id, thread_id, MAX(event_stream_ordering) AS pos FROM receipts"
            f" WHERE user_id = $1 AND room_id IN ({rooms})"
            " AND receipt_type IN ('m.read', 'm.read.private') GROUP BY room_id, thread_id"
            " UNION ALL SELECT room_id, thread_id, stream_ordering AS pos FROM implicit_reads"
            f" WHERE user_id = $1 AND room_id IN ({rooms})",
            user_id,
            *part,
        )
        for row in rows:
            room = found.setdefault(row["room_id"], _ReadUpto())
            if row["thread_id"] == "":
                room.unthreaded = max(room.unthreaded, int(row["pos"]))
            else:
                positions.append((row["room_id"], row["thread_id"], int(row["pos"])))
    for room_id, thread_id, pos in positions:
        room = found[room_id]
        room.threads[thread_id] = max(room.threads.get(thread_id, room.unthreaded), pos)
    return found


class _Union:
    """``SELECT``s joined by ``UNION ALL``, run in statements of bounded size (SQLite's limits
    on compound terms and parameters); ``$1`` is the same first argument in every term."""

    def __init__(self, db: Database, first: Any, *, outer: str = "") -> None:
        self._db = db
        self._first = first
        self._outer = outer
        self._terms: list[str] = []
        self._args: list[Any] = []
        self.rows: list[Any] = []

    async def add(self, term: str, *args: Any) -> None:
        """Add a term whose placeholders are ``$1`` and ``{0}``, ``{1}``, ... for ``args``."""
        base = len(self._args) + 2
        self._terms.append(term.format(*(f"${base + i}" for i in range(len(args)))))
        self._args.extend(args)
        if len(self._terms) >= 100 or len(self._args) >= 800:
            await self.flush()

    async def flush(self) -> None:
        if not self._terms:
            return
        sql = " UNION ALL ".join(self._terms)
        if self._outer:
            sql = self._outer.format(sql)
        self.rows.extend(await self._db.fetch(sql, self._first, *self._args))
        self._terms, self._args = [], []


# The rooms the user has push actions in: a skip-scan over the key (user_id, room_id, ...), one
# seek per room whatever the number of rows (a recursive query: both engines).
_ROOMS_CTE = (
    "WITH RECURSIVE r (room_id) AS ("
    " SELECT MIN(room_id) FROM event_push_actions WHERE user_id = $1"
    " UNION ALL SELECT (SELECT MIN(a.room_id) FROM event_push_actions a"
    " WHERE a.user_id = $1 AND a.room_id > r.room_id) FROM r WHERE r.room_id IS NOT NULL)"
)
_ROOMS_OF_USER = f"{_ROOMS_CTE} SELECT room_id FROM r WHERE room_id IS NOT NULL"
_LISTED = "event_id, room_id, thread_id, stream_ordering, actions, ts, highlight"
_COUNT = (
    "SELECT room_id, thread_id,"
    " SUM(CASE WHEN notify THEN 1 ELSE 0 END) AS notify_count,"
    " SUM(CASE WHEN highlight THEN 1 ELSE 0 END) AS highlight_count"
    " FROM event_push_actions WHERE user_id = $1 AND room_id = {0}"
)
_GROUP = " GROUP BY room_id, thread_id"


async def _add_count_terms(union: _Union, room_id: str, read: _ReadUpto) -> None:
    """The terms counting the unread rows of one room, per thread.

    ``main``, when the user has a position of its own there: the key's range above it. Each
    other thread with a position: the threads' index, (room, thread) above it. The threads
    without one (``main`` among them when it has none) share the unthreaded receipt: the key's
    range above it, or the threads' index when ``main`` is counted apart (``+`` keeps SQLite
    off the key's range there: the threads' rows are the few)."""
    known = list(read.threads)
    others = [thread for thread in known if thread != "main"]
    if "main" in read.threads:
        await union.add(
            _COUNT + " AND stream_ordering > {1} AND thread_id = 'main'" + _GROUP,
            room_id,
            read.threads["main"],
        )
    for thread in others:
        await union.add(
            _COUNT
            + " AND thread_id <> 'main' AND thread_id = {1} AND stream_ordering > {2}"
            + _GROUP,
            room_id,
            thread,
            read.threads[thread],
        )
    not_in = ""
    if others:
        not_in = (
            " AND thread_id NOT IN ("
            + ", ".join(f"{{{i}}}" for i in range(2, 2 + len(others)))
            + ")"
        )
    if "main" in read.threads:
        rest = _COUNT + " AND +stream_ordering > {1} AND thread_id <> 'main'" + not_in + _GROUP
    else:
        rest = _COUNT + " AND stream_ordering > {1}" + not_in + _GROUP
    await union.add(rest, room_id, read.unthreaded, *others)


def _notification(row: Any, *, read: bool) -> NotificationRecord:
    """A ``_LISTED`` row as a notification."""
    return NotificationRecord(
        event_id=row["event_id"],
        room_id=row["room_id"],
        stream_ordering=int(row["stream_ordering"]),
        actions=json.loads(row["actions"]),
        ts=int(row["ts"]),
        highlight=bool(row["highlight"]),
        read=read,
    )


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
        pending = PendingPushActions(rows, thread_id, ts, read_by)
        async with self._db.transaction() as txn:
            await add_push_actions_txn(txn, event_id, room_id, pending, stream_ordering)

    async def get_unread_counts(
        self, user_id: str, room_ids: Sequence[str]
    ) -> dict[str, RoomCounts]:
        """The unread counts of ``user_id`` in each of ``room_ids`` (every room present).

        The read positions first, then only the rows above them, through the key's range
        (user_id, room_id, stream_ordering > position), or for a thread other than ``main``
        the threads' index: the cost follows what is unread, not the room's history."""
        result = {room_id: RoomCounts() for room_id in room_ids}
        read = await _read_upto(self._db, user_id, room_ids)
        union = _Union(self._db, user_id)
        for room_id in dict.fromkeys(room_ids):
            await _add_count_terms(union, room_id, read.get(room_id, _ReadUpto()))
        await union.flush()
        for row in union.rows:
            counts = Counts(int(row["notify_count"] or 0), int(row["highlight_count"] or 0))
            room = result[row["room_id"]]
            if row["thread_id"] == "main":
                room.main = counts
            else:
                room.threads[row["thread_id"]] = counts
        return result

    async def get_notifications_after(
        self, user_id: str, after: int, *, since_ts: int, limit: int
    ) -> list[NotificationRecord]:
        """The user's notifying rows above stream position ``after`` recorded at or after
        ``since_ts``, oldest first (``read`` is left False): what a pusher delivers when it
        catches up after a restart. Read once per pusher at start, it walks the user's part
        of the key (every room) rather than keeping an index on every send."""
        rows = await self._db.fetch(
            f"SELECT {_LISTED} FROM event_push_actions WHERE user_id = $1"
            " AND stream_ordering > $2 AND ts >= $3 AND notify = TRUE"
            " ORDER BY stream_ordering LIMIT $4",
            user_id,
            after,
            since_ts,
            limit,
        )
        return [_notification(row, read=False) for row in rows]

    async def get_notifications(
        self, user_id: str, *, before: int | None, limit: int, only_highlight: bool
    ) -> list[NotificationRecord]:
        """The user's notifications, newest first, with stream orderings below ``before``.

        No index on the user's rows in stream order is kept (it cost every send a page per
        member): the rooms the user has push actions in (a skip-scan over the key), then each
        room's newest rows below ``before`` through the key, merged. The read flags come from
        the read positions of the rooms listed, as the unread counts do."""
        if limit < 1:
            return []
        which = " AND notify = TRUE" + (" AND highlight = TRUE" if only_highlight else "")
        bound = before if before is not None else 2**62
        if self._db.engine == "postgres":
            found = await self._newest_lateral(user_id, bound, limit, which)
        else:
            found = await self._newest_by_floor(user_id, bound, limit, which)
        rows = sorted(found, key=lambda row: -int(row["stream_ordering"]))[:limit]
        read = await _read_upto(self._db, user_id, list({row["room_id"] for row in rows}))
        return [
            _notification(
                row,
                read=int(row["stream_ordering"])
                <= read.get(row["room_id"], _ReadUpto()).upto(row["thread_id"]),
            )
            for row in rows
        ]

    async def _newest_by_floor(self, user_id: str, bound: int, limit: int, which: str) -> list[Any]:
        """The position of each room's ``limit``-th newest row below ``bound``, walking the
        key; the answer lies at or above the highest of them: those rows, room by room."""
        rooms = [row["room_id"] for row in await self._db.fetch(_ROOMS_OF_USER, user_id)]
        deepest = _Union(self._db, user_id, outer="SELECT MAX(pos) AS pos FROM ({0}) AS d")
        for room_id in rooms:
            await deepest.add(
                "SELECT (SELECT stream_ordering FROM event_push_actions WHERE user_id = $1"
                f" AND room_id = {{0}} AND stream_ordering < {{1}}{which}"
                " ORDER BY stream_ordering DESC LIMIT 1 OFFSET {2}) AS pos",
                room_id,
                bound,
                limit - 1,
            )
        await deepest.flush()
        floor = max((int(row["pos"]) for row in deepest.rows if row["pos"] is not None), default=0)
        union = _Union(
            self._db,
            user_id,
            outer=f"SELECT * FROM ({{0}}) AS n ORDER BY stream_ordering DESC LIMIT {int(limit)}",
        )
        for room_id in rooms:
            await union.add(
                f"SELECT {_LISTED} FROM event_push_actions WHERE user_id = $1 AND room_id = {{0}}"
                f" AND stream_ordering >= {{1}} AND stream_ordering < {{2}}{which}",
                room_id,
                floor,
                bound,
            )
        await union.flush()
        return union.rows

    async def _newest_lateral(self, user_id: str, bound: int, limit: int, which: str) -> list[Any]:
        """ENGINE DIFFERENCE: PostgreSQL takes each room's newest ``limit`` rows in one
        statement (a lateral join on the rooms' skip-scan), cheaper there than many terms."""
        return await self._db.fetch(
            f"{_ROOMS_CTE} SELECT n.* FROM r CROSS JOIN LATERAL (SELECT {_LISTED}"
            " FROM event_push_actions WHERE user_id = $1 AND room_id = r.room_id"
            f" AND stream_ordering < $2{which} ORDER BY stream_ordering DESC LIMIT $3) AS n"
            " WHERE r.room_id IS NOT NULL ORDER BY n.stream_ordering DESC LIMIT $3",
            user_id,
            bound,
            limit,
        )
