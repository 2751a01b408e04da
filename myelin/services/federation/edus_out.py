"""Our users' ephemeral events for other servers (spec: Server-Server API, "Typing
Notifications" (``m.typing``), "Receipts" (``m.receipt``), "Presence" (``m.presence``) and
"Send-to-device messaging" (``m.direct_to_device``)).

Each is queued as an EDU through the outbound sender (``FederationSender.send_edu``): typing
and receipts to every other server with a joined member in the room, presence to the servers
of the users sharing a room with the user, to-device messages to the server of their
recipients.
"""

import contextlib
from collections.abc import Collection
from typing import Any

from myelin.clock import Clock
from myelin.core.identifiers import server_name_of
from myelin.services.events.ids import IdSource
from myelin.services.federation.sender import FederationSender


class OutboundEdus:
    def __init__(self, sender: FederationSender, clock: Clock, ids: IdSource) -> None:
        self._sender = sender
        self._clock = clock
        self._ids = ids

    async def typing(self, room_id: str, user_id: str, typing: bool) -> None:
        """``m.typing``: the user started or stopped typing in the room."""
        destinations = await self._sender.destinations_for_room(room_id)
        content = {"room_id": room_id, "user_id": user_id, "typing": typing}
        await self._sender.send_edu("m.typing", content, destinations)

    async def receipt(
        self, room_id: str, receipt_type: str, user_id: str, event_id: str, data: dict[str, Any]
    ) -> None:
        """``m.receipt``: one user's receipt in one room."""
        destinations = await self._sender.destinations_for_room(room_id)
        content = {room_id: {receipt_type: {user_id: {"event_ids": [event_id], "data": data}}}}
        await self._sender.send_edu("m.receipt", content, destinations)

    async def presence(
        self, user_id: str, update: dict[str, Any], watchers: Collection[str]
    ) -> None:
        """``m.presence``: a local user's presence, to the servers sharing a room with them
        (a remote user's presence, received from its server, is not passed on)."""
        try:
            if self._sender.permits(server_name_of(user_id)):
                return  # a user of another (permitted) server
        except ValueError:
            return
        servers: set[str] = set()
        for watcher in watchers:
            with contextlib.suppress(ValueError):
                servers.add(server_name_of(watcher))
        destinations = sorted(s for s in servers if self._sender.permits(s))
        push = {**update, "user_id": user_id, "last_active_ago": 0}
        await self._sender.send_edu("m.presence", {"push": [push]}, destinations)

    async def to_device(
        self, server: str, sender: str, event_type: str, messages: dict[str, Any]
    ) -> None:
        """``m.direct_to_device``: messages for users of ``server`` (by user and device)."""
        if not self._sender.permits(server):
            return
        content = {
            "sender": sender,
            "type": event_type,
            "message_id": self._ids.random_string(24),
            "messages": messages,
        }
        await self._sender.send_edu("m.direct_to_device", content, [server])
