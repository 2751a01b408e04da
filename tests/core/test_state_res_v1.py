"""State resolution v1 (spec: "Room Version 1", "State resolution"), as event DAGs."""

import hashlib

from myelin.core.room_versions import ROOM_V1, ROOM_V2
from myelin.core.state_res.conflicts import separate_v1
from myelin.core.state_res.v1 import ascending_depth_descending_sha1
from tests.core.state_res_dag import (
    ALICE,
    BOB,
    CHARLIE,
    EVELYN,
    assert_state_has,
    build_room,
    join_rules,
    member,
    message,
    power_levels,
    resolved_at,
    topic,
)


def sha1(event_id: str) -> str:
    return hashlib.sha1(event_id.encode()).hexdigest()


def test_separate_v1_key_in_one_set_is_not_a_conflict() -> None:
    unconflicted, conflicted = separate_v1(
        [{("a", ""): "$1", ("b", ""): "$2"}, {("a", ""): "$1", ("b", ""): "$3"}, {("c", ""): "$4"}]
    )
    assert unconflicted == {("a", ""): "$1", ("c", ""): "$4"}
    assert conflicted == {("b", ""): {"$2", "$3"}}


def test_join_rules_evasion_v1_keeps_the_join_v2_does_not() -> None:
    events = [join_rules("JR", ALICE, "private"), member("ME", EVELYN, "join")]
    edges = [["END", "JR", "START"], ["END", "ME", "START"]]
    v1 = build_room(ROOM_V1, events, edges)
    # v1: Evelyn's membership is in one state only, hence not a conflict: it stays.
    assert_state_has(v1, "END", "JR", "ME")
    v2 = build_room(ROOM_V2, events, edges)
    assert_state_has(v2, "END", "JR")
    assert ("m.room.member", EVELYN) not in resolved_at(v2)


def test_power_levels_stop_at_first_event_not_allowed() -> None:
    # PA1 gives Bob 50. Then Alice demotes Bob (PA2) while Bob, deeper in the other fork,
    # promotes Charlie (PB). Ascending depth: PA2 goes into R first, and PB is not allowed
    # in R, so the pass stops: the deeper PB loses.
    room = build_room(
        ROOM_V1,
        [
            power_levels("PA1", ALICE, {ALICE: 100, BOB: 50}),
            power_levels("PA2", ALICE, {ALICE: 100, BOB: 0}),
            message("M1", BOB),
            power_levels("PB", BOB, {ALICE: 100, BOB: 50, CHARLIE: 50}),
        ],
        [["END", "PA2", "PA1", "START"], ["END", "PB", "M1", "PA1"]],
    )
    assert room.event_map[room.id("PB")].depth > room.event_map[room.id("PA2")].depth
    assert_state_has(room, "END", "PA2")


def test_power_levels_later_allowed_event_wins() -> None:
    # Alice's PA2 is deeper than Bob's PB and allowed after it: it replaces it in R.
    room = build_room(
        ROOM_V1,
        [
            power_levels("PA1", ALICE, {ALICE: 100, BOB: 50}),
            message("M1", ALICE),
            power_levels("PA2", ALICE, {ALICE: 100, BOB: 0}),
            power_levels("PB", BOB, {ALICE: 100, BOB: 50, CHARLIE: 50}),
        ],
        [["END", "PA2", "M1", "PA1", "START"], ["END", "PB", "PA1"]],
    )
    assert_state_has(room, "END", "PA2")


def test_other_events_highest_depth_that_passes() -> None:
    # TB is deepest but Bob (0) may not set the topic; TA2 is deeper than TA.
    room = build_room(
        ROOM_V1,
        [
            topic("TA", ALICE),
            message("M1", ALICE),
            topic("TA2", ALICE),
            message("M2", BOB),
            message("M3", BOB),
            topic("TB", BOB),
        ],
        [["END", "TA", "START"], ["END", "TA2", "M1", "START"], ["END", "TB", "M3", "M2", "START"]],
    )
    assert_state_has(room, "END", "TA2")


def test_other_events_same_depth_lowest_sha1() -> None:
    room = build_room(
        ROOM_V1,
        [topic("TX", ALICE), topic("TY", ALICE), topic("TZ", ALICE)],
        [["END", "TX", "START"], ["END", "TY", "START"], ["END", "TZ", "START"]],
    )
    winner = min(("TX", "TY", "TZ"), key=lambda name: sha1(room.id(name)))
    assert_state_has(room, "END", winner)


def test_ban_applies_but_unconflicted_topic_stays() -> None:
    # Alice bans Bob; in the other fork Bob (50) set a topic. The ban wins the members pass;
    # the topic is in one fork only, so v1 keeps it.
    room = build_room(
        ROOM_V1,
        [
            power_levels("PA", ALICE, {ALICE: 100, BOB: 50}),
            member("MB", ALICE, "ban", BOB),
            topic("TB", BOB),
        ],
        [["END", "MB", "PA", "START"], ["END", "TB", "PA"]],
    )
    assert_state_has(room, "END", "MB", "TB", "PA")


def test_ascending_depth_descending_sha1() -> None:
    room = build_room(
        ROOM_V1,
        [topic("TX", ALICE), topic("TY", ALICE), message("M", ALICE), topic("TZ", ALICE)],
        [["TX", "START"], ["TY", "START"], ["TZ", "M", "START"]],
    )
    events = [room.event_map[room.id(n)] for n in ("TZ", "TX", "TY")]
    ordered = [event.event_id for event in ascending_depth_descending_sha1(events)]
    same_depth = sorted((room.id("TX"), room.id("TY")), key=sha1, reverse=True)
    assert ordered == [*same_depth, room.id("TZ")]
