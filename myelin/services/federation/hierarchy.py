"""Spaces of other servers (spec: Server-Server API, "Spaces": ``GET /hierarchy/{roomId}``).

``RemoteHierarchy`` is the ``RemoteSpaces`` of ``myelin.services.spaces``: a room this server
has no state for is asked of the ``via`` servers of the ``m.space.child`` event (or of the
room summary request) in turn, the first usable answer winning. The answer is checked for the
shape the spec gives it; what the user may see of it is decided by the caller.
"""

import logging
from collections.abc import Callable, Sequence
from typing import Any

from myelin.federation.client import FederationClient, FederationError, quote_segment

logger = logging.getLogger("myelin.federation.hierarchy")

FEDERATION_V1 = "/_matrix/federation/v1"
# At most this many via servers asked for one room.
MAX_SERVERS = 5


class RemoteHierarchy:
    def __init__(
        self, *, server_name: str, client: FederationClient, permits: Callable[[str], bool]
    ) -> None:
        self._server_name = server_name
        self._client = client
        self._permits = permits

    async def hierarchy(
        self, room_id: str, via: Sequence[str], suggested_only: bool
    ) -> dict[str, Any] | None:
        servers = [s for s in dict.fromkeys(via) if s != self._server_name and self._permits(s)]
        for server in servers[:MAX_SERVERS]:
            try:
                body = await self._client.get_json(
                    server,
                    f"{FEDERATION_V1}/hierarchy/{quote_segment(room_id)}",
                    {"suggested_only": "true" if suggested_only else "false"},
                )
            except FederationError as e:
                logger.info("Hierarchy of %s from %s failed: %s", room_id, server, e)
                continue
            if (
                isinstance(body, dict)
                and isinstance(body.get("room"), dict)
                and body["room"].get("room_id") == room_id
                and isinstance(body.get("children", []), list)
                and isinstance(body.get("inaccessible_children", []), list)
            ):
                return body
        return None

    async def room_summary(
        self, room_id: str, via: Sequence[str], user_id: str | None
    ) -> dict[str, Any] | None:
        """The room's summary from its hierarchy (``children_state`` left out)."""
        answer = await self.hierarchy(room_id, via, False)
        if answer is None:
            return None
        room = answer["room"]
        return {k: v for k, v in room.items() if k != "children_state"}
