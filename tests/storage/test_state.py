"""StateStore: state groups stored as deltas with bounded chains, interning, purge."""

import random

import pytest

from myelin.storage import (
    MAX_CHAIN_LENGTH,
    Database,
    NewStateGroup,
    StateKey,
    UnknownStateGroupError,
    make_stores,
)
from myelin.storage.state import compute_delta
from tests.storage.helpers import ROOM, make_event

CREATE = ("m.room.create", "")
POWER = ("m.room.power_levels", "")


async def test_intern_keys_is_stable(database: Database) -> None:
    state = make_stores(database).state
    first = await state.intern_keys([CREATE, POWER, ("m.room.member", "@a:x")])
    again = await state.intern_keys([("m.room.member", "@a:x"), CREATE, ("m.room.name", "")])
    assert len(set(first.values())) == 3
    assert again[CREATE] == first[CREATE]
    assert again[("m.room.member", "@a:x")] == first[("m.room.member", "@a:x")]
    assert again[("m.room.name", "")] not in first.values()
    assert await database.fetchval("SELECT COUNT(*) FROM state_keys") == 4


async def test_delta_add_replace_remove(database: Database) -> None:
    state = make_stores(database).state
    root = await state.create_state_group(ROOM, None, {CREATE: "$c", POWER: "$p1"})
    child = await state.create_state_group(
        ROOM, root, {POWER: "$p2", ("m.room.name", ""): "$n", CREATE: None}
    )
    grandchild = await state.create_state_group(ROOM, child, {("m.room.name", ""): None})
    assert await state.get_state_map(root) == {CREATE: "$c", POWER: "$p1"}
    assert await state.get_state_map(child) == {POWER: "$p2", ("m.room.name", ""): "$n"}
    assert await state.get_state_map(grandchild) == {POWER: "$p2"}
    # Only the delta is stored: 2 + 3 + 1 rows.
    assert await database.fetchval("SELECT COUNT(*) FROM state_group_entries") == 6
    empty = await state.create_state_group(ROOM, None, {})
    assert await state.get_state_map(empty) == {}


async def test_store_state_computes_the_delta(database: Database) -> None:
    state = make_stores(database).state
    members = {("m.room.member", f"@u{i}:x"): f"$m{i}" for i in range(50)}
    root = await state.store_state(ROOM, {CREATE: "$c", **members})
    assert await state.store_state(ROOM, {CREATE: "$c", **members}, parent=root) == root
    changed = {**members, ("m.room.member", "@u3:x"): "$m3b"}
    del changed[("m.room.member", "@u4:x")]
    child = await state.store_state(ROOM, {CREATE: "$c", **changed}, parent=root)
    assert child != root
    assert await state.get_state_map(child) == {CREATE: "$c", **changed}
    rows = await database.fetchval(
        "SELECT COUNT(*) FROM state_group_entries WHERE state_group = $1", child
    )
    assert rows == 2


async def test_unknown_groups_are_refused(database: Database) -> None:
    state = make_stores(database).state
    with pytest.raises(UnknownStateGroupError):
        await state.get_state_map(12345)
    with pytest.raises(UnknownStateGroupError):
        await state.create_state_group(ROOM, 12345, {CREATE: "$c"})
    other_room = await state.create_state_group("!other:x", None, {CREATE: "$o"})
    with pytest.raises(UnknownStateGroupError):
        await state.create_state_group(ROOM, other_room, {CREATE: "$c"})


async def test_long_chains_stay_bounded_and_correct(database: Database) -> None:
    """Random adds, replaces and removes over a long chain (and a branch) match a model."""
    state = make_stores(database).state
    rng = random.Random(1234)
    model: dict[StateKey, str] = {CREATE: "$c"}
    group = await state.create_state_group(ROOM, None, dict(model))
    history: list[tuple[int, dict[StateKey, str]]] = [(group, dict(model))]
    for step in range(3 * MAX_CHAIN_LENGTH + 7):
        delta: dict[StateKey, str | None] = {}
        for _ in range(rng.randint(1, 3)):
            key = ("m.room.member", f"@u{rng.randint(0, 40)}:x")
            if key in model and rng.random() < 0.35:
                delta[key] = None
            else:
                delta[key] = f"$e{step}_{rng.randint(0, 9)}"
        # Branch now and then from an older group instead of the newest.
        if step % 17 == 16:
            group, base = history[rng.randrange(len(history))]
            model = dict(base)
        group = await state.create_state_group(ROOM, group, delta)
        for key, value in delta.items():
            if value is None:
                model.pop(key, None)
            else:
                model[key] = value
        history.append((group, dict(model)))
    for group_id, expected in history:
        assert await state.get_state_map(group_id) == expected
    longest = await database.fetchval("SELECT MAX(chain_length) FROM state_groups")
    assert longest == MAX_CHAIN_LENGTH
    snapshots = await database.fetchval("SELECT COUNT(*) FROM state_groups WHERE parent_id IS NULL")
    assert snapshots >= 3
    entries = await database.fetchval("SELECT COUNT(*) FROM state_group_entries")
    full_rows = sum(len(expected) for _, expected in history)
    assert entries < full_rows / 5


def test_compute_delta() -> None:
    old = {CREATE: "$c", POWER: "$p"}
    new = {CREATE: "$c", POWER: "$p2", ("m.room.name", ""): "$n"}
    assert compute_delta(old, new) == {POWER: "$p2", ("m.room.name", ""): "$n"}
    assert compute_delta(new, old) == {POWER: "$p", ("m.room.name", ""): None}
    assert compute_delta(old, old) == {}


async def test_set_current_state_group_diffs_current_state(database: Database) -> None:
    stores = make_stores(database)
    state = stores.state
    for event_id, user in (("$j1", "@a:x"), ("$j2", "@b:x")):
        await stores.events.persist_event(
            make_event(
                event_id,
                "m.room.member",
                state_key=user,
                content={"membership": "join"},
            ),
            received_ts=1,
            outlier=True,
        )
    g1 = await state.create_state_group(
        ROOM,
        None,
        {CREATE: "$c", ("m.room.member", "@a:x"): "$j1", ("m.room.member", "@b:x"): "$j2"},
    )
    await state.set_current_state_group(ROOM, g1)
    assert await state.get_room_members(ROOM) == ["@a:x", "@b:x"]
    g2 = await state.create_state_group(ROOM, g1, {("m.room.member", "@b:x"): None})
    await state.set_current_state_group(ROOM, g2)
    assert await state.get_current_state_group(ROOM) == g2
    assert await state.get_current_state(ROOM) == {
        CREATE: "$c",
        ("m.room.member", "@a:x"): "$j1",
    }
    assert await state.get_room_members(ROOM) == ["@a:x"]
    assert await state.get_rooms_for_user("@b:x") == []


async def test_purge_unreferenced_groups_frees_rows(database: Database) -> None:
    stores = make_stores(database)
    state, events = stores.state, stores.events
    root = await state.create_state_group(ROOM, None, {CREATE: "$c"})
    kept = await state.create_state_group(ROOM, root, {POWER: "$p"})
    dangling = await state.create_state_group(ROOM, kept, {POWER: "$p2"})
    dangling_child = await state.create_state_group(ROOM, dangling, {POWER: "$p3"})
    other = await state.create_state_group("!other:x", None, {CREATE: "$o"})
    await events.persist_event(make_event("$e"), received_ts=1, state_after=kept)
    assert await state.purge_unreferenced_state_groups(ROOM) == 2
    # The referenced group and its ancestor stay, and still load.
    assert await state.get_state_map(kept) == {CREATE: "$c", POWER: "$p"}
    for gone in (dangling, dangling_child):
        with pytest.raises(UnknownStateGroupError):
            await state.get_state_map(gone)
    assert await state.get_state_map(other) == {CREATE: "$o"}
    assert await database.fetchval("SELECT COUNT(*) FROM state_group_entries") == 3
    # The current state keeps its group too.
    await state.set_current_state_group("!other:x", other)
    assert await state.purge_unreferenced_state_groups("!other:x") == 0
    # State groups given to persist_event as new groups are referenced as well.
    persisted = await events.persist_event(
        make_event("$f", prev=["$e"]),
        received_ts=1,
        state_after=NewStateGroup(kept, {("m.room.name", ""): "$n"}),
    )
    assert await state.purge_unreferenced_state_groups(ROOM) == 0
    assert persisted.state_group is not None
    assert await state.get_state_map(persisted.state_group) == {
        CREATE: "$c",
        POWER: "$p",
        ("m.room.name", ""): "$n",
    }
