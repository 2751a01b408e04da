"""Dot-separated property paths (spec: Appendices, "Dot-separated property paths").

A path such as ``content.m\\.relates_to.rel_type`` names a property nested in an event's JSON.
A literal dot or backslash inside a property name is escaped with a backslash; any other escape
sequence (``\\x``) stands for itself, a backslash followed by the character. Push rule conditions
and filters' ``event_fields`` both use these paths.
"""

from collections.abc import Mapping
from functools import lru_cache
from typing import Any


class _Absent:
    """The marker of a property that is not there (``None`` is JSON ``null``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()


@lru_cache(maxsize=1024)
def split_path(path: str) -> tuple[str, ...]:
    """The property names of ``path``, escapes resolved.

    ``a.b`` is two names; ``a\\.b`` is the one name ``a.b``; ``a\\\\b`` is ``a\\b``; ``a\\xb``
    keeps its backslash (other escape sequences are left as they are). A trailing lone backslash
    is a literal backslash.
    """
    names: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(path):
        char = path[i]
        if char == "\\" and i + 1 < len(path) and path[i + 1] in ".\\":
            current.append(path[i + 1])
            i += 2
            continue
        if char == ".":
            names.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    names.append("".join(current))
    return tuple(names)


def escape_name(name: str) -> str:
    """One property name escaped for use in a path (the inverse of ``split_path``)."""
    return name.replace("\\", "\\\\").replace(".", "\\.")


def join_path(names: tuple[str, ...] | list[str]) -> str:
    """The path of the nested property ``names`` (so ``split_path(join_path(n)) == n``)."""
    return ".".join(escape_name(name) for name in names)


def lookup(value: Mapping[str, Any], path: str) -> Any:
    """The value at ``path`` in ``value``, or ``ABSENT``.

    Only objects are descended into: a path through an array or a scalar finds nothing.
    """
    current: Any = value
    for name in split_path(path):
        if not isinstance(current, Mapping) or name not in current:
            return ABSENT
        current = current[name]
    return current
