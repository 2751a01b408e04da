"""Server key cache and destination backoff stores, on both engines."""

from myelin.storage import Database
from myelin.storage.server_keys import DestinationStore, NewServerKey, ServerKeyStore


async def test_key_cache_keeps_the_longest_validity(database: Database) -> None:
    store = ServerKeyStore(database)
    await store.store_key_response(
        "b.test",
        key_json='{"new": true}',
        valid_until_ts=2000,
        keys=[NewServerKey("ed25519:a", "AAAA"), NewServerKey("ed25519:old", "BBBB", 500)],
        fetched_ts=100,
    )
    # An older response arriving late does not shorten validity or replace the response.
    await store.store_key_response(
        "b.test",
        key_json='{"old": true}',
        valid_until_ts=1000,
        keys=[NewServerKey("ed25519:a", "AAAA"), NewServerKey("ed25519:old", "BBBB", 900)],
        fetched_ts=200,
    )
    keys = await store.get_server_keys("b.test")
    assert keys["ed25519:a"].valid_until_ts == 2000
    assert keys["ed25519:a"].expired_ts is None
    assert keys["ed25519:old"].expired_ts == 500
    response = await store.get_key_response("b.test")
    assert response is not None and response.key_json == '{"new": true}'
    assert await store.get_server_keys("c.test") == {}
    assert await store.get_key_response("c.test") is None


async def test_destination_backoff_rows(database: Database) -> None:
    store = DestinationStore(database)
    assert await store.get_backoff("b.test") is None
    await store.set_backoff("b.test", 10, 610, 600)
    await store.set_backoff("b.test", 20, 1220, 1200)
    await store.set_backoff("c.test", 5, 50, 45)
    assert await store.get_backoff("b.test") == (20, 1220, 1200)
    assert await store.backed_off_destinations(100) == ["b.test"]
    await store.clear_backoff("b.test")
    assert await store.get_backoff("b.test") is None
