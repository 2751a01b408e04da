"""A fresh PostgreSQL database per server under benchmark (benchmark harness; no spec section).

The server is reached on loopback: ``BENCH_POSTGRES_HOST`` (127.0.0.1), ``BENCH_POSTGRES_PORT``
(5432), ``BENCH_POSTGRES_USER`` (postgres, trust authentication). Databases are created with the
C collation and UTF8 encoding, which Synapse requires, and dropped afterwards.
"""

import os
import re
import uuid

import asyncpg

from bench import measure
from bench.server import CpuProbe, Engine

_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


def postgres_engine(prefix: str) -> Engine:
    """An Engine naming a new, not yet created database ``<prefix>_<random>``."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    if not _NAME.match(name):
        raise ValueError(f"bad database name {name!r}")
    return Engine(
        kind="postgres",
        pg_host=os.environ.get("BENCH_POSTGRES_HOST", "127.0.0.1"),
        pg_port=int(os.environ.get("BENCH_POSTGRES_PORT", "5432")),
        pg_user=os.environ.get("BENCH_POSTGRES_USER", "postgres"),
        pg_database=name,
    )


async def _admin(engine: Engine) -> asyncpg.Connection:
    return await asyncpg.connect(
        host=engine.pg_host, port=engine.pg_port, user=engine.pg_user, database="postgres"
    )


async def create_database(engine: Engine) -> None:
    conn = await _admin(engine)
    try:
        # The name is checked against _NAME above; identifiers cannot be bound parameters.
        await conn.execute(
            f"CREATE DATABASE \"{engine.pg_database}\" ENCODING 'UTF8'"
            " LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
        )
    finally:
        await conn.close()


async def drop_database(engine: Engine) -> None:
    conn = await _admin(engine)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{engine.pg_database}" WITH (FORCE)')
    finally:
        await conn.close()


def backend_cpu_probe(engine: Engine) -> CpuProbe:
    """CPU seconds used so far by the PostgreSQL backends connected to the engine's database.

    Only works when PostgreSQL runs on this machine (its processes are read from /proc); a backend
    that exits between two readings takes its CPU time with it, so pooled connections (which live
    as long as the server) are what this measures well.
    """

    async def probe() -> float:
        conn = await _admin(engine)
        try:
            rows = await conn.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = $1", engine.pg_database
            )
        finally:
            await conn.close()
        return measure.cpu_seconds_of(int(row["pid"]) for row in rows)

    return probe
