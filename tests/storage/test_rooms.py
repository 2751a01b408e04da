"""RoomStore: rooms, aliases, public directory, and a purge that really frees rows."""

import pytest

from myelin.storage import Database, NewStateGroup, RoomAliasExistsError, make_stores
from myelin.storage.push_actions import PendingPushActions, PushActionRow
from tests.storage.helpers import ROOM, make_event, member

OTHER = "!other:example.org"


async def test_rooms(database: Database) -> None:
    rooms = make_stores(database).rooms
    assert await rooms.get_room(ROOM) is None
    assert await rooms.store_room(ROOM, "10", creator="@a:x", created_ts=5)
    assert not await rooms.store_room(ROOM, "11", creator="@b:x", created_ts=6)
    room = await rooms.get_room(ROOM)
    assert room is not None
    assert (room.room_version, room.creator, room.is_public, room.created_ts) == (
        "10",
        "@a:x",
        False,
        5,
    )
    await rooms.store_room(OTHER, "11", creator=None, created_ts=6, is_public=True)
    assert await rooms.set_room_public(ROOM, True)
    assert [r.room_id for r in await rooms.list_public_rooms()] == [OTHER, ROOM]
    assert [r.room_id for r in await rooms.list_public_rooms(after=OTHER)] == [ROOM]
    assert await rooms.set_room_public(OTHER, False)
    assert [r.room_id for r in await rooms.list_public_rooms()] == [ROOM]


async def test_aliases(database: Database) -> None:
    rooms = make_stores(database).rooms
    await rooms.create_alias("#a:x", ROOM, creator="@a:x", created_ts=1)
    await rooms.create_alias("#b:x", ROOM, creator="@a:x", created_ts=2)
    with pytest.raises(RoomAliasExistsError):
        await rooms.create_alias("#a:x", OTHER, creator="@b:x", created_ts=3)
    alias = await rooms.get_alias("#a:x")
    assert alias is not None and alias.room_id == ROOM and alias.creator == "@a:x"
    assert await rooms.get_aliases_for_room(ROOM) == ["#a:x", "#b:x"]
    assert await rooms.delete_alias("#a:x")
    assert not await rooms.delete_alias("#a:x")
    assert await rooms.get_alias("#a:x") is None


async def _count(database: Database, table: str) -> int:
    return int(await database.fetchval(f"SELECT COUNT(*) FROM {table}"))


async def test_purge_room_frees_every_row(database: Database) -> None:
    stores = make_stores(database)
    for room in (ROOM, OTHER):
        await stores.rooms.store_room(room, "10", creator="@a:x", created_ts=1)
        await stores.rooms.create_alias(f"#{room[1:6]}:x", room, creator="@a:x", created_ts=1)
        create = make_event(f"$create{room}", "m.room.create", room_id=room, state_key="")
        p1 = await stores.events.persist_event(
            create,
            received_ts=1,
            state_after=NewStateGroup(None, {("m.room.create", ""): create.event_id}),
            set_current_state=True,
        )
        join = member(f"$join{room}", "@a:x", "join", room_id=room, prev=[create.event_id])
        p2 = await stores.events.persist_event(
            join,
            received_ts=1,
            state_after=NewStateGroup(p1.state_group, {("m.room.member", "@a:x"): join.event_id}),
            set_current_state=True,
        )
        await stores.events.persist_event(
            make_event(f"$msg{room}", room_id=room, prev=[join.event_id], auth=[join.event_id]),
            received_ts=1,
            state_after=p2.state_group,
            push_actions=PendingPushActions(
                [PushActionRow("@b:x", ["notify"], True, False)], "main", 1, read_by="@a:x"
            ),
        )
    tables = (
        "events",
        "event_edges",
        "event_auth_edges",
        "forward_extremities",
        "event_state_groups",
        "state_groups",
        "state_group_entries",
        "room_current_state",
        "current_state_events",
        "room_aliases",
        "rooms",
        "event_push_actions",
        "implicit_reads",
    )
    before = {table: await _count(database, table) for table in tables}
    assert await stores.rooms.purge_room(ROOM) == 3
    after = {table: await _count(database, table) for table in tables}
    for table in tables:
        assert after[table] * 2 == before[table], table
        assert after[table] > 0, table
    assert await stores.rooms.get_room(ROOM) is None
    assert await stores.events.get_forward_extremities(ROOM) == []
    assert await stores.state.get_rooms_for_user("@a:x") == [OTHER]
    assert await stores.events.get_event(f"$msg{OTHER}") is not None
    # Positions are never reused after a purge.
    persisted = await stores.events.persist_event(make_event("$new"), received_ts=1)
    assert persisted.stream_ordering == 7
