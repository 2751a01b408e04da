"""Numbered schema migrations (no spec section: internals).

Files in ``myelin/storage/migrations/`` are named ``NNNN_name.sql`` (both engines) or come as a
pair ``NNNN_name.sqlite.sql`` + ``NNNN_name.postgres.sql`` (ENGINE DIFFERENCE: types such as
identity columns). Each version is applied in its own transaction together with its row in
``schema_version (version, applied_ts)``. A database whose recorded version is newer than the
newest file is refused with ``SchemaTooNewError``. The files are read from the directory next to
this module (importlib.resources, which a zip import would need, costs a running server memory).
"""

import re
import time
from dataclasses import dataclass
from pathlib import Path

from myelin.storage.database import Database, Engine, Transaction
from myelin.storage.errors import MigrationError, SchemaTooNewError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+?)(?:\.(sqlite|postgres))?\.sql$")

# Lock key serialising concurrent migrators on PostgreSQL ("myelin" in ASCII).
_PG_MIGRATION_LOCK = 0x6D79656C696E

_CREATE_VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " version INTEGER PRIMARY KEY,"
    " applied_ts BIGINT NOT NULL)"
)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations(engine: Engine) -> list[Migration]:
    """The migrations for ``engine``, in version order; checks the file set is consistent."""
    common: dict[int, tuple[str, str]] = {}
    specific: dict[int, dict[str, tuple[str, str]]] = {}
    for entry in sorted(MIGRATIONS_DIR.iterdir()):
        if not entry.name.endswith(".sql"):
            continue
        match = _NAME.match(entry.name)
        if match is None:
            raise MigrationError(f"badly named migration file {entry.name!r}")
        version = int(match.group(1))
        text = entry.read_text(encoding="utf-8")
        if match.group(3) is None:
            if version in common:
                raise MigrationError(f"two migration files for version {version}")
            common[version] = (match.group(2), text)
        else:
            specific.setdefault(version, {})[match.group(3)] = (match.group(2), text)
    migrations: list[Migration] = []
    for version in sorted(set(common) | set(specific)):
        if version in common and version in specific:
            raise MigrationError(f"version {version} has both common and engine files")
        if version in specific:
            if set(specific[version]) != {"sqlite", "postgres"}:
                raise MigrationError(f"version {version} lacks a file for one engine")
            name, text = specific[version][engine]
        else:
            name, text = common[version]
        migrations.append(Migration(version, name, text))
    expected = list(range(1, len(migrations) + 1))
    if [m.version for m in migrations] != expected:
        raise MigrationError("migration versions must be numbered 1, 2, 3, ... without gaps")
    return migrations


def split_statements(script: str) -> list[str]:
    """Split a SQL script on ``;`` outside quotes, dropping ``--`` comments.

    Both engines run scripts statement by statement (SQLite's executescript would commit).
    """
    statements: list[str] = []
    current: list[str] = []
    i = 0
    quote: str | None = None
    while i < len(script):
        char = script[i]
        if quote is not None:
            current.append(char)
            if char == quote:
                quote = None
        elif char in ("'", '"'):
            quote = char
            current.append(char)
        elif script.startswith("--", i):
            end = script.find("\n", i)
            i = len(script) if end == -1 else end
            continue
        elif char == ";":
            statement = "".join(current).strip()
            if statement:
                statements.append(statement)
            current = []
        else:
            current.append(char)
        i += 1
    tail = "".join(current).strip()
    if tail:
        statements.append(tail)
    return statements


async def current_schema_version(db: Database) -> int:
    """The highest applied migration version; 0 for an empty database."""
    if not await db.table_exists("schema_version"):
        return 0
    version = await db.fetchval("SELECT MAX(version) FROM schema_version")
    return int(version) if version is not None else 0


async def _version_in(txn: Transaction) -> int:
    version = await txn.fetchval("SELECT MAX(version) FROM schema_version")
    return int(version) if version is not None else 0


async def run_migrations(db: Database) -> list[int]:
    """Apply every pending migration in order; return the versions applied."""
    migrations = load_migrations(db.engine)
    newest = migrations[-1].version if migrations else 0
    known = await current_schema_version(db)
    if known > newest:
        raise SchemaTooNewError(known, newest)
    applied: list[int] = []
    for migration in migrations:
        if migration.version <= known:
            continue
        async with db.transaction() as txn:
            if db.engine == "postgres":
                # ENGINE DIFFERENCE: another process may be migrating the same database;
                # SQLite's BEGIN IMMEDIATE already excludes it.
                await txn.execute("SELECT pg_advisory_xact_lock($1)", _PG_MIGRATION_LOCK)
            await txn.execute(_CREATE_VERSION_TABLE)
            current = await _version_in(txn)
            if current > newest:
                raise SchemaTooNewError(current, newest)
            if current >= migration.version:
                continue  # someone else applied it meanwhile
            for statement in split_statements(migration.sql):
                await txn.execute(statement)
            await txn.execute(
                "INSERT INTO schema_version (version, applied_ts) VALUES ($1, $2)",
                migration.version,
                int(time.time() * 1000),
            )
        applied.append(migration.version)
    return applied
