"""State resolution v2.1 (spec: "Room Version 12", "State resolution") and room version 12's
creators, as event DAGs.

v2.1 adds the *conflicted state subgraph* to the full conflicted set and starts the first
iterative auth checks from an empty state map. The two scenarios of MSC4297 ("problem A" and
"problem B") resolve differently under v2 (room version 11) and v2.1 (room version 12).
"""

import math

import pytest

from myelin.core.room_versions import ROOM_V11, ROOM_V12, RoomVersion
from myelin.core.state_res import resolve_state
from myelin.core.state_res.conflicted_subgraph import conflicted_subgraph
from myelin.core.state_res.power_ordering import sender_power_level
from myelin.core.state_res.v2 import full_conflicted_set
from tests.core.state_res_dag import (
    ALICE,
    BOB,
    CHARLIE,
    ZARA,
    Room,
    StateMap,
    assert_state_has,
    build_room,
    join_rules,
    member,
    power_levels,
    resolved_at,
    topic,
)

JOIN_RULES = ("m.room.join_rules", "")
POWER_LEVELS = ("m.room.power_levels", "")
TOPIC = ("m.room.topic", "")


def users(room_version: RoomVersion, **levels: int) -> dict[str, int]:
    """Power levels ``levels`` plus Alice at 100, except in v12 where creators are not listed."""
    listed = {f"@{name}:example.com": level for name, level in levels.items()}
    if not room_version.privileged_creators:
        listed[ALICE] = 100
    return listed


def problem_a(room_version: RoomVersion) -> tuple[Room, StateMap, StateMap]:
    """Alice sets the join rules twice, then leaves. One state set is right; the other has the
    outdated JR1 (as a faulty ``/state`` answer could give). Both agree that Alice left.
    """
    room = build_room(
        room_version,
        [
            join_rules("JR1", ALICE, "invite"),
            join_rules("JR2", ALICE, "knock"),
            member("LA", ALICE, "leave"),
        ],
        [["LA", "JR2", "JR1", "START"]],
    )
    right = room.state_after["LA"]
    return room, right, right | room.state_of("JR1")


def test_problem_a_v2_loses_the_join_rules() -> None:
    # v2 starts from the unconflicted state, where Alice has left: both join rules fail.
    room, right, stale = problem_a(ROOM_V11)
    for resolved in (room.resolve(right, stale), room.resolve(stale, right)):
        assert JOIN_RULES not in resolved
        assert resolved[("m.room.member", ALICE)] == "LA"


def test_problem_a_v2_1_keeps_the_latest_join_rules() -> None:
    # v2.1 starts from an empty state: each join rules event is checked with its own auth
    # events (where Alice is joined) and JR2, the later one, wins.
    room, right, stale = problem_a(ROOM_V12)
    for resolved in (room.resolve(right, stale), room.resolve(stale, right)):
        assert resolved[JOIN_RULES] == "JR2"
        assert resolved[("m.room.member", ALICE)] == "LA"


def problem_b(room_version: RoomVersion) -> tuple[Room, StateMap, StateMap]:
    """Alice promotes Bob (PA1), Bob promotes Charlie (PB), Charlie sets a topic. One state set
    is right; the other has the outdated initial power levels but the same topic, whose auth
    chain holds PA1: PA1 is in both full auth chains, so not in the auth difference.
    """
    room = build_room(
        room_version,
        [
            power_levels("PA1", ALICE, users(room_version, bob=50)),
            power_levels("PB", BOB, users(room_version, bob=50, charlie=50)),
            topic("TC", CHARLIE),
        ],
        [["TC", "PB", "PA1", "START"]],
    )
    right = room.state_after["TC"]
    return room, right, right | room.state_of("IPOWER")


@pytest.mark.parametrize("room_version", [ROOM_V11, ROOM_V12], ids=str)
def test_problem_b_conflicted_subgraph(room_version: RoomVersion) -> None:
    room, right, stale = problem_b(room_version)
    conflicted = {room.id("PB"), room.id("IPOWER")}
    # The paths PB -> PA1 -> IPOWER and PB -> IMB (Bob's join) -> IJR -> IPOWER join the two
    # conflicted events; the create event and Alice's join are past IPOWER, not between.
    subgraph = conflicted_subgraph(conflicted, room.event_map)
    assert subgraph == {room.id(n) for n in ("PB", "PA1", "IMB", "IJR", "IPOWER")}
    full = full_conflicted_set(room_version, [right, stale], conflicted, room.event_map)
    # Only v2.1 adds the subgraph to the full conflicted set.
    assert (room.id("PA1") in full) is (room_version is ROOM_V12)


def test_problem_b_v2_resets_the_power_levels() -> None:
    # Without PA1 replayed, Bob's PB is checked against IPOWER, where he has no power.
    room, right, stale = problem_b(ROOM_V11)
    assert room.resolve(right, stale)[POWER_LEVELS] == "IPOWER"


def test_problem_b_v2_1_replays_the_subgraph() -> None:
    room, right, stale = problem_b(ROOM_V12)
    for resolved in (room.resolve(right, stale), room.resolve(stale, right)):
        assert resolved[POWER_LEVELS] == "PB"
        assert resolved[TOPIC] == "TC"


def test_conflicted_subgraph_excludes_side_branches() -> None:
    room = build_room(
        ROOM_V12,
        [
            power_levels("PA1", ALICE, {BOB: 50}),
            power_levels("PA2", ALICE, {BOB: 50, CHARLIE: 10}),
            power_levels("PX", ALICE, {BOB: 10}),
        ],
        [["PA2", "PA1", "START"], ["PX", "START"]],
    )
    # PA2 -> PA1 -> IPOWER; IPOWER is an ancestor of PA2 but not a conflicted endpoint's
    # descendant-and-ancestor unless it is itself conflicted.
    ids = room.id
    assert conflicted_subgraph({ids("PA2"), ids("PX")}, room.event_map) == {ids("PA2"), ids("PX")}
    assert conflicted_subgraph({ids("PA2"), ids("IPOWER")}, room.event_map) == {
        ids("PA2"),
        ids("PA1"),
        ids("IPOWER"),
    }


def ban_the_creator(room_version: RoomVersion) -> Room:
    """Bob, the top admin in the power levels, bans Alice (the creator) while she sets a topic.
    In v11 Alice was given less power than Bob by the initial power levels.
    """
    initial = {BOB: 100} if room_version.privileged_creators else {ALICE: 50, BOB: 100}
    return build_room(
        room_version,
        [member("BAN", BOB, "ban", ALICE), topic("TA", ALICE)],
        [["END", "BAN", "START"], ["END", "TA", "START"]],
        initial_users=initial,
    )


def test_v11_creator_can_be_banned_by_a_higher_admin() -> None:
    room = ban_the_creator(ROOM_V11)
    state = resolved_at(room)
    assert state[("m.room.member", ALICE)] == "BAN"
    assert TOPIC not in state  # Alice's topic fails once she is banned


def test_v12_creator_power_cannot_be_overridden() -> None:
    # Creators have infinite power in v12: the ban fails and Alice's topic stays.
    room = ban_the_creator(ROOM_V12)
    assert_state_has(room, "END", "TA", "IMA")
    assert sender_power_level(room.event_map[room.id("TA")], room.event_map) == math.inf


@pytest.mark.parametrize("additional", [True, False])
def test_v12_additional_creators(additional: bool) -> None:
    # Charlie (100) bans Zara while Zara sets a topic. As an additional creator Zara has
    # infinite power: she is ordered first and cannot be banned.
    create_content = {"additional_creators": [ZARA]} if additional else {}
    initial = {CHARLIE: 100} if additional else {CHARLIE: 100, ZARA: 50}
    room = build_room(
        ROOM_V12,
        [member("BAN", CHARLIE, "ban", ZARA), topic("TZ", ZARA)],
        [["END", "BAN", "START"], ["END", "TZ", "START"]],
        create_content=create_content,
        initial_users=initial,
    )
    state = resolved_at(room)
    zara_level = sender_power_level(room.event_map[room.id("TZ")], room.event_map)
    if additional:
        assert zara_level == math.inf
        assert state[("m.room.member", ZARA)] == "IMZ"
        assert state[TOPIC] == "TZ"
    else:
        assert zara_level == 50
        assert state[("m.room.member", ZARA)] == "BAN"
        assert TOPIC not in state


def test_v12_create_event_is_not_an_auth_event() -> None:
    room = build_room(ROOM_V12, [], [])
    create_id = room.id("CREATE")
    assert all(create_id not in event.auth_event_ids for event in room.event_map.values())
    # The helper still finds it through the room ID for the creator's power.
    ima = room.event_map[room.id("IMA")]
    assert ima.room_id == "!" + create_id[1:]
    assert sender_power_level(ima, room.event_map) == math.inf


@pytest.mark.parametrize("room_version", [ROOM_V11, ROOM_V12], ids=str)
def test_ban_vs_power_levels_in_both(room_version: RoomVersion) -> None:
    room = build_room(
        room_version,
        [
            power_levels("PA", ALICE, users(room_version, bob=50)),
            member("MA", ALICE, "join"),
            member("MB", ALICE, "ban", BOB),
            power_levels("PB", BOB, users(room_version, bob=50)),
        ],
        [["END", "MB", "MA", "PA", "START"], ["END", "PB", "PA"]],
    )
    assert_state_has(room, "END", "PA", "MA", "MB")


def test_rejected_auth_events_are_not_used_as_fallback() -> None:
    # Problem A under v2.1 again, but the server rejected Alice's join: the join rules events
    # cannot fall back on it and both fail.
    room, right, stale = problem_a(ROOM_V12)
    rejected = frozenset({room.id("IMA")})
    resolved = room.named(resolve_state(ROOM_V12, [right, stale], room.event_map, rejected))
    assert JOIN_RULES not in resolved
