"""Canonical JSON (spec: Appendices, "Canonical JSON").

Keys sorted by code point, no insignificant whitespace, UTF-8 output, shortest escapes, integers
only within [-(2**53)+1, 2**53-1], no floats.
"""

import json
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from myelin.core.errors import CanonicalJsonError

MIN_INT = -(2**53) + 1
MAX_INT = 2**53 - 1

_MAX_DEPTH = 256


def check_canonical_value(value: Any, _depth: int = 0) -> None:
    """Raise ``CanonicalJsonError`` unless ``value`` is representable in canonical JSON."""
    if _depth > _MAX_DEPTH:
        raise CanonicalJsonError("JSON nested too deeply")
    if value is None or value is True or value is False or isinstance(value, str):
        return
    if isinstance(value, int):
        if not MIN_INT <= value <= MAX_INT:
            raise CanonicalJsonError(f"integer {value} is outside the canonical JSON range")
        return
    if isinstance(value, float):
        raise CanonicalJsonError("floats are not allowed in canonical JSON")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalJsonError("object keys must be strings")
            check_canonical_value(item, _depth + 1)
        return
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        for item in value:
            check_canonical_value(item, _depth + 1)
        return
    raise CanonicalJsonError(f"{type(value).__name__} is not a JSON type")


def _default(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes, bytearray)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not a JSON type")


def encode_canonical_json(value: Any, *, strict: bool = True) -> bytes:
    """Encode ``value`` as canonical JSON bytes, rejecting what canonical JSON forbids.

    ``strict=False`` is for events of room versions 1 to 5, which "might not be fully compliant"
    (spec warning under "Canonical JSON"): integers out of range and floats are then encoded
    as Python's ``json`` module writes them, as matrix-org's ``canonicaljson`` does.
    """
    try:
        check_canonical_value(value)
    except CanonicalJsonError:
        if strict:
            raise
        return _encode_lenient(value)
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=_default)
    except (TypeError, orjson.JSONEncodeError) as e:
        raise CanonicalJsonError(str(e)) from e


def _encode_lenient(value: Any) -> bytes:
    try:
        text = json.dumps(
            value,
            ensure_ascii=False,
            separators=(",", ":"),
            sort_keys=True,
            allow_nan=False,
            default=_default,
        )
        return text.encode("utf-8")
    except (TypeError, ValueError, RecursionError) as e:
        raise CanonicalJsonError(str(e)) from e


def encode_json(value: Any) -> bytes:
    """Encode ``value`` as compact JSON for HTTP responses (not canonical; floats allowed)."""
    return orjson.dumps(value, default=_default)
