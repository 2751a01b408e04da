"""E2EE stores on both engines: one-time keys claimed at most once under concurrency,
fallback keys, the to-device inbox and its acknowledgement, the device list stream and key
backup replacement."""

import asyncio

from myelin.storage import Database
from myelin.storage.device_lists import DeviceListStore
from myelin.storage.e2e_keys import E2EKeyStore, OneTimeKey
from myelin.storage.key_backup import BackedUpKey, KeyBackupStore
from myelin.storage.to_device import ToDeviceStore

ALICE = "@alice:example.org"


async def test_concurrent_claims_hand_out_each_key_once(database: Database) -> None:
    store = E2EKeyStore(database)
    keys = [OneTimeKey("signed_curve25519", f"K{i:03}", {"key": str(i)}) for i in range(50)]
    await store.add_one_time_keys(ALICE, "D", keys, 1)
    await store.set_fallback_keys(ALICE, "D", [OneTimeKey("signed_curve25519", "F", {"f": 1})])
    claims = await asyncio.gather(
        *(store.claim_one_time_key(ALICE, "D", "signed_curve25519") for _ in range(80))
    )
    ids = [c.key_id for c in claims if c is not None]
    one_time = [i for i in ids if i != "F"]
    assert len(one_time) == 50 and len(set(one_time)) == 50
    assert ids.count("F") == 30
    assert await store.count_one_time_keys(ALICE, "D") == {}
    assert await store.unused_fallback_key_types(ALICE, "D") == []
    assert await store.claim_one_time_key(ALICE, "D", "other") is None


async def test_claims_follow_upload_order_and_fallback_reupload(database: Database) -> None:
    store = E2EKeyStore(database)
    await store.add_one_time_keys(ALICE, "D", [OneTimeKey("a", "Z", 1)], 1)
    await store.add_one_time_keys(ALICE, "D", [OneTimeKey("a", "A", 2)], 2)
    first = await store.claim_one_time_key(ALICE, "D", "a")
    assert first is not None and first.key_id == "Z"
    fallback = OneTimeKey("a", "F", {"k": 1})
    await store.set_fallback_keys(ALICE, "D", [fallback])
    await store.claim_one_time_key(ALICE, "D", "a")
    await store.claim_one_time_key(ALICE, "D", "a")
    assert await store.unused_fallback_key_types(ALICE, "D") == []
    # The same key again keeps its used flag; a new key is unused.
    await store.set_fallback_keys(ALICE, "D", [fallback])
    assert await store.unused_fallback_key_types(ALICE, "D") == []
    await store.set_fallback_keys(ALICE, "D", [OneTimeKey("a", "G", {"k": 2})])
    assert await store.unused_fallback_key_types(ALICE, "D") == ["a"]
    await store.delete_device_keys(ALICE, ["D"])
    assert await store.get_fallback_key(ALICE, "D", "a") is None


async def test_to_device_inbox(database: Database) -> None:
    store = ToDeviceStore(database)
    start = await store.current_position()
    last = await store.enqueue(
        [(ALICE, "D", {"n": 1}), (ALICE, "D", {"n": 2}), (ALICE, "E", {"n": 3})],
        txn_key=(ALICE, "S", "t1"),
    )
    assert last == start + 3 == await store.current_position()
    assert await store.enqueue([(ALICE, "D", {"n": 9})], txn_key=(ALICE, "S", "t1")) is None
    got = await store.get_messages(ALICE, "D", 0, last, 10)
    assert [m.message["n"] for m in got] == [1, 2]
    assert await store.delete_messages_upto(ALICE, "D", got[0].stream_id) == 1
    assert [m.message["n"] for m in await store.get_messages(ALICE, "D", 0, last, 10)] == [2]
    await store.delete_devices(ALICE, ["D", "E"])
    assert await store.get_messages(ALICE, "E", 0, last, 10) == []


async def test_device_list_stream(database: Database) -> None:
    store = DeviceListStore(database)
    start = await store.current_position()
    p1 = await store.add_device_list_change(ALICE)
    p2 = await store.add_membership_change("!r:example.org", ALICE, "join")
    assert start < p1 < p2 == await store.current_position()
    assert await store.users_changed([ALICE, "@bob:example.org"], start, p2) == {ALICE}
    assert await store.users_changed([ALICE], p1, p2) == set()
    changes = await store.membership_changes(start, p2)
    assert [(c.room_id, c.membership) for c in changes] == [("!r:example.org", "join")]
    assert await store.last_membership("!r:example.org", ALICE) == "join"


async def test_backup_replacement_and_etag(database: Database) -> None:
    store = KeyBackupStore(database)
    version = await store.create_version(ALICE, "alg", {})
    assert await store.create_version(ALICE, "alg", {}) == version + 1
    await store.delete_version(ALICE, version + 1)
    # Deleted version numbers are never reused.
    assert await store.create_version(ALICE, "alg", {}) == version + 2
    key = BackedUpKey("!r", "s", 5, 0, False, {"v": 1})
    await store.put_keys(ALICE, version, [key])
    etag = (await store.get_version(ALICE, version)).etag  # type: ignore[union-attr]
    await store.put_keys(ALICE, version, [BackedUpKey("!r", "s", 6, 0, False, {"v": 2})])
    assert (await store.get_version(ALICE, version)).etag == etag  # type: ignore[union-attr]
    await store.put_keys(ALICE, version, [BackedUpKey("!r", "s", 7, 0, True, {"v": 3})])
    assert (await store.get_keys(ALICE, version))[0].session_data == {"v": 3}
    assert (await store.get_version(ALICE, version)).etag > etag  # type: ignore[union-attr]
    assert await store.count_keys(ALICE, version) == 1
