"""Building local events (spec: PDU formats, "Auth events selection", depth limits): pure
tests without a database."""

import pytest

from myelin.core.auth_rules import check_auth_rules
from myelin.core.canonical_json import MAX_INT
from myelin.core.event_signing import verify_event_signature
from myelin.core.events import EventView
from myelin.core.hashes import compute_reference_hash
from myelin.core.room_versions import get_room_version
from myelin.core.unpadded_base64 import encode_base64
from myelin.services.events import (
    EventTemplate,
    Extremity,
    build_event,
    choose_prev_events,
    next_depth,
    select_auth_events,
)
from tests.services.test_events_support import ALICE, BOB, SERVER, SIGNING_KEY

V1 = get_room_version("1")
V5 = get_room_version("5")
V11 = get_room_version("11")
V12 = get_room_version("12")


def _build(
    version: object, room_id: str | None, template: EventTemplate, **kw: object
) -> EventView:
    return build_event(
        version,  # type: ignore[arg-type]
        room_id,
        template,
        prev_events=kw.get("prev_events", []),  # type: ignore[arg-type]
        auth_events=kw.get("auth_events", []),  # type: ignore[arg-type]
        origin_server_ts=1000,
        server_name=SERVER,
        signing_key=SIGNING_KEY,
        event_id=kw.get("event_id"),  # type: ignore[arg-type]
    )


def _event(depth: int, version: object = V11) -> EventView:
    return EventView({"depth": depth}, f"$d{depth}", version)  # type: ignore[arg-type]


def test_choose_prev_events_takes_the_ten_deepest() -> None:
    extremities = [Extremity(f"$e{i}", depth=i % 4, stream_ordering=i) for i in range(15)]
    chosen = choose_prev_events(extremities)
    assert len(chosen) == 10
    # Depth 3 first (i = 3, 7, 11), newest first, then depth 2, ...
    assert chosen[:3] == ["$e11", "$e7", "$e3"]
    assert set(chosen) == {f"$e{i}" for i in range(15) if i % 4 >= 1} - {"$e1"}
    assert choose_prev_events([]) == []


def test_depth_is_max_plus_one_and_capped() -> None:
    assert next_depth(V11, []) == 1
    assert next_depth(V11, [_event(3), _event(9), _event(4)]) == 10
    assert next_depth(V11, [_event(MAX_INT)]) == MAX_INT
    assert next_depth(V11, [_event(MAX_INT - 1)]) == MAX_INT
    assert next_depth(V5, [_event(2**63 - 1, V5)]) == 2**63 - 1
    assert next_depth(V5, [_event(MAX_INT, V5)]) == MAX_INT + 1


def test_v12_create_has_no_room_id_and_others_no_create_auth() -> None:
    create = _build(V12, None, EventTemplate("m.room.create", ALICE, {"room_version": "12"}, ""))
    assert "room_id" not in create.json
    room_id = "!" + create.event_id[1:]
    assert create.room_id == room_id
    check_auth_rules(V12, create, [])
    state = {("m.room.create", ""): create}
    join = EventTemplate("m.room.member", ALICE, {"membership": "join"}, ALICE)
    assert select_auth_events(V12, join, state) == []
    member = _build(V12, room_id, join, prev_events=[create])
    assert member.auth_event_ids == [] and member.prev_event_ids == [create.event_id]
    check_auth_rules(V12, member, [], create_event=create)
    with pytest.raises(ValueError, match="no room_id"):
        _build(V12, "!x:y", EventTemplate("m.room.create", ALICE, {}, ""))


def test_v1_references_carry_reference_hashes_and_origin() -> None:
    create_template = EventTemplate("m.room.create", ALICE, {"creator": ALICE}, "")
    create = _build(V1, "!r:example.org", create_template, event_id="$c:example.org")
    assert create.event_id == "$c:example.org" and create.json["origin"] == SERVER
    template = EventTemplate("m.room.member", ALICE, {"membership": "join"}, ALICE)
    auth = select_auth_events(V1, template, {("m.room.create", ""): create})
    member = _build(
        V1,
        "!r:example.org",
        template,
        prev_events=[create],
        auth_events=auth,
        event_id="$m:example.org",
    )
    ref = [create.event_id, {"sha256": encode_base64(compute_reference_hash(create.json, V1))}]
    assert member.json["prev_events"] == [ref] and member.json["auth_events"] == [ref]
    check_auth_rules(V1, member, [create])
    verify_event_signature(member.json, SERVER, SIGNING_KEY.verify_key, V1)
    with pytest.raises(ValueError, match="needs an event ID"):
        _build(V1, "!r:example.org", template)
    with pytest.raises(ValueError, match="derives event IDs"):
        _build(V11, "!r:example.org", template, event_id="$x:example.org")


def test_redacts_placement() -> None:
    template = EventTemplate("m.room.redaction", BOB, {}, redacts="$target")
    old = _build(V5, "!r:example.org", template)
    assert old.json["redacts"] == "$target" and "redacts" not in old.content
    new = _build(V11, "!r:example.org", template)
    assert new.content["redacts"] == "$target" and "redacts" not in new.json
    assert "origin" not in new.json
