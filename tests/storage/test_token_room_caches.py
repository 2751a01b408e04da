"""The access-token and room-version caches (no spec section: server internals) never serve a
stale entry: each test warms the cache, changes the rows another way, and reads again."""

from myelin.storage import Database, make_stores
from myelin.storage.caches import LruCache, caches_of
from myelin.storage.json_text import loads_exact
from tests.storage.helpers import ROOM, make_event

ALICE = "@alice:example.org"


async def _alice_with_tokens(database: Database) -> None:
    stores = make_stores(database)
    await stores.users.create_user(ALICE, "h", admin=False, created_ts=1)
    for device in ("D1", "D2"):
        await stores.devices.create_device(ALICE, device, display_name=None, created_ts=1)
        await stores.tokens.add_access_token(
            f"tok-{device}", user_id=ALICE, device_id=device, created_ts=1
        )
    await stores.tokens.add_access_token("tok-none", user_id=ALICE, device_id=None, created_ts=1)
    for token in ("tok-D1", "tok-D2", "tok-none"):
        assert await stores.tokens.get_access_token(token) is not None  # now cached


async def test_token_cache_serves_repeat_reads_without_the_database(database: Database) -> None:
    await _alice_with_tokens(database)
    tokens = make_stores(database).tokens
    assert len(caches_of(database).access_tokens) == 3
    # A row changed behind the cache's back would still be served: the cache is what answers.
    await database.execute("UPDATE access_tokens SET device_id = NULL WHERE device_id = 'D1'")
    cached = await tokens.get_access_token("tok-D1")
    assert cached is not None and cached.device_id == "D1"
    # Unknown tokens are not cached: one added later is found.
    assert await tokens.get_access_token("later") is None
    await tokens.add_access_token("later", user_id=ALICE, device_id=None, created_ts=2)
    assert await tokens.get_access_token("later") is not None


async def test_logout_forgets_the_cached_token(database: Database) -> None:
    await _alice_with_tokens(database)
    tokens = make_stores(database).tokens
    assert await tokens.delete_access_token("tok-D1")
    assert await tokens.get_access_token("tok-D1") is None
    assert await tokens.get_access_token("tok-D2") is not None


async def test_logout_all_and_password_change_forget_cached_tokens(database: Database) -> None:
    await _alice_with_tokens(database)
    tokens = make_stores(database).tokens
    await tokens.delete_access_tokens_for_user(ALICE, except_device_id="D2")
    assert await tokens.get_access_token("tok-D1") is None
    assert await tokens.get_access_token("tok-none") is None
    assert await tokens.get_access_token("tok-D2") is not None
    await tokens.delete_access_tokens_for_user(ALICE)
    assert await tokens.get_access_token("tok-D2") is None


async def test_device_deletion_forgets_its_cached_tokens(database: Database) -> None:
    await _alice_with_tokens(database)
    stores = make_stores(database)
    assert await stores.devices.delete_device(ALICE, "D1")
    assert await stores.tokens.get_access_token("tok-D1") is None
    assert await stores.devices.delete_devices(ALICE, ["D2"]) == 1
    assert await stores.tokens.get_access_token("tok-D2") is None
    assert await stores.tokens.get_access_token("tok-none") is not None


async def test_refresh_forgets_the_cached_old_access_token(database: Database) -> None:
    stores = make_stores(database)
    await stores.users.create_user(ALICE, None, admin=False, created_ts=1)
    await stores.devices.create_device(ALICE, "DEV", display_name=None, created_ts=1)
    await stores.tokens.add_token_pair(
        "acc1", "ref1", user_id=ALICE, device_id="DEV", created_ts=1, access_expires_ts=10
    )
    assert await stores.tokens.get_access_token("acc1") is not None
    assert await stores.tokens.refresh("ref1", "acc2", "ref2", now_ts=5, access_expires_ts=50)
    assert await stores.tokens.get_access_token("acc1") is None
    assert await stores.tokens.get_access_token("acc2") is not None


async def test_deactivation_forgets_cached_tokens(database: Database) -> None:
    await _alice_with_tokens(database)
    stores = make_stores(database)
    assert await stores.users.deactivate_user(ALICE)
    for token in ("tok-D1", "tok-D2", "tok-none"):
        assert await stores.tokens.get_access_token(token) is None


async def test_a_read_racing_a_deletion_is_not_cached(database: Database) -> None:
    await _alice_with_tokens(database)
    caches = caches_of(database)
    caches.forget_tokens()
    tokens = make_stores(database).tokens
    # A deletion that ends while the read is under way: the read's row is not kept.
    original = database.fetchrow

    async def racing_fetchrow(sql: str, *args: object) -> object:
        row = await original(sql, *args)
        caches.forget_tokens()
        return row

    database.fetchrow = racing_fetchrow  # type: ignore[method-assign,assignment]
    try:
        assert await tokens.get_access_token("tok-D1") is not None
    finally:
        del database.fetchrow
    assert len(caches.access_tokens) == 0


async def test_room_version_cache_and_purge(database: Database) -> None:
    rooms = make_stores(database).rooms
    assert await rooms.get_room_version("!r:x") is None
    await rooms.store_room("!r:x", "10", creator=ALICE, created_ts=1)
    assert await rooms.get_room_version("!r:x") == "10"
    await database.execute("UPDATE rooms SET room_version = '9' WHERE room_id = '!r:x'")
    assert await rooms.get_room_version("!r:x") == "10"  # served from the cache
    await rooms.purge_room("!r:x")
    assert await rooms.get_room_version("!r:x") is None


def test_loads_exact_finds_a_long_integer_anywhere() -> None:
    # The digit-run check: a 19-digit integer after non-ASCII text, in bytes and str.
    text = '{"é": "☃", "n": 9223372036854775808000, "s": "\\ud800"}'
    assert loads_exact(text)["n"] == 9223372036854775808000
    assert loads_exact(text.encode())["n"] == 9223372036854775808000
    assert loads_exact('{"n": 1234567890123456789}')["n"] == 1234567890123456789
    assert loads_exact('{"f": 1.5, "n": 123456789012345678}') == {"f": 1.5, "n": 123456789012345678}


def test_weighted_lru_bounds_count_and_weight() -> None:
    cache: LruCache[int, dict[str, str]] = LruCache(3, weigh=len, max_weight=5)
    cache.put(1, {"a": "1", "b": "2"})
    cache.put(2, {"c": "3", "d": "4"})
    assert cache.get(1) is not None  # 1 is now the most recently used
    cache.put(3, {"e": "5", "f": "6"})  # weight 6 > 5: the least recently used (2) goes
    assert cache.get(2) is None and cache.get(1) is not None and cache.get(3) is not None
    cache.put(3, {"e": "5"})  # replacing an entry replaces its weight
    cache.put(4, {"g": "7", "h": "8"})  # 2 + 1 + 2 = 5: all stay
    assert len(cache) == 3
    cache.put(5, {str(i): "x" for i in range(9)})  # heavier than the bound: not kept,
    assert cache.get(5) is None and len(cache) == 3  # and nothing else pushed out
    cache.pop_many([1, 3])
    cache.put(6, {"i": "9", "j": "10", "k": "11"})  # 2 + 3 = 5
    assert cache.get(4) is not None and cache.get(6) is not None
    cache.clear()
    cache.put(7, {str(i): "x" for i in range(5)})
    assert cache.get(7) is not None


async def test_prev_event_ids_cached_and_forgotten_by_purge(database: Database) -> None:
    stores = make_stores(database)
    await stores.events.persist_event(make_event("$a"), received_ts=1)
    await stores.events.persist_event(make_event("$b", prev=["$z", "$a"]), received_ts=1)
    assert await stores.events.get_prev_event_ids("$b") == ["$a", "$z"]
    await database.execute("DELETE FROM event_edges WHERE event_id = '$b'")
    assert await stores.events.get_prev_event_ids("$b") == ["$a", "$z"]  # from the cache
    await stores.rooms.purge_room(ROOM)
    assert await stores.events.get_prev_event_ids("$b") == []
