"""Fixtures of the robustness sweep: the real homeserver on 127.0.0.1, populated."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from myelin.api.http import Endpoint
from myelin.app import Homeserver, listener_app, listener_resources, open_homeserver
from myelin.config import ListenerConfig
from myelin.config.homeserver import ListenerResourceConfig
from tests.api.account_support import SHARED_SECRET
from tests.api.conftest import FakeClock, MakeConfig, clock, make_config
from tests.api.openapi import require_spec
from tests.federation.fakes import FakeDns
from tests.robustness.world import World, populate

__all__ = ["clock", "make_config"]


@dataclass
class Swept:
    """The server under test, the endpoints its listener serves, and the populated world."""

    hs: Homeserver
    endpoints: list[Endpoint]
    world: World


@pytest.fixture
async def swept(make_config: MakeConfig, clock: FakeClock) -> AsyncIterator[Swept]:
    require_spec()  # the sweep judges answers by the spec's OpenAPI and error codes
    hs = await open_homeserver(
        make_config(
            enable_registration=True,
            registration_shared_secret=SHARED_SECRET,
            ratelimiting={"enabled": False},
        ),
        clock=clock,
        dns=FakeDns(),  # no name resolves: remote servers fail at once, without the network
    )
    listener = ListenerConfig(
        port=8008,
        type="http",
        resources=(ListenerResourceConfig(names=("client", "federation")),),
    )
    client: TestClient[Any, Any] = TestClient(
        TestServer(listener_app(hs, listener), host="127.0.0.1")
    )
    try:
        await client.start_server()
        served = listener_resources(listener, hs.config.federation.enabled)
        endpoints = [e for e in hs.endpoints if e.resource in served]
        yield Swept(hs, endpoints, await populate(client))
    finally:
        await client.close()
        await hs.close()
