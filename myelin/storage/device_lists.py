"""The device list stream (spec: Client-Server API, "End-to-End Encryption": "Tracking the
device list for a user", ``device_lists`` of ``/sync`` and ``GET /keys/changes``).

One position of the ``device_lists`` stream per change: a user's devices or keys changed
(``device_list_changes``), or a user's membership of a room changed
(``device_list_memberships``: who starts or stops sharing rooms with whom).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from myelin.storage.database import Database, chunks, in_list
from myelin.storage.json_text import loads_exact
from myelin.storage.streams import current_position, next_position

DEVICE_LISTS_STREAM = "device_lists"


@dataclass(frozen=True)
class MembershipChange:
    stream_id: int
    room_id: str
    user_id: str
    membership: str


class DeviceListStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def current_position(self) -> int:
        return await current_position(self._db, DEVICE_LISTS_STREAM)

    async def add_device_list_change(self, user_id: str) -> int:
        """Record that ``user_id``'s devices or keys changed; return the new position."""
        async with self._db.transaction() as txn:
            position = await next_position(txn, DEVICE_LISTS_STREAM)
            await txn.execute(
                "INSERT INTO device_list_changes (stream_id, user_id) VALUES ($1, $2)",
                position,
                user_id,
            )
        return position

    async def add_membership_change(self, room_id: str, user_id: str, membership: str) -> int:
        async with self._db.transaction() as txn:
            position = await next_position(txn, DEVICE_LISTS_STREAM)
            await txn.execute(
                "INSERT INTO device_list_memberships (stream_id, room_id, user_id, membership)"
                " VALUES ($1, $2, $3, $4)",
                position,
                room_id,
                user_id,
                membership,
            )
        return position

    async def users_changed(self, user_ids: Sequence[str], after: int, upto: int) -> set[str]:
        """Those of ``user_ids`` whose devices changed in ``(after, upto]``."""
        found: set[str] = set()
        for part in chunks(list(user_ids)):
            rows = await self._db.fetch(
                "SELECT DISTINCT user_id FROM device_list_changes"
                " WHERE stream_id > $1 AND stream_id <= $2"
                f" AND user_id IN ({in_list(3, len(part))})",
                after,
                upto,
                *part,
            )
            found.update(row["user_id"] for row in rows)
        return found

    async def membership_changes(self, after: int, upto: int) -> list[MembershipChange]:
        """Membership changes in ``(after, upto]``, in stream order."""
        rows = await self._db.fetch(
            "SELECT stream_id, room_id, user_id, membership FROM device_list_memberships"
            " WHERE stream_id > $1 AND stream_id <= $2 ORDER BY stream_id",
            after,
            upto,
        )
        return [
            MembershipChange(
                int(row["stream_id"]), row["room_id"], row["user_id"], row["membership"]
            )
            for row in rows
        ]

    async def users_sharing_rooms(self, user_id: str) -> set[str]:
        """Users joined to at least one room ``user_id`` is joined to (``user_id`` included
        when joined to any room)."""
        rows = await self._db.fetch(
            "SELECT DISTINCT b.state_key AS user_id FROM current_state_events a"
            " JOIN current_state_events b ON b.room_id = a.room_id"
            " WHERE a.type = 'm.room.member' AND a.state_key = $1 AND a.membership = 'join'"
            " AND b.type = 'm.room.member' AND b.membership = 'join'",
            user_id,
        )
        return {row["user_id"] for row in rows}

    async def joined_members(self, room_id: str) -> set[str]:
        rows = await self._db.fetch(
            "SELECT state_key FROM current_state_events WHERE room_id = $1"
            " AND type = 'm.room.member' AND membership = 'join'",
            room_id,
        )
        return {row["state_key"] for row in rows}

    async def rooms_of(self, user_id: str) -> set[str]:
        """Rooms ``user_id`` is joined to now."""
        rows = await self._db.fetch(
            "SELECT room_id FROM current_state_events WHERE type = 'm.room.member'"
            " AND state_key = $1 AND membership = 'join'",
            user_id,
        )
        return {row["room_id"] for row in rows}

    async def membership_event_at(self, stream_ordering: int) -> tuple[str, str, str] | None:
        """(room_id, user_id, membership) of the member event at ``stream_ordering``."""
        row = await self._db.fetchrow(
            "SELECT room_id, state_key, event_json FROM events"
            " WHERE stream_ordering = $1 AND type = 'm.room.member' AND NOT outlier"
            " AND rejected_reason IS NULL",
            stream_ordering,
        )
        if row is None or row["state_key"] is None:
            return None
        content: Any = loads_exact(row["event_json"]).get("content")
        membership = content.get("membership") if isinstance(content, dict) else None
        if not isinstance(membership, str):
            return None
        return row["room_id"], row["state_key"], membership

    async def last_membership(self, room_id: str, user_id: str) -> str | None:
        """The membership last recorded in the stream for ``user_id`` in ``room_id``."""
        value = await self._db.fetchval(
            "SELECT membership FROM device_list_memberships WHERE room_id = $1 AND user_id = $2"
            " ORDER BY stream_id DESC LIMIT 1",
            room_id,
            user_id,
        )
        return None if value is None else str(value)

    async def last_device_change(self, user_id: str) -> int | None:
        """The position of ``user_id``'s latest device or key change, if any (the
        ``stream_id`` of ``GET /user/devices`` and the ``prev_id`` of the next update)."""
        value = await self._db.fetchval(
            "SELECT MAX(stream_id) FROM device_list_changes WHERE user_id = $1", user_id
        )
        return None if value is None else int(value)
