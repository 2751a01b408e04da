"""SQLite engine of the storage interface (no spec section: internals).

* WAL journal, ``synchronous=FULL`` (a commit is durable when it returns), foreign keys on.
* ALL writes go through one writer connection owned by one dedicated thread. Writers queue on
  an ``asyncio.Lock`` (FIFO) so a transaction has the connection to itself from ``BEGIN
  IMMEDIATE`` to ``COMMIT``; SQLite therefore never sees two writers and never answers
  "database is locked". (The idea of Dendrite's exclusive writer, written for asyncio.)
* Reads run inline on the event loop thread, on a read-only connection of their own: in WAL
  mode a reader never waits for the writer, and an indexed lookup takes microseconds where a
  hop to a thread and back costs far more CPU (measured: the hops were a fifth of a message
  send). Should SQLite answer "busy" for a moment (a checkpoint or a recovery), that read
  goes to a small pool of read-only connections on threads, which wait it out.
* The event loop never waits on a lock or on an fsync: ``BEGIN`` and ``COMMIT`` run on the
  writer thread; the statements inside an open write transaction run inline (see
  ``_SqliteTransaction``).

SQL arrives in PostgreSQL's dialect; ``$1`` placeholders become SQLite's numbered ``?1``.
"""

import asyncio
import functools
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

from myelin.storage.database import (
    Database,
    Row,
    Transaction,
    TransactionState,
    check_no_transaction,
)
from myelin.storage.errors import StorageError

T = TypeVar("T")

READER_COUNT = 4
BUSY_TIMEOUT_MS = 10_000
# A transaction's COMMIT (its fsync) runs inline on the event loop when no other writer waits and
# no commit ended within this many seconds: a lone write then has nothing for the loop to overlap
# with its fsync, and skipping the hop to the writer thread and back (two thread wake-ups) takes
# ~0.7 ms off its latency on the reference machine. Under a stream of writes, commits go to the
# writer thread so that the loop keeps serving requests during each fsync.
INLINE_COMMIT_AFTER_IDLE_SECONDS = 0.01
# WAL pages between automatic checkpoints (about 40 MiB of 4 KiB pages; SQLite's default is 1,000).
WAL_CHECKPOINT_PAGES = 10_000
_BUSY_CODES = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


@functools.lru_cache(maxsize=1024)
def rewrite_placeholders(sql: str) -> str:
    """Turn ``$N`` placeholders into ``?N``, leaving quoted strings and identifiers alone."""
    out: list[str] = []
    i = 0
    length = len(sql)
    while i < length:
        char = sql[i]
        if char in ("'", '"'):
            end = sql.find(char, i + 1)
            while end != -1 and end + 1 < length and sql[end + 1] == char:
                end = sql.find(char, end + 2)  # a doubled quote escapes itself
            end = length - 1 if end == -1 else end
            out.append(sql[i : end + 1])
            i = end + 1
        elif char == "$" and i + 1 < length and sql[i + 1].isdigit():
            j = i + 1
            while j < length and sql[j].isdigit():
                j += 1
            out.append("?" + sql[i + 1 : j])
            i = j
        else:
            out.append(char)
            i += 1
    return "".join(out)


def _connect(
    path: str, *, readonly: bool, busy_timeout_ms: int = BUSY_TIMEOUT_MS
) -> sqlite3.Connection:
    # isolation_level=None: the module opens no implicit transactions; we issue BEGIN ourselves.
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
    conn.execute("PRAGMA foreign_keys = ON")
    if readonly:
        conn.execute("PRAGMA query_only = ON")
    else:
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            conn.close()
            raise StorageError(f"could not switch {path!r} to WAL mode (got {mode!r})")
        conn.execute("PRAGMA synchronous = FULL")
        # Checkpoint the WAL into the database file every WAL_CHECKPOINT_PAGES pages instead of
        # SQLite's default 1,000: a page written by many commits (the tail of a busy room's
        # tables and indexes) is copied back once per checkpoint, so fewer checkpoints write and
        # fsync far less. The WAL file is truncated back to this size after a checkpoint.
        conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
        conn.execute(f"PRAGMA journal_size_limit = {WAL_CHECKPOINT_PAGES * 4096}")
    return conn


def _rowcount(conn: sqlite3.Connection, cursor: sqlite3.Cursor, total_before: int) -> int:
    if cursor.rowcount >= 0:
        return cursor.rowcount
    # Python 3.11's sqlite3 reports no rowcount for statements starting with WITH.
    if conn.total_changes == total_before:
        return 0
    return int(conn.execute("SELECT changes()").fetchone()[0])


class _SqliteTransaction:
    """Statements run on the writer connection while its transaction is open.

    They run on the calling (event loop) thread, not on the writer thread: between ``BEGIN
    IMMEDIATE`` and ``COMMIT`` a statement only touches SQLite's page cache and the WAL file's
    OS buffers (no fsync, no lock wait: this connection holds the write lock), so it takes
    microseconds, far less than a hop to another thread and back. Nothing else uses the writer
    connection meanwhile: the transaction holds the write lock, and ``BEGIN`` (inline too) waits
    until the writer thread finished every job queued before. The ``COMMIT`` (the fsync) runs
    on the writer thread.
    """

    def __init__(self, db: "SqliteDatabase") -> None:
        self._db = db
        self.open = True

    def _conn(self) -> sqlite3.Connection:
        if not self.open or self._db._closed:
            raise StorageError("the transaction is no longer open")
        return self._db._writer

    async def execute(self, sql: str, *args: Any) -> int:
        return _execute(self._conn(), sql, args)

    async def executemany(self, sql: str, args: Iterable[Sequence[Any]]) -> None:
        _executemany(self._conn(), sql, list(args))

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return _fetch(self._conn(), sql, args)

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, *args: Any) -> Any:
        row = await self.fetchrow(sql, *args)
        return None if row is None else row[0]


def _execute(conn: sqlite3.Connection, sql: str, args: Sequence[Any]) -> int:
    total_before = conn.total_changes
    return _rowcount(conn, conn.execute(rewrite_placeholders(sql), tuple(args)), total_before)


def _executemany(conn: sqlite3.Connection, sql: str, args: list[Sequence[Any]]) -> None:
    conn.executemany(rewrite_placeholders(sql), [tuple(a) for a in args])


def _fetch(conn: sqlite3.Connection, sql: str, args: Sequence[Any]) -> list[Row]:
    return list(conn.execute(rewrite_placeholders(sql), tuple(args)).fetchall())


def _rollback_if_open(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def _commit(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _autocommit_execute(conn: sqlite3.Connection, sql: str, args: Sequence[Any]) -> int:
    conn.execute("BEGIN IMMEDIATE")
    try:
        count = _execute(conn, sql, args)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return count


class SqliteDatabase(Database):
    """The SQLite engine; create it with ``open_sqlite``."""

    engine = "sqlite"

    def __init__(self, path: str) -> None:
        self.path = path
        self._write_executor = ThreadPoolExecutor(1, thread_name_prefix="myelin-sqlite-writer")
        self._read_executor = ThreadPoolExecutor(
            READER_COUNT, thread_name_prefix="myelin-sqlite-reader"
        )
        self._write_lock = asyncio.Lock()
        self._writer: sqlite3.Connection
        self._readers: asyncio.Queue[sqlite3.Connection] = asyncio.Queue()
        self._all_readers: list[sqlite3.Connection] = []
        self._inline_reader: sqlite3.Connection
        self._last_write: asyncio.Future[Any] | None = None
        self._closed = False
        self._writers_waiting = 0
        self._last_commit_end = 0.0

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        self._writer = await loop.run_in_executor(
            self._write_executor, functools.partial(_connect, self.path, readonly=False)
        )
        self._inline_reader = await loop.run_in_executor(
            self._read_executor,
            functools.partial(_connect, self.path, readonly=True, busy_timeout_ms=0),
        )
        for _ in range(READER_COUNT):
            reader = await loop.run_in_executor(
                self._read_executor, functools.partial(_connect, self.path, readonly=True)
            )
            self._all_readers.append(reader)
            self._readers.put_nowait(reader)

    def _write_call(self, func: Callable[..., T], *args: Any) -> "asyncio.Future[T]":
        """Queue ``func`` on the writer thread now; the caller must hold the write lock."""
        if self._closed:
            raise StorageError("the database is closed")
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._write_executor, functools.partial(func, *args))
        self._last_write = future
        return future

    async def _writer_idle(self) -> None:
        """Wait until the writer thread ran every job queued so far (a task cancelled while
        awaiting one released the write lock before the job ended)."""
        last = self._last_write
        if last is not None and not last.done():
            await asyncio.wait([last])

    async def execute(self, sql: str, *args: Any) -> int:
        check_no_transaction()
        await self._acquire_write_lock()
        try:
            future = self._write_call(_autocommit_execute, self._writer, sql, args)
            # Shielded: once queued, the statement commits or rolls back in full even if the
            # awaiting task is cancelled, and the lock is released only after it finished.
            return await asyncio.shield(future)
        finally:
            self._write_lock.release()

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        if self._closed:
            raise StorageError("the database is closed")
        try:
            return _fetch(self._inline_reader, sql, args)
        except sqlite3.OperationalError as e:
            if e.sqlite_errorcode & 0xFF not in _BUSY_CODES:
                raise
        # Busy (a checkpoint or recovery holds a lock for a moment): wait on a reader thread.
        reader = await self._readers.get()
        loop = asyncio.get_running_loop()
        try:
            future = loop.run_in_executor(
                self._read_executor, functools.partial(_fetch, reader, sql, args)
            )
        except BaseException:
            self._readers.put_nowait(reader)
            raise

        def release(done: "asyncio.Future[list[Row]]") -> None:
            # The connection goes back only once its thread is done with it, even when the
            # awaiting task was cancelled meanwhile.
            if not done.cancelled():
                done.exception()  # marks the exception as retrieved
            self._readers.put_nowait(reader)

        future.add_done_callback(release)
        return await asyncio.shield(future)

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        return self._transaction()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Transaction]:
        check_no_transaction()
        await self._acquire_write_lock()
        try:
            await self._writer_idle()
            if self._closed:
                raise StorageError("the database is closed")
            # Inline, like the statements: nothing else writes to the database file, so BEGIN
            # IMMEDIATE takes the write lock at once.
            self._writer.execute("BEGIN IMMEDIATE")
            state = TransactionState()
            state.enter()
            txn = _SqliteTransaction(self)
            try:
                yield txn
            except BaseException:
                txn.open = False
                state.exit()
                # The writer thread runs jobs in order, so this follows any statement still
                # running for a cancelled task.
                await asyncio.shield(self._write_call(_rollback_if_open, self._writer))
                raise
            txn.open = False
            state.exit()
            try:
                if self._commit_inline():
                    _commit(self._writer)
                else:
                    await asyncio.shield(self._write_call(_commit, self._writer))
            finally:
                self._last_commit_end = time.monotonic()
        finally:
            self._write_lock.release()

    async def _acquire_write_lock(self) -> None:
        """Take the write lock, counted as a waiting writer until then."""
        self._writers_waiting += 1
        try:
            await self._write_lock.acquire()
        finally:
            self._writers_waiting -= 1

    def _commit_inline(self) -> bool:
        """Whether this commit runs on the loop (see ``INLINE_COMMIT_AFTER_IDLE_SECONDS``)."""
        idle = time.monotonic() - self._last_commit_end
        return self._writers_waiting == 0 and idle >= INLINE_COMMIT_AFTER_IDLE_SECONDS

    async def table_exists(self, name: str) -> bool:
        # ENGINE DIFFERENCE: SQLite's catalog is sqlite_master.
        row = await self.fetchrow(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = $1", name
        )
        return row is not None

    async def close(self) -> None:
        if self._closed:
            return
        async with self._write_lock:
            self._closed = True
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._write_executor, self._writer.close)
            for reader in [*self._all_readers, self._inline_reader]:
                await loop.run_in_executor(self._read_executor, reader.close)
        self._write_executor.shutdown(wait=True)
        self._read_executor.shutdown(wait=True)


async def open_sqlite(path: str) -> Database:
    """Open (creating it if needed) the SQLite database file at ``path``."""
    if path in ("", ":memory:") or path.startswith("file:"):
        raise StorageError("SQLite needs a database file path (WAL mode needs a real file)")
    db = SqliteDatabase(path)
    try:
        await db._open()
    except sqlite3.Error as exc:
        db._write_executor.shutdown(wait=False)
        db._read_executor.shutdown(wait=False)
        raise StorageError(f"cannot open SQLite database {path!r}: {exc}") from exc
    return db
