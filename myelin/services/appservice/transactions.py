"""Pushing events to application services (spec: Application Service API, "Pushing events" and
"Pushing ephemeral data").

One task per application service with a ``url``:

1. Send the oldest stored transaction (``PUT /_matrix/app/v1/transactions/{txnId}``); on
   failure wait (exponential backoff, capped) and send the same transaction again: it is never
   altered. On success delete it and go back to 1.
2. With nothing stored, read the events after the service's stream position, keep the ones it is
   interested in (below), add the ephemeral data queued for it, and store them as the next
   transaction while moving the position, in one database transaction. Go back to 1.
3. With nothing new, wait until an event is persisted or ephemeral data is queued.

An application service is interested in an event ("Registration") when its sender, or the
target of an ``m.room.member`` event, is the service's sender or a local user of its users
namespaces; when the room ID matches its rooms namespaces; when an alias of the room matches its
aliases namespaces; or when such a user is joined to the room.

Ephemeral data is queued in memory until it is put into a transaction (then it is durable):
ephemeral data queued when the server stops is lost, as it is for clients.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

import orjson

from myelin.clock import Clock
from myelin.config.appservices import AppserviceRegistration
from myelin.core.client_events import age_ts_from_received, format_client_event
from myelin.core.errors import UnsupportedRoomVersionError
from myelin.core.room_versions import get_room_version
from myelin.services.appservice.client import AppserviceClient
from myelin.services.appservice.registry import AppserviceRegistry
from myelin.storage import StoredEvent
from myelin.storage.appservices import AppserviceStore

logger = logging.getLogger("myelin.appservice")

# How many events one transaction holds at most (and ephemeral items).
MAX_EVENTS_PER_TXN = 100
MAX_EPHEMERAL_PER_TXN = 100
# Queued ephemeral data per service beyond which the oldest is dropped (a service that is down
# for long does not make the server grow without bound).
MAX_QUEUED_EPHEMERAL = 10_000


class EventLookup(Protocol):
    async def get_events(self, event_ids: Sequence[str]) -> dict[str, StoredEvent]: ...


class RoomLookup(Protocol):
    async def get_room_members(self, room_id: str, membership: str = "join") -> list[str]: ...

    async def get_rooms_for_user(self, user_id: str, membership: str = "join") -> list[str]: ...


class AliasLookup(Protocol):
    async def get_aliases_for_room(self, room_id: str) -> list[str]: ...


class _RoomFacts:
    """Members and aliases of the rooms of one batch, each looked up once."""

    def __init__(self, state: RoomLookup, aliases: AliasLookup) -> None:
        self._state = state
        self._aliases = aliases
        self._members: dict[str, list[str]] = {}
        self._room_aliases: dict[str, list[str]] = {}

    async def members(self, room_id: str) -> list[str]:
        if room_id not in self._members:
            self._members[room_id] = await self._state.get_room_members(room_id)
        return self._members[room_id]

    async def aliases(self, room_id: str) -> list[str]:
        if room_id not in self._room_aliases:
            self._room_aliases[room_id] = await self._aliases.get_aliases_for_room(room_id)
        return self._room_aliases[room_id]


class AppserviceTransactions:
    """Builds each application service's transactions from the event stream and sends them."""

    def __init__(
        self,
        registry: AppserviceRegistry,
        *,
        store: AppserviceStore,
        events: EventLookup,
        state: RoomLookup,
        aliases: AliasLookup,
        room_versions: Callable[[str], Awaitable[str | None]],
        client: AppserviceClient,
        clock: Clock,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._registry = registry
        self._store = store
        self._events = events
        self._state = state
        self._aliases = aliases
        self._room_versions = room_versions
        self._client = client
        self._clock = clock
        self._sleep = sleep
        # Exponential backoff after a failed send: min_backoff_s, doubling up to max_backoff_s.
        self.min_backoff_s = 1.0
        self.max_backoff_s = 300.0
        self._wake: dict[str, asyncio.Event] = {}
        self._ephemeral: dict[str, list[dict[str, Any]]] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def _pushed(self) -> list[AppserviceRegistration]:
        return [r for r in self._registry.registrations if r.url is not None]

    async def start(self) -> None:
        """Start each service's stream where the server is now (a new service is not sent the
        history), or where it left off, and its sending task."""
        position = await self._store.current_event_position()
        for registration in self._pushed():
            await self._store.start_stream(registration.id, position)
            self._wake[registration.id] = asyncio.Event()
            self._ephemeral[registration.id] = []
            self._tasks.append(
                asyncio.create_task(self._run(registration), name=f"appservice {registration.id}")
            )

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self._client.close()

    def wake(self) -> None:
        for event in self._wake.values():
            event.set()

    async def on_event_persisted(self, written: object) -> None:
        """After-persist hook of the write path: new events are read from the stream."""
        self.wake()

    # ---- ephemeral data ------------------------------------------------------------------

    def has_ephemeral_receivers(self) -> bool:
        return any(r.receive_ephemeral for r in self._pushed())

    async def push_ephemeral(
        self,
        edu: Mapping[str, Any],
        *,
        room_id: str | None = None,
        users: Sequence[str] = (),
        private_users: Sequence[str] | None = None,
    ) -> None:
        """Queue ``edu`` for each service with ``receive_ephemeral`` that is interested: in the
        room (``room_id``: its ID or aliases, or a joined namespace user) or in one of ``users``
        (presence). ``private_users``: only services whose namespaces hold one of these users
        get it (private read receipts)."""
        for registration in self._pushed():
            if not registration.receive_ephemeral:
                continue
            if private_users is not None and not any(
                registration.is_interested_in_user(u, self._registry.server_name)
                for u in private_users
            ):
                continue
            if not await self._interested_in_ephemeral(registration, room_id, users):
                continue
            queue = self._ephemeral.setdefault(registration.id, [])
            queue.append(dict(edu))
            del queue[:-MAX_QUEUED_EPHEMERAL]
            wake = self._wake.get(registration.id)
            if wake is not None:
                wake.set()

    async def _interested_in_ephemeral(
        self, registration: AppserviceRegistration, room_id: str | None, users: Sequence[str]
    ) -> bool:
        server_name = self._registry.server_name
        if any(registration.is_interested_in_user(u, server_name) for u in users):
            return True
        if room_id is not None:
            facts = _RoomFacts(self._state, self._aliases)
            return await self._interested_in_room(registration, room_id, facts)
        # Presence of a user no namespace holds: interested when sharing a room with them.
        for user_id in users:
            for member_room in await self._state.get_rooms_for_user(user_id):
                facts = _RoomFacts(self._state, self._aliases)
                if await self._interested_in_room(registration, member_room, facts):
                    return True
        return False

    # ---- interest ------------------------------------------------------------------------

    async def _interested_in_room(
        self, registration: AppserviceRegistration, room_id: str, facts: _RoomFacts
    ) -> bool:
        if registration.is_interested_in_room(room_id):
            return True
        if registration.aliases and any(
            registration.is_interested_in_alias(a) for a in await facts.aliases(room_id)
        ):
            return True
        server_name = self._registry.server_name
        return any(
            registration.is_interested_in_user(member, server_name)
            for member in await facts.members(room_id)
        )

    async def is_interested(
        self, registration: AppserviceRegistration, event: StoredEvent, facts: _RoomFacts
    ) -> bool:
        server_name = self._registry.server_name
        if registration.is_interested_in_user(event.sender, server_name):
            return True
        if (
            event.type == "m.room.member"
            and event.state_key is not None
            and registration.is_interested_in_user(event.state_key, server_name)
        ):
            return True
        return await self._interested_in_room(registration, event.room_id, facts)

    # ---- the per-service task ------------------------------------------------------------

    async def _run(self, registration: AppserviceRegistration) -> None:
        backoff = self.min_backoff_s
        wake = self._wake[registration.id]
        while True:
            try:
                # Step 1: the oldest stored transaction first, unchanged on every retry.
                pending = await self._store.oldest_transaction(registration.id)
                if pending is not None:
                    sent = await self._client.put_transaction(
                        registration, str(pending.txn_id), pending.body.encode("utf-8")
                    )
                    if sent:
                        await self._store.delete_transaction(registration.id, pending.txn_id)
                        backoff = self.min_backoff_s
                    else:
                        await self._sleep(backoff)
                        backoff = min(backoff * 2, self.max_backoff_s)
                    continue
                # Step 2: build the next transaction; step 3: wait for news.
                wake.clear()
                if await self.build_transaction(registration):
                    continue
                await wake.wait()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("Application service %s: sending failed", registration.id)
                await self._sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)

    async def build_transaction(self, registration: AppserviceRegistration) -> bool:
        """Store the next transaction from the stream and queued ephemeral data; whether the
        stream position moved or a transaction was stored."""
        state = await self._store.get_stream_state(registration.id)
        if state is None:
            state = await self._store.start_stream(
                registration.id, await self._store.current_event_position()
            )
        upto = await self._store.current_event_position()
        found = await self._store.event_ids_after(state.position, upto, MAX_EVENTS_PER_TXN)
        queue = self._ephemeral.setdefault(registration.id, [])
        ephemeral = queue[:MAX_EPHEMERAL_PER_TXN]
        if not found and not ephemeral:
            return False
        stored = await self._events.get_events([event_id for event_id, _ in found])
        facts = _RoomFacts(self._state, self._aliases)
        events: list[dict[str, Any]] = []
        for event_id, _ in found:
            event = stored.get(event_id)
            if event is None or not await self.is_interested(registration, event, facts):
                continue
            formatted = await self._format(event)
            if formatted is not None:
                events.append(formatted)
        position = found[-1][1] if found else state.position
        if not events and not ephemeral:
            await self._store.advance(registration.id, position)
            return True
        body: dict[str, Any] = {"events": events}
        if registration.receive_ephemeral:
            body["ephemeral"] = ephemeral
        await self._store.add_transaction(
            registration.id, orjson.dumps(body).decode("utf-8"), position, self._clock.now_ms()
        )
        del queue[: len(ephemeral)]
        return True

    async def _format(self, event: StoredEvent) -> dict[str, Any] | None:
        version_name = await self._room_versions(event.room_id)
        if version_name is None:
            return None
        try:
            room_version = get_room_version(version_name)
        except UnsupportedRoomVersionError:
            return None
        pdu = event.json()
        return format_client_event(
            pdu,
            event.event_id,
            room_version=room_version,
            now_ms=self._clock.now_ms(),
            age_ts=age_ts_from_received(pdu, event.received_ts),
        )
