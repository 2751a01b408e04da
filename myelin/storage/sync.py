"""Reads behind ``/sync`` (spec: Client-Server API, "Syncing"): a user's membership changes
between two stream positions, memberships as of a position, the room's last event at a
position (whose state is "the state at that position") and the members for room summaries.

Memberships are read from the events stream, not from the current state alone, so that one
``/sync`` answers consistently for its ``upto`` position even while new events land.
"""

from dataclasses import dataclass
from typing import Any

from myelin.storage.database import Database, Row
from myelin.storage.json_text import loads_exact

MEMBER = "m.room.member"
_VISIBLE = "outlier = FALSE AND rejected_reason IS NULL AND soft_failed = FALSE"
_VISIBLE_E = "e.outlier = FALSE AND e.rejected_reason IS NULL AND e.soft_failed = FALSE"


@dataclass(frozen=True)
class MemberChange:
    """One of a user's ``m.room.member`` events: where it is and the membership it sets."""

    room_id: str
    event_id: str
    stream_ordering: int
    membership: str


def _membership(text: str) -> str:
    content: Any = loads_exact(text).get("content")
    value = content.get("membership") if isinstance(content, dict) else None
    return value if isinstance(value, str) else "leave"


def _change(row: Row) -> MemberChange:
    return MemberChange(
        room_id=row["room_id"],
        event_id=row["event_id"],
        stream_ordering=int(row["stream_ordering"]),
        membership=_membership(row["event_json"]),
    )


class SyncStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def stream_positions(self) -> dict[str, int]:
        """The committed position of every stream kept in ``stream_positions`` (see
        ``storage.streams``), read at once: what each such stream's ``current_position`` is."""
        rows = await self._db.fetch("SELECT stream, pos FROM stream_positions")
        return {row["stream"]: int(row["pos"]) for row in rows}

    async def member_events_between(
        self, user_id: str, after: int, upto: int
    ) -> list[MemberChange]:
        """``user_id``'s member events with ``after < stream_ordering <= upto``, in order."""
        rows = await self._db.fetch(
            "SELECT room_id, event_id, stream_ordering, event_json FROM events"
            f" WHERE type = '{MEMBER}' AND state_key = $1 AND stream_ordering > $2"
            f" AND stream_ordering <= $3 AND {_VISIBLE} ORDER BY stream_ordering",
            user_id,
            after,
            upto,
        )
        return [_change(row) for row in rows]

    async def changes_between(
        self, user_id: str, room_ids: list[str], after: int, upto: int
    ) -> tuple[list[MemberChange], set[str]]:
        """In one read (for up to 500 rooms): ``member_events_between`` and
        ``rooms_changed_between(room_ids, ...)``."""
        head, rest = room_ids[:500], room_ids[500:]
        sql = (
            "SELECT room_id, event_id, stream_ordering, event_json FROM events"
            f" WHERE type = '{MEMBER}' AND state_key = $1 AND stream_ordering > $2"
            f" AND stream_ordering <= $3 AND {_VISIBLE}"
        )
        if head:
            placeholders = ", ".join(f"${i}" for i in range(4, 4 + len(head)))
            sql += (
                " UNION ALL SELECT DISTINCT e.room_id, CAST(NULL AS TEXT), CAST(NULL AS BIGINT),"
                " CAST(NULL AS TEXT) FROM events e"
                f" WHERE e.stream_ordering > $2 AND e.stream_ordering <= $3 AND {_VISIBLE_E}"
                f" AND e.room_id IN ({placeholders})"
            )
        rows = await self._db.fetch(sql, user_id, after, upto, *head)
        members = [_change(row) for row in rows if row["event_id"] is not None]
        members.sort(key=lambda change: change.stream_ordering)
        changed = {row["room_id"] for row in rows if row["event_id"] is None}
        if rest:
            changed |= await self.rooms_changed_between(rest, after, upto)
        return members, changed

    async def current_memberships(self, user_id: str) -> list[MemberChange]:
        """The user's member event in the current state of every room that has one (the
        membership from the current state's column: no event JSON parsed per room)."""
        rows = await self._db.fetch(
            "SELECT c.room_id, c.event_id, e.stream_ordering, c.membership"
            " FROM current_state_events c JOIN events e ON e.event_id = c.event_id"
            f" WHERE c.type = '{MEMBER}' AND c.state_key = $1 ORDER BY c.room_id",
            user_id,
        )
        return [
            MemberChange(
                room_id=row["room_id"],
                event_id=row["event_id"],
                stream_ordering=int(row["stream_ordering"]),
                # NULL when content.membership is not a string, which _membership reads so.
                membership="leave" if row["membership"] is None else row["membership"],
            )
            for row in rows
        ]

    async def membership_at(self, user_id: str, room_id: str, upto: int) -> MemberChange | None:
        """The user's last member event in the room at or before ``upto``."""
        row = await self._db.fetchrow(
            "SELECT room_id, event_id, stream_ordering, event_json FROM events"
            f" WHERE room_id = $1 AND type = '{MEMBER}' AND state_key = $2"
            f" AND stream_ordering <= $3 AND {_VISIBLE} ORDER BY stream_ordering DESC LIMIT 1",
            room_id,
            user_id,
            upto,
        )
        return None if row is None else _change(row)

    async def last_event_at(self, room_id: str, upto: int) -> str | None:
        """The room's last timeline event at or before ``upto`` (its state is the room's
        state at that position)."""
        value = await self._db.fetchval(
            "SELECT event_id FROM events WHERE room_id = $1 AND stream_ordering <= $2"
            f" AND {_VISIBLE} ORDER BY stream_ordering DESC LIMIT 1",
            room_id,
            upto,
        )
        return None if value is None else str(value)

    async def has_events_between(self, room_id: str, after: int, upto: int) -> bool:
        value = await self._db.fetchval(
            "SELECT 1 FROM events WHERE room_id = $1 AND stream_ordering > $2"
            f" AND stream_ordering <= $3 AND {_VISIBLE} LIMIT 1",
            room_id,
            after,
            upto,
        )
        return value is not None

    async def members_by_join_order(self, room_id: str) -> list[tuple[str, str]]:
        """(user ID, membership) of the room's current members, oldest member event first."""
        rows = await self._db.fetch(
            "SELECT c.state_key, c.membership FROM current_state_events c"
            " JOIN events e ON e.event_id = c.event_id"
            f" WHERE c.room_id = $1 AND c.type = '{MEMBER}'"
            " ORDER BY e.stream_ordering, c.state_key",
            room_id,
        )
        return [(row["state_key"], row["membership"] or "leave") for row in rows]

    async def rooms_changed_between(self, room_ids: list[str], after: int, upto: int) -> set[str]:
        """Which of ``room_ids`` have timeline events in ``(after, upto]``."""
        changed: set[str] = set()
        for start in range(0, len(room_ids), 500):
            part = room_ids[start : start + 500]
            placeholders = ", ".join(f"${i}" for i in range(3, 3 + len(part)))
            rows = await self._db.fetch(
                "SELECT DISTINCT e.room_id FROM events e WHERE e.stream_ordering > $1"
                f" AND e.stream_ordering <= $2 AND {_VISIBLE_E}"
                f" AND e.room_id IN ({placeholders})",
                after,
                upto,
                *part,
            )
            changed.update(row["room_id"] for row in rows)
        return changed
