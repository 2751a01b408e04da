"""Federation bookkeeping of the room side (spec: Server-Server API, "Transactions": a
transaction ID is unique per origin and destination, and a retried transaction must not be
processed twice; the outbound queue is server internals).

``ReceivedTransactionStore`` remembers the responses of processed inbound transactions.
``OutboxStore`` is the durable outbound queue: one row per PDU or EDU waiting for a
destination, deleted once a transaction carrying it succeeded.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from myelin.storage.caches import caches_of
from myelin.storage.database import Database, chunks, in_list
from myelin.storage.streams import next_position

OUTBOX_STREAM = "federation_outbox"


@dataclass(frozen=True)
class OutboxItem:
    """One queued item: a PDU (``event_id``) or an EDU (``edu_json``, its JSON text)."""

    id: int
    destination: str
    event_id: str | None
    edu_json: str | None
    queued_ts: int


class ReceivedTransactionStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get_response(self, origin: str, txn_id: str) -> str | None:
        """The JSON response given to ``origin``'s transaction ``txn_id``, if processed."""
        value = await self._db.fetchval(
            "SELECT response_json FROM received_transactions WHERE origin = $1 AND txn_id = $2",
            origin,
            txn_id,
        )
        return None if value is None else str(value)

    async def store_response(
        self, origin: str, txn_id: str, response_json: str, received_ts: int
    ) -> None:
        await self._db.execute(
            "INSERT INTO received_transactions (origin, txn_id, response_json, received_ts)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (origin, txn_id) DO NOTHING",
            origin,
            txn_id,
            response_json,
            received_ts,
        )

    async def purge_older_than(self, ts: int) -> int:
        return await self._db.execute(
            "DELETE FROM received_transactions WHERE received_ts < $1", ts
        )


class OutboxStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def enqueue(
        self,
        destinations: Sequence[str],
        *,
        event_id: str | None = None,
        edu_json: str | None = None,
        queued_ts: int,
    ) -> list[int]:
        """Queue one PDU or EDU for each of ``destinations``; return the new ids."""
        if (event_id is None) == (edu_json is None):
            raise ValueError("queue either an event_id or an edu_json")
        ids: list[int] = []
        async with self._db.transaction() as txn:
            for destination in dict.fromkeys(destinations):
                item_id = await next_position(txn, OUTBOX_STREAM)
                await txn.execute(
                    "INSERT INTO federation_outbox (id, destination, event_id, edu_json,"
                    " queued_ts) VALUES ($1, $2, $3, $4, $5)",
                    item_id,
                    destination,
                    event_id,
                    edu_json,
                    queued_ts,
                )
                ids.append(item_id)
        return ids

    async def pending(self, destination: str, *, limit: int = 500) -> list[OutboxItem]:
        """The oldest items queued for ``destination``, in queue order."""
        rows = await self._db.fetch(
            "SELECT id, destination, event_id, edu_json, queued_ts FROM federation_outbox"
            " WHERE destination = $1 ORDER BY id LIMIT $2",
            destination,
            limit,
        )
        return [
            OutboxItem(
                int(r["id"]), r["destination"], r["event_id"], r["edu_json"], int(r["queued_ts"])
            )
            for r in rows
        ]

    async def destinations_with_pending(self) -> list[str]:
        rows = await self._db.fetch(
            "SELECT DISTINCT destination FROM federation_outbox ORDER BY destination"
        )
        return [row["destination"] for row in rows]

    async def remove(self, destination: str, ids: Sequence[int]) -> None:
        """Forget items a destination acknowledged."""
        async with self._db.transaction() as txn:
            for part in chunks(list(ids)):
                await txn.execute(
                    "DELETE FROM federation_outbox WHERE destination = $1"
                    f" AND id IN ({in_list(2, len(part))})",
                    destination,
                    *part,
                )

    async def count(self, destination: str) -> int:
        value = await self._db.fetchval(
            "SELECT COUNT(*) FROM federation_outbox WHERE destination = $1", destination
        )
        return int(value or 0)

    async def next_txn_id(self, destination: str) -> int:
        """A transaction number never used before for ``destination`` (survives restarts)."""
        async with self._db.transaction() as txn:
            await txn.execute(
                "INSERT INTO federation_destinations (destination, last_txn_id) VALUES ($1, 0)"
                " ON CONFLICT (destination) DO NOTHING",
                destination,
            )
            value = await txn.fetchval(
                "UPDATE federation_destinations SET last_txn_id = last_txn_id + 1"
                " WHERE destination = $1 RETURNING last_txn_id",
                destination,
            )
        return int(value)


class ForwardExtremityStore:
    """Forward extremities this server must forget when it is not (or no longer) in a room:
    an out-of-band membership (an invite, knock or rejection received or made without the
    room's DAG) is no extremity, and a server re-joining a room over federation builds on the
    events the resident server gave, not on stale ones of a past membership."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def clear(self, room_id: str) -> None:
        await self._db.execute("DELETE FROM forward_extremities WHERE room_id = $1", room_id)
        caches_of(self._db).forget_extremities(room_id)

    async def drop(self, room_id: str, event_id: str) -> None:
        await self._db.execute(
            "DELETE FROM forward_extremities WHERE room_id = $1 AND event_id = $2",
            room_id,
            event_id,
        )
        caches_of(self._db).forget_extremities(room_id)
