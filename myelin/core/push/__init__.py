"""Push rules (spec: Client-Server API, "Push Notifications", "Push Rules").

- ``rules``: rule records, kinds, errors and the predefined server-default rules.
- ``ruleset``: a user's customisations, validation of client rule bodies, the merged ruleset and
  the pure edits behind the push rules API.
- ``evaluation``: conditions, ``evaluate`` and the helpers that interpret actions.
- ``batch``: the same evaluation of one event for many users, each distinct test run once.
- ``glob`` and ``property_paths``: the appendices' glob matching and dot-separated paths.

The names callers need are re-exported here.
"""

from myelin.core.push.batch import (
    CompiledRuleset,
    EventEvaluator,
    Outcome,
    compile_ruleset,
)
from myelin.core.push.evaluation import (
    PushContext,
    evaluate,
    first_matching_rule,
    should_highlight,
    should_notify,
    sound,
    tweaks,
)
from myelin.core.push.rules import (
    InvalidPushRuleError,
    MalformedPushRuleError,
    PushRule,
    PushRuleAnchorNotFoundError,
    PushRuleError,
    PushRuleNotFoundError,
    RuleKind,
    default_rules,
    parse_kind,
)
from myelin.core.push.ruleset import (
    Ruleset,
    UserPushRules,
    delete_rule,
    merge_ruleset,
    parse_rule,
    put_rule,
    set_actions,
    set_enabled,
)

__all__ = [
    "CompiledRuleset",
    "EventEvaluator",
    "InvalidPushRuleError",
    "MalformedPushRuleError",
    "Outcome",
    "PushContext",
    "PushRule",
    "PushRuleAnchorNotFoundError",
    "PushRuleError",
    "PushRuleNotFoundError",
    "RuleKind",
    "Ruleset",
    "UserPushRules",
    "compile_ruleset",
    "default_rules",
    "delete_rule",
    "evaluate",
    "first_matching_rule",
    "merge_ruleset",
    "parse_kind",
    "parse_rule",
    "put_rule",
    "set_actions",
    "set_enabled",
    "should_highlight",
    "should_notify",
    "sound",
    "tweaks",
]
