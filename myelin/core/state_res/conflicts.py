"""Unconflicted state map and conflicted state set (spec: "Room Version 2", state resolution
"Definitions", *Unconflicted state map and conflicted state set* and *Power events*; and the
*conflict* definition of "Room Version 1", "State resolution").
"""

from collections.abc import Mapping, Sequence

from myelin.core.events import EventView
from myelin.core.state_res.auth_chain import StateKey

StateMap = Mapping[StateKey, str]
"""A room state: ``(event_type, state_key)`` to event ID."""


def separate_v2(
    state_sets: Sequence[StateMap],
) -> tuple[dict[StateKey, str], dict[StateKey, set[str]]]:
    """Split ``state_sets`` into the unconflicted state map and the conflicted events per key.

    Version 2: a key is unconflicted only if it is present in *every* state set with the same
    value; otherwise every value it has in any set is conflicted (a key missing from one set is
    a conflict).
    """
    unconflicted: dict[StateKey, str] = {}
    conflicted: dict[StateKey, set[str]] = {}
    keys: set[StateKey] = set()
    for state_set in state_sets:
        keys.update(state_set)
    for key in keys:
        values = {state_set.get(key) for state_set in state_sets}
        if len(values) == 1 and None not in values:
            (value,) = values
            assert value is not None
            unconflicted[key] = value
        else:
            conflicted[key] = {value for value in values if value is not None}
    return unconflicted, conflicted


def separate_v1(
    state_sets: Sequence[StateMap],
) -> tuple[dict[StateKey, str], dict[StateKey, set[str]]]:
    """Split ``state_sets`` as room version 1 does.

    Version 1: "A *conflict* occurs between states where those states have different
    ``event_ids`` for the same ``(event_type, state_key)``." A key present in only some sets,
    always with the same value, is not a conflict: it belongs to the union.
    """
    values_by_key: dict[StateKey, set[str]] = {}
    for state_set in state_sets:
        for key, event_id in state_set.items():
            values_by_key.setdefault(key, set()).add(event_id)
    unconflicted: dict[StateKey, str] = {}
    conflicted: dict[StateKey, set[str]] = {}
    for key, values in values_by_key.items():
        if len(values) == 1:
            (unconflicted[key],) = values
        else:
            conflicted[key] = values
    return unconflicted, conflicted


def conflicted_state_set(conflicted: Mapping[StateKey, set[str]]) -> set[str]:
    """Every event of the conflicted state set, across all keys."""
    result: set[str] = set()
    for event_ids in conflicted.values():
        result.update(event_ids)
    return result


def is_power_event(event: EventView) -> bool:
    """Whether ``event`` is a *power event*.

    The spec: a state event of type ``m.room.power_levels`` or ``m.room.join_rules``, or an
    ``m.room.member`` state event whose ``membership`` is ``leave`` or ``ban`` and whose
    ``sender`` is not its ``state_key`` (a kick or a ban).

    Like Synapse and ruma, the power levels and join rules events count only with the empty
    ``state_key`` (other state keys carry no power), and the ``m.room.create`` event counts too
    (it is conflicted only in broken rooms): servers must agree on this to converge.
    """
    if event.state_pair in (
        ("m.room.power_levels", ""),
        ("m.room.join_rules", ""),
        ("m.room.create", ""),
    ):
        return True
    return (
        event.is_state
        and event.type == "m.room.member"
        and event.membership in ("leave", "ban")
        and event.sender != event.state_key
    )
