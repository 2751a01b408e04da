"""User directory (spec: Client-Server API, "User directory").

A search considers the users visible to the requester: those sharing a room with them and
those joined to rooms with a ``public`` join rule or ``world_readable`` history visibility.
Local users are shown with their global profile, remote users with the profile of their
member event. A user matches when every word of the search term is a prefix of a word of
their user ID or display name, case-insensitively (as Synapse's search does). Results are
ranked: display name or localpart starting with the whole term first, then users with profile
information, then by user ID.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from myelin.storage.user_directory import MemberProfile
from myelin.storage.users import ProfileRecord, UserRecord

DEFAULT_LIMIT = 10
MAX_LIMIT = 1000
_WORD = re.compile(r"[\w]+", re.UNICODE)

JsonDict = dict[str, Any]


class DirectoryStorage(Protocol):
    async def rooms_of(self, user_id: str) -> list[str]: ...

    async def visible_rooms(self) -> list[str]: ...

    async def joined_member_profiles(self, room_ids: Sequence[str]) -> list[MemberProfile]: ...


class ProfileReader(Protocol):
    async def get_profile(self, user_id: str) -> ProfileRecord | None: ...

    async def get_user(self, user_id: str) -> UserRecord | None: ...


@dataclass(frozen=True)
class DirectoryEntry:
    user_id: str
    display_name: str | None
    avatar_url: str | None

    def to_json(self) -> JsonDict:
        body: JsonDict = {"user_id": self.user_id}
        if self.display_name is not None:
            body["display_name"] = self.display_name
        if self.avatar_url is not None:
            body["avatar_url"] = self.avatar_url
        return body


def _words(text: str) -> list[str]:
    return [w.casefold() for w in _WORD.findall(text)]


def matches(term: str, entry: DirectoryEntry) -> bool:
    """Every word of ``term`` is a prefix of a word of the user ID or display name."""
    wanted = _words(term)
    if not wanted:
        return False
    words = _words(entry.user_id) + _words(entry.display_name or "")
    return all(any(word.startswith(w) for word in words) for w in wanted)


def _rank(term: str, entry: DirectoryEntry) -> tuple[int, int, str]:
    folded = term.strip().casefold().lstrip("@")
    localpart = entry.user_id[1:].split(":", 1)[0].casefold()
    name = (entry.display_name or "").casefold()
    whole = 0 if name.startswith(folded) or localpart.startswith(folded) else 1
    has_profile = 0 if entry.display_name or entry.avatar_url else 1
    return whole, has_profile, entry.user_id


class UserDirectoryService:
    def __init__(self, server_name: str, store: DirectoryStorage, profiles: ProfileReader) -> None:
        self._suffix = ":" + server_name
        self._store = store
        self._profiles = profiles

    async def search(self, requester: str, term: str, limit: int) -> JsonDict:
        """``POST /user_directory/search``: ``{"results": [...], "limited": bool}``."""
        rooms = set(await self._store.rooms_of(requester)) | set(await self._store.visible_rooms())
        candidates: dict[str, DirectoryEntry] = {}
        for member in await self._store.joined_member_profiles(sorted(rooms)):
            known = candidates.get(member.user_id)
            if known is None or (known.display_name is None and member.display_name is not None):
                candidates[member.user_id] = DirectoryEntry(
                    member.user_id, member.display_name, member.avatar_url
                )
        found: list[DirectoryEntry] = []
        for user_id, member_entry in candidates.items():
            entry = member_entry
            if user_id.endswith(self._suffix):
                user = await self._profiles.get_user(user_id)
                if user is None or user.deactivated:
                    continue
                profile = await self._profiles.get_profile(user_id)
                if profile is not None:
                    entry = DirectoryEntry(user_id, profile.displayname, profile.avatar_url)
            if matches(term, entry):
                found.append(entry)
        found.sort(key=lambda e: _rank(term, e))
        return {
            "results": [e.to_json() for e in found[:limit]],
            "limited": len(found) > limit,
        }
