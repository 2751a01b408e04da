"""Received transactions and the durable outbound queue on both engines (spec: Server-Server
API, "Transactions")."""

import pytest

from myelin.storage import Database
from myelin.storage.federation_rooms import OutboxStore, ReceivedTransactionStore


async def test_received_transaction_response_is_kept_per_origin(database: Database) -> None:
    store = ReceivedTransactionStore(database)
    assert await store.get_response("a.test", "1") is None
    await store.store_response("a.test", "1", '{"pdus":{}}', 10)
    await store.store_response("a.test", "1", '{"other":1}', 11)  # first one stands
    assert await store.get_response("a.test", "1") == '{"pdus":{}}'
    assert await store.get_response("b.test", "1") is None
    assert await store.purge_older_than(11) == 1
    assert await store.get_response("a.test", "1") is None


async def test_outbox_queues_in_order_and_survives_reopening(database: Database) -> None:
    outbox = OutboxStore(database)
    await outbox.enqueue(["a.test", "b.test"], event_id="$1", queued_ts=1)
    await outbox.enqueue(["a.test"], edu_json='{"edu_type":"m.typing"}', queued_ts=2)
    await outbox.enqueue(["a.test"], event_id="$2", queued_ts=3)
    pending = await OutboxStore(database).pending("a.test")
    assert [(i.event_id, i.edu_json) for i in pending] == [
        ("$1", None),
        (None, '{"edu_type":"m.typing"}'),
        ("$2", None),
    ]
    assert await outbox.destinations_with_pending() == ["a.test", "b.test"]
    await outbox.remove("a.test", [pending[0].id, pending[1].id])
    assert [i.event_id for i in await outbox.pending("a.test")] == ["$2"]
    assert await outbox.count("b.test") == 1
    with pytest.raises(ValueError):
        await outbox.enqueue(["a.test"], queued_ts=4)


async def test_transaction_ids_are_never_reused(database: Database) -> None:
    outbox = OutboxStore(database)
    first = [await outbox.next_txn_id("a.test") for _ in range(3)]
    assert first == [1, 2, 3]
    assert await OutboxStore(database).next_txn_id("a.test") == 4
    assert await outbox.next_txn_id("b.test") == 1
