"""Tests for server ACLs (spec: Server-Server API, "Server Access Control Lists (ACLs)")."""

from functools import cache
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from myelin.core.server_acl import (
    AccessControl,
    ServerAcl,
    host_without_port,
    is_ip_literal,
    is_server_allowed,
    parse_server_acl,
    server_glob_matches,
)
from tests.api.openapi import SPEC_DIR, require_spec, validate

# --- Parsing and defaults -------------------------------------------------------------------


def test_parse_defaults() -> None:
    assert parse_server_acl({}) == ServerAcl(allow=(), deny=(), allow_ip_literals=True)


@pytest.mark.parametrize("value", [None, "false", 0, 1, [], {}])
def test_allow_ip_literals_not_a_boolean_defaults_to_true(value: Any) -> None:
    assert parse_server_acl({"allow_ip_literals": value}).allow_ip_literals is True


def test_allow_ip_literals_false() -> None:
    assert parse_server_acl({"allow_ip_literals": False}).allow_ip_literals is False


def test_invalid_entries_ignored() -> None:
    acl = parse_server_acl({"allow": ["*", 3, None, {"a": 1}, "x"], "deny": "evil.com"})
    assert acl.allow == ("*", "x")
    assert acl.deny == ()


# --- The five rules ---------------------------------------------------------------------------


def test_rule_1_no_acl_allows() -> None:
    assert is_server_allowed(None, "anything.example")
    assert is_server_allowed(None, "1.2.3.4")


def test_rule_2_ip_literals() -> None:
    denying = {"allow": ["*"], "allow_ip_literals": False}
    allowing = {"allow": ["*"], "allow_ip_literals": True}
    for name in ("1.2.3.4", "1.2.3.4:8448", "[::1]", "[2001:db8::1]:8448"):
        assert not is_server_allowed(denying, name), name
        assert is_server_allowed(allowing, name), name
        assert is_server_allowed({"allow": ["*"]}, name), name
    # A host name that merely looks numeric-ish is not an IP literal.
    assert is_server_allowed(denying, "1.2.3.4.example.com")
    assert is_server_allowed(denying, "example.com:8448")


def test_rule_3_deny_wins_over_allow() -> None:
    acl = {"allow": ["*"], "deny": ["evil.com", "*.evil.com"]}
    assert not is_server_allowed(acl, "evil.com")
    assert not is_server_allowed(acl, "sub.evil.com")
    assert is_server_allowed(acl, "good.com")
    assert is_server_allowed(acl, "notevil.com")


def test_rule_4_allow_list() -> None:
    acl = {"allow": ["*.example.org", "matrix.org"]}
    assert is_server_allowed(acl, "matrix.org")
    assert is_server_allowed(acl, "a.example.org")
    assert not is_server_allowed(acl, "example.org")


def test_rule_5_otherwise_deny() -> None:
    assert not is_server_allowed({}, "matrix.org")
    assert not is_server_allowed({"deny": ["evil.com"]}, "matrix.org")


def test_port_is_not_considered() -> None:
    acl = {"allow": ["*"], "deny": ["evil.com"]}
    for name in ("evil.com", "evil.com:8448", "evil.com:1234"):
        assert not is_server_allowed(acl, name)
    # A glob with a port never matches: the port is stripped before matching.
    assert not is_server_allowed({"allow": ["good.com:8448"]}, "good.com:8448")


def test_globs_are_case_insensitive() -> None:
    acl = {"allow": ["*"], "deny": ["EVIL.com"]}
    assert not is_server_allowed(acl, "evil.COM")
    assert is_server_allowed({"allow": ["Matrix.Org"]}, "matrix.org")


def test_question_mark_matches_exactly_one_character() -> None:
    acl = {"allow": ["s?.example.com"]}
    assert is_server_allowed(acl, "s1.example.com")
    assert not is_server_allowed(acl, "s.example.com")
    assert not is_server_allowed(acl, "s12.example.com")


def test_regex_characters_are_literal() -> None:
    acl = {"allow": ["a.b"]}
    assert is_server_allowed(acl, "a.b")
    assert not is_server_allowed(acl, "axb")


def test_ipv6_glob_matches_with_brackets() -> None:
    acl = {"allow": ["*"], "deny": ["[2001:db8:*]"]}
    assert not is_server_allowed(acl, "[2001:db8::1]:8448")
    assert is_server_allowed(acl, "[2001:db9::1]")


def test_parsed_acl_is_accepted() -> None:
    acl = parse_server_acl({"allow": ["*"], "deny": ["evil.com"]})
    assert not is_server_allowed(acl, "evil.com")
    assert is_server_allowed(acl, "good.com")


def test_host_without_port() -> None:
    assert host_without_port("example.com") == "example.com"
    assert host_without_port("example.com:8448") == "example.com"
    assert host_without_port("[::1]:8448") == "[::1]"
    assert host_without_port("[::1]") == "[::1]"
    assert host_without_port("::1") == "::1"


def test_is_ip_literal() -> None:
    assert is_ip_literal("127.0.0.1")
    assert is_ip_literal("[::1]")
    assert is_ip_literal("::1")
    assert not is_ip_literal("example.com")
    assert not is_ip_literal("256.1.1.1")


# --- Operator access control --------------------------------------------------------------------


def test_access_control_default_allows_all() -> None:
    assert AccessControl().permits("anything.example:1234")


def test_access_control_deny() -> None:
    control = AccessControl.from_lists(deny=["*.evil.com"])
    assert not control.permits("a.evil.com:8448")
    assert control.permits("evil.com")


def test_access_control_allow_list() -> None:
    control = AccessControl.from_lists(allow=["matrix.org", "*.example.org"])
    assert control.permits("matrix.org:443")
    assert control.permits("x.EXAMPLE.org")
    assert not control.permits("other.org")


def test_access_control_empty_allow_list_denies_all() -> None:
    assert not AccessControl.from_lists(allow=[]).permits("matrix.org")


def test_access_control_deny_wins() -> None:
    control = AccessControl.from_lists(allow=["*"], deny=["bad.org"])
    assert not control.permits("BAD.org")
    assert control.permits("good.org")


# --- Globs against a brute-force reference ------------------------------------------------------


def reference_match(pattern: str, value: str) -> bool:
    """Glob matching by plain recursion over both strings."""
    pattern, value = pattern.lower(), value.lower()

    @cache
    def match(i: int, j: int) -> bool:
        if i == len(pattern):
            return j == len(value)
        if pattern[i] == "*":
            return any(match(i + 1, k) for k in range(j, len(value) + 1))
        if j == len(value):
            return False
        return (pattern[i] == "?" or pattern[i] == value[j]) and match(i + 1, j + 1)

    return match(0, 0)


_PATTERN_CHARS = st.sampled_from(list("ab.A*?[]:\\^$+()|{}-"))
_VALUE_CHARS = st.sampled_from(list("abAB.[]:\\^$+()|{}-*?\n"))


@given(st.text(_PATTERN_CHARS, max_size=8), st.text(_VALUE_CHARS, max_size=8))
def test_glob_matches_reference(pattern: str, value: str) -> None:
    assert server_glob_matches(pattern, value) == reference_match(pattern, value)


@given(
    st.lists(st.text(_PATTERN_CHARS, max_size=5), max_size=3),
    st.lists(st.text(_PATTERN_CHARS, max_size=5), max_size=3),
    st.text(st.sampled_from(list("ab.-")), min_size=1, max_size=6),
    st.one_of(st.none(), st.integers(1, 65535)),
)
def test_acl_rules_match_reference(
    allow: list[str], deny: list[str], host: str, port: int | None
) -> None:
    server_name = host if port is None else f"{host}:{port}"
    expected = not any(reference_match(g, host) for g in deny) and any(
        reference_match(g, host) for g in allow
    )
    assert is_server_allowed({"allow": allow, "deny": deny}, server_name) == expected


# --- The spec's schema --------------------------------------------------------------------------


def test_spec_example_event() -> None:
    require_spec()
    path = SPEC_DIR / "data" / "event-schemas" / "examples" / "m.room.server_acl.yaml"
    example = yaml.safe_load(path.read_text("utf-8"))
    acl = parse_server_acl(example["content"])
    assert acl == ServerAcl(allow=("*",), deny=("*.evil.com", "evil.com"), allow_ip_literals=False)
    assert not is_server_allowed(acl, "evil.com:1234")
    assert not is_server_allowed(acl, "a.evil.com")
    assert not is_server_allowed(acl, "192.168.1.1")
    assert is_server_allowed(acl, "matrix.org")


def _schema_content() -> dict[str, Any]:
    path = SPEC_DIR / "data" / "event-schemas" / "schema" / "m.room.server_acl.yaml"
    schema: dict[str, Any] = yaml.safe_load(path.read_text("utf-8"))
    content: dict[str, Any] = schema["properties"]["content"]
    return content


def test_content_we_parse_matches_the_schema() -> None:
    require_spec()
    content_schema = _schema_content()
    assert set(content_schema["properties"]) == {"allow", "deny", "allow_ip_literals"}
    acl = parse_server_acl({"allow": ["*"], "deny": ["evil.com"], "allow_ip_literals": False})
    validate(
        {"allow": list(acl.allow), "deny": list(acl.deny), "allow_ip_literals": False},
        content_schema,
    )
