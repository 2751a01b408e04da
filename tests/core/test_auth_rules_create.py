"""Auth rules 1 (create), 2 of v12 (room ID), the auth events rule and auth events selection."""

from typing import Any

import pytest

from myelin.core.auth_rules import (
    auth_types_for_event,
    check_auth_rules,
    check_state_dependent_auth_rules,
    check_state_independent_auth_rules,
)
from myelin.core.errors import AuthError
from myelin.core.events import EventView
from myelin.core.room_versions import RoomVersion
from tests.core.auth_rules_support import (
    ALICE,
    BOB,
    CREATOR,
    Room,
    expected,
    joined_room,
    versions,
)

ALL = versions()


def _independent(room: Room, event: EventView, auth_events: list[EventView]) -> str:
    with pytest.raises(AuthError) as info:
        check_state_independent_auth_rules(
            room.room_version, event, auth_events, create_event=room.create
        )
    return info.value.rule


# Rule 1: m.room.create.


@pytest.mark.parametrize("rv", ALL)
def test_create_allowed(rv: RoomVersion) -> None:
    room = Room(rv)
    check_auth_rules(rv, room.create, [])


@pytest.mark.parametrize("rv", ALL)
def test_create_with_prev_events_rejected_1_1(rv: RoomVersion) -> None:
    room = Room(rv)
    create = room.event(
        "m.room.create",
        CREATOR,
        "",
        room.create.content,
        prev_events=["$earlier"],
        include_room_id=not rv.room_id_is_create_event_id,
    )
    assert _independent(room, create, []) == "1.1"


@pytest.mark.parametrize("rv", versions(room_id_is_create_event_id=False))
def test_create_room_id_domain_must_match_sender_1_2(rv: RoomVersion) -> None:
    room = Room(rv)
    bad = room.event("m.room.create", BOB, "", {"creator": BOB}, prev_events=[])
    assert _independent(room, bad, []) == "1.2"
    good = room.event(
        "m.room.create",
        BOB,
        "",
        {"creator": BOB},
        prev_events=[],
        extra={"room_id": "!r:b.example"},
    )
    check_state_independent_auth_rules(rv, good, [])


@pytest.mark.parametrize("rv", versions(room_id_is_create_event_id=True))
def test_v12_create_with_room_id_rejected_1_2(rv: RoomVersion) -> None:
    room = Room(rv)
    bad = room.event("m.room.create", CREATOR, "", {}, prev_events=[], include_room_id=True)
    assert _independent(room, bad, []) == "1.2"


@pytest.mark.parametrize("rv", ALL)
@pytest.mark.parametrize("value", ["99", 1, None])
def test_create_unknown_room_version_rejected_1_3(rv: RoomVersion, value: Any) -> None:
    room = Room(rv, create_content={"room_version": value})
    assert _independent(room, room.create, []) == "1.3"


@pytest.mark.parametrize("rv", ALL)
def test_create_without_room_version_allowed(rv: RoomVersion) -> None:
    room = Room(rv)
    content = {k: v for k, v in room.create.content.items() if k != "room_version"}
    create = room.event(
        "m.room.create",
        CREATOR,
        "",
        content,
        prev_events=[],
        include_room_id=not rv.room_id_is_create_event_id,
    )
    check_state_independent_auth_rules(rv, create, [])


@pytest.mark.parametrize("rv", ALL)
def test_create_without_creator_only_rejected_before_v11_1_4(rv: RoomVersion) -> None:
    room = Room(rv)
    create = room.event(
        "m.room.create",
        CREATOR,
        "",
        {},
        prev_events=[],
        include_room_id=not rv.room_id_is_create_event_id,
    )
    if rv.creator_is_sender:
        check_state_independent_auth_rules(rv, create, [])
    else:
        assert _independent(room, create, []) == "1.4"


@pytest.mark.parametrize("rv", ALL)
@pytest.mark.parametrize("additional", ["@x:a.example", ["@x:a.example", 3], ["nope"], [""]])
def test_additional_creators_must_be_user_ids_in_v12_1_4(rv: RoomVersion, additional: Any) -> None:
    room = Room(rv, create_content={"additional_creators": additional})
    if rv.privileged_creators:
        assert _independent(room, room.create, []) == "1.4"
    else:
        check_state_independent_auth_rules(rv, room.create, [])


@pytest.mark.parametrize("rv", versions(privileged_creators=True))
def test_valid_additional_creators_allowed(rv: RoomVersion) -> None:
    room = Room(rv, create_content={"additional_creators": [ALICE, BOB]})
    check_state_independent_auth_rules(rv, room.create, [])


# Rule 2 (v12): the room ID names the create event.


@pytest.mark.parametrize("rv", versions(room_id_is_create_event_id=True))
def test_v12_room_id_must_name_create_event_2(rv: RoomVersion) -> None:
    room = joined_room(rv)
    message = room.event("m.room.message", CREATOR, None, {"body": "hi"})
    room.check_full(message)
    other = Room(rv)
    assert _independent(other, message, room.auth_events_for(message)) == "2"
    with pytest.raises(AuthError) as info:
        check_auth_rules(rv, message, room.auth_events_for(message))  # no create event given
    assert info.value.rule == "2"
    # The state-dependent rules check it as well.
    state = dict(room.state)
    state[("m.room.create", "")] = other.create
    with pytest.raises(AuthError) as info:
        check_state_dependent_auth_rules(rv, message, state)
    assert info.value.rule == "2"


# Rule 2 (3 in v12): the auth events.

AUTH_EVENTS_RULE = {"1-11": "2", "12": "3"}


@pytest.mark.parametrize("rv", ALL)
def test_duplicate_auth_event_pairs_rejected_x_1(rv: RoomVersion) -> None:
    room = joined_room(rv)
    message = room.event("m.room.message", CREATOR, None, {})
    auth_events = room.auth_events_for(message)
    room.check_full(message, auth_events)
    old_member = room.event("m.room.member", CREATOR, CREATOR, {"membership": "join"})
    rule = expected(rv, AUTH_EVENTS_RULE)
    assert _independent(room, message, [*auth_events, old_member]) == f"{rule}.1"


@pytest.mark.parametrize("rv", ALL)
def test_unselected_auth_event_rejected_x_2(rv: RoomVersion) -> None:
    room = joined_room(rv, ALICE)
    message = room.event("m.room.message", CREATOR, None, {})
    auth_events = room.auth_events_for(message)
    rule = expected(rv, AUTH_EVENTS_RULE)
    # The join rules and another user's membership are not selected for a message.
    join_rules = room.state[("m.room.join_rules", "")]
    assert _independent(room, message, [*auth_events, join_rules]) == f"{rule}.2"
    alice = room.state[("m.room.member", ALICE)]
    assert _independent(room, message, [*auth_events, alice]) == f"{rule}.2"
    # A non-state event is never selected.
    assert _independent(room, message, [*auth_events, message]) == f"{rule}.2"


@pytest.mark.parametrize("rv", ALL)
def test_create_event_in_auth_events_rejected_only_in_v12(rv: RoomVersion) -> None:
    room = joined_room(rv)
    message = room.event("m.room.message", CREATOR, None, {})
    without_create = [e for e in room.auth_events_for(message) if e.type != "m.room.create"]
    if rv.room_id_is_create_event_id:
        assert _independent(room, message, [*without_create, room.create]) == "3.2"
        check_state_independent_auth_rules(rv, message, without_create, create_event=room.create)
    else:
        # 2.4: If there is no m.room.create event among the entries, reject.
        assert _independent(room, message, without_create) == "2.4"
        check_state_independent_auth_rules(rv, message, [*without_create, room.create])


@pytest.mark.parametrize("rv", ALL)
def test_auth_event_from_another_room_rejected_x_5(rv: RoomVersion) -> None:
    room = joined_room(rv)
    message = room.event("m.room.message", CREATOR, None, {})
    auth_events = room.auth_events_for(message)
    foreign_pl = room.event(
        "m.room.power_levels", CREATOR, "", {}, extra={"room_id": "!elsewhere:a.example"}
    )
    rule = expected(rv, AUTH_EVENTS_RULE)
    assert _independent(room, message, [*auth_events, foreign_pl]) == f"{rule}.5"


@pytest.mark.parametrize("rv", ALL)
def test_no_create_event_in_state_rejected(rv: RoomVersion) -> None:
    room = joined_room(rv)
    message = room.event("m.room.message", CREATOR, None, {})
    state = {k: v for k, v in room.state.items() if k[0] != "m.room.create"}
    with pytest.raises(AuthError) as info:
        check_state_dependent_auth_rules(rv, message, state)
    assert info.value.rule == expected(rv, {"1-11": "2.4", "12": "2"})


# Auth events selection (server-server API).


@pytest.mark.parametrize("rv", ALL)
def test_selection_for_create_is_empty(rv: RoomVersion) -> None:
    assert auth_types_for_event(rv, "m.room.create", CREATOR, "", {}) == set()


@pytest.mark.parametrize("rv", ALL)
def test_selection_for_message(rv: RoomVersion) -> None:
    pairs = auth_types_for_event(rv, "m.room.message", ALICE, None, {"body": "x"})
    base = {("m.room.power_levels", ""), ("m.room.member", ALICE)}
    if rv.room_id_is_create_event_id:
        assert pairs == base
    else:
        assert pairs == base | {("m.room.create", "")}


@pytest.mark.parametrize("rv", ALL)
@pytest.mark.parametrize(
    ("membership", "with_join_rules"),
    [("join", True), ("invite", True), ("knock", True), ("leave", False), ("ban", False)],
)
def test_selection_for_membership(rv: RoomVersion, membership: str, with_join_rules: bool) -> None:
    pairs = auth_types_for_event(rv, "m.room.member", ALICE, BOB, {"membership": membership})
    assert ("m.room.member", BOB) in pairs and ("m.room.member", ALICE) in pairs
    assert (("m.room.join_rules", "") in pairs) is with_join_rules


@pytest.mark.parametrize("rv", ALL)
def test_selection_for_third_party_invite(rv: RoomVersion) -> None:
    content = {"membership": "invite", "third_party_invite": {"signed": {"token": "tok"}}}
    pairs = auth_types_for_event(rv, "m.room.member", ALICE, BOB, content)
    assert ("m.room.third_party_invite", "tok") in pairs
    # Only for invites.
    content["membership"] = "join"
    pairs = auth_types_for_event(rv, "m.room.member", BOB, BOB, content)
    assert not any(t == "m.room.third_party_invite" for t, _ in pairs)


@pytest.mark.parametrize("rv", ALL)
def test_selection_for_restricted_join(rv: RoomVersion) -> None:
    content = {"membership": "join", "join_authorised_via_users_server": CREATOR}
    pairs = auth_types_for_event(rv, "m.room.member", BOB, BOB, content)
    assert (("m.room.member", CREATOR) in pairs) is rv.restricted_join_rule


# Member sub-rule 2 (v8+): join_authorised_via_users_server must have signed the event.

JAUVS_RULE = {"8-11": "4.2.1", "12": "5.2.1"}


@pytest.mark.parametrize("rv", ALL)
def test_join_authorised_via_signature(rv: RoomVersion) -> None:
    room = joined_room(rv)
    content = {"membership": "join", "join_authorised_via_users_server": ALICE}
    unsigned = room.event("m.room.member", BOB, BOB, content)  # signed by b.example only
    signed = room.event(
        "m.room.member",
        BOB,
        BOB,
        content,
        extra={"signatures": {"b.example": {"ed25519:k": "s"}, "a.example": {"ed25519:k": "s"}}},
    )
    auth_events = room.auth_events_for(unsigned)
    check_state_independent_auth_rules(rv, signed, auth_events, create_event=room.create)
    if not rv.restricted_join_rule:
        check_state_independent_auth_rules(rv, unsigned, auth_events, create_event=room.create)
        return
    assert _independent(room, unsigned, auth_events) == expected(rv, JAUVS_RULE)
    # With a verifier, its answer decides.
    with pytest.raises(AuthError) as info:
        check_state_independent_auth_rules(
            rv,
            signed,
            auth_events,
            create_event=room.create,
            server_signature_check=lambda _event, server: server != "a.example",
        )
    assert info.value.rule == expected(rv, JAUVS_RULE)
    check_state_independent_auth_rules(
        rv,
        signed,
        auth_events,
        create_event=room.create,
        server_signature_check=lambda _event, server: server == "a.example",
    )
    bad_id = room.event(
        "m.room.member", BOB, BOB, {"membership": "join", "join_authorised_via_users_server": 5}
    )
    assert _independent(room, bad_id, auth_events) == expected(rv, JAUVS_RULE)
