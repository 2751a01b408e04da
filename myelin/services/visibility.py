"""Which events a user may see (spec: Client-Server API, "Room History Visibility", server
behaviour; "Leaving rooms" for forgotten rooms).

The rules themselves are in ``myelin.core.history_visibility``; this module loads what they
need, efficiently: for a batch of events, the state group of each (the state *after* it) gives
the ``m.room.history_visibility`` and the user's ``m.room.member`` in force. Only for the
events that change one of those two keys is the state before the event looked up, in the
state after its first prev event. State maps are loaded once per group and request.
"""

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from myelin.core.events import EventView
from myelin.core.history_visibility import user_may_see_event
from myelin.core.room_versions import RoomVersion
from myelin.storage import StateMap, StoredEvent

HISTORY_VISIBILITY = ("m.room.history_visibility", "")
MEMBER = "m.room.member"


class EventsReader(Protocol):
    async def get_events(self, event_ids: Sequence[str]) -> dict[str, StoredEvent]: ...

    async def get_prev_event_ids(self, event_id: str) -> list[str]: ...


class StateReader(Protocol):
    async def get_state_map(self, group: int) -> StateMap: ...

    async def get_state_groups_for_events(self, event_ids: Sequence[str]) -> dict[str, int]: ...


class MemberHistoryReader(Protocol):
    async def get_member_event_ids(self, room_id: str, user_id: str) -> list[tuple[str, int]]: ...

    async def is_forgotten(self, user_id: str, room_id: str) -> bool: ...


def event_view(stored: StoredEvent, room_version: RoomVersion) -> EventView:
    return EventView(stored.json(), stored.event_id, room_version)


def content_of(stored: StoredEvent | None) -> Mapping[str, Any]:
    if stored is None:
        return {}
    content = stored.json().get("content")
    return content if isinstance(content, dict) else {}


class StateCache:
    """State maps by group and state groups by event, loaded at most once per request."""

    def __init__(self, events: EventsReader, state: StateReader) -> None:
        self.events = events
        self.state = state
        self._maps: dict[int, StateMap] = {}
        self._groups: dict[str, int | None] = {}
        self._stored: dict[str, StoredEvent | None] = {}

    async def groups(self, event_ids: Sequence[str]) -> dict[str, int | None]:
        wanted = [e for e in dict.fromkeys(event_ids) if e not in self._groups]
        if wanted:
            found = await self.state.get_state_groups_for_events(wanted)
            for event_id in wanted:
                self._groups[event_id] = found.get(event_id)
        return {e: self._groups[e] for e in event_ids}

    async def state_map(self, group: int) -> StateMap:
        if group not in self._maps:
            self._maps[group] = await self.state.get_state_map(group)
        return self._maps[group]

    async def state_after(self, event_id: str) -> StateMap:
        """The state after an event (empty when it has none: an outlier or unknown event)."""
        group = (await self.groups([event_id]))[event_id]
        return {} if group is None else await self.state_map(group)

    async def state_before(self, event: StoredEvent) -> StateMap:
        """The state before a timeline event: the state after its first prev event."""
        if event.state_key is None:
            return await self.state_after(event.event_id)
        prevs = await self.events.get_prev_event_ids(event.event_id)
        return {} if not prevs else await self.state_after(prevs[0])

    async def load(self, event_ids: Sequence[str]) -> dict[str, StoredEvent]:
        wanted = [e for e in dict.fromkeys(event_ids) if e not in self._stored]
        if wanted:
            found = await self.events.get_events(wanted)
            for event_id in wanted:
                self._stored[event_id] = found.get(event_id)
        return {e: s for e in event_ids if (s := self._stored.get(e)) is not None}


async def memberships_over_time(
    cache: StateCache, history: MemberHistoryReader, room_id: str, user_id: str
) -> list[tuple[int, str]]:
    """``user_id``'s memberships in the room: (stream ordering, membership), oldest first."""
    rows = await history.get_member_event_ids(room_id, user_id)
    stored = await cache.load([event_id for event_id, _ in rows])
    result = []
    for event_id, position in rows:
        membership = content_of(stored.get(event_id)).get("membership")
        if isinstance(membership, str):
            result.append((position, membership))
    return result


async def filter_visible(
    cache: StateCache,
    history: MemberHistoryReader,
    room_version: RoomVersion,
    user_id: str,
    events: Sequence[StoredEvent],
    *,
    membership_now: str | None,
) -> tuple[list[StoredEvent], dict[str, str]]:
    """The events ``user_id`` may see, in order, and their membership at each of them (for
    ``unsigned.membership``). A forgotten room shows nothing, unless the user is back in it."""
    if not events:
        return [], {}
    room_id = events[0].room_id
    if membership_now not in ("join", "invite", "knock") and await history.is_forgotten(
        user_id, room_id
    ):
        return [], {}
    joins = [
        position
        for position, membership in await memberships_over_time(cache, history, room_id, user_id)
        if membership == "join"
    ]
    last_join = max(joins, default=-1)
    member_key = (MEMBER, user_id)
    groups = await cache.groups([e.event_id for e in events])
    keys_by_event: dict[str, tuple[str | None, str | None]] = {}
    for stored in events:
        pair = (stored.type, stored.state_key)
        group = groups[stored.event_id]
        if pair in (HISTORY_VISIBILITY, member_key) or group is None:
            state = await cache.state_before(stored)
        else:
            state = await cache.state_map(group)
        keys_by_event[stored.event_id] = (state.get(HISTORY_VISIBILITY), state.get(member_key))
    state_events = await cache.load(
        [e for pair in keys_by_event.values() for e in pair if e is not None]
    )
    visible: list[StoredEvent] = []
    memberships: dict[str, str] = {}
    for stored in events:
        hv_id, member_id = keys_by_event[stored.event_id]
        before: dict[tuple[str, str], Mapping[str, Any]] = {}
        if hv_id is not None:
            before[HISTORY_VISIBILITY] = content_of(state_events.get(hv_id))
        if member_id is not None:
            before[member_key] = content_of(state_events.get(member_id))
        view = event_view(stored, room_version)
        if user_may_see_event(
            view,
            user_id,
            before,
            membership_now,
            joined_after_event=last_join > stored.stream_ordering,
        ):
            visible.append(stored)
            membership = before.get(member_key, {}).get("membership")
            if stored.type == MEMBER and stored.state_key == user_id:
                membership = view.content.get("membership")
            memberships[stored.event_id] = membership if isinstance(membership, str) else "leave"
    return visible, memberships
