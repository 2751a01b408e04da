"""Test helper: rooms written as event DAGs for the state resolution tests.

A test lists its events (``FakeEvent``) and its ``prev_events`` edges as chains read from the
newest event back (``["END", "B", "A", "START"]`` means END follows B, B follows A, ...). The
helper builds a room on top of a few initial events, walking the DAG oldest first: the state
before each event is the resolution of the states after its ``prev_events`` (by the code under
test), and its ``auth_events`` are picked from that state by the auth events selection. Event
IDs are chosen (``$NAME``; ``$NAME:example.com`` in room versions 1 and 2), not hashes.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from myelin.core.auth_rules import auth_types_for_event
from myelin.core.events import EventView
from myelin.core.room_versions import EventIdFormat, RoomVersion
from myelin.core.state_res import resolve_state

ALICE = "@alice:example.com"
BOB = "@bob:example.com"
CHARLIE = "@charlie:example.com"
EVELYN = "@evelyn:example.com"
ZARA = "@zara:example.com"

StateMap = dict[tuple[str, str], str]


@dataclass
class FakeEvent:
    """One event of a test DAG; ``ts`` defaults to the event's position in the room."""

    name: str
    sender: str
    type: str
    state_key: str | None = None
    content: Mapping[str, Any] = field(default_factory=dict)
    ts: int | None = None


def member(name: str, sender: str, membership: str, target: str | None = None) -> FakeEvent:
    return FakeEvent(name, sender, "m.room.member", target or sender, {"membership": membership})


def power_levels(name: str, sender: str, users: Mapping[str, int], **extra: Any) -> FakeEvent:
    return FakeEvent(name, sender, "m.room.power_levels", "", {"users": dict(users), **extra})


def topic(name: str, sender: str) -> FakeEvent:
    return FakeEvent(name, sender, "m.room.topic", "", {"topic": name})


def join_rules(name: str, sender: str, rule: str) -> FakeEvent:
    return FakeEvent(name, sender, "m.room.join_rules", "", {"join_rule": rule})


def message(name: str, sender: str) -> FakeEvent:
    return FakeEvent(name, sender, "m.room.message", None, {"body": name})


def initial_events(
    room_version: RoomVersion,
    create_content: Mapping[str, Any] | None = None,
    initial_users: Mapping[str, int] | None = None,
) -> list[FakeEvent]:
    """CREATE, Alice's join, power levels, public join rules, joins of Bob, Charlie and Zara,
    then a START message. Alice is the creator, with 100 (infinite power in room version 12,
    where creators may not be listed in the power levels).
    """
    content: dict[str, Any] = dict(create_content or {})
    if not room_version.creator_is_sender:
        content.setdefault("creator", ALICE)
    if initial_users is None:
        initial_users = {} if room_version.privileged_creators else {ALICE: 100}
    return [
        FakeEvent("CREATE", ALICE, "m.room.create", "", content),
        member("IMA", ALICE, "join"),
        power_levels("IPOWER", ALICE, initial_users),
        join_rules("IJR", ALICE, "public"),
        member("IMB", BOB, "join"),
        member("IMC", CHARLIE, "join"),
        member("IMZ", ZARA, "join"),
        message("START", ZARA),
    ]


INITIAL_EDGES = ["START", "IMZ", "IMC", "IMB", "IJR", "IPOWER", "IMA", "CREATE"]


@dataclass
class Room:
    """A built DAG: events by ID, and the states before/after each node (by name)."""

    room_version: RoomVersion
    ids: dict[str, str]
    event_map: dict[str, EventView]
    state_before: dict[str, StateMap]
    state_after: dict[str, StateMap]

    def id(self, name: str) -> str:
        return self.ids[name]

    def named(self, state: Mapping[tuple[str, str], str]) -> dict[tuple[str, str], str]:
        """``state`` with event IDs replaced by node names (easier to read in failures)."""
        names = {event_id: name for name, event_id in self.ids.items()}
        return {key: names[event_id] for key, event_id in state.items()}

    def state_of(self, *names: str) -> StateMap:
        """A state map holding the named events, keyed by their ``(type, state_key)``."""
        state: StateMap = {}
        for name in names:
            pair = self.event_map[self.ids[name]].state_pair
            assert pair is not None
            state[pair] = self.ids[name]
        return state

    def resolve(self, *states: Mapping[tuple[str, str], str]) -> dict[tuple[str, str], str]:
        """Resolve ``states`` and return the result with node names."""
        return self.named(resolve_state(self.room_version, list(states), self.event_map))


def build_room(
    room_version: RoomVersion,
    events: Sequence[FakeEvent],
    edges: Sequence[Sequence[str]],
    create_content: Mapping[str, Any] | None = None,
    initial_users: Mapping[str, int] | None = None,
) -> Room:
    """Build the room of ``events`` (after the initial events) and ``edges``; an "END" message
    is added if the edges name it.
    """
    all_events = [*initial_events(room_version, create_content, initial_users), *events]
    if any("END" in chain for chain in edges) and all(e.name != "END" for e in all_events):
        all_events.append(message("END", ZARA))
    prevs: dict[str, list[str]] = {event.name: [] for event in all_events}
    for chain in [INITIAL_EDGES, *edges]:
        for later, earlier in pairwise(chain):
            if earlier not in prevs[later]:
                prevs[later].append(earlier)

    v1_ids = room_version.event_id_format is EventIdFormat.V1
    ids = {e.name: f"${e.name}:example.com" if v1_ids else f"${e.name}" for e in all_events}
    room_id = "!CREATE" if room_version.room_id_is_create_event_id else "!room:example.com"
    room = Room(room_version, ids, {}, {}, {})
    depth: dict[str, int] = {}
    position = {event.name: index for index, event in enumerate(all_events)}

    # Oldest first: a node is built once all its prev events are.
    pending = list(all_events)
    while pending:
        ready = [e for e in pending if all(p in room.state_after for p in prevs[e.name])]
        assert ready, "the edges have a cycle or name an unknown event"
        event = min(ready, key=lambda e: position[e.name])
        pending.remove(event)
        prev_states = [room.state_after[p] for p in prevs[event.name]]
        before = dict(resolve_state(room_version, prev_states, room.event_map))
        selected = auth_types_for_event(
            room_version, event.type, event.sender, event.state_key, event.content
        )
        auth_ids = sorted(before[key] for key in selected if key in before)
        prev_ids = [ids[p] for p in prevs[event.name]]
        depth[event.name] = 1 + max((depth[p] for p in prevs[event.name]), default=0)
        pdu: dict[str, Any] = {
            "type": event.type,
            "sender": event.sender,
            "content": dict(event.content),
            "origin_server_ts": event.ts if event.ts is not None else position[event.name],
            "depth": depth[event.name],
            "prev_events": [[i, {}] for i in prev_ids] if v1_ids else prev_ids,
            "auth_events": [[i, {}] for i in auth_ids] if v1_ids else auth_ids,
        }
        if v1_ids:
            pdu["event_id"] = ids[event.name]
        if not (room_version.room_id_is_create_event_id and event.type == "m.room.create"):
            pdu["room_id"] = room_id
        if event.state_key is not None:
            pdu["state_key"] = event.state_key
        view = EventView(pdu, ids[event.name], room_version)
        room.event_map[view.event_id] = view
        room.state_before[event.name] = before
        after = dict(before)
        if view.state_pair is not None:
            after[view.state_pair] = view.event_id
        room.state_after[event.name] = after
    return room


def resolved_at(room: Room, node: str = "END") -> dict[tuple[str, str], str]:
    """The state before ``node``, with node names."""
    return room.named(room.state_before[node])


def assert_state_has(room: Room, node: str, *expected: str) -> None:
    """The state before ``node`` holds each named event under its key."""
    state = resolved_at(room, node)
    for name in expected:
        pair = room.event_map[room.id(name)].state_pair
        assert pair is not None
        assert state.get(pair) == name, f"{pair}: expected {name}, got {state.get(pair)}"
