"""Tests for the client and federation event formats (spec: Client-Server API, "Room event
format", "Redactions"; room version 11, "Moving the redacts property")."""

import copy
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from myelin.core.client_events import (
    age_ts_from_received,
    client_event,
    format_client_event,
    format_federation_event,
    membership_at_event,
    strip_state_event,
    stripped_state,
)
from myelin.core.events import EventView
from myelin.core.redaction import redact
from myelin.core.room_versions import (
    KNOWN_ROOM_VERSIONS,
    ROOM_V1,
    ROOM_V10,
    ROOM_V11,
    ROOM_V12,
    RoomVersion,
)
from tests.api.openapi import (
    API_DIR,
    SPEC_DIR,
    _inline,
    _load,
    require_spec,
    response_schema,
    validate,
)

ROOM = "!room:example.org"
ALICE = "@alice:example.org"
NOW = 1_700_000_010_000
SENT = 1_700_000_000_000

CLIENT_KEYS = {"event_id", "type", "sender", "origin_server_ts", "content", "unsigned"}


@cache
def _definition(name: str) -> Any:
    require_spec()
    path = API_DIR / "client-server" / "definitions" / f"{name}.yaml"
    return _inline(_load(path), path)


@cache
def _event_schema(event_type: str) -> Any:
    require_spec()
    path = SPEC_DIR / "data" / "event-schemas" / "schema" / f"{event_type}.yaml"
    return _inline(_load(Path(path)), Path(path))


def client_event_schema() -> Any:
    return _definition("client_event")


def without_room_id_schema() -> Any:
    return _definition("client_event_without_room_id")


def pdu(
    event_type: str = "m.room.message",
    content: dict[str, Any] | None = None,
    *,
    state_key: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "type": event_type,
        "room_id": ROOM,
        "sender": ALICE,
        "content": {"msgtype": "m.text", "body": "hello"} if content is None else content,
        "origin_server_ts": SENT,
        "depth": 5,
        "prev_events": ["$prev"],
        "auth_events": ["$create", "$pl", "$member"],
        "hashes": {"sha256": "abc"},
        "signatures": {"example.org": {"ed25519:a": "sig"}},
        "origin": "example.org",
        "unsigned": {"age": 3, "transaction_id": "leaked", "prev_content": {"x": 1}},
        **extra,
    }
    if state_key is not None:
        result["state_key"] = state_key
    return result


def redaction_pdu(room_version: RoomVersion, target: str = "$target") -> dict[str, Any]:
    if room_version.redacts_in_content:
        return pdu("m.room.redaction", {"redacts": target, "reason": "spam"})
    return pdu("m.room.redaction", {"reason": "spam"}, redacts=target)


# --- Shape ----------------------------------------------------------------------------------------


def test_message_event_shape() -> None:
    event = format_client_event(pdu(), "$ev", room_version=ROOM_V11, now_ms=NOW)
    assert set(event) == CLIENT_KEYS | {"room_id"}
    assert event["event_id"] == "$ev"
    assert event["room_id"] == ROOM
    assert event["content"] == {"msgtype": "m.text", "body": "hello"}
    assert event["unsigned"] == {"age": NOW - SENT}
    validate(event, client_event_schema())
    validate(event, _event_schema("m.room.message"))


def test_without_room_id() -> None:
    event = format_client_event(
        pdu(), "$ev", room_version=ROOM_V11, now_ms=NOW, include_room_id=False
    )
    assert "room_id" not in event
    validate(event, without_room_id_schema())
    with pytest.raises(Exception, match="room_id"):
        validate(event, client_event_schema())


def test_state_event_has_state_key() -> None:
    member = pdu("m.room.member", {"membership": "join"}, state_key=ALICE)
    event = format_client_event(member, "$m", room_version=ROOM_V11, now_ms=NOW)
    assert event["state_key"] == ALICE
    validate(event, client_event_schema())
    validate(event, _event_schema("m.room.member"))
    empty_key = pdu("m.room.topic", {"topic": "t"}, state_key="")
    assert format_client_event(empty_key, "$t", room_version=ROOM_V11, now_ms=NOW)["state_key"] == (
        ""
    )
    assert "state_key" not in format_client_event(pdu(), "$e", room_version=ROOM_V11, now_ms=NOW)


def test_protocol_keys_are_not_served() -> None:
    event = format_client_event(pdu(custom="x"), "$ev", room_version=ROOM_V1, now_ms=NOW)
    for key in ("hashes", "signatures", "depth", "prev_events", "auth_events", "origin", "custom"):
        assert key not in event


def test_input_is_not_mutated_or_shared() -> None:
    original = pdu()
    snapshot = copy.deepcopy(original)
    event = format_client_event(original, "$ev", room_version=ROOM_V11, now_ms=NOW)
    event["content"]["body"] = "changed"
    assert original == snapshot


def test_room_v12_create_event_gets_its_room_id() -> None:
    create = pdu("m.room.create", {"room_version": "12"}, state_key="")
    del create["room_id"]
    event = format_client_event(create, "$abcdef", room_version=ROOM_V12, now_ms=NOW)
    assert event["room_id"] == "!abcdef"
    validate(event, client_event_schema())
    validate(event, _event_schema("m.room.create"))


def test_event_view_wrapper() -> None:
    view = EventView(pdu(), "$ev", ROOM_V11)
    direct = format_client_event(pdu(), "$ev", room_version=ROOM_V11, now_ms=NOW)
    assert client_event(view, now_ms=NOW) == direct


# --- unsigned -------------------------------------------------------------------------------------


def test_received_unsigned_is_not_trusted() -> None:
    event = format_client_event(pdu(), "$ev", room_version=ROOM_V11, now_ms=NOW)
    assert "transaction_id" not in event["unsigned"]
    assert "prev_content" not in event["unsigned"]


def test_age_from_age_ts() -> None:
    event = format_client_event(pdu(), "$ev", room_version=ROOM_V11, now_ms=NOW, age_ts=NOW - 1234)
    assert event["unsigned"]["age"] == 1234


def test_age_ts_from_received() -> None:
    assert age_ts_from_received(pdu(), SENT + 500) == SENT + 497
    no_age = pdu()
    del no_age["unsigned"]
    assert age_ts_from_received(no_age, SENT + 500) == SENT
    # A clock ahead of ours does not give a negative age base.
    assert age_ts_from_received(no_age, SENT - 500) == SENT - 500
    bad = pdu(unsigned={"age": "3"})
    assert age_ts_from_received(bad, SENT + 500) == SENT


def test_unsigned_extra_is_merged() -> None:
    extra = {
        "transaction_id": "txn1",
        "prev_content": {"membership": "invite"},
        "prev_sender": "@bob:example.org",
        "replaces_state": "$old",
        "membership": "join",
        "m.relations": {"m.thread": {"count": 2}},
        "age": -1,
    }
    member = pdu("m.room.member", {"membership": "join"}, state_key=ALICE)
    event = format_client_event(
        member, "$m", room_version=ROOM_V11, now_ms=NOW, unsigned_extra=extra
    )
    unsigned = event["unsigned"]
    assert unsigned["transaction_id"] == "txn1"
    assert unsigned["prev_content"] == {"membership": "invite"}
    assert unsigned["replaces_state"] == "$old"
    assert unsigned["membership"] == "join"
    assert unsigned["m.relations"] == {"m.thread": {"count": 2}}
    assert unsigned["age"] == NOW - SENT
    validate(event, client_event_schema())
    validate(event, _event_schema("m.room.member"))


def test_redacted_because_comes_only_from_redacted_by() -> None:
    event = format_client_event(
        pdu(), "$ev", room_version=ROOM_V11, now_ms=NOW,
        unsigned_extra={"redacted_because": {"type": "m.room.redaction"}},
    )  # fmt: skip
    assert "redacted_because" not in event["unsigned"]
    assert event["content"]["body"] == "hello"


def test_invite_room_state_is_kept_for_member_events() -> None:
    stripped = [{"type": "m.room.create", "state_key": "", "sender": ALICE, "content": {}}]
    member = pdu(
        "m.room.member",
        {"membership": "invite"},
        state_key="@bob:example.org",
        unsigned={"invite_room_state": stripped, "other": 1},
    )
    event = format_client_event(member, "$m", room_version=ROOM_V11, now_ms=NOW)
    assert event["unsigned"] == {"invite_room_state": stripped, "age": NOW - SENT}
    validate(event, _event_schema("m.room.member"))
    message = pdu(unsigned={"invite_room_state": stripped})
    served = format_client_event(message, "$e", room_version=ROOM_V11, now_ms=NOW)
    assert "invite_room_state" not in served["unsigned"]


def test_membership_at_event() -> None:
    own_join = pdu("m.room.member", {"membership": "join"}, state_key=ALICE)
    assert membership_at_event(own_join, ALICE, None) == "join"
    assert membership_at_event(own_join, "@bob:example.org", "invite") == "invite"
    assert membership_at_event(pdu(), ALICE, None) == "leave"
    assert membership_at_event(pdu(), ALICE, "ban") == "ban"
    broken = pdu("m.room.member", {"membership": 3}, state_key=ALICE)
    assert membership_at_event(broken, ALICE, "join") == "join"


# --- Redaction events -----------------------------------------------------------------------------


@pytest.mark.parametrize("room_version", list(KNOWN_ROOM_VERSIONS.values()), ids=str)
def test_redaction_event_has_redacts_in_both_places(room_version: RoomVersion) -> None:
    event = format_client_event(
        redaction_pdu(room_version), "$r", room_version=room_version, now_ms=NOW
    )
    assert event["redacts"] == "$target"
    assert event["content"] == {"redacts": "$target", "reason": "spam"}
    validate(event, client_event_schema())
    validate(event, _event_schema("m.room.redaction"))


def test_redacts_in_the_wrong_place_is_not_served() -> None:
    # v11 reads content.redacts only; a top-level key is not the event's target.
    v11 = pdu("m.room.redaction", {"reason": "spam"}, redacts="$target")
    event = format_client_event(v11, "$r", room_version=ROOM_V11, now_ms=NOW)
    assert "redacts" not in event
    assert "redacts" not in event["content"]
    # v10 reads the top-level key only.
    v10 = pdu("m.room.redaction", {"redacts": "$target"})
    event = format_client_event(v10, "$r", room_version=ROOM_V10, now_ms=NOW)
    assert "redacts" not in event
    assert "redacts" not in event["content"]
    # ... and a content.redacts naming another event is replaced by the real target.
    v10 = pdu("m.room.redaction", {"redacts": "$decoy"}, redacts="$target")
    event = format_client_event(v10, "$r", room_version=ROOM_V10, now_ms=NOW)
    assert event["redacts"] == event["content"]["redacts"] == "$target"


# --- Redacted events ------------------------------------------------------------------------------


@pytest.mark.parametrize("room_version", list(KNOWN_ROOM_VERSIONS.values()), ids=str)
def test_redacted_message_is_served_stripped(room_version: RoomVersion) -> None:
    redaction = EventView(redaction_pdu(room_version, "$ev"), "$red", room_version)
    event = format_client_event(
        pdu(),
        "$ev",
        room_version=room_version,
        now_ms=NOW,
        redacted_by=redaction,
        redacted_by_age_ts=NOW - 10,
    )
    assert event["content"] == {}
    because = event["unsigned"]["redacted_because"]
    assert because["event_id"] == "$red"
    assert because["redacts"] == "$ev"
    assert because["content"]["redacts"] == "$ev"
    assert because["unsigned"] == {"age": 10}
    assert because["room_id"] == ROOM
    validate(event, client_event_schema())
    validate(because, client_event_schema())
    validate(because, _event_schema("m.room.redaction"))


def test_redacted_state_event_keeps_protected_content() -> None:
    redaction = EventView(redaction_pdu(ROOM_V11, "$m"), "$red", ROOM_V11)
    member = pdu("m.room.member", {"membership": "join", "displayname": "Alice"}, state_key=ALICE)
    event = format_client_event(
        member, "$m", room_version=ROOM_V11, now_ms=NOW, redacted_by=redaction
    )
    assert event["content"] == redact(member, ROOM_V11)["content"] == {"membership": "join"}
    assert event["state_key"] == ALICE
    validate(event, _event_schema("m.room.member"))


def test_redacted_event_without_room_id() -> None:
    redaction = EventView(redaction_pdu(ROOM_V11, "$ev"), "$red", ROOM_V11)
    event = format_client_event(
        pdu(), "$ev", room_version=ROOM_V11, now_ms=NOW, include_room_id=False,
        redacted_by=redaction,
    )  # fmt: skip
    assert "room_id" not in event
    assert "room_id" not in event["unsigned"]["redacted_because"]
    validate(event, without_room_id_schema())
    validate(event["unsigned"]["redacted_because"], without_room_id_schema())


def test_redacted_redaction_event() -> None:
    # v10: the top-level redacts is not protected, so a redacted redaction has none.
    red_by = EventView(redaction_pdu(ROOM_V10, "$r"), "$rr", ROOM_V10)
    old = format_client_event(
        redaction_pdu(ROOM_V10), "$r", room_version=ROOM_V10, now_ms=NOW, redacted_by=red_by
    )
    assert "redacts" not in old and old["content"] == {}
    # v11 keeps content.redacts, so both places are still served.
    red_by = EventView(redaction_pdu(ROOM_V11, "$r"), "$rr", ROOM_V11)
    new = format_client_event(
        redaction_pdu(ROOM_V11), "$r", room_version=ROOM_V11, now_ms=NOW, redacted_by=red_by
    )
    assert new["redacts"] == "$target" and new["content"] == {"redacts": "$target"}


def test_redacted_event_drops_bundled_edits_only() -> None:
    redaction = EventView(redaction_pdu(ROOM_V11, "$ev"), "$red", ROOM_V11)
    relations = {"m.replace": {"event_id": "$edit"}, "m.thread": {"count": 1}}
    event = format_client_event(
        pdu(), "$ev", room_version=ROOM_V11, now_ms=NOW, redacted_by=redaction,
        unsigned_extra={"m.relations": relations},
    )  # fmt: skip
    assert event["unsigned"]["m.relations"] == {"m.thread": {"count": 1}}
    only_edit = format_client_event(
        pdu(), "$ev", room_version=ROOM_V11, now_ms=NOW, redacted_by=redaction,
        unsigned_extra={"m.relations": {"m.replace": {}}},
    )  # fmt: skip
    assert "m.relations" not in only_edit["unsigned"]
    # Not redacted: the edit stays bundled.
    kept = format_client_event(
        pdu(), "$ev", room_version=ROOM_V11, now_ms=NOW, unsigned_extra={"m.relations": relations}
    )
    assert kept["unsigned"]["m.relations"] == relations


# --- Endpoint responses ---------------------------------------------------------------------------


def test_get_event_response_schema() -> None:
    schema = response_schema(
        "client-server/rooms.yaml", "/rooms/{roomId}/event/{eventId}", "get", 200
    )
    redaction = EventView(redaction_pdu(ROOM_V1, "$ev:example.org"), "$red:example.org", ROOM_V1)
    event = format_client_event(
        pdu(), "$ev:example.org", room_version=ROOM_V1, now_ms=NOW, redacted_by=redaction
    )
    validate(event, schema)


def test_sync_timeline_schema() -> None:
    schema = response_schema("client-server/sync.yaml", "/sync", "get", 200)
    member = pdu("m.room.member", {"membership": "join"}, state_key=ALICE)
    events = [
        format_client_event(p, eid, room_version=ROOM_V11, now_ms=NOW, include_room_id=False)
        for p, eid in ((member, "$m"), (pdu(), "$e"), (redaction_pdu(ROOM_V11), "$r"))
    ]
    response = {
        "next_batch": "s1",
        "rooms": {
            "join": {
                ROOM: {
                    "state": {"events": events[:1]},
                    "timeline": {"events": events, "limited": False, "prev_batch": "p"},
                }
            }
        },
    }
    validate(response, schema)


# --- Federation format ----------------------------------------------------------------------------


def test_federation_format_keeps_the_pdu() -> None:
    original = pdu()
    served = format_federation_event(original)
    assert {k: v for k, v in served.items() if k != "unsigned"} == {
        k: v for k, v in original.items() if k != "unsigned"
    }
    assert served["unsigned"] == {"age": 3}
    assert served["hashes"] is not original["hashes"]


def test_federation_format_recomputes_age() -> None:
    served = format_federation_event(pdu(), now_ms=NOW)
    assert served["unsigned"] == {"age": NOW - SENT}
    served = format_federation_event(pdu(), now_ms=NOW, age_ts=NOW - 7)
    assert served["unsigned"] == {"age": 7}


def test_federation_format_drops_private_unsigned() -> None:
    no_age = pdu(unsigned={"transaction_id": "t", "redacted_because": {}, "age": "x"})
    assert "unsigned" not in format_federation_event(no_age)
    member = pdu(
        "m.room.member",
        {"membership": "invite"},
        state_key="@bob:example.org",
        unsigned={"invite_room_state": [], "prev_content": {}},
    )
    assert format_federation_event(member)["unsigned"] == {"invite_room_state": []}


def test_federation_format_redacted() -> None:
    served = format_federation_event(pdu(), room_version=ROOM_V11, redacted=True, now_ms=NOW)
    assert served == {**redact(pdu(), ROOM_V11), "unsigned": {"age": NOW - SENT}}
    with pytest.raises(ValueError, match="room version"):
        format_federation_event(pdu(), redacted=True)


# --- Stripped state ---------------------------------------------------------------------------


def test_stripped_state_is_pruned() -> None:
    full = pdu("m.room.create", {"room_version": "11"}, state_key="")
    stripped = strip_state_event(full)
    assert stripped == {
        "type": "m.room.create",
        "state_key": "",
        "sender": ALICE,
        "content": {"room_version": "11"},
    }
    validate(stripped, _event_schema("core-event-schema/stripped_state"))
    assert strip_state_event(pdu()) is None  # not a state event
    assert strip_state_event("x") is None
    assert strip_state_event({**full, "content": []}) is None
    assert stripped_state([full, pdu(), 3]) == [stripped]
    assert stripped_state({"not": "a list"}) == []


def test_invite_room_state_served_stripped() -> None:
    full = pdu("m.room.name", {"name": "Room"}, state_key="")
    member = pdu(
        "m.room.member",
        {"membership": "invite"},
        state_key="@bob:example.org",
        unsigned={"invite_room_state": [full, "junk"], "knock_room_state": "junk"},
    )
    event = format_client_event(member, "$m", room_version=ROOM_V11, now_ms=NOW)
    assert event["unsigned"]["invite_room_state"] == [strip_state_event(full)]
    assert event["unsigned"]["knock_room_state"] == []
    validate(event, _event_schema("m.room.member"))
