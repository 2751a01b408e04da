"""Restricted rooms: allow conditions, when a join needs authorising, who may authorise."""

from typing import Any

from myelin.core.events import EventView
from myelin.core.restricted_rooms import (
    allowed_room_ids,
    authorisers,
    is_restricted_rule,
    join_needs_authorisation,
)
from myelin.core.room_versions import get_room_version

V7, V8, V9, V10, V12 = (get_room_version(v) for v in ("7", "8", "9", "10", "12"))


def view(event_type: str, sender: str, content: dict[str, Any], version: Any = V10) -> EventView:
    json = {
        "type": event_type,
        "sender": sender,
        "state_key": "",
        "content": content,
        "room_id": "!r:a",
        "origin_server_ts": 0,
        "depth": 1,
        "prev_events": [],
        "auth_events": [],
        "hashes": {"sha256": "x"},
        "signatures": {},
    }
    return EventView(json, "$e", version)


def test_restricted_rules_per_room_version() -> None:
    assert not is_restricted_rule(V7, "restricted")
    assert is_restricted_rule(V8, "restricted")
    assert not is_restricted_rule(V9, "knock_restricted")
    assert is_restricted_rule(V10, "knock_restricted")
    for rule in ("public", "invite", "knock", None, 3):
        assert not is_restricted_rule(V12, rule)


def test_allowed_room_ids_keep_only_valid_membership_conditions() -> None:
    content = {
        "join_rule": "restricted",
        "allow": [
            {"type": "m.room_membership", "room_id": "!a:x"},
            {"type": "m.room_membership"},
            {"type": "m.room_membership", "room_id": 5},
            {"type": "org.example.other", "room_id": "!b:x"},
            "not an object",
            {"type": "m.room_membership", "room_id": "!c:x"},
            {"type": "m.room_membership", "room_id": "!a:x"},
        ],
    }
    assert allowed_room_ids(content) == ("!a:x", "!c:x")
    assert allowed_room_ids({"join_rule": "restricted"}) == ()
    assert allowed_room_ids({"allow": {"type": "m.room_membership"}}) == ()


def test_join_needs_authorisation_only_without_invite_or_membership() -> None:
    restricted = {"join_rule": "restricted", "allow": []}
    for membership in (None, "leave", "knock"):
        assert join_needs_authorisation(V9, restricted, membership)
    for membership in ("join", "invite", "ban"):
        assert not join_needs_authorisation(V9, restricted, membership)
    assert not join_needs_authorisation(V7, restricted, None)
    assert not join_needs_authorisation(V9, {"join_rule": "public"}, None)
    assert not join_needs_authorisation(V9, None, None)
    assert join_needs_authorisation(V10, {"join_rule": "knock_restricted"}, "knock")


def test_authorisers_are_members_with_invite_power_best_first() -> None:
    create = view("m.room.create", "@creator:a", {"creator": "@creator:a"})
    levels = view(
        "m.room.power_levels",
        "@creator:a",
        {"invite": 50, "users": {"@creator:a": 100, "@mod:a": 50, "@alt:a": 50, "@x:a": 10}},
    )
    found = authorisers(
        V10, ["@x:a", "@mod:a", "@creator:a", "@alt:a", "@nobody:a"], create, levels
    )
    assert found == ["@creator:a", "@alt:a", "@mod:a"]
    # Without power levels the invite level is 0: everyone may invite, the creator first.
    assert authorisers(V10, ["@b:a", "@creator:a"], create, None) == ["@creator:a", "@b:a"]
    assert authorisers(V10, [], create, levels) == []


def test_v12_creators_have_infinite_power() -> None:
    create = view("m.room.create", "@owner:a", {"additional_creators": ["@co:a"]}, V12)
    levels = view("m.room.power_levels", "@owner:a", {"invite": 100, "users": {"@mod:a": 100}}, V12)
    assert authorisers(V12, ["@mod:a", "@co:a", "@owner:a"], create, levels) == [
        "@co:a",
        "@owner:a",
        "@mod:a",
    ]
