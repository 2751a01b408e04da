"""What a push notification says around its event (spec: Push Gateway API, the fields
``sender_display_name``, ``room_name``, ``room_alias`` and ``counts``).

The names come from the room state after the event (the state group the write path gave
it); the unread count from the user's unread notifications and pending invites.
"""

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from myelin.services.push_gateway.notification import EventDescription
from myelin.storage.events import StoredEvent
from myelin.storage.push_actions import RoomCounts

_NAME = ("m.room.name", "")
_ALIAS = ("m.room.canonical_alias", "")


class EventLoader(Protocol):
    async def get_events(self, event_ids: Sequence[str]) -> dict[str, StoredEvent]: ...


class StateReader(Protocol):
    async def get_state_map(self, group: int) -> dict[tuple[str, str], str]: ...

    async def get_state_group_for_event(self, event_id: str) -> int | None: ...

    async def get_rooms_for_user(self, user_id: str, membership: str = "join") -> list[str]: ...


class CountsReader(Protocol):
    async def get_unread_counts(
        self, user_id: str, room_ids: Sequence[str]
    ) -> dict[str, RoomCounts]: ...


def _text(stored: StoredEvent | None, key: str) -> str | None:
    if stored is None:
        return None
    content = stored.json().get("content")
    value = content.get(key) if isinstance(content, Mapping) else None
    return value if isinstance(value, str) and value else None


class NotificationContext:
    """Reads what notifications need beyond the event and its actions."""

    def __init__(
        self,
        *,
        events: EventLoader,
        state: StateReader,
        counts: CountsReader,
        group_unread_count_by_room: bool = True,
    ) -> None:
        self._events = events
        self._state = state
        self._counts = counts
        self._by_room = group_unread_count_by_room

    async def event_json(self, event_id: str) -> dict[str, Any] | None:
        """The stored event (None when it is gone, e.g. purged with its room)."""
        stored = (await self._events.get_events([event_id])).get(event_id)
        if stored is None or stored.rejected_reason is not None:
            return None
        event = stored.json()
        # Not part of every PDU format.
        event.setdefault("event_id", stored.event_id)
        event.setdefault("room_id", stored.room_id)
        return event

    async def describe(self, event: Mapping[str, Any], state_group: int | None) -> EventDescription:
        """The sender's display name and the room's name and alias in the state after
        ``event`` (nothing when that state is unknown)."""
        if state_group is None:
            state_group = await self._state.get_state_group_for_event(str(event["event_id"]))
        if state_group is None:
            return EventDescription()
        state = await self._state.get_state_map(state_group)
        member = state.get(("m.room.member", str(event.get("sender", ""))))
        wanted = [i for i in (member, state.get(_NAME), state.get(_ALIAS)) if i is not None]
        loaded = await self._events.get_events(wanted)
        return EventDescription(
            sender_display_name=_text(loaded.get(member or ""), "displayname"),
            room_name=_text(loaded.get(state.get(_NAME, "")), "name"),
            room_alias=_text(loaded.get(state.get(_ALIAS, "")), "alias"),
        )

    async def unread(self, user_id: str) -> int:
        """``counts.unread`` as Synapse computes it by default (``push``
        ``group_unread_count_by_room``): the number of rooms with unread notifications, plus
        the rooms the user is invited to; else the number of unread notifications (threads
        included), plus the invites."""
        invites = await self._state.get_rooms_for_user(user_id, "invite")
        joined = await self._state.get_rooms_for_user(user_id, "join")
        total = len(invites)
        if joined:
            for room in (await self._counts.get_unread_counts(user_id, joined)).values():
                notified = room.total().notification_count
                if notified:
                    total += 1 if self._by_room else notified
        return total
