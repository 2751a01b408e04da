"""Clients of the two-server tests: users registered over HTTPS on each test server, rooms,
messages and ``/sync`` polled until what a test waits for arrives from the other server."""

import asyncio
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import aiohttp

from tests.federation.conftest import Federation, RunningServer

V3 = "/_matrix/client/v3"
PASSWORD = "correct horse battery staple"
OPEN = {"enable_registration": True, "ratelimiting": {"enabled": False}}


class Person:
    """A user of one test server, talking HTTPS to it."""

    def __init__(self, net: Federation, server: RunningServer, http: aiohttp.ClientSession) -> None:
        self.net = net
        self.server = server
        self.http = http
        self.user_id = ""
        self.token = ""
        self.since: str | None = None
        # Every room event any sync returned, by (section, room ID): one sync may bring
        # several awaited events at once.
        self.seen: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._txn = 0

    async def request(
        self, method: str, path: str, *, status: int = 200, json: Any = None, **kw: Any
    ) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with self.http.request(
            method,
            self.net.url(self.server, path),
            headers=headers,
            json=json,
            server_hostname=self.server.name,
            **kw,
        ) as response:
            body = await response.json()
            assert response.status == status, (method, path, response.status, body)
            return body

    async def register(self, name: str) -> "Person":
        first = await self.request(
            "POST", f"{V3}/register", json={"username": name, "password": PASSWORD}, status=401
        )
        body = await self.request(
            "POST",
            f"{V3}/register",
            json={
                "username": name,
                "password": PASSWORD,
                "auth": {"type": "m.login.dummy", "session": first["session"]},
            },
        )
        self.user_id, self.token = body["user_id"], body["access_token"]
        return self

    async def create_room(self, **body: Any) -> str:
        return str((await self.request("POST", f"{V3}/createRoom", json=body))["room_id"])

    async def send(self, room_id: str, text: str) -> str:
        self._txn += 1
        path = f"{V3}/rooms/{quote(room_id)}/send/m.room.message/t{self._txn}"
        body = await self.request("PUT", path, json={"msgtype": "m.text", "body": text})
        return str(body["event_id"])

    async def join(self, room: str, *, via: list[str] | None = None, status: int = 200) -> Any:
        params = [("via", s) for s in via or []]
        return await self.request(
            "POST", f"{V3}/join/{quote(room)}", json={}, params=params, status=status
        )

    async def room_action(self, room_id: str, action: str, status: int = 200, **body: Any) -> Any:
        return await self.request(
            "POST", f"{V3}/rooms/{quote(room_id)}/{action}", json=body, status=status
        )

    async def sync(self, timeout_ms: int = 0) -> dict[str, Any]:
        params = {"timeout": str(timeout_ms)}
        if self.since is not None:
            params["since"] = self.since
        body: dict[str, Any] = await self.request("GET", f"{V3}/sync", params=params)
        self.since = body["next_batch"]
        for section in ("join", "leave"):
            for room_id, room in body.get("rooms", {}).get(section, {}).items():
                self.seen.setdefault((section, room_id), []).extend(
                    [*room.get("state", {}).get("events", []), *room["timeline"]["events"]]
                )
        return body

    async def sync_until(
        self, found: Callable[[dict[str, Any]], Any], *, timeout_s: float = 15.0
    ) -> Any:
        """Sync (incrementally) until ``found`` returns something truthy for a response."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            result = found(await self.sync(timeout_ms=500))
            if result:
                return result
            assert loop.time() < deadline, f"{self.user_id}: not seen in time"

    async def wait_for_message(self, room_id: str, text: str) -> dict[str, Any]:
        def find(body: dict[str, Any]) -> dict[str, Any] | None:
            for event in self.seen.get(("join", room_id), []):
                if event.get("content", {}).get("body") == text:
                    return dict(event)
            return None

        result: dict[str, Any] = await self.sync_until(find)
        return result

    async def wait_for_member(
        self, room_id: str, user_id: str, membership: str, section: str = "join"
    ) -> dict[str, Any]:
        def find(body: dict[str, Any]) -> dict[str, Any] | None:
            for event in self.seen.get((section, room_id), []):
                if (
                    event.get("type") == "m.room.member"
                    and event.get("state_key") == user_id
                    and event.get("content", {}).get("membership") == membership
                ):
                    return dict(event)
            return None

        result: dict[str, Any] = await self.sync_until(find)
        return result

    async def members(self, room_id: str) -> dict[str, str]:
        body = await self.request("GET", f"{V3}/rooms/{quote(room_id)}/members")
        return {e["state_key"]: e["content"]["membership"] for e in body["chunk"]}


async def two_servers(net: Federation, **a_overrides: Any) -> tuple[RunningServer, RunningServer]:
    a = await net.start("a.test", "127.0.0.21", **{**OPEN, **a_overrides})
    b = await net.start("b.test", "127.0.0.22", **OPEN)
    return a, b
