"""The event write path on both database engines: messages, serialisation per room, parallel
rooms, rejections that persist nothing, forks resolved by state resolution."""

import asyncio
import itertools

import pytest

from myelin.core.room_versions import KNOWN_ROOM_VERSIONS, StateResVersion
from myelin.core.state_res import resolve_state
from myelin.services.errors import MatrixError
from myelin.services.events import (
    MAX_PREV_EVENTS,
    EventRejectedError,
    EventSource,
    EventTemplate,
    MissingPrerequisiteError,
)
from myelin.services.events.loading import load_with_auth_chains
from myelin.services.rooms import CreateRoomRequest
from myelin.storage import Database
from tests.services.test_events_support import (
    ALICE,
    BOB,
    Services,
    check_every_event_authorized,
    current_state_content,
    make_services,
    room_events,
)

VERSIONS = sorted(KNOWN_ROOM_VERSIONS, key=int)


async def _room(services: Services, version: str = "11", **kwargs: object) -> str:
    request = CreateRoomRequest(room_version=version, **kwargs)  # type: ignore[arg-type]
    return (await services.rooms.create_room(ALICE, request)).room_id


@pytest.mark.parametrize("version", VERSIONS)
async def test_message_after_creation(database: Database, version: str) -> None:
    services = make_services(database)
    room_id = await _room(services, version)
    before = await room_events(services, room_id)
    last = before[-1]
    position = await services.stores.events.get_max_stream_ordering()
    written = await services.events.send_event(ALICE, room_id, "m.room.message", {"body": "hi"})
    event = written.event
    assert event.prev_event_ids == [last.event_id]
    assert event.depth == last.depth + 1
    assert written.stream_ordering > position
    # Auth events: create (not in v12), power levels and the sender's membership.
    by_id = {e.event_id: e for e in before}
    auth_types = sorted(by_id[a].state_pair for a in event.auth_event_ids)  # type: ignore[type-var]
    expected = [("m.room.member", ALICE), ("m.room.power_levels", "")]
    if not event.room_version.room_id_is_create_event_id:
        expected.insert(0, ("m.room.create", ""))
    assert auth_types == expected
    # A message changes no state: it shares the state group of its prev event.
    state = services.stores.state
    assert written.state_group == await state.get_state_group_for_event(last.event_id)
    assert await services.stores.events.get_forward_extremities(room_id) == [event.event_id]
    await check_every_event_authorized(services, room_id)


async def test_state_event_makes_a_delta_group(database: Database) -> None:
    services = make_services(database)
    room_id = await _room(services)
    state = services.stores.state
    parent = await state.get_current_state_group(room_id)
    written = await services.events.send_state_event(
        ALICE, room_id, "m.room.topic", "", {"topic": "new"}
    )
    assert written.state_group is not None and written.state_group != parent
    assert await state.get_current_state_group(room_id) == written.state_group
    after = await state.get_state_map(written.state_group)
    assert after[("m.room.topic", "")] == written.event.event_id
    assert parent is not None
    assert {k: v for k, v in after.items() if k != ("m.room.topic", "")} == {
        k: v for k, v in (await state.get_state_map(parent)).items() if k != ("m.room.topic", "")
    }


async def test_concurrent_sends_into_one_room_are_serialised(database: Database) -> None:
    services = make_services(database)
    room_id = await _room(services)
    start = len(await room_events(services, room_id))
    results = await asyncio.gather(
        *(
            services.events.send_event(ALICE, room_id, "m.room.message", {"body": str(i)})
            for i in range(20)
        )
    )
    events = await room_events(services, room_id)
    assert len(events) == start + 20
    # A single chain: one prev each, depth increasing by one, one forward extremity.
    for previous, event in itertools.pairwise(events):
        assert event.prev_event_ids == [previous.event_id]
        assert event.depth == previous.depth + 1
    assert await services.stores.events.get_forward_extremities(room_id) == [events[-1].event_id]
    orderings = sorted(r.stream_ordering for r in results)
    assert len(set(orderings)) == 20
    assert len(services.writer.locks) == 0  # locks are dropped when nobody waits


async def test_rooms_proceed_in_parallel(database: Database) -> None:
    services = make_services(database)
    room_a = await _room(services)
    room_b = await _room(services)
    async with services.writer.locks.hold(room_a):
        blocked = asyncio.ensure_future(
            services.events.send_event(ALICE, room_a, "m.room.message", {"body": "a"})
        )
        # Another room is not held up by room A's lock.
        written = await asyncio.wait_for(
            services.events.send_event(ALICE, room_b, "m.room.message", {"body": "b"}), 60
        )
        assert written.event.room_id == room_b
        for _ in range(20):
            await asyncio.sleep(0)
        assert not blocked.done()
    written_a = await blocked
    assert written_a.event.room_id == room_a
    results = await asyncio.gather(
        *(
            services.events.send_event(ALICE, room, "m.room.message", {"body": str(i)})
            for i in range(5)
            for room in (room_a, room_b)
        )
    )
    assert len({r.stream_ordering for r in results}) == 10
    for room in (room_a, room_b):
        assert len(await services.stores.events.get_forward_extremities(room)) == 1


async def _assert_nothing_persisted(services: Services, room_id: str, position: int) -> None:
    assert await services.stores.events.get_max_stream_ordering() == position
    assert len(await services.stores.events.get_forward_extremities(room_id)) == 1


@pytest.mark.parametrize("version", ["1", "6", "11", "12"])
async def test_non_member_cannot_send(database: Database, version: str) -> None:
    services = make_services(database)
    room_id = await _room(services, version, preset="public_chat")
    position = await services.stores.events.get_max_stream_ordering()
    with pytest.raises(EventRejectedError) as info:
        await services.events.send_event(BOB, room_id, "m.room.message", {"body": "hi"})
    assert (info.value.status, info.value.errcode) == (403, "M_FORBIDDEN")
    # "If the sender's current membership state is not join, reject": rule 5, shifted by the
    # aliases rule (v1-v5) and the room ID rule (v12).
    expected_rule = {"1": "6", "6": "5", "11": "5", "12": "6"}[version]
    assert info.value.rule == expected_rule
    assert "not in the room" in info.value.reason
    await _assert_nothing_persisted(services, room_id, position)


@pytest.mark.parametrize("version", ["1", "10", "12"])
async def test_member_without_power_cannot_change_power_levels(
    database: Database, version: str
) -> None:
    services = make_services(database)
    room_id = await _room(services, version, preset="public_chat")
    await services.events.update_membership(BOB, BOB, room_id, "join")
    position = await services.stores.events.get_max_stream_ordering()
    content = await current_state_content(services, room_id)
    power = dict(content[("m.room.power_levels", "")])
    power["users"] = {**power["users"], BOB: 100}
    with pytest.raises(EventRejectedError) as info:
        await services.events.send_state_event(BOB, room_id, "m.room.power_levels", "", power)
    assert info.value.check in ("auth_events", "state_before")
    await _assert_nothing_persisted(services, room_id, position)
    # Nor a name (state_default 50 > 0).
    with pytest.raises(EventRejectedError):
        await services.events.send_state_event(BOB, room_id, "m.room.name", "", {"name": "x"})
    await _assert_nothing_persisted(services, room_id, position)
    # But a message is fine.
    await services.events.send_event(BOB, room_id, "m.room.message", {"body": "ok"})
    await check_every_event_authorized(services, room_id)


async def test_unknown_room_and_too_large_event(database: Database) -> None:
    services = make_services(database)
    with pytest.raises(MatrixError) as info:
        await services.events.send_event(ALICE, "!nowhere:example.org", "m.room.message", {})
    assert (info.value.status, info.value.errcode) == (404, "M_NOT_FOUND")
    room_id = await _room(services)
    position = await services.stores.events.get_max_stream_ordering()
    with pytest.raises(MatrixError) as info:
        await services.events.send_event(ALICE, room_id, "m.room.message", {"body": "x" * 70_000})
    assert (info.value.status, info.value.errcode) == (413, "M_TOO_LARGE")
    await _assert_nothing_persisted(services, room_id, position)


async def test_missing_prev_event(database: Database) -> None:
    services = make_services(database)
    room_id = await _room(services)
    version = KNOWN_ROOM_VERSIONS["11"]
    with pytest.raises(MissingPrerequisiteError) as info:
        await services.writer.create_and_send(
            room_id,
            version,
            EventTemplate("m.room.message", ALICE, {"body": "x"}),
            prev_event_ids=["$unknown"],
        )
    assert info.value.event_ids == ["$unknown"]


async def test_federated_rejected_event_is_kept_as_rejected(database: Database) -> None:
    services = make_services(database)
    room_id = await _room(services)
    events = await room_events(services, room_id)
    version = events[0].room_version
    state = {e.state_pair: e for e in events if e.state_pair is not None}
    # An event from a non-member, as another server might send it.
    event = services.writer.build_on(
        room_id, version, EventTemplate("m.room.message", BOB, {"body": "x"}), [events[-1]], state
    )
    current = await services.stores.state.get_current_state_group(room_id)
    written = await services.writer.handle_event(event, EventSource.FEDERATION)
    assert written.rejected_reason is not None
    stored = await services.stores.events.get_event(event.event_id)
    assert stored is not None and stored.rejected_reason == written.rejected_reason
    assert await services.stores.events.get_forward_extremities(room_id) == [events[-1].event_id]
    assert await services.stores.state.get_current_state_group(room_id) == current
    # A join to an invite-only room without an invite, as another server might send it.
    bob_join = services.writer.build_on(
        room_id,
        version,
        EventTemplate("m.room.member", BOB, {"membership": "join"}, state_key=BOB),
        [events[-1]],
        state,
    )
    assert (await services.writer.handle_event(bob_join, EventSource.FEDERATION)).rejected_reason
    # An event whose auth events include the rejected join is rejected by rule 2.3.
    with_join = {**state, ("m.room.member", BOB): bob_join}
    message = services.writer.build_on(
        room_id,
        version,
        EventTemplate("m.room.message", BOB, {"body": "z"}),
        [events[-1]],
        with_join,
    )
    assert bob_join.event_id in message.auth_event_ids
    with pytest.raises(EventRejectedError) as info:
        await services.writer.handle_event(message)
    assert (info.value.rule, info.value.check) == ("2.3", "auth_events")
    # Local events are never persisted when rejected.
    position = await services.stores.events.get_max_stream_ordering()
    with pytest.raises(EventRejectedError):
        await services.writer.handle_event(
            services.writer.build_on(
                room_id,
                version,
                EventTemplate("m.room.message", BOB, {"body": "y"}),
                [events[-1]],
                state,
            )
        )
    assert await services.stores.events.get_max_stream_ordering() == position


@pytest.mark.parametrize("version", VERSIONS)
async def test_forked_prev_events_resolve_state(database: Database, version: str) -> None:
    services = make_services(database)
    room_id = await _room(services, version, preset="public_chat")
    await services.events.update_membership(BOB, BOB, room_id, "join")
    fork_point = (await room_events(services, room_id))[-1].event_id
    room_version = KNOWN_ROOM_VERSIONS[version]
    writer = services.writer
    # Two branches from the same event: a topic change, and another topic plus a name.
    topic_a = await writer.create_and_send(
        room_id,
        room_version,
        EventTemplate("m.room.topic", ALICE, {"topic": "A"}, state_key=""),
        prev_event_ids=[fork_point],
    )
    topic_b = await writer.create_and_send(
        room_id,
        room_version,
        EventTemplate("m.room.topic", ALICE, {"topic": "B"}, state_key=""),
        prev_event_ids=[fork_point],
    )
    name_b = await writer.create_and_send(
        room_id,
        room_version,
        EventTemplate("m.room.name", ALICE, {"name": "N"}, state_key=""),
        prev_event_ids=[topic_b.event.event_id],
    )
    extremities = await services.stores.events.get_forward_extremities(room_id)
    assert sorted(extremities) == sorted([topic_a.event.event_id, name_b.event.event_id])
    state_store = services.stores.state
    state_a = await state_store.get_state_map(topic_a.state_group)  # type: ignore[arg-type]
    state_b = await state_store.get_state_map(name_b.state_group)  # type: ignore[arg-type]
    loaded = await load_with_auth_chains(
        services.stores.events, {*state_a.values(), *state_b.values()}, room_version
    )
    expected = resolve_state(room_version, [state_a, state_b], loaded.views)
    # The room's current state is already the resolution of both extremities.
    assert await state_store.get_current_state(room_id) == expected
    assert expected[("m.room.name", "")] == name_b.event.event_id
    if room_version.state_res is not StateResVersion.V1:
        # v2: same power and mainline position, so the later timestamp wins.
        assert expected[("m.room.topic", "")] == topic_b.event.event_id

    # The next local event merges the fork, and its state before is that resolution.
    merge = await services.events.send_event(ALICE, room_id, "m.room.message", {"body": "m"})
    assert sorted(merge.event.prev_event_ids) == sorted(extremities)
    assert merge.event.depth == max(topic_a.event.depth, name_b.event.depth) + 1
    assert await state_store.get_state_map(merge.state_group) == expected  # type: ignore[arg-type]
    assert await services.stores.events.get_forward_extremities(room_id) == [merge.event.event_id]
    await check_every_event_authorized(services, room_id)


async def test_at_most_ten_prev_events(database: Database) -> None:
    services = make_services(database)
    room_id = await _room(services, "11")
    version = KNOWN_ROOM_VERSIONS["11"]
    fork_point = (await room_events(services, room_id))[-1].event_id
    branches = []
    for i in range(MAX_PREV_EVENTS + 2):
        written = await services.writer.create_and_send(
            room_id,
            version,
            EventTemplate("m.room.message", ALICE, {"body": str(i)}),
            prev_event_ids=[fork_point],
        )
        branches.append(written.event.event_id)
    assert len(await services.stores.events.get_forward_extremities(room_id)) == 12
    merge = await services.events.send_state_event(
        ALICE, room_id, "m.room.topic", "", {"topic": "merged"}
    )
    assert len(merge.event.prev_event_ids) == MAX_PREV_EVENTS
    # The most recent by depth (all equal) then by stream order: the last ten branches.
    assert sorted(merge.event.prev_event_ids) == sorted(branches[2:])
    extremities = await services.stores.events.get_forward_extremities(room_id)
    assert sorted(extremities) == sorted([*branches[:2], merge.event.event_id])
    # The current state resolves the leftover extremities with the new event's state.
    state = await current_state_content(services, room_id)
    assert state[("m.room.topic", "")] == {"topic": "merged"}
    final = await services.events.send_event(ALICE, room_id, "m.room.message", {"body": "end"})
    assert len(final.event.prev_event_ids) == 3
    assert await services.stores.events.get_forward_extremities(room_id) == [final.event.event_id]
