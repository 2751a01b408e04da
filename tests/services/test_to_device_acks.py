"""To-device acknowledgement (Client-Server API, "Send-to-Device messaging", "Server
behaviour"): a /sync deletes the messages its ``since`` acknowledges, writing only when it
acknowledges more than this process already deleted, and never redelivers them."""

from collections.abc import Sequence
from typing import Any

from myelin.services.notifier import InProcessNotifier
from myelin.services.to_device import ToDeviceService
from myelin.storage import DeviceRecord
from myelin.storage.caches import LruCache
from myelin.storage.to_device import InboxMessage
from tests.api.conftest import FakeClock

ALICE = "@alice:example.org"


class FakeInbox:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, int, dict[str, Any]]] = []
        self.deletes: list[int] = []
        self.reads = 0
        self.position = 0

    async def current_position(self) -> int:
        return self.position

    async def enqueue(
        self,
        deliveries: Sequence[tuple[str, str, dict[str, Any]]],
        *,
        txn_key: tuple[str, str, str] | None = None,
        now_ms: int = 0,
    ) -> int | None:
        for user_id, device_id, message in deliveries:
            self.position += 1
            self.rows.append((user_id, device_id, self.position, message))
        return self.position

    async def get_messages(
        self, user_id: str, device_id: str, after: int, upto: int, limit: int
    ) -> list[InboxMessage]:
        self.reads += 1
        found = [
            InboxMessage(p, m)
            for u, d, p, m in self.rows
            if (u, d) == (user_id, device_id) and after < p <= upto
        ]
        return found[:limit]

    async def delete_messages_upto(self, user_id: str, device_id: str, upto: int) -> int:
        self.deletes.append(upto)
        before = len(self.rows)
        self.rows = [
            r for r in self.rows if not ((r[0], r[1]) == (user_id, device_id) and r[2] <= upto)
        ]
        return before - len(self.rows)

    async def delete_devices(self, user_id: str, device_ids: Sequence[str]) -> None:
        return None


class OneDevice:
    async def list_devices(self, user_id: str) -> list[DeviceRecord]:
        return [DeviceRecord(user_id, "D", None, 0, None, None, None)]


async def test_acknowledging_writes_once_per_new_position() -> None:
    inbox, clock = FakeInbox(), FakeClock()
    service = ToDeviceService("example.org", inbox, OneDevice(), InProcessNotifier(clock), clock)
    for n in range(2):
        await service.send(ALICE, "D", "m.test", f"t{n}", {ALICE: {"D": {"n": n}}})
    messages, reached = await service.messages_for(ALICE, "D", 0, 2)
    assert [m["content"] for m in messages] == [{"n": 0}, {"n": 1}] and reached == 2
    assert inbox.deletes == []
    # The next syncs acknowledge position 2: one delete, then none while nothing moves.
    for _ in range(3):
        assert await service.messages_for(ALICE, "D", 2, 2) == ([], 2)
    assert inbox.deletes == [2] and inbox.reads == 1
    # A new message: delivered; acknowledging it deletes once more.
    await service.send(ALICE, "D", "m.test", "t2", {ALICE: {"D": {"n": 2}}})
    messages, _ = await service.messages_for(ALICE, "D", 2, 3)
    assert [m["content"] for m in messages] == [{"n": 2}]
    await service.messages_for(ALICE, "D", 3, 3)
    assert inbox.deletes == [2, 3] and inbox.rows == []
    # An older token after the acknowledgement: nothing is delivered again.
    assert await service.messages_for(ALICE, "D", 1, 3) == ([], 3)


async def test_least_recently_syncing_devices_are_forgotten_first() -> None:
    inbox, clock = FakeInbox(), FakeClock()
    service = ToDeviceService(
        "example.org", inbox, OneDevice(), InProcessNotifier(clock), clock, None, LruCache(2)
    )
    await service.messages_for(ALICE, "A", 5, 5)
    await service.messages_for(ALICE, "B", 5, 5)
    await service.messages_for(ALICE, "A", 5, 5)  # remembered: no write, and A is recent again
    assert inbox.deletes == [5, 5]
    await service.messages_for(ALICE, "C", 5, 5)  # pushes out B, the least recently syncing
    await service.messages_for(ALICE, "A", 5, 5)
    assert inbox.deletes == [5, 5, 5]
    await service.messages_for(ALICE, "B", 5, 5)  # forgotten: acknowledged once more
    assert inbox.deletes == [5, 5, 5, 5]
