"""State resolution entry point (spec: "Server-Server API", "Room State Resolution": "The
algorithm to be used for state resolution depends on the room version").

The core is pure: no I/O, no asyncio. The caller passes ``event_map`` holding every event of
the state sets *and their full auth chains* (from room version 12, also the create event the
room ID names). A missing event raises ``MissingEventError`` naming it, so the caller can fetch
it and call again.
"""

from collections.abc import Mapping, Sequence, Set

from myelin.core.events import EventView
from myelin.core.room_versions import RoomVersion, StateResVersion
from myelin.core.state_res.auth_chain import StateKey
from myelin.core.state_res.v1 import resolve_v1
from myelin.core.state_res.v2 import resolve_v2


def resolve_state(
    room_version: RoomVersion,
    state_sets: Sequence[Mapping[tuple[str, str], str]],
    event_map: Mapping[str, EventView],
    rejected_event_ids: Set[str] = frozenset(),
) -> dict[StateKey, str]:
    """The resolution of ``state_sets`` (maps of ``(type, state_key)`` to event ID).

    ``rejected_event_ids`` (v2 and v2.1): events the server rejected; the iterative auth checks
    do not fall back on them as auth events.
    """
    if not state_sets:
        return {}
    if len(state_sets) == 1:
        return dict(state_sets[0])
    if room_version.state_res is StateResVersion.V1:
        return resolve_v1(room_version, state_sets, event_map)
    return resolve_v2(room_version, state_sets, event_map, rejected_event_ids)
