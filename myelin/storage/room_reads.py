"""What the Client-Server room endpoints read and record beyond the event graph (spec:
Client-Server API, "Transaction identifiers", "Leaving rooms" (forget), "Room membership" and
``GET /timestamp_to_event``).
"""

from collections.abc import Sequence
from dataclasses import dataclass

from myelin.storage.database import Database, Transaction, chunks, in_list
from myelin.storage.errors import TxnIdUsedError

_VISIBLE = "outlier = FALSE AND rejected_reason IS NULL AND soft_failed = FALSE"


@dataclass(frozen=True)
class TxnRecord:
    room_id: str
    event_id: str


@dataclass(frozen=True)
class TxnIdKey:
    """A client transaction (spec: "Transaction identifiers"), to record with its event."""

    user_id: str
    device_id: str
    txn_id: str
    created_ts: int


async def record_txn_event_txn(
    txn: Transaction, key: TxnIdKey, room_id: str, event_id: str
) -> None:
    """Record in ``txn`` (the one persisting the event) that ``key`` created ``event_id``.

    Raise ``TxnIdUsedError`` when the transaction ID already created an event (the caller's
    transaction then rolls back: the retry must not make a second event)."""
    # Insert first: the common case (a new transaction ID) costs one statement. The loop
    # only repeats if the conflicting row was deleted (expired) between the two statements.
    while True:
        inserted = await txn.execute(
            "INSERT INTO event_txn_ids (user_id, device_id, txn_id, room_id, event_id,"
            " created_ts) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            key.user_id,
            key.device_id,
            key.txn_id,
            room_id,
            event_id,
            key.created_ts,
        )
        if inserted:
            return
        row = await txn.fetchrow(
            "SELECT room_id, event_id FROM event_txn_ids"
            " WHERE user_id = $1 AND device_id = $2 AND txn_id = $3",
            key.user_id,
            key.device_id,
            key.txn_id,
        )
        if row is not None:
            raise TxnIdUsedError(row["room_id"], row["event_id"])


@dataclass(frozen=True)
class EventPosition:
    event_id: str
    origin_server_ts: int
    stream_ordering: int


class RoomReadStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- transaction IDs -------------------------------------------------------------------

    async def get_txn_event(self, user_id: str, device_id: str, txn_id: str) -> TxnRecord | None:
        row = await self._db.fetchrow(
            "SELECT room_id, event_id FROM event_txn_ids"
            " WHERE user_id = $1 AND device_id = $2 AND txn_id = $3",
            user_id,
            device_id,
            txn_id,
        )
        return None if row is None else TxnRecord(row["room_id"], row["event_id"])

    async def store_txn_event(
        self,
        user_id: str,
        device_id: str,
        txn_id: str,
        *,
        room_id: str,
        event_id: str,
        created_ts: int,
    ) -> TxnRecord:
        """Record the event a transaction created; the first record wins and is returned."""
        await self._db.execute(
            "INSERT INTO event_txn_ids (user_id, device_id, txn_id, room_id, event_id,"
            " created_ts) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            user_id,
            device_id,
            txn_id,
            room_id,
            event_id,
            created_ts,
        )
        record = await self.get_txn_event(user_id, device_id, txn_id)
        return record if record is not None else TxnRecord(room_id, event_id)

    async def get_txn_ids(
        self, user_id: str, device_id: str, event_ids: Sequence[str]
    ) -> dict[str, str]:
        """The transaction IDs ``(user_id, device_id)`` sent any of ``event_ids`` with."""
        found: dict[str, str] = {}
        for part in chunks(list(dict.fromkeys(event_ids))):
            # By event ID only (an event has at most a row or two), the sender's device
            # checked here: with user_id and device_id in the WHERE clause SQLite walked every
            # transaction of the device through the primary key instead.
            rows = await self._db.fetch(
                "SELECT user_id, device_id, event_id, txn_id FROM event_txn_ids"
                f" WHERE event_id IN ({in_list(1, len(part))})",
                *part,
            )
            found.update(
                (row["event_id"], row["txn_id"])
                for row in rows
                if row["user_id"] == user_id and row["device_id"] == device_id
            )
        return found

    # -- forgotten rooms -------------------------------------------------------------------

    async def forget_room(self, user_id: str, room_id: str) -> None:
        await self._db.execute(
            "INSERT INTO room_forgotten (user_id, room_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            user_id,
            room_id,
        )

    async def unforget_room(self, user_id: str, room_id: str) -> None:
        await self._db.execute(
            "DELETE FROM room_forgotten WHERE user_id = $1 AND room_id = $2", user_id, room_id
        )

    async def is_forgotten(self, user_id: str, room_id: str) -> bool:
        value = await self._db.fetchval(
            "SELECT 1 FROM room_forgotten WHERE user_id = $1 AND room_id = $2", user_id, room_id
        )
        return value is not None

    # -- memberships over time -------------------------------------------------------------

    async def get_member_event_ids(self, room_id: str, user_id: str) -> list[tuple[str, int]]:
        """``user_id``'s member events in the room's timeline: (event ID, stream ordering)."""
        rows = await self._db.fetch(
            "SELECT event_id, stream_ordering FROM events WHERE room_id = $1"
            f" AND type = 'm.room.member' AND state_key = $2 AND {_VISIBLE}"
            " ORDER BY stream_ordering",
            room_id,
            user_id,
        )
        return [(row["event_id"], int(row["stream_ordering"])) for row in rows]

    async def count_members(self, room_id: str, membership: str = "join") -> int:
        value = await self._db.fetchval(
            "SELECT COUNT(*) FROM current_state_events WHERE room_id = $1"
            " AND type = 'm.room.member' AND membership = $2",
            room_id,
            membership,
        )
        return int(value or 0)

    # -- timestamps ------------------------------------------------------------------------

    async def event_at_timestamp(
        self, room_id: str, ts: int, forwards: bool
    ) -> EventPosition | None:
        """The timeline event closest to ``ts``: the first at or after it (``forwards``) or
        the last at or before it."""
        comparison, order = (">=", "ASC") if forwards else ("<=", "DESC")
        row = await self._db.fetchrow(
            "SELECT event_id, origin_server_ts, stream_ordering FROM events"
            f" WHERE room_id = $1 AND origin_server_ts {comparison} $2 AND {_VISIBLE}"
            f" ORDER BY origin_server_ts {order}, stream_ordering {order} LIMIT 1",
            room_id,
            ts,
        )
        if row is None:
            return None
        return EventPosition(
            row["event_id"], int(row["origin_server_ts"]), int(row["stream_ordering"])
        )

    async def get_room_ids(self) -> list[str]:
        rows = await self._db.fetch("SELECT room_id FROM rooms ORDER BY room_id")
        return [row["room_id"] for row in rows]
