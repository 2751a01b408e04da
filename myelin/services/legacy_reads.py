"""Deprecated reads Synapse still serves (spec: Client-Server API, "Room initial sync"
``GET /rooms/{roomId}/initialSync`` and "Events" ``GET /events/{eventId}``), built on the room
read service: the same visibility checks and event serialisation as /messages and /event.
"""

from typing import Any

from myelin.core.filters import RoomEventFilter
from myelin.services.directory import Directory
from myelin.services.errors import MatrixError
from myelin.services.room_reads import RoomReads
from myelin.storage import EventStore


class LegacyReads:
    def __init__(self, *, reads: RoomReads, events: EventStore, directory: Directory) -> None:
        self._reads = reads
        self._events = events
        self._directory = directory

    async def event(self, user_id: str, device_id: str | None, event_id: str) -> dict[str, Any]:
        """``GET /events/{eventId}``: like ``/rooms/{roomId}/event/{eventId}``, any room."""
        stored = await self._events.get_event(event_id)
        if stored is None:
            raise MatrixError(404, "M_NOT_FOUND", "Event not found")
        return await self._reads.get_event(user_id, device_id, stored.room_id, event_id)

    async def room_initial_sync(
        self, user_id: str, device_id: str | None, room_id: str, limit: int
    ) -> dict[str, Any]:
        """``GET /rooms/{roomId}/initialSync``: the latest messages (oldest first), the state
        the user may see, their membership and the room's directory visibility."""
        view = await self._reads.view(room_id, user_id)
        page = await self._reads.messages(
            user_id,
            device_id,
            room_id,
            from_token=None,
            to_token=None,
            backwards=True,
            limit=limit,
            event_filter=RoomEventFilter(),
        )
        messages: dict[str, Any] = {"chunk": list(reversed(page.chunk)), "end": page.start}
        if page.end is not None:
            messages["start"] = page.end
        body: dict[str, Any] = {
            "room_id": room_id,
            "messages": messages,
            "state": await self._reads.state_events(user_id, room_id),
            "visibility": await self._directory.get_visibility(room_id),
        }
        if view.membership in ("invite", "join", "leave", "ban"):
            body["membership"] = view.membership
        return body
