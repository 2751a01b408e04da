"""Reading events and state back from storage for the write path (spec: Server-Server API,
"Room State Resolution": the algorithm reads the state sets' events and their auth chains).

Events come back as ``EventView`` objects over the JSON as stored (byte-for-byte the JSON as
received), with the server's facts (rejected or not) alongside.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from myelin.core.events import EventView
from myelin.core.room_versions import RoomVersion
from myelin.storage import StoredEvent

StateKey = tuple[str, str]


class EventReader(Protocol):
    """The part of ``EventStore`` the write path reads."""

    async def get_events(self, event_ids: Sequence[str]) -> dict[str, StoredEvent]: ...


class StateReader(Protocol):
    """The part of ``StateStore`` the write path reads."""

    async def get_state_map(self, group: int) -> dict[StateKey, str]: ...

    async def get_state_groups_for_events(self, event_ids: Sequence[str]) -> dict[str, int]: ...


@dataclass
class LoadedEvents:
    """Events read from storage, as views, and which of them the server rejected."""

    views: dict[str, EventView] = field(default_factory=dict)
    rejected: set[str] = field(default_factory=set)
    stored: dict[str, StoredEvent] = field(default_factory=dict)


async def load_events(
    events: EventReader, event_ids: Iterable[str], room_version: RoomVersion
) -> LoadedEvents:
    """The stored events among ``event_ids`` (missing ones are left out)."""
    loaded = LoadedEvents()
    await _load_into(events, loaded, list(dict.fromkeys(event_ids)), room_version)
    return loaded


async def _load_into(
    events: EventReader, loaded: LoadedEvents, event_ids: Sequence[str], room_version: RoomVersion
) -> None:
    wanted = [e for e in event_ids if e not in loaded.views]
    if not wanted:
        return
    for event_id, stored in (await events.get_events(wanted)).items():
        loaded.views[event_id] = EventView(stored.json(), event_id, room_version)
        loaded.stored[event_id] = stored
        if stored.rejected_reason is not None:
            loaded.rejected.add(event_id)


async def load_with_auth_chains(
    events: EventReader, event_ids: Iterable[str], room_version: RoomVersion
) -> LoadedEvents:
    """``event_ids`` and every event of their auth chains that is stored, walking
    ``auth_events`` links breadth-first (and, in room version 12, the create event the room ID
    names, which is no auth event). State resolution reports anything still missing."""
    loaded = LoadedEvents()
    frontier = list(dict.fromkeys(event_ids))
    seen = set(frontier)
    while frontier:
        await _load_into(events, loaded, frontier, room_version)
        following: list[str] = []
        for event_id in frontier:
            view = loaded.views.get(event_id)
            if view is None:
                continue
            refs = list(view.auth_event_ids)
            if room_version.room_id_is_create_event_id and view.type != "m.room.create":
                refs.append("$" + view.room_id[1:])
            for ref in refs:
                if ref not in seen:
                    seen.add(ref)
                    following.append(ref)
        frontier = following
    return loaded


async def load_state_events(
    events: EventReader,
    state: Mapping[StateKey, str],
    keys: Iterable[StateKey],
    room_version: RoomVersion,
) -> dict[StateKey, EventView]:
    """The events of ``state`` under ``keys`` (those present), as views."""
    wanted = {key: state[key] for key in keys if key in state}
    loaded = await load_events(events, wanted.values(), room_version)
    return {key: loaded.views[eid] for key, eid in wanted.items() if eid in loaded.views}
