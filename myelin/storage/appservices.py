"""Application service queues and directories (spec: Application Service API, "Pushing events",
and Client-Server API, "Published room directories" of application services).

Each application service has a position in the event stream: the events after it have not been
put into a transaction yet. Building a transaction stores its body and moves the position in one
database transaction, so after a restart nothing is lost and nothing is built twice; a stored
transaction is deleted only when the application service acknowledged it, and its body never
changes between retries (the spec forbids altering a transaction on retry).
"""

from dataclasses import dataclass

from myelin.storage.database import Database
from myelin.storage.streams import current_position

# An event hidden from room timelines: outliers, rejected and soft-failed events.
_VISIBLE = "outlier = FALSE AND rejected_reason IS NULL AND soft_failed = FALSE"


@dataclass(frozen=True)
class StreamState:
    """Where an application service is in the event stream, and its next transaction ID."""

    position: int
    next_txn_id: int


@dataclass(frozen=True)
class PendingTransaction:
    txn_id: int
    body: str


@dataclass(frozen=True)
class ListedRoom:
    appservice_id: str
    network_id: str
    room_id: str


class AppserviceStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def current_event_position(self) -> int:
        """The stream position up to which every event is committed."""
        return await current_position(self._db)

    async def get_stream_state(self, appservice_id: str) -> StreamState | None:
        row = await self._db.fetchrow(
            "SELECT stream_position, next_txn_id FROM appservice_stream WHERE appservice_id = $1",
            appservice_id,
        )
        if row is None:
            return None
        return StreamState(int(row["stream_position"]), int(row["next_txn_id"]))

    async def start_stream(self, appservice_id: str, position: int) -> StreamState:
        """The appservice's stream state, starting at ``position`` when it has none yet."""
        await self._db.execute(
            "INSERT INTO appservice_stream (appservice_id, stream_position, next_txn_id)"
            " VALUES ($1, $2, 1) ON CONFLICT (appservice_id) DO NOTHING",
            appservice_id,
            position,
        )
        state = await self.get_stream_state(appservice_id)
        assert state is not None
        return state

    async def event_ids_after(self, position: int, upto: int, limit: int) -> list[tuple[str, int]]:
        """(event ID, stream ordering) of timeline events in ``(position, upto]``, in order."""
        rows = await self._db.fetch(
            "SELECT event_id, stream_ordering FROM events WHERE stream_ordering > $1"
            f" AND stream_ordering <= $2 AND {_VISIBLE} ORDER BY stream_ordering LIMIT $3",
            position,
            upto,
            limit,
        )
        return [(row["event_id"], int(row["stream_ordering"])) for row in rows]

    async def advance(self, appservice_id: str, position: int) -> None:
        """Move the position without building a transaction (nothing of interest)."""
        await self._db.execute(
            "UPDATE appservice_stream SET stream_position = $2"
            " WHERE appservice_id = $1 AND stream_position < $2",
            appservice_id,
            position,
        )

    async def add_transaction(
        self, appservice_id: str, body: str, position: int, created_ts: int
    ) -> int:
        """Store a transaction and move the position to ``position`` atomically; its ID."""
        async with self._db.transaction() as txn:
            txn_id = await txn.fetchval(
                "UPDATE appservice_stream SET next_txn_id = next_txn_id + 1,"
                " stream_position = CASE WHEN stream_position < $2 THEN $2"
                " ELSE stream_position END"
                " WHERE appservice_id = $1 RETURNING next_txn_id - 1",
                appservice_id,
                position,
            )
            if txn_id is None:
                raise LookupError(f"no stream state for application service {appservice_id}")
            await txn.execute(
                "INSERT INTO appservice_txns (appservice_id, txn_id, body, created_ts)"
                " VALUES ($1, $2, $3, $4)",
                appservice_id,
                int(txn_id),
                body,
                created_ts,
            )
        return int(txn_id)

    async def oldest_transaction(self, appservice_id: str) -> PendingTransaction | None:
        row = await self._db.fetchrow(
            "SELECT txn_id, body FROM appservice_txns WHERE appservice_id = $1"
            " ORDER BY txn_id LIMIT 1",
            appservice_id,
        )
        return None if row is None else PendingTransaction(int(row["txn_id"]), row["body"])

    async def count_transactions(self, appservice_id: str) -> int:
        value = await self._db.fetchval(
            "SELECT COUNT(*) FROM appservice_txns WHERE appservice_id = $1", appservice_id
        )
        return int(value or 0)

    async def delete_transaction(self, appservice_id: str, txn_id: int) -> None:
        await self._db.execute(
            "DELETE FROM appservice_txns WHERE appservice_id = $1 AND txn_id = $2",
            appservice_id,
            txn_id,
        )

    # ---- published room directories of application services ----------------------------

    async def set_room_listed(
        self, appservice_id: str, network_id: str, room_id: str, listed: bool
    ) -> None:
        if listed:
            await self._db.execute(
                "INSERT INTO appservice_room_list (appservice_id, network_id, room_id)"
                " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                appservice_id,
                network_id,
                room_id,
            )
        else:
            await self._db.execute(
                "DELETE FROM appservice_room_list"
                " WHERE appservice_id = $1 AND network_id = $2 AND room_id = $3",
                appservice_id,
                network_id,
                room_id,
            )

    async def listed_rooms(
        self, appservice_id: str | None = None, network_id: str | None = None
    ) -> list[ListedRoom]:
        """The published rooms, of one application service and network when given."""
        clauses: list[str] = []
        args: list[str] = []
        for column, value in (("appservice_id", appservice_id), ("network_id", network_id)):
            if value is not None:
                args.append(value)
                clauses.append(f"{column} = ${len(args)}")
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = await self._db.fetch(
            "SELECT appservice_id, network_id, room_id FROM appservice_room_list"
            f"{where} ORDER BY appservice_id, network_id, room_id",
            *args,
        )
        return [ListedRoom(r["appservice_id"], r["network_id"], r["room_id"]) for r in rows]
