"""Myelin under benchmark: configure and start it from this checkout (benchmark harness; no spec
section).

The configuration comes from ``myelin generate-config`` (loopback listener serving client and
federation resources), with the ``database:`` section replaced for PostgreSQL and every ``rc_*``
rate limit it lists lifted, as for Synapse.
"""

import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from bench import postgres, ratelimits
from bench.server import Engine, ServerHandle, launch

REPO = Path(__file__).resolve().parents[1]
SERVER_NAME = "bench-myelin.test"


def database_section(engine: Engine, data_dir: Path) -> dict[str, Any]:
    if engine.kind == "postgres":
        return {
            "name": "psycopg2",
            "args": {
                "database": engine.pg_database,
                "user": engine.pg_user,
                "host": engine.pg_host,
                "port": engine.pg_port,
                "cp_min": 5,
                "cp_max": 10,
            },
        }
    return {"name": "sqlite3", "args": {"database": str(data_dir / "homeserver.db")}}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def write_config(data_dir: Path, port: int, engine: Engine) -> Path:
    """Generate ``homeserver.yaml`` in ``data_dir`` with the CLI of this checkout."""
    data_dir.mkdir(parents=True, exist_ok=True)
    generated = subprocess.run(
        [
            sys.executable,
            "-m",
            "myelin",
            "generate-config",
            "--server-name",
            SERVER_NAME,
            "--data-dir",
            str(data_dir),
            "--port",
            str(port),
        ],
        check=True,
        capture_output=True,
        env=_env(),
        cwd=data_dir,
    ).stdout.decode()
    config = yaml.safe_load(generated)
    config = ratelimits.lift(config)
    config["database"] = database_section(engine, data_dir)
    # The messaging scenarios register their users through shared-secret registration, as they
    # do on Synapse (whose generated configuration has a secret already).
    config.setdefault("registration_shared_secret", secrets.token_hex(32))
    for listener in config["listeners"]:
        listener["bind_addresses"] = ["127.0.0.1"]
    path = data_dir / "homeserver.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def command(config_path: Path) -> list[str]:
    return [sys.executable, "-m", "myelin", "run", "--config", str(config_path)]


async def start(data_dir: Path, port: int, engine: Engine, *, fresh: bool) -> ServerHandle:
    """Start Myelin on ``data_dir`` (a new configuration and database when ``fresh``)."""
    config_path = data_dir / "homeserver.yaml"
    if fresh:
        if engine.kind == "postgres":
            await postgres.create_database(engine)
        config_path = write_config(data_dir, port, engine)
    return await launch(
        name="Myelin",
        command=command(config_path),
        env=_env(),
        data_dir=data_dir,
        log_path=data_dir / "myelin.log",
        port=port,
        engine=engine,
        database_cpu=postgres.backend_cpu_probe(engine) if engine.kind == "postgres" else None,
    )
