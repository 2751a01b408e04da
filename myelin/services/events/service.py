"""Sending events and changing memberships in local rooms (spec: Client-Server API, "Sending
events to a room" and "Room membership": ``/send``, ``/state``, ``/join``, ``/leave``,
``/invite``, ``/kick``, ``/ban``, ``/unban``).

Everything goes through ``EventWriter``; the authorization rules decide what is allowed. The
few checks made before them are the ones the endpoints describe beyond the auth rules (kicking
someone who is not in the room, unbanning someone who is not banned).
"""

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from myelin.core.errors import (
    CanonicalJsonError,
    InvalidEventError,
    UnsupportedRoomVersionError,
)
from myelin.core.event_signing import MAX_PDU_BYTES
from myelin.core.identifiers import server_name_of
from myelin.core.room_versions import RoomVersion, get_room_version
from myelin.services.errors import MatrixError
from myelin.services.events.build import EventTemplate
from myelin.services.events.write_path import EventWriter, WrittenEvent
from myelin.storage import ProfileRecord, RoomRecord, StoredEvent, TxnIdKey

MEMBER = "m.room.member"

# Membership actions of the client API and the membership each one sets.
MEMBERSHIP_ACTIONS: Mapping[str, str] = {
    "join": "join",
    "leave": "leave",
    "invite": "invite",
    "kick": "leave",
    "ban": "ban",
    "unban": "leave",
}


class RoomReader(Protocol):
    async def get_room(self, room_id: str) -> RoomRecord | None: ...

    async def get_room_version(self, room_id: str) -> str | None: ...


class CurrentStateReader(Protocol):
    async def get_current_state_event_id(
        self, room_id: str, event_type: str, state_key: str
    ) -> str | None: ...


class ProfileReader(Protocol):
    async def get_profile(self, user_id: str) -> ProfileRecord | None: ...


async def profile_content(profiles: ProfileReader | None, user_id: str) -> dict[str, Any]:
    """``displayname`` and ``avatar_url`` of a local user for their join event (spec:
    ``m.room.member`` content; Synapse fills them in and clients show them)."""
    if profiles is None:
        return {}
    profile = await profiles.get_profile(user_id)
    if profile is None:
        return {}
    content: dict[str, Any] = {}
    if profile.displayname is not None:
        content["displayname"] = profile.displayname
    if profile.avatar_url is not None:
        content["avatar_url"] = profile.avatar_url
    return content


class EventGetter(Protocol):
    async def get_event(self, event_id: str) -> StoredEvent | None: ...


def invalid_event_error(error: InvalidEventError) -> MatrixError:
    """The client error for an event this server cannot build (too large, malformed)."""
    if f"more than {MAX_PDU_BYTES}" in str(error):
        return MatrixError(413, "M_TOO_LARGE", f"event too large: {error}")
    return MatrixError(400, "M_BAD_JSON", f"invalid event: {error}")


class EventService:
    """Local users' events into rooms this server knows."""

    def __init__(
        self,
        *,
        server_name: str,
        writer: EventWriter,
        rooms: RoomReader,
        state: CurrentStateReader,
        events: EventGetter,
        profiles: ProfileReader | None = None,
    ) -> None:
        self._server_name = server_name
        self._profiles = profiles
        self._writer = writer
        self._rooms = rooms
        self._state = state
        self._events = events
        # Set by the composition root: 403 M_INVITE_BLOCKED for an invitee of this server who
        # blocks invites (spec: "Invite permission").
        self.invite_check: Callable[[str], Awaitable[None]] | None = None

    async def _check_invite(self, template: EventTemplate) -> None:
        if (
            self.invite_check is not None
            and template.type == MEMBER
            and template.state_key is not None
            and template.content.get("membership") == "invite"
        ):
            await self.invite_check(template.state_key)

    async def room_version(self, room_id: str) -> RoomVersion:
        """The version of a room this server knows; 404 ``M_NOT_FOUND`` otherwise."""
        version = await self._rooms.get_room_version(room_id)
        if version is None:
            raise MatrixError(404, "M_NOT_FOUND", f"unknown room {room_id}")
        try:
            return get_room_version(version)
        except UnsupportedRoomVersionError as e:
            raise MatrixError(
                400, "M_UNSUPPORTED_ROOM_VERSION", f"room {room_id} has an unknown version"
            ) from e

    async def send(
        self,
        room_id: str,
        template: EventTemplate,
        *,
        txn_id: TxnIdKey | None = None,
    ) -> WrittenEvent:
        """Write a local user's event into a known room (``txn_id``: see
        ``EventWriter.create_and_send``)."""
        if server_name_of(template.sender) != self._server_name:
            raise ValueError(f"{template.sender} is not a user of this server")
        room_version = await self.room_version(room_id)
        await self._check_invite(template)
        try:
            return await self._writer.create_and_send(
                room_id, room_version, template, txn_id=txn_id
            )
        except InvalidEventError as e:
            raise invalid_event_error(e) from e
        except CanonicalJsonError as e:
            # Content a strict room version cannot hash: floats, integers beyond 2**53.
            raise MatrixError(400, "M_BAD_JSON", f"invalid event content: {e}") from e

    async def send_event(
        self,
        sender: str,
        room_id: str,
        event_type: str,
        content: Mapping[str, Any],
        *,
        redacts: str | None = None,
        txn_id: TxnIdKey | None = None,
    ) -> WrittenEvent:
        """A message event (``PUT /rooms/{roomId}/send/{eventType}/{txnId}``)."""
        return await self.send(
            room_id,
            EventTemplate(event_type, sender, dict(content), redacts=redacts),
            txn_id=txn_id,
        )

    async def send_state_event(
        self,
        sender: str,
        room_id: str,
        event_type: str,
        state_key: str,
        content: Mapping[str, Any],
    ) -> WrittenEvent:
        """A state event (``PUT /rooms/{roomId}/state/{eventType}/{stateKey}``)."""
        return await self.send(
            room_id, EventTemplate(event_type, sender, dict(content), state_key=state_key)
        )

    async def current_membership(self, room_id: str, user_id: str) -> str | None:
        event_id = await self._state.get_current_state_event_id(room_id, MEMBER, user_id)
        if event_id is None:
            return None
        stored = await self._events.get_event(event_id)
        if stored is None:
            return None
        content = stored.json().get("content")
        membership = content.get("membership") if isinstance(content, dict) else None
        return membership if isinstance(membership, str) else None

    async def update_membership(
        self,
        sender: str,
        target: str,
        room_id: str,
        action: str,
        reason: str | None = None,
        *,
        extra_content: Mapping[str, Any] | None = None,
    ) -> WrittenEvent:
        """Join, leave, invite, kick, ban or unban (``action``) in a local room.

        ``extra_content`` adds keys to the member event's content (``is_direct`` of invites,
        ``displayname`` and ``avatar_url`` of joins). Raise ``MatrixError``; the auth rules
        reject with ``EventRejectedError`` (403 ``M_FORBIDDEN``).
        """
        membership = MEMBERSHIP_ACTIONS.get(action)
        if membership is None:
            raise MatrixError(400, "M_INVALID_PARAM", f"unknown membership action {action!r}")
        if action in ("join", "leave") and target != sender:
            raise MatrixError(400, "M_INVALID_PARAM", f"{action} applies to the sender only")
        if action in ("kick", "ban", "unban", "invite") and target == sender:
            raise MatrixError(400, "M_INVALID_PARAM", f"cannot {action} oneself")
        room_version = await self.room_version(room_id)
        if action == "invite" and server_name_of(target) != self._server_name:
            # Inviting a remote user needs their server's signature on the invite
            # (Server-Server API "Inviting to a room"): a federation call this server lacks.
            raise MatrixError(
                403, "M_FORBIDDEN", "inviting users of other servers is not supported yet"
            )
        current = await self.current_membership(room_id, target)
        if action == "kick" and current not in ("join", "invite", "knock"):
            raise MatrixError(403, "M_FORBIDDEN", f"{target} is not in the room")
        if action == "unban" and current != "ban":
            raise MatrixError(403, "M_FORBIDDEN", f"{target} is not banned")
        content: dict[str, Any] = {}
        if action == "join":
            content.update(await profile_content(self._profiles, sender))
        content.update(extra_content or {})
        content["membership"] = membership
        if reason is not None:
            content["reason"] = reason
        template = EventTemplate(MEMBER, sender, content, state_key=target)
        await self._check_invite(template)
        try:
            return await self._writer.create_and_send(room_id, room_version, template)
        except InvalidEventError as e:
            raise invalid_event_error(e) from e
        except CanonicalJsonError as e:
            # Content a strict room version cannot hash: floats, integers beyond 2**53.
            raise MatrixError(400, "M_BAD_JSON", f"invalid event content: {e}") from e
