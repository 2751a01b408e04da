"""Homeservers for the interop tests: Myelin and Synapse as real processes on 127.0.0.1 (test
harness; no spec section).

Both are started the way the benchmark harness starts them (``bench.server``: own process
group, ``GET /health`` polled, every process killed at exit even on failure), with what a client
library needs: registration open through the ``m.login.dummy`` flow and rate limits lifted.
Synapse comes from PyPI into the benchmark's gitignored scratch venv (installed on first use,
then reused) and always runs on SQLite: it is the reference, not the server under test.
"""

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from bench import ratelimits, server, synapse
from bench.myelin import command as myelin_command
from bench.server import Engine, ServerHandle, free_port, launch

REPO = Path(__file__).resolve().parents[2]
SCRATCH = REPO / ".bench"
SERVER_NAME = "interop-myelin.test"

# A server gets this long to exit on SIGTERM before its process group is killed. Not longer:
# a client's abandoned 30 s /sync long-poll must not hold every test's teardown.
STOP_GRACE_SECONDS = 5.0

__all__ = ["ServerHandle", "restart", "start_myelin", "start_synapse", "stop"]


async def stop(handle: ServerHandle) -> None:
    """SIGTERM the server, SIGKILL its whole process group after ``STOP_GRACE_SECONDS``."""
    process = handle.process
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            await asyncio.to_thread(process.wait, STOP_GRACE_SECONDS)
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    # bench.server.stop then kills what is left of the process group and forgets the process.
    await server.stop(handle)


def _myelin_config(
    data_dir: Path,
    port: int,
    database_yaml: dict[str, Any],
    overrides: Mapping[str, Any] | None = None,
    extra_listeners: Sequence[Mapping[str, Any]] = (),
) -> Path:
    """A minimal Myelin configuration: loopback listener, registration open, limits off;
    ``overrides`` replace top-level options, ``extra_listeners`` follow the client one."""
    data_dir.mkdir(parents=True, exist_ok=True)
    config: dict[str, Any] = {
        "server_name": SERVER_NAME,
        "listeners": [
            {
                "port": port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "resources": [{"names": ["client", "federation"]}],
            }
        ],
        "database": database_yaml,
        "signing_key_path": str(data_dir / "signing.key"),
        "enable_registration": True,
        "ratelimiting": {"enabled": False},
        "bcrypt_rounds": 4,
    }
    config["listeners"].extend(dict(listener) for listener in extra_listeners)
    config.update(overrides or {})
    path = data_dir / "homeserver.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


async def start_myelin(
    data_dir: Path,
    database_yaml: dict[str, Any],
    *,
    overrides: Mapping[str, Any] | None = None,
    extra_listeners: Sequence[Mapping[str, Any]] = (),
) -> ServerHandle:
    """A fresh Myelin of this checkout on the database ``database_yaml`` names (with the
    options of ``_myelin_config``); ``base_url`` is its plain-HTTP client listener."""
    port = free_port()
    config_path = _myelin_config(data_dir, port, database_yaml, overrides, extra_listeners)
    # The engine only labels the handle; the database is the caller's (tests/conftest.py).
    return await launch(
        name="Myelin",
        command=myelin_command(config_path),
        env=_myelin_env(),
        data_dir=data_dir,
        log_path=data_dir / "myelin.log",
        port=port,
        engine=Engine(kind="postgres" if database_yaml["name"] != "sqlite3" else "sqlite"),
    )


def _myelin_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def _synapse_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return env


def _open_registration(
    config_path: Path,
    overrides: Mapping[str, Any] | None = None,
    extra_listeners: Sequence[Mapping[str, Any]] = (),
) -> None:
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    config["listeners"].extend(dict(listener) for listener in extra_listeners)
    config.update(overrides or {})
    config["enable_registration"] = True
    # Synapse refuses open registration without e-mail/captcha/token unless told so.
    config["enable_registration_without_verification"] = True
    config = ratelimits.lift(config)
    config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


async def start_synapse(
    data_dir: Path,
    *,
    server_name: str = synapse.SERVER_NAME,
    overrides: Mapping[str, Any] | None = None,
    extra_listeners: Sequence[Mapping[str, Any]] = (),
) -> ServerHandle:
    """A fresh Synapse from PyPI on SQLite, installed into the scratch venv when missing;
    ``overrides`` replace top-level options, ``extra_listeners`` follow the plain-HTTP one
    (``base_url``)."""
    synapse.ensure_installed(SCRATCH)
    port = free_port()
    engine = Engine(kind="sqlite")
    config_path = synapse.write_config(SCRATCH, data_dir, port, engine, server_name)
    _open_registration(config_path, overrides, extra_listeners)
    return await launch(
        name="Synapse",
        command=[
            str(synapse.venv_python(SCRATCH)),
            "-m",
            "synapse.app.homeserver",
            "--config-path",
            str(config_path),
        ],
        env=_synapse_env(),
        data_dir=data_dir,
        log_path=data_dir / "stdout.log",
        port=port,
        engine=engine,
    )


async def restart(handle: ServerHandle) -> ServerHandle:
    """Start a stopped server again: the same command, data and client port."""
    port = urlsplit(handle.base_url).port
    assert port is not None
    return await launch(
        name=handle.name,
        command=handle.command,
        env=handle.env,
        data_dir=handle.data_dir,
        log_path=handle.log_path,
        port=port,
        engine=handle.engine,
    )
