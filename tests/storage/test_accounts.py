"""UserStore, DeviceStore and AccessTokenStore on both engines."""

import pytest

from myelin.storage import Database, UserExistsError, hash_token, make_stores

ALICE = "@alice:example.org"


async def test_create_and_get_user(database: Database) -> None:
    users = make_stores(database).users
    assert await users.count_users() == 0
    assert await users.get_user(ALICE) is None
    await users.create_user(ALICE, "$2b$hash", admin=True, created_ts=1234)
    record = await users.get_user(ALICE)
    assert record is not None
    assert record.user_id == ALICE
    assert record.password_hash == "$2b$hash"
    assert record.admin is True
    assert record.deactivated is False
    assert record.created_ts == 1234
    assert await users.count_users() == 1


async def test_create_existing_user_raises(database: Database) -> None:
    users = make_stores(database).users
    await users.create_user(ALICE, None, admin=False, created_ts=1)
    with pytest.raises(UserExistsError):
        await users.create_user(ALICE, "other", admin=True, created_ts=2)
    record = await users.get_user(ALICE)
    assert record is not None and record.password_hash is None and not record.admin


async def test_user_updates_and_listing(database: Database) -> None:
    users = make_stores(database).users
    for name in ("@c:x", "@a:x", "@b:x"):
        await users.create_user(name, None, admin=False, created_ts=1, is_guest=name == "@c:x")
    assert [u.user_id for u in await users.list_users()] == ["@a:x", "@b:x", "@c:x"]
    assert [u.user_id for u in await users.list_users(after="@a:x", limit=1)] == ["@b:x"]
    assert (await users.get_user("@c:x")).is_guest  # type: ignore[union-attr]
    assert await users.set_password_hash("@a:x", "h2")
    assert await users.set_admin("@a:x", True)
    assert not await users.set_admin("@nobody:x", True)
    record = await users.get_user("@a:x")
    assert record is not None and record.password_hash == "h2" and record.admin
    assert await users.set_displayname("@a:x", "Alice")
    assert await users.set_avatar_url("@a:x", "mxc://x/y")
    profile = await users.get_profile("@a:x")
    assert profile is not None and profile.displayname == "Alice"
    assert profile.avatar_url == "mxc://x/y"
    assert await users.get_profile("@nobody:x") is None


async def test_deactivate_removes_password_devices_and_tokens(database: Database) -> None:
    stores = make_stores(database)
    await stores.users.create_user(ALICE, "h", admin=False, created_ts=1)
    await stores.devices.create_device(ALICE, "DEV", display_name=None, created_ts=1)
    await stores.tokens.add_access_token("tok1", user_id=ALICE, device_id="DEV", created_ts=1)
    await stores.tokens.add_access_token("tok2", user_id=ALICE, device_id=None, created_ts=1)
    assert await stores.users.deactivate_user(ALICE)
    record = await stores.users.get_user(ALICE)
    assert record is not None and record.deactivated and record.password_hash is None
    assert await stores.devices.list_devices(ALICE) == []
    assert await stores.tokens.get_access_token("tok1") is None
    assert await stores.tokens.get_access_token("tok2") is None


async def test_devices(database: Database) -> None:
    stores = make_stores(database)
    devices = stores.devices
    await stores.users.create_user(ALICE, None, admin=False, created_ts=1)
    assert await devices.create_device(ALICE, "B", display_name="phone", created_ts=10)
    assert await devices.create_device(ALICE, "A", display_name=None, created_ts=11)
    assert not await devices.create_device(ALICE, "A", display_name="again", created_ts=12)
    assert [d.device_id for d in await devices.list_devices(ALICE)] == ["A", "B"]
    device = await devices.get_device(ALICE, "B")
    assert device is not None and device.display_name == "phone" and device.created_ts == 10
    assert device.last_seen_ts is None
    assert await devices.set_display_name(ALICE, "B", "tablet")
    assert await devices.update_last_seen(ALICE, "B", ts=99, ip="::1", user_agent="nio")
    device = await devices.get_device(ALICE, "B")
    assert device is not None and device.display_name == "tablet"
    assert (device.last_seen_ts, device.last_seen_ip, device.last_seen_user_agent) == (
        99,
        "::1",
        "nio",
    )
    assert await devices.get_device(ALICE, "Z") is None
    assert await devices.delete_devices(ALICE, ["A", "B", "Z"]) == 2
    assert await devices.list_devices(ALICE) == []


async def test_tokens_are_stored_hashed_and_found_by_hash(database: Database) -> None:
    stores = make_stores(database)
    await stores.users.create_user(ALICE, None, admin=False, created_ts=1)
    await stores.devices.create_device(ALICE, "DEV", display_name=None, created_ts=1)
    token = "syt_secret_token_value"
    await stores.tokens.add_access_token(
        token, user_id=ALICE, device_id="DEV", created_ts=5, expires_ts=100
    )
    stored = await database.fetch("SELECT token_hash FROM access_tokens")
    assert [row["token_hash"] for row in stored] == [hash_token(token)]
    assert all(token not in row["token_hash"] for row in stored)
    record = await stores.tokens.get_access_token(token)
    assert record is not None
    assert (record.user_id, record.device_id, record.created_ts, record.expires_ts) == (
        ALICE,
        "DEV",
        5,
        100,
    )
    assert not record.expired(99) and record.expired(100)
    # Presenting the stored hash as a token does not work.
    assert await stores.tokens.get_access_token(hash_token(token)) is None
    assert await stores.tokens.get_access_token("wrong") is None
    await stores.tokens.touch_access_token(token, 50)
    assert await database.fetchval("SELECT last_used_ts FROM access_tokens") == 50
    assert await stores.tokens.delete_access_token(token)
    assert not await stores.tokens.delete_access_token(token)
    assert await stores.tokens.get_access_token(token) is None


async def test_deleting_a_device_deletes_its_tokens(database: Database) -> None:
    stores = make_stores(database)
    await stores.users.create_user(ALICE, None, admin=False, created_ts=1)
    for device in ("D1", "D2"):
        await stores.devices.create_device(ALICE, device, display_name=None, created_ts=1)
        await stores.tokens.add_access_token(
            f"tok-{device}", user_id=ALICE, device_id=device, created_ts=1
        )
    await stores.tokens.add_token_pair(
        "acc", "ref", user_id=ALICE, device_id="D1", created_ts=1, access_expires_ts=10
    )
    assert await stores.devices.delete_device(ALICE, "D1")
    assert await stores.tokens.get_access_token("tok-D1") is None
    assert await stores.tokens.get_access_token("acc") is None
    assert await stores.tokens.get_refresh_token("ref") is None
    assert await stores.tokens.get_access_token("tok-D2") is not None


async def test_logout_all_except_device(database: Database) -> None:
    stores = make_stores(database)
    await stores.users.create_user(ALICE, None, admin=False, created_ts=1)
    for device in ("D1", "D2"):
        await stores.devices.create_device(ALICE, device, display_name=None, created_ts=1)
        await stores.tokens.add_access_token(
            f"tok-{device}", user_id=ALICE, device_id=device, created_ts=1
        )
    await stores.tokens.add_access_token("nodev", user_id=ALICE, device_id=None, created_ts=1)
    assert await stores.tokens.delete_access_tokens_for_user(ALICE, except_device_id="D2") == 2
    assert await stores.tokens.get_access_token("tok-D2") is not None
    assert await stores.tokens.delete_access_tokens_for_user(ALICE) == 1
    assert await stores.tokens.get_access_token("tok-D2") is None


async def test_refresh_rotates_the_pair(database: Database) -> None:
    stores = make_stores(database)
    tokens = stores.tokens
    await stores.users.create_user(ALICE, None, admin=False, created_ts=1)
    await stores.devices.create_device(ALICE, "DEV", display_name=None, created_ts=1)
    await tokens.add_token_pair(
        "acc1",
        "ref1",
        user_id=ALICE,
        device_id="DEV",
        created_ts=1,
        access_expires_ts=10,
        refresh_expires_ts=1000,
    )
    access = await tokens.get_access_token("acc1")
    assert access is not None and access.refresh_token_hash == hash_token("ref1")
    old = await tokens.refresh(
        "ref1", "acc2", "ref2", now_ts=20, access_expires_ts=30, refresh_expires_ts=2000
    )
    assert old is not None and old.user_id == ALICE and old.device_id == "DEV"
    assert await tokens.get_access_token("acc1") is None
    assert await tokens.get_refresh_token("ref1") is None
    new = await tokens.get_access_token("acc2")
    assert new is not None and new.expires_ts == 30 and new.device_id == "DEV"
    # A used refresh token cannot be used again.
    assert await tokens.refresh("ref1", "acc3", "ref3", now_ts=21, access_expires_ts=40) is None
    assert await tokens.get_access_token("acc3") is None
    # An expired refresh token is refused and kept as it was.
    assert await tokens.refresh("ref2", "acc4", "ref4", now_ts=2000, access_expires_ts=1) is None
    assert await tokens.get_refresh_token("ref2") is not None
    assert await tokens.get_access_token("acc4") is None
    # Logging out the access token drops its refresh token.
    assert await tokens.delete_access_token("acc2")
    assert await tokens.get_refresh_token("ref2") is None
