"""Conflicted state subgraph (spec: "Room Version 12", state resolution "Definitions",
*Conflicted state subgraph*; state resolution v2.1).

"Starting from an event in the *conflicted state set* and following ``auth_events`` edges may
lead to another event in the conflicted state set. The union of all such paths between any pair
of events in the conflicted state set (including endpoints) forms a subgraph of the original
``auth_event`` graph, called the *conflicted state subgraph*."

An event is on such a path exactly when it is a conflicted event or an ancestor (through
``auth_events``) of one, and it is a conflicted event or has one among its own ancestors.
"""

from collections.abc import Collection, Mapping

from myelin.core.events import EventView
from myelin.core.state_res.auth_chain import get_event


def conflicted_subgraph(
    conflicted_events: Collection[str], event_map: Mapping[str, EventView]
) -> set[str]:
    """The events on ``auth_events`` paths between events of ``conflicted_events``."""
    conflicted = set(conflicted_events)
    # 1. Every event reachable from a conflicted event (the conflicted events included).
    reachable: set[str] = set()
    stack = list(conflicted)
    while stack:
        event_id = stack.pop()
        if event_id in reachable:
            continue
        reachable.add(event_id)
        stack.extend(get_event(event_map, event_id).auth_event_ids)
    # 2. Of those, the ones from which a conflicted event is reachable (an empty path counts):
    # an iterative post-order walk computing "reaches a conflicted event" once per event.
    # ``entered`` guards against auth_events cycles, which only broken events can form.
    reaches: dict[str, bool] = {}
    entered: set[str] = set()
    for start in reachable:
        work: list[tuple[str, bool]] = [(start, False)]
        while work:
            event_id, expanded = work.pop()
            if event_id in reaches:
                continue
            parents = get_event(event_map, event_id).auth_event_ids
            if expanded:
                reaches[event_id] = event_id in conflicted or any(
                    reaches.get(parent, False) for parent in parents
                )
                continue
            if event_id in entered:
                continue
            entered.add(event_id)
            work.append((event_id, True))
            work.extend((parent, False) for parent in parents if parent not in reaches)
    return {event_id for event_id in reachable if reaches[event_id]}
