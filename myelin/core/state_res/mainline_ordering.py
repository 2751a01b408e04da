"""Mainline ordering (spec: "Room Version 2", state resolution "Definitions", *Mainline
ordering*).

The *mainline* of a power levels event P = P_0 is [P_0, P_1, ..., P_n], where P_{i+1} is the
``m.room.power_levels`` event among the ``auth_events`` of P_i. For another event e = e_0 the
list [e_1, ..., e_m] is formed the same way (e_0 itself is not in it). The *mainline position*
of e is the index i of P_i = e_j for the smallest j ≥ 1 with e_j in the mainline, or ∞ if there
is none. The mainline ordering sorts events so that x < y if

1. x's mainline position is *greater* than y's; or
2. the positions are the same, but x's ``origin_server_ts`` is *less*; or
3. both are the same, but x's ``event_id`` is *less*.
"""

import math
from collections.abc import Iterable, Iterator, Mapping

from myelin.core.events import EventView
from myelin.core.state_res.auth_chain import POWER_LEVELS_KEY, auth_event_of_type, get_event


def iter_power_levels_chain(event: EventView, event_map: Mapping[str, EventView]) -> Iterator[str]:
    """e_1, e_2, ...: the power levels event of ``event``'s auth events, then its own, ..."""
    seen: set[str] = {event.event_id}  # a cycle (broken events only) ends the walk
    current = auth_event_of_type(event, POWER_LEVELS_KEY, event_map)
    while current is not None and current.event_id not in seen:
        yield current.event_id
        seen.add(current.event_id)
        current = auth_event_of_type(current, POWER_LEVELS_KEY, event_map)


def mainline(power_levels_id: str | None, event_map: Mapping[str, EventView]) -> list[str]:
    """The mainline [P_0, P_1, ..., P_n] of the power levels event ``power_levels_id``.

    Empty when there is no power levels event.
    """
    if power_levels_id is None:
        return []
    head = get_event(event_map, power_levels_id)
    return [power_levels_id, *iter_power_levels_chain(head, event_map)]


def mainline_position(
    event: EventView, positions: Mapping[str, int], event_map: Mapping[str, EventView]
) -> float:
    """The mainline position of ``event``, given ``positions`` (P_i's ID to i); ∞ if none."""
    for event_j in iter_power_levels_chain(event, event_map):
        position = positions.get(event_j)
        if position is not None:
            return position
    return math.inf


def mainline_ordering(
    event_ids: Iterable[str], power_levels_id: str | None, event_map: Mapping[str, EventView]
) -> list[str]:
    """``event_ids`` sorted by the mainline ordering based on the power levels event
    ``power_levels_id`` (None: no power levels event, every position is ∞).
    """
    positions = {
        event_id: index for index, event_id in enumerate(mainline(power_levels_id, event_map))
    }

    def compare_key(event_id: str) -> tuple[float, int, str]:
        event = get_event(event_map, event_id)
        # 1. greater position first; 2. smaller origin_server_ts; 3. smaller event_id.
        return (
            -mainline_position(event, positions, event_map),
            event.origin_server_ts,
            event_id,
        )

    return sorted(event_ids, key=compare_key)
