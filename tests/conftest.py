"""Shared test fixtures: a database on the engine picked by ``MYELIN_TEST_DB``.

``MYELIN_TEST_DB=sqlite`` (the default) or ``postgres``. PostgreSQL is reached at
``MYELIN_TEST_POSTGRES_HOST`` (127.0.0.1), ``MYELIN_TEST_POSTGRES_PORT`` (5432) and
``MYELIN_TEST_POSTGRES_USER`` (postgres, trust authentication); each test gets a fresh database
that is dropped afterwards.
"""

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from myelin.storage import Database, PostgresParams, open_postgres, open_sqlite


def _engine() -> str:
    engine = os.environ.get("MYELIN_TEST_DB", "sqlite").strip().lower() or "sqlite"
    if engine not in ("sqlite", "postgres"):
        raise pytest.UsageError(f"MYELIN_TEST_DB must be sqlite or postgres, not {engine!r}")
    return engine


def postgres_server() -> tuple[str, int, str]:
    """Host, port and user of the test PostgreSQL server."""
    return (
        os.environ.get("MYELIN_TEST_POSTGRES_HOST", "127.0.0.1"),
        int(os.environ.get("MYELIN_TEST_POSTGRES_PORT", "5432")),
        os.environ.get("MYELIN_TEST_POSTGRES_USER", "postgres"),
    )


async def _admin_connection() -> Any:
    host, port, user = postgres_server()
    return await asyncpg.connect(host=host, port=port, user=user, database="postgres")


async def create_postgres_database() -> str:
    """Create a fresh, empty PostgreSQL database and return its name."""
    name = f"myelin_test_{uuid.uuid4().hex}"
    conn = await _admin_connection()
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


async def drop_postgres_database(name: str) -> None:
    conn = await _admin_connection()
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def open_database_from_yaml(config: dict[str, Any]) -> Database:
    """Open (without migrating) the database a ``database_yaml`` fixture value describes."""
    args = config["args"]
    if config["name"] == "sqlite3":
        return await open_sqlite(args["database"])
    return await open_postgres(
        PostgresParams(
            host=args["host"], port=args["port"], user=args["user"], database=args["dbname"]
        )
    )


@pytest.fixture(scope="session")
def db_engine() -> str:
    """``"sqlite"`` or ``"postgres"``, from ``MYELIN_TEST_DB``."""
    return _engine()


@pytest.fixture
async def database_yaml(db_engine: str, tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    """A ``database`` config section in Synapse's shape, naming a fresh empty database."""
    if db_engine == "sqlite":
        yield {"name": "sqlite3", "args": {"database": str(tmp_path / "homeserver.db")}}
        return
    host, port, user = postgres_server()
    name = await create_postgres_database()
    try:
        yield {
            "name": "psycopg2",
            "args": {"host": host, "port": port, "user": user, "dbname": name},
        }
    finally:
        await drop_postgres_database(name)


@pytest.fixture
async def database(database_yaml: dict[str, Any]) -> AsyncIterator[Database]:
    """An opened, migrated database on the chosen engine; closed (and dropped) afterwards."""
    db = await open_database_from_yaml(database_yaml)
    try:
        await db.migrate()
        yield db
    finally:
        await db.close()
