"""The predefined push rules and the ruleset format checked against the spec's own text
(spec: Client-Server API, "Predefined Rules"; the push rules OpenAPI definitions).

Skipped when the spec is not available next to the repository.
"""

import json
import re
from typing import Any

import pytest

from myelin.core.push.rules import RuleKind, default_rules
from myelin.core.push.ruleset import UserPushRules, merge_ruleset, put_rule, set_enabled
from tests.api.openapi import SPEC_DIR, require_spec, response_schema, validate

ALICE = "@alice:example.org"
_SECTION_KINDS = {
    "Default Override Rules": RuleKind.OVERRIDE,
    "Default Content Rules": RuleKind.CONTENT,
    "Default Underride Rules": RuleKind.UNDERRIDE,
}


def _spec_default_rules(user_id: str) -> dict[RuleKind, list[dict[str, Any]]]:
    """Every ``Definition:`` JSON block of the "Predefined Rules" section, by kind."""
    require_spec()
    text = (SPEC_DIR / "content" / "client-server-api" / "modules" / "push.md").read_text("utf-8")
    section = text.split("#### Predefined Rules", 1)[1].split("#### Push Rules: API", 1)[0]
    found: dict[RuleKind, list[dict[str, Any]]] = {}
    kind: RuleKind | None = None
    for part in re.split(r"^##### (.+)$", section, flags=re.MULTILINE):
        if part.strip() in _SECTION_KINDS:
            kind = _SECTION_KINDS[part.strip()]
            continue
        for block in re.findall(r"```json\n(.*?)```", part, flags=re.DOTALL):
            assert kind is not None
            rule = json.loads(block.replace("[the user's Matrix ID]", user_id))
            found.setdefault(kind, []).append(rule)
    return found


def _normalise(rule: dict[str, Any]) -> dict[str, Any]:
    """Conditions compared as objects (key order in the spec's JSON does not matter)."""
    normalised: dict[str, Any] = json.loads(json.dumps(rule, sort_keys=True))
    return normalised


def test_default_rules_are_exactly_the_spec_definitions() -> None:
    spec = _spec_default_rules(ALICE)
    ours = default_rules(ALICE)
    assert set(spec) <= set(ours)
    for kind in RuleKind:
        expected = [_normalise(rule) for rule in spec.get(kind, [])]
        actual = [_normalise(rule.to_json()) for rule in ours[kind]]
        assert actual == expected, kind
    assert len(spec[RuleKind.OVERRIDE]) == 10 and len(spec[RuleKind.UNDERRIDE]) == 5


@pytest.mark.parametrize("customised", [False, True])
def test_rulesets_match_the_api_schemas(customised: bool) -> None:
    stored = UserPushRules()
    if customised:
        stored = put_rule(stored, "content", "tea", {"pattern": "tea", "actions": ["notify"]})
        stored = put_rule(stored, "room", "!r:example.org", {"actions": []})
        stored = put_rule(stored, "sender", "@spam:example.org", {"actions": []})
        stored = put_rule(
            stored,
            "override",
            "o",
            {"actions": [{"set_tweak": "highlight"}], "conditions": [{"kind": "x"}]},
        )
        stored = set_enabled(stored, ALICE, "override", ".m.rule.master", True)
    ruleset = merge_ruleset(ALICE, stored).to_json()
    validate(
        ruleset, response_schema("client-server/pushrules.yaml", "/pushrules/global/", "get", 200)
    )
    assert merge_ruleset(ALICE, stored).account_data_content() == {"global": ruleset}
    validate(
        {"global": ruleset},
        response_schema("client-server/pushrules.yaml", "/pushrules/", "get", 200),
    )
