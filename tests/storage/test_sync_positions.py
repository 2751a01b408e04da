"""Reads behind ``/sync`` (Client-Server API, "Syncing"): ``SyncStore.stream_positions`` reads
in one statement what each persisted stream's own ``current_position`` reads, and the user's
current memberships agree with their member events."""

from typing import Any

from myelin.storage import Database, NewStateGroup, make_stores
from myelin.storage.device_lists import DeviceListStore
from myelin.storage.to_device import ToDeviceStore
from tests.storage.helpers import make_event

ALICE = "@alice:example.org"


async def test_one_read_gives_every_persisted_stream_position(database: Database) -> None:
    stores = make_stores(database)
    device_lists, to_device = DeviceListStore(database), ToDeviceStore(database)
    await stores.account_data.set_account_data(ALICE, None, "org.example", {})
    await stores.presence.set_presence(
        ALICE, "online", None, last_active_ts=1, currently_active=True
    )
    await stores.presence.set_presence(
        ALICE, "offline", None, last_active_ts=2, currently_active=False
    )
    await device_lists.add_device_list_change(ALICE)
    positions = await stores.sync.stream_positions()
    assert positions["events"] == await stores.events.get_max_stream_ordering()
    assert positions["account_data"] == await stores.account_data.current_position() == 1
    assert positions["presence"] == await stores.presence.current_position() == 2
    assert positions["receipts"] == await stores.receipts.current_position()
    assert positions["device_lists"] == await device_lists.current_position() == 1
    assert positions["to_device"] == await to_device.current_position()


async def test_current_memberships_read_as_the_member_events_say(database: Database) -> None:
    """The membership column of the current state gives what the event's content says: an
    odd ``membership`` (not a string, or empty) reads as the event JSON would."""
    stores = make_stores(database)
    events = stores.events
    contents: dict[str, Any] = {
        "!join:x": {"membership": "join"},
        "!invite:x": {"membership": "invite"},
        "!odd:x": {"membership": 5},
        "!empty:x": {"membership": ""},
    }
    for room_id, content in contents.items():
        create = make_event(f"$c{room_id}", "m.room.create", state_key="", room_id=room_id)
        first = await events.persist_event(
            create,
            received_ts=1,
            state_after=NewStateGroup(None, {("m.room.create", ""): create.event_id}),
            set_current_state=True,
        )
        joined = make_event(
            f"$m{room_id}",
            "m.room.member",
            room_id=room_id,
            state_key=ALICE,
            sender=ALICE,
            content=content,
            prev=[create.event_id],
        )
        await events.persist_event(
            joined,
            received_ts=1,
            state_after=NewStateGroup(
                first.state_group, {("m.room.member", ALICE): joined.event_id}
            ),
            set_current_state=True,
        )
    found = {c.room_id: c.membership for c in await stores.sync.current_memberships(ALICE)}
    assert found == {"!join:x": "join", "!invite:x": "invite", "!odd:x": "leave", "!empty:x": ""}
    changes = await stores.sync.member_events_between(ALICE, 0, 10**6)
    assert {c.room_id: c.membership for c in changes} == found


async def test_member_lookups_use_the_state_events_index(database: Database) -> None:
    if database.engine != "sqlite":
        return  # the plans are checked on SQLite; PostgreSQL chooses by table statistics
    stores = make_stores(database)
    statements: list[tuple[str, tuple[Any, ...]]] = []
    fetch = database.fetch

    async def recording_fetch(sql: str, *args: Any) -> Any:
        statements.append((sql, args))
        return await fetch(sql, *args)

    database.fetch = recording_fetch  # type: ignore[method-assign]
    try:
        await stores.room_reads.get_member_event_ids("!r:x", ALICE)
        await stores.sync.membership_at(ALICE, "!r:x", 10)
    finally:
        database.fetch = fetch  # type: ignore[method-assign]
    assert len(statements) == 2
    # Both seek the user's member events in the room, in stream order: no walk over the
    # room's messages, no sort.
    for sql, args in statements:
        plan = await database.fetch(f"EXPLAIN QUERY PLAN {sql}", *args)
        steps = [str(row["detail"]) for row in plan]
        assert any("USING INDEX events_room_state" in step for step in steps), steps
        assert not any("TEMP B-TREE" in step for step in steps), steps
