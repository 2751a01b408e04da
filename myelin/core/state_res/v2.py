"""State resolution v2 and v2.1 (spec: "Room Version 2", state resolution "Algorithm"; and
"Room Version 12", "State resolution", for v2.1).

"The *resolution* of a set of states is obtained as follows:

1. Select the set X of all *power events* that appear in the *full conflicted set*. For each
   such power event P, enlarge X by adding the events in the auth chain of P which also belong
   to the full conflicted set. Sort X into a list using the *reverse topological power
   ordering*.
2. Apply the *iterative auth checks algorithm*, starting from the *unconflicted state map*
   (v2.1: from an *empty* state map), to the list of events from the previous step to get a
   partially resolved state.
3. Take all remaining events that weren't picked in step 1 and order them by the mainline
   ordering based on the power level in the partially resolved state obtained in step 2.
4. Apply the *iterative auth checks algorithm* on the partial resolved state and the list of
   events from the previous step.
5. Update the result by replacing any event with the event with the same key from the
   *unconflicted state map*, if such an event exists, to get the final resolved state."

The *full conflicted set* is the conflicted state set and the auth difference; v2.1 adds the
*conflicted state subgraph*.
"""

from collections.abc import Mapping, Sequence, Set

from myelin.core.events import EventView
from myelin.core.room_versions import RoomVersion, StateResVersion
from myelin.core.state_res.auth_chain import POWER_LEVELS_KEY, StateKey, auth_chain, get_event
from myelin.core.state_res.auth_difference import auth_difference
from myelin.core.state_res.conflicted_subgraph import conflicted_subgraph
from myelin.core.state_res.conflicts import (
    StateMap,
    conflicted_state_set,
    is_power_event,
    separate_v2,
)
from myelin.core.state_res.iterative_auth_checks import iterative_auth_checks
from myelin.core.state_res.mainline_ordering import mainline_ordering
from myelin.core.state_res.power_ordering import reverse_topological_power_ordering


def full_conflicted_set(
    room_version: RoomVersion,
    state_sets: Sequence[StateMap],
    conflicted_events: Set[str],
    event_map: Mapping[str, EventView],
) -> set[str]:
    """The conflicted state set ∪ the auth difference (∪ the conflicted state subgraph, v2.1)."""
    result = set(conflicted_events)
    result.update(auth_difference(state_sets, event_map))
    if room_version.state_res is StateResVersion.V2_1:
        result.update(conflicted_subgraph(conflicted_events, event_map))
    return result


def power_events_and_auth_ancestors(
    full_conflicted: Set[str], event_map: Mapping[str, EventView]
) -> set[str]:
    """Step 1's X: the power events of ``full_conflicted`` and the events of their auth chains
    that are in ``full_conflicted``.
    """
    power_events = {
        event_id for event_id in full_conflicted if is_power_event(get_event(event_map, event_id))
    }
    return power_events | (auth_chain(power_events, event_map) & full_conflicted)


def resolve_v2(
    room_version: RoomVersion,
    state_sets: Sequence[StateMap],
    event_map: Mapping[str, EventView],
    rejected_event_ids: Set[str] = frozenset(),
) -> dict[StateKey, str]:
    """The resolution of ``state_sets`` by state resolution v2 or v2.1 (per ``room_version``)."""
    unconflicted, conflicted = separate_v2(state_sets)
    if not conflicted:
        return unconflicted
    conflicted_events = conflicted_state_set(conflicted)
    full_conflicted = full_conflicted_set(room_version, state_sets, conflicted_events, event_map)

    # 1. X: power events of the full conflicted set and their conflicted auth ancestors, in
    # reverse topological power ordering.
    power_set = power_events_and_auth_ancestors(full_conflicted, event_map)
    sorted_power = reverse_topological_power_ordering(power_set, event_map)

    # 2. Iterative auth checks from the unconflicted state map (v2.1: from an empty map).
    initial: Mapping[StateKey, str] = (
        {} if room_version.state_res is StateResVersion.V2_1 else unconflicted
    )
    partial = iterative_auth_checks(
        room_version, sorted_power, initial, event_map, rejected_event_ids
    )

    # 3. The other events, in mainline ordering based on the partial state's power levels.
    remaining = full_conflicted - power_set
    sorted_remaining = mainline_ordering(remaining, partial.get(POWER_LEVELS_KEY), event_map)

    # 4. Iterative auth checks of those on top of the partially resolved state.
    resolved = iterative_auth_checks(
        room_version, sorted_remaining, partial, event_map, rejected_event_ids
    )

    # 5. The unconflicted state map wins for every key it has.
    resolved.update(unconflicted)
    return resolved
