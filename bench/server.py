"""A homeserver process under benchmark: start, wait for health, measure, stop (benchmark harness;
no spec section; ``GET /health`` is Synapse's health check, which Myelin serves too).

Every process started here is registered so that it is killed when the harness exits, on error
and on SIGTERM/SIGINT as well.
"""

import asyncio
import atexit
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench import measure

HEALTH_TIMEOUT = 180.0
STOP_TIMEOUT = 30.0

_live: set[subprocess.Popen[bytes]] = set()


def _kill_all() -> None:
    for process in list(_live):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
        _live.discard(process)


atexit.register(_kill_all)


class ServerError(Exception):
    """A server failed to start or to answer."""


@dataclass(frozen=True)
class Engine:
    """The database a server runs on: SQLite, or one PostgreSQL database of its own."""

    kind: str  # "sqlite" or "postgres"
    pg_host: str = "127.0.0.1"
    pg_port: int = 5432
    pg_user: str = "postgres"
    pg_database: str = ""


# Extra CPU accounting (PostgreSQL backends serving the server): a callable giving CPU seconds.
CpuProbe = Callable[[], Awaitable[float]]


@dataclass
class ServerHandle:
    """A running homeserver: what scenarios get."""

    name: str
    base_url: str
    process: subprocess.Popen[bytes]
    data_dir: Path
    log_path: Path
    command: Sequence[str]
    env: dict[str, str]
    engine: Engine
    startup_seconds: float = 0.0
    version: str = ""
    database_cpu: CpuProbe | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        """CPU seconds used so far by the server process and its children."""
        return measure.tree_cpu_seconds(self.pid)

    async def database_cpu_seconds(self) -> float:
        """CPU seconds used so far by the database processes serving it (0 for SQLite)."""
        return 0.0 if self.database_cpu is None else await self.database_cpu()

    def memory(self) -> measure.MemorySample:
        return measure.tree_memory(self.pid)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def spawn(
    command: Sequence[str], env: dict[str, str], cwd: Path, log_path: Path
) -> tuple[subprocess.Popen[bytes], float]:
    """Start ``command`` in its own process group, output to ``log_path``; the start time."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        started = time.perf_counter()
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _live.add(process)
    return process, started


async def wait_healthy(handle: ServerHandle, started: float) -> float:
    """Poll ``GET /health`` until it answers 200; seconds from ``started`` (process spawn)."""
    deadline = started + HEALTH_TIMEOUT
    timeout = aiohttp.ClientTimeout(total=2)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while time.perf_counter() < deadline:
            if handle.process.poll() is not None:
                raise ServerError(
                    f"{handle.name} exited with status {handle.process.returncode} while"
                    f" starting; end of {handle.log_path}:\n{log_tail(handle.log_path)}"
                )
            try:
                async with session.get(handle.base_url + "/health") as response:
                    await response.read()
                    if response.status == 200:
                        return time.perf_counter() - started
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.02)
    raise ServerError(
        f"{handle.name} did not become healthy within {HEALTH_TIMEOUT:.0f} s; end of"
        f" {handle.log_path}:\n{log_tail(handle.log_path)}"
    )


async def fetch_version(handle: ServerHandle) -> str:
    """``name version`` from GET /_matrix/federation/v1/version."""
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
        session.get(handle.base_url + "/_matrix/federation/v1/version") as response,
    ):
        body = await response.json()
    server = body.get("server", {}) if isinstance(body, dict) else {}
    return f"{server.get('name', handle.name)} {server.get('version', '?')}"


async def launch(
    *,
    name: str,
    command: Sequence[str],
    env: dict[str, str],
    data_dir: Path,
    log_path: Path,
    port: int,
    engine: Engine,
    database_cpu: CpuProbe | None = None,
) -> ServerHandle:
    """Spawn a server, wait until it is healthy and record its startup time and version."""
    process, started = spawn(command, env, data_dir, log_path)
    handle = ServerHandle(
        name=name,
        base_url=f"http://127.0.0.1:{port}",
        process=process,
        data_dir=data_dir,
        log_path=log_path,
        command=command,
        env=env,
        engine=engine,
        database_cpu=database_cpu,
    )
    try:
        handle.startup_seconds = await wait_healthy(handle, started)
        handle.version = await fetch_version(handle)
    except BaseException:
        await stop(handle)
        raise
    return handle


async def stop(handle: ServerHandle) -> float:
    """SIGTERM the server, wait for it to exit (SIGKILL after STOP_TIMEOUT); seconds taken."""
    process = handle.process
    began = time.perf_counter()
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(process.wait, STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            handle.notes.append(f"did not stop within {STOP_TIMEOUT:.0f} s of SIGTERM; killed")
    elapsed = time.perf_counter() - began
    # Whatever is left of its process group goes too.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)
    _live.discard(process)
    return elapsed
