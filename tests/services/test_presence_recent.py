"""``/sync``'s ``set_presence`` (Client-Server API, "Presence") remembers each user's last
written presence instead of reading it on every request, and never acts on a stale one."""

import asyncio

from myelin.services.notifier import InProcessNotifier
from myelin.services.presence import SYNC_REFRESH_MS, PresenceService
from myelin.storage.presence import PresenceRecord
from tests.api.conftest import FakeClock

ALICE = "@alice:example.org"


class FakePresenceStore:
    """Rows in a dict; counts the reads; a write can be held until released."""

    def __init__(self) -> None:
        self.rows: dict[str, PresenceRecord] = {}
        self.reads = 0
        self.writes: list[str] = []
        self.hold: asyncio.Event | None = None
        self._position = 0

    async def current_position(self) -> int:
        return self._position

    async def set_presence(
        self,
        user_id: str,
        state: str,
        status_msg: str | None,
        *,
        last_active_ts: int,
        currently_active: bool,
    ) -> int:
        hold = self.hold
        if hold is not None:
            await hold.wait()
        self._position += 1
        self.rows[user_id] = PresenceRecord(
            user_id, state, status_msg, last_active_ts, currently_active, self._position
        )
        self.writes.append(state)
        return self._position

    async def get_presence(self, user_id: str) -> PresenceRecord | None:
        self.reads += 1
        return self.rows.get(user_id)

    async def get_presence_changes(
        self, user_ids: list[str], after: int = 0, upto: int | None = None
    ) -> list[PresenceRecord]:
        return []


class NoSharing:
    async def share_a_room(self, user_a: str, user_b: str) -> bool:
        return False

    async def users_sharing_rooms(self, user_id: str) -> list[str]:
        return []


def _service(store: FakePresenceStore, clock: FakeClock) -> PresenceService:
    return PresenceService(
        store=store, sharing=NoSharing(), notifier=InProcessNotifier(clock), clock=clock
    )


async def test_syncs_read_the_row_once_and_still_refresh_and_follow_changes() -> None:
    store, clock = FakePresenceStore(), FakeClock()
    store.rows[ALICE] = PresenceRecord(ALICE, "online", "busy", clock.now, True, 0)
    presence = _service(store, clock)
    for _ in range(3):
        await presence.set_presence_from_sync(ALICE, "D", "online")
    assert store.reads == 1 and store.writes == []
    # A minute on: the activity time is refreshed, keeping the status message.
    clock.now += SYNC_REFRESH_MS
    await presence.set_presence_from_sync(ALICE, "D", "online")
    assert store.writes == ["online"] and store.rows[ALICE].status_msg == "busy"
    # A change through PUT /presence is what the next sync compares with.
    await presence.set_status(ALICE, ALICE, {"presence": "unavailable"})
    await presence.set_presence_from_sync(ALICE, "D", "unavailable")
    assert store.writes == ["online", "unavailable"]
    await presence.set_presence_from_sync(ALICE, "D", "online")
    assert store.writes == ["online", "unavailable", "online"]
    assert store.reads == 1


async def test_overlapping_writes_leave_nothing_remembered() -> None:
    store, clock = FakePresenceStore(), FakeClock()
    presence = _service(store, clock)
    store.hold = asyncio.Event()
    first = asyncio.ensure_future(presence.set_status(ALICE, ALICE, {"presence": "online"}))
    second = asyncio.ensure_future(presence.set_status(ALICE, ALICE, {"presence": "offline"}))
    await asyncio.sleep(0)
    store.hold.set()
    await asyncio.gather(first, second)
    store.hold = None
    # Which write landed last is the store's to say: the next sync reads it.
    await presence.set_presence_from_sync(ALICE, "D", store.rows[ALICE].state)
    assert store.reads == 1 and len(store.writes) == 2


async def test_a_read_racing_a_write_is_not_remembered() -> None:
    store, clock = FakePresenceStore(), FakeClock()
    store.rows[ALICE] = PresenceRecord(ALICE, "offline", None, clock.now, False, 0)
    presence = _service(store, clock)
    original = store.get_presence

    async def racing_read(user_id: str) -> PresenceRecord | None:
        found = await original(user_id)
        store.get_presence = original  # type: ignore[method-assign]
        await presence.set_status(ALICE, ALICE, {"presence": "unavailable"})
        return found

    store.get_presence = racing_read  # type: ignore[method-assign]
    # The sync read "offline" while a write made it "unavailable": the stale read must not
    # be remembered, or the next sync asking for "offline" would find nothing to change.
    await presence.set_presence_from_sync(ALICE, "D", "offline")
    assert store.rows[ALICE].state == "unavailable"
    await presence.set_presence_from_sync(ALICE, "D", "offline")
    assert store.rows[ALICE].state == "offline"
