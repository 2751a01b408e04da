"""A bounded asyncio HTTP load generator (benchmark harness; no spec section).

``run_load`` sends a fixed number of requests over N concurrent keep-alive connections (aiohttp),
stopping early at a time cap, after a short warm-up that is not measured. It reports throughput,
latency percentiles and the CPU seconds the server (and, with PostgreSQL, its database backends)
used during the measured part, hence requests per server CPU second: the figure that depends
least on the load generator sharing the machine's cores with the server.
"""

import asyncio
import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp

from bench.server import ServerHandle

REQUEST_TIMEOUT = 10.0


@dataclass(frozen=True)
class LoadSpec:
    """One load: ``requests`` requests of ``method path``, at most ``time_cap`` seconds."""

    method: str
    path: str
    concurrency: int = 16
    requests: int = 5000
    time_cap: float = 30.0
    warmup: int = 200
    expect_status: int = 200


@dataclass
class LoadResult:
    completed: int
    errors: int
    elapsed: float
    latencies: list[float]
    server_cpu: float
    database_cpu: float
    client_cpu: float
    statuses: Counter[int] = field(default_factory=Counter)
    first_error: str = ""

    @property
    def throughput(self) -> float:
        """Successful requests per wall-clock second."""
        return self.completed / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def requests_per_cpu_second(self) -> float:
        """Successful requests per CPU second of the server (and its database backends)."""
        cpu = self.server_cpu + self.database_cpu
        return self.completed / cpu if cpu > 0 else math.inf

    def percentile(self, p: float) -> float:
        return percentile(self.latencies, p)


def percentile(values: Sequence[float], p: float) -> float:
    """The nearest-rank ``p``-th percentile (0 < p <= 100) of ``values``; NaN when empty."""
    if not 0 < p <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {p}")
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = math.ceil(p / 100 * len(ordered))
    return ordered[max(rank, 1) - 1]


async def _request(session: aiohttp.ClientSession, method: str, url: str) -> tuple[int | None, str]:
    try:
        async with session.request(method, url) as response:
            await response.read()
            return response.status, ""
    except (aiohttp.ClientError, TimeoutError) as e:
        return None, f"{type(e).__name__}: {e}"


async def run_load(handle: ServerHandle, spec: LoadSpec) -> LoadResult:
    """Load ``handle`` as ``spec`` says and measure it."""
    if spec.concurrency < 1 or spec.requests < 1 or spec.time_cap <= 0:
        raise ValueError(f"bad load spec {spec}")
    url = handle.base_url + spec.path
    connector = aiohttp.TCPConnector(limit=spec.concurrency)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        # Warm-up: open the connections and let caches fill; not measured.
        remaining_warmup = spec.warmup

        async def warm() -> None:
            nonlocal remaining_warmup
            while remaining_warmup > 0:
                remaining_warmup -= 1
                await _request(session, spec.method, url)

        await asyncio.gather(*(warm() for _ in range(spec.concurrency)))

        latencies: list[float] = []
        statuses: Counter[int] = Counter()
        errors = 0
        first_error = ""
        issued = 0
        cpu_before = handle.cpu_seconds()
        db_before = await handle.database_cpu_seconds()
        client_before = time.process_time()
        started = time.perf_counter()
        deadline = started + spec.time_cap

        async def worker() -> None:
            nonlocal issued, errors, first_error
            while issued < spec.requests and time.perf_counter() < deadline:
                issued += 1
                t0 = time.perf_counter()
                status, error = await _request(session, spec.method, url)
                elapsed = time.perf_counter() - t0
                if status is not None:
                    statuses[status] += 1
                if status == spec.expect_status:
                    latencies.append(elapsed)
                else:
                    errors += 1
                    if not first_error:
                        first_error = error or f"status {status}"

        await asyncio.gather(*(worker() for _ in range(spec.concurrency)))
        elapsed = time.perf_counter() - started
        client_cpu = time.process_time() - client_before
        server_cpu = handle.cpu_seconds() - cpu_before
        database_cpu = await handle.database_cpu_seconds() - db_before
    return LoadResult(
        completed=len(latencies),
        errors=errors,
        elapsed=elapsed,
        latencies=latencies,
        server_cpu=server_cpu,
        database_cpu=database_cpu,
        client_cpu=client_cpu,
        statuses=statuses,
        first_error=first_error,
    )
