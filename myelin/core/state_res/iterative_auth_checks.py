"""Iterative auth checks (spec: "Room Version 2", state resolution "Definitions", *Iterative
auth checks*).

"The *iterative auth checks algorithm* takes as input an initial room state and a sorted list of
state events, and constructs a new room state by iterating through the event list and applying
the state event to the room state if the state event is allowed by the authorisation rules. If
the state event is not allowed by the authorisation rules, then the event is ignored. If a
``(event_type, state_key)`` key that is required for checking the authorisation rules is not
present in the state, then the appropriate state event from the event's ``auth_events`` is used
if the auth event is not rejected."

The checks are the state-dependent authorization rules of ``myelin.core.auth_rules``; rules that
need only the event and its own auth events (format, signatures, ``auth_events`` selection) were
checked when the event was received, and events failing them never reach state resolution.
"""

from collections.abc import Iterable, Mapping, Set

from myelin.core.auth_rules import auth_types_for_event, check_state_dependent_auth_rules
from myelin.core.errors import AuthError
from myelin.core.events import EventView
from myelin.core.room_versions import RoomVersion
from myelin.core.state_res.auth_chain import CREATE_KEY, StateKey, create_event_of, get_event


def auth_state_for(
    room_version: RoomVersion,
    event: EventView,
    state: Mapping[StateKey, str],
    event_map: Mapping[str, EventView],
    rejected_event_ids: Set[str],
) -> dict[StateKey, EventView]:
    """The state ``event`` is checked against: ``state`` where it has a key the auth rules need,
    else ``event``'s own (not rejected) auth event of that key.

    From room version 12 the create event is never an auth event: the one the room ID names is
    added (the room's create event is part of every state the rules read).
    """
    auth_state: dict[StateKey, EventView] = {}
    for auth_id in event.auth_event_ids:
        auth_event = get_event(event_map, auth_id)
        pair = auth_event.state_pair
        if pair is not None and auth_id not in rejected_event_ids:
            auth_state[pair] = auth_event
    required = auth_types_for_event(
        room_version, event.type, event.sender, event.state_key, event.content
    )
    for key in required:
        state_id = state.get(key)
        if state_id is not None:
            auth_state[key] = get_event(event_map, state_id)
    if room_version.room_id_is_create_event_id and CREATE_KEY not in auth_state:
        create = create_event_of(event, event_map)
        if create is not None and create is not event:
            auth_state[CREATE_KEY] = create
    return auth_state


def iterative_auth_checks(
    room_version: RoomVersion,
    sorted_event_ids: Iterable[str],
    initial_state: Mapping[StateKey, str],
    event_map: Mapping[str, EventView],
    rejected_event_ids: Set[str] = frozenset(),
) -> dict[StateKey, str]:
    """Apply ``sorted_event_ids`` in order on top of ``initial_state``, keeping those the auth
    rules allow; return the new state (``initial_state`` is not modified).

    ``rejected_event_ids``: events the server rejected; they are not used as fallback auth
    events (they may still be applied themselves if they pass against the state).
    """
    state = dict(initial_state)
    for event_id in sorted_event_ids:
        event = get_event(event_map, event_id)
        pair = event.state_pair
        if pair is None:
            continue  # only state events can be applied to a state
        auth_state = auth_state_for(room_version, event, state, event_map, rejected_event_ids)
        try:
            check_state_dependent_auth_rules(room_version, event, auth_state)
        except AuthError:
            continue  # "If the state event is not allowed ... the event is ignored."
        state[pair] = event_id
    return state
