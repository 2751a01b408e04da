"""Evaluating one event for many users (spec: Client-Server API, "Push Rules", "Conditions",
"Actions").

The same semantics as ``evaluation.evaluate``, made cheap when one event is evaluated for every
member of a room. Within one event, with one member count, sender power level and set of
notification levels, a condition gives the same answer for every user except
``contains_display_name``, whose answer depends only on the user's display name. So:

- ``compile_ruleset`` turns a user's ruleset, once (keep it with the cached ruleset), into its
  enabled rules in order, each with the hashable keys of its tests and its ``Outcome``: the
  actions with historical ones stripped, whether they notify or highlight, and their JSON text.
  A content rule's pattern, a room or sender rule's ID and a condition's JSON (with sorted keys:
  ``true`` and ``1`` stay apart) make the keys, so equal tests share one key across users.
- ``EventEvaluator`` holds one event and its shared facts, and remembers each test's answer for
  that event, so each distinct test runs once for all the users it is evaluated for.
"""

import json
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from myelin.core.push.evaluation import (
    PushContext,
    condition_matches,
    contains_display_name,
    should_highlight,
    should_notify,
)
from myelin.core.push.property_paths import lookup
from myelin.core.push.rules import Action, Condition, RuleKind
from myelin.core.push.ruleset import Ruleset, is_valid_property_value, strip_historical_actions

_BODY_KEY = "content.body"
_CONDITION = "condition"
_ROOM = "room"
_SENDER = "sender"
# The key of contains_display_name: its answer is remembered per display name.
_DISPLAY_NAME = "contains_display_name"


@dataclass(frozen=True)
class Outcome:
    """What a matching rule does: ``actions`` (historical actions stripped), whether they
    notify and highlight, and ``text``, the compact JSON array of the actions."""

    actions: tuple[Action, ...]
    notify: bool
    highlight: bool
    text: str


NO_ACTIONS = Outcome((), False, False, "[]")


def _json_text(actions: tuple[Action, ...]) -> str:
    return json.dumps(list(actions), separators=(",", ":"))


@lru_cache(maxsize=1024)
def _outcome_of_text(text: str) -> Outcome:
    """The outcome of the actions whose JSON is ``text``: one shared object per distinct list."""
    actions = strip_historical_actions(tuple(json.loads(text)))
    return Outcome(actions, should_notify(actions), should_highlight(actions), _json_text(actions))


def outcome_of(actions: tuple[Action, ...]) -> Outcome:
    """The ``Outcome`` of a rule's ``actions``; equal actions give one shared object."""
    return _outcome_of_text(_json_text(actions)) if actions else NO_ACTIONS


# A test: its key (equal keys give equal answers for one event) and what evaluates it.
_Test = tuple[Hashable, Any]


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """An enabled rule: it matches when every one of its ``tests`` holds (none: always)."""

    rule_id: str
    kind: RuleKind
    tests: tuple[_Test, ...]
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class CompiledRuleset:
    """A user's ruleset prepared for ``EventEvaluator``: the enabled rules, in order.

    ``steps``: each rule's tests and outcome, as plain tuples for the evaluation loop."""

    user_id: str
    ruleset: Ruleset
    rules: tuple[CompiledRule, ...]
    steps: tuple[tuple[tuple[_Test, ...], Outcome], ...]


def _condition_key(condition: Condition) -> Hashable:
    if isinstance(condition, Mapping) and condition.get("kind") == _DISPLAY_NAME:
        return _DISPLAY_NAME
    return (_CONDITION, json.dumps(condition, sort_keys=True, separators=(",", ":")))


def compile_ruleset(user_id: str, ruleset: Ruleset) -> CompiledRuleset:
    """``ruleset`` of ``user_id`` prepared for ``EventEvaluator`` (do this once per ruleset).

    Disabled rules, and content rules without a pattern, never match: they are left out.
    """
    compiled: list[CompiledRule] = []
    for rule in ruleset.in_order():
        if not rule.enabled:
            continue
        tests: tuple[_Test, ...]
        if rule.kind is RuleKind.CONTENT:
            if rule.pattern is None:
                continue
            # A content rule's pattern is matched like event_match on content.body.
            condition = {"kind": "event_match", "key": _BODY_KEY, "pattern": rule.pattern}
            tests = ((_condition_key(condition), condition),)
        elif rule.kind is RuleKind.ROOM:
            tests = (((_ROOM, rule.rule_id), rule.rule_id),)
        elif rule.kind is RuleKind.SENDER:
            tests = (((_SENDER, rule.rule_id), rule.rule_id),)
        else:
            tests = tuple((_condition_key(c), c) for c in rule.conditions)
        compiled.append(CompiledRule(rule.rule_id, rule.kind, tests, outcome_of(rule.actions)))
    steps = tuple((rule.tests, rule.outcome) for rule in compiled)
    return CompiledRuleset(user_id, ruleset, tuple(compiled), steps)


class EventEvaluator:
    """One event evaluated for many users, remembering each test's answer for the event.

    ``member_count``, ``sender_power_level`` and ``notification_levels`` are as in
    ``PushContext``; they are the same for every user the event is evaluated for.
    """

    def __init__(
        self,
        event: Mapping[str, Any],
        *,
        member_count: int,
        sender_power_level: int = 0,
        notification_levels: Mapping[str, int] | None = None,
    ) -> None:
        self._event = event
        self._sender = event.get("sender")
        self._context = PushContext(
            user_id="",
            member_count=member_count,
            sender_power_level=sender_power_level,
            notification_levels={} if notification_levels is None else notification_levels,
        )
        self._answers: dict[Hashable, bool] = {}
        # event_property_contains: per key, the array's valid items as (type, value), or None.
        self._arrays: dict[str, frozenset[tuple[type, Any]] | None] = {}

    def outcome(self, compiled: CompiledRuleset, display_name: str | None) -> Outcome:
        """What the first matching rule of ``compiled`` does for this event (``NO_ACTIONS``
        when none matches, or when the user sent the event: they are never notified of it)."""
        if self._sender == compiled.user_id:
            return NO_ACTIONS
        answers = self._answers
        for tests, outcome in compiled.steps:
            for key, test in tests:
                # contains_display_name is the one test whose answer depends on the user:
                # remembered per display name.
                asked = (_DISPLAY_NAME, display_name) if key is _DISPLAY_NAME else key
                answer = answers.get(asked)
                if answer is None:
                    answer = answers[asked] = self._run(asked, test, display_name)
                if not answer:
                    break
            else:
                return outcome
        return NO_ACTIONS

    def actions(self, compiled: CompiledRuleset, display_name: str | None) -> tuple[Action, ...]:
        """The actions ``evaluate`` gives for this event and that user."""
        return self.outcome(compiled, display_name).actions

    def _run(self, key: Hashable, test: Any, display_name: str | None) -> bool:
        kind = key[0] if isinstance(key, tuple) else key
        if kind == _DISPLAY_NAME:
            return contains_display_name(self._event, display_name)
        if kind == _ROOM:
            # The rule ID of a room rule is the ID of the room it affects.
            return bool(self._event.get("room_id") == test)
        if kind == _SENDER:
            # The rule ID of a sender rule is the user ID of the sender.
            return bool(self._sender == test)
        if test.get("kind") == "event_property_contains":
            return self._property_contains(test)
        return condition_matches(test, self._event, self._context)

    def _property_contains(self, condition: Condition) -> bool:
        """``event_property_contains`` with the array's items gathered once per key: its
        conditions differ by user (``.m.rule.is_user_mention``), so they rarely share answers.

        Items match exactly as in ``evaluation``: same type and value (``true`` is not ``1``).
        """
        key = condition.get("key")
        if not isinstance(key, str) or "value" not in condition:
            return False
        if key in self._arrays:
            items = self._arrays[key]
        else:
            values = lookup(self._event, key)
            items = self._arrays[key] = (
                frozenset((type(v), v) for v in values if is_valid_property_value(v))
                if isinstance(values, list)
                else None
            )
        expected = condition["value"]
        if items is None or not is_valid_property_value(expected):
            return False
        return (type(expected), expected) in items
