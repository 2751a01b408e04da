"""Benchmark scenarios: what is measured on a running server (benchmark harness; endpoints from
the Server-Server API, "Publishing Keys" and "Server implementation", and Synapse's /health).

A scenario is an async function taking a ServerHandle and the options and returning Figures; the
runner calls every scenario in ``SCENARIOS`` on each server in turn and pairs the figures by name.
To add one, write such a function and append it to ``SCENARIOS`` (a scenario that needs set-up,
such as users or rooms, does it through the server's HTTP API itself).
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bench.load import LoadSpec, run_load
from bench.server import ServerHandle

MIB = 1024 * 1024


@dataclass(frozen=True)
class Figure:
    """One measured number; ``lower_is_better`` decides how the ratio reads."""

    name: str
    value: float
    unit: str
    lower_is_better: bool
    note: str = ""


@dataclass(frozen=True)
class BenchOptions:
    concurrency: int = 16
    requests: int = 20000
    time_cap: float = 30.0
    warmup: int = 200
    idle_seconds: float = 5.0
    # The messaging scenarios (bench/messaging.py).
    senders: int = 16
    messages: int = 3000
    sync_rounds: int = 200
    many_rooms: int = 200
    messages_per_room: int = 3
    sync_repeats: int = 5
    # The media scenario (bench/media.py): the size of the file moved, in MiB.
    media_mib: int = 48


Scenario = Callable[[ServerHandle, BenchOptions], Awaitable[list[Figure]]]


def load_scenario(method: str, path: str, label: str | None = None) -> Scenario:
    """A scenario loading ``method path`` and reporting throughput, latency and CPU cost."""
    title = label or f"{method} {path}"

    async def scenario(handle: ServerHandle, options: BenchOptions) -> list[Figure]:
        result = await run_load(
            handle,
            LoadSpec(
                method=method,
                path=path,
                concurrency=options.concurrency,
                requests=options.requests,
                time_cap=options.time_cap,
                warmup=options.warmup,
            ),
        )
        note = f"{result.completed} ok in {result.elapsed:.1f} s"
        if result.errors:
            note += f"; {result.errors} failed, first: {result.first_error}"
        figures = [
            Figure(f"{title}: throughput", result.throughput, "req/s", False, note),
            Figure(f"{title}: latency p50", result.percentile(50) * 1000, "ms", True),
            Figure(f"{title}: latency p90", result.percentile(90) * 1000, "ms", True),
            Figure(f"{title}: latency p99", result.percentile(99) * 1000, "ms", True),
            Figure(
                f"{title}: requests per server CPU second",
                result.requests_per_cpu_second,
                "req/CPU-s",
                False,
                f"server {result.server_cpu:.2f} CPU-s"
                + (f" + database {result.database_cpu:.2f}" if result.database_cpu else "")
                + f"; load generator {result.client_cpu:.2f} CPU-s",
            ),
            Figure(f"{title}: failed requests", float(result.errors), "", True),
        ]
        return figures

    scenario.__name__ = f"load {title}"
    return scenario


async def memory_after_load(handle: ServerHandle, options: BenchOptions) -> list[Figure]:
    """Memory once the loads above are over: what the server kept, and its peak."""
    memory = handle.memory()
    return [
        Figure("memory after load: RSS", memory.rss / MIB, "MiB", True),
        Figure("memory after load: PSS", memory.pss / MIB, "MiB", True),
        Figure("memory after load: peak RSS", memory.peak_rss / MIB, "MiB", True),
    ]


SCENARIOS: list[Scenario] = [
    load_scenario("GET", "/health"),
    load_scenario("GET", "/_matrix/federation/v1/version"),
    load_scenario("GET", "/_matrix/key/v2/server"),
    memory_after_load,
]
