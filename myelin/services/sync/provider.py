"""The sync provider protocol (spec: Client-Server API, "Syncing" and the ``GET /sync``
response; model: Dendrite's ``syncapi/streams/streamprovider.go``).

``/sync`` is assembled from one ``StreamProvider`` per stream of the ``SyncToken``. Each
provider owns exactly one stream position and the response section(s) that stream feeds:

* ``stream``: the name of its position in the token (``"events"``, ``"account_data"``,
  ``"receipts"``, ``"typing"``, ``"presence"``, ``"to_device"``, ``"device_lists"``).
* ``notifier``: the ``Notifier`` announcing new positions of that stream. Whoever writes to
  the stream calls ``notifier.notify(position, room_id, user_ids)`` after the write is durable,
  naming the room concerned (for room-scoped data such as typing or receipts) and/or the users
  concerned (for user-scoped data such as account data, to-device or presence). A long-polling
  ``/sync`` waits on every provider's notifier with that stream's ``since`` position, the
  syncing user and the rooms the user is joined to; the first matching notification wakes it.
* ``current_position()``: the stream's latest position, read once at the start of a request;
  it becomes the ``upto`` of this request (never read again, so the response is consistent).
  For a stream persisted in the ``stream_positions`` table it must be that table's row of the
  same name: the sync service may read all of those at once instead of asking each provider.
* ``sync(request, response, since, upto)``: add to ``response`` what happened in the stream
  in ``(since, upto]`` for ``request.user_id``; ``since`` None means an initial (complete)
  sync of the section. Return the position the section now reflects: usually ``upto``; less
  when the provider stopped early (then the client gets the rest on its next sync). A
  ``since`` greater than ``upto`` means the stream was reset (an in-memory stream after a
  restart): treat it as an initial sync. Never raise for an empty section; add nothing.

Providers run in order: the rooms provider (stream ``events``) runs first and fills
``request.memberships`` and ``request.newly_joined`` (rooms that joined in this sync, for
which room-scoped providers such as receipts should send their full section). Room-scoped
providers add to ``response.joined_room(room_id)`` only for rooms in
``request.joined_room_ids()``. After every provider, each ``RoomDecorator`` may decorate the
rooms already in the response (``unread_notifications`` counts); it adds no new rooms.

Rooms sections with nothing in them are left out of an incremental response, as the spec
says; a room is forced in (``JoinedRoom.force``) for an initial sync, a full_state sync and a
newly joined room.
"""

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, Protocol

from myelin.core.filters import Filter
from myelin.services.notifier import Notifier
from myelin.services.sync.token import StreamName

JsonDict = dict[str, Any]


@dataclass
class SyncRequest:
    """What a provider needs to know about the request being answered."""

    user_id: str
    device_id: str | None
    filter: Filter
    full_state: bool = False
    use_state_after: bool = False
    # room_id -> the user's membership in it, for every room the rooms provider looked at
    # (filled by the rooms provider, which runs first).
    memberships: dict[str, str] = field(default_factory=dict)
    # Rooms the user joined within this sync (or all joined rooms on an initial sync).
    newly_joined: set[str] = field(default_factory=set)

    def joined_room_ids(self) -> list[str]:
        return sorted(room for room, member in self.memberships.items() if member == "join")


@dataclass
class JoinedRoom:
    """``rooms.join[room_id]`` of the response."""

    timeline: list[JsonDict] = field(default_factory=list)
    limited: bool = False
    prev_batch: str | None = None
    state: list[JsonDict] = field(default_factory=list)
    ephemeral: list[JsonDict] = field(default_factory=list)
    account_data: list[JsonDict] = field(default_factory=list)
    summary: JsonDict = field(default_factory=dict)
    unread_notifications: JsonDict | None = None
    unread_thread_notifications: JsonDict | None = None
    # Include the room even when every list is empty (initial sync, full_state, new join).
    force: bool = False

    def __bool__(self) -> bool:
        return bool(
            self.force or self.timeline or self.state or self.ephemeral or self.account_data
        )


@dataclass
class LeftRoom:
    """``rooms.leave[room_id]`` of the response."""

    timeline: list[JsonDict] = field(default_factory=list)
    limited: bool = False
    prev_batch: str | None = None
    state: list[JsonDict] = field(default_factory=list)
    account_data: list[JsonDict] = field(default_factory=list)


@dataclass
class SyncResponse:
    """The response being assembled; ``to_json`` gives the spec's shape."""

    use_state_after: bool = False
    join: dict[str, JoinedRoom] = field(default_factory=dict)
    invite: dict[str, list[JsonDict]] = field(default_factory=dict)
    knock: dict[str, list[JsonDict]] = field(default_factory=dict)
    leave: dict[str, LeftRoom] = field(default_factory=dict)
    account_data: list[JsonDict] = field(default_factory=list)
    presence: list[JsonDict] = field(default_factory=list)
    to_device: list[JsonDict] = field(default_factory=list)
    # E2EE extensions: None leaves the key out of the response.
    device_lists: JsonDict | None = None
    device_one_time_keys_count: dict[str, int] | None = None
    device_unused_fallback_key_types: list[str] | None = None

    def joined_room(self, room_id: str) -> JoinedRoom:
        """The room's ``rooms.join`` entry, created empty if absent."""
        room = self.join.get(room_id)
        if room is None:
            room = self.join[room_id] = JoinedRoom()
        return room

    def is_empty(self) -> bool:
        """Nothing for the client: a long-poll keeps waiting."""
        return not (
            any(self.join.values())
            or self.invite
            or self.knock
            or self.leave
            or self.account_data
            or self.presence
            or self.to_device
            or (self.device_lists and any(self.device_lists.values()))
        )

    def to_json(self, next_batch: str) -> JsonDict:
        state_key = "state_after" if self.use_state_after else "state"
        join: JsonDict = {}
        for room_id, room in self.join.items():
            if not room:
                continue
            entry: JsonDict = {
                "timeline": _timeline(room.timeline, room.limited, room.prev_batch),
                state_key: {"events": room.state},
                "ephemeral": {"events": room.ephemeral},
                "account_data": {"events": room.account_data},
                "summary": room.summary,
                "unread_notifications": room.unread_notifications
                if room.unread_notifications is not None
                else {},
            }
            if room.unread_thread_notifications is not None:
                entry["unread_thread_notifications"] = room.unread_thread_notifications
            join[room_id] = entry
        leave: JsonDict = {
            room_id: {
                "timeline": _timeline(room.timeline, room.limited, room.prev_batch),
                state_key: {"events": room.state},
                "account_data": {"events": room.account_data},
            }
            for room_id, room in self.leave.items()
        }
        body: JsonDict = {
            "next_batch": next_batch,
            "rooms": {
                "join": join,
                "invite": {
                    room_id: {"invite_state": {"events": events}}
                    for room_id, events in self.invite.items()
                },
                "knock": {
                    room_id: {"knock_state": {"events": events}}
                    for room_id, events in self.knock.items()
                },
                "leave": leave,
            },
            "account_data": {"events": self.account_data},
            "presence": {"events": self.presence},
            "to_device": {"events": self.to_device},
        }
        if self.device_lists is not None:
            body["device_lists"] = self.device_lists
        if self.device_one_time_keys_count is not None:
            body["device_one_time_keys_count"] = self.device_one_time_keys_count
        if self.device_unused_fallback_key_types is not None:
            body["device_unused_fallback_key_types"] = self.device_unused_fallback_key_types
        return body


def _timeline(events: list[JsonDict], limited: bool, prev_batch: str | None) -> JsonDict:
    timeline: JsonDict = {"events": events, "limited": limited}
    if prev_batch is not None:
        timeline["prev_batch"] = prev_batch
    return timeline


class StreamProvider(Protocol):
    """One stream of the sync token and the response section(s) it feeds (see module doc)."""

    @property
    def stream(self) -> StreamName: ...

    @property
    def notifier(self) -> Notifier: ...

    async def current_position(self) -> int: ...

    async def sync(
        self, request: SyncRequest, response: SyncResponse, since: int | None, upto: int
    ) -> int: ...


class RoomDecorator(Protocol):
    """Adds per-room data computed from several streams (``unread_notifications``)."""

    async def decorate(self, request: SyncRequest, response: SyncResponse) -> None: ...


class PresenceSetter(Protocol):
    """Where ``set_presence`` of ``/sync`` goes (the presence service, when there is one)."""

    async def set_presence_from_sync(
        self, user_id: str, device_id: str | None, presence: str
    ) -> None: ...


def wait_targets(request: SyncRequest) -> tuple[Collection[str], Collection[str]]:
    """The users and rooms a long-poll for ``request`` waits on: the user, their joined rooms."""
    return (request.user_id,), request.joined_room_ids()
