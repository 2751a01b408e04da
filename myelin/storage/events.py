"""Persisted events and the event graph (spec: Server-Server API, "Persisting events" steps of
"Checks performed on receipt of a PDU"; Client-Server API, "Syncing" for stream order).

An event is stored with its JSON kept exactly as received, index columns copied from it, and
server facts kept apart (outlier, rejected_reason, soft_failed). Persisting writes, in one
transaction: the state group of the state after the event, the event row with the next global
``stream_ordering``, its prev/auth edges, the room's forward extremities and optionally the
room's current state. See ``myelin.storage.streams`` for why readers may trust
``get_max_stream_ordering``.
"""

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from myelin.core.canonical_json import encode_canonical_json
from myelin.core.events import EventView
from myelin.storage.caches import caches_of
from myelin.storage.database import Database, Row, Transaction, chunks, in_list
from myelin.storage.errors import EventExistsError, StorageError
from myelin.storage.event_persist_pg import persist_new_event_txn
from myelin.storage.json_text import loads_exact
from myelin.storage.push_actions import PendingPushActions, add_push_actions_txn
from myelin.storage.relations import record_event_links_txn
from myelin.storage.room_reads import TxnIdKey, record_txn_event_txn
from myelin.storage.search import index_event_txn
from myelin.storage.state import NewStateGroup, resolve_new_group_txn, set_current_state_txn
from myelin.storage.streams import current_position, next_position


@dataclass(frozen=True)
class StoredEvent:
    """A persisted event: its JSON as received plus the server's facts about it."""

    event_id: str
    room_id: str
    type: str
    state_key: str | None
    sender: str
    depth: int
    origin_server_ts: int
    received_ts: int
    stream_ordering: int
    outlier: bool
    rejected_reason: str | None
    soft_failed: bool
    json_text: str

    def json(self) -> dict[str, Any]:
        """The event's JSON, parsed (integers of any size are kept exactly)."""
        value = loads_exact(self.json_text)
        if not isinstance(value, dict):
            raise StorageError(f"stored JSON of {self.event_id} is not an object")
        return value


@dataclass(frozen=True)
class PersistedEvent:
    event_id: str
    stream_ordering: int
    state_group: int | None


_COLUMNS = (
    "event_id, room_id, type, state_key, sender, depth, origin_server_ts, received_ts,"
    " stream_ordering, outlier, rejected_reason, soft_failed, event_json"
)

# An event hidden from room timelines: outliers, rejected and soft-failed events.
_VISIBLE = "outlier = FALSE AND rejected_reason IS NULL AND soft_failed = FALSE"
_VISIBLE_E = "e.outlier = FALSE AND e.rejected_reason IS NULL AND e.soft_failed = FALSE"


def _stored(row: Row) -> StoredEvent:
    return StoredEvent(
        event_id=row["event_id"],
        room_id=row["room_id"],
        type=row["type"],
        state_key=row["state_key"],
        sender=row["sender"],
        depth=int(row["depth"]),
        origin_server_ts=int(row["origin_server_ts"]),
        received_ts=int(row["received_ts"]),
        stream_ordering=int(row["stream_ordering"]),
        outlier=bool(row["outlier"]),
        rejected_reason=row["rejected_reason"],
        soft_failed=bool(row["soft_failed"]),
        json_text=row["event_json"],
    )


def _json_text(event: EventView, raw_json: str | bytes | None) -> str:
    if raw_json is None:
        return encode_canonical_json(event.json, strict=False).decode("utf-8")
    if isinstance(raw_json, bytes):
        return raw_json.decode("utf-8")
    return raw_json


async def _groups_txn(
    txn: Transaction,
    room_id: str,
    state_after: int | NewStateGroup | None,
    set_current_state: bool | int | NewStateGroup,
) -> tuple[int | None, int | None]:
    """The event's state group and the room's new current state group (None: unchanged), new
    groups created in ``txn`` (see ``persist_event``)."""
    group = None
    if state_after is not None:
        group = await resolve_new_group_txn(txn, room_id, state_after)
    if set_current_state is True:
        return group, group
    if set_current_state is False:
        return group, None
    return group, await resolve_new_group_txn(txn, room_id, set_current_state)


class _NotNewError(Exception):
    """Rolls back a PostgreSQL one-statement persist that found the event (or the client
    transaction ID) stored already."""


# Backfilled events count down from -1 (migration 14).
BACKFILL_STREAM = "events_backfill"


class EventStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._cache = caches_of(db).events

    async def persist_event(
        self,
        event: EventView,
        *,
        received_ts: int,
        raw_json: str | bytes | None = None,
        outlier: bool = False,
        rejected_reason: str | None = None,
        soft_failed: bool = False,
        state_after: int | NewStateGroup | None = None,
        set_current_state: bool | int | NewStateGroup = False,
        txn_id: TxnIdKey | None = None,
        push_actions: PendingPushActions | None = None,
        backfill_position: int | None = None,
        childless: bool = False,
    ) -> PersistedEvent:
        """Persist ``event`` atomically and return its stream ordering and state group.

        ``childless``: no stored event can point to ``event`` (a local event built just now on
        the room's extremities), so it becomes a forward extremity without looking for children.

        ``backfill_position``: an event of the room's history fetched with ``/backfill``
        takes this negative stream ordering (from ``reserve_backfill_positions``: before
        every event held, never new to ``/sync``) and leaves the forward extremities alone.

        ``raw_json`` is the PDU as received (stored unchanged); without it the canonical JSON of
        ``event.json`` is stored. ``state_after`` is the state after the event: an existing
        group or a new one to create. ``set_current_state`` makes the room's current state that
        group (True) or another one. Forward extremities move only for events that are not
        outliers, rejected or soft-failed. Persisting an event again raises
        ``EventExistsError``, except that an outlier may be persisted once more as a
        non-outlier (it then gets a new stream ordering).

        In the same transaction (one commit, so a crash keeps all or none): ``txn_id``, the
        client transaction that created the event (``TxnIdUsedError`` and nothing persisted
        when it created one already), and ``push_actions``, the event's notifications.
        """
        if outlier and (state_after is not None or set_current_state is not False):
            raise ValueError("an outlier has no state group and cannot set the current state")
        if set_current_state is True and state_after is None:
            raise ValueError("set_current_state=True needs state_after")
        room_id = event.room_id
        text = _json_text(event, raw_json)
        if self._db.engine == "postgres" and not outlier and backfill_position is None:
            # ENGINE DIFFERENCE: see myelin.storage.event_persist_pg.
            persisted = await self._persist_new_pg(
                event,
                text=text,
                received_ts=received_ts,
                rejected_reason=rejected_reason,
                soft_failed=soft_failed,
                state_after=state_after,
                set_current_state=set_current_state,
                txn_id=txn_id,
                push_actions=push_actions,
                childless=childless,
            )
            if persisted is not None:
                return persisted
            # Stored already, or the transaction ID was used: the general path says which.
        async with self._transaction(room_id) as txn:
            existing = await txn.fetchrow(
                "SELECT outlier FROM events WHERE event_id = $1", event.event_id
            )
            if existing is not None and (outlier or not existing["outlier"]):
                raise EventExistsError(f"event {event.event_id} is already persisted")
            # State first: it may load a parent map, and must not hold the stream lock long.
            group, current = await _groups_txn(txn, room_id, state_after, set_current_state)
            if backfill_position is not None:
                stream_ordering = backfill_position
            else:
                stream_ordering = await next_position(txn)
            if existing is None:
                await self._insert_event(
                    txn,
                    event,
                    text=text,
                    stream_ordering=stream_ordering,
                    received_ts=received_ts,
                    outlier=outlier,
                    rejected_reason=rejected_reason,
                    soft_failed=soft_failed,
                )
            else:
                # A former outlier joins the room's DAG: it gets a position in the stream now.
                self._cache.pop(event.event_id)
                await txn.execute(
                    "UPDATE events SET outlier = FALSE, stream_ordering = $2, received_ts = $3,"
                    " rejected_reason = $4, soft_failed = $5 WHERE event_id = $1",
                    event.event_id,
                    stream_ordering,
                    received_ts,
                    rejected_reason,
                    soft_failed,
                )
            if group is not None:
                await txn.execute(
                    "INSERT INTO event_state_groups (event_id, state_group) VALUES ($1, $2)",
                    event.event_id,
                    group,
                )
            backfilled = backfill_position is not None
            moves = not outlier and rejected_reason is None and not soft_failed and not backfilled
            if moves:
                await self._update_forward_extremities(txn, event, childless=childless)
            changed = False
            if current is not None:
                changed = await set_current_state_txn(txn, room_id, current)
            if txn_id is not None:
                await record_txn_event_txn(txn, txn_id, room_id, event.event_id)
            if push_actions is not None:
                await add_push_actions_txn(
                    txn, event.event_id, room_id, push_actions, stream_ordering
                )
        if existing is not None:
            # Again once committed: a read between the first pop and the commit saw the row
            # as it was.
            self._cache.pop(event.event_id)
        elif not outlier:
            self._remember_new(
                event,
                text,
                stream_ordering=stream_ordering,
                received_ts=received_ts,
                rejected_reason=rejected_reason,
                soft_failed=soft_failed,
            )
        self._committed(room_id, event.event_id, group, current_changed=changed)
        if moves:
            caches_of(self._db).forget_extremities(room_id)
        return PersistedEvent(event.event_id, stream_ordering, group)

    @asynccontextmanager
    async def _transaction(self, room_id: str) -> AsyncIterator[Transaction]:
        """A persist's transaction. When it fails, its commit may have happened all the same
        (a connection lost at COMMIT): the room's cached forward extremities and members are
        forgotten (only a cache miss when it surely rolled back)."""
        try:
            async with self._db.transaction() as txn:
                yield txn
        except BaseException:
            caches = caches_of(self._db)
            caches.forget_extremities(room_id)
            caches.forget_members(room_id)
            raise

    def _remember_new(
        self,
        event: EventView,
        text: str,
        *,
        stream_ordering: int,
        received_ts: int,
        rejected_reason: str | None,
        soft_failed: bool,
    ) -> None:
        """Cache a timeline event just committed, as ``get_event`` would read it back (the
        next event of the room is built on it)."""
        self._cache.put(
            event.event_id,
            StoredEvent(
                event_id=event.event_id,
                room_id=event.room_id,
                type=event.type,
                state_key=event.state_key,
                sender=event.sender,
                depth=event.depth,
                origin_server_ts=event.origin_server_ts,
                received_ts=received_ts,
                stream_ordering=stream_ordering,
                outlier=False,
                rejected_reason=rejected_reason,
                soft_failed=soft_failed,
                json_text=text,
            ),
        )

    def _committed(
        self, room_id: str, event_id: str, group: int | None, *, current_changed: bool
    ) -> None:
        """Cache and invalidate once a persist committed."""
        caches = caches_of(self._db)
        if group is not None:
            caches.event_state_groups.put(event_id, group)
        if current_changed:
            caches.forget_members(room_id)

    async def _persist_new_pg(
        self,
        event: EventView,
        *,
        text: str,
        received_ts: int,
        rejected_reason: str | None,
        soft_failed: bool,
        state_after: int | NewStateGroup | None,
        set_current_state: bool | int | NewStateGroup,
        txn_id: TxnIdKey | None,
        push_actions: PendingPushActions | None,
        childless: bool,
    ) -> PersistedEvent | None:
        """``persist_event`` of a new timeline event on PostgreSQL, the event's rows written
        by one statement; None (nothing persisted) when the event is stored already or
        ``txn_id`` created an event already."""
        room_id = event.room_id
        extremities = caches_of(self._db).forward_extremities
        generation = extremities.generation
        try:
            async with self._transaction(room_id) as txn:
                # State first: it may load a parent map, and must not hold the stream lock long.
                group, current = await _groups_txn(txn, room_id, state_after, set_current_state)
                row = await persist_new_event_txn(
                    txn,
                    event,
                    text=text,
                    received_ts=received_ts,
                    rejected_reason=rejected_reason,
                    soft_failed=soft_failed,
                    group=group,
                    childless=childless,
                    txn_id=txn_id,
                )
                if row is None:
                    raise _NotNewError
                await record_event_links_txn(txn, event)
                changed = False
                if current is not None and current != row.current_group:
                    changed = await set_current_state_txn(txn, room_id, current)
                if push_actions is not None:
                    await add_push_actions_txn(
                        txn, event.event_id, room_id, push_actions, row.stream_ordering
                    )
        except _NotNewError:
            return None
        # The extremities this transaction read and left, unless another write of them
        # committed meanwhile (it bumped the generation); readers that raced it keep nothing.
        unchanged = generation == extremities.generation
        extremities.forget(room_id)
        if unchanged:
            extremities.put(room_id, row.extremities)
        self._remember_new(
            event,
            text,
            stream_ordering=row.stream_ordering,
            received_ts=received_ts,
            rejected_reason=rejected_reason,
            soft_failed=soft_failed,
        )
        self._committed(room_id, event.event_id, group, current_changed=changed)
        return PersistedEvent(event.event_id, row.stream_ordering, group)

    async def add_push_actions(
        self, event_id: str, room_id: str, pending: PendingPushActions, stream_ordering: int
    ) -> None:
        """Record the push actions of an event persisted without them."""
        async with self._db.transaction() as txn:
            await add_push_actions_txn(txn, event_id, room_id, pending, stream_ordering)

    async def _insert_event(
        self,
        txn: Transaction,
        event: EventView,
        *,
        text: str,
        stream_ordering: int,
        received_ts: int,
        outlier: bool,
        rejected_reason: str | None,
        soft_failed: bool,
    ) -> None:
        await txn.execute(
            f"INSERT INTO events ({_COLUMNS})"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            event.event_id,
            event.room_id,
            event.type,
            event.state_key,
            event.sender,
            event.depth,
            event.origin_server_ts,
            received_ts,
            stream_ordering,
            outlier,
            rejected_reason,
            soft_failed,
            text,
        )
        await txn.executemany(
            "INSERT INTO event_edges (event_id, prev_event_id) VALUES ($1, $2)"
            " ON CONFLICT DO NOTHING",
            [(event.event_id, prev) for prev in event.prev_event_ids],
        )
        await txn.executemany(
            "INSERT INTO event_auth_edges (event_id, auth_event_id) VALUES ($1, $2)"
            " ON CONFLICT DO NOTHING",
            [(event.event_id, auth) for auth in event.auth_event_ids],
        )
        # Relationship and redaction target, for bundled aggregations and redacted serving.
        await record_event_links_txn(txn, event)
        # The full-text search index ("Server Side Search").
        await index_event_txn(txn, self._db.engine, event)

    async def _update_forward_extremities(
        self, txn: Transaction, event: EventView, *, childless: bool
    ) -> None:
        room_id = event.room_id
        # Its prev events now have a child: they are no longer extremities.
        await txn.executemany(
            "DELETE FROM forward_extremities WHERE room_id = $1 AND event_id = $2",
            [(room_id, prev) for prev in event.prev_event_ids],
        )
        # It is one itself unless a (visible) event that arrived earlier points to it.
        # CROSS JOIN keeps event_edges the outer table on SQLite (its planner otherwise walks
        # every event of the room through events_room_depth: a send cost grew with the room);
        # PostgreSQL plans it as the inner join it is.
        child = None
        if not childless:
            child = await txn.fetchval(
                "SELECT 1 FROM event_edges ee CROSS JOIN events e"
                " WHERE e.event_id = ee.event_id"
                f" AND ee.prev_event_id = $1 AND e.room_id = $2 AND {_VISIBLE_E}"
                " LIMIT 1",
                event.event_id,
                room_id,
            )
        if child is None:
            await txn.execute(
                "INSERT INTO forward_extremities (room_id, event_id) VALUES ($1, $2)"
                " ON CONFLICT DO NOTHING",
                room_id,
                event.event_id,
            )

    def _remember(self, row: Row) -> StoredEvent:
        stored = _stored(row)
        self._cache.put(stored.event_id, stored)
        return stored

    async def get_event(self, event_id: str) -> StoredEvent | None:
        cached = self._cache.get(event_id)
        if isinstance(cached, StoredEvent):
            return cached
        row = await self._db.fetchrow(
            f"SELECT {_COLUMNS} FROM events WHERE event_id = $1", event_id
        )
        return None if row is None else self._remember(row)

    async def get_events(self, event_ids: Sequence[str]) -> dict[str, StoredEvent]:
        """The stored events among ``event_ids``, by ID (missing ones are left out)."""
        found: dict[str, StoredEvent] = {}
        wanted: list[str] = []
        for event_id in dict.fromkeys(event_ids):
            cached = self._cache.get(event_id)
            if isinstance(cached, StoredEvent):
                found[event_id] = cached
            else:
                wanted.append(event_id)
        for part in chunks(wanted):
            rows = await self._db.fetch(
                f"SELECT {_COLUMNS} FROM events WHERE event_id IN ({in_list(1, len(part))})",
                *part,
            )
            found.update((row["event_id"], self._remember(row)) for row in rows)
        return found

    async def have_events(self, event_ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for part in chunks(list(dict.fromkeys(event_ids))):
            rows = await self._db.fetch(
                f"SELECT event_id FROM events WHERE event_id IN ({in_list(1, len(part))})", *part
            )
            found.update(row["event_id"] for row in rows)
        return found

    async def get_max_stream_ordering(self) -> int:
        """The highest stream ordering below which every event is committed (0 if none)."""
        return await current_position(self._db)

    async def get_forward_extremities(self, room_id: str) -> list[str]:
        """The room's forward extremities, sorted (cached: see ``DatabaseCaches``)."""
        cache = caches_of(self._db).forward_extremities
        cached = cache.get(room_id)
        if cached is not None:
            return list(cached)
        generation = cache.generation
        rows = await self._db.fetch(
            "SELECT event_id FROM forward_extremities WHERE room_id = $1 ORDER BY event_id",
            room_id,
        )
        found = [row["event_id"] for row in rows]
        cache.put_unless_forgotten(generation, room_id, tuple(found))
        return found

    async def get_prev_event_ids(self, event_id: str) -> list[str]:
        # An event's edges never change (a purge clears the cache with the events).
        cache = caches_of(self._db).prev_events
        cached = cache.get(event_id)
        if cached is not None:
            return list(cached)
        rows = await self._db.fetch(
            "SELECT prev_event_id FROM event_edges WHERE event_id = $1 ORDER BY prev_event_id",
            event_id,
        )
        found = tuple(row["prev_event_id"] for row in rows)
        if found:  # none: an unknown event (or one without prev events), asked again later
            cache.put(event_id, found)
        return list(found)

    async def get_auth_event_ids(self, event_id: str) -> list[str]:
        rows = await self._db.fetch(
            "SELECT auth_event_id FROM event_auth_edges WHERE event_id = $1 ORDER BY auth_event_id",
            event_id,
        )
        return [row["auth_event_id"] for row in rows]

    async def get_room_events(
        self,
        room_id: str,
        *,
        after: int = 0,
        upto: int | None = None,
        limit: int = 100,
        newest_first: bool = False,
    ) -> list[StoredEvent]:
        """The room's timeline events with ``after < stream_ordering <= upto``.

        Outliers, rejected and soft-failed events are left out. With ``newest_first`` the
        ``limit`` newest are returned, newest first (for /messages backwards and sync).
        """
        order = "DESC" if newest_first else "ASC"
        rows = await self._db.fetch(
            f"SELECT {_COLUMNS} FROM events WHERE room_id = $1 AND stream_ordering > $2"
            f" AND stream_ordering <= $3 AND {_VISIBLE}"
            f" ORDER BY stream_ordering {order} LIMIT $4",
            room_id,
            after,
            upto if upto is not None else 2**62,
            limit,
        )
        # The cached record when there is one (the cache is kept in step with the rows).
        found: list[StoredEvent] = []
        for row in rows:
            cached = self._cache.get(row["event_id"])
            found.append(cached if isinstance(cached, StoredEvent) else self._remember(row))
        return found

    async def reserve_backfill_positions(self, count: int) -> list[int]:
        """``count`` negative stream orderings below every one handed out so far, ascending:
        the oldest of a backfilled batch takes the first, so that within the batch and across
        batches older events sort first."""
        async with self._db.transaction() as txn:
            top = await txn.fetchval(
                "UPDATE stream_positions SET pos = pos + $2 WHERE stream = $1 RETURNING pos",
                BACKFILL_STREAM,
                count,
            )
        if top is None:
            raise StorageError(f"unknown stream {BACKFILL_STREAM!r}")
        return [-int(top) + i for i in range(count)]

    async def get_backward_extremities(self, room_id: str, window: int = 20) -> list[str]:
        """The prev events of the room's earliest timeline events (the ``window`` lowest stream
        orderings, outliers aside) that are not held as timeline events: where ``/backfill``
        continues the room's history."""
        rows = await self._db.fetch(
            "SELECT DISTINCT ee.prev_event_id FROM ("
            "  SELECT event_id FROM events WHERE room_id = $1 AND NOT outlier"
            "  ORDER BY stream_ordering ASC LIMIT $2"
            ") AS e JOIN event_edges ee ON ee.event_id = e.event_id"
            " LEFT JOIN events p ON p.event_id = ee.prev_event_id"
            " WHERE p.event_id IS NULL OR p.outlier ORDER BY ee.prev_event_id",
            room_id,
            window,
        )
        return [row["prev_event_id"] for row in rows]

    async def get_rooms_changed(self, room_ids: Sequence[str], after: int) -> set[str]:
        """Which of ``room_ids`` have timeline events after stream position ``after``."""
        changed: set[str] = set()
        for part in chunks(list(room_ids)):
            rows = await self._db.fetch(
                f"SELECT DISTINCT room_id FROM events WHERE stream_ordering > $1 AND {_VISIBLE}"
                f" AND room_id IN ({in_list(2, len(part))})",
                after,
                *part,
            )
            changed.update(row["room_id"] for row in rows)
        return changed
