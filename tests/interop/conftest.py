"""Interop fixtures: a fresh Myelin per test on the engine under test, one Synapse per session."""

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.interop.servers import ServerHandle, start_myelin, start_synapse, stop


@pytest.fixture
async def myelin_server(
    tmp_path: Path, database_yaml: dict[str, Any]
) -> AsyncIterator[ServerHandle]:
    """Myelin of this checkout in a subprocess on 127.0.0.1, registration open, no rate limits."""
    handle = await start_myelin(tmp_path / "myelin", database_yaml)
    try:
        yield handle
    finally:
        await stop(handle)


@pytest.fixture(scope="session")
def synapse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    """Synapse from PyPI on SQLite, 127.0.0.1, with the same settings; shared by the session."""
    handle = asyncio.run(start_synapse(tmp_path_factory.mktemp("synapse")))
    try:
        yield handle
    finally:
        asyncio.run(stop(handle))
