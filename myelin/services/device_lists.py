"""Device list tracking (spec: Client-Server API, "End-to-End Encryption": "Tracking the
device list for a user", "Extensions to /sync" ``device_lists`` and ``GET /keys/changes``).

Every change of a user's devices or keys, and every change of a user's membership of a room
(who starts or stops sharing a room with whom), takes a position in the ``device_lists``
stream. ``changes_between`` turns a range of that stream into the spec's two lists for one
user:

* ``changed``: users who share a room with the user now and whose devices or keys changed in
  the range, or who started sharing a room with the user in the range (a join of theirs to
  one of the user's rooms, or a join of the user to one of theirs); the user's own ID when
  their own devices changed.
* ``left``: users who shared a room with the user and no longer share any, because someone
  left (or was kicked or banned) in the range.

The spec speaks of encrypted rooms; like Synapse, every room counts (a client ignores users
it does not track).
"""

import logging
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from myelin.services.notifier import Notifier
from myelin.services.sync.provider import SyncRequest, SyncResponse
from myelin.services.sync.token import StreamName
from myelin.storage.device_lists import MembershipChange

logger = logging.getLogger(__name__)


class DeviceListStore(Protocol):
    async def current_position(self) -> int: ...

    async def add_device_list_change(self, user_id: str) -> int: ...

    async def add_membership_change(self, room_id: str, user_id: str, membership: str) -> int: ...

    async def users_changed(self, user_ids: list[str], after: int, upto: int) -> set[str]: ...

    async def membership_changes(self, after: int, upto: int) -> list[MembershipChange]: ...

    async def users_sharing_rooms(self, user_id: str) -> set[str]: ...

    async def joined_members(self, room_id: str) -> set[str]: ...

    async def rooms_of(self, user_id: str) -> set[str]: ...

    async def membership_event_at(self, stream_ordering: int) -> tuple[str, str, str] | None: ...

    async def last_membership(self, room_id: str, user_id: str) -> str | None: ...

    async def last_device_change(self, user_id: str) -> int | None: ...


@dataclass(frozen=True)
class DeviceListChanges:
    changed: list[str]
    left: list[str]

    def to_json(self) -> dict[str, list[str]]:
        return {"changed": self.changed, "left": self.left}


@dataclass
class DeviceListService:
    store: DeviceListStore
    notifier: Notifier

    async def current_position(self) -> int:
        return await self.store.current_position()

    async def mark_changed(self, user_id: str) -> int:
        """Record a change of ``user_id``'s devices or keys and wake whoever shares a room."""
        position = await self.store.add_device_list_change(user_id)
        watchers = await self.store.users_sharing_rooms(user_id)
        await self.notifier.notify(position, None, {user_id, *watchers})
        return position

    async def last_change(self, user_id: str) -> int | None:
        """The position of ``user_id``'s latest device or key change, if any."""
        return await self.store.last_device_change(user_id)

    async def users_sharing_rooms(self, user_id: str) -> set[str]:
        return await self.store.users_sharing_rooms(user_id)

    async def rooms_of(self, user_id: str) -> set[str]:
        return await self.store.rooms_of(user_id)

    async def membership_changed(self, room_id: str, user_id: str, membership: str) -> None:
        """Record a membership change (only a change of joined-or-not counts)."""
        joined = membership == "join"
        last = await self.store.last_membership(room_id, user_id)
        if last is not None and (last == "join") == joined:
            return
        if last is None and not joined:
            # Never joined as far as this stream knows (an invite, a knock): nothing shared.
            return
        position = await self.store.add_membership_change(room_id, user_id, membership)
        await self.notifier.notify(position, room_id, (user_id,))

    async def changes_between(self, user_id: str, after: int, upto: int) -> DeviceListChanges:
        sharing_now = await self.store.users_sharing_rooms(user_id)
        rooms_now = await self.store.rooms_of(user_id)
        changes = await self.store.membership_changes(after, upto)
        # Rooms the user left in the range: others' leaves there matter too.
        rooms_left = {c.room_id for c in changes if c.user_id == user_id and c.membership != "join"}
        changed = await self.store.users_changed(sorted(sharing_now), after, upto)
        maybe_left: set[str] = set()
        for change in changes:
            if change.user_id == user_id:
                members = await self.store.joined_members(change.room_id)
                if change.membership == "join":
                    changed |= members
                else:
                    maybe_left |= members
            elif change.room_id in rooms_now or change.room_id in rooms_left:
                if change.membership == "join":
                    changed.add(change.user_id)
                else:
                    maybe_left.add(change.user_id)
        changed &= sharing_now
        left = maybe_left - sharing_now - {user_id}
        return DeviceListChanges(sorted(changed), sorted(left))


class MembershipTrackingNotifier:
    """The events notifier, wrapped: after each membership event is announced, its change is
    recorded in the device list stream (a ``Notifier`` itself, given to the event writer).

    The write path announces a member event with its target as the user concerned; other
    events pass through untouched.
    """

    def __init__(self, inner: Notifier, device_lists: DeviceListService, store: DeviceListStore):
        self._inner = inner
        self._device_lists = device_lists
        self._store = store

    async def notify(
        self, stream_position: int, room_id: str | None, user_ids: Iterable[str] = ()
    ) -> None:
        users = list(user_ids)
        await self._inner.notify(stream_position, room_id, users)
        if room_id is None or not users:
            return
        try:
            found = await self._store.membership_event_at(stream_position)
            if found is not None:
                await self._device_lists.membership_changed(*found)
        except Exception:
            logger.exception("Could not record the membership change at %d", stream_position)

    def watch(
        self,
        after: int,
        wake: Callable[[int], None],
        *,
        user_ids: Collection[str] = (),
        room_ids: Collection[str] = (),
    ) -> Callable[[], None]:
        return self._inner.watch(after, wake, user_ids=user_ids, room_ids=room_ids)

    async def wait_for(
        self,
        after: int,
        max_wait: float,
        *,
        user_ids: Collection[str] = (),
        room_ids: Collection[str] = (),
    ) -> int | None:
        return await self._inner.wait_for(after, max_wait, user_ids=user_ids, room_ids=room_ids)


@dataclass
class DeviceListsProvider:
    """The ``device_lists`` stream of ``/sync``: ``device_lists.changed`` and ``.left``."""

    device_lists: DeviceListService
    stream: StreamName = field(default="device_lists")

    @property
    def notifier(self) -> Notifier:
        return self.device_lists.notifier

    async def current_position(self) -> int:
        return await self.device_lists.current_position()

    async def sync(
        self, request: SyncRequest, response: SyncResponse, since: int | None, upto: int
    ) -> int:
        if since is None or since > upto:
            # An initial sync: the client queries the keys of everyone it tracks anyway.
            response.device_lists = {"changed": [], "left": []}
            return upto
        if since == upto:
            # The stream has not moved (membership changes are recorded on it too).
            response.device_lists = {"changed": [], "left": []}
            return upto
        changes = await self.device_lists.changes_between(request.user_id, since, upto)
        response.device_lists = changes.to_json()
        return upto
