"""The outbound queue (spec: Server-Server API, "Transactions": at most 50 PDUs and 100 EDUs
per transaction; queue, batching and catch-up as Synapse's federation sender): what a
transaction holds, what a failure leaves queued, and catch-up after an outage sending only the
latest event of each room."""

from collections.abc import Mapping, Sequence
from typing import Any, cast

from myelin.federation.backoff import BackoffPolicy, DestinationBackoff
from myelin.federation.client import FederationClient, RequestFailedError
from myelin.federation.policy import FederationPolicy
from myelin.services.federation.sender import FederationSender
from myelin.services.rooms import CreateRoomRequest
from myelin.storage import Database
from myelin.storage.federation_rooms import OutboxStore
from myelin.storage.server_keys import DestinationStore
from tests.services.test_events_support import ALICE, Services, make_services

PEER = "peer.test"


class Peer:
    """The fake peer's side of put_json: records transactions, fails while ``down``."""

    def __init__(self) -> None:
        self.policy = FederationPolicy()
        self.transactions: list[dict[str, Any]] = []
        self.down = False

    async def put_json(
        self,
        destination: str,
        path: str,
        body: Any,
        query: Mapping[str, str | Sequence[str]] | None = None,
        **kw: Any,
    ) -> Any:
        if self.down:
            raise RequestFailedError(destination, "connection refused")
        assert destination == PEER and path.startswith("/_matrix/federation/v1/send/")
        self.transactions.append(body)
        return {"pdus": {}}


def _sender(services: Services, database: Database, peer: Peer) -> FederationSender:
    return FederationSender(
        server_name="test",
        client=cast(FederationClient, peer),
        outbox=OutboxStore(database),
        events=services.stores.events,
        state=services.stores.state,
        backoff=DestinationBackoff(
            DestinationStore(database), services.clock, BackoffPolicy(min_interval_ms=1000)
        ),
        clock=services.clock,
    )


async def _messages(services: Services, room_id: str, count: int) -> list[str]:
    ids = []
    for i in range(count):
        written = await services.events.send_event(
            ALICE, room_id, "m.room.message", {"msgtype": "m.text", "body": str(i)}
        )
        ids.append(written.event.event_id)
    return ids


async def test_transactions_hold_50_pdus_and_100_edus(database: Database) -> None:
    services = make_services(database)
    peer = Peer()
    sender = _sender(services, database, peer)
    await sender.close()  # no background worker: send_once is driven here
    room = await services.rooms.create_room(ALICE, CreateRoomRequest(preset="public_chat"))
    event_ids = await _messages(services, room.room_id, 30)
    for event_id in event_ids:
        await sender.send_pdu(event_id, [PEER])
    for i in range(120):
        await sender.send_edu("m.typing", {"n": i}, [PEER])
    # A failed transaction leaves everything queued.
    peer.down = True
    assert not await sender.send_once(PEER)
    assert await OutboxStore(database).count(PEER) == 150
    peer.down = False
    assert await sender.send_once(PEER)
    first = peer.transactions[0]
    assert [p["content"]["body"] for p in first["pdus"]] == [str(i) for i in range(30)]
    assert [e["content"]["n"] for e in first["edus"]] == list(range(100))
    assert await sender.send_once(PEER)
    second = peer.transactions[1]
    assert second["pdus"] == []
    assert [e["content"]["n"] for e in second["edus"]] == list(range(100, 120))
    assert not await sender.send_once(PEER)
    assert await OutboxStore(database).count(PEER) == 0


async def test_catch_up_sends_the_latest_event_of_each_room(database: Database) -> None:
    services = make_services(database)
    peer = Peer()
    sender = _sender(services, database, peer)
    await sender.close()
    busy = await services.rooms.create_room(ALICE, CreateRoomRequest(preset="public_chat"))
    quiet = await services.rooms.create_room(ALICE, CreateRoomRequest(preset="public_chat"))
    busy_ids = await _messages(services, busy.room_id, 55)
    quiet_ids = await _messages(services, quiet.room_id, 2)
    # More than one transaction's worth queued during an outage.
    for event_id in [*busy_ids[:30], *quiet_ids, *busy_ids[30:]]:
        await sender.send_pdu(event_id, [PEER])
    await sender.send_edu("m.typing", {"n": 1}, [PEER])
    assert await sender.send_once(PEER)
    (txn,) = peer.transactions
    # Only each room's latest event goes; the peer fetches the rest with get_missing_events.
    assert sorted(p["content"]["body"] for p in txn["pdus"]) == ["1", "54"]
    assert {p["room_id"] for p in txn["pdus"]} == {busy.room_id, quiet.room_id}
    assert txn["edus"] == [{"edu_type": "m.typing", "content": {"n": 1}}]
    assert await OutboxStore(database).count(PEER) == 0
    # A short queue is sent whole.
    few = await _messages(services, busy.room_id, 3)
    for event_id in few:
        await sender.send_pdu(event_id, [PEER])
    assert await sender.send_once(PEER)
    assert [p["content"]["body"] for p in peer.transactions[1]["pdus"]] == ["0", "1", "2"]
