"""Random identifiers for new rooms and events (spec: Appendices, "Room IDs" and "Event IDs").

Room IDs before room version 12 and event IDs of room versions 1 and 2 are chosen by the
server: ``!opaque:server`` and ``$opaque:server``. The random part comes from an injected
``IdSource`` (GUIDE principle 11) so tests can make it predictable.
"""

import secrets
import string
from typing import Protocol

_ALPHABET = string.ascii_letters


class IdSource(Protocol):
    """Where random localparts come from."""

    def random_string(self, length: int) -> str:
        """``length`` random ASCII letters."""
        ...


class RandomIds:
    """Cryptographically random letters (the real ID source)."""

    def random_string(self, length: int) -> str:
        return "".join(secrets.choice(_ALPHABET) for _ in range(length))


class SequentialIds:
    """Predictable IDs for tests: ``aaaa0001``, ``aaaa0002``... padded to ``length``."""

    def __init__(self, prefix: str = "id") -> None:
        self._prefix = prefix
        self._count = 0

    def random_string(self, length: int) -> str:
        self._count += 1
        text = f"{self._prefix}{self._count}"
        return text.rjust(length, "x") if len(text) < length else text


def new_room_id(ids: IdSource, server_name: str) -> str:
    """A room ID for a room version whose room IDs the server chooses (before v12)."""
    return f"!{ids.random_string(18)}:{server_name}"


def new_event_id(ids: IdSource, server_name: str) -> str:
    """An event ID for room versions 1 and 2, where the origin server chooses it."""
    return f"${ids.random_string(18)}:{server_name}"
