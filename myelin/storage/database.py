"""Database interface shared by the SQLite and PostgreSQL engines (no spec section: internals).

SQL is written once, in PostgreSQL's dialect with ``$1, $2`` placeholders; the SQLite engine
rewrites the placeholders to SQLite's numbered ``?1, ?2``. The few engine differences are marked
``ENGINE DIFFERENCE`` where they occur.

Rules both engines enforce the same way:

* ``Database.fetch*`` are reads of committed data. On SQLite they run on read-only connections,
  so a writing statement there fails: write with ``Database.execute`` or in a transaction.
* ``Database.transaction()`` is an async context manager yielding a ``Transaction``; every
  statement run on it commits together, or none does (an exception rolls back). On SQLite all
  writes are serialised through one writer connection, so keep transactions short and do not
  await unrelated I/O inside them.
* Starting a write on the ``Database`` while the current task holds a transaction open is an
  error (on SQLite it would deadlock); use the ``Transaction`` instead.
"""

import contextvars
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

from myelin.storage.errors import StorageError

T = TypeVar("T")

Engine = Literal["sqlite", "postgres"]


class Row(Protocol):
    """One result row, indexable by column position or by column name.

    ``sqlite3.Row`` and ``asyncpg.Record`` both satisfy it.
    """

    def __getitem__(self, key: int | str, /) -> Any: ...

    def keys(self) -> Iterable[str]: ...


@dataclass(frozen=True)
class PostgresParams:
    """How to reach a PostgreSQL database."""

    host: str = "127.0.0.1"
    port: int = 5432
    user: str = "postgres"
    password: str | None = None
    database: str = "myelin"
    min_size: int = 1
    max_size: int = 10


class Transaction(Protocol):
    """Statements run inside one open transaction."""

    async def execute(self, sql: str, *args: Any) -> int:
        """Run one statement; return the number of rows it changed."""
        ...

    async def executemany(self, sql: str, args: Iterable[Sequence[Any]]) -> None:
        """Run one statement once per parameter tuple."""
        ...

    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...

    async def fetchrow(self, sql: str, *args: Any) -> Row | None: ...

    async def fetchval(self, sql: str, *args: Any) -> Any:
        """The first column of the first row, or None when there is no row."""
        ...


# The transaction the current task holds open, to catch writes that would bypass it.
_current_transaction: contextvars.ContextVar[object | None] = contextvars.ContextVar(
    "myelin_storage_transaction", default=None
)


class TransactionState:
    """Marks a transaction as open for the task that opened it (see ``check_no_transaction``)."""

    def __init__(self) -> None:
        self.open = True
        self._token: contextvars.Token[object | None] | None = None

    def enter(self) -> None:
        self._token = _current_transaction.set(self)

    def exit(self) -> None:
        self.open = False
        if self._token is not None:
            _current_transaction.reset(self._token)


def check_no_transaction() -> None:
    """Raise if the calling task holds a transaction open (writes must go through it)."""
    current = _current_transaction.get()
    if isinstance(current, TransactionState) and current.open:
        raise StorageError(
            "a write was started on the Database while this task holds a transaction open; "
            "run it on the Transaction instead"
        )


class Database:
    """One interface, two engines: see ``open_sqlite`` and ``open_postgres``."""

    engine: Engine

    async def execute(self, sql: str, *args: Any) -> int:
        """Run one writing statement in its own transaction; return the rows it changed."""
        raise NotImplementedError

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        """Run one read-only query on committed data."""
        raise NotImplementedError

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, *args: Any) -> Any:
        row = await self.fetchrow(sql, *args)
        return None if row is None else row[0]

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """``async with db.transaction() as txn:`` runs a multi-statement write atomically."""
        raise NotImplementedError

    async def run_in_transaction(self, func: Callable[[Transaction], Awaitable[T]]) -> T:
        """Run ``func`` inside one transaction and return its result."""
        async with self.transaction() as txn:
            return await func(txn)

    async def table_exists(self, name: str) -> bool:
        """Whether a table of this name exists (ENGINE DIFFERENCE: catalog queries)."""
        raise NotImplementedError

    async def migrate(self) -> list[int]:
        """Apply the pending numbered migrations in order; return the versions applied."""
        from myelin.storage.migrations import run_migrations

        return await run_migrations(self)

    async def schema_version(self) -> int:
        """The highest migration applied; 0 for an empty database."""
        from myelin.storage.migrations import current_schema_version

        return await current_schema_version(self)

    async def close(self) -> None:
        raise NotImplementedError


def in_list(first: int, count: int) -> str:
    """Placeholders ``$first, ..., $first+count-1`` for an ``IN (...)`` list (both engines)."""
    if count < 1:
        raise ValueError("an IN list needs at least one value")
    return ", ".join(f"${i}" for i in range(first, first + count))


def chunks(values: Sequence[T], size: int = 500) -> Iterable[Sequence[T]]:
    """Split ``values`` so that ``IN`` lists stay well under SQLite's parameter limit."""
    for start in range(0, len(values), size):
        yield values[start : start + size]
