"""Synapse, the baseline: installed from PyPI into its own venv, configured for loopback only
(benchmark harness; no spec section).

``ensure_installed`` makes ``<scratch>/synapse-venv`` once and reuses it while it satisfies
``REQUIREMENT``. ``patch_config`` turns the output of ``--generate-config`` into a benchmark
deployment that never contacts another address than 127.0.0.1: one plain-HTTP listener on
127.0.0.1, no trusted key servers (Synapse's default is matrix.org), no stats reporting, no URL
previews, a federation whitelist that is empty (no server is federated with), no metrics
listener, and every rate limit lifted.
"""

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from bench import postgres, ratelimits
from bench.server import Engine, ServerHandle, launch

REQUIREMENT = "matrix-synapse[postgres]>=1.163,<2"
SERVER_NAME = "bench-synapse.test"
INSTALLED_MARKER = ".bench-installed"

# Every rate limiter Synapse reads as {per_second, burst_count} (synapse/config/ratelimiting.py),
# as dotted paths. All are lifted as a benchmark deployment would.
_RATE_LIMITS = (
    "rc_message",
    "rc_registration",
    "rc_registration_token_validity",
    "rc_login.address",
    "rc_login.account",
    "rc_login.failed_attempts",
    "rc_admin_redaction",
    "rc_joins.local",
    "rc_joins.remote",
    "rc_joins_per_room",
    "rc_key_requests",
    "rc_3pid_validation",
    "rc_invites.per_room",
    "rc_invites.per_user",
    "rc_invites.per_issuer",
    "rc_third_party_invite",
    "rc_media_create",
    "rc_presence.per_user",
    "rc_delayed_event_mgmt",
    "rc_room_creation",
    "rc_reports",
    "rc_user_directory",
    "rc_profile",
)


def venv_python(scratch: Path) -> Path:
    return scratch / "synapse-venv" / "bin" / "python"


def ensure_installed(scratch: Path) -> str:
    """Install Synapse into ``<scratch>/synapse-venv`` unless already there; its version."""
    venv = scratch / "synapse-venv"
    python = venv_python(scratch)
    marker = venv / INSTALLED_MARKER
    if not (marker.exists() and marker.read_text(encoding="utf-8") == REQUIREMENT):
        if not python.exists():
            print(f"bench: creating {venv}", file=sys.stderr)
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        print(f"bench: installing {REQUIREMENT} (once; cached in {venv})", file=sys.stderr)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", REQUIREMENT],
            check=True,
        )
        marker.write_text(REQUIREMENT, encoding="utf-8")
    # The package's own version: synapse.__version__ appends the git commit of whatever
    # repository its directory lies in, here Myelin's checkout.
    version = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('matrix-synapse'))"],
        check=True,
        capture_output=True,
    ).stdout.decode()
    return version.strip()


def database_section(engine: Engine, data_dir: Path) -> dict[str, Any]:
    if engine.kind == "postgres":
        return {
            "name": "psycopg2",
            "args": {
                "user": engine.pg_user,
                "database": engine.pg_database,
                "host": engine.pg_host,
                "port": engine.pg_port,
                "cp_min": 5,
                "cp_max": 10,
            },
        }
    return {"name": "sqlite3", "args": {"database": str(data_dir / "homeserver.db")}}


def patch_config(
    config: dict[str, Any], port: int, engine: Engine, data_dir: Path, log_config: Path
) -> dict[str, Any]:
    """The generated configuration made into a loopback-only benchmark deployment."""
    patched = copy.deepcopy(config)
    patched["listeners"] = [
        {
            "port": port,
            "bind_addresses": ["127.0.0.1"],
            "type": "http",
            "tls": False,
            "x_forwarded": True,
            "resources": [{"names": ["client", "federation"], "compress": False}],
        }
    ]
    patched["database"] = database_section(engine, data_dir)
    patched["pid_file"] = str(data_dir / "homeserver.pid")
    patched["media_store_path"] = str(data_dir / "media_store")
    patched["log_config"] = str(log_config)
    # Nothing but loopback: no notary (default matrix.org), no phone-home stats, no URL
    # previews, no federation with any server, no metrics.
    patched["trusted_key_servers"] = []
    patched["suppress_key_server_warning"] = True
    patched["report_stats"] = False
    patched["url_preview_enabled"] = False
    patched["federation_domain_whitelist"] = []
    patched["enable_metrics"] = False
    patched["enable_registration"] = False
    return ratelimits.lift(patched, _RATE_LIMITS)


def patch_log_config(log_config: dict[str, Any], log_file: Path) -> dict[str, Any]:
    """The generated log configuration writing to ``log_file`` (it names a relative path)."""
    patched = copy.deepcopy(log_config)
    handlers = dict(patched.get("handlers", {}))
    file_handler = dict(handlers.get("file", {}))
    file_handler["filename"] = str(log_file)
    handlers["file"] = file_handler
    patched["handlers"] = handlers
    return patched


def write_config(
    scratch: Path, data_dir: Path, port: int, engine: Engine, server_name: str = SERVER_NAME
) -> Path:
    """Run ``--generate-config`` in ``data_dir`` and patch its output; the config path."""
    data_dir.mkdir(parents=True, exist_ok=True)
    config_path = data_dir / "homeserver.yaml"
    subprocess.run(
        [
            str(venv_python(scratch)),
            "-m",
            "synapse.app.homeserver",
            "--server-name",
            server_name,
            "--config-path",
            str(config_path),
            "--generate-config",
            "--report-stats=no",
            "--data-directory",
            str(data_dir),
        ],
        check=True,
        capture_output=True,
        cwd=data_dir,
    )
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    log_config_path = Path(config["log_config"])
    log_config = yaml.safe_load(log_config_path.read_text(encoding="utf-8"))
    log_config_path.write_text(
        yaml.safe_dump(patch_log_config(log_config, data_dir / "homeserver.log")),
        encoding="utf-8",
    )
    patched = patch_config(config, port, engine, data_dir, log_config_path)
    config_path.write_text(yaml.safe_dump(patched, sort_keys=False), encoding="utf-8")
    return config_path


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return env


async def start(
    scratch: Path, data_dir: Path, port: int, engine: Engine, *, fresh: bool
) -> ServerHandle:
    """Start Synapse on ``data_dir`` (a new configuration and database when ``fresh``)."""
    config_path = data_dir / "homeserver.yaml"
    if fresh:
        if engine.kind == "postgres":
            await postgres.create_database(engine)
        config_path = write_config(scratch, data_dir, port, engine)
    return await launch(
        name="Synapse",
        command=[
            str(venv_python(scratch)),
            "-m",
            "synapse.app.homeserver",
            "--config-path",
            str(config_path),
        ],
        env=_env(),
        data_dir=data_dir,
        log_path=data_dir / "stdout.log",
        port=port,
        engine=engine,
        database_cpu=postgres.backend_cpu_probe(engine) if engine.kind == "postgres" else None,
    )
