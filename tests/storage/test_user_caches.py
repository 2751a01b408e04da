"""The user-record and account-status caches (no spec section: server internals) never serve
a stale entry: each test warms the cache, changes the row through a store, and reads again."""

from myelin.storage import Database, make_stores
from myelin.storage.account_status import AccountStatus, AccountStatusStore
from myelin.storage.caches import caches_of

ALICE = "@alice:example.org"


async def _alice(database: Database) -> None:
    users = make_stores(database).users
    await users.create_user(ALICE, "h", admin=False, created_ts=1)
    assert await users.get_user(ALICE) is not None  # now cached
    assert await AccountStatusStore(database).get_status(ALICE) is not None


async def test_repeat_reads_come_from_the_cache(database: Database) -> None:
    await _alice(database)
    users = make_stores(database).users
    # A row changed behind the stores' back would still be served: the cache answers.
    await database.execute("UPDATE users SET admin = TRUE, locked = TRUE")
    record = await users.get_user(ALICE)
    assert record is not None and not record.admin
    status = await AccountStatusStore(database).get_status(ALICE)
    assert status is not None and not status.locked
    # Unknown users are not cached: one created later is found.
    assert await users.get_user("@later:example.org") is None
    await users.create_user("@later:example.org", None, admin=False, created_ts=2)
    assert await users.get_user("@later:example.org") is not None


async def test_every_user_write_forgets_the_cached_record(database: Database) -> None:
    await _alice(database)
    users = make_stores(database).users
    assert await users.set_admin(ALICE, True)
    record = await users.get_user(ALICE)
    assert record is not None and record.admin
    assert await users.set_password_hash(ALICE, "other")
    record = await users.get_user(ALICE)
    assert record is not None and record.password_hash == "other"
    assert await users.deactivate_user(ALICE)
    record = await users.get_user(ALICE)
    assert record is not None and record.deactivated and record.password_hash is None


async def test_lock_and_suspension_forget_the_cached_status(database: Database) -> None:
    await _alice(database)
    statuses = AccountStatusStore(database)
    assert await statuses.set_locked(ALICE, True)
    assert await statuses.get_status(ALICE) == AccountStatus(locked=True, suspended=False)
    assert await statuses.set_suspended(ALICE, True)
    status = await statuses.get_status(ALICE)
    assert status is not None and status.locked and status.suspended
    assert await statuses.set_locked(ALICE, False)
    status = await statuses.get_status(ALICE)
    assert status is not None and not status.locked and status.suspended


async def test_a_read_racing_a_write_is_not_cached(database: Database) -> None:
    await _alice(database)
    caches = caches_of(database)
    caches.forget_user(ALICE)
    users = make_stores(database).users
    statuses = AccountStatusStore(database)
    original = database.fetchrow

    async def racing_fetchrow(sql: str, *args: object) -> object:
        row = await original(sql, *args)
        caches.forget_user(ALICE)  # a write committed while the read ran
        return row

    database.fetchrow = racing_fetchrow  # type: ignore[method-assign,assignment]
    try:
        assert await users.get_user(ALICE) is not None
        assert await statuses.get_status(ALICE) is not None
    finally:
        del database.fetchrow
    assert len(caches.users) == 0 and len(caches.account_statuses) == 0
