"""Stream positions (no spec section: the server's ordering behind ``/sync`` tokens).

One global position per stream, starting with the ``events`` stream: every persisted event
gets the next ``stream_ordering``, monotonic across all rooms.

How readers know which positions are complete: the counter lives in one row of
``stream_positions``. A writer increments it inside the transaction that writes the stream's
rows, and the row lock taken by that UPDATE is held until the transaction ends. So on
PostgreSQL a second writer waits until the first commits (or rolls back) before it gets the
next position: positions are committed in the order they are handed out. On SQLite all writes
are serialised anyway. Hence the committed counter value (``current_position``) is a position
up to which every row is committed and visible: readers never skip a late-committing event.
The counter never goes backwards, even when events are purged.
"""

from myelin.storage.database import Database, Transaction
from myelin.storage.errors import StorageError

EVENTS_STREAM = "events"


async def next_position(txn: Transaction, stream: str = EVENTS_STREAM) -> int:
    """Allocate the next position of ``stream``; holds the counter's lock until commit.

    Call it as late as possible in the transaction: writers of the stream queue behind it.
    """
    value = await txn.fetchval(
        "UPDATE stream_positions SET pos = pos + 1 WHERE stream = $1 RETURNING pos", stream
    )
    if value is None:
        raise StorageError(f"unknown stream {stream!r}")
    return int(value)


async def current_position(db: Database | Transaction, stream: str = EVENTS_STREAM) -> int:
    """The highest position of ``stream`` whose transaction (and every earlier one) committed."""
    value = await db.fetchval("SELECT pos FROM stream_positions WHERE stream = $1", stream)
    if value is None:
        raise StorageError(f"unknown stream {stream!r}")
    return int(value)
