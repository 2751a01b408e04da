"""Profiles (spec: Client-Server API, "Profiles", including the extensible profile fields of
v1.16 and "Events on Change of Profile Information").

``displayname`` and ``avatar_url`` are columns of the user; ``m.tz`` and custom fields (common
namespaced identifiers) are rows of their own. The whole profile must stay under 64 KiB as
canonical JSON and a key under 255 bytes. A change of display name or avatar is propagated into
the user's ``m.room.member`` event of every room they are joined to.
"""

import logging
import re
from collections.abc import Mapping
from typing import Any, Protocol

from myelin.core.canonical_json import encode_canonical_json
from myelin.core.identifiers import UserID, server_name_of
from myelin.services.errors import MatrixError
from myelin.storage import ProfileRecord, StoredEvent, UserRecord

logger = logging.getLogger(__name__)

DISPLAYNAME = "displayname"
AVATAR_URL = "avatar_url"
TIMEZONE = "m.tz"
# The keyName grammar of the spec (profile.yaml).
KEY_NAME = re.compile(r"^(avatar_url|displayname|m\.tz|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+)$")
MAX_KEY_BYTES = 255
MAX_PROFILE_BYTES = 64 * 1024
# Synapse's limits on the two classic fields.
MAX_DISPLAYNAME_LENGTH = 256
MAX_AVATAR_URL_LENGTH = 1000
_MXC = re.compile(r"^mxc://[^/]+/[^/]+$")


class UserProfileStore(Protocol):
    async def get_user(self, user_id: str) -> UserRecord | None: ...

    async def get_profile(self, user_id: str) -> ProfileRecord | None: ...

    async def set_displayname(self, user_id: str, displayname: str | None) -> bool: ...

    async def set_avatar_url(self, user_id: str, avatar_url: str | None) -> bool: ...


class ProfileFieldStore(Protocol):
    async def get_fields(self, user_id: str) -> dict[str, Any]: ...

    async def set_field(self, user_id: str, name: str, value: Any) -> None: ...

    async def delete_field(self, user_id: str, name: str) -> bool: ...

    async def delete_all(self, user_id: str) -> int: ...


class ProfilePropagator(Protocol):
    async def propagate(
        self, user_id: str, displayname: str | None, avatar_url: str | None
    ) -> None:
        """Bring the user's member events in line with their profile."""
        ...


def check_key_name(key: str) -> None:
    """``M_KEY_TOO_LARGE`` or ``M_INVALID_PARAM`` (400) for a key the spec does not allow."""
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise MatrixError(400, "M_KEY_TOO_LARGE", f"Profile keys are at most {MAX_KEY_BYTES} bytes")
    if not KEY_NAME.match(key):
        raise MatrixError(400, "M_INVALID_PARAM", f"Invalid profile key {key!r}")


def check_value(key: str, value: Any) -> Any:
    """The value to store for ``key``; ``""`` clears the classic fields (Synapse's behaviour)."""
    if key == DISPLAYNAME:
        if not isinstance(value, str):
            raise MatrixError(400, "M_BAD_JSON", "displayname must be a string")
        if len(value) > MAX_DISPLAYNAME_LENGTH:
            raise MatrixError(
                400, "M_INVALID_PARAM", f"displayname is at most {MAX_DISPLAYNAME_LENGTH} long"
            )
    elif key == AVATAR_URL:
        if not isinstance(value, str):
            raise MatrixError(400, "M_BAD_JSON", "avatar_url must be a string")
        if len(value) > MAX_AVATAR_URL_LENGTH:
            raise MatrixError(
                400, "M_INVALID_PARAM", f"avatar_url is at most {MAX_AVATAR_URL_LENGTH} long"
            )
        if value and not _MXC.match(value):
            raise MatrixError(400, "M_INVALID_PARAM", "avatar_url must be an mxc:// URI")
    elif key == TIMEZONE and not isinstance(value, str):
        raise MatrixError(400, "M_BAD_JSON", "m.tz must be a string")
    return value


class ProfileService:
    """Reads and edits local users' profiles."""

    def __init__(
        self,
        server_name: str,
        users: UserProfileStore,
        fields: ProfileFieldStore,
        propagator: ProfilePropagator | None = None,
    ) -> None:
        self._server_name = server_name
        self._users = users
        self._fields = fields
        self._propagator = propagator

    async def get_profile(self, user_id: str) -> dict[str, Any]:
        """The whole profile; 404 ``M_NOT_FOUND`` for unknown (and for remote) users."""
        self._check_user_id(user_id)
        if server_name_of(user_id) != self._server_name:
            # Remote profiles need a federation query, which this server cannot make yet.
            raise MatrixError(404, "M_NOT_FOUND", "Profile not found")
        user = await self._users.get_user(user_id)
        if user is None:
            raise MatrixError(404, "M_NOT_FOUND", "Profile not found")
        return await self._profile(user_id)

    async def get_field(self, user_id: str, key: str) -> Any:
        check_key_name(key)
        profile = await self.get_profile(user_id)
        if key not in profile:
            raise MatrixError(404, "M_NOT_FOUND", f"No profile field {key}")
        return profile[key]

    async def set_field(self, requester: str, user_id: str, key: str, value: Any) -> None:
        """Set one field of the requester's own profile (403 for anyone else's)."""
        self._check_user_id(user_id)
        check_key_name(key)
        if requester != user_id:
            raise MatrixError(403, "M_FORBIDDEN", "You may only change your own profile")
        value = check_value(key, value)
        current = await self._profile(user_id)
        if key in (DISPLAYNAME, AVATAR_URL) and value == "":
            current.pop(key, None)
        else:
            current[key] = value
        if len(encode_canonical_json(current)) > MAX_PROFILE_BYTES:
            raise MatrixError(400, "M_PROFILE_TOO_LARGE", "The profile would exceed 64 KiB")
        if key in (DISPLAYNAME, AVATAR_URL):
            value = value or None  # "" clears the field
        await self._store(user_id, key, value)
        if key in (DISPLAYNAME, AVATAR_URL):
            await self._propagate(user_id, current)

    async def delete_field(self, requester: str, user_id: str, key: str) -> None:
        self._check_user_id(user_id)
        check_key_name(key)
        if requester != user_id:
            raise MatrixError(403, "M_FORBIDDEN", "You may only change your own profile")
        if key == DISPLAYNAME:
            await self._users.set_displayname(user_id, None)
        elif key == AVATAR_URL:
            await self._users.set_avatar_url(user_id, None)
        else:
            await self._fields.delete_field(user_id, key)
            return
        await self._propagate(user_id, await self._profile(user_id))

    async def clear(self, user_id: str) -> None:
        """Erase the whole profile (account deactivation)."""
        await self._users.set_displayname(user_id, None)
        await self._users.set_avatar_url(user_id, None)
        await self._fields.delete_all(user_id)

    async def _profile(self, user_id: str) -> dict[str, Any]:
        profile: dict[str, Any] = {}
        record = await self._users.get_profile(user_id)
        if record is not None:
            if record.displayname is not None:
                profile[DISPLAYNAME] = record.displayname
            if record.avatar_url is not None:
                profile[AVATAR_URL] = record.avatar_url
        profile.update(await self._fields.get_fields(user_id))
        return profile

    async def _store(self, user_id: str, key: str, value: Any) -> None:
        if key == DISPLAYNAME:
            await self._users.set_displayname(user_id, value)
        elif key == AVATAR_URL:
            await self._users.set_avatar_url(user_id, value)
        else:
            await self._fields.set_field(user_id, key, value)

    async def _propagate(self, user_id: str, profile: Mapping[str, Any]) -> None:
        if self._propagator is not None:
            await self._propagator.propagate(
                user_id, profile.get(DISPLAYNAME), profile.get(AVATAR_URL)
            )

    @staticmethod
    def _check_user_id(user_id: str) -> None:
        try:
            UserID.parse(user_id)
        except ValueError as e:
            raise MatrixError(400, "M_INVALID_PARAM", f"Invalid user ID {user_id!r}") from e


# ---- propagation into member events ---------------------------------------------------------


class JoinedRoomsReader(Protocol):
    async def get_rooms_for_user(self, user_id: str, membership: str = "join") -> list[str]: ...

    async def get_current_state_event_id(
        self, room_id: str, event_type: str, state_key: str
    ) -> str | None: ...


class EventReader(Protocol):
    async def get_event(self, event_id: str) -> StoredEvent | None: ...


class StateEventSender(Protocol):
    async def send_state_event(
        self,
        sender: str,
        room_id: str,
        event_type: str,
        state_key: str,
        content: Mapping[str, Any],
    ) -> object: ...


class MemberEventPropagator:
    """Sends a new ``m.room.member`` join event, with the new display name and avatar, into
    every room the user is joined to (spec: "Events on Change of Profile Information")."""

    def __init__(self, state: JoinedRoomsReader, events: EventReader, sender: StateEventSender):
        self._state = state
        self._events = events
        self._sender = sender

    async def propagate(
        self, user_id: str, displayname: str | None, avatar_url: str | None
    ) -> None:
        for room_id in await self._state.get_rooms_for_user(user_id, "join"):
            event_id = await self._state.get_current_state_event_id(
                room_id, "m.room.member", user_id
            )
            stored = None if event_id is None else await self._events.get_event(event_id)
            old = stored.json().get("content") if stored is not None else None
            content: dict[str, Any] = dict(old) if isinstance(old, dict) else {}
            content["membership"] = "join"
            for key, value in ((DISPLAYNAME, displayname), (AVATAR_URL, avatar_url)):
                if value is None:
                    content.pop(key, None)
                else:
                    content[key] = value
            if isinstance(old, dict) and content == old:
                continue
            try:
                await self._sender.send_state_event(
                    user_id, room_id, "m.room.member", user_id, content
                )
            except MatrixError as e:
                # One room refusing (e.g. power levels) does not undo the profile change.
                logger.warning("Profile update of %s not sent to %s: %s", user_id, room_id, e)
