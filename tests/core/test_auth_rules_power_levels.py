"""Power levels (parsing, defaults) and the top-level rules after the member rule.

Covers: m.federate, m.room.aliases (v1-v5), sender must be joined, m.room.third_party_invite
events, required power level, state_key naming another user, the m.room.power_levels rule and
the redaction rule of v1-v2.
"""

import math
from typing import Any

import pytest

from myelin.core.events import EventView
from myelin.core.power_levels import (
    creators,
    notification_level,
    parse_power_level,
    power_level_value,
    required_power_level,
    user_power_level,
)
from myelin.core.room_versions import (
    ROOM_V1,
    ROOM_V5,
    ROOM_V6,
    ROOM_V9,
    ROOM_V10,
    EventIdFormat,
    RoomVersion,
)
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

FEDERATE = {"1-11": "3", "12": "4"}
SENDER_JOINED = {"1-5": "6", "6-11": "5", "12": "6"}
THIRD_PARTY_INVITE_EVENT = {"1-5": "7.1", "6-11": "6.1", "12": "7.1"}
REQUIRED = {"1-5": "8", "6-11": "7", "12": "8"}
STATE_KEY_USER = {"1-5": "9", "6-11": "8", "12": "9"}
PL_USERS_FORMAT = {"1-5": "10.1", "6-9": "9.1", "10-11": "9.3", "12": "10.3"}
PL_TOP_LEVEL = {"1-5": "10.3", "6-9": "9.3", "10-11": "9.5", "12": "10.6"}
PL_EVENTS_OLD = {"1-5": "10.4.1", "6-9": "9.4.1", "10-11": "9.6.1", "12": "10.7.1"}
PL_EVENTS_NEW = {"1-5": "10.5.1", "6-9": "9.5.1", "10-11": "9.7.1", "12": "10.8.1"}
PL_USERS_OLD = {"1-5": "10.6.1", "6-9": "9.6.1", "10-11": "9.8.1", "12": "10.9.1"}
PL_USERS_NEW = {"1-5": "10.7.1", "6-9": "9.7.1", "10-11": "9.9.1", "12": "10.10.1"}


# Parsing of power level values.


@pytest.mark.parametrize(
    ("text", "value"),
    [("100", 100), ("000100", 100), ("+100", 100), ("-100", -100), (" 100 ", 100),
     (" +0100\t", 100), ("0", 0)],
)  # fmt: skip
def test_stringy_levels_before_v10(text: str, value: int) -> None:
    assert parse_power_level(ROOM_V9, text) == value
    assert parse_power_level(ROOM_V10, text) is None


@pytest.mark.parametrize("text", ["1.5", "1e3", "", " ", "+-1", "1_000", "١٢", "0x10", "ten"])
def test_invalid_strings(text: str) -> None:
    assert parse_power_level(ROOM_V1, text) is None


def test_floats_truncated_only_before_v6() -> None:
    assert parse_power_level(ROOM_V5, 50.57) == 50
    assert parse_power_level(ROOM_V5, -1.9) == -1
    assert parse_power_level(ROOM_V5, 5.114698e4) == 51146
    assert parse_power_level(ROOM_V5, math.inf) is None
    assert parse_power_level(ROOM_V5, math.nan) is None
    assert parse_power_level(ROOM_V6, 50.5) is None


@pytest.mark.parametrize("rv", ALL)
@pytest.mark.parametrize("value", [True, False, None, [], {}])
def test_non_numbers_are_invalid(rv: RoomVersion, value: Any) -> None:
    assert parse_power_level(rv, value) is None


@pytest.mark.parametrize("rv", ALL)
def test_defaults_without_power_levels_event(rv: RoomVersion) -> None:
    room = Room(rv)
    creator_level = math.inf if rv.privileged_creators else 100
    assert user_power_level(rv, CREATOR, room.create, None) == creator_level
    assert user_power_level(rv, ALICE, room.create, None) == 0
    assert required_power_level(rv, "m.room.message", None, None) == 0
    assert required_power_level(rv, "m.room.topic", "", None) == 50
    assert power_level_value(rv, None, "ban") == 50
    assert power_level_value(rv, None, "kick") == 50
    assert power_level_value(rv, None, "redact") == 50
    assert power_level_value(rv, None, "invite") == 0
    assert notification_level(rv, None, "room") == 50
    assert creators(rv, None) == frozenset()


@pytest.mark.parametrize("rv", ALL)
def test_levels_from_power_levels_event(rv: RoomVersion) -> None:
    room = Room(rv)
    pl = room.power_levels(
        {
            "users": {ALICE: 70},
            "users_default": 5,
            "events": {"m.room.topic": 20, "m.custom": 3},
            "events_default": 1,
            "state_default": 40,
            "notifications": {"room": 10},
        }
    )
    assert user_power_level(rv, ALICE, room.create, pl) == 70
    assert user_power_level(rv, BOB, room.create, pl) == 5
    # With a power levels event the creator has no special level (before v12).
    assert user_power_level(rv, CREATOR, room.create, pl) == (
        math.inf if rv.privileged_creators else 5
    )
    assert required_power_level(rv, "m.room.topic", "", pl) == 20
    assert required_power_level(rv, "m.custom", None, pl) == 3
    assert required_power_level(rv, "m.other", None, pl) == 1
    assert required_power_level(rv, "m.other", "", pl) == 40
    assert notification_level(rv, pl, "room") == 10


@pytest.mark.parametrize("rv", ALL)
def test_stringy_user_level_read_before_v10(rv: RoomVersion) -> None:
    room = Room(rv)
    pl = room.power_levels({"users": {ALICE: "60"}, "users_default": "7"})
    if rv.integer_power_levels:
        assert user_power_level(rv, ALICE, room.create, pl) == 0
    else:
        assert user_power_level(rv, ALICE, room.create, pl) == 60
        assert user_power_level(rv, BOB, room.create, pl) == 7


# m.federate.


@pytest.mark.parametrize("rv", ALL)
def test_m_federate_false_rejects_other_servers(rv: RoomVersion) -> None:
    room = Room(rv, create_content={"m.federate": False})
    room.member(CREATOR, "join")
    room.join_rules("public")
    assert room.rejects(room.event("m.room.member", BOB, BOB, {"membership": "join"})) == (
        expected(rv, FEDERATE)
    )
    room.check(room.event("m.room.member", ALICE, ALICE, {"membership": "join"}))
    federating = Room(rv, create_content={"m.federate": True})
    federating.member(CREATOR, "join")
    federating.join_rules("public")
    federating.check(federating.event("m.room.member", BOB, BOB, {"membership": "join"}))


# m.room.aliases (v1-v5).


@pytest.mark.parametrize("rv", ALL)
def test_aliases_rule(rv: RoomVersion) -> None:
    room = joined_room(rv)
    # From a server that is not in the room, for its own domain.
    own = room.event("m.room.aliases", BOB, "b.example", {"aliases": ["#x:b.example"]})
    other_domain = room.event("m.room.aliases", BOB, "a.example", {"aliases": []})
    no_key = room.event("m.room.aliases", BOB, None, {"aliases": []})
    if rv.special_case_aliases_auth:
        room.check(own)
        assert room.rejects(other_domain) == "4.2"
        assert room.rejects(no_key) == "4.1"
    else:
        # An ordinary state event: the sender must be joined.
        for event in (own, other_domain, no_key):
            assert room.rejects(event) == expected(rv, SENDER_JOINED)


# The sender must be joined.


@pytest.mark.parametrize("rv", ALL)
@pytest.mark.parametrize("membership", [None, "invite", "leave", "ban", "knock"])
def test_sender_must_be_joined(rv: RoomVersion, membership: str | None) -> None:
    room = joined_room(rv)
    if membership is not None:
        room.member(BOB, membership)
    assert room.rejects(room.event("m.room.message", BOB, None, {})) == expected(rv, SENDER_JOINED)
    room.member(BOB, "join")
    room.check_full(room.event("m.room.message", BOB, None, {}))


# m.room.third_party_invite events.


@pytest.mark.parametrize("rv", ALL)
def test_third_party_invite_event_needs_invite_level(rv: RoomVersion) -> None:
    room = joined_room(rv, ALICE)
    room.power_levels({"invite": 20, "users": {ALICE: 19}, "state_default": 0})
    event = room.event("m.room.third_party_invite", ALICE, "tok", {"display_name": "x"})
    assert room.rejects(event) == expected(rv, THIRD_PARTY_INVITE_EVENT)
    room.power_levels({"invite": 20, "users": {ALICE: 20}, "state_default": 100})
    room.check(event)  # the required power level (state_default) is not consulted


# Required power level.


@pytest.mark.parametrize("rv", ALL)
def test_required_power_level(rv: RoomVersion) -> None:
    room = joined_room(rv, ALICE)
    room.power_levels({"events": {"m.room.topic": 30}, "events_default": 10, "users": {ALICE: 20}})
    assert room.rejects(room.event("m.room.topic", ALICE, "", {})) == expected(rv, REQUIRED)
    room.check(room.event("m.room.message", ALICE, None, {}))
    # state_default is 50: Alice (20) may not send other state events.
    assert room.rejects(room.event("m.custom.state", ALICE, "x", {})) == expected(rv, REQUIRED)
    room.power_levels({"events_default": 21, "users": {ALICE: 20}})
    assert room.rejects(room.event("m.room.message", ALICE, None, {})) == expected(rv, REQUIRED)


@pytest.mark.parametrize("rv", ALL)
def test_without_power_levels_only_creator_sends_state(rv: RoomVersion) -> None:
    room = joined_room(rv, ALICE)
    room.check(room.event("m.room.name", CREATOR, "", {"name": "n"}))
    assert room.rejects(room.event("m.room.name", ALICE, "", {})) == expected(rv, REQUIRED)
    room.check(room.event("m.room.message", ALICE, None, {}))


# A state_key starting with @ must be the sender.


@pytest.mark.parametrize("rv", ALL)
def test_state_key_naming_other_user_rejected(rv: RoomVersion) -> None:
    room = joined_room(rv)
    assert room.rejects(room.event("m.custom", CREATOR, BOB, {})) == expected(rv, STATE_KEY_USER)
    room.check(room.event("m.custom", CREATOR, CREATOR, {}))
    room.check(room.event("m.custom", CREATOR, "not-a-user", {}))


# Redaction rule (v1-v2 only).


@pytest.mark.parametrize("rv", ALL)
def test_redaction_rule_of_v1_v2(rv: RoomVersion) -> None:
    room = joined_room(rv, BOB)
    target = "$target:a.example"

    def redaction(event_id: str) -> EventView:
        if rv.redacts_in_content:
            return room.event("m.room.redaction", BOB, None, {"redacts": target}, event_id=event_id)
        return room.event(
            "m.room.redaction", BOB, None, {}, event_id=event_id, extra={"redacts": target}
        )

    # Bob (level 0) redacts an event from a.example in a redaction whose ID is from b.example.
    foreign = redaction("$r1:b.example")
    if rv.event_id_format is EventIdFormat.V1:
        assert room.rejects(foreign) == "11.3"
        # 11.2: same domain as the redacted event's ID.
        room.check(redaction("$r2:a.example"))
        # 11.1: the redact level.
        room.power_levels({"users": {BOB: 50}, "redact": 50})
        room.check(foreign)
    else:
        room.check(foreign)  # the redact level is checked when handling the redaction
        room.power_levels({"events": {"m.room.redaction": 10}})
        assert room.rejects(foreign) == expected(rv, REQUIRED)


# The m.room.power_levels rule.


def _pl_room(rv: RoomVersion, users: dict[str, Any], **content: Any) -> Room:
    room = joined_room(rv, ALICE, BOB)
    room.power_levels({"users": users, **content})
    return room


@pytest.mark.parametrize("rv", ALL)
def test_first_power_levels_event_allowed(rv: RoomVersion) -> None:
    room = joined_room(rv)
    users = {} if rv.privileged_creators else {CREATOR: 100}
    room.check_full(
        room.event("m.room.power_levels", CREATOR, "", {"users": {**users, ALICE: 1000}})
    )


@pytest.mark.parametrize("rv", ALL)
@pytest.mark.parametrize(
    "users",
    [
        [],
        "x",
        {"alice": 10},
        {"@alice": 10},
        {"@a:bad host": 1},
        {ALICE: "ten"},
        {ALICE: None},
        {ALICE: True},
    ],
)
def test_users_must_map_user_ids_to_integers(rv: RoomVersion, users: Any) -> None:
    room = joined_room(rv)
    event = room.event("m.room.power_levels", CREATOR, "", {"users": users})
    assert room.rejects(event) == expected(rv, PL_USERS_FORMAT)


@pytest.mark.parametrize("rv", ALL)
def test_stringy_user_levels_allowed_before_v10(rv: RoomVersion) -> None:
    room = joined_room(rv)
    event = room.event("m.room.power_levels", CREATOR, "", {"users": {ALICE: " 10 "}})
    if rv.integer_power_levels:
        assert room.rejects(event) == expected(rv, PL_USERS_FORMAT)
    else:
        room.check(event)


@pytest.mark.parametrize("rv", versions(integer_power_levels=True))
@pytest.mark.parametrize("key", ["users_default", "events_default", "state_default", "ban",
                                 "redact", "kick", "invite"])  # fmt: skip
def test_top_level_values_must_be_integers_from_v10(rv: RoomVersion, key: str) -> None:
    room = joined_room(rv)
    for value in ("50", 50.0, True, None):
        event = room.event("m.room.power_levels", CREATOR, "", {key: value})
        assert room.rejects(event) == expected(rv, {"10-11": "9.1", "12": "10.1"})
    room.check(room.event("m.room.power_levels", CREATOR, "", {key: 50}))


@pytest.mark.parametrize("rv", versions(integer_power_levels=False))
def test_top_level_strings_allowed_before_v10(rv: RoomVersion) -> None:
    room = joined_room(rv)
    room.check(room.event("m.room.power_levels", CREATOR, "", {"ban": "50", "events": {"x": "1"}}))


@pytest.mark.parametrize("rv", versions(integer_power_levels=True))
@pytest.mark.parametrize("key", ["events", "notifications"])
@pytest.mark.parametrize("value", [[], 5, {"m.x": "5"}, {"m.x": False}])
def test_events_and_notifications_must_map_to_integers_from_v10(
    rv: RoomVersion, key: str, value: Any
) -> None:
    room = joined_room(rv)
    event = room.event("m.room.power_levels", CREATOR, "", {key: value})
    assert room.rejects(event) == expected(rv, {"10-11": "9.2", "12": "10.2"})
    room.check(room.event("m.room.power_levels", CREATOR, "", {key: {"m.x": 5}}))


@pytest.mark.parametrize("rv", ALL)
@pytest.mark.parametrize("key", ["users_default", "events_default", "state_default", "ban",
                                 "redact", "kick", "invite"])  # fmt: skip
def test_top_level_change_limits(rv: RoomVersion, key: str) -> None:
    # Sending m.room.power_levels itself needs 0, so that state_default does not interfere.
    base: dict[str, Any] = {"users": {ALICE: 50}, "events": {"m.room.power_levels": 0}}
    room = _pl_room(rv, base["users"], events=base["events"], **{key: 60})
    # Current value above the sender's level: no change, not even lowering or removing.
    for new in ({key: 10}, {}):
        event = room.event("m.room.power_levels", ALICE, "", {**base, **new})
        assert room.rejects(event) == expected(rv, PL_TOP_LEVEL) + ".1"
    # New value above the sender's level.
    room = _pl_room(rv, base["users"], events=base["events"], **{key: 40})
    event = room.event("m.room.power_levels", ALICE, "", {**base, key: 51})
    assert room.rejects(event) == expected(rv, PL_TOP_LEVEL) + ".2"
    # Up to the sender's own level is fine; so is an unchanged value above it.
    room.check(room.event("m.room.power_levels", ALICE, "", {**base, key: 50}))
    room = _pl_room(rv, base["users"], events=base["events"], **{key: 60})
    room.check(room.event("m.room.power_levels", ALICE, "", {**base, key: 60}))


@pytest.mark.parametrize("rv", ALL)
def test_events_change_limits(rv: RoomVersion) -> None:
    room = _pl_room(rv, {ALICE: 50}, events={"m.high": 60, "m.low": 10})
    base = {"users": {ALICE: 50}}
    # Changing or removing an entry above the sender's level.
    for events in ({"m.high": 10, "m.low": 10}, {"m.low": 10}):
        event = room.event("m.room.power_levels", ALICE, "", {**base, "events": events})
        assert room.rejects(event) == expected(rv, PL_EVENTS_OLD)
    # Adding or raising an entry above the sender's level.
    for events in ({"m.high": 60, "m.low": 51}, {"m.high": 60, "m.low": 10, "m.new": 51}):
        event = room.event("m.room.power_levels", ALICE, "", {**base, "events": events})
        assert room.rejects(event) == expected(rv, PL_EVENTS_NEW)
    allowed = {"m.high": 60, "m.low": 50, "m.new": 20}
    room.check(room.event("m.room.power_levels", ALICE, "", {**base, "events": allowed}))


@pytest.mark.parametrize("rv", ALL)
def test_notifications_change_limits_from_v6(rv: RoomVersion) -> None:
    room = _pl_room(rv, {ALICE: 50}, notifications={"room": 60})
    lowered = room.event(
        "m.room.power_levels", ALICE, "", {"users": {ALICE: 50}, "notifications": {"room": 0}}
    )
    raised = room.event(
        "m.room.power_levels",
        ALICE,
        "",
        {"users": {ALICE: 50}, "notifications": {"room": 60, "x": 70}},
    )
    if rv.limit_notifications_power_levels:
        assert room.rejects(lowered) == expected(rv, PL_EVENTS_OLD)
        assert room.rejects(raised) == expected(rv, PL_EVENTS_NEW)
    else:
        room.check(lowered)
        room.check(raised)


@pytest.mark.parametrize("rv", ALL)
def test_users_change_limits(rv: RoomVersion) -> None:
    room = _pl_room(rv, {ALICE: 50, BOB: 50, CAROL: 10})
    # Changing or removing a user at or above the sender's level.
    for users in ({ALICE: 50, BOB: 10, CAROL: 10}, {ALICE: 50, CAROL: 10}):
        event = room.event("m.room.power_levels", ALICE, "", {"users": users})
        assert room.rejects(event) == expected(rv, PL_USERS_OLD)
    # Raising a user (or oneself) above the sender's level.
    for users in ({ALICE: 50, BOB: 50, CAROL: 51}, {ALICE: 51, BOB: 50, CAROL: 10}):
        event = room.event("m.room.power_levels", ALICE, "", {"users": users})
        assert room.rejects(event) == expected(rv, PL_USERS_NEW)
    # Lowering oneself, and changing lower users up to one's own level, are fine.
    room.check(room.event("m.room.power_levels", ALICE, "", {"users": {ALICE: 0, BOB: 50}}))
    room.check(
        room.event(
            "m.room.power_levels", ALICE, "", {"users": {ALICE: 50, BOB: 50, CAROL: 50, "@d:x": 5}}
        )
    )


@pytest.mark.parametrize("rv", versions(integer_power_levels=False))
def test_stringy_equal_values_are_no_change(rv: RoomVersion) -> None:
    room = _pl_room(rv, {ALICE: 50, BOB: "60"}, ban="70")
    room.check(
        room.event("m.room.power_levels", ALICE, "", {"users": {ALICE: 50, BOB: 60}, "ban": 70})
    )
