"""Typing notifications (spec: Client-Server API, "Typing Notifications").

Who is typing is kept in memory only, with its own stream position (the ``typing`` stream of
the sync token): every change of a room's set of typing users takes the next position and is
announced on the typing notifier for that room. Typing expires by the injected clock; expired
entries are removed (a change like any other) whenever the service is read or written, so a
client never sees a user typing past the timeout it asked for.
"""

from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any, Protocol

from myelin.clock import Clock
from myelin.services.errors import MatrixError
from myelin.services.notifier import Notifier
from myelin.services.sync.provider import SyncRequest, SyncResponse
from myelin.services.sync.token import StreamName

# Synapse's default and cap for the typing timeout: 30 seconds when none is given, at most
# 120 seconds whatever the client asks (the spec sets no bounds).
DEFAULT_TIMEOUT_MS = 30_000
MAX_TIMEOUT_MS = 120_000


class MembershipReader(Protocol):
    async def current_membership(self, room_id: str, user_id: str) -> str | None: ...


class TypingService:
    def __init__(self, clock: Clock, memberships: MembershipReader, notifier: Notifier) -> None:
        self._clock = clock
        self._memberships = memberships
        self.notifier = notifier
        # room_id -> user_id -> expiry (milliseconds since the epoch)
        self._typing: dict[str, dict[str, int]] = {}
        # room_id -> the position of the room's latest change
        self._changed_at: dict[str, int] = {}
        self._position = 0
        # Set by the composition root: our users' typing changes for the room's other
        # servers (the ``m.typing`` EDU).
        self.on_local_change: Callable[[str, str, bool], Awaitable[None]] | None = None

    async def set_typing(
        self, requester: str, room_id: str, user_id: str, typing: bool, timeout_ms: int | None
    ) -> None:
        """``PUT /rooms/{roomId}/typing/{userId}``."""
        if requester != user_id:
            raise MatrixError(403, "M_FORBIDDEN", "Cannot set another user's typing state")
        if await self._memberships.current_membership(room_id, user_id) != "join":
            raise MatrixError(403, "M_FORBIDDEN", "User not in room")
        await self._expire()
        users = self._typing.setdefault(room_id, {})
        if typing:
            timeout = DEFAULT_TIMEOUT_MS if timeout_ms is None else timeout_ms
            timeout = min(max(timeout, 0), MAX_TIMEOUT_MS)
            changed = user_id not in users
            users[user_id] = self._clock.now_ms() + timeout
        else:
            changed = users.pop(user_id, None) is not None
        if not users:
            del self._typing[room_id]
        if changed:
            await self._changed([room_id])
            if self.on_local_change is not None:
                await self.on_local_change(room_id, user_id, typing)

    async def stop_typing(self, room_id: str, user_id: str) -> None:
        """Forget that the user types in the room (when they send an event or leave)."""
        users = self._typing.get(room_id)
        if users is not None and users.pop(user_id, None) is not None:
            if not users:
                del self._typing[room_id]
            await self._changed([room_id])

    async def current_position(self) -> int:
        await self._expire()
        return self._position

    async def typing_users(self, room_id: str) -> list[str]:
        await self._expire()
        return sorted(self._typing.get(room_id, {}))

    async def typing_events(
        self, room_ids: Collection[str], since: int | None, upto: int
    ) -> dict[str, dict[str, Any]]:
        """The ``m.typing`` event of each room in ``room_ids`` that changed in ``(since, upto]``
        (every room with someone typing when ``since`` is None)."""
        await self._expire()
        events: dict[str, dict[str, Any]] = {}
        for room_id in room_ids:
            users = sorted(self._typing.get(room_id, {}))
            changed = self._changed_at.get(room_id, 0)
            if since is None:
                if not users:
                    continue
            elif not since < changed <= upto:
                continue
            events[room_id] = {"type": "m.typing", "content": {"user_ids": users}}
        return events

    async def _expire(self) -> None:
        now = self._clock.now_ms()
        changed = []
        for room_id, users in list(self._typing.items()):
            expired = [user for user, expiry in users.items() if expiry <= now]
            for user in expired:
                del users[user]
            if expired:
                changed.append(room_id)
            if not users:
                del self._typing[room_id]
        if changed:
            await self._changed(changed)

    async def _changed(self, room_ids: list[str]) -> None:
        for room_id in room_ids:
            self._position += 1
            self._changed_at[room_id] = self._position
            await self.notifier.notify(self._position, room_id)


def ephemeral_allowed(request: SyncRequest, room_id: str, event: Mapping[str, Any]) -> bool:
    """Whether the sync filter lets a room's ephemeral event through."""
    room_filter = request.filter.room
    return room_filter.matches_room(room_id) and room_filter.ephemeral.matches(
        {**event, "room_id": room_id}
    )


def rooms_to_sync(
    request: SyncRequest, since: int | None, upto: int
) -> tuple[list[str], list[str]]:
    """Joined rooms to sync incrementally, and those to sync in full (initial sync, newly
    joined rooms, and a stream reset: ``since`` above ``upto``)."""
    joined = request.joined_room_ids()
    if since is None or since > upto or request.full_state:
        return [], joined
    full = [room for room in joined if room in request.newly_joined]
    return [room for room in joined if room not in request.newly_joined], full


class TypingProvider:
    """The ``typing`` stream of ``/sync``: ``m.typing`` in each joined room's ephemeral events."""

    stream: StreamName = "typing"

    def __init__(self, typing: TypingService) -> None:
        self._typing = typing
        self.notifier = typing.notifier

    async def current_position(self) -> int:
        return await self._typing.current_position()

    async def sync(
        self, request: SyncRequest, response: SyncResponse, since: int | None, upto: int
    ) -> int:
        incremental, full = rooms_to_sync(request, since, upto)
        if since == upto:
            incremental = []  # the stream has not moved: nothing new in those rooms
        events = await self._typing.typing_events(incremental, since, upto)
        events.update(await self._typing.typing_events(full, None, upto))
        for room_id in sorted(events):
            if ephemeral_allowed(request, room_id, events[room_id]):
                response.joined_room(room_id).ephemeral.append(events[room_id])
        return upto
