"""Sync tokens (spec: Client-Server API, "Syncing": ``next_batch`` and the ``since`` parameter).

A ``SyncToken`` holds one position per stream. It is serialised as an opaque string::

    s{events}_{account_data}_{receipts}_{typing}_{presence}_{to_device}_{device_lists}

and parsed strictly: anything else raises ``InvalidSyncTokenError`` (the API answers 400
``M_INVALID_PARAM``). Persisted streams (events, account data, receipts, to-device, device
lists) count in the database, so a token stays valid across restarts. In-memory streams
(typing, presence when kept in memory) may restart below a position a client already holds:
their providers treat a ``since`` above their current position as a reset and send their full
section (never leaving a client without persisted data).
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal, get_args

from myelin.core.errors import ProtocolError

# The streams of a token, in serialisation order.
StreamName = Literal[
    "events", "account_data", "receipts", "typing", "presence", "to_device", "device_lists"
]
STREAM_NAMES: tuple[StreamName, ...] = get_args(StreamName)

# A stream position is a non-negative 63-bit integer written without leading zeros.
_POSITION = r"(0|[1-9][0-9]{0,18})"
_TOKEN_RE = re.compile("s" + "_".join([_POSITION] * len(STREAM_NAMES)))
_MAX_POSITION = 2**63 - 1


class InvalidSyncTokenError(ProtocolError):
    """A ``since`` value that is not a token this server issued."""


@dataclass(frozen=True, order=False)
class SyncToken:
    """One position per stream: everything at or below each position was sent."""

    events: int = 0
    account_data: int = 0
    receipts: int = 0
    typing: int = 0
    presence: int = 0
    to_device: int = 0
    device_lists: int = 0

    def position(self, stream: StreamName) -> int:
        value: int = getattr(self, stream)
        return value

    def advance(self, stream: StreamName, position: int) -> "SyncToken":
        """A copy with ``stream`` at ``position``."""
        return replace(self, **{stream: position})

    def advance_many(self, positions: Mapping[StreamName, int]) -> "SyncToken":
        """A copy with each stream of ``positions`` at its position."""
        if not positions:
            return self
        values = {stream: getattr(self, stream) for stream in STREAM_NAMES}
        values.update(positions)
        return SyncToken(**values)

    def serialize(self) -> str:
        return "s" + "_".join(str(getattr(self, name)) for name in STREAM_NAMES)

    def __str__(self) -> str:
        return self.serialize()

    @classmethod
    def parse(cls, text: str) -> "SyncToken":
        """The token ``text`` names; ``InvalidSyncTokenError`` for what this server never issues."""
        match = _TOKEN_RE.fullmatch(text)
        if match is None:
            raise InvalidSyncTokenError(f"invalid sync token {text[:64]!r}")
        values = [int(group) for group in match.groups()]
        if any(value > _MAX_POSITION for value in values):
            raise InvalidSyncTokenError("sync token position out of range")
        return cls(**dict(zip(STREAM_NAMES, values, strict=True)))
