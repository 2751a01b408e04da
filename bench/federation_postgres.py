"""Federating servers on PostgreSQL for the federation benchmark (benchmark harness;
Server-Server API "Server discovery" step 1: IP literals with an explicit port).

The interop harness (``tests/interop/federation_support.py``) starts both servers on SQLite.
Here the server under test gets a fresh PostgreSQL database of its own instead (``bench.postgres``:
created before it starts, dropped after it stops), with the same federation options, TLS listener
and certificate; the peer Synapse stays on SQLite. The handle's ``database_cpu`` reads the CPU of
the PostgreSQL backends serving that database.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bench import myelin, postgres, synapse
from bench.server import Engine, ServerHandle, free_port, launch
from tests.federation.tls_support import TestCA
from tests.interop.federation_support import (
    _myelin_options,
    _synapse_options,
    _tls_listener,
    free_port_on,
)
from tests.interop.servers import SCRATCH, _open_registration, _synapse_env, start_myelin


async def start_myelin_postgres(
    directory: Path, ip: str, ca: TestCA, engine: Engine
) -> tuple[ServerHandle, str]:
    """Myelin named ``<ip>:<port>`` on the (created) PostgreSQL database ``engine`` names."""
    port = free_port_on(ip)
    name = f"{ip}:{port}"
    await postgres.create_database(engine)
    handle = await start_myelin(
        directory,
        myelin.database_section(engine, directory),
        overrides=_myelin_options(name, ca.issue(ip), ca),
        extra_listeners=[_tls_listener(ip, port)],
    )
    handle.database_cpu = postgres.backend_cpu_probe(engine)
    return handle, name


async def start_synapse_postgres(
    directory: Path, ip: str, ca: TestCA, engine: Engine
) -> tuple[ServerHandle, str]:
    """Synapse named ``<ip>:<port>`` on the (created) PostgreSQL database ``engine`` names."""
    synapse.ensure_installed(SCRATCH)
    tls_port = free_port_on(ip)
    name = f"{ip}:{tls_port}"
    await postgres.create_database(engine)
    port = free_port()
    config_path = synapse.write_config(SCRATCH, directory, port, engine, name)
    _open_registration(
        config_path, _synapse_options(ca.issue(ip), ca), [_tls_listener(ip, tls_port)]
    )
    handle = await launch(
        name="Synapse",
        command=[
            str(synapse.venv_python(SCRATCH)),
            "-m",
            "synapse.app.homeserver",
            "--config-path",
            str(config_path),
        ],
        env=_synapse_env(),
        data_dir=directory,
        log_path=directory / "stdout.log",
        port=port,
        engine=engine,
        database_cpu=postgres.backend_cpu_probe(engine),
    )
    return handle, name


@asynccontextmanager
async def database(prefix: str) -> AsyncIterator[Engine]:
    """A new PostgreSQL database's Engine (the starter creates it); dropped when done."""
    engine = postgres.postgres_engine(prefix)
    try:
        yield engine
    finally:
        await postgres.drop_database(engine)
