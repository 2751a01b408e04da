"""The in-process notifier: waking long-polls on matching notifications, timeouts on an
injected clock, notifications that arrive before the wait, waiting on several notifiers, and the
write path notifying (woken long-polls answer before its hooks run)."""

import asyncio

from myelin.services.events.write_path import WrittenEvent
from myelin.services.notifier import InProcessNotifier, wait_any
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


async def test_watch_calls_back_inside_notify_and_unwatch_stops_it() -> None:
    notifier = InProcessNotifier(ManualClock())
    woken: list[int] = []
    end = notifier.watch(0, woken.append, room_ids={"!a:x"})
    await notifier.notify(1, "!b:x")
    assert woken == []
    await notifier.notify(2, "!a:x")
    assert woken == [2]  # during notify, no turn of the loop needed
    await notifier.notify(3, "!a:x")
    assert woken == [2]  # once only
    assert notifier.waiter_count() == 0
    end()  # harmless after it fired
    later = notifier.watch(3, woken.append, room_ids={"!a:x"})
    later()
    await notifier.notify(4, "!a:x")
    assert woken == [2]
    # A notification already past the position calls back at once.
    notifier.watch(3, woken.append, room_ids={"!a:x"})
    assert woken == [2, 4]


async def test_wait_any_wakes_on_either_notifier_and_times_out() -> None:
    clock = ManualClock(step_ms=0)
    first, second = InProcessNotifier(clock), InProcessNotifier(clock)
    waiter = asyncio.ensure_future(wait_any([(first, 0), (second, 5)], 30, clock, room_ids={"!a"}))
    await _settle()
    await second.notify(5, "!a")  # not past its position
    await first.notify(1, "!other")
    await _settle()
    assert not waiter.done()
    await second.notify(6, "!a")
    assert await waiter == 6
    assert first.waiter_count() == second.waiter_count() == 0
    # Something already notified past a position: at once, without waiting.
    assert await wait_any([(first, 0), (second, 6)], 30, clock, room_ids={"!other"}) == 1
    timed = asyncio.ensure_future(wait_any([(first, 1), (second, 6)], 30, clock))
    await _settle()
    clock.advance(30)
    assert await timed is None
    assert first.waiter_count() == second.waiter_count() == 0


async def test_woken_waiter_runs_at_the_next_turn_of_the_loop() -> None:
    """A long-poll woken by a write answers before the writer goes on past one yield (the
    write path yields once after notifying): one future between them, no task per notifier."""
    clock = ManualClock()
    notifiers = [InProcessNotifier(clock) for _ in range(3)]
    answered: list[int | None] = []

    async def long_poll() -> None:
        answered.append(await wait_any([(n, 0) for n in notifiers], 30, clock))

    task = asyncio.ensure_future(long_poll())
    await _settle()
    await notifiers[1].notify(1, "!a")
    await asyncio.sleep(0)
    assert answered == [1]
    await task


async def test_write_path_lets_woken_long_polls_answer_before_its_hooks(
    database: Database,
) -> None:
    services = make_services(database)
    room_id = (await services.rooms.create_room(ALICE, CreateRoomRequest())).room_id
    notifier = services.notifier
    position = await services.stores.events.get_max_stream_ordering()
    answered: list[int | None] = []

    async def long_poll() -> None:
        answered.append(
            await wait_any([(notifier, position)], 30, services.clock, room_ids={room_id})
        )

    seen_by_hook: list[list[int | None]] = []

    async def hook(written: WrittenEvent) -> None:
        seen_by_hook.append(list(answered))

    services.writer.after_persist.append(hook)
    poll = asyncio.ensure_future(long_poll())
    await _settle()
    written = await services.events.send_event(ALICE, room_id, "m.room.message", {"body": "x"})
    assert seen_by_hook == [[written.stream_ordering]]
    await poll
