"""Tests for room history visibility (spec: Client-Server API, "Room History Visibility")."""

from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from myelin.core.events import EventView
from myelin.core.history_visibility import (
    HISTORY_VISIBILITY_VALUES,
    INVITED,
    JOINED,
    SHARED,
    WORLD_READABLE,
    StateContents,
    can_server_see_event,
    can_user_see_event,
    effective_visibility,
    filter_events_for_server,
    filter_events_for_user,
    membership_in,
    server_may_see_event,
    state_contents,
    user_may_see_event,
    visibility_in,
)
from myelin.core.redaction import redact
from myelin.core.room_versions import ROOM_V10, ROOM_V11
from tests.api.openapi import SPEC_DIR, require_spec

ALICE = "@alice:a.example"
BOB = "@bob:b.example"
CAROL = "@carol:b.example"


def state(visibility: str | None = None, **members: str) -> StateContents:
    """State with a history visibility and memberships, keyed ``alice``/``bob``/``carol``."""
    ids = {"alice": ALICE, "bob": BOB, "carol": CAROL}
    result: dict[tuple[str, str], dict[str, Any]] = {}
    if visibility is not None:
        result[("m.room.history_visibility", "")] = {"history_visibility": visibility}
    for name, membership in members.items():
        result[("m.room.member", ids[name])] = {"membership": membership}
    return result


def message(event_id: str = "$m") -> EventView:
    pdu = {
        "type": "m.room.message",
        "sender": ALICE,
        "room_id": "!r:a.example",
        "content": {"msgtype": "m.text", "body": "secret"},
        "origin_server_ts": 1,
        "depth": 3,
        "hashes": {"sha256": "x"},
        "signatures": {},
        "prev_events": [],
        "auth_events": [],
    }
    return EventView(pdu, event_id, ROOM_V11)


def state_event(
    event_type: str, state_key: str, content: dict[str, Any], sender: str = ALICE
) -> EventView:
    pdu = {
        "type": event_type,
        "state_key": state_key,
        "sender": sender,
        "room_id": "!r:a.example",
        "content": content,
        "origin_server_ts": 1,
        "depth": 3,
        "hashes": {"sha256": "x"},
        "signatures": {},
        "prev_events": [],
        "auth_events": [],
    }
    return EventView(pdu, "$s", ROOM_V11)


def member(user_id: str, membership: str) -> EventView:
    return state_event("m.room.member", user_id, {"membership": membership}, sender=user_id)


def visibility_change(value: str) -> EventView:
    return state_event("m.room.history_visibility", "", {"history_visibility": value})


# --- Defaults ---------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, "", "bogus", 3, "WORLD_READABLE"])
def test_missing_or_unknown_visibility_is_shared(value: Any) -> None:
    assert effective_visibility(value) == "shared"


def test_known_values_are_the_spec_enum() -> None:
    require_spec()
    path = SPEC_DIR / "data" / "event-schemas" / "schema" / "m.room.history_visibility.yaml"
    schema = yaml.safe_load(path.read_text("utf-8"))
    enum = schema["properties"]["content"]["properties"]["history_visibility"]["enum"]
    assert set(enum) == HISTORY_VISIBILITY_VALUES
    for value in enum:
        assert effective_visibility(value) == value


def test_state_readers() -> None:
    snapshot = state("joined", alice="join")
    assert visibility_in(snapshot) == "joined"
    assert visibility_in({}) == "shared"
    assert membership_in(snapshot, ALICE) == "join"
    assert membership_in(snapshot, BOB) is None
    assert membership_in({("m.room.member", BOB): {"membership": 5}}, BOB) is None


# --- The five rules ---------------------------------------------------------------------


def test_rule_1_world_readable_allows_anyone() -> None:
    assert can_user_see_event("world_readable", None)
    assert can_user_see_event("world_readable", "leave")
    assert can_user_see_event("world_readable", "ban")
    assert not can_user_see_event("joined", None)


def test_rule_2_joined_at_event_allows() -> None:
    for visibility in HISTORY_VISIBILITY_VALUES:
        assert can_user_see_event(visibility, "join", "leave")
    assert not can_user_see_event("joined", "leave", "join")


def test_rule_3_shared_and_joined_later() -> None:
    assert can_user_see_event("shared", None, "join")
    assert can_user_see_event("shared", "invite", "join")
    assert can_user_see_event("shared", None, "leave", joined_after_event=True)
    assert not can_user_see_event("shared", None, "leave")
    assert not can_user_see_event("shared", None, None)
    assert not can_user_see_event("shared", "invite", "invite")
    # Only under "shared": a later join does not reveal "invited" or "joined" history.
    assert not can_user_see_event("invited", None, "join", joined_after_event=True)
    assert not can_user_see_event("joined", None, "join", joined_after_event=True)


def test_unknown_visibility_behaves_as_shared() -> None:
    assert can_user_see_event("future_value", None, "join")
    assert can_user_see_event(None, None, "join")
    assert not can_user_see_event("future_value", None, "leave")


def test_rule_4_invited() -> None:
    assert can_user_see_event("invited", "invite", "join")
    assert can_user_see_event("invited", "invite", "invite")
    assert not can_user_see_event("joined", "invite", "join")
    assert not can_user_see_event("invited", "knock", "join")


def test_rule_5_otherwise_deny() -> None:
    for membership in (None, "leave", "ban", "knock"):
        assert not can_user_see_event("joined", membership, "join")
        assert not can_user_see_event("invited", membership, "join")


# --- Events and state ---------------------------------------------------------------------


def test_state_at_the_event_decides() -> None:
    event = message()
    assert user_may_see_event(event, ALICE, state("joined", alice="join"), "leave")
    assert not user_may_see_event(event, BOB, state("joined", alice="join"), "join")
    assert user_may_see_event(event, BOB, state("world_readable", alice="join"), None)


def test_history_visibility_event_before_or_after() -> None:
    # A non-member sees a change from world_readable to joined, and from joined to
    # world_readable, but not from joined to shared.
    assert user_may_see_event(visibility_change("joined"), BOB, state("world_readable"), None)
    assert user_may_see_event(visibility_change("world_readable"), BOB, state("joined"), None)
    assert not user_may_see_event(visibility_change("shared"), BOB, state("joined"), None)
    assert not user_may_see_event(visibility_change("invited"), BOB, state("joined"), "leave")


def test_own_membership_before_or_after() -> None:
    # A join is visible to the joiner even under "joined".
    assert user_may_see_event(member(BOB, "join"), BOB, state("joined"), "join")
    # Leaving (or being kicked or banned) after being joined is visible.
    for membership in ("leave", "ban"):
        assert user_may_see_event(member(BOB, membership), BOB, state("joined", bob="join"), None)
    # Someone else's join is not visible to a user who was not in the room.
    assert not user_may_see_event(member(CAROL, "join"), BOB, state("joined"), "leave")
    # A ban of a user who was never in the room, under "joined": neither before nor after.
    assert not user_may_see_event(member(BOB, "ban"), BOB, state("joined"), "ban")


def test_own_invite_rejection_is_visible() -> None:
    # Synapse's rule, which clients rely on: rejecting an invite shows the leave.
    assert user_may_see_event(member(BOB, "leave"), BOB, state("joined", bob="invite"), "leave")
    # But not a leave from knock under "joined".
    assert not user_may_see_event(member(BOB, "leave"), BOB, state("joined", bob="knock"), "leave")


def test_invite_visible_under_invited() -> None:
    assert user_may_see_event(member(BOB, "invite"), BOB, state("invited"), "invite")
    assert not user_may_see_event(member(BOB, "invite"), BOB, state("joined"), "invite")


def test_filter_events_for_user_timeline() -> None:
    # Under "joined": Bob joins after m1, sees m2, leaves, does not see m3.
    m1, m2, m3 = message("$m1"), message("$m2"), message("$m3")
    join, leave = member(BOB, "join"), member(BOB, "leave")
    join = EventView(join.json, "$join", ROOM_V11)
    leave = EventView(leave.json, "$leave", ROOM_V11)
    before = {
        "$m1": state("joined", alice="join"),
        "$join": state("joined", alice="join"),
        "$m2": state("joined", alice="join", bob="join"),
        "$leave": state("joined", alice="join", bob="join"),
        "$m3": state("joined", alice="join", bob="leave"),
    }
    events = [m1, join, m2, leave, m3]
    visible = filter_events_for_user(events, BOB, before, "leave")
    assert [e.event_id for e in visible] == ["$join", "$m2", "$leave"]
    # Alice sees everything.
    assert filter_events_for_user(events, ALICE, before, "join") == events


def test_filter_events_for_user_shared() -> None:
    m1, m3 = message("$m1"), message("$m3")
    before = {
        "$m1": state("shared", alice="join"),
        "$m3": state("shared", alice="join", bob="leave"),
    }
    # Bob is joined now: he sees history from before he joined.
    assert filter_events_for_user([m1], BOB, before, "join") == [m1]
    # Bob joined after m1 and has left since: the caller says so.
    assert filter_events_for_user([m1, m3], BOB, before, "leave", joined_after={"$m1"}) == [m1]
    assert filter_events_for_user([m1, m3], BOB, before, "leave") == []


def test_filter_events_for_user_unknown_state() -> None:
    # No state known: the default "shared" with no membership.
    assert [e.event_id for e in filter_events_for_user([message()], BOB, {}, "join")] == ["$m"]
    assert filter_events_for_user([message()], BOB, {}, "leave") == []


# --- Servers ---------------------------------------------------------------------


def test_server_world_readable_and_shared() -> None:
    assert can_server_see_event("world_readable", [])
    assert can_server_see_event("shared", [])
    assert can_server_see_event(None, [])
    assert not can_server_see_event("joined", [])


def test_server_invited() -> None:
    assert can_server_see_event("invited", ["leave", "invite"])
    assert can_server_see_event("invited", ["join"])
    assert not can_server_see_event("invited", ["leave", "ban", None])


def test_server_joined() -> None:
    assert can_server_see_event("joined", ["leave", "join"])
    assert not can_server_see_event("joined", ["invite"])


def test_server_may_see_event_uses_its_users() -> None:
    event = message()
    assert server_may_see_event(event, "b.example", state("joined", alice="join", bob="join"))
    assert not server_may_see_event(event, "b.example", state("joined", alice="join", bob="leave"))
    assert server_may_see_event(event, "b.example", state("invited", bob="invite"))
    assert not server_may_see_event(event, "c.example", state("invited", bob="invite"))
    # Carol (also on b.example) being joined is enough.
    assert server_may_see_event(event, "b.example", state("joined", bob="leave", carol="join"))


def test_server_sees_its_own_users_membership() -> None:
    assert server_may_see_event(member(BOB, "invite"), "b.example", state("joined"))
    assert not server_may_see_event(member(ALICE, "join"), "b.example", state("joined"))


def test_server_history_visibility_event_before_or_after() -> None:
    assert server_may_see_event(visibility_change("joined"), "c.example", state("shared"))
    assert not server_may_see_event(visibility_change("invited"), "c.example", state("joined"))


def test_filter_events_for_server_redacts_invisible() -> None:
    visible, hidden, outlier = message("$v"), message("$h"), message("$o")
    before = {
        "$v": state("joined", bob="join"),
        "$h": state("joined", bob="leave"),
    }
    result = filter_events_for_server([visible, hidden, outlier], "b.example", before)
    assert result[0] == visible.json
    assert result[1] == redact(hidden.json, ROOM_V11)
    assert result[1]["content"] == {}
    assert result[2] == outlier.json
    dropped = filter_events_for_server(
        [visible, hidden], "b.example", before, redact_invisible=False
    )
    assert dropped == [visible.json]


def test_filter_events_for_server_uses_the_room_version() -> None:
    pdu = dict(message().json, redacts="$x", type="m.room.redaction")
    event = EventView(pdu, "$r", ROOM_V10)
    result = filter_events_for_server([event], "c.example", {"$r": state("joined")})
    assert result == [redact(pdu, ROOM_V10)]
    assert "redacts" not in result[0]


def test_state_contents_from_events() -> None:
    events = [visibility_change("joined"), member(BOB, "join"), message()]
    assert state_contents(events) == {
        ("m.room.history_visibility", ""): {"history_visibility": "joined"},
        ("m.room.member", BOB): {"membership": "join"},
    }
    assert visibility_in(state_contents(events)) == "joined"


# --- Properties ---------------------------------------------------------------------------------

_VISIBILITIES = st.sampled_from([WORLD_READABLE, SHARED, INVITED, JOINED, "other", None])
_MEMBERSHIPS = st.sampled_from(["join", "invite", "leave", "ban", "knock", None])
# Most permissive first.
_ORDER = [WORLD_READABLE, SHARED, INVITED, JOINED]


@given(_VISIBILITIES, _MEMBERSHIPS, _MEMBERSHIPS, st.booleans())
def test_rules_as_a_table(
    visibility: str | None, at_event: str | None, now: str | None, joined_after: bool
) -> None:
    # The spec's prose, read as a table of the visibility against what the user was and did.
    joined_later = joined_after or now == "join"
    effective = visibility if visibility in _ORDER else SHARED
    expected = {
        WORLD_READABLE: True,
        SHARED: at_event == "join" or joined_later,
        INVITED: at_event in ("join", "invite"),
        JOINED: at_event == "join",
    }[effective]
    assert can_user_see_event(visibility, at_event, now, joined_after_event=joined_after) is (
        expected
    )


# (wider, narrower): what the narrower visibility shows, the wider one shows too. "shared" and
# "invited" are not comparable: an invited user who has not joined sees "invited" history from
# their invite, but not "shared" history (rule 3 needs a join).
_WIDER = [
    (WORLD_READABLE, SHARED),
    (WORLD_READABLE, INVITED),
    (SHARED, JOINED),
    (INVITED, JOINED),
]


@given(st.sampled_from(_WIDER), _MEMBERSHIPS, _MEMBERSHIPS, st.booleans())
def test_a_wider_visibility_never_hides_more(
    pair: tuple[str, str], at_event: str | None, now: str | None, joined_after: bool
) -> None:
    wider, narrower = pair
    if can_user_see_event(narrower, at_event, now, joined_after_event=joined_after):
        assert can_user_see_event(wider, at_event, now, joined_after_event=joined_after)


def test_shared_and_invited_are_not_comparable() -> None:
    assert can_user_see_event(INVITED, "invite", "invite")
    assert not can_user_see_event(SHARED, "invite", "invite")
    assert can_user_see_event(SHARED, None, "join")
    assert not can_user_see_event(INVITED, None, "join")


@given(_VISIBILITIES, st.lists(_MEMBERSHIPS, max_size=4), _MEMBERSHIPS)
def test_a_server_sees_what_its_users_see(
    visibility: str | None, memberships: list[str | None], now: str | None
) -> None:
    # Any of its users seeing the event at that point (without a later join) lets the server
    # see it; "shared" history is visible to servers, which may have users joining later.
    if any(can_user_see_event(visibility, m, None) for m in memberships):
        assert can_server_see_event(visibility, memberships)
