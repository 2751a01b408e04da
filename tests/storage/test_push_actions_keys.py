"""Schema version 16: push actions keyed by (user_id, room_id, stream_ordering) (both engines).

The rows of a database at version 15 are carried over, the stores read them as before, and an
event's actions are still recorded once. The plans of the store's reads (version 18) are
checked in test_push_actions_reads.py.
"""

from typing import Any

from myelin.storage import Database, make_stores
from myelin.storage.migrations import load_migrations, split_statements
from myelin.storage.push_actions import Counts, PushActionRow
from tests.conftest import open_database_from_yaml

ALICE, BOB = "@alice:example.org", "@bob:example.org"
ROOM, OTHER = "!room:example.org", "!other:example.org"
HIGHLIGHT = '["notify",{"set_tweak":"highlight"}]'

# user, event, room, thread, stream ordering, actions, notify, highlight, ts
OLD_ROWS: list[tuple[str, str, str, str, int, str, bool, bool, int]] = [
    (ALICE, "$1", ROOM, "main", 1, '["notify"]', True, False, 101),
    (BOB, "$1", ROOM, "main", 1, HIGHLIGHT, True, True, 101),
    (ALICE, "$2", ROOM, "$root", 2, '["notify"]', True, False, 102),
    (ALICE, "$3", OTHER, "main", 3, HIGHLIGHT, True, True, 103),
    (BOB, "$4", OTHER, "main", 4, '[{"set_tweak":"highlight"}]', False, True, 104),
]


async def _migrate_upto(db: Database, version: int) -> None:
    """Apply the migrations up to ``version`` only, as an older release did."""
    await db.execute(
        "CREATE TABLE IF NOT EXISTS schema_version"
        " (version INTEGER PRIMARY KEY, applied_ts BIGINT NOT NULL)"
    )
    for migration in load_migrations(db.engine):
        if migration.version > version:
            break
        async with db.transaction() as txn:
            for statement in split_statements(migration.sql):
                await txn.execute(statement)
            await txn.execute(
                "INSERT INTO schema_version (version, applied_ts) VALUES ($1, $2)",
                migration.version,
                1,
            )


async def test_rows_are_carried_over(database_yaml: dict[str, Any]) -> None:
    db = await open_database_from_yaml(database_yaml)
    try:
        await _migrate_upto(db, 15)
        for row in OLD_ROWS:
            await db.execute(
                "INSERT INTO event_push_actions (user_id, event_id, room_id, thread_id,"
                " stream_ordering, actions, notify, highlight, ts)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                *row,
            )
        assert 16 in await db.migrate()
        rows = await db.fetch(
            "SELECT user_id, event_id, room_id, thread_id, stream_ordering, actions, notify,"
            " highlight, ts FROM event_push_actions ORDER BY stream_ordering, user_id"
        )
        carried = [
            (
                r["user_id"],
                r["event_id"],
                r["room_id"],
                r["thread_id"],
                int(r["stream_ordering"]),
                r["actions"],
                bool(r["notify"]),
                bool(r["highlight"]),
                int(r["ts"]),
            )
            for r in rows
        ]
        assert carried == OLD_ROWS
        store = make_stores(db).push_actions
        counts = await store.get_unread_counts(ALICE, [ROOM, OTHER])
        assert counts[ROOM].main == Counts(1, 0)
        assert counts[ROOM].threads == {"$root": Counts(1, 0)}
        assert counts[OTHER].total() == Counts(1, 1)
        assert (await store.get_unread_counts(BOB, [OTHER]))[OTHER].main == Counts(0, 1)
        notifications = await store.get_notifications(
            ALICE, before=None, limit=10, only_highlight=False
        )
        assert [(n.event_id, n.actions, n.highlight) for n in notifications] == [
            ("$3", ["notify", {"set_tweak": "highlight"}], True),
            ("$2", ["notify"], False),
            ("$1", ["notify"], False),
        ]
    finally:
        await db.close()


async def test_an_events_actions_are_recorded_once(database: Database) -> None:
    store = make_stores(database).push_actions
    rows = [PushActionRow(ALICE, ("notify",), True, False), PushActionRow(BOB, [], False, True)]
    for _ in range(2):
        await store.add_push_actions("$e", ROOM, rows, thread_id="main", stream_ordering=7, ts=1)
    assert await database.fetchval("SELECT COUNT(*) FROM event_push_actions") == 2
    texts = await database.fetch("SELECT actions FROM event_push_actions ORDER BY user_id")
    assert [r["actions"] for r in texts] == ['["notify"]', "[]"]
    counts = await store.get_unread_counts(BOB, [ROOM])
    assert counts[ROOM].main == Counts(0, 1)
