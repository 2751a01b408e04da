"""Hostile inputs for the robustness sweep (spec: Client-Server API, "API Standards": every
request is JSON validated by the server, which answers errors with a standard error response).

Plain functions: raw request bodies, objects whose fields have the wrong JSON type (read from the
spec's request schemas), path segments and query values that are not what the endpoint expects.
"""

from collections.abc import Iterator
from typing import Any

import orjson

HUGE = "x" * 100_000

# Raw bodies that are not a JSON object, with what they are.
RAW_BODIES: list[tuple[str, bytes]] = [
    ("no body", b""),
    ("not JSON", b"this is not json"),
    ("truncated JSON", b'{"a": '),
    ("JSON array", b"[]"),
    ("JSON string", b'"a string"'),
    ("JSON number", b"42"),
    ("JSON null", b"null"),
    ("JSON true", b"true"),
    ("invalid UTF-8", b'{"a": "\xff\xfe"}'),
    ("UTF-16 BOM", "\ufeff{}".encode("utf-16")),
    ("lone surrogate", b'{"body": "\\ud800", "msgtype": "m.text"}'),
    ("reversed surrogates", b'{"body": "\\udc00\\ud800"}'),
    ("NaN", b'{"a": NaN}'),
    ("huge integer", b'{"a": 123456789012345678901234567890}'),
    ("huge float", b'{"a": 1e400}'),
    ("duplicate keys", b'{"a": 1, "a": {}}'),
    ("deep arrays", b"[" * 5000 + b"]" * 5000),
    ("deep objects", b'{"a":' * 5000 + b"{}" + b"}" * 5000),
    ("trailing garbage", b"{} {}"),
]

# Strings that pass as JSON but are awkward to store, compare and display.
UNICODE_EDGES = [
    "",
    "\x00",
    "nul\x00inside",
    "\u202eevil\u202c",  # RTL override
    "\u200f\u200e",
    "\ufeff",
    "\U0001f600",
    "e\u0301",
    "\uffff",
    "\\",
    "'; DROP TABLE events; --",
    "%s%n",
    "../../etc/passwd",
]

_WRONG_BY_TYPE: dict[str, list[Any]] = {
    "string": [123, True, None, [], {"a": "b"}, "\x00", HUGE],
    "integer": ["1", 1.5, True, 2**64, -(2**64), None, [], -1],
    "number": ["1", True, None, {}, 2**70],
    "boolean": ["true", 0, None, []],
    "object": ["x", [], 1, None, {"\x00": "\x00"}],
    "array": ["x", {}, 1, None, [None], [{}], [[]]],
    "null": [0, "null"],
}
_WRONG_ANY: list[Any] = [None, [], {}, "x", 1, True, 2**64, HUGE, "\u202e\x00"]


def _types(schema: Any) -> list[str]:
    if not isinstance(schema, dict):
        return []
    kind = schema.get("type")
    if isinstance(kind, str):
        return [kind]
    if isinstance(kind, list):
        return [k for k in kind if isinstance(k, str)]
    if "properties" in schema or "additionalProperties" in schema:
        return ["object"]
    for combinator in ("allOf", "oneOf", "anyOf"):
        for member in schema.get(combinator, []):
            found = _types(member)
            if found:
                return found
    return []


def wrong_values(schema: Any) -> list[Any]:
    """JSON values that are not of the schema's type (every type if it names none)."""
    types = _types(schema)
    if not types:
        return list(_WRONG_ANY)
    values: list[Any] = []
    for kind in types:
        for value in _WRONG_BY_TYPE.get(kind, _WRONG_ANY):
            if not _is_of(value, types) and value not in values:
                values.append(value)
    return values


def _is_of(value: Any, types: list[str]) -> bool:
    checks = {
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "object": isinstance(value, dict),
        "array": isinstance(value, list),
        "null": value is None,
    }
    return any(checks.get(kind, False) for kind in types)


def properties(schema: Any) -> dict[str, Any]:
    """The declared properties of an object schema (through allOf/oneOf/anyOf)."""
    if not isinstance(schema, dict):
        return {}
    found: dict[str, Any] = {}
    for combinator in ("allOf", "oneOf", "anyOf"):
        for member in schema.get(combinator, []):
            found.update(properties(member))
    found.update(schema.get("properties") or {})
    return found


def mutated_bodies(schema: Any, example: Any) -> Iterator[tuple[str, Any]]:
    """The example body (or ``{}``) with one field, then every field, of the wrong type.

    Nested object fields are mutated one level down as well.
    """
    base = example if isinstance(example, dict) else {}
    fields = properties(schema)
    all_wrong: dict[str, Any] = dict(base)
    for name, field_schema in sorted(fields.items()):
        wrong = wrong_values(field_schema)
        for value in wrong:
            yield f"{name}={_short(value)}", {**base, name: value}
        if wrong:
            all_wrong[name] = wrong[0]
        nested = properties(field_schema)
        found = base.get(name)
        inner_base: dict[str, Any] = found if isinstance(found, dict) else {}
        for inner, inner_schema in sorted(nested.items()):
            for value in wrong_values(inner_schema)[:3]:
                yield (
                    f"{name}.{inner}={_short(value)}",
                    {**base, name: {**inner_base, inner: value}},
                )
    if fields:
        yield "every field wrong", all_wrong
    yield "unicode edges in every string", _with_unicode(base)
    yield "huge unknown field", {**base, "org.example.huge": HUGE}


def _with_unicode(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return UNICODE_EDGES[depth % len(UNICODE_EDGES)] + value + "\x00\u202e"
    if isinstance(value, dict):
        return {k: _with_unicode(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_unicode(v, depth + 1) for v in value]
    return value


def _short(value: Any) -> str:
    text = (
        orjson.dumps(value).decode()
        if not isinstance(value, int) or abs(value) < 2**53
        else str(value)
    )
    return text if len(text) <= 20 else text[:17] + "..."


def encode(value: Any) -> bytes:
    """JSON bytes of ``value``; integers beyond 64 bits, which orjson refuses, as text."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return _encode_wide(value).encode()


def _encode_wide(value: Any) -> str:
    if isinstance(value, bool) or value is None or isinstance(value, float | str):
        return orjson.dumps(value).decode()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ",".join(_encode_wide(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{"
            + ",".join(f"{orjson.dumps(k).decode()}:{_encode_wide(v)}" for k, v in value.items())
            + "}"
        )
    raise TypeError(f"not JSON: {value!r}")


# Path segments (already percent-encoded) that are not valid identifiers.
BAD_SEGMENTS = [
    "x",
    "!",
    "@",
    "$",
    "#",
    ":",
    "%20",
    "%00",
    "nul%00byte",
    "%FF%FE",
    "%ED%A0%80",  # a lone surrogate, UTF-8 encoded
    "%E2%80%AEevil",  # RTL override
    "%F0%9F%98%80",
    "%25",
    "%2F..%2F..%2Fetc",
    "a%2Fb",
    "!room:%00",
    "@user:exa%00mple.com",
    "$event%FF:x",
    "#alias:[::1",
    "!" + "r" * 300 + ":test.example",
    "@" + "u" * 300 + ":test.example",
    "y" * 3000,
]

# Query values (already percent-encoded) by the parameter's schema type.
BAD_QUERY_VALUES: dict[str, list[str]] = {
    "integer": [
        "abc",
        "",
        "-1",
        "1.5",
        "1e3",
        "99999999999999999999999999",
        "-99999999999999999999999999",
        "NaN",
        "0x10",
        "%EF%BC%91",  # a fullwidth digit one
        "%D9%A1",  # an Arabic-Indic digit one
        "%201",
    ],
    "boolean": ["maybe", "", "TRUE", "1", "%00"],
    "string": ["", "%00", "%FF", "%ED%A0%80", "%E2%80%AE", "z" * 3000, "%7B", "%5B%5D"],
}
BAD_ENUM = "not-a-member"
