"""The PostgreSQL pool (no spec section: server internals): a connection goes back to the pool
without asyncpg's reset query (one round trip per statement outside a transaction), and still
without an open transaction."""

import asyncio
from typing import Any

import pytest

from myelin.storage import Database


def _only_connection(database: Database) -> Any:
    pool = getattr(database, "_pool", None)
    if pool is None:
        pytest.skip("PostgreSQL engine detail")
    return pool


async def test_a_released_connection_runs_no_reset_query(database: Database) -> None:
    pool = _only_connection(database)
    queries: list[str] = []

    def log(record: Any) -> None:
        queries.append(record.query)

    async with pool.acquire() as conn:
        raw = conn._con
        raw.add_query_logger(log)
    for _ in range(3):  # the logged connection is among the pool's: keep using the pool
        await database.fetchval("SELECT 1")
        async with database.transaction() as txn:
            await txn.fetchval("SELECT 2")
    raw.remove_query_logger(log)
    assert queries, "the logged connection was not used"
    assert not [q for q in queries if "RESET" in q.upper() or "UNLISTEN" in q.upper()]


async def test_a_cancelled_transaction_leaves_nothing_open(database: Database) -> None:
    _only_connection(database)
    entered = asyncio.Event()

    async def stuck() -> None:
        async with database.transaction() as txn:
            await txn.execute("INSERT INTO users (user_id, created_ts) VALUES ('@a:x', 1)")
            entered.set()
            await asyncio.sleep(60)

    task = asyncio.create_task(stuck())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # Every pooled connection is idle again and the insert went with the rollback.
    results = await asyncio.gather(
        *[database.fetchval("SELECT COUNT(*) FROM users") for _ in range(12)]
    )
    assert results == [0] * 12
    states = await database.fetch(
        "SELECT state FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'"
    )
    assert states == []
