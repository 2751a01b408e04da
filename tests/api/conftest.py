"""Full-stack fixtures: the real homeserver built from a config, served on 127.0.0.1."""

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from myelin.api.http import Endpoint
from myelin.app import Homeserver, listener_app, open_homeserver
from myelin.config import HomeserverConfig, ListenerConfig, parse_config
from myelin.config.homeserver import ListenerResourceConfig

SERVER_NAME = "test.example"


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, now_ms: int = 1_700_000_000_000) -> None:
        self.now = now_ms
        self.mono = 1000.0

    def now_ms(self) -> int:
        return self.now

    def monotonic(self) -> float:
        return self.mono

    async def sleep(self, seconds: float) -> None:
        self.now += int(seconds * 1000)
        self.mono += seconds


MakeConfig = Callable[..., HomeserverConfig]
ServeFn = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
def make_config(tmp_path: Path, database_yaml: dict[str, Any]) -> MakeConfig:
    """A validated configuration on the engine under test, with ``overrides`` applied."""

    def make(**overrides: Any) -> HomeserverConfig:
        raw = {
            "server_name": SERVER_NAME,
            "database": database_yaml,
            "bcrypt_rounds": 4,
            "signing_key_path": str(tmp_path / "signing.key"),
            **overrides,
        }
        return parse_config(raw, tmp_path)

    return make


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def serve(make_config: MakeConfig, clock: FakeClock) -> AsyncIterator[ServeFn]:
    """Start a homeserver and serve one listener on a real 127.0.0.1 socket.

    ``await serve(resources=[...], extra_endpoints=[...], listener_type="http", **config)``
    returns an aiohttp ``TestClient`` speaking HTTP to it; ``reuse=True`` serves another
    listener of the previous homeserver.
    """
    homeservers: list[Homeserver] = []
    clients: list[TestClient[Any, Any]] = []

    async def start(
        resources: Sequence[str] = ("client", "federation"),
        extra_endpoints: Sequence[Endpoint] = (),
        listener_type: str = "http",
        reuse: bool = False,
        **overrides: Any,
    ) -> TestClient[Any, Any]:
        if reuse:
            hs = homeservers[-1]
        else:
            hs = await open_homeserver(make_config(**overrides), clock=clock)
            homeservers.append(hs)
        listener = ListenerConfig(
            port=8008,
            type=listener_type,  # type: ignore[arg-type]
            resources=(ListenerResourceConfig(names=tuple(resources)),),
        )
        client: TestClient[Any, Any] = TestClient(
            TestServer(listener_app(hs, listener, extra_endpoints), host="127.0.0.1")
        )
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()
    for hs in homeservers:
        await hs.close()
