"""Rooms known to the server, their aliases, the public room directory, and room purge (spec:
Client-Server API, "Room aliases" and "Listing rooms"; Synapse's admin API "Delete room" for
purge).
"""

from dataclasses import dataclass

from myelin.storage.caches import caches_of
from myelin.storage.database import Database, Row
from myelin.storage.errors import RoomAliasExistsError


@dataclass(frozen=True)
class RoomRecord:
    room_id: str
    room_version: str
    creator: str | None
    is_public: bool
    created_ts: int


@dataclass(frozen=True)
class AliasRecord:
    room_alias: str
    room_id: str
    creator: str
    created_ts: int


def _room(row: Row) -> RoomRecord:
    return RoomRecord(
        room_id=row["room_id"],
        room_version=row["room_version"],
        creator=row["creator"],
        is_public=bool(row["is_public"]),
        created_ts=int(row["created_ts"]),
    )


_ROOM_COLUMNS = "room_id, room_version, creator, is_public, created_ts"


class RoomStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def store_room(
        self,
        room_id: str,
        room_version: str,
        *,
        creator: str | None,
        created_ts: int,
        is_public: bool = False,
    ) -> bool:
        """Record the room; False (and no change) if it is already known."""
        count = await self._db.execute(
            "INSERT INTO rooms (room_id, room_version, creator, is_public, created_ts)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (room_id) DO NOTHING",
            room_id,
            room_version,
            creator,
            is_public,
            created_ts,
        )
        return count > 0

    async def get_room(self, room_id: str) -> RoomRecord | None:
        row = await self._db.fetchrow(
            f"SELECT {_ROOM_COLUMNS} FROM rooms WHERE room_id = $1", room_id
        )
        return None if row is None else _room(row)

    async def get_room_version(self, room_id: str) -> str | None:
        """The room's version (cached: it is fixed when the room is stored; a purge forgets)."""
        caches = caches_of(self._db)
        version = caches.room_versions.get(room_id)
        if version is not None:
            return version
        row = await self._db.fetchrow("SELECT room_version FROM rooms WHERE room_id = $1", room_id)
        if row is None:
            return None
        version = str(row["room_version"])
        caches.room_versions.put(room_id, version)
        return version

    async def set_room_public(self, room_id: str, is_public: bool) -> bool:
        count = await self._db.execute(
            "UPDATE rooms SET is_public = $2 WHERE room_id = $1", room_id, is_public
        )
        return count > 0

    async def list_public_rooms(self, *, limit: int = 100, after: str = "") -> list[RoomRecord]:
        rows = await self._db.fetch(
            f"SELECT {_ROOM_COLUMNS} FROM rooms WHERE is_public = TRUE AND room_id > $1"
            " ORDER BY room_id LIMIT $2",
            after,
            limit,
        )
        return [_room(row) for row in rows]

    async def create_alias(
        self, room_alias: str, room_id: str, *, creator: str, created_ts: int
    ) -> None:
        """Map ``room_alias`` to ``room_id``; raises ``RoomAliasExistsError`` if it is taken."""
        count = await self._db.execute(
            "INSERT INTO room_aliases (room_alias, room_id, creator, created_ts)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (room_alias) DO NOTHING",
            room_alias,
            room_id,
            creator,
            created_ts,
        )
        if count == 0:
            raise RoomAliasExistsError(f"room alias {room_alias} already exists")

    async def get_alias(self, room_alias: str) -> AliasRecord | None:
        row = await self._db.fetchrow(
            "SELECT room_alias, room_id, creator, created_ts FROM room_aliases"
            " WHERE room_alias = $1",
            room_alias,
        )
        if row is None:
            return None
        return AliasRecord(
            row["room_alias"], row["room_id"], row["creator"], int(row["created_ts"])
        )

    async def delete_alias(self, room_alias: str) -> bool:
        count = await self._db.execute("DELETE FROM room_aliases WHERE room_alias = $1", room_alias)
        return count > 0

    async def get_aliases_for_room(self, room_id: str) -> list[str]:
        rows = await self._db.fetch(
            "SELECT room_alias FROM room_aliases WHERE room_id = $1 ORDER BY room_alias", room_id
        )
        return [row["room_alias"] for row in rows]

    async def purge_room(self, room_id: str) -> int:
        """Delete every row the server holds about the room; return how many events went.

        Edges, extremities and event -> state group rows go with their events (ON DELETE
        CASCADE); delta rows go with their state groups. Interned state keys are shared by
        all rooms and stay. Stream positions are never reused.
        """
        async with self._db.transaction() as txn:
            events = await txn.execute("DELETE FROM events WHERE room_id = $1", room_id)
            await txn.execute("DELETE FROM forward_extremities WHERE room_id = $1", room_id)
            await txn.execute("DELETE FROM current_state_events WHERE room_id = $1", room_id)
            await txn.execute("DELETE FROM room_current_state WHERE room_id = $1", room_id)
            await txn.execute("DELETE FROM state_groups WHERE room_id = $1", room_id)
            await txn.execute("DELETE FROM room_aliases WHERE room_id = $1", room_id)
            await txn.execute("DELETE FROM event_push_actions WHERE room_id = $1", room_id)
            await txn.execute("DELETE FROM implicit_reads WHERE room_id = $1", room_id)
            await txn.execute("DELETE FROM rooms WHERE room_id = $1", room_id)
        caches_of(self._db).forget_room()
        return events
