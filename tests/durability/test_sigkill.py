"""Durability of acknowledged sends (Client-Server API, "Sending events to a room" and
"Transaction identifiers"; architecture principle 6: a client is acknowledged only once its
event is durable).

Several clients send messages into one room concurrently, each with its own transaction IDs. The
server process is killed with SIGKILL in the middle of the burst, while requests are in flight,
and restarted on the same data directory and database (the engine of ``MYELIN_TEST_DB``). Then:

1. every event acknowledged with 200 before the kill is in ``/messages`` and in ``/sync``
   (initial, and incremental from a token taken before the burst), with its sender and body;
2. the sends in flight at the kill, retried with the same transaction ID and access token, are
   accepted, and no message appears twice (spec, "Transaction identifiers": a retransmission
   gets the original response, so a transaction persisted before the kill gives back its event);
3. each sender's acknowledged messages keep their order in the timeline;
4. an event sent after the restart comes after every earlier one, in ``/messages`` and in
   ``/sync`` (stream positions do not go back after a crash).
"""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bench.server import ServerHandle
from tests.durability import support
from tests.durability.support import MatrixClient, client_session

USERS = 4
WORKERS_PER_USER = 2
# SIGKILL once this many sends were acknowledged; each worker stops at MAX_SENDS anyway.
KILL_AFTER_ACKS = 80
MAX_SENDS = 150
# The whole burst (before the kill) may take this long at most.
BURST_DEADLINE = 60.0


@dataclass
class Worker:
    """One sequential sender: its acknowledged sends and the ones with no answer."""

    client: MatrixClient
    name: str
    acked: list[tuple[str, str, str]] = field(default_factory=list)  # (txn, event_id, body)
    unanswered: list[tuple[str, str]] = field(default_factory=list)  # (txn, body)
    refused: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    """The state of things after the burst, the kill, the restart and the retries."""

    clients: list[MatrixClient]
    workers: list[Worker]
    room_id: str
    before_burst: str  # a sync token of clients[0] taken before the burst
    acked: dict[str, tuple[Worker, str]]  # event_id -> (sender, body), acknowledged before
    retried: dict[str, tuple[Worker, str]]  # the same, for the retried unanswered sends
    after_event_id: str  # sent by clients[1] after the restart and the retries
    timeline: list[dict[str, Any]]  # /messages of the room after it all, oldest first

    def messages(self) -> list[dict[str, Any]]:
        return [e for e in self.timeline if e["type"] == "m.room.message"]


async def _send_until_dead(
    worker: Worker, room_id: str, counter: list[int], kill_now: asyncio.Event
) -> None:
    """Send one message after another until the server stops answering (or MAX_SENDS)."""
    for seq in range(MAX_SENDS):
        txn, body = f"{worker.name}-{seq}", f"{worker.name} message {seq}"
        try:
            status, data = await worker.client.send_message(room_id, txn, body)
        except (aiohttp.ClientError, TimeoutError):
            # The server died with this request in flight: it may or may not have persisted it.
            worker.unanswered.append((txn, body))
            return
        if status != 200:
            worker.refused.append(f"{txn}: {status} {data}")
            return
        worker.acked.append((txn, data["event_id"], body))
        counter[0] += 1
        if counter[0] >= KILL_AFTER_ACKS:
            kill_now.set()


async def _register_and_join(
    handle: ServerHandle, session: aiohttp.ClientSession
) -> tuple[list[MatrixClient], str]:
    clients = [MatrixClient(handle.base_url, session) for _ in range(USERS)]
    for index, client in enumerate(clients):
        await client.register(f"sender{index}")
    created = await clients[0].ok(
        "POST", f"{support.V3}/createRoom", {"preset": "public_chat", "name": "burst"}
    )
    room_id: str = created["room_id"]
    for client in clients[1:]:
        await client.ok("POST", f"{support.V3}/join/{room_id}", {})
    return clients, room_id


async def _burst_until_killed(
    handle: ServerHandle, data_dir: Path
) -> tuple[list[MatrixClient], list[Worker], str, str]:
    async with client_session() as session:
        clients, room_id = await _register_and_join(handle, session)
        before_burst = (await clients[0].sync())["next_batch"]
        workers = [
            Worker(client, f"u{u}w{w}")
            for u, client in enumerate(clients)
            for w in range(WORKERS_PER_USER)
        ]
        counter = [0]
        kill_now = asyncio.Event()
        senders = [
            asyncio.create_task(_send_until_dead(worker, room_id, counter, kill_now))
            for worker in workers
        ]
        try:
            await asyncio.wait_for(kill_now.wait(), BURST_DEADLINE)
        finally:
            await support.kill(handle)
            await asyncio.wait_for(asyncio.gather(*senders), support.REQUEST_TIMEOUT)
    assert not [r for w in workers for r in w.refused], "sends refused before the kill"
    # Mid-burst: no worker had finished, and requests were in flight.
    assert all(len(w.acked) < MAX_SENDS for w in workers), "the burst ended before the kill"
    assert sum(len(w.acked) for w in workers) >= KILL_AFTER_ACKS
    return clients, workers, room_id, before_burst


@pytest.fixture
async def outcome(tmp_path: Path, database_yaml: dict[str, Any]) -> AsyncIterator[Outcome]:
    """Burst, SIGKILL, restart, retry the unanswered sends, send one more; the server lives on."""
    data_dir = tmp_path / "myelin"
    handle = await support.start(data_dir, database_yaml)
    try:
        clients, workers, room_id, before_burst = await _burst_until_killed(handle, data_dir)
        acked = {event_id: (w, body) for w in workers for _, event_id, body in w.acked}
        handle = await support.start(data_dir, database_yaml)
        async with client_session() as session:
            for client in clients:
                client.base_url, client.session = handle.base_url, session
            retried: dict[str, tuple[Worker, str]] = {}
            for worker in workers:
                for txn, body in worker.unanswered:
                    status, data = await worker.client.send_message(room_id, txn, body)
                    assert status == 200, (txn, status, data)
                    retried[data["event_id"]] = (worker, body)
                    # A retransmission now gives the same event.
                    assert await worker.client.send_message(room_id, txn, body) == (200, data)
            after = await clients[1].ok(
                "PUT",
                f"{support.V3}/rooms/{room_id}/send/m.room.message/after-restart",
                {"msgtype": "m.text", "body": "after the restart"},
            )
            yield Outcome(
                clients=clients,
                workers=workers,
                room_id=room_id,
                before_burst=before_burst,
                acked=acked,
                retried=retried,
                after_event_id=after["event_id"],
                timeline=await clients[0].room_messages(room_id),
            )
    finally:
        await support.stop(handle)


def _timeline_of(sync: dict[str, Any], room_id: str) -> dict[str, Any]:
    timeline: dict[str, Any] = sync["rooms"]["join"][room_id]["timeline"]
    assert not timeline.get("limited", False)
    return timeline


async def test_acknowledged_sends_survive_sigkill(outcome: Outcome) -> None:
    # 1. Every acknowledged event is in /messages, with its sender and body.
    by_id = {e["event_id"]: e for e in outcome.messages()}
    missing = [event_id for event_id in outcome.acked if event_id not in by_id]
    assert not missing, f"{len(missing)} acknowledged events lost: {missing[:5]}"
    for event_id, (worker, body) in {**outcome.acked, **outcome.retried}.items():
        assert by_id[event_id]["sender"] == worker.client.user_id
        assert by_id[event_id]["content"]["body"] == body
    # 3. Each sender's acknowledged messages in the order they were acknowledged.
    position = {e["event_id"]: i for i, e in enumerate(outcome.timeline)}
    for worker in outcome.workers:
        order = [position[event_id] for _, event_id, _ in worker.acked]
        assert order == sorted(order), f"{worker.name} reordered"
    # 4. The event sent after the restart is the last one.
    assert outcome.timeline[-1]["event_id"] == outcome.after_event_id

    # 1. ... and in /sync: initial for every member, incremental from before the burst.
    everything = {*outcome.acked, *outcome.retried, outcome.after_event_id}
    for client in outcome.clients:
        ids = [e["event_id"] for e in _timeline_of(await client.sync(), outcome.room_id)["events"]]
        assert everything <= set(ids), f"{client.user_id}: events lost in the initial /sync"
        assert ids[-1] == outcome.after_event_id
    first = outcome.clients[0]
    incremental = _timeline_of(await first.sync(since=outcome.before_burst), outcome.room_id)
    ids = [e["event_id"] for e in incremental["events"]]
    assert everything <= set(ids) <= {e["event_id"] for e in outcome.messages()}
    assert ids[-1] == outcome.after_event_id


async def test_retried_transactions_are_not_duplicated_after_sigkill(outcome: Outcome) -> None:
    # 2. A retried transaction did not make a second event: every body once.
    bodies = [e["content"]["body"] for e in outcome.messages()]
    duplicated = sorted({body for body in bodies if bodies.count(body) > 1})
    assert not duplicated, f"stored twice: {duplicated}"
    assert len(bodies) == len(outcome.acked) + len(outcome.retried) + 1
