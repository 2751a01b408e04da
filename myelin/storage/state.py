"""Room state snapshots stored as deltas (spec: Server-Server API, "Room State Resolution" and
"Checks performed on receipt of a PDU" need the state before and after each event).

A state snapshot (a "state group") is a map ``(type, state_key) -> event_id``. It is stored as a
parent group plus delta rows: a key added or replaced (``event_id``), or removed (``NULL``).
``(type, state_key)`` pairs are interned once as small integers in ``state_keys``. A group
whose chain of parents would exceed ``MAX_CHAIN_LENGTH`` is stored as a full snapshot instead,
so loading any group reads at most ``MAX_CHAIN_LENGTH + 1`` groups' rows. Unlike one row per
state event per snapshot, a new message event costs no state rows at all, and a membership
change costs one.

``room_current_state`` names each room's current state group; ``current_state_events`` spells
it out for lookups by key and by member, and is kept in step by ``set_current_state_txn``.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from myelin.storage.caches import caches_of
from myelin.storage.database import Database, Transaction, chunks, in_list
from myelin.storage.errors import UnknownStateGroupError
from myelin.storage.json_text import loads_exact

StateKey = tuple[str, str]
StateMap = dict[StateKey, str]

# Longest chain of deltas above a full snapshot (the snapshot itself has chain length 0).
MAX_CHAIN_LENGTH = 50


@dataclass(frozen=True)
class NewStateGroup:
    """A state group to create: ``parent`` (None for a full snapshot) plus ``delta``.

    In ``delta`` a key maps to the new event ID, or to None to remove the key.
    """

    parent: int | None
    delta: Mapping[StateKey, str | None] = field(default_factory=dict)


def compute_delta(
    old: Mapping[StateKey, str], new: Mapping[StateKey, str]
) -> dict[StateKey, str | None]:
    """The delta turning state map ``old`` into ``new``."""
    delta: dict[StateKey, str | None] = {k: v for k, v in new.items() if old.get(k) != v}
    for key in old:
        if key not in new:
            delta[key] = None
    return delta


async def intern_keys_txn(txn: Transaction, pairs: Iterable[StateKey]) -> dict[StateKey, int]:
    """The small integer of each ``(type, state_key)``, creating the missing ones."""
    wanted = list(dict.fromkeys(pairs))
    ids = await _lookup_keys(txn, wanted)
    for event_type, state_key in wanted:
        if (event_type, state_key) in ids:
            continue
        await txn.execute(
            "INSERT INTO state_keys (type, state_key) VALUES ($1, $2)"
            " ON CONFLICT (type, state_key) DO NOTHING",
            event_type,
            state_key,
        )
    missing = [pair for pair in wanted if pair not in ids]
    if missing:
        ids.update(await _lookup_keys(txn, missing))
    return ids


async def _lookup_keys(
    conn: Transaction | Database, pairs: Sequence[StateKey]
) -> dict[StateKey, int]:
    ids: dict[StateKey, int] = {}
    for part in chunks(pairs, 250):
        placeholders = ", ".join(f"(${2 * i + 1}, ${2 * i + 2})" for i in range(len(part)))
        args = [value for pair in part for value in pair]
        rows = await conn.fetch(
            # Row-value IN needs a subquery on SQLite: VALUES serves both engines.
            f"SELECT id, type, state_key FROM state_keys WHERE (type, state_key) IN"
            f" (VALUES {placeholders})",
            *args,
        )
        for row in rows:
            ids[(row["type"], row["state_key"])] = int(row["id"])
    return ids


async def load_state_map(conn: Transaction | Database, group: int) -> StateMap:
    """The full state map of ``group``, rebuilt from its chain of deltas."""
    rows = await conn.fetch(
        "WITH RECURSIVE chain (id, parent_id, hop) AS ("
        " SELECT id, parent_id, 0 FROM state_groups WHERE id = $1"
        " UNION ALL"
        " SELECT g.id, g.parent_id, c.hop + 1 FROM state_groups g"
        " JOIN chain c ON g.id = c.parent_id"
        ")"
        " SELECT c.hop, k.type, k.state_key, e.event_id FROM chain c"
        " JOIN state_group_entries e ON e.state_group = c.id"
        " JOIN state_keys k ON k.id = e.key_id"
        " ORDER BY c.hop DESC",
        group,
    )
    if not rows and not await _group_exists(conn, group):
        raise UnknownStateGroupError(f"no state group {group}")
    state: StateMap = {}
    # Oldest (the snapshot) first, each delta on top of it.
    for row in rows:
        key = (row["type"], row["state_key"])
        if row["event_id"] is None:
            state.pop(key, None)
        else:
            state[key] = row["event_id"]
    return state


async def _group_exists(conn: Transaction | Database, group: int) -> bool:
    return await conn.fetchval("SELECT 1 FROM state_groups WHERE id = $1", group) is not None


async def create_state_group_txn(
    txn: Transaction, room_id: str, parent: int | None, delta: Mapping[StateKey, str | None]
) -> int:
    """Store a new group = ``parent`` + ``delta``; return its ID."""
    entries: dict[StateKey, str | None]
    chain_length = 0
    if parent is not None:
        row = await txn.fetchrow(
            "SELECT room_id, chain_length FROM state_groups WHERE id = $1", parent
        )
        if row is None or row["room_id"] != room_id:
            raise UnknownStateGroupError(f"no state group {parent} in room {room_id}")
        chain_length = int(row["chain_length"]) + 1
    if parent is not None and chain_length > MAX_CHAIN_LENGTH:
        # The chain would grow too long: store a full snapshot instead.
        full = await load_state_map(txn, parent)
        for key, event_id in delta.items():
            if event_id is None:
                full.pop(key, None)
            else:
                full[key] = event_id
        entries = dict(full)
        parent, chain_length = None, 0
    elif parent is None:
        entries = {k: v for k, v in delta.items() if v is not None}
    else:
        entries = dict(delta)
    group = int(
        await txn.fetchval(
            "INSERT INTO state_groups (room_id, parent_id, chain_length) VALUES ($1, $2, $3)"
            " RETURNING id",
            room_id,
            parent,
            chain_length,
        )
    )
    if entries:
        key_ids = await intern_keys_txn(txn, entries)
        await txn.executemany(
            "INSERT INTO state_group_entries (state_group, key_id, event_id) VALUES ($1, $2, $3)",
            [(group, key_ids[key], event_id) for key, event_id in entries.items()],
        )
    return group


async def resolve_new_group_txn(txn: Transaction, room_id: str, spec: int | NewStateGroup) -> int:
    """An existing group ID as is, or the ID of the group ``spec`` describes, created now."""
    if isinstance(spec, NewStateGroup):
        return await create_state_group_txn(txn, room_id, spec.parent, spec.delta)
    return spec


async def set_current_state_txn(txn: Transaction, room_id: str, group: int) -> bool:
    """Make ``group`` the room's current state, updating ``current_state_events`` to match.

    Return whether it changed: the caller then calls ``forget_members`` once it commits.
    """
    old_group = await txn.fetchval(
        "SELECT state_group FROM room_current_state WHERE room_id = $1", room_id
    )
    if old_group is not None and int(old_group) == group:
        return False
    new = await load_state_map(txn, group)
    old: StateMap = {
        (row["type"], row["state_key"]): row["event_id"]
        for row in await txn.fetch(
            "SELECT type, state_key, event_id FROM current_state_events WHERE room_id = $1",
            room_id,
        )
    }
    delta = compute_delta(old, new)
    removed = [key for key, value in delta.items() if value is None]
    changed = {key: value for key, value in delta.items() if value is not None}
    await txn.executemany(
        "DELETE FROM current_state_events WHERE room_id = $1 AND type = $2 AND state_key = $3",
        [(room_id, t, s) for t, s in removed],
    )
    memberships = await _memberships(
        txn, [eid for (t, _), eid in changed.items() if t == "m.room.member"]
    )
    await txn.executemany(
        "INSERT INTO current_state_events (room_id, type, state_key, event_id, membership)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (room_id, type, state_key)"
        " DO UPDATE SET event_id = excluded.event_id, membership = excluded.membership",
        [(room_id, t, s, eid, memberships.get(eid)) for (t, s), eid in changed.items()],
    )
    await txn.execute(
        "INSERT INTO room_current_state (room_id, state_group) VALUES ($1, $2)"
        " ON CONFLICT (room_id) DO UPDATE SET state_group = excluded.state_group",
        room_id,
        group,
    )
    return True


async def _memberships(txn: Transaction, event_ids: Sequence[str]) -> dict[str, str]:
    """``content.membership`` of the stored member events among ``event_ids``."""
    found: dict[str, str] = {}
    for part in chunks(event_ids):
        rows = await txn.fetch(
            f"SELECT event_id, event_json FROM events WHERE event_id IN ({in_list(1, len(part))})",
            *part,
        )
        for row in rows:
            content: Any = loads_exact(row["event_json"]).get("content")
            membership = content.get("membership") if isinstance(content, dict) else None
            if isinstance(membership, str):
                found[row["event_id"]] = membership
    return found


class StateStore:
    """State groups, the state after each event, and each room's current state."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def intern_keys(self, pairs: Iterable[StateKey]) -> dict[StateKey, int]:
        async with self._db.transaction() as txn:
            return await intern_keys_txn(txn, pairs)

    async def create_state_group(
        self, room_id: str, parent: int | None, delta: Mapping[StateKey, str | None]
    ) -> int:
        """A new group = ``parent`` + ``delta`` (None values remove keys); returns its ID."""
        async with self._db.transaction() as txn:
            return await create_state_group_txn(txn, room_id, parent, delta)

    async def store_state(
        self, room_id: str, state: Mapping[StateKey, str], *, parent: int | None = None
    ) -> int:
        """A group holding exactly ``state``, stored as a delta against ``parent`` if given.

        Returns ``parent`` itself when ``state`` equals its state.
        """
        async with self._db.transaction() as txn:
            if parent is None:
                return await create_state_group_txn(txn, room_id, None, state)
            delta = compute_delta(await load_state_map(txn, parent), state)
            if not delta:
                return parent
            return await create_state_group_txn(txn, room_id, parent, delta)

    async def get_state_map(self, group: int) -> StateMap:
        """The full state of ``group``; raises ``UnknownStateGroupError`` if there is none."""
        cache = caches_of(self._db).state_maps
        cached = cache.get(group)
        if cached is None:
            cached = await load_state_map(self._db, group)
            cache.put(group, cached)
        return dict(cached)  # the caller's own copy

    async def get_state_group_for_event(self, event_id: str) -> int | None:
        """The group holding the state after ``event_id`` (None for outliers and unknowns)."""
        value = await self._db.fetchval(
            "SELECT state_group FROM event_state_groups WHERE event_id = $1", event_id
        )
        return None if value is None else int(value)

    async def get_state_groups_for_events(self, event_ids: Sequence[str]) -> dict[str, int]:
        """The group after each of ``event_ids`` that has one (cached: an event's group is
        written once, and the cache keeps only found ones)."""
        cache = caches_of(self._db).event_state_groups
        found: dict[str, int] = {}
        wanted: list[str] = []
        for event_id in dict.fromkeys(event_ids):
            cached = cache.get(event_id)
            if cached is None:
                wanted.append(event_id)
            else:
                found[event_id] = cached
        for part in chunks(wanted):
            rows = await self._db.fetch(
                f"SELECT event_id, state_group FROM event_state_groups WHERE event_id IN"
                f" ({in_list(1, len(part))})",
                *part,
            )
            for row in rows:
                found[row["event_id"]] = group = int(row["state_group"])
                cache.put(row["event_id"], group)
        return found

    async def get_current_state_group(self, room_id: str) -> int | None:
        value = await self._db.fetchval(
            "SELECT state_group FROM room_current_state WHERE room_id = $1", room_id
        )
        return None if value is None else int(value)

    async def set_current_state_group(self, room_id: str, group: int) -> None:
        changed = True  # unless known otherwise: a failed commit may have happened
        try:
            async with self._db.transaction() as txn:
                changed = await set_current_state_txn(txn, room_id, group)
        finally:
            if changed:
                caches_of(self._db).forget_members(room_id)

    async def get_current_state(self, room_id: str) -> StateMap:
        rows = await self._db.fetch(
            "SELECT type, state_key, event_id FROM current_state_events WHERE room_id = $1",
            room_id,
        )
        return {(row["type"], row["state_key"]): row["event_id"] for row in rows}

    async def get_current_state_event_id(
        self, room_id: str, event_type: str, state_key: str
    ) -> str | None:
        value = await self._db.fetchval(
            "SELECT event_id FROM current_state_events"
            " WHERE room_id = $1 AND type = $2 AND state_key = $3",
            room_id,
            event_type,
            state_key,
        )
        return None if value is None else str(value)

    async def get_rooms_for_user(self, user_id: str, membership: str = "join") -> list[str]:
        """Rooms whose current state gives ``user_id`` this membership."""
        rows = await self._db.fetch(
            "SELECT room_id FROM current_state_events WHERE type = 'm.room.member'"
            " AND state_key = $1 AND membership = $2 ORDER BY room_id",
            user_id,
            membership,
        )
        return [row["room_id"] for row in rows]

    async def get_room_members(self, room_id: str, membership: str = "join") -> list[str]:
        """The users with ``membership`` in the room's current state, sorted (the joined ones
        are cached: the federation sender asks after every event)."""
        caches = caches_of(self._db)
        if membership == "join":
            cached = caches.room_members.get(room_id)
            if cached is not None:
                return list(cached)
        generation = caches.room_members.generation
        rows = await self._db.fetch(
            "SELECT state_key FROM current_state_events WHERE room_id = $1"
            " AND type = 'm.room.member' AND membership = $2 ORDER BY state_key",
            room_id,
            membership,
        )
        members = [row["state_key"] for row in rows]
        # A change that committed while we read may have been missed: keep nothing then.
        if membership == "join":
            caches.room_members.put_unless_forgotten(generation, room_id, tuple(members))
        return members

    async def purge_unreferenced_state_groups(self, room_id: str) -> int:
        """Delete the room's groups that no event, no current state and no kept group needs.

        Their delta rows go with them (ON DELETE CASCADE). Returns how many groups went.
        """
        purged = await self._db.execute(
            "WITH RECURSIVE keep (id) AS ("
            " SELECT s.state_group FROM event_state_groups s"
            " JOIN events e ON e.event_id = s.event_id WHERE e.room_id = $1"
            " UNION SELECT state_group FROM room_current_state WHERE room_id = $1"
            " UNION SELECT g.parent_id FROM state_groups g JOIN keep k ON g.id = k.id"
            " WHERE g.parent_id IS NOT NULL"
            ")"
            " DELETE FROM state_groups WHERE room_id = $1 AND id NOT IN (SELECT id FROM keep)",
            room_id,
        )
        if purged:
            caches_of(self._db).state_maps.clear()
        return purged
