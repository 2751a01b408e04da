"""Federation benchmark: Myelin beside Synapse, each federating with a peer Synapse (benchmark
harness; Server-Server API "Transactions").

The server under test (Myelin, then Synapse) and a peer Synapse run on loopback, each named by an
IP literal with a port and serving federation over TLS with a certificate from a test CA
(``tests/interop/federation_support.py``, the interop tests' harness). A user of the server
under test creates a room; a user of the peer joins it. Then:

- **federation latency, send on it to seen on the peer** (p50, p90): the peer's client
  long-polls ``/sync``; the time from the send request leaving until that ``/sync`` carries the
  event, over ``--rounds`` rounds. **seen on it, sent on the peer**: the other way round.
- **inbound PDUs per server CPU second**: the peer's user sends ``--messages`` messages one
  after the other; the server under test's CPU seconds (its process tree) from the first send
  until its own client has seen the last message; PDUs received divided by that.

Run with ``python -m bench.federation`` (SQLite only; a minute or two). Figures are printed and
written to ``.bench/last-federation.json``.
"""

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench.load import percentile
from bench.report import ServerRun, comparison_rows, text_table
from bench.scenarios import Figure
from bench.server import ServerHandle
from tests.federation.tls_support import TestCA
from tests.interop.federation_support import (
    SYNAPSE_IP,
    MatrixClient,
    is_message,
    start_federating_myelin,
    start_federating_synapse,
)
from tests.interop.servers import SCRATCH, stop

UNDER_TEST_IP = "127.0.0.2"
LONG_POLL_MS = 30_000
CROSSING_TIMEOUT = 60.0

Starter = Callable[[Path, str, TestCA], Awaitable[tuple[ServerHandle, str]]]


async def _seen(client: MatrixClient, room_id: str, body: str) -> None:
    """Long-poll ``/sync`` until the message ``body`` is in the room's timeline."""
    deadline = time.monotonic() + CROSSING_TIMEOUT
    while time.monotonic() < deadline:
        answer = await client.sync_once(timeout_ms=LONG_POLL_MS)
        room = answer.get("rooms", {}).get("join", {}).get(room_id, {})
        if any(is_message(body)(e) for e in room.get("timeline", {}).get("events", [])):
            return
    raise TimeoutError(f"{client.user_id} did not see {body!r}")


async def _latencies(
    sender: MatrixClient, receiver: MatrixClient, room_id: str, rounds: int
) -> list[float]:
    await receiver.sync_once(timeout_ms=0)
    found: list[float] = []
    for index in range(rounds):
        body = f"latency {index} {uuid.uuid4().hex}"
        waiting = asyncio.create_task(_seen(receiver, room_id, body))
        await asyncio.sleep(0.05)  # the long-poll parks first
        began = time.perf_counter()
        await sender.send(room_id, body)
        await waiting
        found.append((time.perf_counter() - began) * 1000)
    return found


def _latency_figures(label: str, values: list[float]) -> list[Figure]:
    note = f"{len(values)} rounds, mean {statistics.fmean(values):.1f} ms"
    return [
        Figure(f"{label} p50", percentile(values, 50), "ms", True, note),
        Figure(f"{label} p90", percentile(values, 90), "ms", True, note),
    ]


async def measure(start: Starter, name: str, rounds: int, messages: int) -> ServerRun:
    """Start the server under test and a peer Synapse, measure, stop both."""
    with tempfile.TemporaryDirectory(prefix="bench-federation-", dir=SCRATCH) as scratch:
        directory = Path(scratch)
        ca = TestCA(directory)
        handle, server_name = await start(directory / "under-test", UNDER_TEST_IP, ca)
        peer: ServerHandle | None = None
        clients: list[MatrixClient] = []
        try:
            peer, _ = await start_federating_synapse(directory / "peer", SYNAPSE_IP, ca)
            peer_url = peer.base_url
            local = MatrixClient(lambda: handle.base_url)
            remote = MatrixClient(lambda: peer_url)
            clients += [local, remote]
            await local.register(f"local{uuid.uuid4().hex[:8]}")
            await remote.register(f"remote{uuid.uuid4().hex[:8]}")
            room_id = await local.create_room(preset="public_chat")
            await remote.join(room_id, via=server_name)
            await local.sync_once(timeout_ms=0)
            figures = _latency_figures(
                "federation latency, send on it to seen on the peer",
                await _latencies(local, remote, room_id, rounds),
            )
            figures += _latency_figures(
                "federation latency, sent on the peer to seen on it",
                await _latencies(remote, local, room_id, rounds),
            )
            await local.sync_once(timeout_ms=0)
            last = ""
            cpu_before = handle.cpu_seconds()
            began = time.perf_counter()
            for index in range(messages):
                last = f"inbound {index} {uuid.uuid4().hex}"
                await remote.send(room_id, last)
            await _seen(local, room_id, last)
            cpu = handle.cpu_seconds() - cpu_before
            wall = time.perf_counter() - began
            figures.append(
                Figure(
                    "inbound PDUs per server CPU second",
                    messages / cpu if cpu > 0 else float("nan"),
                    "PDU/s",
                    False,
                    f"{messages} PDUs, {cpu:.2f} CPU s, {wall:.1f} s wall clock",
                )
            )
            return ServerRun(name, handle.version, figures)
        finally:
            for client in clients:
                await client.close()
            if peer is not None:
                await stop(peer)
            await stop(handle)


async def main_async(args: argparse.Namespace) -> int:
    SCRATCH.mkdir(parents=True, exist_ok=True)
    myelin = await measure(start_federating_myelin, "Myelin", args.rounds, args.messages)
    synapse = await measure(start_federating_synapse, "Synapse", args.rounds, args.messages)
    print(f"Myelin: {myelin.version}; Synapse: {synapse.version}; peer: Synapse on SQLite")
    print(text_table(comparison_rows(myelin, synapse)))
    record = {
        run.name: {"version": run.version, "figures": [vars(f) for f in run.figures]}
        for run in (myelin, synapse)
    }
    (SCRATCH / "last-federation.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=30, help="latency rounds per direction")
    parser.add_argument("--messages", type=int, default=300, help="PDUs sent to the server")
    return asyncio.run(main_async(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
