"""Conflicting state between two servers (spec: Server-Server API, "Checks performed on
receipt of a PDU" step 6 passing, the room's forks merged by state resolution v2,
"Reverse topological power ordering" and "iterative auth checks" of the room version's
state resolution algorithm).

This server and a remote one change the room's join rules at the same time, each on its own
fork of the DAG. Both events pass every check, so the room has two forward extremities and
its current state is the resolution of both forks, not whichever arrived last: among power
events of senders with the same power the later ``origin_server_ts`` is applied last and
wins; a sender with less power is applied after one with more, and wins when still allowed.
"""

import pytest

from myelin.services.events import EventTemplate
from myelin.storage import Database
from tests.services.test_events_support import ALICE
from tests.services.test_federation_receive import BOB, Harness, make_harness

JOIN_RULES = ("m.room.join_rules", "")


@pytest.fixture
def harness(database: Database) -> Harness:
    return make_harness(database)


async def _conflict(harness: Harness, bob_level: int) -> tuple[str, str, str]:
    """Alice (here) and bob (remote, with ``bob_level``) both set the join rules on the same
    extremity; bob's event is built first (earlier ts) and arrives after alice's."""
    room_id = await harness.setup_room()
    join = await harness.join_bob(room_id)
    services = harness.services
    levels = await services.stores.events.get_event(
        await harness.state_id(room_id, ("m.room.power_levels", ""))
    )
    assert levels is not None
    content = dict(levels.json()["content"])
    content["users"] = {**content.get("users", {}), BOB: bob_level}
    await services.events.send_state_event(ALICE, room_id, "m.room.power_levels", "", content)
    fork = await services.stores.events.get_forward_extremities(room_id)
    bobs = await harness.remote_event(
        room_id,
        EventTemplate("m.room.join_rules", BOB, {"join_rule": "invite"}, state_key=""),
        fork,
        [
            await harness.state_id(room_id, ("m.room.create", "")),
            await harness.state_id(room_id, ("m.room.power_levels", "")),
            join.event_id,
        ],
    )
    alices = await services.events.send_state_event(
        ALICE, room_id, "m.room.join_rules", "", {"join_rule": "knock"}
    )
    assert bobs.origin_server_ts < alices.event.origin_server_ts
    assert list(alices.event.prev_event_ids) == fork
    response = await harness.send(bobs.json)
    assert response == {"pdus": {bobs.event_id: {}}}
    return room_id, alices.event.event_id, bobs.event_id


async def _outcome(harness: Harness, room_id: str, alices: str, bobs: str) -> str:
    stored = await harness.services.stores.events.get_event(bobs)
    # Accepted everywhere: not rejected, not soft failed (bob may still set join rules).
    assert stored is not None and stored.rejected_reason is None and not stored.soft_failed
    extremities = await harness.services.stores.events.get_forward_extremities(room_id)
    assert sorted(extremities) == sorted([alices, bobs])
    state = await harness.services.stores.state.get_current_state(room_id)
    return state[JOIN_RULES]


async def test_same_power_the_later_timestamp_wins(harness: Harness) -> None:
    room_id, alices, bobs = await _conflict(harness, bob_level=100)
    # Same power: ordered by origin_server_ts, alice's (later) applied last; bob's arriving
    # last does not make it win.
    assert await _outcome(harness, room_id, alices, bobs) == alices


async def test_less_power_is_applied_last(harness: Harness) -> None:
    room_id, alices, bobs = await _conflict(harness, bob_level=50)
    # Alice (100) sorts before bob (50): bob's is applied last and passes the iterative
    # auth check (state_default 50), so it wins despite its earlier timestamp.
    assert await _outcome(harness, room_id, alices, bobs) == bobs


async def test_next_local_event_merges_the_forks(harness: Harness) -> None:
    room_id, alices, bobs = await _conflict(harness, bob_level=100)
    written = await harness.services.events.send_state_event(
        ALICE, room_id, "m.room.topic", "", {"topic": "merged"}
    )
    assert sorted(written.event.prev_event_ids) == sorted([alices, bobs])
    extremities = await harness.services.stores.events.get_forward_extremities(room_id)
    assert extremities == [written.event.event_id]
    state = await harness.services.stores.state.get_current_state(room_id)
    assert state[JOIN_RULES] == alices


@pytest.mark.parametrize("bob_level", [100, 50])
async def test_the_remote_event_sent_again_changes_nothing(
    harness: Harness, bob_level: int
) -> None:
    room_id, _, bobs = await _conflict(harness, bob_level)
    before = await harness.services.stores.state.get_current_state(room_id)
    stored = await harness.services.stores.events.get_event(bobs)
    assert stored is not None
    await harness.send(stored.json())
    assert await harness.services.stores.state.get_current_state(room_id) == before
