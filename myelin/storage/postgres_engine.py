"""PostgreSQL engine of the storage interface, over an asyncpg pool (no spec section: internals).

Statements use asyncpg's native ``$1`` placeholders unchanged. Transactions run at READ
COMMITTED, PostgreSQL's default; the stores serialise what must be serialised with row locks
(see ``myelin.storage.streams``).

asyncpg is imported when a pool is opened: a server on SQLite never loads it (about 3 MiB).
"""

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from myelin.storage.database import (
    Database,
    PostgresParams,
    Row,
    Transaction,
    TransactionState,
    check_no_transaction,
)
from myelin.storage.errors import StorageError


def _rowcount(status: str) -> int:
    """Rows changed, from a command status such as ``INSERT 0 3`` or ``UPDATE 2``."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class _PostgresTransaction:
    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def execute(self, sql: str, *args: Any) -> int:
        return _rowcount(await self._conn.execute(sql, *args))

    async def executemany(self, sql: str, args: Iterable[Sequence[Any]]) -> None:
        await self._conn.executemany(sql, [tuple(a) for a in args])

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return list(await self._conn.fetch(sql, *args))

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        row: Row | None = await self._conn.fetchrow(sql, *args)
        return row

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self._conn.fetchval(sql, *args)


class PostgresDatabase(Database):
    """The PostgreSQL engine; create it with ``open_postgres``."""

    engine = "postgres"

    def __init__(self, pool: Any) -> None:
        self._pool = pool

    async def execute(self, sql: str, *args: Any) -> int:
        check_no_transaction()
        status: str = await self._pool.execute(sql, *args)
        return _rowcount(status)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return list(await self._pool.fetch(sql, *args))

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        row: Row | None = await self._pool.fetchrow(sql, *args)
        return row

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self._pool.fetchval(sql, *args)

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        return self._transaction()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Transaction]:
        check_no_transaction()
        async with self._pool.acquire() as conn, conn.transaction():
            state = TransactionState()
            state.enter()
            try:
                yield _PostgresTransaction(conn)
            finally:
                state.exit()

    async def table_exists(self, name: str) -> bool:
        # ENGINE DIFFERENCE: PostgreSQL resolves a table name through the search path.
        return await self.fetchval("SELECT to_regclass($1) IS NOT NULL", name) is True

    async def close(self) -> None:
        await self._pool.close()


async def _keep_session(conn: Any) -> None:
    """A connection going back to the pool: asyncpg has rolled back any open transaction;
    skip its reset query (advisory unlocks, CLOSE ALL, UNLISTEN, RESET ALL), a round trip on
    every release. No statement here changes session state: no SET, LISTEN, advisory lock or
    cursor outliving its transaction."""


async def open_postgres(params: PostgresParams) -> Database:
    """Open a connection pool to the PostgreSQL database ``params`` describes."""
    import asyncpg

    try:
        pool = await asyncpg.create_pool(
            host=params.host,
            port=params.port,
            user=params.user,
            password=params.password,
            database=params.database,
            min_size=params.min_size,
            max_size=params.max_size,
            reset=_keep_session,
        )
    except (OSError, asyncpg.PostgresError) as exc:
        raise StorageError(
            f"cannot connect to PostgreSQL database {params.database!r} at "
            f"{params.host}:{params.port} as {params.user!r}: {exc}"
        ) from exc
    return PostgresDatabase(pool)
