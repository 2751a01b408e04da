"""The state before an event (spec: Server-Server API, "Checks performed on receipt of a PDU"
step 5 and "Room State Resolution": the state before an event is the state after its single
prev event, or the resolution of the states after its prev events).
"""

from collections.abc import Sequence
from dataclasses import dataclass

from myelin.core.events import EventView
from myelin.core.room_versions import RoomVersion
from myelin.core.state_res import MissingEventError, resolve_state
from myelin.services.events.errors import MissingPrerequisiteError
from myelin.services.events.loading import (
    EventReader,
    StateKey,
    StateReader,
    load_with_auth_chains,
)


@dataclass(frozen=True)
class StateBefore:
    """The state before an event.

    ``group`` is the stored state group holding exactly ``state`` (the state after the single
    prev event, or the one shared by all prev events); None when ``state`` was resolved from
    several groups and is not stored yet. ``parent`` is then a stored group to store ``state``
    as a delta against (None for no prev events).
    """

    prev_event_ids: tuple[str, ...]
    state: dict[StateKey, str]
    group: int | None
    parent: int | None
    parent_state: dict[StateKey, str]


async def resolve_states(
    events: EventReader,
    room_version: RoomVersion,
    state_sets: Sequence[dict[StateKey, str]],
    unstored: Sequence[EventView] = (),
) -> dict[StateKey, str]:
    """State resolution of ``state_sets``, loading the events and auth chains it reads.

    ``unstored`` are events of the state sets not persisted yet (the event being written).
    """
    if len(state_sets) == 1:
        return dict(state_sets[0])
    extra = {e.event_id: e for e in unstored}
    event_ids = {event_id for state in state_sets for event_id in state.values()}
    event_ids.update(a for e in unstored for a in e.auth_event_ids)
    loaded = await load_with_auth_chains(events, event_ids - extra.keys(), room_version)
    try:
        return resolve_state(room_version, state_sets, {**loaded.views, **extra}, loaded.rejected)
    except MissingEventError as e:
        raise MissingPrerequisiteError(
            f"state resolution needs event {e.event_id}, which is not stored", [e.event_id]
        ) from e


async def compute_state_before(
    events: EventReader,
    state: StateReader,
    room_version: RoomVersion,
    prev_event_ids: Sequence[str],
) -> StateBefore:
    """The state before an event whose prev events are ``prev_event_ids``.

    Raise ``MissingPrerequisiteError`` when a prev event has no stored state (not stored, or an
    outlier): federation will have to fetch the state at that event first.
    """
    prevs = tuple(dict.fromkeys(prev_event_ids))
    if not prevs:
        return StateBefore(prevs, {}, None, None, {})
    groups = await state.get_state_groups_for_events(prevs)
    missing = [p for p in prevs if p not in groups]
    if missing:
        raise MissingPrerequisiteError(
            f"no state is known at prev events {', '.join(missing)}", missing
        )
    distinct = list(dict.fromkeys(groups[p] for p in prevs))
    maps = [await state.get_state_map(group) for group in distinct]
    if len(distinct) == 1:
        return StateBefore(prevs, maps[0], distinct[0], distinct[0], maps[0])
    resolved = await resolve_states(events, room_version, maps)
    return StateBefore(prevs, resolved, None, distinct[0], maps[0])
