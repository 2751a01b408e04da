"""The Database interface on both engines: statements, transactions, serialised writes."""

import asyncio
from typing import Any

import pytest

from myelin.storage import Database, StorageError
from myelin.storage.sqlite_engine import (
    INLINE_COMMIT_AFTER_IDLE_SECONDS,
    WAL_CHECKPOINT_PAGES,
    SqliteDatabase,
    open_sqlite,
    rewrite_placeholders,
)


def test_placeholders_rewritten_outside_quotes() -> None:
    sql = "SELECT $1, '$2', \"$3\", 'it''s $4', $10 FROM t WHERE a = $2"
    assert rewrite_placeholders(sql) == (
        "SELECT ?1, '$2', \"$3\", 'it''s $4', ?10 FROM t WHERE a = ?2"
    )


async def _add_user(db: Database, user_id: str) -> int:
    return await db.execute("INSERT INTO users (user_id, created_ts) VALUES ($1, $2)", user_id, 1)


async def test_execute_fetch_roundtrip(database: Database) -> None:
    assert await _add_user(database, "@a:x") == 1
    assert await _add_user(database, "@b:x") == 1
    rows = await database.fetch("SELECT user_id FROM users ORDER BY user_id")
    assert [row["user_id"] for row in rows] == ["@a:x", "@b:x"]
    assert [row[0] for row in rows] == ["@a:x", "@b:x"]
    assert await database.fetchrow("SELECT user_id FROM users WHERE user_id = $1", "@c:x") is None
    assert await database.fetchval("SELECT COUNT(*) FROM users") == 2
    assert await database.execute("UPDATE users SET admin = $1", True) == 2
    assert await database.execute("DELETE FROM users WHERE user_id = $1", "@none:x") == 0


async def test_transaction_commits_together(database: Database) -> None:
    async with database.transaction() as txn:
        await txn.execute("INSERT INTO users (user_id, created_ts) VALUES ($1, 1)", "@a:x")
        await txn.executemany(
            "INSERT INTO users (user_id, created_ts) VALUES ($1, $2)", [("@b:x", 2), ("@c:x", 3)]
        )
        # The transaction sees its own writes.
        assert await txn.fetchval("SELECT COUNT(*) FROM users") == 3
    assert await database.fetchval("SELECT COUNT(*) FROM users") == 3


async def test_transaction_rolls_back_on_error(database: Database) -> None:
    await _add_user(database, "@keep:x")
    with pytest.raises(RuntimeError):
        async with database.transaction() as txn:
            await txn.execute("INSERT INTO users (user_id, created_ts) VALUES ($1, 1)", "@a:x")
            await txn.execute("DELETE FROM users WHERE user_id = $1", "@keep:x")
            raise RuntimeError("boom")
    rows = await database.fetch("SELECT user_id FROM users")
    assert [row["user_id"] for row in rows] == ["@keep:x"]


async def test_constraint_violation_rolls_back(database: Database) -> None:
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        async with database.transaction() as txn:
            await txn.execute("INSERT INTO users (user_id, created_ts) VALUES ($1, 1)", "@a:x")
            await txn.execute("INSERT INTO users (user_id, created_ts) VALUES ($1, 1)", "@a:x")
    assert await database.fetchval("SELECT COUNT(*) FROM users") == 0
    # The database is usable afterwards.
    assert await _add_user(database, "@a:x") == 1


async def test_write_on_database_inside_transaction_is_refused(database: Database) -> None:
    async with database.transaction() as txn:
        await txn.execute("INSERT INTO users (user_id, created_ts) VALUES ($1, 1)", "@a:x")
        with pytest.raises(StorageError, match="transaction open"):
            await _add_user(database, "@b:x")
    assert await database.fetchval("SELECT COUNT(*) FROM users") == 1
    # After the transaction, writes on the database work again.
    assert await _add_user(database, "@b:x") == 1


async def test_run_in_transaction_returns_result(database: Database) -> None:
    async def work(txn: Any) -> int:
        await txn.execute("INSERT INTO users (user_id, created_ts) VALUES ($1, 1)", "@a:x")
        return int(await txn.fetchval("SELECT COUNT(*) FROM users"))

    assert await database.run_in_transaction(work) == 1


async def test_concurrent_read_modify_write_transactions_serialise(database: Database) -> None:
    """Many concurrent writers: no "database is locked", no lost update."""
    await database.execute("INSERT INTO stream_positions (stream, pos) VALUES ('test', 0)")

    async def bump(i: int) -> None:
        async with database.transaction() as txn:
            # A row lock (UPDATE first) makes this safe on PostgreSQL too.
            await txn.execute("UPDATE stream_positions SET pos = pos + 1 WHERE stream = 'test'")
            await txn.execute(
                "INSERT INTO users (user_id, created_ts) VALUES ($1, $2)", f"@u{i}:x", i
            )
            await asyncio.sleep(0)  # let other tasks queue up meanwhile

    async def single(i: int) -> None:
        await _add_user(database, f"@s{i}:x")

    tasks = [bump(i) for i in range(40)] + [single(i) for i in range(40)]
    await asyncio.gather(*tasks)
    assert await database.fetchval("SELECT pos FROM stream_positions WHERE stream = 'test'") == 40
    assert await database.fetchval("SELECT COUNT(*) FROM users") == 80


async def test_reads_proceed_while_a_write_transaction_is_open(database: Database) -> None:
    await _add_user(database, "@a:x")
    async with database.transaction() as txn:
        await txn.execute("INSERT INTO users (user_id, created_ts) VALUES ($1, 1)", "@b:x")
        # Readers see committed data only, and are not blocked by the open transaction.
        count = await asyncio.wait_for(database.fetchval("SELECT COUNT(*) FROM users"), 5)
        assert count == 1
    assert await database.fetchval("SELECT COUNT(*) FROM users") == 2


async def test_sqlite_reads_are_read_only(db_engine: str, database: Database) -> None:
    if db_engine != "sqlite":
        pytest.skip("SQLite engine detail")
    with pytest.raises(Exception, match="readonly"):
        await database.fetch("INSERT INTO users (user_id, created_ts) VALUES ('@a:x', 1)")


async def test_sqlite_settings(tmp_path: Any) -> None:
    db = await open_sqlite(str(tmp_path / "x.db"))
    try:
        assert str(await db.fetchval("PRAGMA journal_mode")).lower() == "wal"
        assert await db.fetchval("PRAGMA foreign_keys") == 1
        async with db.transaction() as txn:
            assert await txn.fetchval("PRAGMA synchronous") == 2  # FULL
            assert await txn.fetchval("PRAGMA wal_autocheckpoint") == WAL_CHECKPOINT_PAGES
    finally:
        await db.close()
    with pytest.raises(StorageError):
        await db.fetch("SELECT 1")


async def test_sqlite_needs_a_file() -> None:
    with pytest.raises(StorageError):
        await open_sqlite(":memory:")


async def test_rowcount_of_statements_with_a_cte(database: Database) -> None:
    for name in ("@a:x", "@b:x", "@c:x"):
        await _add_user(database, name)
    count = await database.execute(
        "WITH doomed (id) AS (SELECT user_id FROM users WHERE user_id <> $1)"
        " DELETE FROM users WHERE user_id IN (SELECT id FROM doomed)",
        "@a:x",
    )
    assert count == 2
    count = await database.execute(
        "WITH doomed (id) AS (SELECT user_id FROM users WHERE user_id = $1)"
        " DELETE FROM users WHERE user_id IN (SELECT id FROM doomed)",
        "@nobody:x",
    )
    assert count == 0


async def test_cancelled_transaction_rolls_back_and_frees_the_writer(database: Database) -> None:
    started = asyncio.Event()

    async def slow() -> None:
        async with database.transaction() as txn:
            await txn.execute("INSERT INTO users (user_id, created_ts) VALUES ($1, 1)", "@a:x")
            started.set()
            await asyncio.sleep(30)

    task = asyncio.create_task(slow())
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await database.fetchval("SELECT COUNT(*) FROM users") == 0
    assert await asyncio.wait_for(_add_user(database, "@b:x"), 5) == 1


async def test_cancelled_reads_and_writes_leave_the_database_usable(database: Database) -> None:
    tasks: list[asyncio.Task[Any]] = [
        asyncio.create_task(_add_user(database, f"@u{i}:x")) for i in range(20)
    ]
    tasks += [asyncio.create_task(database.fetch("SELECT * FROM users")) for _ in range(20)]
    await asyncio.sleep(0)
    for task in tasks[::3]:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    count = await database.fetchval("SELECT COUNT(*) FROM users")
    assert 0 <= count <= 20
    assert await _add_user(database, "@last:x") == 1
    results = await asyncio.gather(
        *(database.fetchval("SELECT COUNT(*) FROM users") for _ in range(20))
    )
    assert set(results) == {count + 1}


async def test_sqlite_commits_inline_only_when_idle(tmp_path: Any) -> None:
    """A lone write commits on the loop; back-to-back or queued writes commit on the writer
    thread (sqlite_engine.INLINE_COMMIT_AFTER_IDLE_SECONDS)."""
    db = await open_sqlite(str(tmp_path / "x.db"))
    assert isinstance(db, SqliteDatabase)
    on_thread: list[str] = []
    write_call = db._write_call

    def recording(func: Any, *args: Any) -> Any:
        on_thread.append(func.__name__)
        return write_call(func, *args)

    db._write_call = recording  # type: ignore[method-assign]
    try:
        await db.execute("CREATE TABLE t (v INTEGER)")  # autocommit statements: writer thread

        async def write(value: int, pause: bool = False) -> None:
            async with db.transaction() as txn:
                await txn.execute("INSERT INTO t (v) VALUES ($1)", value)
                if pause:
                    await asyncio.sleep(0)  # lets the other writer start waiting for the lock

        on_thread.clear()
        await asyncio.sleep(INLINE_COMMIT_AFTER_IDLE_SECONDS * 2)
        await write(1)
        assert on_thread == []  # idle: inline
        await write(2)
        assert on_thread == ["_commit"]  # right after another commit: the thread
        await asyncio.sleep(INLINE_COMMIT_AFTER_IDLE_SECONDS * 2)
        on_thread.clear()
        await asyncio.gather(write(3, pause=True), write(4))
        # The first commits while the second waits for the lock: the thread; the second
        # follows a commit that just ended: the thread too.
        assert on_thread == ["_commit", "_commit"]
        assert [r[0] for r in await db.fetch("SELECT v FROM t ORDER BY v")] == [1, 2, 3, 4]
    finally:
        await db.close()
