"""Interop, media (test harness; Client-Server API, "Content repository"): matrix-nio sets an
avatar and sends an image message, the other user downloads the same bytes and a thumbnail
over authenticated media; against Myelin (both engines) and Synapse (marked ``synapse``), with
the same facts expected of both."""

import asyncio

import pytest

from tests.interop import scenario_media_nio
from tests.interop.drivers import new_tag
from tests.interop.servers import ServerHandle

SCENARIO_SECONDS = 120.0


async def _check(base_url: str) -> None:
    observed, failures = await asyncio.wait_for(
        scenario_media_nio.run(base_url, new_tag()), SCENARIO_SECONDS
    )
    assert not failures, "\n".join(failures)
    assert observed == scenario_media_nio.EXPECTED


async def test_nio_media_against_myelin(myelin_server: ServerHandle) -> None:
    await _check(myelin_server.base_url)


@pytest.mark.synapse
async def test_nio_media_against_synapse(synapse_server: ServerHandle) -> None:
    await _check(synapse_server.base_url)
