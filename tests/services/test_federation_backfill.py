"""Outbound backfill's checks (spec: Server-Server API, "Backfilling and retrieving missing
events" and "Checks performed on receipt of a PDU"): the events a remote server hands back
from ``/backfill`` go through the receive checklist like any received PDU. A forged one is
dropped, one with a bad content hash is kept redacted, one failing the auth rules is kept
rejected and out of the timeline; the others take positions before everything held and
leave the room's present (current state, forward extremities) alone."""

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from myelin.core.events import EventView
from myelin.core.room_versions import get_room_version
from myelin.services.events import EventTemplate
from myelin.services.federation.backfill import Backfiller
from myelin.storage import Database
from tests.services.test_federation_receive import (
    BOB,
    FORGER_KEY,
    REMOTE,
    Harness,
    Keys,
    make_harness,
)

ROOM = f"!history:{REMOTE}"
EVE = f"@eve:{REMOTE}"


class BackfillingRemote:
    """The remote server's ``/backfill``: a fixed batch, the requests counted."""

    def __init__(self, batch: Sequence[Mapping[str, Any]]) -> None:
        self.batch = batch
        self.asked: list[tuple[str, Any]] = []

    async def get_json(
        self,
        destination: str,
        path: str,
        query: Mapping[str, str | Sequence[str]] | None = None,
        *,
        ignore_backoff: bool = False,
        timeout_s: float | None = None,
    ) -> Any:
        assert destination == REMOTE and path.startswith("/_matrix/federation/v1/backfill/")
        self.asked.append((path, query))
        return {"origin": REMOTE, "origin_server_ts": 1, "pdus": self.batch}

    async def post_json(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("not used")


@pytest.fixture
def harness(database: Database) -> Harness:
    return make_harness(database)


async def test_backfilled_pdus_go_through_the_receive_checks(harness: Harness) -> None:
    harness._version = get_room_version("11")
    make = harness.remote_event

    async def event(
        template: EventTemplate, prevs: list[EventView], auth: list[EventView], **kw: Any
    ) -> EventView:
        return await make(
            ROOM, template, [p.event_id for p in prevs], [a.event_id for a in auth], **kw
        )

    # The room as the remote server has it.
    create = await event(EventTemplate("m.room.create", BOB, {"room_version": "11"}, ""), [], [])
    join = await event(
        EventTemplate("m.room.member", BOB, {"membership": "join"}, BOB), [create], [create]
    )
    levels = await event(
        EventTemplate("m.room.power_levels", BOB, {"users": {BOB: 100}}, ""),
        [join],
        [create, join],
    )
    rules = await event(
        EventTemplate("m.room.join_rules", BOB, {"join_rule": "public"}, ""),
        [levels],
        [create, join, levels],
    )
    auth = [create, levels, join]
    m1 = await event(EventTemplate("m.room.message", BOB, {"body": "one"}), [rules], auth)
    m2 = await event(
        EventTemplate("m.room.message", BOB, {"body": "forged"}), [m1], auth, key=FORGER_KEY
    )
    m3 = await event(EventTemplate("m.room.message", BOB, {"body": "three"}), [m2], auth)
    intruder = await event(
        EventTemplate("m.room.message", EVE, {"body": "not a member"}), [m1], [create, levels]
    )
    # What this server holds after joining: the state as outliers and the latest event.
    services = harness.services
    await services.stores.rooms.store_room(ROOM, "11", creator=None, created_ts=1)
    receiver = harness.handler._receiver
    await receiver.store_outliers([e.json for e in (create, join, levels, rules)], harness.version)
    state = {
        ("m.room.create", ""): create.event_id,
        ("m.room.member", BOB): join.event_id,
        ("m.room.power_levels", ""): levels.event_id,
        ("m.room.join_rules", ""): rules.event_id,
    }
    written = await receiver.receive_checked(REMOTE, m3, state_before=state)
    assert written is not None and written.stream_ordering > 0
    current_before = await services.stores.state.get_current_state(ROOM)
    assert await services.stores.events.get_backward_extremities(ROOM) == [m2.event_id]

    tampered = {**m1.json, "content": {"body": "tampered"}}
    remote = BackfillingRemote(
        [m2.json, tampered, intruder.json, rules.json, levels.json, join.json, create.json]
    )
    backfiller = Backfiller(
        server_name="example.org",
        client=remote,
        receiver=receiver,
        keys=Keys(),
        events=services.stores.events,
        state=services.stores.state,
        rooms=services.stores.rooms,
        permits=lambda server: True,
    )
    # The state events held as outliers join the timeline, and m1 (redacted); not the
    # forged m2 nor the intruder's rejected message.
    assert await backfiller.backfill(ROOM, 20) == 5
    path, query = remote.asked[0]
    assert path.endswith(ROOM.replace("!", "%21").replace(":", "%3A"))
    assert query == {"v": [m2.event_id], "limit": "20"}
    events = services.stores.events
    assert await events.get_event(m2.event_id) is None
    rejected = await events.get_event(intruder.event_id)
    assert rejected is not None and rejected.rejected_reason is not None
    redacted = await events.get_event(m1.event_id)
    assert redacted is not None and redacted.json()["content"] == {}
    timeline = await events.get_room_events(ROOM, after=-(2**62), limit=100)
    assert [e.event_id for e in timeline] == [
        create.event_id,
        join.event_id,
        levels.event_id,
        rules.event_id,
        m1.event_id,
        m3.event_id,
    ]
    assert all(e.stream_ordering < 0 for e in timeline[:-1])
    # The present is untouched.
    assert await services.stores.state.get_current_state(ROOM) == current_before
    assert await events.get_forward_extremities(ROOM) == [m3.event_id]
    # m2 stays missing: asked once more (nothing new), then not again.
    assert await backfiller.backfill(ROOM, 20) == 0
    assert await backfiller.backfill(ROOM, 20) == 0
    assert len(remote.asked) == 2
