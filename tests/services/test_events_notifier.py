"""The in-process notifier: waking long-polls on matching notifications, timeouts on an
injected clock, notifications that arrive before the wait, and the write path notifying."""

import asyncio

from myelin.services.notifier import InProcessNotifier
from myelin.services.rooms import CreateRoomRequest
from myelin.storage import Database
from tests.services.test_events_support import ALICE, BOB, ManualClock, make_services


async def _settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


async def test_wakes_on_matching_room_not_on_others() -> None:
    notifier = InProcessNotifier(ManualClock())
    waiter = asyncio.ensure_future(notifier.wait_for(0, 30, room_ids={"!a:x"}))
    await _settle()
    assert notifier.waiter_count() == 1
    await notifier.notify(1, "!b:x", ["@someone:x"])
    await _settle()
    assert not waiter.done()
    await notifier.notify(2, "!a:x")
    assert await waiter == 2
    assert notifier.waiter_count() == 0


async def test_wakes_on_user() -> None:
    notifier = InProcessNotifier(ManualClock())
    waiter = asyncio.ensure_future(notifier.wait_for(5, 30, user_ids={"@u:x"}))
    await _settle()
    await notifier.notify(6, "!room:x", ["@u:x"])
    assert await waiter == 6


async def test_no_filter_wakes_on_anything_after_position() -> None:
    notifier = InProcessNotifier(ManualClock())
    await notifier.notify(3, "!a:x")
    # Position 3 was seen already: only later ones wake.
    waiter = asyncio.ensure_future(notifier.wait_for(3, 30))
    await _settle()
    assert not waiter.done()
    await notifier.notify(4, None)
    assert await waiter == 4


async def test_times_out_on_the_injected_clock() -> None:
    clock = ManualClock(step_ms=0)
    notifier = InProcessNotifier(clock)
    waiter = asyncio.ensure_future(notifier.wait_for(0, 30, room_ids={"!a:x"}))
    await _settle()
    assert clock.sleeping() == 1
    clock.advance(29.9)
    await _settle()
    assert not waiter.done()
    clock.advance(0.1)
    assert await waiter is None
    assert notifier.waiter_count() == 0
    # A late notification after the timeout is harmless.
    await notifier.notify(1, "!a:x")


async def test_zero_timeout_returns_at_once() -> None:
    notifier = InProcessNotifier(ManualClock())
    assert await notifier.wait_for(0, 0, room_ids={"!a:x"}) is None


async def test_notification_before_the_wait_is_not_missed() -> None:
    notifier = InProcessNotifier(ManualClock())
    await notifier.notify(7, "!a:x")
    await notifier.notify(8, "!b:x")
    # A caller that read the database at position 6 and only now starts waiting.
    assert await notifier.wait_for(6, 30, room_ids={"!b:x"}) == 8
    assert await notifier.wait_for(6, 30, room_ids={"!a:x"}) == 7
    assert notifier.latest_position == 8
    # Out of order (concurrent writers): 10 notified before 9; a caller at 9 still sees 10.
    await notifier.notify(10, "!a:x")
    await notifier.notify(9, "!b:x")
    assert await notifier.wait_for(9, 30, room_ids={"!a:x"}) == 10
    # A caller at the latest position waits: nothing remembered is past it.
    waiter = asyncio.ensure_future(notifier.wait_for(10, 30, room_ids={"!a:x", "!b:x"}))
    await _settle()
    assert not waiter.done()
    await notifier.notify(11, "!b:x")
    assert await waiter == 11


async def test_forgotten_history_wakes_at_once() -> None:
    notifier = InProcessNotifier(ManualClock(), history_size=2)
    for position in range(1, 6):
        await notifier.notify(position, "!other:x")
    # Positions 1-3 are forgotten: a caller at 1 may have missed something, so it wakes.
    assert await notifier.wait_for(1, 30, room_ids={"!a:x"}) == 5
    # A caller at 3 has seen everything forgotten and nothing remembered matches: it waits.
    waiter = asyncio.ensure_future(notifier.wait_for(3, 30, room_ids={"!a:x"}))
    await _settle()
    assert not waiter.done()
    await notifier.notify(6, "!a:x")
    assert await waiter == 6


async def test_cancelled_wait_leaves_no_waiter() -> None:
    notifier = InProcessNotifier(ManualClock())
    waiter = asyncio.ensure_future(notifier.wait_for(0, 30))
    await _settle()
    waiter.cancel()
    await _settle()
    assert waiter.cancelled()
    assert notifier.waiter_count() == 0


async def test_write_path_notifies_room_and_invited_user(database: Database) -> None:
    services = make_services(database)
    room_id = (await services.rooms.create_room(ALICE, CreateRoomRequest())).room_id
    notifier = services.notifier
    position = await services.stores.events.get_max_stream_ordering()
    assert notifier.latest_position == position

    room_waiter = asyncio.ensure_future(notifier.wait_for(position, 30, room_ids={room_id}))
    bob_waiter = asyncio.ensure_future(notifier.wait_for(position, 30, user_ids={BOB}))
    await _settle()
    written = await services.events.send_event(ALICE, room_id, "m.room.message", {"body": "x"})
    assert await room_waiter == written.stream_ordering
    await _settle()
    assert not bob_waiter.done()  # Bob is not in the room
    invite = await services.events.update_membership(ALICE, BOB, room_id, "invite")
    assert await bob_waiter == invite.stream_ordering
    # By the time a waiter wakes, the event is durable.
    assert await services.stores.events.get_max_stream_ordering() >= invite.stream_ordering
