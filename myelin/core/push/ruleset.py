"""A user's push ruleset (spec: Client-Server API, "Push Rules", "Push Rules: API").

What a user customises is kept apart from the server-default rules: ``UserPushRules`` holds the
user-defined rules of each kind (most important first) and the user's changes to the ``enabled``
flag and ``actions`` of server-default rules. ``merge_ruleset`` combines it with
``default_rules(user_id)`` into the effective ``Ruleset``.

The pure edits behind ``PUT``/``DELETE /pushrules/global/{kind}/{ruleId}`` and its ``/enabled`` and
``/actions`` sub-resources return a new ``UserPushRules`` or raise a ``PushRuleError``:
``MalformedPushRuleError`` (M_BAD_JSON), ``InvalidPushRuleError`` (M_INVALID_PARAM),
``PushRuleNotFoundError`` (404 M_NOT_FOUND), ``PushRuleAnchorNotFoundError`` (400 M_UNKNOWN).
"""

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from myelin.core.identifiers import is_valid_room_id, is_valid_user_id
from myelin.core.push.rules import (
    CONDITION_KINDS,
    KIND_ORDER,
    MASTER_RULE_ID,
    Action,
    Condition,
    InvalidPushRuleError,
    JsonDict,
    MalformedPushRuleError,
    PushRule,
    PushRuleAnchorNotFoundError,
    PushRuleNotFoundError,
    RuleKind,
    default_rules,
    parse_kind,
)

# Actions without parameters that this server knows.
KNOWN_SIMPLE_ACTIONS = frozenset({"notify"})
# Removed from the spec (v1.7); servers MUST ignore them, e.g. by stripping them.
HISTORICAL_ACTIONS = frozenset({"dont_notify", "coalesce"})
# room_member_count's "is": a decimal integer, optionally prefixed by ==, <, >, >= or <=.
MEMBER_COUNT_RE = re.compile(r"(==|<=|>=|<|>)?([0-9]+)")
# event_property_is / event_property_contains values: canonical JSON integers.
MAX_SAFE_INTEGER = 2**53 - 1

_KEYED_CONDITIONS = {
    "event_match": ("key", "pattern"),
    "event_property_is": ("key",),
    "event_property_contains": ("key",),
    "sender_notification_permission": ("key",),
    "room_member_count": ("is",),
    "contains_display_name": (),
}


# --- Validation of client-supplied rule bodies --------------------------------------------------


def strip_historical_actions(actions: tuple[Action, ...]) -> tuple[Action, ...]:
    """``actions`` without ``dont_notify`` and ``coalesce`` (spec: "Historical Actions")."""
    return tuple(a for a in actions if not (isinstance(a, str) and a in HISTORICAL_ACTIONS))


def parse_actions(value: Any) -> tuple[Action, ...]:
    """Validate a client's ``actions`` array; historical actions are stripped."""
    if not isinstance(value, list):
        raise MalformedPushRuleError("'actions' must be an array")
    actions: list[Action] = []
    for index, action in enumerate(value):
        if isinstance(action, str):
            if action in HISTORICAL_ACTIONS:
                continue
            if action not in KNOWN_SIMPLE_ACTIONS:
                raise InvalidPushRuleError(f"unrecognised action {action!r}")
            actions.append(action)
        elif isinstance(action, dict):
            tweak = action.get("set_tweak")
            if tweak is None:
                raise InvalidPushRuleError(f"unrecognised action at actions[{index}]")
            if not isinstance(tweak, str):
                raise MalformedPushRuleError(f"actions[{index}].set_tweak must be a string")
            actions.append(dict(action))
        else:
            raise MalformedPushRuleError(f"actions[{index}] must be a string or an object")
    return tuple(actions)


def is_valid_property_value(value: Any) -> bool:
    """A non-compound canonical JSON value: string, safe integer, boolean or null."""
    if value is None or isinstance(value, str | bool):
        return True
    return isinstance(value, int) and -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER


def parse_condition(value: Any, where: str) -> Condition:
    """Validate one condition; unknown condition kinds are kept (they never match)."""
    if not isinstance(value, dict):
        raise MalformedPushRuleError(f"{where} must be an object")
    kind = value.get("kind")
    if not isinstance(kind, str):
        raise MalformedPushRuleError(f"{where}.kind must be a string")
    for name in _KEYED_CONDITIONS.get(kind, ()):
        if not isinstance(value.get(name), str):
            raise MalformedPushRuleError(f"{where}.{name} must be a string for {kind}")
    if kind in ("event_property_is", "event_property_contains"):
        if "value" not in value:
            raise MalformedPushRuleError(f"{where}.value is required for {kind}")
        if not is_valid_property_value(value["value"]):
            raise InvalidPushRuleError(
                f"{where}.value must be a string, an integer within ±(2**53-1), a boolean or null"
            )
    if kind == "room_member_count" and not MEMBER_COUNT_RE.fullmatch(value["is"]):
        raise InvalidPushRuleError(
            f"{where}.is must be an integer, optionally after ==, <, >, <=, >="
        )
    return dict(value)


def validate_rule_id(kind: RuleKind, rule_id: str) -> None:
    """Check the ID of a rule a client creates (PUT ``/pushrules/global/{kind}/{ruleId}``)."""
    if not rule_id:
        raise InvalidPushRuleError("the rule ID must not be empty")
    if rule_id.startswith("."):
        raise InvalidPushRuleError(
            "rule IDs starting with '.' are reserved for server-default rules"
        )
    if "/" in rule_id or "\\" in rule_id:
        raise InvalidPushRuleError("rule IDs must not contain '/' or '\\'")
    # The rule ID of a room rule is the room's ID, of a sender rule the sender's user ID.
    if kind is RuleKind.ROOM and not is_valid_room_id(rule_id):
        raise InvalidPushRuleError(f"the rule ID of a room rule must be a room ID: {rule_id!r}")
    if kind is RuleKind.SENDER and not is_valid_user_id(rule_id):
        raise InvalidPushRuleError(f"the rule ID of a sender rule must be a user ID: {rule_id!r}")


def parse_rule(kind: RuleKind | str, rule_id: str, body: Any) -> PushRule:
    """Validate a PUT body into a new, enabled user-defined rule.

    ``actions`` is required; ``conditions`` (override and underride, default ``[]``) and
    ``pattern`` (content, required) are read only for the kinds they apply to, as other
    top-level keys may be present.
    """
    kind = parse_kind(kind) if not isinstance(kind, RuleKind) else kind
    validate_rule_id(kind, rule_id)
    if not isinstance(body, dict):
        raise MalformedPushRuleError("the push rule must be a JSON object")
    if "actions" not in body:
        raise MalformedPushRuleError("'actions' is required")
    actions = parse_actions(body["actions"])
    conditions: tuple[Condition, ...] = ()
    pattern: str | None = None
    if kind in CONDITION_KINDS:
        raw = body.get("conditions", [])
        if not isinstance(raw, list):
            raise MalformedPushRuleError("'conditions' must be an array")
        conditions = tuple(parse_condition(c, f"conditions[{i}]") for i, c in enumerate(raw))
    elif kind is RuleKind.CONTENT:
        pattern = body.get("pattern")
        if not isinstance(pattern, str):
            raise MalformedPushRuleError("content rules require a string 'pattern'")
    # When creating push rules, they MUST be enabled by default.
    return PushRule(kind, rule_id, actions, conditions=conditions, pattern=pattern)


# --- The user's customisations and the effective ruleset ---------------------------------------


def _empty_rules() -> dict[RuleKind, tuple[PushRule, ...]]:
    return {kind: () for kind in KIND_ORDER}


@dataclass(frozen=True)
class UserPushRules:
    """What one user changed: what a store persists (``to_json``/``from_json``).

    ``rules``: the user-defined rules of each kind, most important first. ``default_enabled`` and
    ``default_actions``: overrides of server-default rules, keyed by ``(kind, rule_id)``.
    """

    rules: Mapping[RuleKind, tuple[PushRule, ...]] = field(default_factory=_empty_rules)
    default_enabled: Mapping[tuple[RuleKind, str], bool] = field(default_factory=dict)
    default_actions: Mapping[tuple[RuleKind, str], tuple[Action, ...]] = field(default_factory=dict)

    def user_rules(self, kind: RuleKind) -> tuple[PushRule, ...]:
        return self.rules.get(kind, ())

    def to_json(self) -> JsonDict:
        """A JSON form for storage (not the client format)."""
        return {
            "rules": {
                kind.value: [rule.to_json() for rule in self.user_rules(kind)]
                for kind in KIND_ORDER
            },
            "default_enabled": [
                [kind.value, rule_id, enabled]
                for (kind, rule_id), enabled in self.default_enabled.items()
            ],
            "default_actions": [
                [kind.value, rule_id, [dict(a) if isinstance(a, Mapping) else a for a in actions]]
                for (kind, rule_id), actions in self.default_actions.items()
            ],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "UserPushRules":
        """Read back what ``to_json`` wrote."""
        rules = _empty_rules()
        for kind_name, items in data.get("rules", {}).items():
            kind = RuleKind(kind_name)
            rules[kind] = tuple(
                PushRule(
                    kind=kind,
                    rule_id=item["rule_id"],
                    actions=tuple(item["actions"]),
                    enabled=bool(item.get("enabled", True)),
                    conditions=tuple(item.get("conditions", ())),
                    pattern=item.get("pattern"),
                )
                for item in items
            )
        enabled = {(RuleKind(k), r): bool(e) for k, r, e in data.get("default_enabled", [])}
        actions = {(RuleKind(k), r): tuple(a) for k, r, a in data.get("default_actions", [])}
        return cls(rules, enabled, actions)


@dataclass(frozen=True)
class Ruleset:
    """The effective rules of one user, each kind in priority order (most important first)."""

    rules: Mapping[RuleKind, tuple[PushRule, ...]]

    def in_order(self) -> Iterator[PushRule]:
        """Every rule in the order evaluation checks them."""
        for kind in KIND_ORDER:
            yield from self.rules.get(kind, ())

    def find(self, kind: RuleKind, rule_id: str) -> PushRule:
        for rule in self.rules.get(kind, ()):
            if rule.rule_id == rule_id:
                return rule
        raise PushRuleNotFoundError(f"no {kind.value} push rule {rule_id!r}")

    def account_data_content(self) -> JsonDict:
        """The content of the ``m.push_rules`` account data event (spec: "Push Rules: Events")."""
        return {"global": self.to_json()}

    def to_json(self) -> JsonDict:
        """The ``global`` ruleset of ``GET /pushrules/`` and of ``m.push_rules`` account data."""
        return {
            kind.value: [rule.to_json() for rule in self.rules.get(kind, ())] for kind in KIND_ORDER
        }


def merge_ruleset(user_id: str, stored: UserPushRules) -> Ruleset:
    """The effective ruleset of ``user_id``.

    Within a kind, user-defined rules come before server-default rules, except
    ``.m.rule.master``, which has a higher priority than any other rule, even user-defined ones.
    """
    merged: dict[RuleKind, tuple[PushRule, ...]] = {}
    for kind, defaults in default_rules(user_id).items():
        customised = tuple(_apply_overrides(rule, stored) for rule in defaults)
        first = tuple(r for r in customised if r.rule_id == MASTER_RULE_ID)
        rest = tuple(r for r in customised if r.rule_id != MASTER_RULE_ID)
        merged[kind] = first + stored.user_rules(kind) + rest
    return Ruleset(merged)


def _apply_overrides(rule: PushRule, stored: UserPushRules) -> PushRule:
    key = (rule.kind, rule.rule_id)
    enabled = stored.default_enabled.get(key, rule.enabled)
    actions = stored.default_actions.get(key, rule.actions)
    if enabled == rule.enabled and actions == rule.actions:
        return rule
    return replace(rule, enabled=enabled, actions=actions)


# --- Edits --------------------------------------------------------------------------------------


def _with_kind(stored: UserPushRules, kind: RuleKind, rules: tuple[PushRule, ...]) -> UserPushRules:
    updated = dict(stored.rules)
    updated[kind] = rules
    return replace(stored, rules=updated)


def _index_of(rules: tuple[PushRule, ...], rule_id: str) -> int | None:
    for index, rule in enumerate(rules):
        if rule.rule_id == rule_id:
            return index
    return None


def put_rule(
    stored: UserPushRules,
    kind: RuleKind | str,
    rule_id: str,
    body: Any,
    *,
    before: str | None = None,
    after: str | None = None,
) -> UserPushRules:
    """Create or update a user-defined rule (``PUT /pushrules/global/{kind}/{ruleId}``).

    An existing rule of that kind with that ID is updated (keeping its ``enabled`` flag, and its
    place unless ``before`` or ``after`` is given); otherwise the rule is created, enabled, as the
    most important user-defined rule of its kind. With ``before`` the rule becomes the next most
    important rule relative to that rule; with ``after`` the next less important one; with both,
    ``before`` decides. Anchors must be user-defined rules of the same kind.
    """
    rule = parse_rule(kind, rule_id, body)
    existing = stored.user_rules(rule.kind)
    index = _index_of(existing, rule_id)
    if index is not None:
        rule = replace(rule, enabled=existing[index].enabled)
        others = existing[:index] + existing[index + 1 :]
    else:
        others = existing
    anchor = before if before is not None else after
    if anchor is not None:
        position = _index_of(others, anchor)
        if position is None:
            raise PushRuleAnchorNotFoundError(f"before/after rule not found: {anchor}")
        if before is None:
            position += 1
    elif index is not None:
        position = index
    else:
        position = 0
    return _with_kind(stored, rule.kind, (*others[:position], rule, *others[position:]))


def delete_rule(stored: UserPushRules, kind: RuleKind | str, rule_id: str) -> UserPushRules:
    """Remove a user-defined rule (``DELETE /pushrules/global/{kind}/{ruleId}``).

    Server-default rules cannot be deleted (only disabled): ``InvalidPushRuleError``.
    """
    kind = parse_kind(kind) if not isinstance(kind, RuleKind) else kind
    if rule_id.startswith("."):
        raise InvalidPushRuleError("server-default push rules cannot be deleted")
    existing = stored.user_rules(kind)
    index = _index_of(existing, rule_id)
    if index is None:
        raise PushRuleNotFoundError(f"no {kind.value} push rule {rule_id!r}")
    return _with_kind(stored, kind, existing[:index] + existing[index + 1 :])


def _is_default_rule(user_id: str, kind: RuleKind, rule_id: str) -> bool:
    return any(rule.rule_id == rule_id for rule in default_rules(user_id)[kind])


def set_enabled(
    stored: UserPushRules, user_id: str, kind: RuleKind | str, rule_id: str, enabled: Any
) -> UserPushRules:
    """Enable or disable a rule (``PUT .../{ruleId}/enabled``), default or user-defined."""
    kind = parse_kind(kind) if not isinstance(kind, RuleKind) else kind
    if not isinstance(enabled, bool):
        raise MalformedPushRuleError("'enabled' must be a boolean")
    if _is_default_rule(user_id, kind, rule_id):
        updated = dict(stored.default_enabled)
        updated[(kind, rule_id)] = enabled
        return replace(stored, default_enabled=updated)
    existing = stored.user_rules(kind)
    index = _index_of(existing, rule_id)
    if index is None:
        raise PushRuleNotFoundError(f"no {kind.value} push rule {rule_id!r}")
    changed = replace(existing[index], enabled=enabled)
    return _with_kind(stored, kind, (*existing[:index], changed, *existing[index + 1 :]))


def set_actions(
    stored: UserPushRules, user_id: str, kind: RuleKind | str, rule_id: str, actions: Any
) -> UserPushRules:
    """Change a rule's actions (``PUT .../{ruleId}/actions``); this works on default rules too."""
    kind = parse_kind(kind) if not isinstance(kind, RuleKind) else kind
    parsed = parse_actions(actions)
    if _is_default_rule(user_id, kind, rule_id):
        updated = dict(stored.default_actions)
        updated[(kind, rule_id)] = parsed
        return replace(stored, default_actions=updated)
    existing = stored.user_rules(kind)
    index = _index_of(existing, rule_id)
    if index is None:
        raise PushRuleNotFoundError(f"no {kind.value} push rule {rule_id!r}")
    changed = replace(existing[index], actions=parsed)
    return _with_kind(stored, kind, (*existing[:index], changed, *existing[index + 1 :]))
