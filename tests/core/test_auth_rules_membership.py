"""The m.room.member auth rule: join, invite, leave/kick, ban, knock, restricted joins."""

import pytest

from myelin.core.events import EventView
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

# The member rule's number and its sub-rules' numbers per room version.
MEMBER = {"1-5": "5", "6-11": "4", "12": "5"}
JOIN = {"1-5": "5.2", "6-7": "4.2", "8-11": "4.3", "12": "5.3"}
JOIN_OTHERWISE = {"1-5": "5.2.6", "6-7": "4.2.6", "8-11": "4.3.7", "12": "5.3.7"}
INVITE = {"1-5": "5.3", "6-7": "4.3", "8-11": "4.4", "12": "5.4"}
LEAVE = {"1-5": "5.4", "6-7": "4.4", "8-11": "4.5", "12": "5.5"}
BAN = {"1-5": "5.5", "6-7": "4.5", "8-11": "4.6", "12": "5.6"}
KNOCK = {"7": "4.6", "8-11": "4.7", "12": "5.7"}
UNKNOWN = {"1-5": "5.6", "6": "4.6", "7": "4.7", "8-11": "4.8", "12": "5.8"}


def _member(room: Room, sender: str, target: str, membership: str, **content: object) -> EventView:
    return room.event("m.room.member", sender, target, {"membership": membership, **content})


@pytest.mark.parametrize("rv", ALL)
def test_member_without_state_key_or_membership_rejected_x_1(rv: RoomVersion) -> None:
    room = joined_room(rv)
    no_key = room.event("m.room.member", CREATOR, None, {"membership": "join"})
    assert room.rejects(no_key) == expected(rv, MEMBER) + ".1"
    no_membership = room.event("m.room.member", CREATOR, CREATOR, {})
    assert room.rejects(no_membership) == expected(rv, MEMBER) + ".1"


@pytest.mark.parametrize("rv", ALL)
@pytest.mark.parametrize("membership", ["bogus", 5])
def test_unknown_membership_rejected(rv: RoomVersion, membership: object) -> None:
    room = joined_room(rv)
    event = room.event("m.room.member", CREATOR, CREATOR, {"membership": membership})
    assert room.rejects(event) == expected(rv, UNKNOWN)


@pytest.mark.parametrize("rv", versions(knock=False))
def test_knock_is_unknown_before_v7(rv: RoomVersion) -> None:
    room = joined_room(rv)
    room.join_rules("knock")
    assert room.rejects(_member(room, BOB, BOB, "knock")) == expected(rv, UNKNOWN)


# Join.


@pytest.mark.parametrize("rv", ALL)
def test_creator_joins_first(rv: RoomVersion) -> None:
    room = Room(rv)
    join = room.event(
        "m.room.member",
        CREATOR,
        CREATOR,
        {"membership": "join"},
        prev_events=[room.create.event_id],
    )
    room.check_full(join)
    # Someone else may not join right after the create event (no join rules: invite-only).
    other = room.event(
        "m.room.member", BOB, BOB, {"membership": "join"}, prev_events=[room.create.event_id]
    )
    assert room.rejects(other, full=True) == expected(rv, JOIN_OTHERWISE)
    # Not the only previous event: the creator needs the normal rules.
    later = room.event(
        "m.room.member", CREATOR, CREATOR, {"membership": "join"}, prev_events=["$other"]
    )
    assert room.rejects(later) == expected(rv, JOIN_OTHERWISE)


@pytest.mark.parametrize("rv", versions(creator_is_sender=False))
def test_creator_of_first_join_is_content_creator_before_v11(rv: RoomVersion) -> None:
    room = Room(rv, create_content={"creator": ALICE})
    first = room.create.event_id
    room.check(
        room.event("m.room.member", ALICE, ALICE, {"membership": "join"}, prev_events=[first])
    )
    sender = room.event(
        "m.room.member", CREATOR, CREATOR, {"membership": "join"}, prev_events=[first]
    )
    assert room.rejects(sender) == expected(rv, JOIN_OTHERWISE)


@pytest.mark.parametrize("rv", versions(creator_is_sender=True))
def test_creator_of_first_join_is_create_sender_from_v11(rv: RoomVersion) -> None:
    room = Room(rv, create_content={"creator": ALICE})
    first = room.create.event_id
    room.check(
        room.event("m.room.member", CREATOR, CREATOR, {"membership": "join"}, prev_events=[first])
    )
    alice = room.event("m.room.member", ALICE, ALICE, {"membership": "join"}, prev_events=[first])
    assert room.rejects(alice) == expected(rv, JOIN_OTHERWISE)


@pytest.mark.parametrize("rv", versions(privileged_creators=True))
def test_additional_creator_may_not_join_first_in_v12(rv: RoomVersion) -> None:
    room = Room(rv, create_content={"additional_creators": [ALICE]})
    first = room.create.event_id
    alice = room.event("m.room.member", ALICE, ALICE, {"membership": "join"}, prev_events=[first])
    assert room.rejects(alice) == expected(rv, JOIN_OTHERWISE)


@pytest.mark.parametrize("rv", ALL)
def test_join_for_someone_else_rejected_x_2(rv: RoomVersion) -> None:
    room = joined_room(rv)
    assert room.rejects(_member(room, CREATOR, BOB, "join")) == expected(rv, JOIN) + ".2"


@pytest.mark.parametrize("rv", ALL)
def test_banned_user_may_not_join_x_3(rv: RoomVersion) -> None:
    room = joined_room(rv)
    room.member(BOB, "ban", sender=CREATOR)
    assert room.rejects(_member(room, BOB, BOB, "join")) == expected(rv, JOIN) + ".3"


@pytest.mark.parametrize("rv", ALL)
def test_public_room_join_allowed(rv: RoomVersion) -> None:
    room = joined_room(rv)
    room.check_full(_member(room, BOB, BOB, "join"))


@pytest.mark.parametrize("rv", ALL)
@pytest.mark.parametrize("current", ["invite", "join"])
def test_invite_only_room_allows_invited_or_joined(rv: RoomVersion, current: str) -> None:
    room = joined_room(rv)
    room.join_rules("invite")
    room.member(BOB, current, sender=CREATOR)
    room.check_full(_member(room, BOB, BOB, "join"))


@pytest.mark.parametrize("rv", ALL)
@pytest.mark.parametrize("current", [None, "leave", "knock"])
def test_invite_only_room_rejects_uninvited(rv: RoomVersion, current: str | None) -> None:
    room = joined_room(rv)
    room.join_rules("invite")
    if current is not None:
        room.member(BOB, current)
    assert room.rejects(_member(room, BOB, BOB, "join")) == expected(rv, JOIN_OTHERWISE)


@pytest.mark.parametrize("rv", ALL)
def test_knock_join_rule_acts_as_invite_from_v7(rv: RoomVersion) -> None:
    room = joined_room(rv)
    room.join_rules("knock")
    room.member(BOB, "invite", sender=CREATOR)
    join = _member(room, BOB, BOB, "join")
    if rv.knock:
        room.check(join)
    else:
        assert room.rejects(join) == expected(rv, JOIN_OTHERWISE)


@pytest.mark.parametrize("rv", ALL)
@pytest.mark.parametrize("rule", ["private", "restricted", "knock_restricted"])
def test_other_join_rules_reject_uninvited(rv: RoomVersion, rule: str) -> None:
    room = joined_room(rv)
    room.join_rules(rule)
    supported = (rule == "restricted" and rv.restricted_join_rule) or (
        rule == "knock_restricted" and rv.knock_restricted_join_rule
    )
    # A supported restricted rule rejects by its own sub-rule (no authorising user).
    table = RESTRICTED if supported else JOIN_OTHERWISE
    assert room.rejects(_member(room, BOB, BOB, "join")) == expected(rv, table)


# Restricted joins (v8+; knock_restricted from v10).


def _restricted_room(rv: RoomVersion, rule: str) -> Room:
    room = joined_room(rv, ALICE)
    room.join_rules(rule)
    room.power_levels({"users": {ALICE: 50}, "invite": 50})
    return room


RESTRICTED = {"8-11": "4.3.5.2", "12": "5.3.5.2"}


@pytest.mark.parametrize("rv", versions(restricted_join_rule=True))
@pytest.mark.parametrize("rule", ["restricted", "knock_restricted"])
def test_restricted_join_via_authoriser(rv: RoomVersion, rule: str) -> None:
    room = _restricted_room(rv, rule)
    join = _member(room, BOB, BOB, "join", join_authorised_via_users_server=ALICE)
    if rule == "knock_restricted" and not rv.knock_restricted_join_rule:
        assert room.rejects(join) == expected(rv, JOIN_OTHERWISE)
        return
    room.check(join)
    # Without an authoriser, or one who is not joined, or one who may not invite: reject.
    assert room.rejects(_member(room, BOB, BOB, "join")) == expected(rv, RESTRICTED)
    via_carol = _member(room, BOB, BOB, "join", join_authorised_via_users_server=CAROL)
    assert room.rejects(via_carol) == expected(rv, RESTRICTED)
    room.member(CAROL, "join")
    assert room.rejects(via_carol) == expected(rv, RESTRICTED)
    room.power_levels({"users": {ALICE: 50, CAROL: 50}, "invite": 50})
    room.check(via_carol)
    room.member(CAROL, "leave")
    assert room.rejects(via_carol) == expected(rv, RESTRICTED)


@pytest.mark.parametrize("rv", versions(restricted_join_rule=True))
@pytest.mark.parametrize("current", ["invite", "join"])
def test_restricted_join_of_invited_needs_no_authoriser(rv: RoomVersion, current: str) -> None:
    room = _restricted_room(rv, "restricted")
    room.member(BOB, current, sender=ALICE)
    room.check(_member(room, BOB, BOB, "join"))


@pytest.mark.parametrize("rv", versions(restricted_join_rule=True))
def test_restricted_join_by_banned_user_rejected(rv: RoomVersion) -> None:
    room = _restricted_room(rv, "restricted")
    room.member(BOB, "ban", sender=CREATOR)
    join = _member(room, BOB, BOB, "join", join_authorised_via_users_server=ALICE)
    assert room.rejects(join) == expected(rv, JOIN) + ".3"


# Invite.


@pytest.mark.parametrize("rv", ALL)
def test_invite_allowed(rv: RoomVersion) -> None:
    room = joined_room(rv)
    room.check_full(_member(room, CREATOR, BOB, "invite"))


@pytest.mark.parametrize("rv", ALL)
def test_invite_by_non_member_rejected_x_2(rv: RoomVersion) -> None:
    room = joined_room(rv)
    assert room.rejects(_member(room, ALICE, BOB, "invite")) == expected(rv, INVITE) + ".2"


@pytest.mark.parametrize("rv", ALL)
@pytest.mark.parametrize("current", ["join", "ban"])
def test_invite_of_joined_or_banned_rejected_x_3(rv: RoomVersion, current: str) -> None:
    room = joined_room(rv)
    room.member(BOB, current, sender=CREATOR if current == "ban" else BOB)
    assert room.rejects(_member(room, CREATOR, BOB, "invite")) == expected(rv, INVITE) + ".3"


@pytest.mark.parametrize("rv", ALL)
def test_invite_needs_invite_level_x_5(rv: RoomVersion) -> None:
    room = joined_room(rv, ALICE)
    room.power_levels({"users": {CREATOR: 100} if not rv.privileged_creators else {}, "invite": 10})
    assert room.rejects(_member(room, ALICE, BOB, "invite")) == expected(rv, INVITE) + ".5"
    room.power_levels({"users": {ALICE: 10}, "invite": 10})
    room.check(_member(room, ALICE, BOB, "invite"))


# Leave and kick.


@pytest.mark.parametrize("rv", ALL)
@pytest.mark.parametrize("current", ["invite", "join", "knock", "leave", "ban", None])
def test_own_leave(rv: RoomVersion, current: str | None) -> None:
    room = joined_room(rv)
    if current is not None:
        room.member(BOB, current)
    leave = _member(room, BOB, BOB, "leave")
    allowed = {"invite", "join"} | ({"knock"} if rv.knock else set())
    if current in allowed:
        room.check(leave)
    else:
        assert room.rejects(leave) == expected(rv, LEAVE) + ".1"


@pytest.mark.parametrize("rv", ALL)
def test_kick_by_non_member_rejected_x_2(rv: RoomVersion) -> None:
    room = joined_room(rv, BOB)
    assert room.rejects(_member(room, ALICE, BOB, "leave")) == expected(rv, LEAVE) + ".2"


@pytest.mark.parametrize("rv", ALL)
def test_unban_needs_ban_level_x_3(rv: RoomVersion) -> None:
    room = joined_room(rv, ALICE)
    room.member(BOB, "ban", sender=CREATOR)
    room.power_levels({"users": {ALICE: 60}, "ban": 70, "kick": 50})
    assert room.rejects(_member(room, ALICE, BOB, "leave")) == expected(rv, LEAVE) + ".3"
    room.power_levels({"users": {ALICE: 70}, "ban": 70, "kick": 50})
    room.check(_member(room, ALICE, BOB, "leave"))


@pytest.mark.parametrize("rv", ALL)
def test_kick_needs_kick_level_and_higher_level_x_5(rv: RoomVersion) -> None:
    room = joined_room(rv, ALICE, BOB)
    room.power_levels({"users": {ALICE: 40, BOB: 10}, "kick": 50})
    assert room.rejects(_member(room, ALICE, BOB, "leave")) == expected(rv, LEAVE) + ".5"
    room.power_levels({"users": {ALICE: 50, BOB: 50}, "kick": 50})
    assert room.rejects(_member(room, ALICE, BOB, "leave")) == expected(rv, LEAVE) + ".5"
    room.power_levels({"users": {ALICE: 50, BOB: 49}, "kick": 50})
    room.check(_member(room, ALICE, BOB, "leave"))


# Ban.


@pytest.mark.parametrize("rv", ALL)
def test_ban_by_non_member_rejected_x_1(rv: RoomVersion) -> None:
    room = joined_room(rv, BOB)
    room.member(ALICE, "invite", sender=CREATOR)
    assert room.rejects(_member(room, ALICE, BOB, "ban")) == expected(rv, BAN) + ".1"


@pytest.mark.parametrize("rv", ALL)
def test_ban_needs_ban_level_and_higher_level_x_3(rv: RoomVersion) -> None:
    room = joined_room(rv, ALICE, BOB)
    room.power_levels({"users": {ALICE: 49}, "ban": 50})
    assert room.rejects(_member(room, ALICE, BOB, "ban")) == expected(rv, BAN) + ".3"
    room.power_levels({"users": {ALICE: 50, BOB: 50}, "ban": 50})
    assert room.rejects(_member(room, ALICE, BOB, "ban")) == expected(rv, BAN) + ".3"
    room.power_levels({"users": {ALICE: 50}, "ban": 50})
    room.check(_member(room, ALICE, BOB, "ban"))
    # A user not in the room may be banned too.
    room.check(_member(room, ALICE, CAROL, "ban"))


# Knock (v7+; knock_restricted from v10).


@pytest.mark.parametrize("rv", versions(knock=True))
@pytest.mark.parametrize("rule", ["knock", "knock_restricted", "public", "invite", "restricted"])
def test_knock_needs_knock_join_rule_x_1(rv: RoomVersion, rule: str) -> None:
    room = joined_room(rv)
    room.join_rules(rule)
    knock = _member(room, BOB, BOB, "knock")
    if rule == "knock" or (rule == "knock_restricted" and rv.knock_restricted_join_rule):
        room.check_full(knock)
    else:
        assert room.rejects(knock) == expected(rv, KNOCK) + ".1"


@pytest.mark.parametrize("rv", versions(knock=True))
def test_knock_for_someone_else_rejected_x_2(rv: RoomVersion) -> None:
    room = joined_room(rv, ALICE)
    room.join_rules("knock")
    assert room.rejects(_member(room, ALICE, BOB, "knock")) == expected(rv, KNOCK) + ".2"


@pytest.mark.parametrize("rv", versions(knock=True))
@pytest.mark.parametrize("current", ["ban", "invite", "join", "leave", "knock", None])
def test_knock_by_member_rejected_x_4(rv: RoomVersion, current: str | None) -> None:
    room = joined_room(rv)
    room.join_rules("knock")
    if current is not None:
        room.member(BOB, current)
    knock = _member(room, BOB, BOB, "knock")
    if current in ("ban", "invite", "join"):
        assert room.rejects(knock) == expected(rv, KNOCK) + ".4"
    else:
        room.check(knock)
