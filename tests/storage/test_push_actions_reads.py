"""Unread counts and /notifications read positions first, then only the rows above them
(schema version 18; both engines).

The store's answers are compared with the former single-query definition (correlated
subqueries per row, kept here as the reference) on random histories; on SQLite the plans are
checked: every read of the push actions is a seek, in the key or the threads' partial index.
"""

import random
from typing import Any

from myelin.storage import Database, make_stores
from myelin.storage.push_actions import Counts, PushActionRow, RoomCounts
from tests.conftest import open_database_from_yaml
from tests.storage.test_push_actions_keys import _migrate_upto

ALICE, BOB = "@alice:example.org", "@bob:example.org"
ROOMS = ["!a:example.org", "!b:example.org", "!c:example.org"]
THREADS = ["main", "main", "main", "$t1", "$t2"]

# The definition before version 18: a row is unread while it is above the user's receipts in
# its thread (or unthreaded) and above the latest event the user sent in its thread.
_READ_UPTO = (
    "COALESCE((SELECT MAX(r.event_stream_ordering) FROM receipts r"
    " WHERE r.room_id = a.room_id AND r.user_id = a.user_id"
    " AND r.receipt_type IN ('m.read', 'm.read.private')"
    " AND (r.thread_id = '' OR r.thread_id = a.thread_id)), 0)"
)
_SENT_UPTO = (
    "COALESCE((SELECT i.stream_ordering FROM implicit_reads i"
    " WHERE i.room_id = a.room_id AND i.user_id = a.user_id"
    " AND i.thread_id = a.thread_id), 0)"
)
_UNREAD = f"a.stream_ordering > {_READ_UPTO} AND a.stream_ordering > {_SENT_UPTO}"


async def _reference_counts(db: Database, user_id: str) -> dict[str, RoomCounts]:
    rows = await db.fetch(
        "SELECT a.room_id, a.thread_id,"
        " SUM(CASE WHEN a.notify THEN 1 ELSE 0 END) AS n,"
        " SUM(CASE WHEN a.highlight THEN 1 ELSE 0 END) AS h"
        f" FROM event_push_actions a WHERE a.user_id = $1 AND {_UNREAD}"
        " GROUP BY a.room_id, a.thread_id",
        user_id,
    )
    result = {room_id: RoomCounts() for room_id in ROOMS}
    for row in rows:
        counts = Counts(int(row["n"]), int(row["h"]))
        if row["thread_id"] == "main":
            result[row["room_id"]].main = counts
        else:
            result[row["room_id"]].threads[row["thread_id"]] = counts
    return result


async def _reference_notifications(
    db: Database, user_id: str, before: int, limit: int, only_highlight: bool
) -> list[tuple[str, bool]]:
    highlight = " AND a.highlight = TRUE" if only_highlight else ""
    rows = await db.fetch(
        f"SELECT a.event_id, CASE WHEN {_UNREAD} THEN 0 ELSE 1 END AS is_read"
        " FROM event_push_actions a WHERE a.user_id = $1 AND a.notify = TRUE"
        f" AND a.stream_ordering < $2{highlight} ORDER BY a.stream_ordering DESC LIMIT $3",
        user_id,
        before,
        limit,
    )
    return [(row["event_id"], bool(row["is_read"])) for row in rows]


async def _random_history(db: Database, rng: random.Random, events: int) -> None:
    stores = make_stores(db)
    for pos in range(1, events + 1):
        room, thread = rng.choice(ROOMS), rng.choice(THREADS)
        rows = [
            PushActionRow(user, ["notify"], rng.random() < 0.8, rng.random() < 0.3)
            for user in (ALICE, BOB)
            if rng.random() < 0.7
        ]
        sender = rng.choice([ALICE, BOB, None, None])
        await stores.push_actions.add_push_actions(
            f"${pos}",
            room,
            [row for row in rows if row.user_id != sender],
            thread_id=thread,
            stream_ordering=pos,
            ts=pos,
            read_by=sender,
        )
        if rng.random() < 0.15:
            await stores.receipts.insert_receipt(
                room,
                rng.choice(["m.read", "m.read.private", "m.fully_read"]),
                rng.choice([ALICE, BOB]),
                rng.choice([None, "main", "$t1", "$t2"]),
                f"${pos}",
                event_stream_ordering=rng.randint(max(1, pos - 20), pos),
                ts=pos,
            )


async def test_counts_and_notifications_match_the_reference(database: Database) -> None:
    store = make_stores(database).push_actions
    for seed in range(4):
        rng = random.Random(seed)
        await _random_history(database, rng, 60)
        for user in (ALICE, BOB):
            counts = await store.get_unread_counts(user, [*ROOMS, "!none:example.org"])
            assert counts.pop("!none:example.org") == RoomCounts()
            assert counts == await _reference_counts(database, user), (seed, user)
            for before, limit, only in [
                (2**62, 200, False),
                (2**62, 7, True),
                (40, 5, False),
                (30, 1, False),
            ]:
                listed = await store.get_notifications(
                    user, before=before, limit=limit, only_highlight=only
                )
                want = await _reference_notifications(database, user, before, limit, only)
                assert [(n.event_id, n.read) for n in listed] == want, (seed, user, before)
        await database.execute("DELETE FROM event_push_actions")
        await database.execute("DELETE FROM receipts")
        await database.execute("DELETE FROM implicit_reads")


async def test_an_unthreaded_receipt_applies_to_every_thread(database: Database) -> None:
    stores = make_stores(database)
    room = ROOMS[0]
    for pos, thread in enumerate(["main", "$t1", "main", "$t1", "$t2"], start=1):
        row = PushActionRow(ALICE, ["notify"], True, pos == 4)
        await stores.push_actions.add_push_actions(
            f"${pos}", room, [row], thread_id=thread, stream_ordering=pos, ts=pos
        )
    await stores.receipts.insert_receipt(
        room, "m.read", ALICE, "$t1", "$4", event_stream_ordering=4, ts=1
    )
    await stores.receipts.insert_receipt(
        room, "m.read.private", ALICE, None, "$1", event_stream_ordering=1, ts=1
    )
    counts = (await stores.push_actions.get_unread_counts(ALICE, [room]))[room]
    assert counts.main == Counts(1, 0)
    assert counts.threads == {"$t2": Counts(1, 0)}
    # A later unthreaded receipt passes the threaded one.
    await stores.receipts.insert_receipt(
        room, "m.read", ALICE, None, "$5", event_stream_ordering=5, ts=2
    )
    assert (await stores.push_actions.get_unread_counts(ALICE, [room]))[room] == RoomCounts()
    listed = await stores.push_actions.get_notifications(
        ALICE, before=None, limit=10, only_highlight=False
    )
    assert [(n.event_id, n.read) for n in listed] == [(f"${p}", True) for p in range(5, 0, -1)]


async def test_many_rooms_are_counted_and_listed(database: Database) -> None:
    """More rooms than one statement's terms: the statements are split, the merge is exact."""
    store = make_stores(database).push_actions
    rooms = [f"!r{i:03}:example.org" for i in range(260)]
    for pos, room in enumerate(rooms, start=1):
        row = PushActionRow(ALICE, ["notify"], True, False)
        await store.add_push_actions(
            f"${pos}", room, [row], thread_id="main", stream_ordering=pos, ts=pos
        )
    counts = await store.get_unread_counts(ALICE, rooms)
    assert all(counts[room].main == Counts(1, 0) for room in rooms)
    listed = await store.get_notifications(ALICE, before=200, limit=150, only_highlight=False)
    assert [n.stream_ordering for n in listed] == list(range(199, 49, -1))


async def _plans(db: Database, calls: Any) -> list[tuple[str, list[str]]]:
    """Run ``calls()``, return each statement it read with with its plan (SQLite)."""
    statements: list[tuple[str, tuple[Any, ...]]] = []
    fetch = db.fetch

    async def recording_fetch(sql: str, *args: Any) -> Any:
        statements.append((sql, args))
        return await fetch(sql, *args)

    db.fetch = recording_fetch  # type: ignore[method-assign]
    try:
        await calls()
    finally:
        db.fetch = fetch  # type: ignore[method-assign]
    plans = []
    for sql, args in statements:
        plan = await db.fetch(f"EXPLAIN QUERY PLAN {sql}", *args)
        plans.append((sql, [str(row["detail"]) for row in plan]))
    return plans


async def test_every_read_seeks(database: Database) -> None:
    if database.engine != "sqlite":
        return  # the plans are checked on SQLite; PostgreSQL chooses by table statistics
    stores = make_stores(database)
    store = stores.push_actions
    # Alice reads the main timeline with threaded receipts and has sent in a thread; her
    # unthreaded receipt is old. Bob has no position at all in the second room.
    room, other = ROOMS[0], ROOMS[1]
    for pos in range(1, 200):
        rows = [PushActionRow(ALICE, ["notify"], True, False)]
        rows.append(PushActionRow(BOB, ["notify"], True, False))
        thread = "$t1" if pos % 10 == 0 else "main"
        await store.add_push_actions(
            f"${pos}", room if pos % 2 else other, rows, thread_id=thread, stream_ordering=pos, ts=1
        )
    await stores.receipts.insert_receipt(
        room, "m.read", ALICE, None, "$1", event_stream_ordering=1, ts=1
    )
    await stores.receipts.insert_receipt(
        room, "m.read", ALICE, "main", "$197", event_stream_ordering=197, ts=1
    )
    await store.add_push_actions(
        "$201", room, [], thread_id="$t2", stream_ordering=201, ts=1, read_by=ALICE
    )

    async def calls() -> None:
        await store.get_unread_counts(ALICE, [room, other])
        await store.get_unread_counts(BOB, [room, other])
        await store.get_notifications(ALICE, before=None, limit=5, only_highlight=False)
        await store.get_notifications(BOB, before=150, limit=5, only_highlight=True)

    tables = ("event_push_actions", "a", "receipts", "implicit_reads")
    plans = await _plans(database, calls)
    # Positions and counts for each user; the rooms, the deepest position of each room's
    # newest rows, the rows above it and the positions in the rooms listed (Bob has no
    # highlight: none to read).
    assert len(plans) == 11
    for sql, steps in plans:
        reads = [s for s in steps if s.split(" ")[0] in ("SCAN", "SEARCH")]
        reads = [s for s in reads if s.split(" ")[1] in tables]
        assert reads and all(s.startswith("SEARCH") for s in reads), (sql, steps)
        actions = [s for s in reads if s.split(" ")[1] in ("event_push_actions", "a")]
        # The user's rows of one room (above a position, or of a thread), never all of them.
        for step in actions:
            assert "(user_id=? AND room_id" in step or "MIN(room_id)" in sql, (sql, steps)
        if "SUM(CASE" in sql:
            ranges = [s for s in actions if "stream_ordering>?" in s]
            # Alice: main above her threaded receipt, $t2 above her send, the other threads
            # by the threads' index, and the other room from the start; Bob: both rooms.
            assert len(ranges) in (3, 2) and len(actions) == len(ranges) + (len(ranges) == 3)
            assert any("event_push_actions_threads" in s for s in actions) == (len(ranges) == 3)
        if "OFFSET" in sql:
            # Each room's newest rows walked down in key order, unsorted.
            assert len(actions) == 2, steps
            assert all(s.endswith("AND stream_ordering<?)") for s in actions), steps
            assert not any("TEMP B-TREE" in s for s in steps), steps
        if "stream_ordering >= " in sql:
            # Each room's rows between the deepest position and ``before``.
            assert len(actions) == 2, steps
            assert all("stream_ordering>? AND stream_ordering<?" in s for s in actions), steps


async def test_migration_drops_the_stream_index(database_yaml: dict[str, Any]) -> None:
    db = await open_database_from_yaml(database_yaml)
    try:
        await _migrate_upto(db, 17)
        for pos, thread in enumerate(["main", "$t", "main"], start=1):
            await db.execute(
                "INSERT INTO event_push_actions (user_id, event_id, room_id, thread_id,"
                " stream_ordering, actions, notify, highlight, ts)"
                " VALUES ($1, $2, $3, $4, $5, $6, TRUE, FALSE, $7)",
                ALICE,
                f"${pos}",
                ROOMS[0],
                thread,
                pos,
                '["notify"]',
                pos,
            )
        assert 18 in await db.migrate()
        if db.engine == "sqlite":
            sql = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = $1"
        else:
            sql = "SELECT indexname AS name FROM pg_indexes WHERE tablename = $1"
        names = {row["name"] for row in await db.fetch(sql, "event_push_actions")}
        assert "event_push_actions_stream" not in names
        assert "event_push_actions_threads" in names
        store = make_stores(db).push_actions
        counts = (await store.get_unread_counts(ALICE, [ROOMS[0]]))[ROOMS[0]]
        assert counts.main == Counts(2, 0) and counts.threads == {"$t": Counts(1, 0)}
        listed = await store.get_notifications(ALICE, before=None, limit=2, only_highlight=False)
        assert [n.event_id for n in listed] == ["$3", "$2"]
    finally:
        await db.close()
