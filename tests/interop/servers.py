"""Homeservers for the interop tests: Myelin and Synapse as real processes on 127.0.0.1 (test
harness; no spec section).

Both are started the way the benchmark harness starts them (``bench.server``: own process
group, ``GET /health`` polled, every process killed at exit even on failure), with what a client
library needs: registration open through the ``m.login.dummy`` flow and rate limits lifted.
Synapse comes from PyPI into the benchmark's gitignored scratch venv (installed on first use,
then reused) and always runs on SQLite: it is the reference, not the server under test.
"""

import os
from pathlib import Path
from typing import Any

import yaml

from bench import ratelimits, synapse
from bench.myelin import command as myelin_command
from bench.myelin import write_config as write_myelin_config
from bench.server import Engine, ServerHandle, free_port, launch, stop

REPO = Path(__file__).resolve().parents[2]
SCRATCH = REPO / ".bench"

__all__ = ["ServerHandle", "start_myelin", "start_synapse", "stop"]


def _myelin_config(data_dir: Path, port: int, database_yaml: dict[str, Any]) -> Path:
    """Myelin's generated configuration on ``database_yaml``, registration open, limits off."""
    path = write_myelin_config(data_dir, port, Engine(kind="sqlite"))
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config["database"] = database_yaml
    config["enable_registration"] = True
    config["ratelimiting"] = {"enabled": False}
    config["bcrypt_rounds"] = 4
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


async def start_myelin(data_dir: Path, database_yaml: dict[str, Any]) -> ServerHandle:
    """A fresh Myelin of this checkout on the database ``database_yaml`` names."""
    port = free_port()
    config_path = _myelin_config(data_dir, port, database_yaml)
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


def _open_registration(config_path: Path) -> None:
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    config["enable_registration"] = True
    # Synapse refuses open registration without e-mail/captcha/token unless told so.
    config["enable_registration_without_verification"] = True
    config = ratelimits.lift(config)
    config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


async def start_synapse(data_dir: Path) -> ServerHandle:
    """A fresh Synapse from PyPI on SQLite, installed into the scratch venv when missing."""
    synapse.ensure_installed(SCRATCH)
    port = free_port()
    engine = Engine(kind="sqlite")
    config_path = synapse.write_config(SCRATCH, data_dir, port, engine)
    _open_registration(config_path)
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
