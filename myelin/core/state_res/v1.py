"""State resolution v1 (spec: "Room Version 1", "State resolution").

"The resolved state is built up in a number of passes; here we use R to refer to the results
of the resolution so far.

- Start by setting R to the union of the states to be resolved, excluding any *conflicting*
  events.
- First we resolve conflicts between ``m.room.power_levels`` events. If there is no conflict,
  this step is skipped, otherwise:
  - Assemble all the ``m.room.power_levels`` events from the states to be resolved into a list.
  - Sort the list by ascending ``depth`` then descending ``sha1(event_id)``.
  - Add the first event in the list to R.
  - For each subsequent event in the list, check that the event would be allowed by the
    authorisation rules for a room in state R. If the event would be allowed, then update R
    with the event and continue with the next event in the list. If it would not be allowed,
    stop and continue below with ``m.room.join_rules`` events.
- Repeat the above process for conflicts between ``m.room.join_rules`` events.
- Repeat the above process for conflicts between ``m.room.member`` events.
- No other events affect the authorisation rules, so for all other conflicts, just pick the
  event with the highest depth and lowest ``sha1(event_id)`` that passes authentication in R
  and add it to R."

Where the spec is silent this follows Synapse, so that servers converge: within one pass each
conflicted key is resolved against R as it was when the pass began (the result does not depend
on the order of keys), R is updated at the end of the pass; and when no event of an "other"
conflict passes, the last one in the order (the lowest depth) is taken.
"""

import hashlib
from collections.abc import Collection, Mapping, Sequence

from myelin.core.auth_rules import auth_types_for_event, check_state_dependent_auth_rules
from myelin.core.errors import AuthError
from myelin.core.events import EventView
from myelin.core.room_versions import RoomVersion
from myelin.core.state_res.auth_chain import StateKey, get_event
from myelin.core.state_res.conflicts import StateMap, separate_v1

# The passes over auth-relevant conflicts, in order.
AUTH_PASSES = ("m.room.power_levels", "m.room.join_rules", "m.room.member")


def _sha1_hex(event_id: str) -> str:
    return hashlib.sha1(event_id.encode("utf-8")).hexdigest()


def ascending_depth_descending_sha1(events: Collection[EventView]) -> list[EventView]:
    """``events`` by ascending ``depth``, then descending ``sha1(event_id)``."""
    return sorted(events, key=lambda event: (-event.depth, _sha1_hex(event.event_id)))[::-1]


def is_allowed_in(
    room_version: RoomVersion,
    event: EventView,
    state: Mapping[StateKey, str],
    event_map: Mapping[str, EventView],
) -> bool:
    """Whether the authorization rules allow ``event`` in a room whose state is ``state``."""
    keys = auth_types_for_event(
        room_version, event.type, event.sender, event.state_key, event.content
    )
    auth_state = {key: get_event(event_map, state[key]) for key in keys if key in state}
    try:
        check_state_dependent_auth_rules(room_version, event, auth_state)
    except AuthError:
        return False
    return True


def resolve_auth_conflict(
    room_version: RoomVersion,
    key: StateKey,
    events: Collection[EventView],
    state: Mapping[StateKey, str],
    event_map: Mapping[str, EventView],
) -> str:
    """One pass for one key: the first event, then each following one while R allows it."""
    ordered = ascending_depth_descending_sha1(events)
    # "Add the first event in the list to R."
    trial = dict(state)
    chosen = ordered[0].event_id
    trial[key] = chosen
    # "For each subsequent event ... If it would not be allowed, stop."
    for event in ordered[1:]:
        if not is_allowed_in(room_version, event, trial, event_map):
            break
        chosen = event.event_id
        trial[key] = chosen
    return chosen


def resolve_other_conflict(
    room_version: RoomVersion,
    events: Collection[EventView],
    state: Mapping[StateKey, str],
    event_map: Mapping[str, EventView],
) -> str:
    """The event of highest depth and lowest sha1 that passes authentication in R."""
    ordered = sorted(events, key=lambda event: (-event.depth, _sha1_hex(event.event_id)))
    for event in ordered:
        if is_allowed_in(room_version, event, state, event_map):
            return event.event_id
    return ordered[-1].event_id  # none passes: Synapse keeps the last (lowest depth) one


def resolve_v1(
    room_version: RoomVersion,
    state_sets: Sequence[StateMap],
    event_map: Mapping[str, EventView],
) -> dict[StateKey, str]:
    """The resolution of ``state_sets`` by state resolution v1."""
    unconflicted, conflicted = separate_v1(state_sets)
    # R: the union of the states, excluding conflicting events.
    resolved = dict(unconflicted)
    if not conflicted:
        return resolved
    events_by_key = {
        key: [get_event(event_map, event_id) for event_id in event_ids]
        for key, event_ids in conflicted.items()
    }
    # Power levels, then join rules, then members: each pass updates R when it ends.
    for event_type in AUTH_PASSES:
        outcome = {
            key: resolve_auth_conflict(room_version, key, events, resolved, event_map)
            for key, events in events_by_key.items()
            if key[0] == event_type
        }
        resolved.update(outcome)
    # All other conflicts, against R after the three passes.
    outcome = {
        key: resolve_other_conflict(room_version, events, resolved, event_map)
        for key, events in events_by_key.items()
        if key[0] not in AUTH_PASSES
    }
    resolved.update(outcome)
    return resolved
