"""Tests for content hashes, reference hashes and event IDs (spec: "Signing Events")."""

import base64
import hashlib
from typing import Any

import canonicaljson
import pytest

from myelin.core.errors import InvalidEventError, InvalidIdentifierError
from myelin.core.hashes import (
    add_content_hash,
    check_content_hash,
    compute_content_hash,
    compute_event_id,
    compute_reference_hash,
    room_id_for_create_event,
)
from myelin.core.identifiers import is_valid_event_id, is_valid_room_id
from myelin.core.room_versions import (
    ROOM_V1,
    ROOM_V2,
    ROOM_V3,
    ROOM_V4,
    ROOM_V5,
    ROOM_V6,
    ROOM_V11,
    ROOM_V12,
    EventIdFormat,
    RoomVersion,
)
from myelin.core.unpadded_base64 import encode_base64

MINIMAL_EVENT: dict[str, Any] = {
    "room_id": "!x:domain",
    "sender": "@a:domain",
    "origin": "domain",
    "origin_server_ts": 1000000,
    "signatures": {},
    "hashes": {},
    "type": "X",
    "content": {},
    "prev_events": [],
    "auth_events": [],
    "depth": 3,
    "unsigned": {"age_ts": 1000000},
}
REDACTABLE_EVENT: dict[str, Any] = {
    "content": {"body": "Here is the message content"},
    "event_id": "$0:domain",
    "origin": "domain",
    "origin_server_ts": 1000000,
    "type": "m.room.message",
    "room_id": "!r:domain",
    "sender": "@u:domain",
    "signatures": {},
    "unsigned": {"age_ts": 1000000},
}


def test_spec_content_hash_vectors() -> None:
    # The "hashes" of the spec's signed events (Appendices, "Event Signing").
    assert encode_base64(compute_content_hash(MINIMAL_EVENT)) == (
        "5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos"
    )
    assert encode_base64(compute_content_hash(REDACTABLE_EVENT)) == (
        "onLKD1bGljeBWQhWZ1kaP9SorVmRQNdN5aM2JYU2n/g"
    )


def test_content_hash_ignores_unsigned_signatures_and_hashes() -> None:
    changed = {
        **MINIMAL_EVENT,
        "unsigned": {"age": 1},
        "signatures": {"x": {"ed25519:a": "b"}},
        "hashes": {"sha256": "zzz", "other": "y"},
    }
    assert compute_content_hash(changed) == compute_content_hash(MINIMAL_EVENT)
    assert compute_content_hash({**MINIMAL_EVENT, "depth": 4}) != compute_content_hash(
        MINIMAL_EVENT
    )


def test_add_and_check_content_hash() -> None:
    hashed = add_content_hash(REDACTABLE_EVENT)
    assert "hashes" not in REDACTABLE_EVENT  # input not mutated
    assert hashed["hashes"] == {"sha256": "onLKD1bGljeBWQhWZ1kaP9SorVmRQNdN5aM2JYU2n/g"}
    assert check_content_hash(hashed)
    assert check_content_hash({**hashed, "unsigned": {"age": 9}})
    assert not check_content_hash({**hashed, "content": {"body": "tampered"}})


def test_add_content_hash_keeps_other_algorithms() -> None:
    hashed = add_content_hash({**MINIMAL_EVENT, "hashes": {"sha512": "x"}})
    assert set(hashed["hashes"]) == {"sha256", "sha512"}


@pytest.mark.parametrize(
    "hashes", [None, "x", {}, {"sha256": 5}, {"sha256": "!!!"}, {"sha256": "AAAA"}]
)
def test_check_content_hash_false_when_missing_or_malformed(hashes: Any) -> None:
    event = dict(MINIMAL_EVENT)
    if hashes is None:
        del event["hashes"]
    else:
        event["hashes"] = hashes
    assert not check_content_hash(event)


def test_content_hash_lenient_for_old_room_versions() -> None:
    event = {**MINIMAL_EVENT, "content": {"big": 2**60, "f": 0.5}}
    expected = hashlib.sha256(
        canonicaljson.encode_canonical_json(
            {k: v for k, v in event.items() if k not in ("unsigned", "signatures", "hashes")}
        )
    ).digest()
    assert compute_content_hash(event, strict=False) == expected
    assert check_content_hash(add_content_hash(event, strict=False), strict=False)


def _independent_reference_hash(event: dict[str, Any], kept: set[str]) -> bytes:
    """Redaction by hand for a message event, then canonicaljson and hashlib."""
    redacted = {k: v for k, v in event.items() if k in kept}
    redacted["content"] = {}
    return hashlib.sha256(canonicaljson.encode_canonical_json(redacted)).digest()


_KEPT_V1 = {
    "event_id", "type", "room_id", "sender", "state_key", "content", "hashes", "depth",
    "prev_events", "prev_state", "auth_events", "origin", "origin_server_ts", "membership",
}  # fmt: skip
_KEPT_V11 = _KEPT_V1 - {"origin", "membership", "prev_state"}


def _message(depth: int = 5) -> dict[str, Any]:
    return add_content_hash(
        {
            "room_id": "!r:example.org",
            "sender": "@u:example.org",
            "origin": "example.org",
            "origin_server_ts": 1700000000000,
            "type": "m.room.message",
            "content": {"msgtype": "m.text", "body": "hello"},
            "prev_events": ["$p"],
            "auth_events": ["$a"],
            "depth": depth,
            "signatures": {"example.org": {"ed25519:1": "sig"}},
            "unsigned": {"age": 10},
        }
    )


@pytest.mark.parametrize(("room_version", "kept"), [(ROOM_V4, _KEPT_V1), (ROOM_V11, _KEPT_V11)])
def test_reference_hash_matches_independent_computation(
    room_version: RoomVersion, kept: set[str]
) -> None:
    event = _message()
    assert compute_reference_hash(event, room_version) == _independent_reference_hash(event, kept)


def test_reference_hash_ignores_redactable_parts_but_covers_hashes() -> None:
    event = _message()
    # The content is redacted away: changing it alone does not change the reference hash...
    edited = {**event, "content": {"body": "other"}, "unsigned": {}, "signatures": {}}
    assert compute_reference_hash(edited, ROOM_V4) == compute_reference_hash(event, ROOM_V4)
    # ...but the content hash is covered.
    rehashed = add_content_hash({**event, "content": {"body": "other"}})
    assert compute_reference_hash(rehashed, ROOM_V4) != compute_reference_hash(event, ROOM_V4)


def test_event_id_v1_reads_the_event_id_field() -> None:
    for version in (ROOM_V1, ROOM_V2):
        assert compute_event_id(REDACTABLE_EVENT, version) == "$0:domain"


@pytest.mark.parametrize("event_id", [None, 5, "$nodomain", "0:domain", "$:domain", "$a:b_c"])
def test_event_id_v1_invalid(event_id: Any) -> None:
    event = {k: v for k, v in REDACTABLE_EVENT.items() if k != "event_id"}
    if event_id is not None:
        event["event_id"] = event_id
    with pytest.raises(InvalidEventError):
        compute_event_id(event, ROOM_V1)


def _event_with_special_base64() -> tuple[dict[str, Any], bytes]:
    """A message whose reference hash has a "+" or "/" in standard base64."""
    for depth in range(1, 200):
        event = _message(depth)
        digest = compute_reference_hash(event, ROOM_V3)
        if set(base64.b64encode(digest).decode()) & {"+", "/"}:
            return event, digest
    raise AssertionError("no such event found")


def test_event_id_v3_standard_base64() -> None:
    event, digest = _event_with_special_base64()
    event_id = compute_event_id(event, ROOM_V3)
    assert event_id == "$" + base64.b64encode(digest).decode().rstrip("=")
    assert is_valid_event_id(event_id, EventIdFormat.V3)
    assert not is_valid_event_id(event_id, EventIdFormat.V4)


@pytest.mark.parametrize("room_version", [ROOM_V4, ROOM_V5, ROOM_V6, ROOM_V11, ROOM_V12], ids=str)
def test_event_id_v4_url_safe_base64(room_version: RoomVersion) -> None:
    event, _ = _event_with_special_base64()
    digest = compute_reference_hash(event, room_version)
    event_id = compute_event_id(event, room_version)
    assert event_id == "$" + base64.urlsafe_b64encode(digest).decode().rstrip("=")
    assert len(event_id) == 44
    assert is_valid_event_id(event_id, EventIdFormat.V4)


def test_v3_and_v4_ids_differ_only_by_alphabet() -> None:
    event, _ = _event_with_special_base64()
    v3 = compute_event_id(event, ROOM_V3)
    v4 = compute_event_id(event, ROOM_V4)
    assert v3 != v4
    assert v3.replace("+", "-").replace("/", "_") == v4


def test_event_id_ignores_an_event_id_field_only_in_v1() -> None:
    event = _message()
    assert compute_event_id({**event, "event_id": "$x:y"}, ROOM_V1) == "$x:y"
    # In v3+ a stray event_id field is part of the redacted event, hence of the hash.
    assert compute_event_id({**event, "event_id": "$x:y"}, ROOM_V4) != compute_event_id(
        event, ROOM_V4
    )


def test_event_id_strictness_follows_room_version() -> None:
    event = _message()
    event["depth"] = 2**60  # outside canonical JSON range, in a kept key
    assert is_valid_event_id(compute_event_id(event, ROOM_V5), EventIdFormat.V4)
    with pytest.raises(InvalidEventError):
        compute_event_id(event, ROOM_V6)


def test_room_id_for_create_event_v12() -> None:
    create = add_content_hash(
        {
            "sender": "@creator:example.org",
            "origin_server_ts": 1700000000000,
            "type": "m.room.create",
            "state_key": "",
            "content": {"room_version": "12"},
            "prev_events": [],
            "auth_events": [],
            "depth": 1,
            "signatures": {},
        }
    )
    create_id = compute_event_id(create, ROOM_V12)
    room_id = room_id_for_create_event(create_id)
    assert room_id == "!" + create_id[1:]
    assert is_valid_room_id(room_id, ROOM_V12)


@pytest.mark.parametrize("bad", ["$abc:example.org", "!" + "A" * 43, "$" + "A" * 42, "abc"])
def test_room_id_for_create_event_rejects_non_hash_ids(bad: str) -> None:
    with pytest.raises(InvalidIdentifierError):
        room_id_for_create_event(bad)
