"""Shared helpers of the event and room service tests: a manual clock and the services wired
over a real database (no tests here)."""

import asyncio
from dataclasses import dataclass
from typing import Any

from myelin.core.auth_rules import check_auth_rules
from myelin.core.events import EventView
from myelin.core.room_versions import RoomVersion, get_room_version
from myelin.core.signing import SigningKey
from myelin.services.events import EventService, EventWriter, SequentialIds
from myelin.services.notifier import InProcessNotifier
from myelin.services.rooms import RoomService
from myelin.storage import Database, StoredEvent, Stores, make_stores

SERVER = "example.org"
ALICE = f"@alice:{SERVER}"
BOB = f"@bob:{SERVER}"
CAROL = f"@carol:{SERVER}"
SIGNING_KEY = SigningKey.from_seed("a_test", bytes(range(32)))


class ManualClock:
    """A clock tests drive: ``now_ms`` steps by ``step_ms`` on every read (so events get
    distinct, increasing timestamps) and ``sleep`` returns only when ``advance`` passes its
    deadline."""

    def __init__(self, start_ms: int = 1_700_000_000_000, step_ms: int = 1) -> None:
        self._now = start_ms
        self._step = step_ms
        self._sleepers: list[tuple[int, asyncio.Future[None]]] = []

    def now_ms(self) -> int:
        now = self._now
        self._now += self._step
        return now

    def monotonic(self) -> float:
        return self._now / 1000

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self._now + int(seconds * 1000), future))
        await future

    def sleeping(self) -> int:
        return sum(1 for _, f in self._sleepers if not f.done())

    def advance(self, seconds: float) -> None:
        self._now += int(seconds * 1000)
        for deadline, future in self._sleepers:
            if deadline <= self._now and not future.done():
                future.set_result(None)
        self._sleepers = [(d, f) for d, f in self._sleepers if not f.done()]


@dataclass
class Services:
    stores: Stores
    clock: ManualClock
    notifier: InProcessNotifier
    writer: EventWriter
    events: EventService
    rooms: RoomService


def make_services(database: Database) -> Services:
    stores = make_stores(database)
    clock = ManualClock()
    notifier = InProcessNotifier(clock)
    ids = SequentialIds("ev")
    writer = EventWriter(
        server_name=SERVER,
        signing_key=SIGNING_KEY,
        events=stores.events,
        state=stores.state,
        notifier=notifier,
        clock=clock,
        ids=ids,
    )
    events = EventService(
        server_name=SERVER,
        writer=writer,
        rooms=stores.rooms,
        state=stores.state,
        events=stores.events,
    )
    rooms = RoomService(
        server_name=SERVER, writer=writer, rooms=stores.rooms, clock=clock, ids=SequentialIds("r")
    )
    return Services(stores, clock, notifier, writer, events, rooms)


def view(stored: StoredEvent, room_version: RoomVersion) -> EventView:
    return EventView(stored.json(), stored.event_id, room_version)


async def room_events(services: Services, room_id: str) -> list[EventView]:
    """The room's timeline in stream order, as views."""
    record = await services.stores.rooms.get_room(room_id)
    assert record is not None
    version = get_room_version(record.room_version)
    stored = await services.stores.events.get_room_events(room_id, limit=1000)
    return [view(s, version) for s in stored]


async def check_every_event_authorized(services: Services, room_id: str) -> list[EventView]:
    """Assert that every event of the room passes the auth rules against its own auth events
    (as stored); return the events."""
    events = await room_events(services, room_id)
    by_id = {e.event_id: e for e in events}
    create = next(e for e in events if e.type == "m.room.create")
    for event in events:
        auth_events = [by_id[a] for a in event.auth_event_ids]
        check_auth_rules(event.room_version, event, auth_events, create_event=create)
    return events


async def current_state_content(
    services: Services, room_id: str
) -> dict[tuple[str, str], dict[str, Any]]:
    """The room's current state as ``(type, state_key) -> content``."""
    state = await services.stores.state.get_current_state(room_id)
    stored = await services.stores.events.get_events(list(state.values()))
    return {key: stored[eid].json()["content"] for key, eid in state.items()}
