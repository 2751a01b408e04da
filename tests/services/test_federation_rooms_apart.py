"""Inbound transactions (spec: Server-Server API, "Transactions", "Server Access Control Lists
(ACLs)", "Checks performed on receipt of a PDU"): one room waiting for missing events does not
hold up another room, a room's server ACL drops the room EDUs (typing, receipts) of a denied
server as well as its PDUs, and a PDU passing its auth events but not the state before it
(step 5) is rejected."""

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from myelin.services.events import EventTemplate
from myelin.services.federation.edus import EduHandler
from myelin.services.federation.transactions import TransactionHandler, room_acl_allows
from myelin.storage import Database
from myelin.storage.federation_rooms import ReceivedTransactionStore
from tests.services.test_events_support import ALICE, SERVER
from tests.services.test_federation_receive import BOB, make_harness


async def test_a_room_fetching_missing_events_does_not_block_another(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness = make_harness(database)
    asked, release = asyncio.Event(), asyncio.Event()
    hand_over = harness.remote.post_json

    async def slow_post_json(destination: str, path: str, body: Any, *args: Any, **kw: Any) -> Any:
        # get_missing_events waits until released.
        asked.set()
        await release.wait()
        return await hand_over(destination, path, body, *args, **kw)

    monkeypatch.setattr(harness.remote, "post_json", slow_post_json)
    slow_room = await harness.setup_room()
    slow_join = await harness.join_bob(slow_room)
    fast_room = await harness.setup_room()
    fast_join = await harness.join_bob(fast_room)
    auth = await harness.message_auth(slow_room, slow_join.event_id)
    gap = await harness.remote_event(
        slow_room, EventTemplate("m.room.message", BOB, {"msgtype": "m.text", "body": "gap"}),
        [slow_join.event_id], auth,
    )  # fmt: skip
    after_gap = await harness.remote_event(
        slow_room, EventTemplate("m.room.message", BOB, {"msgtype": "m.text", "body": "late"}),
        [gap.event_id], auth,
    )  # fmt: skip
    quick = await harness.remote_event(
        fast_room, EventTemplate("m.room.message", BOB, {"msgtype": "m.text", "body": "now"}),
        [fast_join.event_id], await harness.message_auth(fast_room, fast_join.event_id),
    )  # fmt: skip
    waiting = asyncio.create_task(harness.send(after_gap.json))
    try:
        await asyncio.wait_for(asked.wait(), 5)
        # The slow room's transaction is stuck on get_missing_events; the other room's
        # transaction is processed meanwhile.
        assert await asyncio.wait_for(harness.send(quick.json), 5) == {"pdus": {quick.event_id: {}}}
        assert not waiting.done()
        stored = await harness.services.stores.events.get_event(quick.event_id)
        assert stored is not None and not stored.outlier
    finally:
        release.set()
    assert await asyncio.wait_for(waiting, 5) == {"pdus": {after_gap.event_id: {}}}
    extremities = await harness.services.stores.events.get_forward_extremities(slow_room)
    assert extremities == [after_gap.event_id]


class Recorder:
    def __init__(self) -> None:
        self.typing: list[tuple[str, str, bool]] = []
        self.receipts: list[tuple[str, str, str]] = []

    async def set_typing(
        self, requester: str, room_id: str, user_id: str, typing: bool, timeout_ms: int | None
    ) -> None:
        self.typing.append((room_id, user_id, typing))

    async def send_receipt(
        self, user_id: str, room_id: str, receipt_type: str, event_id: str, body: Mapping[str, Any]
    ) -> None:
        self.receipts.append((room_id, user_id, event_id))


async def test_server_acl_drops_room_edus_of_a_denied_server(database: Database) -> None:
    harness = make_harness(database)
    services = harness.services
    recorder = Recorder()

    async def acl_allows(room_id: str, origin: str) -> bool:
        return await room_acl_allows(services.stores.state, services.stores.events, room_id, origin)

    handler = TransactionHandler(
        receiver=harness.handler._receiver,
        edus=EduHandler(acl_allows, typing=recorder, receipts=recorder),
        rooms=services.stores.rooms,
        state=services.stores.state,
        events=services.stores.events,
        received=ReceivedTransactionStore(database),
        clock=services.clock,
    )
    harness.handler = handler
    open_room = await harness.setup_room()
    open_join = await harness.join_bob(open_room)
    closed_room = await harness.setup_room()
    closed_join = await harness.join_bob(closed_room)
    await services.events.send_state_event(
        ALICE, closed_room, "m.room.server_acl", "", {"allow": [SERVER], "deny": []}
    )

    def edus(room_id: str, event_id: str) -> list[dict[str, Any]]:
        return [
            {
                "edu_type": "m.typing",
                "content": {"room_id": room_id, "user_id": BOB, "typing": True},
            },
            {
                "edu_type": "m.receipt",
                "content": {
                    room_id: {"m.read": {BOB: {"event_ids": [event_id], "data": {"ts": 1}}}}
                },
            },
        ]

    await harness.send(
        edus=[*edus(closed_room, closed_join.event_id), *edus(open_room, open_join.event_id)]
    )
    # Only the room whose ACL lets the origin in sees them.
    assert recorder.typing == [(open_room, BOB, True)]
    assert recorder.receipts == [(open_room, BOB, open_join.event_id)]


async def test_passing_its_auth_events_but_not_the_state_before_is_rejected(
    database: Database,
) -> None:
    # Step 5 of "Checks performed on receipt of a PDU": Bob's message names his join among its
    # auth events (step 4 passes) but comes after his ban in the DAG: rejected.
    harness = make_harness(database)
    room_id = await harness.setup_room()
    join = await harness.join_bob(room_id)
    ban = await harness.services.events.update_membership(ALICE, BOB, room_id, "ban")
    harness.remote.events[ban.event.event_id] = ban.event
    message = await harness.remote_event(
        room_id,
        EventTemplate("m.room.message", BOB, {"msgtype": "m.text", "body": "after my ban"}),
        [ban.event.event_id],
        await harness.message_auth(room_id, join.event_id),
    )
    response = await harness.send(message.json)
    assert "error" in response["pdus"][message.event_id]
    stored = await harness.services.stores.events.get_event(message.event_id)
    assert stored is not None and stored.rejected_reason is not None and not stored.soft_failed
    extremities = await harness.services.stores.events.get_forward_extremities(room_id)
    assert extremities == [ban.event.event_id]
