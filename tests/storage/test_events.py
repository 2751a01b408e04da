"""EventStore: persistence with edges, extremities, stream order and state, atomically."""

import asyncio

import pytest

from myelin.storage import (
    Database,
    EventExistsError,
    NewStateGroup,
    UnknownStateGroupError,
    make_stores,
)
from tests.storage.helpers import ROOM, make_event, member

CREATE = ("m.room.create", "")


async def test_json_kept_byte_for_byte(database: Database) -> None:
    events = make_stores(database).events
    event = make_event("$a", "m.room.create", state_key="")
    raw = (
        b'{ "type": "m.room.create", "room_id": "!room:example.org", "state_key": "",'
        b' "unknown_field": 12345678901234567890123, "content": {"x": "\xc3\xa9"} }'
    )
    persisted = await events.persist_event(event, raw_json=raw, received_ts=7)
    assert persisted.stream_ordering == 1
    stored = await events.get_event("$a")
    assert stored is not None
    assert stored.json_text.encode("utf-8") == raw
    assert stored.json()["unknown_field"] == 12345678901234567890123
    assert (stored.type, stored.state_key, stored.sender, stored.room_id) == (
        "m.room.create",
        "",
        "@alice:example.org",
        ROOM,
    )
    assert stored.received_ts == 7 and stored.stream_ordering == 1
    assert not stored.outlier and not stored.soft_failed and stored.rejected_reason is None


async def test_json_defaults_to_canonical(database: Database) -> None:
    events = make_stores(database).events
    await events.persist_event(make_event("$a", depth=3), received_ts=1)
    stored = await events.get_event("$a")
    assert stored is not None
    assert stored.json_text.startswith('{"auth_events":[],"content":{"body":"$a"},"depth":3,')
    assert stored.depth == 3 and stored.origin_server_ts == 1_700_000_000_003


async def test_stream_ordering_is_global_and_monotonic(database: Database) -> None:
    events = make_stores(database).events
    assert await events.get_max_stream_ordering() == 0
    orderings = []
    for i, room in enumerate(["!a:x", "!b:x", "!a:x", "!c:x"]):
        persisted = await events.persist_event(make_event(f"$e{i}", room_id=room), received_ts=1)
        orderings.append(persisted.stream_ordering)
    assert orderings == [1, 2, 3, 4]
    assert await events.get_max_stream_ordering() == 4


async def test_concurrent_persists_get_distinct_positions(database: Database) -> None:
    events = make_stores(database).events

    async def persist(i: int) -> int:
        event = make_event(f"$e{i}", room_id=f"!r{i % 5}:x")
        return (await events.persist_event(event, received_ts=1)).stream_ordering

    orderings = await asyncio.gather(*(persist(i) for i in range(30)))
    assert sorted(orderings) == list(range(1, 31))
    assert await events.get_max_stream_ordering() == 30
    stored = await events.get_events([f"$e{i}" for i in range(30)])
    assert {e.stream_ordering for e in stored.values()} == set(range(1, 31))


async def test_edges_and_lookups(database: Database) -> None:
    events = make_stores(database).events
    await events.persist_event(make_event("$a"), received_ts=1)
    await events.persist_event(make_event("$b", prev=["$a"], auth=["$a"]), received_ts=1)
    await events.persist_event(
        make_event("$c", prev=["$b", "$missing"], auth=["$a", "$b"]), received_ts=1
    )
    assert await events.get_prev_event_ids("$c") == ["$b", "$missing"]
    assert await events.get_auth_event_ids("$c") == ["$a", "$b"]
    assert await events.have_events(["$a", "$c", "$missing"]) == {"$a", "$c"}
    assert set(await events.get_events(["$a", "$a", "$nope"])) == {"$a"}
    assert await events.get_event("$nope") is None


async def test_forward_extremities_follow_the_dag(database: Database) -> None:
    events = make_stores(database).events
    await events.persist_event(make_event("$a"), received_ts=1)
    assert await events.get_forward_extremities(ROOM) == ["$a"]
    await events.persist_event(make_event("$b", prev=["$a"]), received_ts=1)
    assert await events.get_forward_extremities(ROOM) == ["$b"]
    # A fork: two events on $b.
    await events.persist_event(make_event("$c1", prev=["$b"]), received_ts=1)
    await events.persist_event(make_event("$c2", prev=["$b"]), received_ts=1)
    assert await events.get_forward_extremities(ROOM) == ["$c1", "$c2"]
    # A merge.
    await events.persist_event(make_event("$d", prev=["$c1", "$c2"]), received_ts=1)
    assert await events.get_forward_extremities(ROOM) == ["$d"]
    assert await events.get_forward_extremities("!other:x") == []


async def test_late_parent_is_not_an_extremity(database: Database) -> None:
    events = make_stores(database).events
    await events.persist_event(make_event("$child", prev=["$parent"]), received_ts=1)
    await events.persist_event(make_event("$parent"), received_ts=1)
    assert await events.get_forward_extremities(ROOM) == ["$child"]


async def test_hidden_events_do_not_move_extremities(database: Database) -> None:
    events = make_stores(database).events
    await events.persist_event(make_event("$a"), received_ts=1)
    await events.persist_event(make_event("$out", prev=["$a"]), received_ts=1, outlier=True)
    await events.persist_event(make_event("$soft", prev=["$a"]), received_ts=1, soft_failed=True)
    await events.persist_event(
        make_event("$rej", prev=["$a"]), received_ts=1, rejected_reason="auth"
    )
    assert await events.get_forward_extremities(ROOM) == ["$a"]
    # A later visible child of a hidden event: the hidden one does not hide it.
    await events.persist_event(make_event("$b", prev=["$a"]), received_ts=1)
    assert await events.get_forward_extremities(ROOM) == ["$b"]
    timeline = await events.get_room_events(ROOM)
    assert [e.event_id for e in timeline] == ["$a", "$b"]
    soft = await events.get_event("$soft")
    rej = await events.get_event("$rej")
    out = await events.get_event("$out")
    assert soft is not None and soft.soft_failed
    assert rej is not None and rej.rejected_reason == "auth"
    assert out is not None and out.outlier


async def test_duplicate_event_is_refused_and_changes_nothing(database: Database) -> None:
    events = make_stores(database).events
    await events.persist_event(make_event("$a"), received_ts=1)
    with pytest.raises(EventExistsError):
        await events.persist_event(make_event("$a"), received_ts=2)
    assert await events.get_max_stream_ordering() == 1
    stored = await events.get_event("$a")
    assert stored is not None and stored.received_ts == 1


async def test_outlier_becomes_part_of_the_dag(database: Database) -> None:
    events = make_stores(database).events
    await events.persist_event(make_event("$a"), received_ts=1, outlier=True)
    assert await events.get_forward_extremities(ROOM) == []
    persisted = await events.persist_event(make_event("$a"), received_ts=2)
    assert persisted.stream_ordering == 2
    stored = await events.get_event("$a")
    assert stored is not None and not stored.outlier and stored.stream_ordering == 2
    assert await events.get_forward_extremities(ROOM) == ["$a"]
    with pytest.raises(EventExistsError):
        await events.persist_event(make_event("$a"), received_ts=3, outlier=True)


async def test_persist_is_atomic(database: Database) -> None:
    stores = make_stores(database)
    events = stores.events
    await events.persist_event(make_event("$a"), received_ts=1)
    groups_before = await database.fetchval("SELECT COUNT(*) FROM state_groups")
    # The new state group is created, then the given current-state group is unknown: all of
    # it (state group, event row, edges, extremities, stream position) must roll back.
    with pytest.raises(UnknownStateGroupError):
        await events.persist_event(
            make_event("$b", prev=["$a"]),
            received_ts=1,
            state_after=NewStateGroup(None, {CREATE: "$a"}),
            set_current_state=NewStateGroup(999_999, {}),
        )
    assert await events.get_event("$b") is None
    assert await events.get_forward_extremities(ROOM) == ["$a"]
    assert await events.get_max_stream_ordering() == 1
    assert await database.fetchval("SELECT COUNT(*) FROM state_groups") == groups_before
    assert await database.fetchval("SELECT COUNT(*) FROM event_edges") == 0
    # And the next event gets the next position.
    persisted = await events.persist_event(make_event("$b", prev=["$a"]), received_ts=1)
    assert persisted.stream_ordering == 2


async def test_state_after_and_current_state(database: Database) -> None:
    stores = make_stores(database)
    events, state = stores.events, stores.state
    create = make_event("$create", "m.room.create", state_key="")
    p1 = await events.persist_event(
        create,
        received_ts=1,
        state_after=NewStateGroup(None, {CREATE: "$create"}),
        set_current_state=True,
    )
    assert p1.state_group is not None
    alice = member("$m1", "@alice:x", "join", prev=["$create"], auth=["$create"])
    p2 = await events.persist_event(
        alice,
        received_ts=1,
        state_after=NewStateGroup(p1.state_group, {("m.room.member", "@alice:x"): "$m1"}),
        set_current_state=True,
    )
    msg = make_event("$msg", prev=["$m1"])
    p3 = await events.persist_event(
        msg, received_ts=1, state_after=p2.state_group, set_current_state=True
    )
    assert p3.state_group == p2.state_group
    assert await state.get_state_group_for_event("$msg") == p2.state_group
    assert await state.get_state_group_for_event("$nope") is None
    assert await state.get_state_groups_for_events(["$create", "$m1", "$x"]) == {
        "$create": p1.state_group,
        "$m1": p2.state_group,
    }
    assert await state.get_current_state_group(ROOM) == p2.state_group
    assert await state.get_current_state(ROOM) == {
        CREATE: "$create",
        ("m.room.member", "@alice:x"): "$m1",
    }
    assert await state.get_rooms_for_user("@alice:x") == [ROOM]
    assert await state.get_room_members(ROOM) == ["@alice:x"]
    # Alice leaves.
    leave = member("$m2", "@alice:x", "leave", prev=["$msg"])
    await events.persist_event(
        leave,
        received_ts=1,
        state_after=NewStateGroup(p2.state_group, {("m.room.member", "@alice:x"): "$m2"}),
        set_current_state=True,
    )
    assert await state.get_rooms_for_user("@alice:x") == []
    assert await state.get_rooms_for_user("@alice:x", "leave") == [ROOM]
    assert await state.get_current_state_event_id(ROOM, "m.room.member", "@alice:x") == "$m2"
    assert await state.get_current_state_event_id(ROOM, "m.room.topic", "") is None


async def test_outlier_cannot_have_state(database: Database) -> None:
    events = make_stores(database).events
    with pytest.raises(ValueError, match="outlier"):
        await events.persist_event(make_event("$a"), received_ts=1, outlier=True, state_after=1)
    with pytest.raises(ValueError, match="state_after"):
        await events.persist_event(make_event("$a"), received_ts=1, set_current_state=True)


async def test_room_timeline_queries(database: Database) -> None:
    events = make_stores(database).events
    for i in range(6):
        room = ROOM if i % 2 == 0 else "!other:x"
        await events.persist_event(make_event(f"$e{i}", room_id=room), received_ts=1)
    assert [e.event_id for e in await events.get_room_events(ROOM)] == ["$e0", "$e2", "$e4"]
    newest = await events.get_room_events(ROOM, limit=2, newest_first=True)
    assert [e.event_id for e in newest] == ["$e4", "$e2"]
    between = await events.get_room_events(ROOM, after=1, upto=3)
    assert [e.event_id for e in between] == ["$e2"]
    assert await events.get_rooms_changed([ROOM, "!other:x", "!none:x"], 5) == {"!other:x"}
    assert await events.get_rooms_changed([ROOM, "!other:x"], 0) == {ROOM, "!other:x"}


async def test_stream_positions_commit_in_order(database: Database) -> None:
    """A writer holding a position makes the next writer wait until it commits."""
    from myelin.storage.streams import current_position, next_position

    events = make_stores(database).events
    holding = asyncio.Event()
    release = asyncio.Event()

    async def slow_writer() -> int:
        async with database.transaction() as txn:
            position = await next_position(txn)
            holding.set()
            await release.wait()
            return position

    slow = asyncio.create_task(slow_writer())
    await asyncio.wait_for(holding.wait(), 5)
    fast = asyncio.create_task(events.persist_event(make_event("$fast"), received_ts=1))
    await asyncio.sleep(0.3)
    assert not fast.done()
    # Readers see only what is committed: nothing yet.
    assert await current_position(database) == 0
    release.set()
    assert await slow == 1
    assert (await fast).stream_ordering == 2
    assert await events.get_max_stream_ordering() == 2
