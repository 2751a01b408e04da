"""Tests for the push ruleset: merge order, validation of rule bodies and the edits behind the
push rules API (spec: Client-Server API, "Push Rules" and "Push Rules: API")."""

from typing import Any

import pytest

from myelin.core.errors import ProtocolError
from myelin.core.push.evaluation import PushContext, evaluate, first_matching_rule
from myelin.core.push.rules import (
    InvalidPushRuleError,
    MalformedPushRuleError,
    PushRule,
    PushRuleAnchorNotFoundError,
    PushRuleError,
    PushRuleNotFoundError,
    RuleKind,
    parse_kind,
)
from myelin.core.push.ruleset import (
    UserPushRules,
    delete_rule,
    merge_ruleset,
    parse_actions,
    parse_rule,
    put_rule,
    set_actions,
    set_enabled,
)

ALICE = "@alice:example.org"
CTX = PushContext(user_id=ALICE, member_count=5)


def _ids(stored: UserPushRules, kind: RuleKind) -> list[str]:
    return [r.rule_id for r in stored.user_rules(kind)]


def _message(body: str, **extra: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "m.room.message",
        "sender": "@bob:example.org",
        "room_id": "!r:example.org",
        "content": {"msgtype": "m.text", "body": body},
    }
    event.update(extra)
    return event


# --- Merge order --------------------------------------------------------------------------------


def test_merge_order_master_then_user_then_defaults() -> None:
    stored = put_rule(UserPushRules(), "override", "mine", {"actions": []})
    stored = put_rule(stored, "underride", "low", {"actions": ["notify"]})
    stored = put_rule(stored, "room", "!r:example.org", {"actions": []})
    stored = put_rule(stored, "sender", "@bob:example.org", {"actions": ["notify"]})
    stored = put_rule(stored, "content", "tea", {"pattern": "tea", "actions": ["notify"]})
    ruleset = merge_ruleset(ALICE, stored)
    order = [(r.kind.value, r.rule_id) for r in ruleset.in_order()]
    assert order[:3] == [
        ("override", ".m.rule.master"),
        ("override", "mine"),
        ("override", ".m.rule.suppress_notices"),
    ]
    kinds = [kind for kind, _ in order]
    assert kinds == sorted(kinds, key=lambda k: list(RuleKind).index(RuleKind(k)))
    assert ("content", "tea") in order and ("room", "!r:example.org") in order
    underride = [rule_id for kind, rule_id in order if kind == "underride"]
    assert underride[0] == "low" and underride[1] == ".m.rule.call"
    assert list(ruleset.to_json()) == ["override", "content", "room", "sender", "underride"]


def test_kind_priority_decides_the_match() -> None:
    # The room rule (silent) beats the sender rule; a content rule beats both.
    stored = put_rule(UserPushRules(), "room", "!r:example.org", {"actions": []})
    stored = put_rule(stored, "sender", "@bob:example.org", {"actions": ["notify"]})
    event = _message("It's time for tea")
    assert evaluate(merge_ruleset(ALICE, stored), event, CTX) == ()
    stored = put_rule(
        stored, "content", "tea", {"pattern": "tea", "actions": ["notify", {"set_tweak": "x"}]}
    )
    assert evaluate(merge_ruleset(ALICE, stored), event, CTX) == ("notify", {"set_tweak": "x"})


def test_user_rules_come_before_default_rules_of_the_same_kind() -> None:
    stored = put_rule(
        UserPushRules(),
        "underride",
        "quiet-messages",
        {
            "conditions": [{"kind": "event_match", "key": "type", "pattern": "m.room.message"}],
            "actions": [],
        },
    )
    assert evaluate(merge_ruleset(ALICE, stored), _message("hi"), CTX) == ()
    # A user override still loses to the enabled master rule.
    loud = put_rule(UserPushRules(), "override", "loud", {"actions": ["notify"]})
    loud = set_enabled(loud, ALICE, "override", ".m.rule.master", True)
    rule = first_matching_rule(merge_ruleset(ALICE, loud), _message("hi"), CTX)
    assert rule is not None and rule.rule_id == ".m.rule.master"


def test_disabled_rules_are_skipped() -> None:
    stored = set_enabled(UserPushRules(), ALICE, "underride", ".m.rule.message", False)
    assert evaluate(merge_ruleset(ALICE, stored), _message("hi"), CTX) == ()
    rule = merge_ruleset(ALICE, stored).find(RuleKind.UNDERRIDE, ".m.rule.message")
    assert rule.to_json()["enabled"] is False and rule.default


def test_default_actions_can_be_changed() -> None:
    stored = set_actions(
        UserPushRules(),
        ALICE,
        "underride",
        ".m.rule.message",
        ["notify", {"set_tweak": "sound", "value": "ping"}],
    )
    actions = evaluate(merge_ruleset(ALICE, stored), _message("hi"), CTX)
    assert actions == ("notify", {"set_tweak": "sound", "value": "ping"})
    untouched = merge_ruleset(ALICE, UserPushRules()).find(RuleKind.UNDERRIDE, ".m.rule.message")
    assert untouched.actions == ("notify",)


def test_stale_overrides_of_unknown_default_rules_are_ignored() -> None:
    stored = UserPushRules(default_enabled={(RuleKind.CONTENT, ".m.rule.contains_user_name"): True})
    ruleset = merge_ruleset(ALICE, stored)
    assert ruleset.rules[RuleKind.CONTENT] == ()


def test_find_and_not_found() -> None:
    ruleset = merge_ruleset(ALICE, UserPushRules())
    assert ruleset.find(RuleKind.OVERRIDE, ".m.rule.master").enabled is False
    with pytest.raises(PushRuleNotFoundError):
        ruleset.find(RuleKind.UNDERRIDE, ".m.rule.master")


# --- PUT: create, update, order -----------------------------------------------------------------


def test_new_rules_are_enabled_and_most_important() -> None:
    stored = put_rule(UserPushRules(), "override", "a", {"actions": []})
    stored = put_rule(stored, "override", "b", {"actions": []})
    assert _ids(stored, RuleKind.OVERRIDE) == ["b", "a"]
    assert all(r.enabled and not r.default for r in stored.user_rules(RuleKind.OVERRIDE))


def test_before_and_after() -> None:
    stored = UserPushRules()
    for rule_id in ("c", "b", "a"):
        stored = put_rule(stored, "content", rule_id, {"pattern": rule_id, "actions": []})
    assert _ids(stored, RuleKind.CONTENT) == ["a", "b", "c"]
    stored = put_rule(stored, "content", "x", {"pattern": "x", "actions": []}, before="c")
    assert _ids(stored, RuleKind.CONTENT) == ["a", "b", "x", "c"]
    stored = put_rule(stored, "content", "y", {"pattern": "y", "actions": []}, after="a")
    assert _ids(stored, RuleKind.CONTENT) == ["a", "y", "b", "x", "c"]
    stored = put_rule(stored, "content", "z", {"pattern": "z", "actions": []}, after="c")
    assert _ids(stored, RuleKind.CONTENT) == ["a", "y", "b", "x", "c", "z"]
    # With both, "before" decides.
    stored = put_rule(
        stored, "content", "w", {"pattern": "w", "actions": []}, before="a", after="c"
    )
    assert _ids(stored, RuleKind.CONTENT)[0] == "w"


def test_the_spec_cake_example() -> None:
    stored = put_rule(
        UserPushRules(),
        "content",
        "SSByZWFsbHkgbGlrZSBjYWtl",
        {
            "pattern": "cake",
            "actions": ["notify", {"set_tweak": "sound", "value": "cakealarm.wav"}],
        },
    )
    stored = put_rule(
        stored,
        "content",
        "U3BvbmdlIGNha2UgaXMgYmVzdA",
        {"pattern": "cake*lie", "actions": ["notify"]},
        before="SSByZWFsbHkgbGlrZSBjYWtl",
    )
    ruleset = merge_ruleset(ALICE, stored)
    assert evaluate(ruleset, _message("The cake is a lie"), CTX) == ("notify",)
    assert evaluate(ruleset, _message("Cake!"), CTX) == (
        "notify",
        {"set_tweak": "sound", "value": "cakealarm.wav"},
    )


def test_the_spec_beer_example() -> None:
    stored = put_rule(
        UserPushRules(),
        "override",
        "U2VlIHlvdSBpbiBUaGUgRHVrZQ",
        {
            "conditions": [
                {"kind": "event_match", "key": "content.body", "pattern": "beer"},
                {"kind": "room_member_count", "is": "<=10"},
            ],
            "actions": ["notify", {"set_tweak": "sound", "value": "beeroclock.wav"}],
        },
    )
    ruleset = merge_ruleset(ALICE, stored)
    beer = _message("Time for a beer?")
    assert evaluate(ruleset, beer, CTX)[1] == {"set_tweak": "sound", "value": "beeroclock.wav"}
    assert evaluate(ruleset, beer, PushContext(user_id=ALICE, member_count=11)) == ("notify",)


def test_update_keeps_place_and_enabled_unless_moved() -> None:
    stored = UserPushRules()
    for rule_id in ("c", "b", "a"):
        stored = put_rule(stored, "override", rule_id, {"actions": []})
    stored = set_enabled(stored, ALICE, "override", "b", False)
    stored = put_rule(stored, "override", "b", {"actions": ["notify"]})
    assert _ids(stored, RuleKind.OVERRIDE) == ["a", "b", "c"]
    updated = stored.user_rules(RuleKind.OVERRIDE)[1]
    assert updated.actions == ("notify",) and updated.enabled is False
    stored = put_rule(stored, "override", "b", {"actions": []}, after="c")
    assert _ids(stored, RuleKind.OVERRIDE) == ["a", "c", "b"]


@pytest.mark.parametrize(
    ("before", "after"), [("nope", None), (None, "nope"), (".m.rule.master", None), ("b", None)]
)
def test_anchor_must_be_a_user_rule_of_that_kind(before: str | None, after: str | None) -> None:
    stored = put_rule(UserPushRules(), "override", "a", {"actions": []})
    stored = put_rule(stored, "underride", "u", {"actions": []})
    with pytest.raises(PushRuleAnchorNotFoundError, match="before/after rule not found"):
        put_rule(stored, "override", "b", {"actions": []}, before=before, after=after)
    with pytest.raises(PushRuleAnchorNotFoundError):
        put_rule(stored, "override", "b", {"actions": []}, before="u")


# --- PUT: validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "rule_id"),
    [
        ("override", ".m.rule.master"),
        ("override", ".mine"),
        ("override", ""),
        ("override", "a/b"),
        ("override", "a\\b"),
        ("room", "not-a-room"),
        ("room", "#alias:example.org"),
        ("sender", "bob"),
        ("sender", "!r:example.org"),
        ("global", "x"),
    ],
)
def test_invalid_rule_ids_and_kinds(kind: str, rule_id: str) -> None:
    with pytest.raises(InvalidPushRuleError):
        parse_rule(kind, rule_id, {"actions": []})


@pytest.mark.parametrize(
    "body",
    [
        [],
        "x",
        {},
        {"actions": "notify"},
        {"actions": [1]},
        {"actions": [{"set_tweak": 1}]},
        {"actions": [], "conditions": {}},
        {"actions": [], "conditions": ["x"]},
        {"actions": [], "conditions": [{"key": "type"}]},
        {"actions": [], "conditions": [{"kind": "event_match", "key": "type"}]},
        {"actions": [], "conditions": [{"kind": "event_match", "pattern": "x"}]},
        {"actions": [], "conditions": [{"kind": "event_property_is", "key": "content.x"}]},
        {"actions": [], "conditions": [{"kind": "room_member_count"}]},
        {"actions": [], "conditions": [{"kind": "room_member_count", "is": 2}]},
        {"actions": [], "conditions": [{"kind": "sender_notification_permission"}]},
    ],
)
def test_malformed_bodies(body: Any) -> None:
    with pytest.raises(MalformedPushRuleError):
        parse_rule("override", "r", body)


@pytest.mark.parametrize(
    "body",
    [
        {"actions": ["notify_loudly"]},
        {"actions": [{"sound": "x"}]},
        {"actions": [], "conditions": [{"kind": "room_member_count", "is": "=2"}]},
        {"actions": [], "conditions": [{"kind": "room_member_count", "is": "two"}]},
        {"actions": [], "conditions": [{"kind": "event_property_is", "key": "k", "value": 1.5}]},
        {"actions": [], "conditions": [{"kind": "event_property_is", "key": "k", "value": [1]}]},
        {
            "actions": [],
            "conditions": [{"kind": "event_property_contains", "key": "k", "value": 2**53}],
        },
    ],
)
def test_invalid_values(body: Any) -> None:
    with pytest.raises(InvalidPushRuleError):
        parse_rule("underride", "r", body)


def test_content_rules_need_a_pattern() -> None:
    with pytest.raises(MalformedPushRuleError, match="pattern"):
        parse_rule("content", "r", {"actions": []})
    with pytest.raises(MalformedPushRuleError):
        parse_rule("content", "r", {"actions": [], "pattern": 3})


def test_what_a_valid_body_gives() -> None:
    rule = parse_rule(
        "override",
        "r",
        {
            "actions": ["notify", "dont_notify", "coalesce", {"set_tweak": "led", "value": "on"}],
            "conditions": [
                {"kind": "org.example.future", "anything": [1]},
                {"kind": "event_property_is", "key": "content.x", "value": None},
                {"kind": "contains_display_name"},
            ],
            "pattern": "ignored for override rules",
            "org.example.extra": True,
        },
    )
    assert rule == PushRule(
        RuleKind.OVERRIDE,
        "r",
        ("notify", {"set_tweak": "led", "value": "on"}),
        conditions=(
            {"kind": "org.example.future", "anything": [1]},
            {"kind": "event_property_is", "key": "content.x", "value": None},
            {"kind": "contains_display_name"},
        ),
    )
    assert "pattern" not in rule.to_json()
    room = parse_rule("room", "!r:example.org", {"actions": [], "conditions": "ignored"})
    assert room.conditions == () and "conditions" not in room.to_json()
    content = parse_rule("content", "c", {"actions": [], "pattern": "x*"}).to_json()
    assert content == {
        "rule_id": "c",
        "default": False,
        "enabled": True,
        "actions": [],
        "pattern": "x*",
    }


def test_historical_actions_are_stripped() -> None:
    assert parse_actions(["dont_notify"]) == ()
    assert parse_actions(["coalesce", "notify"]) == ("notify",)
    # A stored rule that still has them evaluates as if they were not there.
    stored = UserPushRules(
        rules={RuleKind.UNDERRIDE: (PushRule(RuleKind.UNDERRIDE, "old", ("dont_notify",)),)}
    )
    assert evaluate(merge_ruleset(ALICE, stored), _message("hi"), CTX) == ()


def test_errors_are_protocol_errors() -> None:
    for error in (
        MalformedPushRuleError,
        InvalidPushRuleError,
        PushRuleNotFoundError,
        PushRuleAnchorNotFoundError,
    ):
        assert issubclass(error, PushRuleError) and issubclass(error, ProtocolError)
    assert parse_kind("sender") is RuleKind.SENDER


# --- DELETE, enabled, actions -------------------------------------------------------------------


def test_delete() -> None:
    stored = put_rule(UserPushRules(), "sender", "@spambot:matrix.org", {"actions": []})
    assert _ids(delete_rule(stored, "sender", "@spambot:matrix.org"), RuleKind.SENDER) == []
    with pytest.raises(PushRuleNotFoundError):
        delete_rule(stored, "room", "@spambot:matrix.org")
    with pytest.raises(InvalidPushRuleError):
        delete_rule(stored, "override", ".m.rule.master")


def test_enabled_and_actions_need_an_existing_rule() -> None:
    with pytest.raises(PushRuleNotFoundError):
        set_enabled(UserPushRules(), ALICE, "override", "nope", True)
    with pytest.raises(PushRuleNotFoundError):
        set_actions(UserPushRules(), ALICE, "override", "nope", [])
    with pytest.raises(PushRuleNotFoundError):
        set_enabled(UserPushRules(), ALICE, "underride", ".m.rule.master", True)
    with pytest.raises(MalformedPushRuleError):
        set_enabled(UserPushRules(), ALICE, "override", ".m.rule.master", "yes")
    with pytest.raises(InvalidPushRuleError):
        set_actions(UserPushRules(), ALICE, "override", ".m.rule.master", ["bogus"])


def test_actions_of_user_rules() -> None:
    stored = put_rule(UserPushRules(), "room", "!r:example.org", {"actions": []})
    stored = set_actions(stored, ALICE, "room", "!r:example.org", ["notify"])
    assert stored.user_rules(RuleKind.ROOM)[0].actions == ("notify",)
    assert evaluate(merge_ruleset(ALICE, stored), _message("hi"), CTX) == ("notify",)


def test_storage_json_round_trip() -> None:
    stored = put_rule(UserPushRules(), "content", "tea", {"pattern": "tea", "actions": ["notify"]})
    stored = put_rule(
        stored,
        "override",
        "o",
        {"actions": [], "conditions": [{"kind": "event_match", "key": "type", "pattern": "x"}]},
    )
    stored = set_enabled(stored, ALICE, "override", "o", False)
    stored = set_enabled(stored, ALICE, "override", ".m.rule.master", True)
    stored = set_actions(stored, ALICE, "underride", ".m.rule.call", [])
    again = UserPushRules.from_json(stored.to_json())
    assert again == stored
    assert merge_ruleset(ALICE, again).to_json() == merge_ruleset(ALICE, stored).to_json()
