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

Run with ``python -m bench.federation`` (a minute or two; ``--engine postgres`` puts the server
under test on a fresh PostgreSQL database, the peer stays on SQLite), or ``python -m bench.run
--with-federation`` after the other figures. Figures are printed, written to
``last-federation-<engine>.json`` in the scratch directory, and into the engine's federation
section of ``bench/RESULTS.md`` (between its own markers; every other section is left alone).
"""

import argparse
import asyncio
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from bench import federation_postgres
from bench import synapse as synapse_install
from bench.load import percentile
from bench.report import (
    ENGINE_TITLES,
    Machine,
    ServerRun,
    comparison_rows,
    machine,
    markdown_table,
    merge_results,
    text_table,
)
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

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "RESULTS.md"
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


async def measure(
    start: Starter, name: str, rounds: int, messages: int, scratch_root: Path = SCRATCH
) -> ServerRun:
    """Start the server under test and a peer Synapse, measure, stop both."""
    with tempfile.TemporaryDirectory(prefix="bench-federation-", dir=scratch_root) as scratch:
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
            database_before = await handle.database_cpu_seconds()
            began = time.perf_counter()
            for index in range(messages):
                last = f"inbound {index} {uuid.uuid4().hex}"
                await remote.send(room_id, last)
            await _seen(local, room_id, last)
            server_cpu = handle.cpu_seconds() - cpu_before
            database_cpu = await handle.database_cpu_seconds() - database_before
            cpu = server_cpu + database_cpu
            wall = time.perf_counter() - began
            note = f"{messages} PDUs, {cpu:.2f} CPU s"
            if handle.engine.kind == "postgres":
                note += f" (server {server_cpu:.2f}, PostgreSQL backends {database_cpu:.2f})"
            figures.append(
                Figure(
                    "inbound PDUs per server CPU second",
                    messages / cpu if cpu > 0 else float("nan"),
                    "PDU/s",
                    False,
                    f"{note}, {wall:.1f} s wall clock",
                )
            )
            return ServerRun(name, handle.version, figures)
        finally:
            for client in clients:
                await client.close()
            if peer is not None:
                await stop(peer)
            await stop(handle)


@dataclass(frozen=True)
class FederationRun:
    """Both servers' federation figures and what the machine was doing meanwhile."""

    myelin: ServerRun
    synapse: ServerRun
    engine: str
    when: str
    rounds: int
    messages: int
    load_before: float
    load_after: float


async def _measure_on(
    engine: str, kind: str, rounds: int, messages: int, scratch: Path
) -> ServerRun:
    """One server under test, on a fresh database of ``engine`` (the peer is always SQLite)."""
    name = "Myelin" if kind == "myelin" else "Synapse"
    if engine == "sqlite":
        starter = start_federating_myelin if kind == "myelin" else start_federating_synapse
        return await measure(starter, name, rounds, messages, scratch)
    async with federation_postgres.database(f"bench_federation_{kind}") as database:
        start_postgres = (
            federation_postgres.start_myelin_postgres
            if kind == "myelin"
            else federation_postgres.start_synapse_postgres
        )

        async def starter_pg(directory: Path, ip: str, ca: TestCA) -> tuple[ServerHandle, str]:
            return await start_postgres(directory, ip, ca, database)

        return await measure(starter_pg, name, rounds, messages, scratch)


async def run_federation(
    scratch: Path, rounds: int, messages: int, engine: str = "sqlite"
) -> FederationRun:
    """Myelin, then Synapse, each on ``engine`` federating with a peer Synapse (SQLite)."""
    synapse_version = synapse_install.ensure_installed(SCRATCH)
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load_before = os.getloadavg()[0]
    myelin = await _measure_on(engine, "myelin", rounds, messages, scratch)
    synapse = await _measure_on(engine, "synapse", rounds, messages, scratch)
    # Synapse's own version string names the git commit of this checkout (see bench.run).
    synapse.version = f"Synapse {synapse_version}"
    return FederationRun(
        myelin, synapse, engine, when, rounds, messages, load_before, os.getloadavg()[0]
    )


def section_key(engine: str) -> str:
    """The RESULTS.md marker name of the federation section of ``engine``."""
    return "federation" if engine == "sqlite" else f"federation-{engine}"


def federation_section(run: FederationRun, host: Machine, commit: str, note: str = "") -> str:
    """The Markdown section of RESULTS.md for one federation run (between its markers)."""
    lines = [
        f"## Federation ({ENGINE_TITLES.get(run.engine, run.engine)}, peer Synapse on SQLite)",
        "",
        f"- Date: {run.when}; `python -m bench.federation --engine {run.engine}` (or `make bench"
        f" BENCH_ARGS='--engine {run.engine} --with-federation'`)",
        f"- Machine: {host.cores} cores, {host.cpu_model}, {host.memory_gib:.0f} GiB;"
        f" {host.kernel}; Python {host.python}; 1-minute load average {run.load_before:.1f}"
        f" before the run, {run.load_after:.1f} after",
        f"- Servers under test: {run.myelin.version} (commit {commit}); {run.synapse.version}."
        f" The peer is {run.synapse.version} on SQLite in both runs.",
        f"- {run.rounds} latency rounds each way; {run.messages} PDUs for the inbound figure;"
        f" the server under test on {ENGINE_TITLES.get(run.engine, run.engine)} (a fresh"
        " database), the peer on SQLite; federation over TLS on loopback (127.0.0.2,"
        " 127.0.0.3).",
        "",
        markdown_table(comparison_rows(run.myelin, run.synapse)),
        "",
        "Notes:",
        "",
    ]
    lines += [
        f"- {server.name}, {figure.name}: {figure.note}"
        for server in (run.myelin, run.synapse)
        for figure in server.figures
        if figure.note and not figure.name.endswith("p90")
    ]
    lines += [
        "- Both latencies include the peer Synapse's work (it sends or receives in every"
        " round); the difference between the two servers' rows is what the server under test"
        " adds. The inbound figure counts the server under test's CPU alone (its process tree,"
        " plus its PostgreSQL backends on PostgreSQL), its client's `/sync` included.",
        f"- {host.cores} cores shared by the server under test, the peer Synapse, the clients"
        " and whatever else runs on the machine; one run, no repetitions: ratios of a few"
        " percent mean nothing.",
    ]
    if note:
        lines.append(f"- {note}")
    return "\n".join(lines) + "\n"


async def main_async(args: argparse.Namespace) -> int:
    scratch: Path = args.scratch
    commit = git_commit()  # before: the servers run the code of this commit
    run = await run_federation(scratch, args.rounds, args.messages, args.engine)
    print(f"Myelin: {run.myelin.version}; Synapse: {run.synapse.version}; peer: Synapse, SQLite")
    print(text_table(comparison_rows(run.myelin, run.synapse)))
    save_json(scratch, run)
    if args.results is not None:
        write_results(
            args.results, run.engine, federation_section(run, machine(), commit, args.note)
        )
        print(f"bench: wrote {args.results}", file=sys.stderr)
    return 0


def save_json(scratch: Path, run: FederationRun) -> None:
    """The raw figures, as ``last-federation-<engine>.json`` in ``scratch``."""
    record = {
        "date": run.when,
        "engine": run.engine,
        "load_average": [run.load_before, run.load_after],
        **{
            server.name: {"version": server.version, "figures": [vars(f) for f in server.figures]}
            for server in (run.myelin, run.synapse)
        },
    }
    path = scratch / f"last-federation-{run.engine}.json"
    path.write_text(json.dumps(record, indent=2), encoding="utf-8")


def write_results(path: Path, engine: str, section: str) -> None:
    """Replace (or add) the federation section of ``engine`` in ``path``, leaving every other
    section alone."""
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    path.write_text(merge_results(existing, section_key(engine), section), encoding="utf-8")


def git_commit() -> str:
    """The short commit of this checkout, or ``unknown``."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, check=True, capture_output=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.decode().strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--engine",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="the server under test's database (the peer Synapse is always on SQLite)",
    )
    parser.add_argument("--rounds", type=int, default=30, help="latency rounds per direction")
    parser.add_argument("--messages", type=int, default=300, help="PDUs sent to the server")
    parser.add_argument(
        "--scratch",
        type=Path,
        default=SCRATCH,
        help="directory for the servers' data and last-federation-<engine>.json (Synapse's venv"
        " stays in the default one)",
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="the Markdown file to update")
    parser.add_argument(
        "--no-results",
        dest="results",
        action="store_const",
        const=None,
        help="print only; leave RESULTS.md alone",
    )
    parser.add_argument("--note", default="", help="a caveat added to the section's notes")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.messages < 1:
        parser.error("--rounds and --messages must be at least 1")
    args.scratch = args.scratch.resolve()
    args.scratch.mkdir(parents=True, exist_ok=True)
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
