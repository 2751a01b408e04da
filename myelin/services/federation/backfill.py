"""Outbound backfill (spec: Server-Server API, "Backfilling and retrieving missing events":
``GET /backfill/{roomId}``).

When ``/messages`` reaches the start of what this server holds of a room joined over
federation (the prev events of its earliest events are not held: the "backward extremities"),
older events are asked of the room's other servers, one after the other until one answers
with something. Each PDU goes through the receive checklist: steps 1 to 3 (format,
signatures, hashes; ``check_pdu``), then the write path with ``EventSource.BACKFILL``: its
auth events (fetched with ``/event_auth`` when missing), step 4 (auth events), step 5 (the
state before it: computed from its prev events when held, otherwise asked of the server with
``/state``). Soft failure (step 6) does not apply to history. Oldest first, so that each
event's prev events are in place for the next.

Backfilled events take negative stream orderings (``EventStore.persist_event(backfilled=)``):
they sort before everything held in ``/messages`` and are never new to ``/sync``; they change
neither the room's current state nor its forward extremities, and nobody is notified.
"""

import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

from myelin.core.events import EventView
from myelin.core.identifiers import server_name_of
from myelin.core.room_versions import get_room_version
from myelin.federation.client import FederationError, quote_segment
from myelin.services.events import MissingPrerequisiteError
from myelin.services.federation.pdu_checks import EventSignatureChecker, PduDroppedError, check_pdu
from myelin.services.federation.receiver import FederationRequester, PduReceiver
from myelin.storage import EventStore, RoomStore, StateStore

logger = logging.getLogger("myelin.federation.backfill")

FEDERATION_V1 = "/_matrix/federation/v1"
# At most this many events asked for at once.
MAX_BACKFILL = 100


class Backfiller:
    def __init__(
        self,
        *,
        server_name: str,
        client: FederationRequester,
        receiver: PduReceiver,
        keys: EventSignatureChecker,
        events: EventStore,
        state: StateStore,
        rooms: RoomStore,
        permits: Callable[[str], bool],
    ) -> None:
        self._server_name = server_name
        self._client = client
        self._receiver = receiver
        self._keys = keys
        self._events = events
        self._state = state
        self._rooms = rooms
        self._permits = permits
        # Backward extremities no server had anything before: not asked again.
        self._exhausted: set[tuple[str, tuple[str, ...]]] = set()

    async def servers_in_room(self, room_id: str) -> list[str]:
        """The other servers with a joined member, the room creator's first (most likely to
        hold the oldest history)."""
        servers: list[str] = []
        create_id = await self._state.get_current_state_event_id(room_id, "m.room.create", "")
        create = None if create_id is None else await self._events.get_event(create_id)
        if create is not None:
            with contextlib.suppress(ValueError):
                servers.append(server_name_of(create.sender))
        for user_id in sorted(await self._state.get_room_members(room_id)):
            try:
                servers.append(server_name_of(user_id))
            except ValueError:
                continue
        return [s for s in dict.fromkeys(servers) if s != self._server_name and self._permits(s)]

    async def remote_timestamp_to_event(
        self, room_id: str, ts: int, forwards: bool
    ) -> dict[str, Any] | None:
        """The closest event to ``ts`` as the room's other servers have it
        (``GET /timestamp_to_event``): the first that answers one."""
        for server in await self.servers_in_room(room_id):
            try:
                body = await self._client.get_json(
                    server,
                    f"{FEDERATION_V1}/timestamp_to_event/{quote_segment(room_id)}",
                    {"ts": str(ts), "dir": "f" if forwards else "b"},
                )
            except FederationError as e:
                logger.info("timestamp_to_event in %s from %s failed: %s", room_id, server, e)
                continue
            event_id = body.get("event_id") if isinstance(body, dict) else None
            found_ts = body.get("origin_server_ts") if isinstance(body, dict) else None
            if (
                isinstance(event_id, str)
                and event_id.startswith("$")
                and isinstance(found_ts, int)
                and not isinstance(found_ts, bool)
                and (found_ts >= ts if forwards else found_ts <= ts)
            ):
                return {"event_id": event_id, "origin_server_ts": found_ts}
        return None

    async def backfill(self, room_id: str, limit: int) -> int:
        """Fetch up to ``limit`` events older than what is held of the room; return how many
        were stored as timeline events (0: nothing older, or no server had any)."""
        extremities = await self._events.get_backward_extremities(room_id)
        if not extremities:
            return 0  # the room's history is complete here (it reaches the create event)
        key = (room_id, tuple(extremities))
        if key in self._exhausted:
            return 0
        room = await self._rooms.get_room(room_id)
        if room is None:
            return 0
        limit = max(1, min(limit, MAX_BACKFILL))
        for server in await self.servers_in_room(room_id):
            try:
                body = await self._client.get_json(
                    server,
                    f"{FEDERATION_V1}/backfill/{quote_segment(room_id)}",
                    {"v": extremities, "limit": str(limit)},
                )
            except FederationError as e:
                logger.info("Backfilling %s from %s failed: %s", room_id, server, e)
                continue
            pdus = body.get("pdus") if isinstance(body, dict) else None
            if not isinstance(pdus, list):
                continue
            # No more than asked for (with slack for the events named in v): a server
            # answering with a flood is not processed beyond that.
            pdus = pdus[: limit + len(extremities)]
            stored = await self._store(server, room_id, room.room_version, pdus)
            if stored:
                return stored
        self._exhausted.add(key)
        return 0

    async def _store(self, origin: str, room_id: str, version_id: str, pdus: Sequence[Any]) -> int:
        room_version = get_room_version(version_id)
        checked: dict[str, EventView] = {}
        for pdu in pdus:
            try:
                # Steps 1 to 3: format, signatures, hashes (redacted on a mismatch).
                event = await check_pdu(pdu, room_version, self._keys)
            except PduDroppedError as e:
                logger.info("Dropping a backfilled PDU from %s: %s", origin, e)
                continue
            if event.room_id == room_id:
                checked[event.event_id] = event
        held = await self._events.get_events(list(checked))
        new = [e for e in checked.values() if e.event_id not in held or held[e.event_id].outlier]
        stored = 0
        # Oldest first: each event's prev events are then held for the next; the positions
        # ascend with them.
        ordered = sorted(new, key=lambda e: (e.depth, e.event_id))
        positions = await self._events.reserve_backfill_positions(len(ordered))
        for event, position in zip(ordered, positions, strict=True):
            try:
                written = await self._receiver.receive_checked(
                    origin, event, fetch_missing=False, backfill_position=position
                )
            except (MissingPrerequisiteError, PduDroppedError, FederationError) as e:
                logger.info("Backfilled event %s not stored: %s", event.event_id, e)
                continue
            if written is not None and written.rejected_reason is None:
                stored += 1
        return stored
