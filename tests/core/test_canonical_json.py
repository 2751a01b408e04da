"""Tests for canonical JSON (spec: Appendices, "Canonical JSON")."""

import json
from typing import Any

import canonicaljson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from myelin.core.canonical_json import MAX_INT, MIN_INT, encode_canonical_json
from myelin.core.errors import CanonicalJsonError


def _integral(text: str) -> int:
    """Canonical JSON numbers are integers: ``1e10`` denotes the integer 10000000000."""
    value = float(text)
    if not value.is_integer():
        raise ValueError(f"{text} is not an integer")
    return int(value)


# The examples of the spec, input text and expected output, in order.
SPEC_EXAMPLES = [
    ("{}", "{}"),
    ('{"one": 1, "two": "Two"}', '{"one":1,"two":"Two"}'),
    ('{"b": "2", "a": "1"}', '{"a":"1","b":"2"}'),
    ('{"b":"2","a":"1"}', '{"a":"1","b":"2"}'),
    (
        """{"auth": {"success": true, "mxid": "@john.doe:example.com", "profile": {
            "display_name": "John Doe", "three_pids": [
              {"medium": "email", "address": "john.doe@example.org"},
              {"medium": "msisdn", "address": "123456789"}]}}}""",
        '{"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe",'
        '"three_pids":[{"address":"john.doe@example.org","medium":"email"},'
        '{"address":"123456789","medium":"msisdn"}]},"success":true}}',
    ),
    ('{"a": "日本語"}', '{"a":"日本語"}'),
    ('{"本": 2, "日": 1}', '{"日":1,"本":2}'),
    ('{"a": "\\u65E5"}', '{"a":"日"}'),
    ('{"a": null}', '{"a":null}'),
    ('{"a": -0, "b": 1e10}', '{"a":0,"b":10000000000}'),
]


@pytest.mark.parametrize(("given_text", "expected"), SPEC_EXAMPLES)
def test_spec_examples(given_text: str, expected: str) -> None:
    value = json.loads(given_text, parse_float=_integral)
    assert encode_canonical_json(value) == expected.encode("utf-8")


def test_escapes_follow_the_grammar() -> None:
    # Dedicated escapes for \b \t \n \f \r " \\, \u00XX (lowercase) for other controls,
    # and nothing else escaped (not "/", not DEL, not U+2028).
    value = {"k": '\x00\x08\t\n\x0c\r\x1f"\\/\x7f\u2028é'}
    assert encode_canonical_json(value) == (
        '{"k":"\\u0000\\b\\t\\n\\f\\r\\u001f\\"\\\\/\x7f\u2028é"}'.encode()
    )


def test_keys_sorted_by_code_point_not_utf16() -> None:
    # U+FFFF sorts before U+1F600 by code point (UTF-16 code units would reverse them).
    assert encode_canonical_json({"\U0001f600": 1, "\uffff": 2}) == (
        '{"\uffff":2,"\U0001f600":1}'.encode()
    )


@pytest.mark.parametrize("value", [1.5, 1.0, float("nan"), float("inf"), {"a": [0.5]}])
def test_floats_rejected(value: Any) -> None:
    with pytest.raises(CanonicalJsonError):
        encode_canonical_json(value)


@pytest.mark.parametrize("value", [MAX_INT + 1, MIN_INT - 1, 2**64, {"a": [-(2**53)]}])
def test_out_of_range_integers_rejected(value: Any) -> None:
    with pytest.raises(CanonicalJsonError):
        encode_canonical_json(value)


def test_range_limits_accepted() -> None:
    assert encode_canonical_json([MIN_INT, MAX_INT]) == b"[-9007199254740991,9007199254740991]"


@pytest.mark.parametrize("value", [{1: "a"}, b"bytes", {"a": {1, 2}}, "\ud800"])
def test_non_json_rejected(value: Any) -> None:
    with pytest.raises(CanonicalJsonError):
        encode_canonical_json(value)


def test_lenient_mode_matches_reference_library() -> None:
    # Room versions 1-5: big integers and floats are tolerated, encoded like canonicaljson.
    value = {"big": 2**70, "neg": -(2**60), "f": 1.5, "ok": [1, "x"]}
    assert encode_canonical_json(value, strict=False) == canonicaljson.encode_canonical_json(value)
    with pytest.raises(CanonicalJsonError):
        encode_canonical_json(value)
    with pytest.raises(CanonicalJsonError):
        encode_canonical_json({"nan": float("nan")}, strict=False)


_text = st.text(st.characters(codec="utf-8"))
_in_range = st.integers(min_value=MIN_INT, max_value=MAX_INT)
json_values = st.recursive(
    st.none() | st.booleans() | _in_range | _text,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(_text, children, max_size=5),
    max_leaves=30,
)


@given(json_values)
def test_matches_matrix_org_canonicaljson(value: Any) -> None:
    assert encode_canonical_json(value) == canonicaljson.encode_canonical_json(value)


@given(json_values)
def test_output_parses_back_to_the_same_value(value: Any) -> None:
    assert json.loads(encode_canonical_json(value)) == value


@given(
    st.recursive(
        st.floats(allow_nan=True, allow_infinity=True),
        lambda children: (
            st.lists(children, min_size=1, max_size=3)
            | st.dictionaries(_text, children, min_size=1, max_size=3)
        ),
        max_leaves=5,
    )
)
def test_any_float_anywhere_is_rejected(value: Any) -> None:
    with pytest.raises(CanonicalJsonError):
        encode_canonical_json(value)


@given(st.integers(min_value=MAX_INT + 1) | st.integers(max_value=MIN_INT - 1))
def test_any_out_of_range_integer_is_rejected(value: int) -> None:
    with pytest.raises(CanonicalJsonError):
        encode_canonical_json({"n": [value]})
