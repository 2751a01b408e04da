"""AppserviceStore: stream positions, transactions kept unchanged until acknowledged, and the
published room lists of application services."""

from myelin.storage import Database
from myelin.storage.appservices import AppserviceStore, ListedRoom


async def test_stream_and_transactions(database: Database) -> None:
    store = AppserviceStore(database)
    assert await store.get_stream_state("irc") is None
    state = await store.start_stream("irc", 7)
    assert (state.position, state.next_txn_id) == (7, 1)
    # Starting again keeps where it was.
    assert (await store.start_stream("irc", 99)).position == 7
    first = await store.add_transaction("irc", '{"events":[1]}', 9, created_ts=1)
    second = await store.add_transaction("irc", '{"events":[2]}', 12, created_ts=2)
    assert (first, second) == (1, 2)
    after = await store.get_stream_state("irc")
    assert after is not None and (after.position, after.next_txn_id) == (12, 3)
    await store.advance("irc", 10)  # never backwards
    assert (await store.start_stream("irc", 0)).position == 12
    await store.advance("irc", 15)
    assert (await store.start_stream("irc", 0)).position == 15
    assert await store.count_transactions("irc") == 2
    oldest = await store.oldest_transaction("irc")
    assert oldest is not None and (oldest.txn_id, oldest.body) == (1, '{"events":[1]}')
    await store.delete_transaction("irc", 1)
    oldest = await store.oldest_transaction("irc")
    assert oldest is not None and oldest.txn_id == 2
    await store.delete_transaction("irc", 2)
    assert await store.oldest_transaction("irc") is None
    # Another service has its own stream and IDs.
    await store.start_stream("slack", 3)
    assert await store.add_transaction("slack", "{}", 4, created_ts=3) == 1
    assert await store.oldest_transaction("irc") is None
    assert await store.event_ids_after(0, await store.current_event_position(), 10) == []


async def test_room_lists(database: Database) -> None:
    store = AppserviceStore(database)
    await store.set_room_listed("irc", "libera", "!a:x", True)
    await store.set_room_listed("irc", "libera", "!a:x", True)
    await store.set_room_listed("irc", "oftc", "!b:x", True)
    await store.set_room_listed("slack", "corp", "!c:x", True)
    assert await store.listed_rooms("irc", "libera") == [ListedRoom("irc", "libera", "!a:x")]
    assert [r.room_id for r in await store.listed_rooms("irc")] == ["!a:x", "!b:x"]
    assert len(await store.listed_rooms()) == 3
    await store.set_room_listed("irc", "libera", "!a:x", False)
    assert await store.listed_rooms("irc", "libera") == []
