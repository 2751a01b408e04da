"""Auth difference (spec: "Room Version 2", state resolution "Definitions", *Auth difference*).

"The *auth difference* is calculated by first calculating the full auth chain for each state
S_i, that is the union of the auth chains for each event in S_i, and then taking every event
that doesn't appear in every auth chain": ∪ C_i − ∩ C_i.

The full auth chain C_i of a state set here also holds the state set's own events, as Synapse
computes it (its chain cover index counts each state event as reachable from its own set). Read
literally, the spec leaves an event out of its own auth chain; the two readings differ only when
an unconflicted event is cited by the auth events of one state set and not another, and then the
literal reading replays it. Following the most deployed implementation keeps servers converging.
"""

from collections.abc import Mapping, Sequence

from myelin.core.events import EventView
from myelin.core.state_res.auth_chain import auth_chain
from myelin.core.state_res.conflicts import StateMap


def full_auth_chain(state_set: StateMap, event_map: Mapping[str, EventView]) -> set[str]:
    """C_i: the union of the auth chains of the events of ``state_set``, and those events."""
    chain = auth_chain(state_set.values(), event_map)
    chain.update(state_set.values())
    return chain


def auth_difference(state_sets: Sequence[StateMap], event_map: Mapping[str, EventView]) -> set[str]:
    """∪ C_i − ∩ C_i over the full auth chains C_i of ``state_sets``."""
    if not state_sets:
        return set()
    chains = [full_auth_chain(state_set, event_map) for state_set in state_sets]
    union: set[str] = set().union(*chains)
    intersection: set[str] = set(chains[0]).intersection(*chains[1:])
    return union - intersection
