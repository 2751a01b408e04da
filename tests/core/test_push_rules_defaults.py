"""Tests for the predefined push rules (spec: Client-Server API, "Predefined Rules").

Each default rule is evaluated against events it should and should not match, through the whole
default ruleset, so that the spec's order (first match wins) is tested too.
"""

from typing import Any

import pytest

from myelin.core.push.evaluation import (
    PushContext,
    evaluate,
    first_matching_rule,
    should_highlight,
    should_notify,
    sound,
)
from myelin.core.push.rules import RuleKind, default_rules
from myelin.core.push.ruleset import Ruleset, UserPushRules, merge_ruleset

ALICE = "@alice:example.org"
BOB = "@bob:example.org"
ROOM = "!room:example.org"


def _event(type_: str, content: dict[str, Any], **extra: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": type_,
        "content": content,
        "sender": BOB,
        "room_id": ROOM,
        "event_id": "$e:example.org",
    }
    event.update(extra)
    return event


def _ctx(member_count: int = 5, sender_power_level: int = 0) -> PushContext:
    return PushContext(
        user_id=ALICE,
        member_count=member_count,
        display_name="Alice",
        sender_power_level=sender_power_level,
        notification_levels={"room": 50},
    )


def _ruleset() -> Ruleset:
    return merge_ruleset(ALICE, UserPushRules())


def _first(event: dict[str, Any], ctx: PushContext | None = None) -> str | None:
    rule = first_matching_rule(_ruleset(), event, ctx or _ctx())
    return None if rule is None else rule.rule_id


def test_the_spec_order_of_default_rules() -> None:
    rules = default_rules(ALICE)
    assert [r.rule_id for r in rules[RuleKind.OVERRIDE]] == [
        ".m.rule.master",
        ".m.rule.suppress_notices",
        ".m.rule.invite_for_me",
        ".m.rule.member_event",
        ".m.rule.is_user_mention",
        ".m.rule.is_room_mention",
        ".m.rule.tombstone",
        ".m.rule.reaction",
        ".m.rule.room.server_acl",
        ".m.rule.suppress_edits",
    ]
    assert [r.rule_id for r in rules[RuleKind.UNDERRIDE]] == [
        ".m.rule.call",
        ".m.rule.encrypted_room_one_to_one",
        ".m.rule.room_one_to_one",
        ".m.rule.message",
        ".m.rule.encrypted",
    ]
    # Spec v1.17 removed the legacy body-mention rules, the only default content rules.
    assert rules[RuleKind.CONTENT] == ()
    assert rules[RuleKind.ROOM] == rules[RuleKind.SENDER] == ()
    every = [r for kind in rules.values() for r in kind]
    assert all(r.default and r.rule_id.startswith(".") for r in every)
    assert [r.rule_id for r in every if not r.enabled] == [".m.rule.master"]


def test_default_rules_as_the_spec_defines_them() -> None:
    by_id = {r.rule_id: r.to_json() for kind in default_rules(ALICE).values() for r in kind}
    assert by_id[".m.rule.master"] == {
        "rule_id": ".m.rule.master",
        "default": True,
        "enabled": False,
        "conditions": [],
        "actions": [],
    }
    assert by_id[".m.rule.invite_for_me"] == {
        "rule_id": ".m.rule.invite_for_me",
        "default": True,
        "enabled": True,
        "conditions": [
            {"kind": "event_match", "key": "type", "pattern": "m.room.member"},
            {"kind": "event_match", "key": "content.membership", "pattern": "invite"},
            {"kind": "event_match", "key": "state_key", "pattern": ALICE},
        ],
        "actions": ["notify", {"set_tweak": "sound", "value": "default"}],
    }
    assert by_id[".m.rule.is_user_mention"]["conditions"] == [
        {"kind": "event_property_contains", "key": "content.m\\.mentions.user_ids", "value": ALICE}
    ]
    assert by_id[".m.rule.is_room_mention"]["conditions"] == [
        {"kind": "event_property_is", "key": "content.m\\.mentions.room", "value": True},
        {"kind": "sender_notification_permission", "key": "room"},
    ]
    assert by_id[".m.rule.call"]["actions"] == ["notify", {"set_tweak": "sound", "value": "ring"}]
    assert by_id[".m.rule.message"]["actions"] == ["notify"]


def test_default_rules_depend_on_the_user() -> None:
    bob = {r.rule_id: r for r in default_rules(BOB)[RuleKind.OVERRIDE]}
    assert bob[".m.rule.invite_for_me"].conditions[2]["pattern"] == BOB
    assert bob[".m.rule.is_user_mention"].conditions[0]["value"] == BOB


def test_master_matches_everything_when_enabled() -> None:
    stored = UserPushRules(default_enabled={(RuleKind.OVERRIDE, ".m.rule.master"): True})
    ruleset = merge_ruleset(ALICE, stored)
    event = _event("m.room.message", {"msgtype": "m.text", "body": "hi"})
    rule = first_matching_rule(ruleset, event, _ctx())
    assert rule is not None and rule.rule_id == ".m.rule.master"
    assert evaluate(ruleset, event, _ctx()) == ()


def test_suppress_notices() -> None:
    assert _first(_event("m.room.message", {"msgtype": "m.notice", "body": "x"})) == (
        ".m.rule.suppress_notices"
    )
    assert _first(_event("m.room.message", {"msgtype": "m.text", "body": "x"})) == ".m.rule.message"


def test_invite_for_me() -> None:
    invite = _event("m.room.member", {"membership": "invite"}, state_key=ALICE)
    assert _first(invite) == ".m.rule.invite_for_me"
    actions = evaluate(_ruleset(), invite, _ctx())
    assert should_notify(actions) and sound(actions) == "default" and not should_highlight(actions)
    # Someone else's invite, or Alice's join: only the silent member_event rule.
    assert _first(_event("m.room.member", {"membership": "invite"}, state_key=BOB)) == (
        ".m.rule.member_event"
    )
    assert _first(_event("m.room.member", {"membership": "join"}, state_key=ALICE)) == (
        ".m.rule.member_event"
    )
    assert (
        evaluate(_ruleset(), _event("m.room.member", {"membership": "join"}, state_key=BOB), _ctx())
        == ()
    )


def test_is_user_mention() -> None:
    mention = _event("m.room.message", {"body": "hey", "m.mentions": {"user_ids": [ALICE]}})
    assert _first(mention) == ".m.rule.is_user_mention"
    actions = evaluate(_ruleset(), mention, _ctx())
    assert should_notify(actions) and should_highlight(actions) and sound(actions) == "default"
    other = _event("m.room.message", {"body": ALICE, "m.mentions": {"user_ids": [BOB]}})
    assert _first(other) == ".m.rule.message"
    # A property literally named "m.mentions.user_ids" is not the nested one.
    flat = _event("m.room.message", {"body": "x", "m.mentions.user_ids": [ALICE]})
    assert _first(flat) == ".m.rule.message"


def test_is_room_mention_needs_the_sender_power_level() -> None:
    mention = _event("m.room.message", {"body": "@room", "m.mentions": {"room": True}})
    assert _first(mention, _ctx(sender_power_level=50)) == ".m.rule.is_room_mention"
    actions = evaluate(_ruleset(), mention, _ctx(sender_power_level=100))
    assert should_notify(actions) and should_highlight(actions) and sound(actions) is None
    assert _first(mention, _ctx(sender_power_level=49)) == ".m.rule.message"
    # "true" as a string is not the boolean true.
    stringly = _event("m.room.message", {"body": "x", "m.mentions": {"room": "true"}})
    assert _first(stringly, _ctx(sender_power_level=100)) == ".m.rule.message"
    # The legacy "@room" in the body no longer notifies specially (spec v1.17).
    assert (
        _first(_event("m.room.message", {"body": "@room"}), _ctx(sender_power_level=100))
        == ".m.rule.message"
    )


def test_tombstone_only_as_a_state_event() -> None:
    tombstone = _event("m.room.tombstone", {"body": "moved"}, state_key="")
    assert _first(tombstone) == ".m.rule.tombstone"
    assert should_highlight(evaluate(_ruleset(), tombstone, _ctx()))
    assert _first(_event("m.room.tombstone", {"body": "moved"})) is None


def test_reaction_is_silent() -> None:
    reaction = _event(
        "m.reaction", {"m.relates_to": {"rel_type": "m.annotation", "event_id": "$x", "key": "👍"}}
    )
    assert _first(reaction) == ".m.rule.reaction"
    assert evaluate(_ruleset(), reaction, _ctx(member_count=2)) == ()


def test_server_acl_is_silent() -> None:
    acl = _event("m.room.server_acl", {"allow": ["*"]}, state_key="")
    assert _first(acl) == ".m.rule.room.server_acl"
    assert _first(_event("m.room.server_acl", {"allow": ["*"]})) is None


def test_suppress_edits() -> None:
    edit = _event(
        "m.room.message",
        {
            "body": "* fixed",
            "m.new_content": {"body": "fixed"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": "$orig"},
        },
    )
    assert _first(edit, _ctx(member_count=2)) == ".m.rule.suppress_edits"
    reply = _event("m.room.message", {"body": "x", "m.relates_to": {"rel_type": "m.thread"}})
    assert _first(reply) == ".m.rule.message"


def test_call() -> None:
    call = _event("m.call.invite", {"call_id": "1"})
    assert _first(call) == ".m.rule.call"
    assert sound(evaluate(_ruleset(), call, _ctx())) == "ring"
    assert _first(_event("m.call.hangup", {"call_id": "1"})) is None


@pytest.mark.parametrize(
    ("type_", "members", "rule_id", "sound_name"),
    [
        ("m.room.encrypted", 2, ".m.rule.encrypted_room_one_to_one", "default"),
        ("m.room.encrypted", 3, ".m.rule.encrypted", None),
        ("m.room.message", 2, ".m.rule.room_one_to_one", "default"),
        ("m.room.message", 3, ".m.rule.message", None),
        ("m.room.message", 1, ".m.rule.message", None),
    ],
)
def test_one_to_one_and_group_messages(
    type_: str, members: int, rule_id: str, sound_name: str | None
) -> None:
    event = _event(type_, {"body": "hi", "msgtype": "m.text"})
    assert _first(event, _ctx(member_count=members)) == rule_id
    actions = evaluate(_ruleset(), event, _ctx(member_count=members))
    assert should_notify(actions) and sound(actions) == sound_name


def test_unmatched_events_do_not_notify() -> None:
    assert _first(_event("m.room.topic", {"topic": "x"}, state_key="")) is None
    assert evaluate(_ruleset(), _event("m.room.topic", {"topic": "x"}, state_key=""), _ctx()) == ()


def test_own_events_never_notify() -> None:
    event = _event("m.room.message", {"body": "hi"}, sender=ALICE)
    assert first_matching_rule(_ruleset(), event, _ctx()) is not None
    assert evaluate(_ruleset(), event, _ctx()) == ()
