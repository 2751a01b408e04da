"""Serving a room's events to other servers (spec: Server-Server API, "Retrieving events"
(``/event``, ``/state``, ``/state_ids``, ``/event_auth``, ``/timestamp_to_event``),
"Backfilling and retrieving missing events" (``/backfill``, ``/get_missing_events``) and
"Server Access Control Lists (ACLs)").

A server may read a room's events when one of its users is in the room (joined, or invited,
knocking or left: servers keep serving the history they once shared) and the room's server ACL
does not deny it. Events are served as stored: the PDU JSON as received.
"""

from collections.abc import Sequence
from typing import Any, Protocol

from myelin.clock import Clock
from myelin.core.errors import UnsupportedRoomVersionError
from myelin.core.events import EventView
from myelin.core.identifiers import server_name_of
from myelin.core.room_versions import RoomVersion, get_room_version
from myelin.services.errors import MatrixError
from myelin.services.events.loading import load_with_auth_chains
from myelin.services.events.state import compute_state_before
from myelin.services.federation.transactions import room_acl_allows
from myelin.storage import EventStore, RoomStore, StateStore, StoredEvent
from myelin.storage.room_reads import EventPosition

MAX_LIMIT = 100


class TimestampLookup(Protocol):
    async def event_at_timestamp(
        self, room_id: str, ts: int, forwards: bool
    ) -> EventPosition | None: ...


class RoomEventServer:
    def __init__(
        self,
        *,
        server_name: str,
        events: EventStore,
        state: StateStore,
        rooms: RoomStore,
        clock: Clock,
        timestamps: TimestampLookup | None = None,
    ) -> None:
        self.server_name = server_name
        self._timestamps = timestamps
        self._clock = clock
        self._events = events
        self._state = state
        self._rooms = rooms

    def now_ms(self) -> int:
        return self._clock.now_ms()

    async def room_version(self, room_id: str) -> RoomVersion:
        room = await self._rooms.get_room(room_id)
        if room is None:
            raise MatrixError(404, "M_NOT_FOUND", "Unknown room")
        try:
            return get_room_version(room.room_version)
        except UnsupportedRoomVersionError as e:
            raise MatrixError(404, "M_NOT_FOUND", "Unknown room") from e

    async def check_acl(self, origin: str, room_id: str) -> None:
        """403 ``M_FORBIDDEN`` when the room's server ACL denies ``origin``."""
        if not await room_acl_allows(self._state, self._events, room_id, origin):
            raise MatrixError(403, "M_FORBIDDEN", "Server is banned by the room's ACL")

    async def check_access(self, origin: str, room_id: str) -> RoomVersion:
        """The room's version, once ``origin`` is known to take part in the room and not
        denied by its ACL (403 ``M_FORBIDDEN`` otherwise)."""
        version = await self.room_version(room_id)
        await self.check_acl(origin, room_id)
        current = await self._state.get_current_state(room_id)
        for event_type, state_key in current:
            if event_type == "m.room.member" and _server_of(state_key) == origin:
                return version
        raise MatrixError(403, "M_FORBIDDEN", "Server is not in the room")

    async def timestamp_to_event(
        self, origin: str, room_id: str, ts: int, forwards: bool
    ) -> dict[str, Any]:
        """``GET /timestamp_to_event/{roomId}``: the timeline event closest to ``ts`` in the
        direction asked (404 ``M_NOT_FOUND`` when there is none)."""
        await self.check_access(origin, room_id)
        found = None
        if self._timestamps is not None:
            found = await self._timestamps.event_at_timestamp(room_id, ts, forwards)
        if found is None:
            direction = "f" if forwards else "b"
            raise MatrixError(404, "M_NOT_FOUND", f"No event from {ts} in direction {direction}")
        return {"event_id": found.event_id, "origin_server_ts": found.origin_server_ts}

    async def get_event(self, origin: str, event_id: str) -> dict[str, Any]:
        """``GET /event/{eventId}``: the PDU."""
        stored = await self._events.get_event(event_id)
        if stored is None or stored.rejected_reason is not None:
            raise MatrixError(404, "M_NOT_FOUND", "Event not found")
        await self.check_access(origin, stored.room_id)
        return stored.json()

    async def _event_in_room(self, room_id: str, event_id: str) -> StoredEvent:
        stored = await self._events.get_event(event_id)
        if stored is None or stored.room_id != room_id:
            raise MatrixError(404, "M_NOT_FOUND", "Event not found in this room")
        return stored

    async def state_ids_before(
        self, room_id: str, event_id: str, version: RoomVersion
    ) -> dict[tuple[str, str], str]:
        """The room state before ``event_id`` (as Synapse serves it: the event excluded)."""
        stored = await self._event_in_room(room_id, event_id)
        if stored.outlier:
            raise MatrixError(404, "M_NOT_FOUND", "No state is known at this event")
        view = EventView(stored.json(), event_id, version)
        before = await compute_state_before(self._events, self._state, version, view.prev_event_ids)
        return before.state

    async def auth_chain_ids(self, event_ids: Sequence[str], version: RoomVersion) -> list[str]:
        """Every event in the auth chains of ``event_ids`` (themselves excluded)."""
        loaded = await load_with_auth_chains(self._events, event_ids, version)
        chain: set[str] = set()
        for event_id in event_ids:
            view = loaded.views.get(event_id)
            if view is not None:
                chain.update(view.auth_event_ids)
        frontier = list(chain)
        while frontier:
            following: list[str] = []
            for event_id in frontier:
                view = loaded.views.get(event_id)
                for ref in [] if view is None else view.auth_event_ids:
                    if ref not in chain:
                        chain.add(ref)
                        following.append(ref)
            frontier = following
        return sorted(e for e in chain if e in loaded.views)

    async def state_ids(self, origin: str, room_id: str, event_id: str) -> dict[str, Any]:
        """``GET /state_ids/{roomId}?event_id=``."""
        version = await self.check_access(origin, room_id)
        state = await self.state_ids_before(room_id, event_id, version)
        pdu_ids = sorted(state.values())
        return {"pdu_ids": pdu_ids, "auth_chain_ids": await self.auth_chain_ids(pdu_ids, version)}

    async def state(self, origin: str, room_id: str, event_id: str) -> dict[str, Any]:
        """``GET /state/{roomId}?event_id=``."""
        version = await self.check_access(origin, room_id)
        state = await self.state_ids_before(room_id, event_id, version)
        return await self.state_response(list(state.values()), version)

    async def state_response(
        self, state_ids: Sequence[str], version: RoomVersion
    ) -> dict[str, Any]:
        """``pdus`` and ``auth_chain`` for a state given by event IDs."""
        chain = await self.auth_chain_ids(state_ids, version)
        stored = await self._events.get_events([*state_ids, *chain])
        return {
            "pdus": [stored[e].json() for e in sorted(state_ids) if e in stored],
            "auth_chain": [stored[e].json() for e in chain if e in stored],
        }

    async def event_auth(self, origin: str, room_id: str, event_id: str) -> dict[str, Any]:
        """``GET /event_auth/{roomId}/{eventId}``: the event's auth chain."""
        version = await self.check_access(origin, room_id)
        await self._event_in_room(room_id, event_id)
        chain = await self.auth_chain_ids([event_id], version)
        stored = await self._events.get_events(chain)
        return {"auth_chain": [stored[e].json() for e in chain if e in stored]}

    async def get_missing_events(
        self,
        origin: str,
        room_id: str,
        *,
        earliest: Sequence[str],
        latest: Sequence[str],
        limit: int,
        min_depth: int,
    ) -> dict[str, Any]:
        """``POST /get_missing_events/{roomId}``: events before ``latest`` back to
        ``earliest`` (neither included), breadth-first, at most ``limit``, oldest first."""
        await self.check_access(origin, room_id)
        limit = max(0, min(limit, MAX_LIMIT))
        seen = set(earliest) | set(latest)
        frontier = list(latest)
        found: list[StoredEvent] = []
        while frontier and len(found) < limit:
            prevs: list[str] = []
            for event_id in frontier:
                for prev in await self._events.get_prev_event_ids(event_id):
                    if prev not in seen:
                        seen.add(prev)
                        prevs.append(prev)
            stored = await self._events.get_events(prevs)
            frontier = []
            for prev in prevs:
                s = stored.get(prev)
                if s is None or s.room_id != room_id or s.outlier or s.depth < min_depth:
                    continue
                found.append(s)
                frontier.append(prev)
                if len(found) >= limit:
                    break
        found.sort(key=lambda s: (s.depth, s.stream_ordering))
        return {"events": [s.json() for s in found]}

    async def backfill(
        self, origin: str, room_id: str, from_ids: Sequence[str], limit: int
    ) -> list[dict[str, Any]]:
        """``GET /backfill/{roomId}?v=&limit=``: the events ``from_ids`` and those before them,
        breadth-first, at most ``limit``, newest first."""
        await self.check_access(origin, room_id)
        limit = max(0, min(limit, MAX_LIMIT))
        seen: set[str] = set()
        frontier = list(dict.fromkeys(from_ids))
        found: list[StoredEvent] = []
        while frontier and len(found) < limit:
            stored = await self._events.get_events([e for e in frontier if e not in seen])
            seen.update(frontier)
            following: list[str] = []
            for event_id in frontier:
                s = stored.get(event_id)
                if s is None or s.room_id != room_id or s.outlier:
                    continue
                found.append(s)
                if len(found) >= limit:
                    break
                following.extend(
                    p for p in await self._events.get_prev_event_ids(event_id) if p not in seen
                )
            frontier = list(dict.fromkeys(following))
        found.sort(key=lambda s: (s.depth, s.stream_ordering), reverse=True)
        return [s.json() for s in found]


def _server_of(user_id: str) -> str | None:
    try:
        return server_name_of(user_id)
    except ValueError:
        return None
