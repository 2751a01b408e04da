"""Capabilities (spec: Client-Server API, "Capabilities negotiation", ``m.room_versions``).

What ``GET /capabilities`` says about room versions: the default for new rooms and every
version this server knows, with its stability. The other capabilities come from the services
that decide them (accounts, profiles), assembled by the endpoint.
"""

from typing import Any

from myelin.core.room_versions import DEFAULT_ROOM_VERSION, KNOWN_ROOM_VERSIONS, RoomVersion


def room_versions_capability(
    default: RoomVersion = DEFAULT_ROOM_VERSION,
) -> dict[str, Any]:
    """``m.room_versions``: ``{"default": "11", "available": {"1": "stable", ...}}``."""
    return {
        "default": default.identifier,
        "available": {
            identifier: "stable" if version.stable else "unstable"
            for identifier, version in KNOWN_ROOM_VERSIONS.items()
        },
    }
