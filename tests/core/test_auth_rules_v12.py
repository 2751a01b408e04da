"""Room version 12: creators with infinite power, additional_creators, creators not in users."""

import math

import pytest

from myelin.core.power_levels import creators, user_power_level
from myelin.core.room_versions import RoomVersion
from tests.core.auth_rules_support import (
    ALICE,
    BOB,
    CAROL,
    CREATOR,
    Room,
    expected,
    joined_room,
    versions,
)

ALL = versions()
V12 = versions(privileged_creators=True)


@pytest.mark.parametrize("rv", ALL)
def test_creators_per_version(rv: RoomVersion) -> None:
    room = Room(rv, create_content={"creator": ALICE, "additional_creators": [BOB, 5]})
    if rv.privileged_creators:
        assert creators(rv, room.create) == {CREATOR, BOB}
    elif rv.creator_is_sender:
        assert creators(rv, room.create) == {CREATOR}
    else:
        assert creators(rv, room.create) == {ALICE}


@pytest.mark.parametrize("rv", V12)
def test_creators_have_infinite_power_whatever_the_power_levels(rv: RoomVersion) -> None:
    room = Room(rv, create_content={"additional_creators": [BOB]})
    pl = room.power_levels({"users": {ALICE: 100}, "users_default": 10})
    assert user_power_level(rv, CREATOR, room.create, pl) == math.inf
    assert user_power_level(rv, BOB, room.create, pl) == math.inf
    assert user_power_level(rv, ALICE, room.create, pl) == 100
    assert user_power_level(rv, CAROL, room.create, pl) == 10


@pytest.mark.parametrize("rv", ALL)
def test_power_levels_may_not_list_creators_only_in_v12(rv: RoomVersion) -> None:
    room = Room(rv, create_content={"additional_creators": [BOB]})
    room.member(CREATOR, "join")
    listing_creator = room.event("m.room.power_levels", CREATOR, "", {"users": {CREATOR: 100}})
    listing_additional = room.event("m.room.power_levels", CREATOR, "", {"users": {BOB: 100}})
    if rv.privileged_creators:
        assert room.rejects(listing_creator) == "10.4"
        assert room.rejects(listing_additional) == "10.4"
        room.check(room.event("m.room.power_levels", CREATOR, "", {"users": {ALICE: 100}}))
    else:
        room.check(listing_creator)
        room.check(listing_additional)


@pytest.mark.parametrize("rv", V12)
def test_creator_outranks_any_level(rv: RoomVersion) -> None:
    room = joined_room(rv, ALICE)
    huge = 2**53 - 1
    room.power_levels({"users": {ALICE: huge}, "events": {"m.room.power_levels": huge}})
    # The creator can change anything, including a user at the maximum level.
    room.check(room.event("m.room.power_levels", CREATOR, "", {"users": {ALICE: 0}}))
    # Alice may neither kick nor ban the creator; the creator may kick and ban Alice.
    kick = room.event("m.room.member", ALICE, CREATOR, {"membership": "leave"})
    assert room.rejects(kick) == "5.5.5"
    ban = room.event("m.room.member", ALICE, CREATOR, {"membership": "ban"})
    assert room.rejects(ban) == "5.6.3"
    room.check(room.event("m.room.member", CREATOR, ALICE, {"membership": "ban"}))
    room.check(room.event("m.room.member", CREATOR, ALICE, {"membership": "leave"}))


@pytest.mark.parametrize("rv", ALL)
def test_additional_creator_has_power_only_in_v12(rv: RoomVersion) -> None:
    room = Room(rv, create_content={"additional_creators": [BOB]})
    room.member(CREATOR, "join")
    room.join_rules("public")
    room.member(BOB, "join")
    room.power_levels({"users": {} if rv.privileged_creators else {CREATOR: 100}})
    topic = room.event("m.room.topic", BOB, "", {"topic": "t"})
    if rv.privileged_creators:
        room.check_full(topic)
    else:
        assert room.rejects(topic) == expected(rv, {"1-5": "8", "6-11": "7"})


@pytest.mark.parametrize("rv", V12)
def test_two_creators_cannot_kick_each_other(rv: RoomVersion) -> None:
    room = Room(rv, create_content={"additional_creators": [BOB]})
    room.member(CREATOR, "join")
    room.join_rules("public")
    room.member(BOB, "join")
    kick = room.event("m.room.member", BOB, CREATOR, {"membership": "leave"})
    assert room.rejects(kick) == "5.5.5"


@pytest.mark.parametrize("rv", V12)
def test_full_check_of_a_v12_room(rv: RoomVersion) -> None:
    """A small v12 room, each event checked against auth events selected from the state."""
    room = Room(rv)
    first = room.event(
        "m.room.member",
        CREATOR,
        CREATOR,
        {"membership": "join"},
        prev_events=[room.create.event_id],
    )
    room.check_full(first)
    room.add(first)
    pl = room.event(
        "m.room.power_levels",
        CREATOR,
        "",
        {"users": {ALICE: 50}, "invite": 50, "state_default": 60},
    )
    room.check_full(pl)
    room.add(pl)
    rules = room.event("m.room.join_rules", CREATOR, "", {"join_rule": "invite"})
    room.check_full(rules)
    room.add(rules)
    invite = room.event("m.room.member", CREATOR, ALICE, {"membership": "invite"})
    room.check_full(invite)
    room.add(invite)
    join = room.event("m.room.member", ALICE, ALICE, {"membership": "join"})
    room.check_full(join)
    room.add(join)
    room.check_full(room.event("m.room.message", ALICE, None, {"body": "hi"}))
    assert room.rejects(room.event("m.room.name", ALICE, "", {}), full=True) == "8"
