"""FilterStore and AccountDataStore: per-user filter IDs, account data with stream positions,
tags kept as the room's m.tag account data."""

import asyncio

from myelin.storage import Database, make_stores

ALICE = "@alice:example.org"
BOB = "@bob:example.org"
ROOM = "!room:example.org"


async def test_filter_ids_are_per_user_and_deduplicated(database: Database) -> None:
    filters = make_stores(database).filters
    assert await filters.add_filter(ALICE, '{"a":1}') == 0
    assert await filters.add_filter(ALICE, '{"b":2}') == 1
    assert await filters.add_filter(ALICE, '{"a":1}') == 0
    assert await filters.add_filter(BOB, '{"b":2}') == 0
    assert await filters.get_filter(ALICE, 1) == '{"b":2}'
    assert await filters.get_filter(BOB, 1) is None
    assert await filters.get_filter(BOB, 0) == '{"b":2}'


async def test_concurrent_filter_uploads_get_distinct_ids(database: Database) -> None:
    filters = make_stores(database).filters
    ids = await asyncio.gather(*(filters.add_filter(ALICE, f'{{"n":{i}}}') for i in range(8)))
    assert sorted(ids) == list(range(8))


async def test_account_data_positions_and_changes(database: Database) -> None:
    store = make_stores(database).account_data
    start = await store.current_position()
    p1 = await store.set_account_data(ALICE, None, "org.example.a", {"v": 1})
    p2 = await store.set_account_data(ALICE, ROOM, "org.example.b", {"v": 2})
    p3 = await store.set_account_data(BOB, None, "org.example.a", {"v": 3})
    assert start < p1 < p2 < p3 == await store.current_position()
    assert await store.get_account_data(ALICE, None, "org.example.a") == {"v": 1}
    assert await store.get_account_data(ALICE, ROOM, "org.example.a") is None
    assert await store.get_account_data(ALICE, ROOM, "org.example.b") == {"v": 2}
    changes = await store.get_changes(ALICE, None, p3)
    assert [(c.room_id, c.type, c.content) for c in changes] == [
        (None, "org.example.a", {"v": 1}),
        (ROOM, "org.example.b", {"v": 2}),
    ]
    # Overwriting moves the entry to the new position: only the latest content is sent.
    p4 = await store.set_account_data(ALICE, None, "org.example.a", {"v": 4})
    changes = await store.get_changes(ALICE, p2, p4)
    assert [(c.type, c.content, c.stream_id) for c in changes] == [("org.example.a", {"v": 4}, p4)]
    assert await store.get_changes(ALICE, p4, p4) == []
    # Rows past ``upto`` are left for the next sync.
    assert [c.type for c in await store.get_changes(ALICE, None, p3)] == ["org.example.b"]


async def test_tags(database: Database) -> None:
    store = make_stores(database).account_data
    assert await store.get_tags(ALICE, ROOM) == {}
    p1 = await store.set_tag(ALICE, ROOM, "m.favourite", {"order": 0.5})
    p2 = await store.set_tag(ALICE, ROOM, "u.work", {})
    assert await store.get_tags(ALICE, ROOM) == {"m.favourite": {"order": 0.5}, "u.work": {}}
    assert await store.get_account_data(ALICE, ROOM, "m.tag") == {
        "tags": {"m.favourite": {"order": 0.5}, "u.work": {}}
    }
    assert p1 < p2
    before = await store.current_position()
    assert await store.remove_tag(ALICE, ROOM, "u.nothing") is None
    assert await store.current_position() == before
    p3 = await store.remove_tag(ALICE, ROOM, "u.work")
    assert p3 is not None and p3 > p2
    assert await store.get_tags(ALICE, ROOM) == {"m.favourite": {"order": 0.5}}
    assert await store.get_tags(BOB, ROOM) == {}


async def test_concurrent_tag_changes_are_not_lost(database: Database) -> None:
    store = make_stores(database).account_data
    await asyncio.gather(*(store.set_tag(ALICE, ROOM, f"u.t{i}", {}) for i in range(10)))
    assert sorted(await store.get_tags(ALICE, ROOM)) == sorted(f"u.t{i}" for i in range(10))
