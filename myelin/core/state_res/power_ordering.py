"""Reverse topological power ordering (spec: "Room Version 2", state resolution "Definitions",
*Reverse topological power ordering*).

"The lexicographically smallest topological ordering based on the DAG formed by auth events",
earliest event first, found "using Kahn's algorithm for topological sorting, and at each step
selecting, among all the candidate vertices, the smallest vertex" where x < y if

1. x's sender has *greater* power level than y's sender, looking at their respective
   ``auth_events``; or
2. the senders have the same power level, but x's ``origin_server_ts`` is *less*; or
3. both are the same, but x's ``event_id`` is *less*.

The DAG over a set of events S has an edge from e to every event of S reachable from e through
``auth_events``, also through events outside S: the lexicographically smallest topological order
depends only on that reachability, so edges to the nearest events of S suffice.
"""

import heapq
from collections.abc import Callable, Collection, Mapping
from typing import TypeVar

from myelin.core.events import EventView
from myelin.core.power_levels import user_power_level
from myelin.core.state_res.auth_chain import (
    POWER_LEVELS_KEY,
    auth_event_of_type,
    create_event_of,
    get_event,
)

SortKey = TypeVar("SortKey", bound=tuple[object, ...])


def sender_power_level(event: EventView, event_map: Mapping[str, EventView]) -> int | float:
    """The power level of ``event``'s sender according to ``event``'s own auth events.

    The power levels event is the one among ``auth_events``; the create event is the one among
    ``auth_events`` or, from room version 12, the one the room ID names (its creators have
    infinite power there).
    """
    power_levels = auth_event_of_type(event, POWER_LEVELS_KEY, event_map)
    create = create_event_of(event, event_map)
    if create is event:
        # The create event has no auth events: there is no state yet to give its sender power,
        # except in room version 12 where its sender is a creator.
        create = create if event.room_version.privileged_creators else None
    return user_power_level(event.room_version, event.sender, create, power_levels)


def auth_dag_within(
    event_ids: Collection[str], event_map: Mapping[str, EventView]
) -> dict[str, set[str]]:
    """For each event of ``event_ids``, the nearest events of ``event_ids`` among its ancestors.

    "Nearest": reachable through ``auth_events`` without passing another event of ``event_ids``.
    The transitive closure of this graph is auth-chain reachability restricted to ``event_ids``.
    """
    members = set(event_ids)
    # nearest[n]: for any reached event n, the nearest members among n's ancestors.
    nearest: dict[str, set[str]] = {}
    entered: set[str] = set()  # guards against auth_events cycles (broken events only)
    for start in members:
        work: list[tuple[str, bool]] = [(start, False)]
        while work:
            event_id, expanded = work.pop()
            if event_id in nearest:
                continue
            parents = get_event(event_map, event_id).auth_event_ids
            if expanded:
                found: set[str] = set()
                for parent in parents:
                    if parent in members:
                        found.add(parent)
                    else:
                        found.update(nearest.get(parent, ()))
                nearest[event_id] = found
                continue
            if event_id in entered:
                continue
            entered.add(event_id)
            work.append((event_id, True))
            work.extend((parent, False) for parent in parents if parent not in nearest)
    return {event_id: nearest.get(event_id, set()) for event_id in members}


def lexicographic_topological_sort(
    graph: Mapping[str, Collection[str]], key: Callable[[str], SortKey]
) -> list[str]:
    """Kahn's algorithm: the topological order of ``graph`` smallest by ``key`` at every step.

    ``graph[v]`` holds the vertices that must come before ``v``. Vertices on a cycle (which
    valid auth events cannot form) never become candidates and are left out.
    """
    remaining = {vertex: len(before) for vertex, before in graph.items()}
    after: dict[str, list[str]] = {vertex: [] for vertex in graph}
    for vertex, before in graph.items():
        for earlier in before:
            after[earlier].append(vertex)
    heap = [(key(vertex), vertex) for vertex, count in remaining.items() if count == 0]
    heapq.heapify(heap)
    ordered: list[str] = []
    while heap:
        _, vertex = heapq.heappop(heap)
        ordered.append(vertex)
        for later in after[vertex]:
            remaining[later] -= 1
            if remaining[later] == 0:
                heapq.heappush(heap, (key(later), later))
    return ordered


def reverse_topological_power_ordering(
    event_ids: Collection[str], event_map: Mapping[str, EventView]
) -> list[str]:
    """``event_ids`` in reverse topological power ordering, earliest first."""
    graph = auth_dag_within(event_ids, event_map)
    power = {event_id: sender_power_level(event_map[event_id], event_map) for event_id in graph}

    def compare_key(event_id: str) -> tuple[int | float, int, str]:
        # 1. greater power first; 2. smaller origin_server_ts first; 3. smaller event_id first.
        return (-power[event_id], event_map[event_id].origin_server_ts, event_id)

    return lexicographic_topological_sort(graph, compare_key)
