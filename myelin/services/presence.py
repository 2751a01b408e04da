"""Presence (spec: Client-Server API, "Presence").

Each local user's presence (``online``, ``unavailable`` or ``offline``, a status message and
when they were last active) is persisted with its position in the ``presence`` stream and
announced on the presence notifier to the user and everyone sharing a room with them. A user
may see the presence of themselves and of users they share a room with.

``presence.enabled: false`` (Synapse's option) switches presence off as Synapse does: updates
are accepted and ignored, everyone reads as ``offline`` and ``/sync`` carries no presence.
"""

from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any, Protocol

from myelin.clock import Clock
from myelin.services.errors import MatrixError
from myelin.services.notifier import Notifier
from myelin.services.sync.provider import SyncRequest, SyncResponse
from myelin.services.sync.token import StreamName
from myelin.storage.presence import PresenceRecord

ONLINE = "online"
UNAVAILABLE = "unavailable"
OFFLINE = "offline"
PRESENCE_STATES = frozenset({ONLINE, UNAVAILABLE, OFFLINE})
# A user active within this long is "currently active" (Synapse: LAST_ACTIVE_GRANULARITY).
CURRENTLY_ACTIVE_MS = 60_000
# A /sync that leaves the state unchanged refreshes last_active at most this often.
SYNC_REFRESH_MS = 60_000
# Users whose presence is remembered in memory (all forgotten at once past this).
RECENT_LIMIT = 100_000

JsonDict = dict[str, Any]


class PresenceStorage(Protocol):
    async def current_position(self) -> int: ...

    async def set_presence(
        self,
        user_id: str,
        state: str,
        status_msg: str | None,
        *,
        last_active_ts: int,
        currently_active: bool,
    ) -> int: ...

    async def get_presence(self, user_id: str) -> PresenceRecord | None: ...

    async def get_presence_changes(
        self, user_ids: list[str], after: int = 0, upto: int | None = None
    ) -> list[PresenceRecord]: ...


class RoomSharing(Protocol):
    async def share_a_room(self, user_a: str, user_b: str) -> bool: ...

    async def users_sharing_rooms(self, user_id: str) -> list[str]: ...


class PresenceService:
    def __init__(
        self,
        *,
        store: PresenceStorage,
        sharing: RoomSharing,
        notifier: Notifier,
        clock: Clock,
        enabled: bool = True,
    ) -> None:
        self._store = store
        self._sharing = sharing
        self.notifier = notifier
        self._clock = clock
        self.enabled = enabled
        # Set by the composition root (federation): every change, with the users sharing a
        # room with its user, for ``m.presence`` EDUs (sent for local users only).
        self.on_change: Callable[[str, JsonDict, Collection[str]], Awaitable[None]] | None = None
        # user ID -> (state, status_msg, last_active_ts) as last written or read: every write
        # goes through ``_set``, so /sync's set_presence need not read the row each time.
        self._recent: dict[str, tuple[str, str | None, int]] = {}
        # user ID -> writes under way; users with overlapping writes (whose order is not
        # known here: nothing is remembered for them); ``_writes`` counts every write begun.
        self._writing: dict[str, int] = {}
        self._overlapped: set[str] = set()
        self._writes = 0

    async def current_position(self) -> int:
        return await self._store.current_position()

    async def set_status(self, requester: str, user_id: str, body: Mapping[str, Any]) -> None:
        """``PUT /presence/{userId}/status``."""
        if requester != user_id:
            raise MatrixError(403, "M_FORBIDDEN", "Cannot set presence of another user")
        if "presence" not in body:
            raise MatrixError(400, "M_MISSING_PARAM", "Missing parameter: presence")
        state = body["presence"]
        if not isinstance(state, str) or state not in PRESENCE_STATES:
            raise MatrixError(
                400, "M_INVALID_PARAM", "presence must be one of online, unavailable, offline"
            )
        status_msg = body.get("status_msg")
        if status_msg is not None and not isinstance(status_msg, str):
            raise MatrixError(400, "M_BAD_JSON", "status_msg must be a string")
        if not self.enabled:
            return
        await self._set(user_id, state, status_msg)

    async def set_presence_from_sync(
        self, user_id: str, device_id: str | None, presence: str
    ) -> None:
        """``/sync?set_presence=...``: the state changes, the status message stays.

        An unchanged state refreshes the activity time at most once a minute, so that syncing
        clients do not write on every request.
        """
        if not self.enabled or presence not in PRESENCE_STATES:
            return
        current = await self._current(user_id)
        now = self._clock.now_ms()
        if (
            current is not None
            and current[0] == presence
            and (presence != ONLINE or now - current[2] < SYNC_REFRESH_MS)
        ):
            return
        await self._set(user_id, presence, None if current is None else current[1])

    async def _current(self, user_id: str) -> tuple[str, str | None, int] | None:
        """The user's (state, status_msg, last_active_ts), remembered or read."""
        known = self._recent.get(user_id)
        if known is not None:
            return known
        writes = self._writes
        record = await self._store.get_presence(user_id)
        if record is None:
            return None
        found = (record.state, record.status_msg, record.last_active_ts)
        if writes == self._writes and user_id not in self._writing:
            self._remember(user_id, found)
        return found

    def _remember(self, user_id: str, value: tuple[str, str | None, int]) -> None:
        if len(self._recent) >= RECENT_LIMIT:
            self._recent.clear()
        self._recent[user_id] = value

    async def _set(self, user_id: str, state: str, status_msg: str | None) -> None:
        now = self._clock.now_ms()
        self._writes += 1
        self._recent.pop(user_id, None)
        if user_id in self._writing:
            self._overlapped.add(user_id)
        self._writing[user_id] = self._writing.get(user_id, 0) + 1
        written = False
        try:
            position = await self._store.set_presence(
                user_id,
                state,
                status_msg,
                last_active_ts=now,
                currently_active=state == ONLINE,
            )
            written = True
        finally:
            self._writing[user_id] -= 1
            if not self._writing[user_id]:
                del self._writing[user_id]
                if user_id in self._overlapped:
                    self._overlapped.discard(user_id)
                elif written:
                    self._remember(user_id, (state, status_msg, now))
        watchers = await self._sharing.users_sharing_rooms(user_id)
        await self.notifier.notify(position, None, {user_id, *watchers})
        if self.on_change is not None:
            update: JsonDict = {"presence": state, "currently_active": state == ONLINE}
            if status_msg is not None:
                update["status_msg"] = status_msg
            await self.on_change(user_id, update, watchers)

    async def get_status(self, requester: str, user_id: str) -> JsonDict:
        """``GET /presence/{userId}/status``: for the user and users sharing a room with them.

        A user who never set a presence reads as ``offline`` (as in Synapse).
        """
        if requester != user_id and not await self._sharing.share_a_room(requester, user_id):
            raise MatrixError(403, "M_FORBIDDEN", "You are not allowed to see their presence")
        if not self.enabled:
            return {"presence": OFFLINE}
        record = await self._store.get_presence(user_id)
        if record is None:
            return {"presence": OFFLINE}
        return self.format(record)

    def format(self, record: PresenceRecord) -> JsonDict:
        """The content of an ``m.presence`` event (and the GET response) for ``record``."""
        now = self._clock.now_ms()
        ago = max(0, now - record.last_active_ts)
        content: JsonDict = {"presence": record.state, "last_active_ago": ago}
        if record.state == ONLINE:
            content["currently_active"] = record.currently_active and ago < CURRENTLY_ACTIVE_MS
        if record.status_msg is not None:
            content["status_msg"] = record.status_msg
        return content

    async def presence_events(self, user_id: str, since: int | None, upto: int) -> list[JsonDict]:
        """The ``m.presence`` events of ``/sync``: users sharing a room with ``user_id`` (and
        the user) whose presence changed in ``(since, upto]`` (all known when ``since`` is
        None)."""
        if not self.enabled:
            return []
        users = await self._sharing.users_sharing_rooms(user_id)
        if user_id not in users:
            users.append(user_id)
        records = await self._store.get_presence_changes(users, 0 if since is None else since, upto)
        return [
            {"type": "m.presence", "sender": r.user_id, "content": self.format(r)} for r in records
        ]


class PresenceProvider:
    """The ``presence`` stream of ``/sync``: the top-level ``presence`` section."""

    stream: StreamName = "presence"

    def __init__(self, presence: PresenceService) -> None:
        self._presence = presence
        self.notifier = presence.notifier

    async def current_position(self) -> int:
        return await self._presence.current_position()

    async def sync(
        self, request: SyncRequest, response: SyncResponse, since: int | None, upto: int
    ) -> int:
        if since is not None and since > upto:
            since = None
        if since == upto:
            return upto  # the stream has not moved
        wanted = request.filter.presence
        for event in await self._presence.presence_events(request.user_id, since, upto):
            if wanted.matches(event):
                response.presence.append(event)
        if wanted.limit is not None:
            del response.presence[wanted.limit :]
        return upto
