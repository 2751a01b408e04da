"""Receiving PDUs into a room (spec: Server-Server API, "Checks performed on receipt of a PDU",
"Retrieving events" (``get_missing_events``, ``/state_ids``, ``/state``, ``/event``,
``/event_auth``) and "Room State
Resolution").

``PduReceiver.receive`` takes one PDU of a room this server takes part in and runs it through
the checklist:

1. format, 2. signatures, 3. hashes (``check_pdu``);
then, before the authorization rules can run, what they need:
a. the event's auth events: when some are not stored, the event's auth chain is fetched with
   ``/event_auth`` and stored as outliers (each checked by steps 1 to 4 itself);
b. its prev events: when some are not stored, ``get_missing_events`` asks the origin for the
   events between our forward extremities and this one, which are received first (oldest
   first); if that does not close the gap, the state before the event is fetched: its event
   IDs with ``/state_ids``, the events not held with ``/event`` (``/state`` instead when many
   are missing), stored as outliers with their auth chains;
4. and 5. the authorization rules against the auth events and the state before the event, and
6. soft failure against the current state: the write path (``EventSource.FEDERATION``).
"""

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol, TypeGuard
from urllib.parse import quote as _quote

from myelin.core.events import EventView
from myelin.core.room_versions import RoomVersion
from myelin.services.events import EventSource, EventWriter, MissingPrerequisiteError
from myelin.services.events.write_path import WrittenEvent
from myelin.services.federation.pdu_checks import (
    EventSignatureChecker,
    PduDroppedError,
    check_pdu,
)
from myelin.storage import EventStore

logger = logging.getLogger("myelin.federation.pdus")

FEDERATION_V1 = "/_matrix/federation/v1"
# How many missing events one get_missing_events request asks for (Synapse asks for 10).
MISSING_EVENTS_LIMIT = 10
# /state_ids then one /event per unknown event, unless more than this many (or a tenth of the
# state and auth chain) are unknown: then the one /state response is cheaper (Synapse makes
# the same choice).
STATE_IDS_MAX_FETCHES = 10
# How many /event requests run at once.
EVENT_FETCH_CONCURRENCY = 5


class FederationRequester(Protocol):
    """The part of ``FederationClient`` the receiver uses."""

    async def get_json(
        self,
        destination: str,
        path: str,
        query: Mapping[str, str | Sequence[str]] | None = None,
        *,
        ignore_backoff: bool = False,
        timeout_s: float | None = None,
    ) -> Any: ...

    async def post_json(
        self,
        destination: str,
        path: str,
        body: Any,
        query: Mapping[str, str | Sequence[str]] | None = None,
        *,
        ignore_backoff: bool = False,
        timeout_s: float | None = None,
    ) -> Any: ...


def quote(value: str) -> str:
    """One path segment percent-encoded."""
    return _quote(value, safe="")


def sort_by_auth(events: Iterable[EventView]) -> list[EventView]:
    """``events`` ordered so that each comes after those of its auth events among them (ties
    and cycles broken by depth, then event ID)."""
    pending = {e.event_id: e for e in events}
    ordered: list[EventView] = []
    placed: set[str] = set()
    while pending:
        ready = [
            e
            for e in pending.values()
            if not any(a in pending and a not in placed for a in e.auth_event_ids)
        ]
        if not ready:  # a cycle: cannot be valid, but do not loop forever
            ready = list(pending.values())
        ready.sort(key=lambda e: (e.depth, e.event_id))
        for e in ready:
            ordered.append(e)
            placed.add(e.event_id)
            del pending[e.event_id]
    return ordered


class PduReceiver:
    """Runs received PDUs through the checklist and the write path."""

    def __init__(
        self,
        *,
        server_name: str,
        client: FederationRequester,
        keys: EventSignatureChecker,
        writer: EventWriter,
        events: EventStore,
    ) -> None:
        self._server_name = server_name
        self._client = client
        self._keys = keys
        self._writer = writer
        self._events = events

    async def receive(
        self, origin: str, pdu: Any, room_version: RoomVersion, *, fetch_missing: bool = True
    ) -> WrittenEvent | None:
        """Receive one PDU from ``origin``; None when it was already known. Raise
        ``PduDroppedError`` (steps 1 and 2) or ``MissingPrerequisiteError`` when what it needs
        cannot be found. A rejected or soft-failed event is persisted as such."""
        # Steps 1 to 3.
        event = await check_pdu(pdu, room_version, self._keys)
        return await self.receive_checked(origin, event, fetch_missing=fetch_missing)

    async def receive_checked(
        self,
        origin: str,
        event: EventView,
        *,
        fetch_missing: bool = True,
        state_before: Mapping[tuple[str, str], str] | None = None,
        backfill_position: int | None = None,
    ) -> WrittenEvent | None:
        """``receive`` after steps 1 to 3 (``backfill_position``: history fetched with
        ``/backfill``, persisted at that negative stream ordering)."""
        existing = await self._events.get_event(event.event_id)
        if existing is not None and not existing.outlier:
            return None
        # a. The auth events must be stored for step 4.
        await self._ensure_auth_events(origin, event)
        # b. The prev events (with their state) must be stored for step 5.
        if state_before is None:
            state_before = await self._ensure_prev_events(origin, event, fetch_missing)
        # Steps 4, 5 and 6.
        if backfill_position is not None:
            return await self._writer.handle_event(
                event, EventSource.BACKFILL, state_before, backfill_position=backfill_position
            )
        return await self._writer.handle_event(event, EventSource.FEDERATION, state_before)

    # -- a. auth events ----------------------------------------------------------------------

    async def _ensure_auth_events(self, origin: str, event: EventView) -> None:
        wanted = list(event.auth_event_ids)
        if event.room_version.room_id_is_create_event_id and event.type != "m.room.create":
            wanted.append("$" + event.room_id[1:])
        missing = set(wanted) - await self._events.have_events(wanted)
        if not missing:
            return
        body = await self._client.get_json(
            origin,
            f"{FEDERATION_V1}/event_auth/{quote(event.room_id)}/{quote(event.event_id)}",
        )
        chain = body.get("auth_chain") if isinstance(body, dict) else None
        if not isinstance(chain, list):
            raise MissingPrerequisiteError("bad /event_auth response", sorted(missing))
        await self.store_outliers(chain, event.room_version)
        still = set(wanted) - await self._events.have_events(wanted)
        if still:
            raise MissingPrerequisiteError(f"auth events {sorted(still)} not found", sorted(still))

    async def store_outliers(self, pdus: Iterable[Any], room_version: RoomVersion) -> int:
        """Check (steps 1 to 4) and store ``pdus`` as outliers, auth events first; PDUs that
        are dropped or whose auth events are missing are skipped. Return how many are stored."""
        checked: list[EventView] = []
        for pdu in pdus:
            try:
                checked.append(await check_pdu(pdu, room_version, self._keys))
            except PduDroppedError as e:
                logger.info("Dropping an outlier: %s", e)
        have = await self._events.have_events([e.event_id for e in checked])
        stored = 0
        for event in sort_by_auth(e for e in checked if e.event_id not in have):
            try:
                await self._writer.persist_outlier(event)
                stored += 1
            except MissingPrerequisiteError as e:
                logger.info("Not storing outlier %s: %s", event.event_id, e)
        return stored

    # -- b. prev events ----------------------------------------------------------------------

    async def _missing_prevs(self, event: EventView) -> list[str]:
        prevs = list(dict.fromkeys(event.prev_event_ids))
        stored = await self._events.get_events(prevs)
        return [p for p in prevs if p not in stored or stored[p].outlier]

    async def _ensure_prev_events(
        self, origin: str, event: EventView, fetch_missing: bool
    ) -> Mapping[tuple[str, str], str] | None:
        """None when every prev event is stored with its state; else the state before the
        event fetched from ``origin``."""
        missing = await self._missing_prevs(event)
        if not missing:
            return None
        if fetch_missing:
            await self._get_missing_events(origin, event)
            missing = await self._missing_prevs(event)
            if not missing:
                return None
        return await self.fetch_state_before(origin, event.room_id, event.event_id, event)

    async def _get_missing_events(self, origin: str, event: EventView) -> None:
        extremities = await self._events.get_forward_extremities(event.room_id)
        stored = await self._events.get_events(extremities)
        min_depth = min((s.depth for s in stored.values()), default=0)
        try:
            body = await self._client.post_json(
                origin,
                f"{FEDERATION_V1}/get_missing_events/{quote(event.room_id)}",
                {
                    "earliest_events": extremities,
                    "latest_events": [event.event_id],
                    "limit": MISSING_EVENTS_LIMIT,
                    "min_depth": min_depth,
                },
            )
        except Exception as e:  # any failure: fall back to fetching the state
            logger.info("get_missing_events for %s from %s failed: %s", event.event_id, origin, e)
            return
        pdus = body.get("events") if isinstance(body, dict) else None
        if not isinstance(pdus, list):
            return
        checked: list[EventView] = []
        for pdu in pdus:
            try:
                checked.append(await check_pdu(pdu, event.room_version, self._keys))
            except PduDroppedError as e:
                logger.info("Dropping a missing event: %s", e)
        # Oldest first; each may in turn need the state fetched (no recursive fetching).
        for missing in sorted(checked, key=lambda e: (e.depth, e.event_id)):
            if missing.event_id == event.event_id or missing.room_id != event.room_id:
                continue
            try:
                await self.receive_checked(origin, missing, fetch_missing=False)
            except (MissingPrerequisiteError, PduDroppedError) as e:
                logger.info("Missing event %s not received: %s", missing.event_id, e)

    async def fetch_state_before(
        self, origin: str, room_id: str, event_id: str, event: EventView
    ) -> dict[tuple[str, str], str]:
        """The room state before ``event_id`` as ``origin`` has it, its events and auth chain
        stored as outliers: ``GET /state_ids`` and ``GET /event`` for each event not held, or
        ``GET /state`` when many are missing or that way fails."""
        by_ids = await self._state_by_ids(origin, room_id, event_id, event.room_version)
        if by_ids is not None:
            return by_ids
        body = await self._client.get_json(
            origin, f"{FEDERATION_V1}/state/{quote(room_id)}", {"event_id": event_id}
        )
        if not isinstance(body, dict):
            raise MissingPrerequisiteError("bad /state response", [event_id])
        pdus = body.get("pdus")
        chain = body.get("auth_chain")
        if not isinstance(pdus, list) or not isinstance(chain, list):
            raise MissingPrerequisiteError("bad /state response", [event_id])
        return await self.store_state(pdus, chain, event.room_version)

    async def _state_by_ids(
        self, origin: str, room_id: str, event_id: str, room_version: RoomVersion
    ) -> dict[tuple[str, str], str] | None:
        """The state before ``event_id`` through ``/state_ids``; None when ``/state`` should
        be asked instead."""
        try:
            body = await self._client.get_json(
                origin, f"{FEDERATION_V1}/state_ids/{quote(room_id)}", {"event_id": event_id}
            )
        except Exception as e:  # any failure: ask /state
            logger.info("state_ids at %s from %s failed: %s", event_id, origin, e)
            return None
        pdu_ids = body.get("pdu_ids") if isinstance(body, dict) else None
        chain_ids = body.get("auth_chain_ids") if isinstance(body, dict) else None
        if not _str_list(pdu_ids) or not _str_list(chain_ids):
            return None
        wanted = list(dict.fromkeys([*chain_ids, *pdu_ids]))
        held = await self._events.have_events(wanted)
        missing = [i for i in wanted if i not in held]
        if len(missing) > max(STATE_IDS_MAX_FETCHES, len(wanted) // 10):
            return None
        pdus: list[Any] = []
        for start in range(0, len(missing), EVENT_FETCH_CONCURRENCY):
            batch = missing[start : start + EVENT_FETCH_CONCURRENCY]
            fetched = await asyncio.gather(*(self._fetch_event(origin, i) for i in batch))
            if any(pdu is None for pdu in fetched):
                return None
            pdus.extend(fetched)
        await self.store_outliers(pdus, room_version)
        # Every state event must now be held (a server answering /event with another event
        # than asked leaves a hole): else /state.
        stored = await self._events.get_events(pdu_ids)
        if len(stored) < len(set(pdu_ids)):
            return None
        state: dict[tuple[str, str], str] = {}
        for stored_id, s in stored.items():
            pdu = s.json()
            if s.rejected_reason is None and isinstance(pdu.get("state_key"), str):
                state[(str(pdu.get("type")), pdu["state_key"])] = stored_id
        return state

    async def _fetch_event(self, origin: str, event_id: str) -> Any:
        """The PDU ``origin`` gives for ``event_id`` (``GET /event``); None on failure."""
        try:
            body = await self._client.get_json(origin, f"{FEDERATION_V1}/event/{quote(event_id)}")
        except Exception as e:  # any failure: ask /state
            logger.info("Fetching %s from %s failed: %s", event_id, origin, e)
            return None
        pdus = body.get("pdus") if isinstance(body, dict) else None
        if not isinstance(pdus, list) or len(pdus) != 1 or not isinstance(pdus[0], dict):
            return None
        return pdus[0]

    async def store_state(
        self, pdus: Sequence[Any], auth_chain: Sequence[Any], room_version: RoomVersion
    ) -> dict[tuple[str, str], str]:
        """Store a state response (state events and auth chain) as outliers and return the
        state map of the state events that are stored and not rejected."""
        await self.store_outliers([*auth_chain, *pdus], room_version)
        state_ids: list[str] = []
        keys: dict[str, tuple[str, str]] = {}
        for pdu in pdus:
            if not isinstance(pdu, dict) or not isinstance(pdu.get("state_key"), str):
                continue
            try:
                view = await check_pdu(pdu, room_version, self._keys)
            except PduDroppedError:
                continue
            pair = view.state_pair
            if pair is not None:
                state_ids.append(view.event_id)
                keys[view.event_id] = pair
        stored = await self._events.get_events(state_ids)
        state: dict[tuple[str, str], str] = {}
        for event_id, pair in keys.items():
            s = stored.get(event_id)
            if s is not None and s.rejected_reason is None:
                state[pair] = event_id
        return state


def _str_list(value: Any) -> TypeGuard[list[str]]:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)
