"""Tests for event signing and PDU format checks (spec: "Signing Events", event formats)."""

import copy
from typing import Any

import pytest
import signedjson.key
import signedjson.sign

from myelin.core.canonical_json import encode_canonical_json
from myelin.core.errors import (
    CanonicalJsonError,
    InvalidEventError,
    InvalidIdentifierError,
    SignatureError,
)
from myelin.core.event_signing import (
    MAX_PDU_BYTES,
    load_event,
    required_signers,
    sign_event,
    verify_event_signature,
)
from myelin.core.hashes import check_content_hash, compute_event_id, room_id_for_create_event
from myelin.core.redaction import redact
from myelin.core.room_versions import (
    KNOWN_ROOM_VERSIONS,
    ROOM_V1,
    ROOM_V2,
    ROOM_V3,
    ROOM_V4,
    ROOM_V5,
    ROOM_V6,
    ROOM_V7,
    ROOM_V8,
    ROOM_V10,
    ROOM_V11,
    ROOM_V12,
    EventIdFormat,
    RoomVersion,
)
from myelin.core.signing import SigningKey
from myelin.core.unpadded_base64 import decode_base64

SEED_B64 = "YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1"
KEY = SigningKey.from_seed("1", decode_base64(SEED_B64))
# The spec's vectors predate room version 11, whose redaction drops "origin".
VECTOR_VERSIONS = [v for v in KNOWN_ROOM_VERSIONS.values() if v.identifier in "1 2 3 4 5 6 9 10"]

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
MINIMAL_SIGNED: dict[str, Any] = {
    "auth_events": [],
    "content": {},
    "depth": 3,
    "hashes": {"sha256": "5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos"},
    "origin": "domain",
    "origin_server_ts": 1000000,
    "prev_events": [],
    "room_id": "!x:domain",
    "sender": "@a:domain",
    "signatures": {
        "domain": {
            "ed25519:1": "KxwGjPSDEtvnFgU00fwFz+l6d2pJM6XBIaMEn81SXPTRl16AqLAYqfIReFGZlHi5KLjAWbOoM"
            "szkwsQma+lYAg"
        }
    },
    "type": "X",
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
REDACTABLE_SIGNED: dict[str, Any] = {
    "content": {"body": "Here is the message content"},
    "event_id": "$0:domain",
    "hashes": {"sha256": "onLKD1bGljeBWQhWZ1kaP9SorVmRQNdN5aM2JYU2n/g"},
    "origin": "domain",
    "origin_server_ts": 1000000,
    "type": "m.room.message",
    "room_id": "!r:domain",
    "sender": "@u:domain",
    "signatures": {
        "domain": {
            "ed25519:1": "Wm+VzmOUOz08Ds+0NTWb1d4CZrVsJSikkeRxh6aCcUwu6pNC78FunoD7KNWzqFn241eYHYMGC"
            "A5McEiVPdhzBA"
        }
    },
    "unsigned": {"age_ts": 1000000},
}


@pytest.mark.parametrize("room_version", VECTOR_VERSIONS, ids=str)
@pytest.mark.parametrize(
    ("event", "expected"),
    [(MINIMAL_EVENT, MINIMAL_SIGNED), (REDACTABLE_EVENT, REDACTABLE_SIGNED)],
    ids=["minimal", "redactable"],
)
def test_spec_event_signing_vectors(
    event: dict[str, Any], expected: dict[str, Any], room_version: RoomVersion
) -> None:
    original = copy.deepcopy(event)
    assert sign_event(event, "domain", KEY, room_version) == expected
    assert event == original
    verify_event_signature(expected, "domain", KEY.verify_key, room_version)


def test_v11_signature_does_not_cover_origin() -> None:
    signed = sign_event(MINIMAL_EVENT, "domain", KEY, ROOM_V11)
    assert signed["hashes"] == MINIMAL_SIGNED["hashes"]
    assert signed["signatures"] != MINIMAL_SIGNED["signatures"]
    verify_event_signature({**signed, "origin": "elsewhere"}, "domain", KEY.verify_key, ROOM_V11)
    with pytest.raises(SignatureError):
        verify_event_signature({**signed, "origin": "x"}, "domain", KEY.verify_key, ROOM_V10)


def test_signature_survives_redaction_but_content_hash_does_not() -> None:
    signed = sign_event(REDACTABLE_EVENT, "domain", KEY, ROOM_V1)
    redacted = redact(signed, ROOM_V1)
    verify_event_signature(redacted, "domain", KEY.verify_key, ROOM_V1)
    assert check_content_hash(signed)
    assert not check_content_hash(redacted)
    tampered = {**signed, "content": {"body": "forged"}}
    verify_event_signature(tampered, "domain", KEY.verify_key, ROOM_V1)
    assert not check_content_hash(tampered)


@pytest.mark.parametrize(
    ("key", "value"), [("type", "Y"), ("sender", "@b:domain"), ("depth", 4), ("hashes", {})]
)
def test_changing_an_essential_key_breaks_the_signature(key: str, value: Any) -> None:
    signed = sign_event(MINIMAL_EVENT, "domain", KEY, ROOM_V1)
    with pytest.raises(SignatureError):
        verify_event_signature({**signed, key: value}, "domain", KEY.verify_key, ROOM_V1)


def test_old_room_versions_sign_and_verify_non_canonical_values() -> None:
    # Room versions 1-5 "might not be fully compliant"; their events must still verify.
    event = {**MINIMAL_EVENT, "depth": 2**60, "content": {"n": 2**70}}
    signed = sign_event(event, "domain", KEY, ROOM_V5)
    verify_event_signature(signed, "domain", KEY.verify_key, ROOM_V5)
    with pytest.raises(SignatureError):
        verify_event_signature({**signed, "depth": 2**60 + 1}, "domain", KEY.verify_key, ROOM_V5)
    with pytest.raises(CanonicalJsonError):
        sign_event(event, "domain", KEY, ROOM_V6)


def test_wrong_server_or_key_fails() -> None:
    signed = sign_event(MINIMAL_EVENT, "domain", KEY, ROOM_V4)
    with pytest.raises(SignatureError):
        verify_event_signature(signed, "other", KEY.verify_key, ROOM_V4)
    other_key = SigningKey.from_seed("1", bytes(32))
    with pytest.raises(SignatureError):
        verify_event_signature(signed, "domain", other_key.verify_key, ROOM_V4)


def test_existing_hash_and_signatures_kept() -> None:
    first = sign_event(MINIMAL_EVENT, "domain", KEY, ROOM_V4)
    other = SigningKey.from_seed("2", bytes(32))
    both = sign_event(first, "other.org", other, ROOM_V4)
    assert both["hashes"] == first["hashes"]
    verify_event_signature(both, "domain", KEY.verify_key, ROOM_V4)
    verify_event_signature(both, "other.org", other.verify_key, ROOM_V4)
    assert set(both["signatures"]) == {"domain", "other.org"}
    assert set(first["signatures"]) == {"domain"}


def test_interop_with_signedjson() -> None:
    their_key = signedjson.key.decode_signing_key_base64("ed25519", "1", SEED_B64)
    their_verify = signedjson.key.get_verify_key(their_key)
    # Ours verifies with signedjson on the redacted event...
    signed = sign_event(REDACTABLE_EVENT, "domain", KEY, ROOM_V6)
    signedjson.sign.verify_signed_json(redact(signed, ROOM_V6), "domain", their_verify)
    # ...and signedjson's signature on the redacted event verifies with ours.
    theirs = signedjson.sign.sign_json(
        redact({**REDACTABLE_EVENT, "hashes": signed["hashes"]}, ROOM_V6), "theirs", their_key
    )
    merged = {**signed, "signatures": {**signed["signatures"], **theirs["signatures"]}}
    verify_event_signature(merged, "theirs", KEY.verify_key, ROOM_V6)


# --- load_event -----------------------------------------------------------------------------


def make_pdu(room_version: RoomVersion, **overrides: Any) -> dict[str, Any]:
    """A signed, valid PDU of ``room_version``."""
    v1_ids = room_version.event_id_format is EventIdFormat.V1
    ref: Any = ["$p:example.org", {"sha256": "abc"}] if v1_ids else "$" + "A" * 43
    pdu: dict[str, Any] = {
        "room_id": "!" + "B" * 42 + "A"
        if room_version.room_id_is_create_event_id
        else "!r:example.org",
        "sender": "@u:example.org",
        "origin_server_ts": 1700000000000,
        "type": "m.room.message",
        "content": {"body": "hi"},
        "prev_events": [ref],
        "auth_events": [ref],
        "depth": 10,
        "unsigned": {"age": 1},
    }
    if v1_ids:
        pdu["event_id"] = "$abc:example.org"
    pdu.update(overrides)
    pdu = {k: v for k, v in pdu.items() if v is not DROP}
    return sign_event(pdu, "example.org", KEY, room_version)


DROP = object()
ALL_VERSIONS = list(KNOWN_ROOM_VERSIONS.values())


@pytest.mark.parametrize("room_version", ALL_VERSIONS, ids=str)
def test_load_valid_event(room_version: RoomVersion) -> None:
    pdu = make_pdu(room_version)
    view = load_event(pdu, room_version)
    assert view.json is pdu
    assert view.event_id == compute_event_id(pdu, room_version)
    assert view.sender == "@u:example.org"
    assert view.room_version is room_version


def test_load_v12_create_event_and_its_room() -> None:
    create = make_pdu(
        ROOM_V12,
        room_id=DROP,
        type="m.room.create",
        state_key="",
        content={"room_version": "12"},
        prev_events=[],
        auth_events=[],
        depth=1,
    )
    view = load_event(create, ROOM_V12)
    room_id = room_id_for_create_event(view.event_id)
    assert view.room_id == room_id
    member = make_pdu(ROOM_V12, room_id=room_id, prev_events=[view.event_id])
    assert load_event(member, ROOM_V12).room_id == room_id


def test_v12_create_with_room_id_rejected() -> None:
    create = make_pdu(ROOM_V12, type="m.room.create", state_key="", content={})
    with pytest.raises(InvalidEventError, match="room_id"):
        load_event(create, ROOM_V12)


@pytest.mark.parametrize(
    ("room_version", "room_id"),
    [(ROOM_V12, "!r:example.org"), (ROOM_V11, "!" + "B" * 42 + "A"), (ROOM_V4, "r:example.org")],
)
def test_room_id_form_of_version(room_version: RoomVersion, room_id: str) -> None:
    with pytest.raises(InvalidEventError, match="room_id"):
        load_event(make_pdu(room_version, room_id=room_id), room_version)


@pytest.mark.parametrize(
    "key",
    ["sender", "origin_server_ts", "type", "content", "depth", "hashes", "signatures", "room_id"],
)
@pytest.mark.parametrize("room_version", [ROOM_V1, ROOM_V4, ROOM_V11, ROOM_V12], ids=str)
def test_missing_required_key(key: str, room_version: RoomVersion) -> None:
    pdu = make_pdu(room_version)
    del pdu[key]
    with pytest.raises(InvalidEventError):
        load_event(pdu, room_version)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("sender", 5),
        ("sender", "not-a-user"),
        ("origin_server_ts", "123"),
        ("origin_server_ts", True),
        ("type", None),
        ("content", []),
        ("depth", "10"),
        ("depth", False),
        ("hashes", {"sha256": 5}),
        ("hashes", []),
        ("signatures", {"example.org": "sig"}),
        ("signatures", {"example.org": {"ed25519:1": 1}}),
        ("state_key", 0),
        ("state_key", None),
        ("unsigned", []),
        ("prev_events", "$x"),
        ("prev_events", [5]),
        ("prev_events", ["no-sigil"]),
        ("auth_events", None),
        ("redacts", 5),
    ],
)
def test_wrong_types_rejected(key: str, value: Any) -> None:
    pdu = make_pdu(ROOM_V6)
    pdu[key] = value
    with pytest.raises(InvalidEventError):
        load_event(pdu, ROOM_V6)


def test_v1_event_format() -> None:
    pdu = make_pdu(ROOM_V1)
    assert load_event(pdu, ROOM_V2).event_id == "$abc:example.org"
    for bad in (["$p:example.org"], [["$p:example.org"]], [["$p:example.org", {}]], ["$x"]):
        with pytest.raises(InvalidEventError):
            load_event({**pdu, "prev_events": bad}, ROOM_V1)
    no_id = {k: v for k, v in pdu.items() if k != "event_id"}
    with pytest.raises(InvalidEventError, match="event_id"):
        load_event(no_id, ROOM_V1)
    # Room version 3+ events use plain event ID lists.
    with pytest.raises(InvalidEventError):
        load_event(pdu, ROOM_V3)


def test_strict_canonical_json_from_v6() -> None:
    for value in (1.5, 2**53):
        pdu = make_pdu(ROOM_V5, content={"n": value})
        load_event(pdu, ROOM_V5)
        with pytest.raises(InvalidEventError, match="canonical"):
            load_event(pdu, ROOM_V6)


def test_depth_limits() -> None:
    load_event(make_pdu(ROOM_V5, depth=2**62), ROOM_V5)
    with pytest.raises(InvalidEventError):
        load_event(make_pdu(ROOM_V5, depth=2**63), ROOM_V5)
    load_event(make_pdu(ROOM_V6, depth=2**53 - 1), ROOM_V6)


def test_size_limit() -> None:
    base = make_pdu(ROOM_V11)
    padding = MAX_PDU_BYTES - len(encode_canonical_json(base))
    at_limit = {**base, "content": {"body": "hi" + "x" * padding}}
    load_event(at_limit, ROOM_V11)
    over = {**base, "content": {"body": "hi" + "x" * (padding + 1)}}
    with pytest.raises(InvalidEventError, match="bytes"):
        load_event(over, ROOM_V11)


@pytest.mark.parametrize(("key", "size"), [("type", 256), ("state_key", 256)])
def test_key_size_limits(key: str, size: int) -> None:
    load_event(make_pdu(ROOM_V11, **{key: "a" * 255}), ROOM_V11)
    with pytest.raises(InvalidEventError, match=key):
        load_event(make_pdu(ROOM_V11, **{key: "a" * size}), ROOM_V11)


def test_too_many_prev_or_auth_events() -> None:
    refs = ["$" + chr(ord("A") + i) * 43 for i in range(21)]
    load_event(make_pdu(ROOM_V4, prev_events=refs[:20], auth_events=refs[:10]), ROOM_V4)
    with pytest.raises(InvalidEventError, match="prev_events"):
        load_event(make_pdu(ROOM_V4, prev_events=refs), ROOM_V4)
    with pytest.raises(InvalidEventError, match="auth_events"):
        load_event(make_pdu(ROOM_V4, auth_events=refs[:11]), ROOM_V4)


def test_historical_sender_accepted() -> None:
    pdu = make_pdu(ROOM_V11, sender="@Old User:example.org")
    assert load_event(pdu, ROOM_V11).sender == "@Old User:example.org"


def test_not_an_object() -> None:
    with pytest.raises(InvalidEventError):
        load_event([], ROOM_V11)  # type: ignore[arg-type]


# --- required_signers -----------------------------------------------------------------------


def test_required_signers_sender_server() -> None:
    pdu = {"type": "m.room.message", "sender": "@u:a.org", "content": {}}
    assert required_signers(pdu, ROOM_V4) == {"a.org"}
    assert required_signers({**pdu, "event_id": "$e:b.org"}, ROOM_V1) == {"a.org", "b.org"}
    assert required_signers({**pdu, "event_id": "$e:a.org"}, ROOM_V2) == {"a.org"}


def test_required_signers_third_party_invite() -> None:
    invite = {
        "type": "m.room.member",
        "sender": "@u:a.org",
        "state_key": "@v:c.org",
        "content": {"membership": "invite", "third_party_invite": {"signed": {}}},
    }
    assert required_signers(invite, ROOM_V11) == set()
    plain = {**invite, "content": {"membership": "invite"}}
    assert required_signers(plain, ROOM_V11) == {"a.org"}


def test_required_signers_restricted_join() -> None:
    content = {"membership": "join", "join_authorised_via_users_server": "@admin:r.org"}
    join: dict[str, Any] = {
        "type": "m.room.member",
        "sender": "@u:a.org",
        "state_key": "@u:a.org",
        "content": content,
    }
    assert required_signers(join, ROOM_V8) == {"a.org", "r.org"}
    assert required_signers(join, ROOM_V7) == {"a.org"}
    leave = {**join, "content": {**content, "membership": "leave"}}
    assert required_signers(leave, ROOM_V8) == {"a.org"}


def test_required_signers_malformed_ids() -> None:
    with pytest.raises(InvalidIdentifierError):
        required_signers({"type": "m.room.message", "content": {}}, ROOM_V4)
    with pytest.raises(InvalidIdentifierError):
        required_signers({"sender": "@u:a.org", "event_id": "$nodomain"}, ROOM_V1)
