"""EventStore: what commits with an event (the client transaction record of "Transaction
identifiers", the push actions of "Receiving notifications") and the caches of stored events
and state maps, which must never serve a row that changed or went."""

import pytest

from myelin.storage import (
    Database,
    NewStateGroup,
    PendingPushActions,
    PushActionRow,
    TxnIdKey,
    TxnIdUsedError,
    UnknownStateGroupError,
    make_stores,
)
from myelin.storage.caches import caches_of
from myelin.storage.json_text import loads_exact
from tests.storage.helpers import ROOM, make_event

CREATE = ("m.room.create", "")
KEY = TxnIdKey("@alice:example.org", "DEV", "txn-1", 5)


async def test_txn_record_commits_with_the_event(database: Database) -> None:
    stores = make_stores(database)
    await stores.events.persist_event(make_event("$a"), received_ts=1, txn_id=KEY)
    record = await stores.room_reads.get_txn_event("@alice:example.org", "DEV", "txn-1")
    assert record is not None and (record.room_id, record.event_id) == (ROOM, "$a")


async def test_a_used_txn_id_persists_nothing(database: Database) -> None:
    stores = make_stores(database)
    await stores.events.persist_event(make_event("$a"), received_ts=1, txn_id=KEY)
    with pytest.raises(TxnIdUsedError) as raised:
        await stores.events.persist_event(make_event("$b", prev=["$a"]), received_ts=1, txn_id=KEY)
    assert raised.value.event_id == "$a"
    assert await stores.events.get_event("$b") is None
    assert await stores.events.get_forward_extremities(ROOM) == ["$a"]
    assert await stores.events.get_max_stream_ordering() == 1


async def test_push_actions_commit_with_the_event(database: Database) -> None:
    stores = make_stores(database)
    pending = PendingPushActions(
        [PushActionRow("@bob:example.org", ["notify"], True, False)], "main", 9
    )
    persisted = await stores.events.persist_event(
        make_event("$a"), received_ts=1, push_actions=pending
    )
    counts = await stores.push_actions.get_unread_counts("@bob:example.org", [ROOM])
    assert counts[ROOM].main.notification_count == 1
    notes = await stores.push_actions.get_notifications(
        "@bob:example.org", before=None, limit=5, only_highlight=False
    )
    assert [(n.event_id, n.stream_ordering) for n in notes] == [("$a", persisted.stream_ordering)]
    # A failed persist takes its push actions with it.
    await stores.events.persist_event(make_event("$c", prev=["$a"]), received_ts=1, txn_id=KEY)
    with pytest.raises(TxnIdUsedError):
        await stores.events.persist_event(
            make_event("$b", prev=["$c"]), received_ts=1, txn_id=KEY, push_actions=pending
        )
    counts = await stores.push_actions.get_unread_counts("@bob:example.org", [ROOM])
    assert counts[ROOM].main.notification_count == 1


async def test_cached_outlier_is_refreshed_when_it_joins_the_dag(database: Database) -> None:
    events = make_stores(database).events
    await events.persist_event(make_event("$a"), received_ts=1, outlier=True)
    first = await events.get_event("$a")
    assert first is not None and first.outlier  # now cached
    await events.persist_event(make_event("$a"), received_ts=2)
    again = await events.get_event("$a")
    assert again is not None and not again.outlier and again.stream_ordering == 2
    loaded = await make_stores(database).events.get_events(["$a"])
    assert not loaded["$a"].outlier


async def test_purged_room_is_forgotten_by_the_caches(database: Database) -> None:
    stores = make_stores(database)
    await stores.rooms.store_room(ROOM, "10", creator="@alice:example.org", created_ts=1)
    persisted = await stores.events.persist_event(
        make_event("$a", "m.room.create", state_key=""),
        received_ts=1,
        state_after=NewStateGroup(None, {CREATE: "$a"}),
        set_current_state=True,
    )
    group = persisted.state_group
    assert group is not None
    assert await stores.events.get_event("$a") is not None
    assert await stores.state.get_state_map(group) == {CREATE: "$a"}
    assert len(caches_of(database).events) and len(caches_of(database).state_maps)
    await stores.rooms.purge_room(ROOM)
    assert await stores.events.get_event("$a") is None
    assert await stores.events.get_events(["$a"]) == {}
    with pytest.raises(UnknownStateGroupError):
        await stores.state.get_state_map(group)


async def test_state_map_copies_are_the_callers(database: Database) -> None:
    stores = make_stores(database)
    persisted = await stores.events.persist_event(
        make_event("$a", "m.room.create", state_key=""),
        received_ts=1,
        state_after=NewStateGroup(None, {CREATE: "$a"}),
    )
    assert persisted.state_group is not None
    mine = await stores.state.get_state_map(persisted.state_group)
    mine[("m.room.name", "")] = "$x"
    assert await stores.state.get_state_map(persisted.state_group) == {CREATE: "$a"}


async def test_purged_state_groups_are_not_served_from_the_cache(database: Database) -> None:
    stores = make_stores(database)
    first = await stores.events.persist_event(
        make_event("$a", "m.room.create", state_key=""),
        received_ts=1,
        state_after=NewStateGroup(None, {CREATE: "$a"}),
        set_current_state=True,
    )
    assert first.state_group is not None
    orphan = await stores.state.create_state_group(ROOM, first.state_group, {("x", ""): "$a"})
    assert await stores.state.get_state_map(orphan) == {CREATE: "$a", ("x", ""): "$a"}
    assert await stores.state.purge_unreferenced_state_groups(ROOM) == 1
    with pytest.raises(UnknownStateGroupError):
        await stores.state.get_state_map(orphan)


def test_loads_exact_keeps_big_integers_and_lone_surrogates() -> None:
    text = '{"a": 123456789012345678901234567890, "b": -9223372036854775808, "c": 1.5}'
    assert loads_exact(text) == {
        "a": 123456789012345678901234567890,
        "b": -9223372036854775808,
        "c": 1.5,
    }
    assert loads_exact(text.encode())["a"] == 123456789012345678901234567890
    assert loads_exact('{"s": "\\ud800"}') == {"s": "\ud800"}
    assert loads_exact('{"n": 18446744073709551616}')["n"] == 2**64
