"""Tests for push rule conditions, globs and dot-separated paths (spec: Client-Server API,
"Conditions"; Appendices, "Glob-style matching" and "Dot-separated property paths")."""

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from myelin.core.push.evaluation import (
    PushContext,
    condition_matches,
    member_count_matches,
    rule_matches,
    should_highlight,
    should_notify,
    sound,
    tweaks,
)
from myelin.core.push.glob import glob_matches, glob_matches_words
from myelin.core.push.property_paths import ABSENT, join_path, lookup, split_path
from myelin.core.push.rules import PushRule, RuleKind

CTX = PushContext(user_id="@alice:example.org", member_count=3, display_name="Alice")


def _matches(condition: dict[str, Any], event: dict[str, Any], ctx: PushContext = CTX) -> bool:
    return condition_matches(condition, event, ctx)


# --- Dot-separated property paths ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "names"),
    [
        ("content.body", ("content", "body")),
        ("content.m\\.relates_to", ("content", "m.relates_to")),
        ("content.m\\\\foo", ("content", "m\\foo")),
        # Other escape sequences are left as they are.
        ("content.m\\xfoo", ("content", "m\\xfoo")),
        ("a\\", ("a\\",)),
        ("a..b", ("a", "", "b")),
        ("", ("",)),
        ("content.m\\.mentions.user_ids", ("content", "m.mentions", "user_ids")),
    ],
)
def test_split_path(path: str, names: tuple[str, ...]) -> None:
    assert split_path(path) == names


@given(st.lists(st.text(), min_size=1, max_size=5))
def test_join_then_split_round_trips(names: list[str]) -> None:
    assert split_path(join_path(names)) == tuple(names)


def test_lookup() -> None:
    event = {"content": {"m.relates_to": {"rel_type": "m.replace"}, "m\\foo": 1, "n": None}}
    assert lookup(event, "content.m\\.relates_to.rel_type") == "m.replace"
    assert lookup(event, "content.m\\\\foo") == 1
    assert lookup(event, "content.n") is None
    assert lookup(event, "content.m.relates_to") is ABSENT
    assert lookup(event, "content.m\\.relates_to.rel_type.x") is ABSENT
    assert lookup({"a": [{"b": 1}]}, "a.0.b") is ABSENT


# --- Globs --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("lunc?*", "Lunch plans", True),
        ("lunc?*", "LUNCH", True),
        ("lunc?*", " lunch", False),
        ("lunc?*", "lunc", False),
        ("m.room.*", "m.room.message", True),
        ("m.room.*", "m.roomXmessage", False),  # "." is literal
        ("a[b]c", "a[b]c", True),  # no character classes
        ("a[b]c", "abc", False),
        ("", "", True),
        ("*", "", True),
        ("?", "\n", True),
    ],
)
def test_glob_whole_value(pattern: str, value: str, expected: bool) -> None:
    assert glob_matches(pattern, value) is expected


@pytest.mark.parametrize(
    ("pattern", "body", "expected"),
    [
        ("ex*ple", "An example event.", True),
        ("ex*ple", "exple", True),
        ("ex*ple", "An exciting triple-whammy", True),
        ("ex*ple", "An examples event", False),
        ("ex*ple", "anexample", False),
        ("cake", "I like CAKE!", True),
        ("cake", "cakes", False),
        ("cake", "cake_shop", False),  # _ is a word character
        ("cake", "éclair-cake", True),
        ("café", "un café noir", True),
        ("cake", "cakeé", True),  # é is not in [A-Za-z0-9_], so it is a boundary
        ("cake", "cake\u212a", True),  # nor is the Kelvin sign, though it folds to "k"
    ],
)
def test_glob_at_word_boundaries(pattern: str, body: str, expected: bool) -> None:
    assert glob_matches_words(pattern, body) is expected


@given(st.text(alphabet="ab*?.", max_size=8), st.text(alphabet="abAB.", max_size=8))
def test_glob_agrees_with_a_reference(pattern: str, value: str) -> None:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    expected = re.fullmatch(regex, value, re.IGNORECASE | re.DOTALL) is not None
    assert glob_matches(pattern, value) is expected


def _is_word_char(char: str) -> bool:
    return char.isascii() and (char.isalnum() or char == "_")


@given(st.text(alphabet="ab*? ", max_size=5), st.text(alphabet="abAB _-é", max_size=10))
def test_word_boundary_glob_agrees_with_a_reference(pattern: str, body: str) -> None:
    # Some substring body[i:j] matches the whole pattern, with a boundary before and after it.
    expected = any(
        glob_matches(pattern, body[i:j])
        for i in range(len(body) + 1)
        for j in range(i, len(body) + 1)
        if (i == 0 or not _is_word_char(body[i - 1]))
        and (j == len(body) or not _is_word_char(body[j]))
    )
    assert glob_matches_words(pattern, body) is expected


@given(st.text(max_size=20))
def test_star_matches_any_string(value: str) -> None:
    assert glob_matches("*", value)
    assert glob_matches(value.replace("*", "?"), value)


# --- event_match --------------------------------------------------------------------------------


def test_event_match_spec_example() -> None:
    condition = {"kind": "event_match", "key": "content.topic", "pattern": "lunc?*"}
    event = {"content": {"topic": "Lunch plans"}, "type": "m.room.topic", "state_key": ""}
    assert _matches(condition, event)
    assert _matches(condition, {"content": {"topic": "LUNCH"}})
    assert not _matches(condition, {"content": {"topic": " lunch"}})
    assert not _matches(condition, {"content": {"topic": "lunc"}})
    assert not _matches(condition, {"content": {"topic": None}})


def test_event_match_needs_a_string_value() -> None:
    star = {"kind": "event_match", "key": "content.x", "pattern": "*"}
    assert _matches(star, {"content": {"x": ""}})
    for value in (None, 1, True, ["a"], {"a": "b"}):
        assert not _matches(star, {"content": {"x": value}})
    assert not _matches(star, {"content": {}})


def test_event_match_body_uses_word_boundaries_other_keys_do_not() -> None:
    body = {"kind": "event_match", "key": "content.body", "pattern": "ex*ple"}
    assert _matches(body, {"content": {"body": "An example event."}})
    other = {"kind": "event_match", "key": "content.text", "pattern": "ex*ple"}
    assert not _matches(other, {"content": {"text": "An example event."}})
    assert _matches(other, {"content": {"text": "Example"}})


def test_event_match_with_escaped_keys() -> None:
    condition = {"kind": "event_match", "key": "content.m\\.relates_to.rel_type", "pattern": "m.*"}
    assert _matches(condition, {"content": {"m.relates_to": {"rel_type": "m.thread"}}})
    assert not _matches(condition, {"content": {"m": {"relates_to": {"rel_type": "m.thread"}}}})
    backslash = {"kind": "event_match", "key": "content.m\\\\foo", "pattern": "bar"}
    assert _matches(backslash, {"content": {"m\\foo": "bar"}})


def test_event_match_with_bad_parameters_does_not_match() -> None:
    event = {"type": "m.room.message"}
    assert not _matches({"kind": "event_match", "key": "type"}, event)
    assert not _matches({"kind": "event_match", "pattern": "*"}, event)
    assert not _matches({"kind": "event_match", "key": 1, "pattern": "*"}, event)


# --- event_property_is / event_property_contains -----------------------------------------------


def test_event_property_is_spec_example() -> None:
    condition = {"kind": "event_property_is", "key": "content.m\\.federate", "value": True}
    assert _matches(condition, {"content": {"m.federate": True, "creator": "@x:y"}})
    assert not _matches(condition, {"content": {"m.federate": "true"}})
    assert not _matches(condition, {"content": {"m.federate": 1}})
    assert not _matches(condition, {"content": {}})


@pytest.mark.parametrize(
    ("expected", "actual", "result"),
    [
        (None, None, True),
        (1, 1, True),
        (1, True, False),
        (0, False, False),
        (False, 0, False),
        ("1", 1, False),
        (1, 1.0, False),
        ("x", "x", True),
        ("x", "X", False),
        (2**53 - 1, 2**53 - 1, True),
        (2**53, 2**53, False),  # outside the canonical JSON range
        (1, [1], False),
        (1, {"a": 1}, False),
    ],
)
def test_event_property_is_exact(expected: Any, actual: Any, result: bool) -> None:
    condition = {"kind": "event_property_is", "key": "content.v", "value": expected}
    assert _matches(condition, {"content": {"v": actual}}) is result


def test_event_property_is_null_needs_the_property() -> None:
    condition = {"kind": "event_property_is", "key": "content.v", "value": None}
    assert _matches(condition, {"content": {"v": None}})
    assert not _matches(condition, {"content": {}})
    assert not _matches({"kind": "event_property_is", "key": "content.v"}, {"content": {"v": None}})


def test_event_property_contains_spec_example() -> None:
    condition = {
        "kind": "event_property_contains",
        "key": "content.alt_aliases",
        "value": "#myroom:example.com",
    }
    event = {"content": {"alt_aliases": ["#somewhere:example.org", "#myroom:example.com"]}}
    assert _matches(condition, event)
    assert not _matches(condition, {"content": {"alt_aliases": [":example.com"]}})
    partial = dict(condition, value=":example.com")
    assert not _matches(partial, event)
    assert not _matches(condition, {"content": {"alt_aliases": "#myroom:example.com"}})
    assert not _matches(condition, {"content": {}})


def test_event_property_contains_is_exact_and_ignores_compound_items() -> None:
    condition = {"kind": "event_property_contains", "key": "content.v", "value": 1}
    assert _matches(condition, {"content": {"v": [[1], {"a": 1}, True, 1]}})
    assert not _matches(condition, {"content": {"v": [[1], True, "1", 1.0]}})
    null = {"kind": "event_property_contains", "key": "content.v", "value": None}
    assert _matches(null, {"content": {"v": [None]}})
    assert not _matches(null, {"content": {"v": []}})


# --- contains_display_name ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "body", "expected"),
    [
        ("Alice", "hello alice!", True),
        ("Alice", "hello Alice", True),
        ("Alice", "Alicea", False),
        ("Alice", "malice", False),
        ("Al*ce", "Alice", False),  # the name is literal, not a glob
        ("Al*ce", "hi Al*ce", True),
        ("A.B", "hi a.b.", True),
        ("", "anything", False),
        (None, "anything", False),
    ],
)
def test_contains_display_name(name: str | None, body: str, expected: bool) -> None:
    ctx = PushContext(user_id="@alice:example.org", member_count=3, display_name=name)
    condition = {"kind": "contains_display_name"}
    assert _matches(condition, {"content": {"body": body}}, ctx) is expected


def test_contains_display_name_needs_a_string_body() -> None:
    assert not _matches({"kind": "contains_display_name"}, {"content": {"body": ["Alice"]}})
    assert not _matches({"kind": "contains_display_name"}, {"content": {}})


# --- room_member_count --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "count", "expected"),
    [
        ("2", 2, True),
        ("2", 3, False),
        ("==2", 2, True),
        ("<2", 1, True),
        ("<2", 2, False),
        (">2", 3, True),
        (">2", 2, False),
        ("<=10", 10, True),
        ("<=10", 11, False),
        (">=10", 10, True),
        (">=10", 9, False),
        ("", 2, False),
        ("=2", 2, False),
        ("two", 2, False),
        ("2 ", 2, False),
        ("-1", 0, False),
    ],
)
def test_room_member_count(spec: str, count: int, expected: bool) -> None:
    assert member_count_matches(spec, count) is expected
    ctx = PushContext(user_id="@a:b", member_count=count)
    assert _matches({"kind": "room_member_count", "is": spec}, {}, ctx) is expected


def test_room_member_count_without_is_does_not_match() -> None:
    assert not _matches({"kind": "room_member_count"}, {})
    assert not _matches({"kind": "room_member_count", "is": 3}, {})


# --- sender_notification_permission -------------------------------------------------------------


@pytest.mark.parametrize(
    ("levels", "sender_level", "key", "expected"),
    [
        ({"room": 50}, 50, "room", True),
        ({"room": 50}, 49, "room", False),
        ({}, 50, "room", True),  # "room" defaults to 50
        ({}, 49, "room", False),
        ({"room": 0}, 0, "room", True),
        ({"room": 100, "custom": 10}, 10, "custom", True),
        ({"room": 100}, 10, "custom", False),
    ],
)
def test_sender_notification_permission(
    levels: dict[str, int], sender_level: int, key: str, expected: bool
) -> None:
    ctx = PushContext(
        user_id="@a:b", member_count=3, sender_power_level=sender_level, notification_levels=levels
    )
    condition = {"kind": "sender_notification_permission", "key": key}
    assert _matches(condition, {}, ctx) is expected


def test_unknown_conditions_never_match() -> None:
    assert not _matches({"kind": "org.example.always"}, {"type": "m.room.message"})
    assert not _matches({}, {"type": "m.room.message"})
    rule = PushRule(
        RuleKind.OVERRIDE,
        "r",
        ("notify",),
        conditions=({"kind": "event_match", "key": "type", "pattern": "*"}, {"kind": "nope"}),
    )
    assert not rule_matches(rule, {"type": "m.room.message"}, CTX)


# --- Rules of each kind -------------------------------------------------------------------------


def test_rules_of_each_kind() -> None:
    event = {
        "type": "m.room.message",
        "room_id": "!r:example.org",
        "sender": "@bob:example.org",
        "content": {"body": "time for tea"},
    }
    no_conditions = PushRule(RuleKind.UNDERRIDE, "all", ())
    assert rule_matches(no_conditions, event, CTX)
    assert not rule_matches(PushRule(RuleKind.UNDERRIDE, "all", (), enabled=False), event, CTX)
    assert rule_matches(PushRule(RuleKind.CONTENT, "tea", (), pattern="TEA"), event, CTX)
    assert not rule_matches(PushRule(RuleKind.CONTENT, "te", (), pattern="te"), event, CTX)
    assert not rule_matches(PushRule(RuleKind.CONTENT, "none", ()), event, CTX)
    assert rule_matches(PushRule(RuleKind.ROOM, "!r:example.org", ()), event, CTX)
    assert not rule_matches(PushRule(RuleKind.ROOM, "!other:example.org", ()), event, CTX)
    assert rule_matches(PushRule(RuleKind.SENDER, "@bob:example.org", ()), event, CTX)
    assert not rule_matches(PushRule(RuleKind.SENDER, "@carol:example.org", ()), event, CTX)


# --- Actions ------------------------------------------------------------------------------------


def test_action_helpers() -> None:
    actions: list[Any] = [
        "notify",
        {"set_tweak": "sound", "value": "default"},
        {"set_tweak": "highlight"},
        {"set_tweak": "org.example.led", "value": "blue"},
    ]
    assert should_notify(actions) and should_highlight(actions) and sound(actions) == "default"
    assert tweaks(actions) == {"sound": "default", "highlight": True, "org.example.led": "blue"}
    assert not should_notify([]) and not should_highlight([]) and sound([]) is None
    assert not should_highlight(["notify", {"set_tweak": "highlight", "value": False}])
    # A later tweak of the same name wins.
    assert not should_highlight(
        [{"set_tweak": "highlight"}, {"set_tweak": "highlight", "value": False}]
    )
    assert sound([{"set_tweak": "sound", "value": 3}]) is None
