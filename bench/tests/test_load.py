"""Tests of bench.server and bench.load against a small real HTTP server in a subprocess."""

import math
import signal
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bench import load, server
from bench.load import LoadSpec, percentile, run_load

TOY_SERVER = textwrap.dedent(
    """
    import sys, time
    from aiohttp import web

    async def health(request):
        return web.Response(text="OK")

    async def version(request):
        return web.json_response({"server": {"name": "Toy", "version": "1.2"}})

    async def slow(request):
        time.sleep(0.002)  # CPU-free wait that still holds the (single) event loop
        t = time.process_time() + 0.001
        while time.process_time() < t:
            pass
        return web.Response(text="slow")

    async def fail(request):
        return web.Response(status=500)

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_get("/_matrix/federation/v1/version", version)
    app.router.add_get("/slow", slow)
    app.router.add_get("/fail", fail)
    time.sleep(0.2)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
    """
)


@pytest.fixture
async def toy(tmp_path: Path) -> AsyncIterator[server.ServerHandle]:
    port = server.free_port()
    handle = await server.launch(
        name="Toy",
        command=[sys.executable, "-c", TOY_SERVER, str(port)],
        env={},
        data_dir=tmp_path,
        log_path=tmp_path / "toy.log",
        port=port,
        engine=server.Engine("sqlite"),
    )
    yield handle
    await server.stop(handle)


async def test_launch_waits_for_health_and_reads_version(toy: server.ServerHandle) -> None:
    assert toy.startup_seconds >= 0.2
    assert toy.version == "Toy 1.2"
    assert toy.memory().rss > 0


async def test_stop_terminates_and_forgets_the_process(toy: server.ServerHandle) -> None:
    elapsed = await server.stop(toy)
    assert toy.process.returncode is not None
    assert elapsed < server.STOP_TIMEOUT
    assert toy.process not in server._live


async def test_launch_reports_a_server_that_dies(tmp_path: Path) -> None:
    with pytest.raises(server.ServerError, match="exited with status 3"):
        await server.launch(
            name="Dead",
            command=[sys.executable, "-c", "print('boom'); raise SystemExit(3)"],
            env={},
            data_dir=tmp_path,
            log_path=tmp_path / "dead.log",
            port=server.free_port(),
            engine=server.Engine("sqlite"),
        )


async def test_load_counts_requests_and_server_cpu(toy: server.ServerHandle) -> None:
    result = await run_load(
        toy, LoadSpec("GET", "/slow", concurrency=4, requests=300, time_cap=30, warmup=10)
    )
    assert result.completed == 300
    assert result.errors == 0
    assert result.statuses == {200: 300}
    # Each request burns at least 1 ms of server CPU and waits at least 2 ms.
    assert result.server_cpu >= 0.25
    assert result.percentile(50) >= 0.002
    assert result.requests_per_cpu_second <= 300 / 0.25
    assert result.throughput == pytest.approx(300 / result.elapsed)


async def test_load_counts_failures(toy: server.ServerHandle) -> None:
    result = await run_load(toy, LoadSpec("GET", "/fail", concurrency=2, requests=20, warmup=0))
    assert result.completed == 0
    assert result.errors == 20
    assert result.first_error == "status 500"
    assert math.isnan(result.percentile(99))


async def test_load_stops_at_the_time_cap(toy: server.ServerHandle) -> None:
    result = await run_load(
        toy, LoadSpec("GET", "/slow", concurrency=1, requests=100_000, time_cap=0.3, warmup=0)
    )
    assert 0 < result.completed < 100_000
    assert result.elapsed < 0.3 + load.REQUEST_TIMEOUT


async def test_connection_errors_are_failures(toy: server.ServerHandle) -> None:
    toy.process.send_signal(signal.SIGKILL)
    toy.process.wait()
    result = await run_load(toy, LoadSpec("GET", "/health", concurrency=2, requests=5, warmup=0))
    assert result.errors == 5
    assert "ClientConnectorError" in result.first_error


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50
    assert percentile(values, 90) == 90
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile([7.0], 1) == 7.0
    with pytest.raises(ValueError):
        percentile(values, 0)
