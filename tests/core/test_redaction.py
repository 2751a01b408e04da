"""Tests for the redaction algorithms (spec: room versions 1, 6, 9 and 11 "Redactions")."""

import copy
from typing import Any

import pytest

from myelin.core.redaction import redact
from myelin.core.room_versions import (
    KNOWN_ROOM_VERSIONS,
    ROOM_V1,
    ROOM_V5,
    ROOM_V6,
    ROOM_V8,
    ROOM_V9,
    ROOM_V10,
    ROOM_V11,
    ROOM_V12,
    RoomVersion,
)

# One room version per redaction algorithm.
V1, V6, V9, V11 = ROOM_V1, ROOM_V6, ROOM_V9, ROOM_V11

TOP_LEVEL: dict[str, Any] = {
    "event_id": "$e:x",
    "room_id": "!r:x",
    "sender": "@u:x",
    "state_key": "",
    "hashes": {"sha256": "h"},
    "signatures": {"x": {"ed25519:1": "s"}},
    "depth": 4,
    "prev_events": ["$p"],
    "prev_state": [],
    "auth_events": ["$a"],
    "origin": "x",
    "origin_server_ts": 123,
    "membership": "join",
    "unsigned": {"age": 5},
    "redacts": "$old",
    "custom": "dropped",
}


def event(event_type: str, content: dict[str, Any]) -> dict[str, Any]:
    return {**copy.deepcopy(TOP_LEVEL), "type": event_type, "content": content}


# (event type, full content, {algorithm room version: content kept})
MEMBER = {
    "membership": "join",
    "displayname": "U",
    "avatar_url": "mxc://x/y",
    "join_authorised_via_users_server": "@admin:x",
    "third_party_invite": {"display_name": "u", "signed": {"mxid": "@u:x", "token": "t"}},
}
CREATE = {"creator": "@u:x", "room_version": "1", "m.federate": False, "predecessor": {}}
JOIN_RULES = {"join_rule": "restricted", "allow": [{"type": "m.room_membership"}], "x": 1}
POWER_LEVELS = {
    "ban": 50,
    "events": {"m.room.name": 50},
    "events_default": 0,
    "invite": 0,
    "kick": 50,
    "redact": 50,
    "state_default": 50,
    "users": {"@u:x": 100},
    "users_default": 0,
    "notifications": {"room": 50},
}
PL_KEPT = {k: v for k, v in POWER_LEVELS.items() if k not in ("invite", "notifications")}

CASES: list[tuple[str, dict[str, Any], dict[RoomVersion, dict[str, Any]]]] = [
    (
        "m.room.member",
        MEMBER,
        {
            V1: {"membership": "join"},
            V6: {"membership": "join"},
            V9: {"membership": "join", "join_authorised_via_users_server": "@admin:x"},
            V11: {
                "membership": "join",
                "join_authorised_via_users_server": "@admin:x",
                "third_party_invite": {"signed": {"mxid": "@u:x", "token": "t"}},
            },
        },
    ),
    (
        "m.room.create",
        CREATE,
        {V1: {"creator": "@u:x"}, V6: {"creator": "@u:x"}, V9: {"creator": "@u:x"}, V11: CREATE},
    ),
    (
        "m.room.join_rules",
        JOIN_RULES,
        {
            V1: {"join_rule": "restricted"},
            V6: {"join_rule": "restricted"},
            V9: {"join_rule": "restricted", "allow": [{"type": "m.room_membership"}]},
            V11: {"join_rule": "restricted", "allow": [{"type": "m.room_membership"}]},
        },
    ),
    (
        "m.room.power_levels",
        POWER_LEVELS,
        {V1: PL_KEPT, V6: PL_KEPT, V9: PL_KEPT, V11: {**PL_KEPT, "invite": 0}},
    ),
    (
        "m.room.aliases",
        {"aliases": ["#a:x"], "other": 1},
        {V1: {"aliases": ["#a:x"]}, V6: {}, V9: {}, V11: {}},
    ),
    (
        "m.room.history_visibility",
        {"history_visibility": "shared", "other": 1},
        {v: {"history_visibility": "shared"} for v in (V1, V6, V9, V11)},
    ),
    (
        "m.room.redaction",
        {"redacts": "$old", "reason": "spam"},
        {V1: {}, V6: {}, V9: {}, V11: {"redacts": "$old"}},
    ),
    (
        "m.room.message",
        {"msgtype": "m.text", "body": "hello"},
        {v: {} for v in (V1, V6, V9, V11)},
    ),
    ("m.room.name", {"name": "Room"}, {v: {} for v in (V1, V6, V9, V11)}),
    ("m.room.topic", {"topic": "T"}, {v: {} for v in (V1, V6, V9, V11)}),
]


@pytest.mark.parametrize(
    ("event_type", "content", "room_version", "expected"),
    [
        pytest.param(t, c, v, e, id=f"{t}-v{v.identifier}")
        for t, c, kept in CASES
        for v, e in kept.items()
    ],
)
def test_content_per_event_type_and_algorithm(
    event_type: str, content: dict[str, Any], room_version: RoomVersion, expected: dict[str, Any]
) -> None:
    assert redact(event(event_type, content), room_version)["content"] == expected


@pytest.mark.parametrize("room_version", [V1, V6, V9])
def test_top_level_keys_before_v11(room_version: RoomVersion) -> None:
    redacted = redact(event("m.room.message", {"body": "x"}), room_version)
    assert set(redacted) == {
        "event_id", "type", "room_id", "sender", "state_key", "content", "hashes",
        "signatures", "depth", "prev_events", "prev_state", "auth_events", "origin",
        "origin_server_ts", "membership",
    }  # fmt: skip


def test_top_level_keys_v11_drop_origin_membership_prev_state() -> None:
    redacted = redact(event("m.room.message", {"body": "x"}), V11)
    assert set(redacted) == {
        "event_id", "type", "room_id", "sender", "state_key", "content", "hashes",
        "signatures", "depth", "prev_events", "auth_events", "origin_server_ts",
    }  # fmt: skip


@pytest.mark.parametrize("room_version", list(KNOWN_ROOM_VERSIONS.values()), ids=str)
def test_unsigned_and_unknown_keys_always_stripped(room_version: RoomVersion) -> None:
    redacted = redact(event("m.room.message", {}), room_version)
    assert "unsigned" not in redacted
    assert "custom" not in redacted
    # The top-level "redacts" of pre-v11 redaction events is not in any list either.
    assert "redacts" not in redact(event("m.room.redaction", {}), room_version)


# One test per difference between consecutive algorithms.


def test_v6_no_longer_keeps_aliases() -> None:
    aliases = event("m.room.aliases", {"aliases": ["#a:x"]})
    assert redact(aliases, ROOM_V5)["content"] == {"aliases": ["#a:x"]}
    assert redact(aliases, ROOM_V6)["content"] == {}


def test_v9_keeps_join_authorised_via_users_server() -> None:
    member = event(
        "m.room.member", {"membership": "join", "join_authorised_via_users_server": "@a:x"}
    )
    assert redact(member, ROOM_V8)["content"] == {"membership": "join"}
    assert redact(member, ROOM_V9)["content"]["join_authorised_via_users_server"] == "@a:x"


def test_v9_keeps_join_rules_allow() -> None:
    rules = event("m.room.join_rules", {"join_rule": "restricted", "allow": []})
    assert "allow" not in redact(rules, ROOM_V8)["content"]
    assert redact(rules, ROOM_V9)["content"]["allow"] == []


def test_v11_keeps_all_create_content() -> None:
    create = event("m.room.create", {"creator": "@u:x", "room_version": "11", "extra": [1]})
    assert redact(create, ROOM_V10)["content"] == {"creator": "@u:x"}
    assert redact(create, ROOM_V11)["content"] == {
        "creator": "@u:x",
        "room_version": "11",
        "extra": [1],
    }


def test_v11_keeps_power_levels_invite() -> None:
    levels = event("m.room.power_levels", {"invite": 50})
    assert redact(levels, ROOM_V10)["content"] == {}
    assert redact(levels, ROOM_V11)["content"] == {"invite": 50}


def test_v11_keeps_redaction_redacts() -> None:
    redaction = event("m.room.redaction", {"redacts": "$x"})
    assert redact(redaction, ROOM_V10)["content"] == {}
    assert redact(redaction, ROOM_V11)["content"] == {"redacts": "$x"}


def test_v11_keeps_only_signed_of_third_party_invite() -> None:
    member = event(
        "m.room.member",
        {"membership": "invite", "third_party_invite": {"display_name": "d", "signed": {"a": 1}}},
    )
    assert "third_party_invite" not in redact(member, ROOM_V10)["content"]
    assert redact(member, ROOM_V11)["content"]["third_party_invite"] == {"signed": {"a": 1}}
    # Without "signed", nothing of third_party_invite is kept.
    unsigned_invite = event("m.room.member", {"membership": "invite", "third_party_invite": {}})
    assert redact(unsigned_invite, ROOM_V11)["content"] == {"membership": "invite"}


@pytest.mark.parametrize("key", ["origin", "membership", "prev_state"])
def test_v11_drops_top_level_key(key: str) -> None:
    message = event("m.room.message", {})
    assert key in redact(message, ROOM_V10)
    assert key not in redact(message, ROOM_V11)


def test_v12_uses_v11_rules() -> None:
    create = {k: v for k, v in event("m.room.create", CREATE).items() if k != "room_id"}
    assert redact(create, ROOM_V12) == redact(create, ROOM_V11)
    assert "room_id" not in redact(create, ROOM_V12)


# General properties.


@pytest.mark.parametrize("room_version", [V1, V6, V9, V11], ids=str)
def test_input_never_mutated_and_output_independent(room_version: RoomVersion) -> None:
    original = event("m.room.member", copy.deepcopy(MEMBER))
    snapshot = copy.deepcopy(original)
    redacted = redact(original, room_version)
    assert original == snapshot
    redacted["signatures"]["x"]["ed25519:1"] = "changed"
    redacted["content"]["membership"] = "leave"
    redacted["prev_events"].append("$new")
    assert original == snapshot


@pytest.mark.parametrize("room_version", [V1, V11], ids=str)
def test_content_always_an_object(room_version: RoomVersion) -> None:
    no_content = {"type": "m.room.message", "sender": "@u:x"}
    assert redact(no_content, room_version)["content"] == {}
    bad_content = {"type": "m.room.member", "content": ["membership"]}
    assert redact(bad_content, room_version)["content"] == {}


@pytest.mark.parametrize("room_version", [V1, V6, V9, V11], ids=str)
def test_redaction_is_idempotent(room_version: RoomVersion) -> None:
    for event_type, content, _ in CASES:
        once = redact(event(event_type, content), room_version)
        assert redact(once, room_version) == once
