"""Tests for filters (spec: Client-Server API, "Filtering"; the ``Filter``, ``EventFilter`` and
``RoomEventFilter`` definitions of ``POST /user/{userId}/filter``)."""

from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from myelin.core.errors import ProtocolError
from myelin.core.filters import (
    EventFilter,
    EventFormat,
    Filter,
    FilterError,
    RoomEventFilter,
    RoomFilter,
    parse_event_filter,
    parse_filter,
    parse_room_event_filter,
    project_fields,
    type_matches,
)
from myelin.core.push.property_paths import join_path
from tests.api.openapi import API_DIR, _inline, _load, require_spec, validate


def request_schema() -> Any:
    """The request body schema of ``POST /user/{userId}/filter``, references inlined."""
    require_spec()
    file = API_DIR / "client-server" / "filter.yaml"
    operation = _load(file)["paths"]["/user/{userId}/filter"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    return _inline(body, file)


# The request example of POST /user/{userId}/filter.
SPEC_EXAMPLE: dict[str, Any] = {
    "room": {
        "state": {"types": ["m.room.*"], "not_rooms": ["!726s6s6q:example.com"]},
        "timeline": {
            "limit": 10,
            "types": ["m.room.message"],
            "not_rooms": ["!726s6s6q:example.com"],
            "not_senders": ["@spam:example.com"],
        },
        "ephemeral": {
            "types": ["m.receipt", "m.typing"],
            "not_rooms": ["!726s6s6q:example.com"],
            "not_senders": ["@spam:example.com"],
        },
    },
    "presence": {"types": ["m.presence"], "not_senders": ["@alice:example.com"]},
    "event_format": "client",
    "event_fields": ["type", "content", "sender"],
}


def _event(**fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "m.room.message",
        "sender": "@bob:example.com",
        "room_id": "!room:example.com",
        "content": {"body": "hi"},
    }
    event.update(fields)
    return event


# --- Parsing ------------------------------------------------------------------------------------


def test_empty_filter_has_the_defaults() -> None:
    parsed = parse_filter({})
    assert parsed == Filter()
    assert parsed.event_fields is None and parsed.event_format is EventFormat.CLIENT
    assert parsed.room == RoomFilter() and parsed.room.include_leave is False
    timeline = parsed.room.timeline
    assert timeline.limit is None and timeline.types is None and timeline.not_types == ()
    assert timeline.lazy_load_members is False and timeline.include_redundant_members is False
    assert timeline.unread_thread_notifications is False and timeline.contains_url is None


def test_spec_example() -> None:
    parsed = parse_filter(SPEC_EXAMPLE)
    assert parsed.event_fields == ("type", "content", "sender")
    assert parsed.room.state.types == ("m.room.*",)
    assert parsed.room.timeline.limit == 10
    assert parsed.room.timeline.not_senders == ("@spam:example.com",)
    assert parsed.room.ephemeral.types == ("m.receipt", "m.typing")
    assert parsed.presence == EventFilter(
        types=("m.presence",), not_senders=("@alice:example.com",)
    )
    assert parsed.account_data == EventFilter()


def test_every_field() -> None:
    room_event_filter = {
        "limit": 5,
        "senders": ["@a:x"],
        "not_senders": ["@b:x"],
        "types": ["m.*"],
        "not_types": ["m.typing"],
        "rooms": ["!r:x"],
        "not_rooms": ["!s:x"],
        "contains_url": True,
        "lazy_load_members": True,
        "include_redundant_members": True,
        "unread_thread_notifications": True,
    }
    parsed = parse_filter(
        {
            "event_fields": ["content.body", "content.m\\.relates_to"],
            "event_format": "federation",
            "presence": {"limit": 1, "senders": ["@p:x"]},
            "account_data": {"types": ["m.direct"], "not_types": ["m.push_rules"]},
            "room": {
                "rooms": ["!r:x"],
                "not_rooms": ["!s:x"],
                "include_leave": True,
                "ephemeral": room_event_filter,
                "state": room_event_filter,
                "timeline": room_event_filter,
                "account_data": room_event_filter,
            },
            "org.example.unknown": {"ignored": True},
        }
    )
    expected = RoomEventFilter(
        limit=5,
        senders=("@a:x",),
        not_senders=("@b:x",),
        types=("m.*",),
        not_types=("m.typing",),
        rooms=("!r:x",),
        not_rooms=("!s:x",),
        contains_url=True,
        lazy_load_members=True,
        include_redundant_members=True,
        unread_thread_notifications=True,
    )
    assert parsed == Filter(
        event_fields=("content.body", "content.m\\.relates_to"),
        event_format=EventFormat.FEDERATION,
        presence=EventFilter(limit=1, senders=("@p:x",)),
        account_data=EventFilter(types=("m.direct",), not_types=("m.push_rules",)),
        room=RoomFilter(
            rooms=("!r:x",),
            not_rooms=("!s:x",),
            include_leave=True,
            ephemeral=expected,
            state=expected,
            timeline=expected,
            account_data=expected,
        ),
    )


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ([], ""),
        ("filter", ""),
        ({"event_fields": "type"}, "event_fields"),
        ({"event_fields": [1]}, "event_fields[0]"),
        ({"event_format": "raw"}, "event_format"),
        ({"event_format": 1}, "event_format"),
        ({"presence": []}, "presence"),
        ({"presence": {"limit": "10"}}, "presence.limit"),
        ({"presence": {"limit": 1.5}}, "presence.limit"),
        ({"presence": {"limit": True}}, "presence.limit"),
        ({"presence": {"limit": 0}}, "presence.limit"),
        ({"presence": {"limit": -3}}, "presence.limit"),
        ({"account_data": {"types": "m.direct"}}, "account_data.types"),
        ({"account_data": {"not_types": [None]}}, "account_data.not_types[0]"),
        ({"presence": {"senders": ["bob"]}}, "presence.senders[0]"),
        ({"presence": {"not_senders": ["@a:x", 3]}}, "presence.not_senders[1]"),
        ({"room": "all"}, "room"),
        ({"room": {"rooms": ["#alias:x"]}}, "room.rooms[0]"),
        ({"room": {"not_rooms": "!r:x"}}, "room.not_rooms"),
        ({"room": {"include_leave": "true"}}, "room.include_leave"),
        ({"room": {"timeline": []}}, "room.timeline"),
        ({"room": {"timeline": {"limit": "5"}}}, "room.timeline.limit"),
        ({"room": {"state": {"lazy_load_members": 1}}}, "room.state.lazy_load_members"),
        (
            {"room": {"state": {"include_redundant_members": "no"}}},
            "room.state.include_redundant_members",
        ),
        ({"room": {"ephemeral": {"rooms": ["r"]}}}, "room.ephemeral.rooms[0]"),
        ({"room": {"ephemeral": {"contains_url": 0}}}, "room.ephemeral.contains_url"),
        (
            {"room": {"account_data": {"unread_thread_notifications": "x"}}},
            "room.account_data.unread_thread_notifications",
        ),
        ({"room": {"account_data": {"not_rooms": [["!r:x"]]}}}, "room.account_data.not_rooms[0]"),
    ],
)
def test_wrong_types_are_rejected_with_the_key_path(body: Any, path: str) -> None:
    with pytest.raises(FilterError) as caught:
        parse_filter(body)
    assert caught.value.path == path
    assert isinstance(caught.value, ProtocolError)
    if path:
        assert str(caught.value).startswith(f"{path}: ")


def test_null_counts_as_absent() -> None:
    assert parse_filter({"room": None, "event_fields": None, "presence": None}) == Filter()
    assert parse_room_event_filter({"limit": None, "contains_url": None}) == RoomEventFilter()


# --- Matching -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "event_type", "expected"),
    [
        ("m.room.message", "m.room.message", True),
        ("m.room.message", "m.room.messages", False),
        ("m.room.*", "m.room.message", True),
        ("m.room.*", "m.room.", True),
        ("m.room.*", "m.roomy", False),
        ("m.room.*", "M.ROOM.MESSAGE", False),  # types are case-sensitive
        ("*", "anything", True),
        ("m.*.message", "m.room.message", True),
        ("m.?oom", "m.room", False),  # only * is a wildcard
        ("m.?oom", "m.?oom", True),
    ],
)
def test_type_wildcards(pattern: str, event_type: str, expected: bool) -> None:
    assert type_matches(pattern, event_type) is expected


@given(st.text(alphabet="ab.*", max_size=6))
def test_a_pattern_without_star_matches_only_itself(text: str) -> None:
    literal = text.replace("*", "")
    assert type_matches(literal, literal)
    assert type_matches(literal + "*", literal + "suffix")
    assert not type_matches(literal, literal + "x")


def test_absent_lists_include_everything() -> None:
    assert EventFilter().matches(_event())
    assert RoomEventFilter().matches(_event())
    assert EventFilter().matches({"type": "m.direct", "content": {}})


def test_allow_lists() -> None:
    only_bob = EventFilter(senders=("@bob:example.com",))
    assert only_bob.matches(_event())
    assert not only_bob.matches(_event(sender="@carol:example.com"))
    assert not only_bob.matches({"type": "m.direct", "content": {}})  # no sender
    assert not EventFilter(types=()).matches(_event())  # an empty list includes nothing
    assert EventFilter(types=("m.room.*",)).matches(_event())
    assert not EventFilter(types=("m.call.*",)).matches(_event())


def test_not_lists_take_precedence() -> None:
    event = _event()
    assert not EventFilter(
        senders=("@bob:example.com",), not_senders=("@bob:example.com",)
    ).matches(event)
    assert not EventFilter(types=("m.room.message",), not_types=("m.room.*",)).matches(event)
    assert not EventFilter(types=("*",), not_types=("m.room.message",)).matches(event)
    assert EventFilter(not_types=("m.room.member",)).matches(event)
    room_filter = RoomEventFilter(rooms=("!room:example.com",), not_rooms=("!room:example.com",))
    assert not room_filter.matches(event)
    assert not room_filter.matches_room("!room:example.com")


def test_room_lists() -> None:
    only = RoomEventFilter(rooms=("!room:example.com",))
    assert only.matches(_event())
    assert not only.matches(_event(room_id="!other:example.com"))
    assert only.matches_room("!room:example.com") and not only.matches_room("!other:example.com")
    room = RoomFilter(not_rooms=("!spam:example.com",))
    assert room.matches_room("!room:example.com") and not room.matches_room("!spam:example.com")
    assert not RoomFilter(rooms=()).matches_room("!room:example.com")


def test_contains_url() -> None:
    with_url = _event(content={"body": "cat.png", "url": "mxc://example.com/abc"})
    without = _event()
    assert RoomEventFilter(contains_url=True).matches(with_url)
    assert not RoomEventFilter(contains_url=True).matches(without)
    assert RoomEventFilter(contains_url=False).matches(without)
    assert not RoomEventFilter(contains_url=False).matches(with_url)
    assert RoomEventFilter().matches(with_url) and RoomEventFilter().matches(without)
    assert not RoomEventFilter(contains_url=True).matches(_event(content="not an object"))


def test_spec_example_matching() -> None:
    parsed = parse_filter(SPEC_EXAMPLE)
    timeline = parsed.room.timeline
    assert timeline.matches(_event())
    assert not timeline.matches(_event(sender="@spam:example.com"))
    assert not timeline.matches(_event(room_id="!726s6s6q:example.com"))
    assert not timeline.matches(_event(type="m.room.member"))
    assert parsed.room.state.matches(_event(type="m.room.member", state_key="@bob:example.com"))
    assert not parsed.room.state.matches(_event(type="m.space.child", state_key="!c:x"))
    presence = {"type": "m.presence", "sender": "@bob:example.com", "content": {}}
    assert parsed.presence.matches(presence)
    assert not parsed.presence.matches(dict(presence, sender="@alice:example.com"))


def test_parsed_filters_match_like_their_json() -> None:
    parsed = parse_event_filter({"types": ["m.room.*"], "not_types": ["m.room.member"]})
    assert parsed.matches(_event()) and not parsed.matches(_event(type="m.room.member"))


# --- event_fields -------------------------------------------------------------------------------


def test_event_fields_projection() -> None:
    event = _event(
        content={"body": "hi", "msgtype": "m.text", "m.relates_to": {"rel_type": "m.thread"}},
        unsigned={"age": 5},
    )
    assert parse_filter({}).project(event) == event
    only = parse_filter({"event_fields": ["type", "content.body", "content.m\\.relates_to"]})
    assert only.project(event) == {
        "type": "m.room.message",
        "content": {"body": "hi", "m.relates_to": {"rel_type": "m.thread"}},
    }
    assert parse_filter({"event_fields": []}).project(event) == {}


def test_projection_skips_missing_paths() -> None:
    event = {"content": {"body": "hi", "n": None}, "type": "x"}
    assert project_fields(event, ["content.nope", "nope", "type.deeper"]) == {}
    assert project_fields(event, ["content.n"]) == {"content": {"n": None}}
    assert project_fields(event, ["content", "content.body"]) == {
        "content": {"body": "hi", "n": None}
    }
    backslash = {"content": {"a\\b": 1, "a.b": 2}}
    assert project_fields(backslash, ["content.a\\\\b"]) == {"content": {"a\\b": 1}}
    assert project_fields(backslash, ["content.a.b"]) == {}


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=3),
        lambda children: st.dictionaries(
            st.text(alphabet="a.\\", max_size=3), children, max_size=3
        ),
        max_leaves=8,
    )
)
def test_projecting_every_top_level_key_is_the_identity(value: Any) -> None:
    if not isinstance(value, dict):
        return
    assert project_fields(value, [join_path([key]) for key in value]) == value


def _schema_properties(schema: Any) -> set[str]:
    names = set(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        names |= _schema_properties(part)
    return names


def _schema_property(schema: Any, name: str) -> Any:
    if name in schema.get("properties", {}):
        return schema["properties"][name]
    for part in schema.get("allOf", []):
        found = _schema_property(part, name)
        if found is not None:
            return found
    return None


def test_every_field_of_the_spec_definitions_is_parsed() -> None:
    schema = request_schema()
    assert set(Filter.__dataclass_fields__) == _schema_properties(schema)
    room = _schema_property(schema, "room")
    assert set(RoomFilter.__dataclass_fields__) == _schema_properties(room)
    for section in ("ephemeral", "state", "timeline", "account_data"):
        assert set(RoomEventFilter.__dataclass_fields__) == _schema_properties(
            _schema_property(room, section)
        )
    for section in ("presence", "account_data"):
        assert set(EventFilter.__dataclass_fields__) == _schema_properties(
            _schema_property(schema, section)
        )


def test_the_spec_request_example_parses() -> None:
    schema = request_schema()
    assert schema["example"] == SPEC_EXAMPLE
    validate(SPEC_EXAMPLE, schema)
    assert parse_filter(schema["example"]).room.timeline.limit == 10


@pytest.mark.parametrize(
    "body",
    [
        {"room": {"timeline": {"limit": "5"}}},
        {"presence": {"senders": ["bob"]}},
        {"event_format": "raw"},
        {"room": {"include_leave": "true"}},
    ],
)
def test_what_we_reject_the_spec_schema_rejects_too(body: Any) -> None:
    with pytest.raises(FilterError):
        parse_filter(body)
    with pytest.raises(jsonschema.ValidationError):
        validate(body, request_schema())
