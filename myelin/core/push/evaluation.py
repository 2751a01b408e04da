"""Evaluating push rules against an event (spec: Client-Server API, "Push Rules", "Conditions",
"Actions").

The first enabled rule that matches, in the ruleset's order, gives the actions. Everything a
condition needs beyond the event is passed in a ``PushContext`` as plain data; nothing is looked up.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from myelin.core.push.glob import glob_matches, glob_matches_words
from myelin.core.push.property_paths import ABSENT, lookup
from myelin.core.push.rules import Action, Condition, PushRule, RuleKind
from myelin.core.push.ruleset import (
    MEMBER_COUNT_RE,
    Ruleset,
    is_valid_property_value,
    strip_historical_actions,
)

# The level a notification key requires when the power levels do not say ("room": 50).
DEFAULT_NOTIFICATION_LEVEL = 50
_BODY_KEY = "content.body"


@dataclass(frozen=True)
class PushContext:
    """What evaluation needs to know about the user and the room, as plain data.

    ``notification_levels``: the ``notifications`` object of the room's power levels (a key that
    is absent requires ``DEFAULT_NOTIFICATION_LEVEL``). ``sender_power_level``: the event sender's
    power level in the room. ``display_name``: the user's display name in the room, if any.
    """

    user_id: str
    member_count: int
    display_name: str | None = None
    sender_power_level: int = 0
    notification_levels: Mapping[str, int] = field(default_factory=dict)


# --- Conditions ---------------------------------------------------------------------------------


def _same_value(a: Any, b: Any) -> bool:
    """Exact equality of non-compound JSON values: no casts (``true`` is not ``1``)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return type(a) is type(b) and a == b


def _event_match(condition: Condition, event: Mapping[str, Any]) -> bool:
    key, pattern = condition.get("key"), condition.get("pattern")
    if not isinstance(key, str) or not isinstance(pattern, str):
        return False
    value = lookup(event, key)
    # Absent or not a string: no match, even for the pattern "*".
    if not isinstance(value, str):
        return False
    # content.body: any substring starting and ending at word boundaries.
    if key == _BODY_KEY:
        return glob_matches_words(pattern, value)
    return glob_matches(pattern, value)


def _event_property_is(condition: Condition, event: Mapping[str, Any]) -> bool:
    key = condition.get("key")
    if not isinstance(key, str) or "value" not in condition:
        return False
    expected = condition["value"]
    value = lookup(event, key)
    if value is ABSENT or not is_valid_property_value(value):
        return False
    return is_valid_property_value(expected) and _same_value(value, expected)


def _event_property_contains(condition: Condition, event: Mapping[str, Any]) -> bool:
    key = condition.get("key")
    if not isinstance(key, str) or "value" not in condition:
        return False
    expected = condition["value"]
    values = lookup(event, key)
    if not isinstance(values, list) or not is_valid_property_value(expected):
        return False
    # Array values that are not non-compound canonical JSON values are ignored.
    return any(is_valid_property_value(v) and _same_value(v, expected) for v in values)


def contains_display_name(event: Mapping[str, Any], name: str | None) -> bool:
    """Whether ``content.body`` contains the display name ``name`` (none: no)."""
    body = lookup(event, _BODY_KEY)
    if not name or not isinstance(body, str):
        return False
    # The name is matched literally (its * and ? are not wildcards), at word boundaries.
    word = "(?-i:[A-Za-z0-9_])"
    regex = f"(?<!{word}){re.escape(name)}(?!{word})"
    return re.search(regex, body, re.IGNORECASE | re.DOTALL) is not None


def member_count_matches(spec: str, member_count: int) -> bool:
    """Whether ``member_count`` satisfies a ``room_member_count`` ``is`` value (bad ones: no)."""
    parsed = MEMBER_COUNT_RE.fullmatch(spec)
    if parsed is None:
        return False
    operator, number = parsed.group(1) or "==", int(parsed.group(2))
    if operator == "==":
        return member_count == number
    if operator == "<":
        return member_count < number
    if operator == ">":
        return member_count > number
    if operator == "<=":
        return member_count <= number
    return member_count >= number


def _sender_notification_permission(condition: Condition, context: PushContext) -> bool:
    key = condition.get("key")
    if not isinstance(key, str):
        return False
    required = context.notification_levels.get(key, DEFAULT_NOTIFICATION_LEVEL)
    return context.sender_power_level >= required


def condition_matches(condition: Condition, event: Mapping[str, Any], context: PushContext) -> bool:
    """Whether one condition holds; unrecognised conditions MUST NOT match any event."""
    kind = condition.get("kind")
    if kind == "event_match":
        return _event_match(condition, event)
    if kind == "event_property_is":
        return _event_property_is(condition, event)
    if kind == "event_property_contains":
        return _event_property_contains(condition, event)
    if kind == "contains_display_name":
        return contains_display_name(event, context.display_name)
    if kind == "room_member_count":
        spec = condition.get("is")
        return isinstance(spec, str) and member_count_matches(spec, context.member_count)
    if kind == "sender_notification_permission":
        return _sender_notification_permission(condition, context)
    return False


def rule_matches(rule: PushRule, event: Mapping[str, Any], context: PushContext) -> bool:
    """Whether an enabled ``rule`` matches ``event`` (a disabled rule never matches)."""
    if not rule.enabled:
        return False
    if rule.kind is RuleKind.CONTENT:
        # A content rule's pattern is matched like event_match on content.body.
        if rule.pattern is None:
            return False
        return _event_match({"key": _BODY_KEY, "pattern": rule.pattern}, event)
    if rule.kind is RuleKind.ROOM:
        # The rule ID of a room rule is the ID of the room it affects.
        return event.get("room_id") == rule.rule_id
    if rule.kind is RuleKind.SENDER:
        # The rule ID of a sender rule is the user ID of the sender.
        return event.get("sender") == rule.rule_id
    # Override and underride: all conditions must hold; no conditions always matches.
    return all(condition_matches(c, event, context) for c in rule.conditions)


def first_matching_rule(
    ruleset: Ruleset, event: Mapping[str, Any], context: PushContext
) -> PushRule | None:
    """The highest-priority enabled rule that matches ``event``, if any."""
    for rule in ruleset.in_order():
        if rule_matches(rule, event, context):
            return rule
    return None


def evaluate(
    ruleset: Ruleset, event: Mapping[str, Any], context: PushContext
) -> tuple[Action, ...]:
    """The actions for ``event``: those of the first matching rule, else none.

    Homeservers MUST NOT notify for events the user sent themselves: their actions are empty.
    Historical actions (``dont_notify``, ``coalesce``) are stripped.
    """
    if event.get("sender") == context.user_id:
        return ()
    rule = first_matching_rule(ruleset, event, context)
    return () if rule is None else strip_historical_actions(rule.actions)


# --- Actions ------------------------------------------------------------------------------------


def tweaks(actions: tuple[Action, ...] | list[Action]) -> dict[str, Any]:
    """The ``tweaks`` the actions set, for the push gateway; a later ``set_tweak`` wins.

    A tweak without ``value`` is recorded as ``True`` (the spec's meaning for ``highlight``).
    """
    found: dict[str, Any] = {}
    for action in actions:
        if isinstance(action, Mapping) and isinstance(action.get("set_tweak"), str):
            found[action["set_tweak"]] = action.get("value", True)
    return found


def should_notify(actions: tuple[Action, ...] | list[Action]) -> bool:
    """Whether the actions generate a notification (they contain ``notify``)."""
    return any(action == "notify" for action in actions)


def should_highlight(actions: tuple[Action, ...] | list[Action]) -> bool:
    """The ``highlight`` tweak: true when given without a value, false when not given."""
    return tweaks(actions).get("highlight", False) is True


def sound(actions: tuple[Action, ...] | list[Action]) -> str | None:
    """The ``sound`` tweak (``"default"`` for the default sound), if a string was set."""
    value = tweaks(actions).get("sound")
    return value if isinstance(value, str) else None
