"""One event evaluated for many users (``myelin.core.push.batch``) gives exactly the actions of
the plain ``evaluate`` for each of them (spec: Client-Server API, "Push Rules").

The users differ in their rules (user-defined rules of every kind, disabled and re-actioned
default rules), display names and mentions; answers remembered for one user must never leak to
another whose rules, name or ID differ.
"""

import json
from dataclasses import replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from myelin.core.push import (
    EventEvaluator,
    PushContext,
    RuleKind,
    UserPushRules,
    compile_ruleset,
    evaluate,
    merge_ruleset,
    put_rule,
    set_actions,
    set_enabled,
)
from myelin.core.push.batch import NO_ACTIONS, outcome_of
from myelin.core.push.ruleset import Ruleset

ROOM = "!room:example.org"
ALICE, BOB, CAROL, DAVE, ERIN, FRANK = (
    f"@{name}:example.org" for name in ("alice", "bob", "carol", "dave", "erin", "frank")
)
HIGHLIGHT = {"set_tweak": "highlight"}


def _tags_rule(stored: UserPushRules, value: Any) -> UserPushRules:
    """An override for events whose ``content.tags`` array holds ``value``."""
    return put_rule(
        stored,
        "override",
        f"tags-{value}",
        {
            "conditions": [
                {"kind": "event_property_contains", "key": "content.tags", "value": value}
            ],
            "actions": ["notify", {"set_tweak": "sound", "value": f"tag {value}"}],
        },
    )


def _stored() -> dict[str, UserPushRules]:
    """Users whose rules differ in every way the spec allows."""
    none = UserPushRules()
    # Bob: a user-defined override on a condition nobody else has, and one on his display name.
    bob = put_rule(
        none,
        "override",
        "lunch",
        {
            "conditions": [{"kind": "event_match", "key": "content.body", "pattern": "lunch"}],
            "actions": ["notify", HIGHLIGHT],
        },
    )
    bob = put_rule(
        bob,
        "override",
        "name",
        {"conditions": [{"kind": "contains_display_name"}], "actions": ["notify", HIGHLIGHT]},
    )
    # Carol: content, room and sender rules; a disabled default rule; a flag matched exactly.
    carol = put_rule(none, "content", "tea", {"pattern": "tea", "actions": ["notify", HIGHLIGHT]})
    carol = put_rule(carol, "sender", ALICE, {"actions": []})
    carol = put_rule(carol, "room", "!other:example.org", {"actions": []})
    carol = set_enabled(carol, CAROL, "override", ".m.rule.suppress_notices", False)
    carol = put_rule(
        carol,
        "override",
        "flag-true",
        {
            "conditions": [{"kind": "event_property_is", "key": "content.flag", "value": True}],
            "actions": ["notify", {"set_tweak": "sound", "value": "true"}],
        },
    )
    # Dave: everything off (master), the same flag condition with 1 instead of true otherwise.
    dave = set_enabled(none, DAVE, "override", ".m.rule.master", True)
    # Erin: the flag with 1; messages re-actioned, with historical actions to strip; the room
    # muted; a disabled user rule that would match everything.
    erin = put_rule(
        none,
        "override",
        "flag-one",
        {
            "conditions": [{"kind": "event_property_is", "key": "content.flag", "value": 1}],
            "actions": ["notify", {"set_tweak": "sound", "value": "one"}],
        },
    )
    erin = put_rule(erin, "underride", "all", {"actions": ["notify", HIGHLIGHT]})
    erin = set_enabled(erin, ERIN, "underride", "all", False)
    erin = set_actions(erin, ERIN, "underride", ".m.rule.call", ["notify"])
    # Stored before historical actions were stripped on the way in.
    message = (RuleKind.UNDERRIDE, ".m.rule.message")
    erin = replace(erin, default_actions={**erin.default_actions, message: ("dont_notify",)})
    erin = put_rule(
        erin,
        "underride",
        "small-rooms",
        {
            "conditions": [{"kind": "room_member_count", "is": "<4"}],
            "actions": ["notify", {"set_tweak": "sound", "value": "small"}],
        },
    )
    # Frank: a room rule for this room, his own display name rule and a rule on a custom level.
    frank = put_rule(none, "room", ROOM, {"actions": ["notify", {"set_tweak": "sound", "v": 1}]})
    frank = put_rule(
        frank,
        "override",
        "my-name",
        {"conditions": [{"kind": "contains_display_name"}], "actions": ["notify", "coalesce"]},
    )
    frank = put_rule(
        frank,
        "override",
        "pl-custom",
        {
            "conditions": [
                {"kind": "event_match", "key": "content.msgtype", "pattern": "m.emote"},
                {"kind": "sender_notification_permission", "key": "custom"},
            ],
            "actions": ["notify", HIGHLIGHT],
        },
    )
    # Arrays matched exactly: true, 1 and null are different items.
    frank, erin, carol = _tags_rule(frank, True), _tags_rule(erin, 1), _tags_rule(carol, None)
    return {ALICE: none, BOB: bob, CAROL: carol, DAVE: dave, ERIN: erin, FRANK: frank}


def _rulesets() -> dict[str, Ruleset]:
    return {user: merge_ruleset(user, stored) for user, stored in _stored().items()}


NAMES: dict[str, str | None] = {
    ALICE: "Alice",
    BOB: "Robert",
    CAROL: None,
    DAVE: "Dave",
    ERIN: "Robert",  # the same name as Bob, without his rule
    FRANK: "F*nk",  # matched literally, not as a glob
}


def _message(body: Any = "hello", **content: Any) -> dict[str, Any]:
    return {
        "type": "m.room.message",
        "content": {"msgtype": "m.text", "body": body, **content},
        "sender": ALICE,
        "room_id": ROOM,
    }


EVENTS: list[dict[str, Any]] = [
    _message(),
    _message("time for lunch, Robert?"),
    _message("Tea at five"),
    _message("F*nk and Frank"),
    _message("a notice", msgtype="m.notice"),
    _message("look", **{"m.mentions": {"user_ids": [BOB, CAROL]}}),
    _message("all", **{"m.mentions": {"room": True}}),
    _message("flag", flag=True),
    _message("flag", flag=1),
    _message("tags", tags=[1, "x"]),
    _message("tags", tags=[True]),
    _message("tags", tags=[None, 1.5, [1], {"a": True}]),
    _message("tags", tags=[[True], "1", 1.0]),
    _message("tags", tags=True),
    _message("emote", msgtype="m.emote"),
    _message(["not", "a", "string"]),
    _message("edit", **{"m.relates_to": {"rel_type": "m.replace", "event_id": "$x"}}),
    {**_message(), "sender": BOB},
    {**_message(), "sender": "@stranger:example.org"},
    {**_message(), "room_id": "!other:example.org"},
    {"type": "m.room.encrypted", "content": {"ciphertext": "x"}, "sender": ALICE, "room_id": ROOM},
    {"type": "m.call.invite", "content": {}, "sender": ALICE, "room_id": ROOM},
    {"type": "m.reaction", "content": {}, "sender": ALICE, "room_id": ROOM},
    {
        "type": "m.room.member",
        "state_key": CAROL,
        "content": {"membership": "invite"},
        "sender": ALICE,
        "room_id": ROOM,
    },
    {"type": "m.room.tombstone", "state_key": "", "content": {}, "sender": BOB, "room_id": ROOM},
]


def _plain(
    ruleset: Ruleset, event: dict[str, Any], user: str, count: int, level: int
) -> tuple[Any, ...]:
    context = PushContext(user, count, NAMES[user], level, {"room": 50, "custom": 80})
    return evaluate(ruleset, event, context)


def _check_all(event: dict[str, Any], count: int, level: int, order: list[str]) -> None:
    rulesets = _rulesets()
    compiled = {user: compile_ruleset(user, ruleset) for user, ruleset in rulesets.items()}
    evaluator = EventEvaluator(
        event,
        member_count=count,
        sender_power_level=level,
        notification_levels={"room": 50, "custom": 80},
    )
    for user in order:
        expected = _plain(rulesets[user], event, user, count, level)
        assert evaluator.actions(compiled[user], NAMES[user]) == expected, (user, event)


def test_the_same_actions_as_the_plain_path_for_every_user_in_any_order() -> None:
    users = list(NAMES)
    for event in EVENTS:
        for count, level in ((2, 0), (3, 50), (10, 100)):
            _check_all(event, count, level, users)
            _check_all(event, count, level, users[::-1])


def test_a_condition_only_one_user_has_does_not_leak() -> None:
    rulesets = _rulesets()
    event = {**_message("lunch?"), "sender": "@x:example.org"}
    evaluator = EventEvaluator(event, member_count=10)
    bob, alice = compile_ruleset(BOB, rulesets[BOB]), compile_ruleset(ALICE, rulesets[ALICE])
    assert evaluator.actions(bob, "Robert") == ("notify", HIGHLIGHT)
    assert evaluator.actions(alice, "Alice") == ("notify",)
    # Bob's display name rule holds for his name; Carol, with the same name, has no such rule.
    event = {**_message("thanks Robert"), "sender": "@x:example.org"}
    evaluator = EventEvaluator(event, member_count=10)
    carol = compile_ruleset(CAROL, rulesets[CAROL])
    assert evaluator.actions(bob, "Robert") == ("notify", HIGHLIGHT)
    assert evaluator.actions(carol, "Robert") == ("notify",)
    assert evaluator.actions(bob, "Bob") == ("notify",)


def test_true_and_one_are_different_conditions() -> None:
    rulesets = _rulesets()
    carol, erin = compile_ruleset(CAROL, rulesets[CAROL]), compile_ruleset(ERIN, rulesets[ERIN])
    evaluator = EventEvaluator(
        {**_message("x", flag=1), "sender": "@x:example.org"}, member_count=10
    )
    assert evaluator.actions(carol, None) == ("notify",)  # the default message rule
    assert evaluator.actions(erin, None) == ("notify", {"set_tweak": "sound", "value": "one"})
    evaluator = EventEvaluator({**_message("x", flag=True), "sender": BOB}, member_count=10)
    assert evaluator.actions(erin, None) == ()  # her message rule: dont_notify, stripped
    outcome = evaluator.outcome(carol, None)
    assert outcome.actions == ("notify", {"set_tweak": "sound", "value": "true"})
    assert outcome.notify and not outcome.highlight


def test_own_events_and_no_match_give_no_actions() -> None:
    alice = compile_ruleset(ALICE, merge_ruleset(ALICE, UserPushRules()))
    evaluator = EventEvaluator(_message(), member_count=10)
    assert evaluator.outcome(alice, "Alice") is NO_ACTIONS
    evaluator = EventEvaluator({**_message(), "type": "org.example.custom"}, member_count=10)
    assert evaluator.outcome(compile_ruleset(BOB, _rulesets()[BOB]), None) is NO_ACTIONS


def test_outcomes_strip_historical_actions_and_are_shared() -> None:
    outcome = outcome_of(("dont_notify", "notify", {"set_tweak": "highlight"}, "coalesce"))
    assert outcome.actions == ("notify", {"set_tweak": "highlight"})
    assert outcome.notify and outcome.highlight
    assert json.loads(outcome.text) == ["notify", {"set_tweak": "highlight"}]
    assert outcome_of(("notify", {"set_tweak": "highlight"})) is not outcome  # other input
    assert outcome_of(("notify",)) is outcome_of(("notify",))
    assert outcome_of(("notify",)).text == '["notify"]'
    silent = outcome_of(("dont_notify",))
    assert silent.actions == () and not silent.notify and not silent.highlight
    assert not outcome_of(("notify", {"set_tweak": "highlight", "value": False})).highlight
    # Disabled rules are not compiled at all; the master rule is, once enabled.
    dave = compile_ruleset(DAVE, _rulesets()[DAVE])
    assert dave.rules[0].rule_id == ".m.rule.master" and dave.rules[0].tests == ()
    alice = compile_ruleset(ALICE, _rulesets()[ALICE])
    assert ".m.rule.master" not in [rule.rule_id for rule in alice.rules]


_WORDS = st.sampled_from(["lunch", "Tea", "Robert", "F*nk", "Alice", "hi", "!", " "])


@st.composite
def _events(draw: st.DrawFn) -> dict[str, Any]:
    mentions: dict[str, Any] = {"user_ids": draw(st.lists(st.sampled_from(list(NAMES))))}
    room_mention = draw(st.sampled_from([None, True, False, 1]))
    if room_mention is not None:
        mentions["room"] = room_mention
    content: dict[str, Any] = {"m.mentions": mentions}
    flag = draw(st.sampled_from([None, True, 1, "1"]))
    if flag is not None:
        content["flag"] = flag
    items = st.sampled_from([True, False, 1, 0, "1", None, 1.0, [1], {"a": 1}])
    tags = draw(st.one_of(st.none(), st.lists(items, max_size=3), items))
    if tags is not None:
        content["tags"] = tags
    body = " ".join(draw(st.lists(_WORDS, max_size=5)))
    msgtype = draw(st.sampled_from(["m.text", "m.notice", "m.emote"]))
    sender = draw(st.sampled_from([ALICE, BOB, "@x:example.org"]))
    return {**_message(body, msgtype=msgtype, **content), "sender": sender}


@settings(max_examples=150, deadline=None)
@given(
    event=_events(),
    count=st.integers(min_value=1, max_value=6),
    level=st.sampled_from([0, 50, 80, 100]),
    order=st.permutations(list(NAMES)),
)
def test_random_events_agree_with_the_plain_path(
    event: dict[str, Any], count: int, level: int, order: list[str]
) -> None:
    _check_all(event, count, level, order)
