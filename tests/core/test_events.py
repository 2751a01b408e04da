"""EventView: typed read-only access to a PDU of each room version's format."""

from myelin.core.events import EventView
from myelin.core.room_versions import get_room_version


def test_v1_format_reads_id_lists_of_pairs() -> None:
    pdu = {
        "event_id": "$a:example.org",
        "room_id": "!r:example.org",
        "type": "m.room.redaction",
        "sender": "@u:example.org",
        "redacts": "$b:example.org",
        "prev_events": [["$p:example.org", {"sha256": "x"}]],
        "auth_events": [["$c:example.org", {"sha256": "y"}], "junk"],
        "depth": 3,
        "content": {},
    }
    event = EventView(pdu, "$a:example.org", get_room_version("1"))
    assert event.prev_event_ids == ["$p:example.org"]
    assert event.auth_event_ids == ["$c:example.org"]
    assert event.redacts == "$b:example.org"
    assert event.state_key is None and not event.is_state and event.state_pair is None
    assert event.depth == 3


def test_v11_redacts_lives_in_content() -> None:
    pdu = {"type": "m.room.redaction", "redacts": "$top", "content": {"redacts": "$inner"}}
    assert EventView(pdu, "$x", get_room_version("11")).redacts == "$inner"
    assert EventView(pdu, "$x", get_room_version("10")).redacts == "$top"


def test_v12_create_room_id_derives_from_event_id() -> None:
    create = {"type": "m.room.create", "state_key": "", "sender": "@c:hs", "content": {}}
    event = EventView(create, "$abc_DEF", get_room_version("12"))
    assert event.room_id == "!abc_DEF"
    assert event.state_pair == ("m.room.create", "")


def test_malformed_fields_read_as_safe_defaults() -> None:
    pdu = {"type": "m.room.member", "content": "nope", "depth": True, "state_key": 5}
    event = EventView(pdu, "$x", get_room_version("10"))
    assert event.content == {}
    assert event.depth == 0
    assert event.state_key is None
    assert event.membership is None
    assert event.prev_event_ids == []
