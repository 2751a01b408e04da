"""Who can see whom (spec: Client-Server API, "User directory" and "Presence"): users sharing a
room, rooms visible to everyone (``public`` join rule or ``world_readable`` history), and the
profiles members have in their rooms.

Everything is read from the rooms' current state; nothing here is kept up to date separately.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from myelin.storage.database import Database, chunks, in_list
from myelin.storage.json_text import loads_exact

_JOINED = "type = 'm.room.member' AND membership = 'join'"


@dataclass(frozen=True)
class MemberProfile:
    user_id: str
    room_id: str
    display_name: str | None
    avatar_url: str | None


class UserDirectoryStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def share_a_room(self, user_a: str, user_b: str) -> bool:
        """Whether both users are joined to at least one common room."""
        value = await self._db.fetchval(
            "SELECT 1 FROM current_state_events a JOIN current_state_events b"
            " ON a.room_id = b.room_id"
            " WHERE a.type = 'm.room.member' AND a.membership = 'join' AND a.state_key = $1"
            " AND b.type = 'm.room.member' AND b.membership = 'join' AND b.state_key = $2"
            " LIMIT 1",
            user_a,
            user_b,
        )
        return value is not None

    async def users_sharing_rooms(self, user_id: str) -> list[str]:
        """Everyone joined to a room ``user_id`` is joined to (``user_id`` included)."""
        rows = await self._db.fetch(
            "SELECT DISTINCT b.state_key FROM current_state_events a"
            " JOIN current_state_events b ON a.room_id = b.room_id"
            " WHERE a.type = 'm.room.member' AND a.membership = 'join' AND a.state_key = $1"
            " AND b.type = 'm.room.member' AND b.membership = 'join' ORDER BY b.state_key",
            user_id,
        )
        return [row["state_key"] for row in rows]

    async def visible_rooms(self) -> list[str]:
        """Rooms with a ``public`` join rule or ``world_readable`` history visibility."""
        rows = await self._db.fetch(
            "SELECT c.room_id, c.type, e.event_json FROM current_state_events c"
            " JOIN events e ON e.event_id = c.event_id"
            " WHERE c.state_key = '' AND c.type IN"
            " ('m.room.join_rules', 'm.room.history_visibility')"
        )
        found: set[str] = set()
        for row in rows:
            content = loads_exact(row["event_json"]).get("content")
            if not isinstance(content, dict):
                continue
            if row["type"] == "m.room.join_rules" and content.get("join_rule") == "public":
                found.add(row["room_id"])
            if (
                row["type"] == "m.room.history_visibility"
                and content.get("history_visibility") == "world_readable"
            ):
                found.add(row["room_id"])
        return sorted(found)

    async def rooms_of(self, user_id: str) -> list[str]:
        rows = await self._db.fetch(
            f"SELECT room_id FROM current_state_events WHERE {_JOINED} AND state_key = $1",
            user_id,
        )
        return [row["room_id"] for row in rows]

    async def joined_member_profiles(self, room_ids: Sequence[str]) -> list[MemberProfile]:
        """The joined members of ``room_ids`` with the profile of their member event."""
        found: list[MemberProfile] = []
        for part in chunks(list(dict.fromkeys(room_ids))):
            rows = await self._db.fetch(
                "SELECT c.room_id, c.state_key, e.event_json FROM current_state_events c"
                " JOIN events e ON e.event_id = c.event_id"
                " WHERE c.type = 'm.room.member' AND c.membership = 'join'"
                f" AND c.room_id IN ({in_list(1, len(part))})",
                *part,
            )
            for row in rows:
                content = loads_exact(row["event_json"]).get("content")
                content = content if isinstance(content, dict) else {}
                name = content.get("displayname")
                avatar = content.get("avatar_url")
                found.append(
                    MemberProfile(
                        user_id=row["state_key"],
                        room_id=row["room_id"],
                        display_name=name if isinstance(name, str) else None,
                        avatar_url=avatar if isinstance(avatar, str) else None,
                    )
                )
        return found
