"""Changing rooms as a client (spec: Client-Server API, "Sending events to a room",
"Transaction identifiers", "Redactions", "Room membership" (joining, knocking, leaving,
forgetting)).

Sending is idempotent per (user, device, transaction ID): a retried request returns the event
the first one created. Requests with the same key are serialised in this process so that two
concurrent retries cannot both send.
"""

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from myelin.clock import Clock
from myelin.core.errors import InvalidIdentifierError
from myelin.core.events import EventView
from myelin.core.identifiers import RoomAlias, RoomID, server_name_of
from myelin.core.power_levels import power_level_value, user_power_level
from myelin.services.errors import MatrixError
from myelin.services.events import EventService, EventTemplate, WrittenEvent
from myelin.services.federation.invites import FederatedInvites
from myelin.services.federation.remote_rooms import RemoteRooms, candidate_servers
from myelin.services.restricted_joins import (
    JOIN_AUTHORISED_VIA,
    RestrictedJoins,
    local_authoriser_error,
)
from myelin.services.visibility import content_of
from myelin.storage import (
    EventStore,
    RoomReadStore,
    RoomStore,
    StateStore,
    TxnIdKey,
    TxnIdUsedError,
)

MEMBER = "m.room.member"


class RoomActions:
    def __init__(
        self,
        *,
        events: EventService,
        event_store: EventStore,
        state: StateStore,
        rooms: RoomStore,
        reads: RoomReadStore,
        clock: Clock,
        remote: RemoteRooms | None = None,
        invites: FederatedInvites | None = None,
    ) -> None:
        # Rooms of other servers (joins, leaves, knocks, invites over federation); None
        # when federation is off.
        self._remote = remote
        self._invites = invites
        self._events = events
        self._event_store = event_store
        self._state = state
        self._rooms = rooms
        self._reads = reads
        self._clock = clock
        self._txn_locks: dict[tuple[str, str, str], asyncio.Lock] = {}
        self._restricted = RestrictedJoins(events=event_store, state=state)
        # Checks a client's m.room.canonical_alias content for the room (the directory's;
        # set by the composition root).
        self.canonical_alias_check: Callable[[str, Mapping[str, Any]], Awaitable[None]] | None = (
            None
        )

    def use_federation(self, remote: RemoteRooms, invites: FederatedInvites) -> None:
        """Reach rooms of other servers (set by the composition root once federation is
        built)."""
        self._remote = remote
        self._invites = invites

    async def with_txn(
        self,
        user_id: str,
        device_id: str | None,
        txn_id: str,
        send: Callable[[TxnIdKey], Awaitable[WrittenEvent]],
    ) -> str:
        """The event ID of the transaction: sent now, or the one sent before.

        ``send`` gets the transaction to record in the event's own database transaction: the
        record is durable exactly when the event is (a crash between two writes would let a
        retry send the event twice), and a /sync woken by the event already serves its
        ``transaction_id`` (without it, Hydrogen shows the message twice)."""
        key = (user_id, device_id or "", txn_id)
        lock = self._txn_locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                found = await self._reads.get_txn_event(*key)
                if found is not None:
                    return found.event_id
                try:
                    written = await send(TxnIdKey(*key, created_ts=self._clock.now_ms()))
                except TxnIdUsedError as e:
                    return e.event_id  # another process sent it meanwhile
                return written.event.event_id
        finally:
            if not lock.locked() and self._txn_locks.get(key) is lock:
                del self._txn_locks[key]

    async def send_message(
        self,
        user_id: str,
        device_id: str | None,
        room_id: str,
        *,
        event_type: str,
        txn_id: str,
        content: Mapping[str, Any],
    ) -> str:
        """``PUT /rooms/{roomId}/send/{eventType}/{txnId}``."""

        async def send(txn: TxnIdKey) -> WrittenEvent:
            return await self._events.send_event(user_id, room_id, event_type, content, txn_id=txn)

        return await self.with_txn(user_id, device_id, txn_id, send)

    async def send_state(
        self,
        user_id: str,
        room_id: str,
        event_type: str,
        state_key: str,
        content: Mapping[str, Any],
    ) -> str:
        """``PUT /rooms/{roomId}/state/{eventType}/{stateKey}``."""
        if event_type == "m.room.create":
            raise MatrixError(400, "M_BAD_JSON", "m.room.create cannot be sent after creation")
        if event_type == "m.room.canonical_alias" and self.canonical_alias_check is not None:
            await self.canonical_alias_check(room_id, content)
        written = await self._events.send_state_event(
            user_id, room_id, event_type, state_key, content
        )
        if event_type == MEMBER and content.get("membership") == "join":
            await self._reads.unforget_room(state_key, room_id)
        return written.event.event_id

    async def redact(
        self,
        user_id: str,
        device_id: str | None,
        room_id: str,
        *,
        event_id: str,
        txn_id: str,
        reason: str | None,
    ) -> str:
        """``PUT /rooms/{roomId}/redact/{eventId}/{txnId}``: the sender of the event, or a
        user with the ``redact`` power level (the server-side check of room versions 3+)."""
        room_version = await self._events.room_version(room_id)
        target = await self._event_store.get_event(event_id)
        if target is not None and target.room_id != room_id:
            target = None
        if target is None or target.sender != user_id:
            state = await self._state.get_current_state(room_id)
            ids = [state.get(("m.room.power_levels", "")), state.get(("m.room.create", ""))]
            loaded = await self._event_store.get_events([i for i in ids if i is not None])
            views = [
                None
                if i is None or i not in loaded
                else EventView(loaded[i].json(), i, room_version)
                for i in ids
            ]
            level = user_power_level(room_version, user_id, views[1], views[0])
            if level < power_level_value(room_version, views[0], "redact"):
                raise MatrixError(
                    403, "M_FORBIDDEN", "You don't have permission to redact this event"
                )
        content: dict[str, Any] = {}
        if reason is not None:
            content["reason"] = reason
        if room_version.redacts_in_content:
            content["redacts"] = event_id

        async def send(txn: TxnIdKey) -> WrittenEvent:
            template = EventTemplate(
                "m.room.redaction",
                user_id,
                content,
                redacts=None if room_version.redacts_in_content else event_id,
            )
            return await self._events.send(room_id, template, txn_id=txn)

        return await self.with_txn(user_id, device_id, txn_id, send)

    async def resolve_room(self, room_id_or_alias: str) -> str:
        """A room ID, or the room an alias of this server points to."""
        if room_id_or_alias.startswith("#"):
            try:
                RoomAlias.parse(room_id_or_alias)
            except InvalidIdentifierError as e:
                raise MatrixError(400, "M_INVALID_PARAM", f"invalid room alias: {e}") from e
            record = await self._rooms.get_alias(room_id_or_alias)
            if record is None:
                raise MatrixError(404, "M_NOT_FOUND", f"Room alias {room_id_or_alias} not found")
            return record.room_id
        if not room_id_or_alias.startswith("!"):
            raise MatrixError(400, "M_INVALID_PARAM", "expected a room ID or a room alias")
        try:
            RoomID.parse(room_id_or_alias)
        except InvalidIdentifierError as e:
            raise MatrixError(400, "M_INVALID_PARAM", f"invalid room ID: {e}") from e
        return room_id_or_alias

    async def _known_room(self, room_id: str) -> None:
        if await self._rooms.get_room(room_id) is None:
            # Joining rooms of other servers needs federation (make_join/send_join).
            raise MatrixError(404, "M_NOT_FOUND", f"No known servers for room {room_id}")

    async def _resolve_for_joining(self, room_id_or_alias: str) -> tuple[str, list[str]]:
        """The room ID and, for an alias of another server, the servers it names."""
        if self._remote is not None and room_id_or_alias.startswith("#"):
            try:
                alias = RoomAlias.parse(room_id_or_alias)
            except InvalidIdentifierError as e:
                raise MatrixError(400, "M_INVALID_PARAM", f"invalid room alias: {e}") from e
            if str(alias.server_name) != self._remote.server_name:
                return await self._remote.resolve_alias(room_id_or_alias)
        return await self.resolve_room(room_id_or_alias), []

    async def _remote_servers(
        self, user_id: str, room_id: str, via: Sequence[str]
    ) -> list[str] | None:
        """The servers to go through when this server is not in the room (None when it is,
        or when nobody else can be asked): ``via``, then the server of whoever invited the
        user, then the room ID's server."""
        if self._remote is None or await self._remote.is_resident(room_id):
            return None
        extra: list[str] = []
        own = await self._remote.own_membership_event(room_id, user_id)
        if own is not None and own.membership in ("invite", "knock"):
            extra.append(server_name_of(own.sender))
        servers = candidate_servers(self._remote.server_name, room_id, via, extra)
        return servers or None

    async def join(
        self, user_id: str, room_id_or_alias: str, reason: str | None, via: Sequence[str] = ()
    ) -> str:
        """``POST /join/{roomIdOrAlias}`` and ``POST /rooms/{roomId}/join``; a room this
        server is not in is joined through one of ``via`` (or the alias's servers)."""
        room_id, alias_servers = await self._resolve_for_joining(room_id_or_alias)
        servers = await self._remote_servers(user_id, room_id, [*via, *alias_servers])
        if servers is not None and self._remote is not None:
            await self._remote.join(user_id, room_id, servers, reason)
            await self._reads.unforget_room(user_id, room_id)
            return room_id
        await self._known_room(room_id)
        membership = await self._events.current_membership(room_id, user_id)
        if membership != "join":
            extra = await self._restricted_join_content(user_id, room_id)
            await self._events.update_membership(
                user_id, user_id, room_id, "join", reason, extra_content=extra
            )
        await self._reads.unforget_room(user_id, room_id)
        return room_id

    async def _restricted_join_content(self, user_id: str, room_id: str) -> dict[str, Any]:
        """A join to a restricted room names one of our users who may invite (spec:
        "Restricted rooms": the server checks the allow conditions first); 403 when the user
        meets none. The joining user is ours, so their server name is this server's."""
        version = await self._events.room_version(room_id)
        try:
            authoriser = await self._restricted.choose_authoriser(
                room_id, user_id, version, server_name_of(user_id)
            )
        except MatrixError as e:
            raise local_authoriser_error(e) from e
        return {} if authoriser is None else {JOIN_AUTHORISED_VIA: authoriser}

    async def knock(
        self, user_id: str, room_id_or_alias: str, reason: str | None, via: Sequence[str] = ()
    ) -> str:
        """``POST /knock/{roomIdOrAlias}``."""
        room_id, alias_servers = await self._resolve_for_joining(room_id_or_alias)
        servers = await self._remote_servers(user_id, room_id, [*via, *alias_servers])
        if servers is not None and self._remote is not None:
            await self._remote.knock(user_id, room_id, servers, reason)
            return room_id
        await self._known_room(room_id)
        room_version = await self._events.room_version(room_id)
        if not room_version.knock:
            raise MatrixError(403, "M_FORBIDDEN", "This room version does not support knocking")
        content: dict[str, Any] = {"membership": "knock"}
        if reason is not None:
            content["reason"] = reason
        await self._events.send(room_id, EventTemplate(MEMBER, user_id, content, user_id))
        return room_id

    async def membership(
        self, sender: str, target: str, room_id: str, action: str, reason: str | None
    ) -> None:
        """``/leave``, ``/invite``, ``/kick``, ``/ban``, ``/unban``."""
        await self._known_room(room_id)
        if action == "leave":
            current = await self._events.current_membership(room_id, sender)
            if current in (None, "leave"):
                # Leaving a room one is not in: Synapse answers 200 for rooms it knows the
                # user left; a room the user never was in is 403.
                if current is None:
                    raise MatrixError(403, "M_FORBIDDEN", "You are not in this room")
                return
            servers = await self._remote_servers(sender, room_id, [])
            if current in ("invite", "knock") and servers is not None and self._remote:
                # Rejecting an invite (or rescinding a knock) of a room we are not in.
                await self._remote.leave(sender, room_id, servers, reason)
                return
        if action == "invite" and self._invites is not None and self._is_remote(target):
            await self._invite_remote(sender, target, room_id, reason)
            return
        await self._events.update_membership(sender, target, room_id, action, reason)

    def _is_remote(self, user_id: str) -> bool:
        try:
            return self._remote is not None and server_name_of(user_id) != self._remote.server_name
        except ValueError as e:
            raise MatrixError(400, "M_INVALID_PARAM", "invalid user ID") from e

    async def _invite_remote(
        self, sender: str, target: str, room_id: str, reason: str | None
    ) -> None:
        assert self._invites is not None
        current = await self._events.current_membership(room_id, target)
        if current == "join":
            raise MatrixError(403, "M_FORBIDDEN", f"{target} is already in the room")
        if current == "ban":
            raise MatrixError(403, "M_FORBIDDEN", f"{target} is banned from the room")
        content: dict[str, Any] = {"membership": "invite"}
        if reason is not None:
            content["reason"] = reason
        version = await self._events.room_version(room_id)
        await self._invites.invite(room_id, version, sender, target, content)

    async def forget(self, user_id: str, room_id: str) -> None:
        """``POST /rooms/{roomId}/forget``: only rooms the user is not in (400 otherwise)."""
        event_id = await self._state.get_current_state_event_id(room_id, MEMBER, user_id)
        membership = None
        if event_id is not None:
            membership = content_of(await self._event_store.get_event(event_id)).get("membership")
        if membership in ("join", "invite", "knock"):
            raise MatrixError(400, "M_UNKNOWN", "The user is still in the room")
        await self._reads.forget_room(user_id, room_id)
