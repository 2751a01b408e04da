"""The delivery state of pushers and the notifications a pusher catches up on (Push Gateway
API; both engines)."""

from typing import Any

import pytest

from myelin.storage import Database, make_stores
from myelin.storage import migrations as migrations_module
from myelin.storage.push_actions import PushActionRow
from tests.conftest import open_database_from_yaml
from tests.storage.helpers import ROOM, make_pusher

ALICE = "@alice:example.org"
BOB = "@bob:example.org"
OTHER = "!other:example.org"
APP = "org.example.app"


async def _set_events_position(db: Database, position: int) -> None:
    await db.execute("UPDATE stream_positions SET pos = $1 WHERE stream = 'events'", position)


async def test_a_new_pusher_starts_at_the_current_position(database: Database) -> None:
    store = make_stores(database).pushers
    await _set_events_position(database, 7)
    await store.set_pusher(make_pusher(ALICE, "k1"), append=False)
    (record,) = await store.get_pushers(ALICE)
    assert (record.last_stream_ordering, record.failing_since) == (7, None)
    # An update keeps the delivery state.
    assert await store.set_pusher_delivered(ALICE, APP, "k1", 9)
    await _set_events_position(database, 12)
    await store.set_pusher(make_pusher(ALICE, "k1", lang="de"), append=False)
    (record,) = await store.get_pushers(ALICE)
    assert (record.lang, record.last_stream_ordering) == ("de", 9)


async def test_delivery_state_moves_forward_and_ends_failure_streaks(database: Database) -> None:
    store = make_stores(database).pushers
    await store.set_pusher(make_pusher(ALICE, "k1"), append=False)
    await store.set_pusher(make_pusher(BOB, "k2"), append=False)
    await store.set_pusher_failing_since(ALICE, APP, "k1", 1234)
    (record,) = await store.get_pushers(ALICE)
    assert record.failing_since == 1234
    assert await store.set_pusher_delivered(ALICE, APP, "k1", 5)
    assert await store.set_pusher_delivered(ALICE, APP, "k1", 3)  # never back
    (record,) = await store.get_pushers(ALICE)
    assert (record.last_stream_ordering, record.failing_since) == (5, None)
    assert not await store.set_pusher_delivered(ALICE, APP, "gone", 6)
    listed = await store.get_pushers_of_kind("http")
    assert [(p.user_id, p.pushkey, p.last_stream_ordering) for p in listed] == [
        (ALICE, "k1", 5),
        (BOB, "k2", 0),
    ]
    assert await store.get_pushers_of_kind("email") == []


async def test_notifications_to_catch_up_on(database: Database) -> None:
    actions = make_stores(database).push_actions
    notify = PushActionRow(
        ALICE, ["notify", {"set_tweak": "sound", "value": "default"}], True, False
    )
    quiet = PushActionRow(ALICE, [], False, True)  # highlighted without notifying
    rows = [
        ("$1", ROOM, notify, 1, 100),
        ("$2", OTHER, notify, 2, 200),
        ("$3", ROOM, quiet, 3, 300),
        ("$4", OTHER, notify, 4, 400),
        ("$5", ROOM, PushActionRow(BOB, ["notify"], True, False), 5, 500),
        ("$6", ROOM, notify, 6, 600),
    ]
    for event_id, room_id, row, position, ts in rows:
        await actions.add_push_actions(
            event_id, room_id, [row], thread_id="main", stream_ordering=position, ts=ts
        )
    found = await actions.get_notifications_after(ALICE, 1, since_ts=0, limit=10)
    assert [(n.event_id, n.room_id, n.stream_ordering) for n in found] == [
        ("$2", OTHER, 2),
        ("$4", OTHER, 4),
        ("$6", ROOM, 6),
    ]
    assert found[0].actions == ["notify", {"set_tweak": "sound", "value": "default"}]
    assert found[0].ts == 200
    # Too old ones are left out, and the oldest come first within the limit.
    assert [
        n.event_id for n in await actions.get_notifications_after(ALICE, 0, since_ts=250, limit=10)
    ] == ["$4", "$6"]
    assert [
        n.event_id for n in await actions.get_notifications_after(ALICE, 0, since_ts=0, limit=2)
    ] == ["$1", "$2"]


async def test_migration_starts_existing_pushers_at_the_current_position(
    database_yaml: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    load = migrations_module.load_migrations
    db = await open_database_from_yaml(database_yaml)
    try:
        monkeypatch.setattr(
            migrations_module,
            "load_migrations",
            lambda engine: [m for m in load(engine) if m.version < 19],
        )
        await db.migrate()
        await _set_events_position(db, 42)
        await db.execute(
            "INSERT INTO pushers (user_id, app_id, pushkey, kind, app_display_name,"
            " device_display_name, profile_tag, lang, data, device_id, created_ts)"
            " VALUES ($1, $2, 'k1', 'http', 'App', 'Phone', NULL, 'en', '{}', NULL, 1)",
            ALICE,
            APP,
        )
        monkeypatch.setattr(migrations_module, "load_migrations", load)
        assert 19 in await db.migrate()
        (record,) = await make_stores(db).pushers.get_pushers(ALICE)
        assert (record.last_stream_ordering, record.failing_since) == (42, None)
    finally:
        await db.close()
