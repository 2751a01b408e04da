"""A real in-process "bridge" (an application service over HTTP on 127.0.0.1) and a homeserver
configured with its registration file, for the application service tests."""

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from myelin.app import Homeserver, listener_app, open_homeserver
from myelin.config import ListenerConfig
from myelin.config.homeserver import ListenerResourceConfig
from tests.api.conftest import SERVER_NAME, FakeClock, MakeConfig

AS_TOKEN = "as-token-of-the-bridge"
HS_TOKEN = "hs-token-of-the-bridge"
V3 = "/_matrix/client/v3"

Client = TestClient[Any, Any]


def as_auth(token: str = AS_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Bridge:
    """Records transactions; can be told to fail; answers queries, pings and lookups."""

    def __init__(self) -> None:
        self.transactions: list[tuple[str, dict[str, Any]]] = []
        self.attempts: list[str] = []
        self.fail_next = 0
        self.fail_always = False
        self.homeserver: Client | None = None
        self.known_aliases: set[str] = set()
        self.known_users: set[str] = set()
        self.pings: list[dict[str, Any]] = []
        self.ping_status = 200
        self.protocol_queries: list[dict[str, str]] = []
        app = web.Application()
        app.router.add_put("/_matrix/app/v1/transactions/{txn}", self._transaction)
        app.router.add_get("/_matrix/app/v1/users/{user}", self._user)
        app.router.add_get("/_matrix/app/v1/rooms/{alias}", self._room)
        app.router.add_post("/_matrix/app/v1/ping", self._ping)
        app.router.add_get("/_matrix/app/v1/thirdparty/protocol/{p}", self._protocol)
        app.router.add_get("/_matrix/app/v1/thirdparty/location/{p}", self._location)
        app.router.add_get("/_matrix/app/v1/thirdparty/user/{p}", self._tp_user)
        app.router.add_get("/_matrix/app/v1/thirdparty/location", self._location_by_alias)
        self.server = TestServer(app, host="127.0.0.1")

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    @staticmethod
    def _authorized(request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {HS_TOKEN}"

    @staticmethod
    def _forbidden() -> web.Response:
        return web.json_response({"errcode": "M_FORBIDDEN", "error": "bad hs_token"}, status=403)

    async def _transaction(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._forbidden()
        txn = request.match_info["txn"]
        self.attempts.append(txn)
        if self.fail_always or self.fail_next > 0:
            self.fail_next = max(0, self.fail_next - 1)
            return web.json_response({"errcode": "M_UNKNOWN"}, status=500)
        if all(t != txn for t, _ in self.transactions):
            self.transactions.append((txn, await request.json()))
        return web.json_response({})

    async def _user(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._forbidden()
        user_id = request.match_info["user"]
        if user_id not in self.known_users or self.homeserver is None:
            return web.json_response({"errcode": "M_NOT_FOUND"}, status=404)
        localpart = user_id[1:].split(":", 1)[0]
        response = await self.homeserver.post(
            f"{V3}/register",
            json={"type": "m.login.application_service", "username": localpart},
            headers=as_auth(),
        )
        assert response.status == 200, await response.text()
        return web.json_response({})

    async def _room(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._forbidden()
        alias = request.match_info["alias"]
        if alias not in self.known_aliases or self.homeserver is None:
            return web.json_response({"errcode": "M_NOT_FOUND"}, status=404)
        response = await self.homeserver.post(
            f"{V3}/createRoom",
            json={"room_alias_name": alias[1:].split(":", 1)[0], "preset": "public_chat"},
            headers=as_auth(),
        )
        assert response.status == 200, await response.text()
        return web.json_response({})

    async def _ping(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._forbidden()
        self.pings.append(await request.json())
        if self.ping_status != 200:
            return web.json_response(
                {"errcode": "M_UNKNOWN", "error": "no"}, status=self.ping_status
            )
        return web.json_response({})

    async def _protocol(self, request: web.Request) -> web.Response:
        if request.match_info["p"] != "irc":
            return web.json_response({"errcode": "M_NOT_FOUND"}, status=404)
        return web.json_response(
            {
                "user_fields": ["network", "nickname"],
                "location_fields": ["network", "channel"],
                "icon": "mxc://example.org/aBcDeFgH",
                "field_types": {
                    "network": {"regexp": "([a-z0-9]+\\.)*[a-z0-9]+", "placeholder": "irc.net"},
                    "nickname": {"regexp": "[^\\s#]+", "placeholder": "username"},
                    "channel": {"regexp": "#[^\\s]+", "placeholder": "#foobar"},
                },
                "instances": [
                    {"desc": "Libera", "fields": {"network": "libera"}, "network_id": "libera"}
                ],
            }
        )

    async def _location(self, request: web.Request) -> web.Response:
        self.protocol_queries.append(dict(request.query))
        channel = request.query.get("channel", "")
        return web.json_response(
            [
                {
                    "alias": f"#_bridge_{channel.lstrip('#')}:{SERVER_NAME}",
                    "protocol": "irc",
                    "fields": dict(request.query),
                },
                {"garbage": True},
            ]
        )

    async def _tp_user(self, request: web.Request) -> web.Response:
        return web.json_response(
            [
                {
                    "userid": f"@_bridge_{request.query.get('nickname', 'x')}:{SERVER_NAME}",
                    "protocol": "irc",
                    "fields": dict(request.query),
                }
            ]
        )

    async def _location_by_alias(self, request: web.Request) -> web.Response:
        return web.json_response(
            [{"alias": request.query["alias"], "protocol": "irc", "fields": {"channel": "#x"}}]
        )


def write_registration(tmp_path: Path, url: str | None, **extra: Any) -> Path:
    registration: dict[str, Any] = {
        "id": "bridge",
        "url": url,
        "as_token": AS_TOKEN,
        "hs_token": HS_TOKEN,
        "sender_localpart": "_bridge_bot",
        "namespaces": {
            "users": [{"exclusive": True, "regex": f"@_bridge_.*:{SERVER_NAME}"}],
            "aliases": [{"exclusive": True, "regex": f"#_bridge_.*:{SERVER_NAME}"}],
            "rooms": [],
        },
        "protocols": ["irc"],
        **extra,
    }
    path = tmp_path / "bridge.yaml"
    path.write_text(yaml.safe_dump(registration), encoding="utf-8")
    return path


async def start_homeserver(
    make_config: MakeConfig, clock: FakeClock, registration: Path, **overrides: Any
) -> tuple[Homeserver, Client]:
    options: dict[str, Any] = {
        "app_service_config_files": [str(registration)],
        "enable_registration": True,
        "ratelimiting": {"enabled": False},
        **overrides,
    }
    config = make_config(**options)
    hs = await open_homeserver(config, clock=clock)
    assert hs.appservices is not None
    hs.appservices.transactions.min_backoff_s = 0.02
    hs.appservices.transactions.max_backoff_s = 0.1
    listener = ListenerConfig(
        port=8008, resources=(ListenerResourceConfig(names=("client", "federation")),)
    )
    client: Client = TestClient(TestServer(listener_app(hs, listener), host="127.0.0.1"))
    await client.start_server()
    return hs, client


async def eventually(check: Callable[[], bool], within: float = 10.0) -> None:
    """Wait until ``check()`` holds (the transaction sender works in the background)."""
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def register_as_user(client: Client, localpart: str) -> str:
    response = await client.post(
        f"{V3}/register",
        json={
            "type": "m.login.application_service",
            "username": localpart,
            "inhibit_login": True,
        },
        headers=as_auth(),
    )
    assert response.status == 200, await response.text()
    body = await response.json()
    assert "access_token" not in body
    user_id: str = body["user_id"]
    return user_id
