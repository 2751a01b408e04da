"""State resolution v2 (spec: "Room Version 2", state resolution), as event DAGs.

The cases follow the ideas of Synapse's ``tests/state/test_v2.py``: each room is written as
``prev_events`` chains from END back, and the state before END must hold the named events.
"""

import math
from collections.abc import Mapping

import pytest

from myelin.core.events import EventView
from myelin.core.room_versions import ROOM_V2, ROOM_V11, RoomVersion
from myelin.core.state_res import MissingEventError, auth_chain, resolve_state
from myelin.core.state_res.auth_difference import auth_difference
from myelin.core.state_res.conflicts import is_power_event, separate_v2
from myelin.core.state_res.mainline_ordering import mainline, mainline_ordering
from myelin.core.state_res.power_ordering import (
    lexicographic_topological_sort,
    reverse_topological_power_ordering,
    sender_power_level,
)
from myelin.core.state_res.v2 import full_conflicted_set
from tests.core.state_res_dag import (
    ALICE,
    BOB,
    CHARLIE,
    EVELYN,
    ZARA,
    FakeEvent,
    assert_state_has,
    build_room,
    join_rules,
    member,
    message,
    power_levels,
    resolved_at,
    topic,
)

V2_ROOMS = [ROOM_V2, ROOM_V11]


@pytest.mark.parametrize("room_version", V2_ROOMS, ids=str)
def test_ban_vs_power_levels(room_version: RoomVersion) -> None:
    # Alice gives Bob 50 and bans him; concurrently Bob changes the power levels. Alice has more
    # power, so her ban is ordered first and Bob's change then fails.
    room = build_room(
        room_version,
        [
            power_levels("PA", ALICE, {ALICE: 100, BOB: 50}),
            member("MA", ALICE, "join"),
            member("MB", ALICE, "ban", BOB),
            power_levels("PB", BOB, {ALICE: 100, BOB: 50}),
        ],
        [["END", "MB", "MA", "PA", "START"], ["END", "PB", "PA"]],
    )
    assert_state_has(room, "END", "PA", "MA", "MB")


@pytest.mark.parametrize("room_version", V2_ROOMS, ids=str)
def test_join_rules_evasion(room_version: RoomVersion) -> None:
    # Evelyn joins concurrently with the room becoming private: the join rules are a power
    # event, applied first, and her join is then not allowed.
    room = build_room(
        room_version,
        [join_rules("JR", ALICE, "private"), member("ME", EVELYN, "join")],
        [["END", "JR", "START"], ["END", "ME", "START"]],
    )
    assert_state_has(room, "END", "JR")
    assert ("m.room.member", EVELYN) not in resolved_at(room)


@pytest.mark.parametrize("room_version", V2_ROOMS, ids=str)
def test_offtopic_power_levels(room_version: RoomVersion) -> None:
    # Bob promotes Charlie, who demotes himself; the other fork only has Alice's change.
    room = build_room(
        room_version,
        [
            power_levels("PA", ALICE, {ALICE: 100, BOB: 50}),
            power_levels("PB", BOB, {ALICE: 100, BOB: 50, CHARLIE: 50}),
            power_levels("PC", CHARLIE, {ALICE: 100, BOB: 50, CHARLIE: 0}),
        ],
        [["END", "PC", "PB", "PA", "START"], ["END", "PA"]],
    )
    assert_state_has(room, "END", "PC")


@pytest.mark.parametrize("room_version", V2_ROOMS, ids=str)
def test_topic_basic(room_version: RoomVersion) -> None:
    room = build_room(
        room_version,
        [
            topic("T1", ALICE),
            power_levels("PA1", ALICE, {ALICE: 100, BOB: 50}),
            topic("T2", ALICE),
            power_levels("PA2", ALICE, {ALICE: 100, BOB: 0}),
            power_levels("PB", BOB, {ALICE: 100, BOB: 50}),
            topic("T3", BOB),
        ],
        [["END", "PA2", "T2", "PA1", "T1", "START"], ["END", "T3", "PB", "PA1"]],
    )
    # Alice's demotion of Bob wins; Bob's topic, based on an earlier mainline event, is sorted
    # before Alice's and fails anyway.
    assert_state_has(room, "END", "PA2", "T2")


@pytest.mark.parametrize("room_version", V2_ROOMS, ids=str)
def test_topic_reset(room_version: RoomVersion) -> None:
    # Bob's topic is undone by his ban; the other fork still has T1.
    room = build_room(
        room_version,
        [
            topic("T1", ALICE),
            power_levels("PA", ALICE, {ALICE: 100, BOB: 50}),
            topic("T2", BOB),
            member("MB", ALICE, "ban", BOB),
        ],
        [["END", "MB", "T2", "PA", "T1", "START"], ["END", "T1"]],
    )
    assert_state_has(room, "END", "T1", "MB", "PA")


@pytest.mark.parametrize("room_version", V2_ROOMS, ids=str)
def test_topic(room_version: RoomVersion) -> None:
    room = build_room(
        room_version,
        [
            topic("T1", ALICE),
            power_levels("PA1", ALICE, {ALICE: 100, BOB: 50}),
            topic("T2", ALICE),
            power_levels("PA2", ALICE, {ALICE: 100, BOB: 0}),
            power_levels("PB", BOB, {ALICE: 100, BOB: 50}),
            topic("T3", BOB),
            message("MZ1", ZARA),
            topic("T4", ALICE),
        ],
        [
            ["END", "T4", "MZ1", "PA2", "T2", "PA1", "T1", "START"],
            ["END", "MZ1", "T3", "PB", "PA1"],
        ],
    )
    assert_state_has(room, "END", "T4", "PA2")
    # At MZ1 (after both forks) Alice's T2 wins over Bob's T3.
    assert_state_has(room, "T4", "T2", "PA2")


@pytest.mark.parametrize("room_version", V2_ROOMS, ids=str)
def test_mainline_sort(room_version: RoomVersion) -> None:
    # PA2 makes power levels need 100, so Bob's PB fails. T4 cites PB, whose mainline position
    # (that of PA1) is earlier than T3's (PA2): T4 is applied first and T3 wins.
    room = build_room(
        room_version,
        [
            topic("T1", ALICE),
            power_levels("PA1", ALICE, {ALICE: 100, BOB: 50}),
            topic("T2", ALICE),
            power_levels("PA2", ALICE, {ALICE: 100, BOB: 50}, events={"m.room.power_levels": 100}),
            power_levels("PB", BOB, {ALICE: 100, BOB: 50}),
            topic("T3", BOB),
            topic("T4", ALICE),
        ],
        [["END", "T3", "PA2", "T2", "PA1", "T1", "START"], ["END", "T4", "PB", "PA1"]],
    )
    assert_state_has(room, "END", "T3", "PA2")


@pytest.mark.parametrize("room_version", V2_ROOMS, ids=str)
def test_lexicographic_tie_break_on_event_id(room_version: RoomVersion) -> None:
    # Two concurrent topics by Alice with the same power and timestamp: the smaller event ID is
    # applied first, so the larger one ends up in the state, whichever fork comes first.
    room = build_room(
        room_version,
        [
            FakeEvent("TB", ALICE, "m.room.topic", "", {"topic": "b"}, ts=50),
            FakeEvent("TA", ALICE, "m.room.topic", "", {"topic": "a"}, ts=50),
        ],
        [["END", "TB", "START"], ["END", "TA", "START"]],
    )
    assert_state_has(room, "END", "TB")
    forks = (room.state_after["TA"], room.state_after["TB"])
    assert room.resolve(*forks) == room.resolve(*reversed(forks))


@pytest.mark.parametrize("room_version", V2_ROOMS, ids=str)
def test_earlier_timestamp_applied_first(room_version: RoomVersion) -> None:
    room = build_room(
        room_version,
        [
            FakeEvent("TA", ALICE, "m.room.topic", "", {"topic": "a"}, ts=70),
            FakeEvent("TB", ALICE, "m.room.topic", "", {"topic": "b"}, ts=60),
        ],
        [["END", "TB", "START"], ["END", "TA", "START"]],
    )
    assert_state_has(room, "END", "TA")


@pytest.mark.parametrize("room_version", V2_ROOMS, ids=str)
def test_unconflicted_state_wins_at_step_5(room_version: RoomVersion) -> None:
    room = build_room(
        room_version,
        [topic("T1", ALICE), topic("T2", ALICE), join_rules("JR", ALICE, "invite")],
        [["END", "T2", "T1", "START"], ["END", "JR", "T1"]],
    )
    state = resolved_at(room)
    assert state[("m.room.topic", "")] == "T2"
    assert state[("m.room.join_rules", "")] == "JR"
    assert state[("m.room.create", "")] == "CREATE"


def test_resolution_of_one_state_or_none() -> None:
    assert resolve_state(ROOM_V11, [], {}) == {}
    assert resolve_state(ROOM_V11, [{("m.room.topic", ""): "$t"}], {}) == {
        ("m.room.topic", ""): "$t"
    }


def test_separate_v2_key_missing_from_one_set_is_conflicted() -> None:
    unconflicted, conflicted = separate_v2(
        [{("a", ""): "$1", ("b", ""): "$2"}, {("a", ""): "$1", ("b", ""): "$3"}, {("a", ""): "$1"}]
    )
    assert unconflicted == {("a", ""): "$1"}
    assert conflicted == {("b", ""): {"$2", "$3"}}


def test_power_events() -> None:
    def view(pdu: Mapping[str, object]) -> EventView:
        return EventView(pdu, "$x", ROOM_V11)

    member_event = {"type": "m.room.member", "sender": ALICE, "state_key": BOB}
    assert is_power_event(view({**member_event, "content": {"membership": "ban"}}))
    assert is_power_event(view({**member_event, "content": {"membership": "leave"}}))
    assert not is_power_event(view({**member_event, "content": {"membership": "invite"}}))
    own_leave = {**member_event, "state_key": ALICE, "content": {"membership": "leave"}}
    assert not is_power_event(view(own_leave))
    assert is_power_event(view({"type": "m.room.join_rules", "state_key": ""}))
    assert is_power_event(view({"type": "m.room.power_levels", "state_key": ""}))
    assert not is_power_event(view({"type": "m.room.power_levels"}))  # not a state event
    assert not is_power_event(view({"type": "m.room.topic", "state_key": ""}))


def test_lexicographic_topological_sort() -> None:
    # Vertex -> the vertices that must come before it.
    graph = {"l": {"o"}, "m": {"n", "o"}, "n": {"o"}, "o": set(), "p": {"o"}}
    assert lexicographic_topological_sort(graph, lambda v: (v,)) == ["o", "l", "n", "m", "p"]
    assert lexicographic_topological_sort(graph, lambda v: (-ord(v),)) == [
        "o",
        "p",
        "n",
        "m",
        "l",
    ]
    # A cycle never becomes a candidate.
    assert lexicographic_topological_sort({"a": {"b"}, "b": {"a"}, "c": set()}, lambda v: (v,)) == [
        "c"
    ]


def test_reverse_topological_power_ordering() -> None:
    room = build_room(
        ROOM_V11,
        [
            power_levels("PA", ALICE, {ALICE: 100, BOB: 50, CHARLIE: 50}),
            FakeEvent("JB", BOB, "m.room.join_rules", "", {"join_rule": "invite"}, ts=1000),
            FakeEvent("JC", CHARLIE, "m.room.join_rules", "", {"join_rule": "public"}, ts=999),
            FakeEvent("JA", ALICE, "m.room.join_rules", "", {"join_rule": "knock"}, ts=2000),
            member("ME", EVELYN, "join"),
            FakeEvent("MBAN", ALICE, "m.room.member", EVELYN, {"membership": "ban"}, ts=3),
        ],
        [["JB", "PA"], ["JC", "PA"], ["JA", "PA"], ["MBAN", "ME", "JB"], ["PA", "START"]],
    )
    names = ("MBAN", "JB", "JC", "JA", "PA")
    ordered = reverse_topological_power_ordering([room.id(n) for n in names], room.event_map)
    # PA is an auth ancestor of all; then Alice (100) before Bob and Charlie (50), and between
    # those the earlier timestamp. MBAN, Alice's with the smallest timestamp, cites Evelyn's
    # join, which cites JB: it can only come after JB although ME is not in the set.
    assert ordered == [room.id(n) for n in ("PA", "JA", "JC", "JB", "MBAN")]
    assert sender_power_level(room.event_map[room.id("JB")], room.event_map) == 50
    assert sender_power_level(room.event_map[room.id("PA")], room.event_map) == 100
    # Zara's level comes from users_default.
    assert sender_power_level(room.event_map[room.id("IMZ")], room.event_map) == 0


def test_reverse_topological_order_follows_auth_chain_through_other_events() -> None:
    # PB cites PA1 (via its auth events) and PA1 cites IPOWER: sorting {PB, IPOWER} alone
    # still puts IPOWER first although the path between them leaves the set.
    room = build_room(
        ROOM_V11,
        [
            power_levels("PA1", ALICE, {ALICE: 100, BOB: 100}),
            FakeEvent("PB", BOB, "m.room.power_levels", "", {"users": {ALICE: 100}}, ts=-5),
        ],
        [["PB", "PA1", "START"]],
    )
    ordered = reverse_topological_power_ordering([room.id("PB"), room.id("IPOWER")], room.event_map)
    assert ordered == [room.id("IPOWER"), room.id("PB")]


def test_auth_chain_and_auth_difference() -> None:
    room = build_room(
        ROOM_V11,
        [
            power_levels("PA", ALICE, {ALICE: 100, BOB: 50}),
            topic("T1", BOB),
            member("MC", CHARLIE, "leave"),
        ],
        [["T1", "PA", "START"], ["MC", "START"]],
    )
    ids = room.id
    assert auth_chain([ids("T1")], room.event_map) == {
        ids("CREATE"),
        ids("IMA"),
        ids("IPOWER"),
        ids("PA"),
        ids("IMB"),
        ids("IJR"),
    }
    assert auth_chain([ids("CREATE")], room.event_map) == set()
    s1 = room.state_after["T1"]
    s2 = room.state_after["MC"]
    # T1, PA in one fork, MC in the other; everything else is in both chains.
    assert auth_difference([s1, s2], room.event_map) == {ids("T1"), ids("PA"), ids("MC")}
    assert auth_difference([s1, s1], room.event_map) == set()
    conflicted = {ids("PA"), ids("IPOWER"), ids("T1"), ids("MC"), ids("IMC")}
    assert full_conflicted_set(ROOM_V11, [s1, s2], conflicted, room.event_map) == conflicted
    with pytest.raises(MissingEventError):
        auth_chain(["$nope"], room.event_map)


def test_mainline_ordering() -> None:
    room = build_room(
        ROOM_V11,
        [
            power_levels("PA1", ALICE, {ALICE: 100, BOB: 50}),
            topic("T1", BOB),
            power_levels("PA2", ALICE, {ALICE: 100, BOB: 50}),
            topic("T2", BOB),
            FakeEvent("T3", BOB, "m.room.topic", "", {}, ts=1),
            power_levels("PB", BOB, {ALICE: 100, BOB: 50}),
            topic("T4", BOB),
        ],
        [
            ["T2", "PA2", "T1", "PA1", "START"],
            ["T3", "PA2"],
            ["T4", "PB", "PA1"],
        ],
    )
    ids = room.id
    assert mainline(ids("PA2"), room.event_map) == [ids("PA2"), ids("PA1"), ids("IPOWER")]
    assert mainline(None, room.event_map) == []
    names = ["T2", "T3", "T1", "T4", "CREATE", "IMZ"]
    ordered = mainline_ordering([ids(n) for n in names], ids("PA2"), room.event_map)
    # CREATE cites no power levels (∞, first); IMZ cites IPOWER (2); T1 and T4 reach PA1 (1),
    # T4 through PB; T2 and T3 cite PA2 (0), T3 with the earlier timestamp.
    assert ordered == [ids(n) for n in ["CREATE", "IMZ", "T1", "T4", "T3", "T2"]]
    # Without a power levels event every position is ∞: timestamp order.
    assert mainline_ordering([ids("T2"), ids("T1")], None, room.event_map) == [
        ids("T1"),
        ids("T2"),
    ]


def test_v2_and_v11_power_level_of_creator_without_power_levels() -> None:
    room = build_room(ROOM_V11, [], [])
    ima = room.event_map[room.id("IMA")]
    # IMA cites the create event but no power levels: the creator has 100 (not infinite).
    assert sender_power_level(ima, room.event_map) == 100
    assert not math.isinf(sender_power_level(ima, room.event_map))
