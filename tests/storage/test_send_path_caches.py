"""The caches the send path reads through (server internals behind Client-Server API
"Sending events to a room" and the federation sender of Server-Server API "Transactions"): a
room's joined members, the state group after an event and the event just persisted never
serve a stale answer."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from myelin.storage import Database, NewStateGroup, make_stores
from myelin.storage.caches import caches_of
from myelin.storage.database import Row, Transaction
from myelin.storage.federation_rooms import ForwardExtremityStore
from tests.storage.helpers import ROOM, make_event, member

CREATE = ("m.room.create", "")
ALICE = "@alice:example.org"
BOB = "@bob:example.org"


async def _room_with_alice(database: Database) -> tuple[int, int]:
    """A room whose current state has Alice joined; the groups after create and join."""
    stores = make_stores(database)
    await stores.rooms.store_room(ROOM, "10", creator=ALICE, created_ts=1)
    created = await stores.events.persist_event(
        make_event("$create", "m.room.create", state_key=""),
        received_ts=1,
        state_after=NewStateGroup(None, {CREATE: "$create"}),
        set_current_state=True,
    )
    assert created.state_group is not None
    joined = await stores.events.persist_event(
        member("$alice", ALICE, "join", prev=["$create"], depth=2),
        received_ts=1,
        state_after=NewStateGroup(created.state_group, {("m.room.member", ALICE): "$alice"}),
        set_current_state=True,
    )
    assert joined.state_group is not None
    return created.state_group, joined.state_group


async def test_joined_members_follow_every_current_state_change(database: Database) -> None:
    created, joined = await _room_with_alice(database)
    stores = make_stores(database)
    assert await stores.state.get_room_members(ROOM) == [ALICE]  # now cached
    await database.execute("UPDATE current_state_events SET membership = 'leave'")
    assert await stores.state.get_room_members(ROOM) == [ALICE]  # served from the cache
    assert await stores.state.get_room_members(ROOM, "leave") == [ALICE]  # not cached
    await database.execute("UPDATE current_state_events SET membership = 'join'")
    # A message keeps the current state: the cache stays.
    await stores.events.persist_event(
        make_event("$msg", prev=["$alice"], depth=3),
        received_ts=1,
        state_after=joined,
        set_current_state=True,
    )
    assert len(caches_of(database).room_members) == 1
    # A join changes it, through the write path's persist.
    await stores.events.persist_event(
        member("$bob", BOB, "join", prev=["$msg"], depth=4),
        received_ts=1,
        state_after=NewStateGroup(joined, {("m.room.member", BOB): "$bob"}),
        set_current_state=True,
    )
    assert await stores.state.get_room_members(ROOM) == [ALICE, BOB]
    # And directly (a federation join sets the current state so).
    await stores.state.set_current_state_group(ROOM, created)
    assert await stores.state.get_room_members(ROOM) == []
    await stores.state.set_current_state_group(ROOM, joined)
    assert await stores.state.get_room_members(ROOM) == [ALICE]
    await stores.rooms.purge_room(ROOM)
    assert await stores.state.get_room_members(ROOM) == []


async def test_a_members_read_racing_a_change_is_not_kept(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    created, _ = await _room_with_alice(database)
    state = make_stores(database).state
    real_fetch = database.fetch
    changes: list[None] = []

    async def fetch_then_change(sql: str, *args: object) -> list[Row]:
        rows = await real_fetch(sql, *args)  # Alice joined
        if not changes:
            changes.append(None)
            await state.set_current_state_group(ROOM, created)
        return rows

    monkeypatch.setattr(database, "fetch", fetch_then_change)
    assert await state.get_room_members(ROOM) == [ALICE]
    monkeypatch.undo()
    assert await state.get_room_members(ROOM) == []


async def test_state_groups_of_events_are_cached_until_a_purge(database: Database) -> None:
    _, joined = await _room_with_alice(database)
    stores = make_stores(database)
    assert await stores.state.get_state_groups_for_events(["$alice", "$unknown"]) == {
        "$alice": joined
    }
    await stores.events.persist_event(make_event("$late", prev=["$alice"]), received_ts=1)
    assert await stores.state.get_state_groups_for_events(["$late"]) == {}  # none: not kept
    await stores.rooms.purge_room(ROOM)
    assert await stores.state.get_state_groups_for_events(["$alice"]) == {}


@pytest.mark.parametrize("facts", [{}, {"rejected_reason": "auth"}, {"soft_failed": True}])
async def test_a_persisted_event_is_cached_as_read_back(
    database: Database, facts: dict[str, object]
) -> None:
    events = make_stores(database).events
    await events.persist_event(make_event("$a"), received_ts=1)
    raw = '{"type":"m.room.message","room_id":"' + ROOM + '","depth":2,"x":1.0}'
    await events.persist_event(
        make_event("$b", prev=["$a"], depth=2),
        received_ts=7,
        raw_json=raw,
        **facts,  # type: ignore[arg-type]
    )
    cached = await events.get_event("$b")
    caches_of(database).events.clear()
    assert cached is not None and cached == await events.get_event("$b")
    assert cached.json_text == raw


async def test_forward_extremities_follow_every_write(database: Database) -> None:
    events = make_stores(database).events
    await events.persist_event(make_event("$a"), received_ts=1)
    assert await events.get_forward_extremities(ROOM) == ["$a"]  # now cached
    await database.execute("DELETE FROM forward_extremities")
    assert await events.get_forward_extremities(ROOM) == ["$a"]  # served from the cache
    await database.execute("INSERT INTO forward_extremities VALUES ($1, '$a')", ROOM)
    # Local events on the extremities, a fork, a late parent, hidden ones, an outlier.
    await events.persist_event(make_event("$b", prev=["$a"]), received_ts=1, childless=True)
    assert await events.get_forward_extremities(ROOM) == ["$b"]
    await events.persist_event(make_event("$c", prev=["$a"]), received_ts=1)
    assert await events.get_forward_extremities(ROOM) == ["$b", "$c"]
    await events.persist_event(make_event("$e", prev=["$d"]), received_ts=1)
    await events.persist_event(make_event("$d", prev=["$b", "$c"]), received_ts=1)
    assert await events.get_forward_extremities(ROOM) == ["$e"]
    await events.persist_event(make_event("$r", prev=["$e"]), received_ts=1, soft_failed=True)
    await events.persist_event(make_event("$o", prev=["$e"]), received_ts=1, outlier=True)
    assert await events.get_forward_extremities(ROOM) == ["$e"]
    await events.persist_event(make_event("$o", prev=["$e"]), received_ts=2)  # joins the DAG
    assert await events.get_forward_extremities(ROOM) == ["$o"]
    # Federation forgetting extremities, and a purge.
    fed = ForwardExtremityStore(database)
    await fed.drop(ROOM, "$o")
    assert await events.get_forward_extremities(ROOM) == []
    await events.persist_event(make_event("$p", prev=["$o"]), received_ts=1)
    await events.persist_event(make_event("$q"), received_ts=1)
    assert await events.get_forward_extremities(ROOM) == ["$p", "$q"]
    await fed.clear(ROOM)
    assert await events.get_forward_extremities(ROOM) == []
    await events.persist_event(make_event("$s", prev=["$q"]), received_ts=1)
    assert await events.get_forward_extremities(ROOM) == ["$s"]
    await make_stores(database).rooms.purge_room(ROOM)
    assert await events.get_forward_extremities(ROOM) == []


async def test_an_extremities_read_racing_a_persist_is_not_kept(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = make_stores(database).events
    await events.persist_event(make_event("$a"), received_ts=1)
    caches_of(database).forward_extremities.clear()  # the read goes to the database
    real_fetch = database.fetch
    writes: list[None] = []

    async def fetch_then_persist(sql: str, *args: object) -> list[Row]:
        rows = await real_fetch(sql, *args)  # ["$a"]
        if "forward_extremities" in sql and not writes:
            writes.append(None)
            await events.persist_event(make_event("$b", prev=["$a"]), received_ts=1)
        return rows

    monkeypatch.setattr(database, "fetch", fetch_then_persist)
    assert await events.get_forward_extremities(ROOM) == ["$a"]
    monkeypatch.undo()
    assert writes
    assert await events.get_forward_extremities(ROOM) == ["$b"]


async def test_a_persist_whose_commit_was_lost_forgets_the_extremities(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = make_stores(database).events
    await events.persist_event(make_event("$a"), received_ts=1)
    assert await events.get_forward_extremities(ROOM) == ["$a"]  # cached
    real = database.transaction

    @asynccontextmanager
    async def lost_at_commit() -> AsyncIterator[Transaction]:
        async with real() as txn:
            yield txn
        raise ConnectionResetError("connection lost at COMMIT")  # yet it committed

    monkeypatch.setattr(database, "transaction", lost_at_commit)
    with pytest.raises(ConnectionResetError):
        await events.persist_event(make_event("$b", prev=["$a"]), received_ts=1)
    monkeypatch.undo()
    assert await events.get_forward_extremities(ROOM) == ["$b"]
