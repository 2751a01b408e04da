"""Migration runner: fresh migrate, idempotent re-run, refusal of a newer schema."""

from typing import Any

import pytest

from myelin.storage import Database, SchemaTooNewError
from myelin.storage.migrations import load_migrations, split_statements
from tests.conftest import open_database_from_yaml


def test_both_engines_have_the_same_versions() -> None:
    sqlite = load_migrations("sqlite")
    postgres = load_migrations("postgres")
    assert [m.version for m in sqlite] == [m.version for m in postgres]
    assert [m.version for m in sqlite] == list(range(1, len(sqlite) + 1))
    # Version 2 is engine specific (identity columns), version 1 shared.
    assert sqlite[0].sql == postgres[0].sql
    assert sqlite[1].sql != postgres[1].sql


def test_split_statements_ignores_comments_and_quoted_semicolons() -> None:
    script = "-- a comment; with a semicolon\nCREATE TABLE t (x TEXT DEFAULT 'a;b');\n\nSELECT 1"
    assert split_statements(script) == ["CREATE TABLE t (x TEXT DEFAULT 'a;b')", "SELECT 1"]


async def test_fresh_migrate_then_idempotent(database_yaml: dict[str, Any]) -> None:
    db = await open_database_from_yaml(database_yaml)
    try:
        newest = len(load_migrations(db.engine))
        assert await db.schema_version() == 0
        assert await db.migrate() == list(range(1, newest + 1))
        assert await db.schema_version() == newest
        assert await db.migrate() == []
        assert await db.schema_version() == newest
        rows = await db.fetch("SELECT version, applied_ts FROM schema_version ORDER BY version")
        assert [row["version"] for row in rows] == list(range(1, newest + 1))
        assert all(row["applied_ts"] > 0 for row in rows)
        for table in ("users", "events", "state_groups", "state_group_entries", "access_tokens"):
            assert await db.table_exists(table)
    finally:
        await db.close()


async def test_schema_too_new_is_refused(database: Database) -> None:
    newest = await database.schema_version()
    await database.execute(
        "INSERT INTO schema_version (version, applied_ts) VALUES ($1, $2)", newest + 5, 1
    )
    with pytest.raises(SchemaTooNewError) as info:
        await database.migrate()
    message = str(info.value)
    assert str(newest + 5) in message
    assert str(newest) in message
    assert "upgrade Myelin" in message
    assert info.value.database_version == newest + 5
    assert info.value.code_version == newest


async def test_reopen_keeps_data(database_yaml: dict[str, Any]) -> None:
    db = await open_database_from_yaml(database_yaml)
    try:
        await db.migrate()
        await db.execute(
            "INSERT INTO users (user_id, created_ts) VALUES ($1, $2)", "@a:example.org", 5
        )
    finally:
        await db.close()
    db = await open_database_from_yaml(database_yaml)
    try:
        assert await db.migrate() == []
        assert await db.fetchval("SELECT created_ts FROM users") == 5
    finally:
        await db.close()
