"""Push rules and the predefined rules (spec: Client-Server API, "Push Rules", "Predefined Rules").

A push rule says under what conditions an event notifies a user and how. Rules are plain frozen
records; their ``conditions`` and ``actions`` stay the JSON a client sent (unknown condition kinds
and tweaks are kept as given and passed through). ``default_rules(user_id)`` builds the spec's
server-default rules, in the spec's order, for one user.
"""

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from myelin.core.errors import ProtocolError

JsonDict = dict[str, Any]
# An action: a string ("notify") or an object ({"set_tweak": "sound", "value": "default"}).
Action = str | Mapping[str, Any]
Condition = Mapping[str, Any]


class RuleKind(enum.StrEnum):
    """The kinds of push rule, declared in the order they are checked."""

    OVERRIDE = "override"
    CONTENT = "content"
    ROOM = "room"
    SENDER = "sender"
    UNDERRIDE = "underride"


# Kind priority: override > content > room > sender > underride.
KIND_ORDER: tuple[RuleKind, ...] = tuple(RuleKind)
# Only these kinds carry a list of conditions; content rules carry a pattern instead.
CONDITION_KINDS = frozenset({RuleKind.OVERRIDE, RuleKind.UNDERRIDE})

MASTER_RULE_ID = ".m.rule.master"


class PushRuleError(ProtocolError):
    """A push rule request cannot be carried out (the base of the errors below)."""


class MalformedPushRuleError(PushRuleError):
    """The rule body has the wrong JSON shape: a missing key or a wrong type (M_BAD_JSON)."""


class InvalidPushRuleError(PushRuleError):
    """A parameter has a value the server refuses: a reserved rule ID, an unknown action,
    an unknown kind, ... (M_INVALID_PARAM)."""


class PushRuleNotFoundError(PushRuleError):
    """The named push rule does not exist (404 M_NOT_FOUND)."""


class PushRuleAnchorNotFoundError(PushRuleError):
    """The ``before`` or ``after`` rule of a PUT is not a user-defined rule of that kind.

    The spec's example answer is 400 M_UNKNOWN ("before/after rule not found: someRuleId").
    """


@dataclass(frozen=True)
class PushRule:
    """One push rule of a ruleset, as the spec's ``PushRule`` object describes it.

    ``conditions`` is only meaningful for override and underride rules, ``pattern`` only for
    content rules; room and sender rules are matched by their ``rule_id``.
    """

    kind: RuleKind
    rule_id: str
    actions: tuple[Action, ...]
    default: bool = False
    enabled: bool = True
    conditions: tuple[Condition, ...] = ()
    pattern: str | None = None

    def to_json(self) -> JsonDict:
        """The rule as the push rules API and the ``m.push_rules`` event show it."""
        body: JsonDict = {
            "rule_id": self.rule_id,
            "default": self.default,
            "enabled": self.enabled,
            "actions": [dict(a) if isinstance(a, Mapping) else a for a in self.actions],
        }
        if self.kind in CONDITION_KINDS:
            body["conditions"] = [dict(c) for c in self.conditions]
        if self.kind is RuleKind.CONTENT and self.pattern is not None:
            body["pattern"] = self.pattern
        return body


def parse_kind(kind: str) -> RuleKind:
    """The rule kind named ``kind``; raise ``InvalidPushRuleError`` for an unknown one."""
    try:
        return RuleKind(kind)
    except ValueError:
        raise InvalidPushRuleError(f"unknown push rule kind {kind!r}") from None


# --- Predefined rules ---------------------------------------------------------------------------


def _event_match(key: str, pattern: str) -> JsonDict:
    return {"kind": "event_match", "key": key, "pattern": pattern}


def _default(
    kind: RuleKind,
    rule_id: str,
    conditions: Sequence[Condition],
    actions: Sequence[Action],
    *,
    enabled: bool = True,
) -> PushRule:
    return PushRule(
        kind=kind,
        rule_id=rule_id,
        actions=tuple(actions),
        default=True,
        enabled=enabled,
        conditions=tuple(conditions),
    )


_SOUND_DEFAULT: JsonDict = {"set_tweak": "sound", "value": "default"}
_HIGHLIGHT: JsonDict = {"set_tweak": "highlight"}


def default_override_rules(user_id: str) -> tuple[PushRule, ...]:
    """The spec's "Default Override Rules", in the spec's order."""
    override = RuleKind.OVERRIDE
    return (
        # Matches all events; disabled unless the user turns notifications off.
        _default(override, MASTER_RULE_ID, [], [], enabled=False),
        _default(
            override,
            ".m.rule.suppress_notices",
            [_event_match("content.msgtype", "m.notice")],
            [],
        ),
        _default(
            override,
            ".m.rule.invite_for_me",
            [
                _event_match("type", "m.room.member"),
                _event_match("content.membership", "invite"),
                _event_match("state_key", user_id),
            ],
            ["notify", _SOUND_DEFAULT],
        ),
        _default(override, ".m.rule.member_event", [_event_match("type", "m.room.member")], []),
        _default(
            override,
            ".m.rule.is_user_mention",
            [
                {
                    "kind": "event_property_contains",
                    "key": "content.m\\.mentions.user_ids",
                    "value": user_id,
                }
            ],
            ["notify", _SOUND_DEFAULT, _HIGHLIGHT],
        ),
        _default(
            override,
            ".m.rule.is_room_mention",
            [
                {"kind": "event_property_is", "key": "content.m\\.mentions.room", "value": True},
                {"kind": "sender_notification_permission", "key": "room"},
            ],
            ["notify", _HIGHLIGHT],
        ),
        _default(
            override,
            ".m.rule.tombstone",
            [_event_match("type", "m.room.tombstone"), _event_match("state_key", "")],
            ["notify", _HIGHLIGHT],
        ),
        _default(override, ".m.rule.reaction", [_event_match("type", "m.reaction")], []),
        _default(
            override,
            ".m.rule.room.server_acl",
            [_event_match("type", "m.room.server_acl"), _event_match("state_key", "")],
            [],
        ),
        _default(
            override,
            ".m.rule.suppress_edits",
            [
                {
                    "kind": "event_property_is",
                    "key": "content.m\\.relates_to.rel_type",
                    "value": "m.replace",
                }
            ],
            [],
        ),
    )


def default_underride_rules() -> tuple[PushRule, ...]:
    """The spec's "Default Underride Rules", in the spec's order."""
    underride = RuleKind.UNDERRIDE
    one_to_one = {"kind": "room_member_count", "is": "2"}
    return (
        _default(
            underride,
            ".m.rule.call",
            [_event_match("type", "m.call.invite")],
            ["notify", {"set_tweak": "sound", "value": "ring"}],
        ),
        _default(
            underride,
            ".m.rule.encrypted_room_one_to_one",
            [one_to_one, _event_match("type", "m.room.encrypted")],
            ["notify", _SOUND_DEFAULT],
        ),
        _default(
            underride,
            ".m.rule.room_one_to_one",
            [one_to_one, _event_match("type", "m.room.message")],
            ["notify", _SOUND_DEFAULT],
        ),
        _default(
            underride, ".m.rule.message", [_event_match("type", "m.room.message")], ["notify"]
        ),
        _default(
            underride, ".m.rule.encrypted", [_event_match("type", "m.room.encrypted")], ["notify"]
        ),
    )


def default_rules(user_id: str) -> dict[RuleKind, tuple[PushRule, ...]]:
    """Every server-default rule for ``user_id``, by kind, each kind in the spec's order.

    Since spec v1.17 (MSC4210, legacy mentions removed) there are no default content rules:
    ``.m.rule.contains_user_name``, ``.m.rule.contains_display_name`` and ``.m.rule.roomnotif``
    are gone. Room and sender rules have no defaults.
    """
    return {
        RuleKind.OVERRIDE: default_override_rules(user_id),
        RuleKind.CONTENT: (),
        RuleKind.ROOM: (),
        RuleKind.SENDER: (),
        RuleKind.UNDERRIDE: default_underride_rules(),
    }
