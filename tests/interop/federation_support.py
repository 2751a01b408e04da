"""Myelin and Synapse federating on loopback (test harness; Server-Server API "Server
discovery" step 1: IP literals with an explicit port).

Each server is named by an IP literal with a port (``127.0.0.2:<port>`` for Myelin,
``127.0.0.3:<port>`` for Synapse), so that no DNS is involved: the spec's discovery connects
straight to that address and checks the TLS certificate against the IP. Each server serves
federation over TLS on its own 127.0.0.x address with a certificate (IP SAN) from a test CA made
here, trusts that CA for outbound federation, and uses no notary. Clients talk plain HTTP to a
second listener on 127.0.0.1 (``ServerHandle.base_url``).

``MatrixClient`` is a small Client-Server API client (aiohttp) with what the tests need,
including ``wait_for`` over ``/sync`` with a deadline.
"""

import asyncio
import contextlib
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

from bench.server import ServerHandle
from tests.federation.tls_support import TestCA
from tests.interop.servers import restart, start_myelin, start_synapse, stop

MYELIN_IP = "127.0.0.2"
SYNAPSE_IP = "127.0.0.3"

# How long a test waits for something to cross from one server to the other.
CROSSING_TIMEOUT = 30.0
# How long a whole test may run with its servers before it is failed (cancelled).
TEST_TIMEOUT = 240.0

# Both servers retry an unreachable peer quickly (the tests stop one for a few seconds).
_MYELIN_FEDERATION = {
    "destination_min_retry_interval": 500,
    "destination_retry_multiplier": 2,
    "destination_max_retry_interval": 2000,
    "client_timeout": 15000,
}
_SYNAPSE_FEDERATION = {
    "destination_min_retry_interval": 1000,
    "destination_retry_multiplier": 2,
    "destination_max_retry_interval": 2000,
    "client_timeout": 15000,
    "max_short_retry_delay": 500,
    "max_long_retry_delay": 2000,
}


def free_port_on(ip: str) -> int:
    """A TCP port free on ``ip`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((ip, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Pair:
    """Myelin and Synapse federating; handles change when a server is restarted."""

    myelin: ServerHandle
    synapse: ServerHandle
    myelin_name: str
    synapse_name: str
    ca: TestCA
    clients: list["MatrixClient"] = field(default_factory=list)

    async def stop_synapse(self) -> None:
        await stop(self.synapse)

    async def start_synapse_again(self) -> None:
        self.synapse = await restart(self.synapse)

    async def restart_myelin(self) -> None:
        await stop(self.myelin)
        self.myelin = await restart(self.myelin)

    async def client(self, on_myelin: bool, localpart: str | None = None) -> "MatrixClient":
        """A new user registered and logged in on one of the servers."""
        client = MatrixClient(lambda: (self.myelin if on_myelin else self.synapse).base_url)
        self.clients.append(client)
        await client.register(localpart or f"u{uuid.uuid4().hex[:10]}")
        return client


def _myelin_options(name: str, cert: Any, ca: TestCA) -> dict[str, Any]:
    return {
        "server_name": name,
        "tls_certificate_path": str(cert.certificate),
        "tls_private_key_path": str(cert.private_key),
        "federation_custom_ca_list": [str(ca.path)],
        "trusted_key_servers": [],
        "federation": _MYELIN_FEDERATION,
    }


def _synapse_options(cert: Any, ca: TestCA) -> dict[str, Any]:
    return {
        "tls_certificate_path": str(cert.certificate),
        "tls_private_key_path": str(cert.private_key),
        "federation_custom_ca_list": [str(ca.path)],
        "federation_verify_certificates": True,
        # Loopback is on Synapse's default deny list for outbound requests. Server names that
        # are IP literals are checked against the federation deny list alone (the allow list
        # is not consulted there), so that list is emptied (Synapse still adds 0.0.0.0, ::).
        "federation_ip_range_blacklist": [],
        # The benchmark's configuration federates with nobody; here with everyone (only
        # loopback is reachable anyway).
        "federation_domain_whitelist": None,
        "trusted_key_servers": [],
        "federation": _SYNAPSE_FEDERATION,
        "presence": {"enabled": True},
    }


def _tls_listener(ip: str, port: int) -> dict[str, Any]:
    return {
        "port": port,
        "bind_addresses": [ip],
        "type": "http",
        "tls": True,
        "resources": [{"names": ["federation"]}],
    }


async def start_federating_myelin(directory: Path, ip: str, ca: TestCA) -> tuple[ServerHandle, str]:
    """Myelin (SQLite) named ``<ip>:<port>``, federating over TLS on ``ip``; its name."""
    port = free_port_on(ip)
    name = f"{ip}:{port}"
    database = {"name": "sqlite3", "args": {"database": str(directory / "homeserver.db")}}
    handle = await start_myelin(
        directory,
        database,
        overrides=_myelin_options(name, ca.issue(ip), ca),
        extra_listeners=[_tls_listener(ip, port)],
    )
    return handle, name


async def start_federating_synapse(
    directory: Path, ip: str, ca: TestCA
) -> tuple[ServerHandle, str]:
    """Synapse named ``<ip>:<port>``, federating over TLS on ``ip``; its name."""
    port = free_port_on(ip)
    name = f"{ip}:{port}"
    handle = await start_synapse(
        directory,
        server_name=name,
        overrides=_synapse_options(ca.issue(ip), ca),
        extra_listeners=[_tls_listener(ip, port)],
    )
    return handle, name


@contextlib.asynccontextmanager
async def federated_pair(tmp_path: Path, limit_s: float = TEST_TIMEOUT) -> AsyncIterator[Pair]:
    """Myelin (SQLite) and Synapse federating over TLS; both stopped at the end. The body
    is cancelled (a ``TimeoutError``) after ``limit_s`` seconds."""
    ca = TestCA(tmp_path)
    myelin, myelin_name = await start_federating_myelin(tmp_path / "myelin", MYELIN_IP, ca)
    pair: Pair | None = None
    try:
        synapse, synapse_name = await start_federating_synapse(tmp_path / "synapse", SYNAPSE_IP, ca)
        pair = Pair(myelin, synapse, myelin_name, synapse_name, ca)
        async with asyncio.timeout(limit_s):
            yield pair
    finally:
        if pair is not None:
            for client in pair.clients:
                await client.close()
            await stop(pair.synapse)
            myelin = pair.myelin
        await stop(myelin)


class MatrixRequestError(Exception):
    def __init__(self, method: str, path: str, status: int, body: Any) -> None:
        super().__init__(f"{method} {path} -> {status}: {body}")
        self.status = status
        self.body = body

    @property
    def errcode(self) -> str | None:
        return self.body.get("errcode") if isinstance(self.body, dict) else None


class MatrixClient:
    """One user on one server (the base URL is looked up per request: servers restart)."""

    def __init__(self, base_url: Callable[[], str]) -> None:
        self._base_url = base_url
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        self.user_id = ""
        self.device_id = ""
        self.token = ""
        self.next_batch: str | None = None

    async def close(self) -> None:
        await self._session.close()

    async def request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with self._session.request(
            method,
            self._base_url() + "/_matrix/client/v3" + path,
            json=body if body is not None or method in ("POST", "PUT") else None,
            params=params,
            headers=headers,
        ) as response:
            answer = await response.json(content_type=None)
            if response.status != 200:
                raise MatrixRequestError(method, path, response.status, answer)
            return answer

    async def register(self, localpart: str) -> None:
        body: dict[str, Any] = {"username": localpart, "password": "interop-password-1"}
        try:
            answer = await self.request("POST", "/register", body)
        except MatrixRequestError as e:
            if e.status != 401:
                raise
            body["auth"] = {"type": "m.login.dummy", "session": e.body.get("session")}
            answer = await self.request("POST", "/register", body)
        self.user_id = answer["user_id"]
        self.device_id = answer["device_id"]
        self.token = answer["access_token"]

    async def set_displayname(self, name: str) -> None:
        await self.request(
            "PUT", f"/profile/{quote(self.user_id)}/displayname", {"displayname": name}
        )

    async def profile(self, user_id: str) -> Any:
        return await self.request("GET", f"/profile/{quote(user_id)}")

    async def create_room(self, **body: Any) -> str:
        answer = await self.request("POST", "/createRoom", body)
        room_id: str = answer["room_id"]
        return room_id

    async def join(self, room: str, via: str | None = None) -> str:
        params = {"server_name": via} if via else None
        answer = await self.request("POST", f"/join/{quote(room)}", {}, params)
        room_id: str = answer["room_id"]
        return room_id

    async def membership(self, room_id: str, action: str, **body: Any) -> None:
        """``invite``, ``leave``, ``kick``, ``ban``, ``unban`` (body: ``user_id``, ``reason``)."""
        await self.request("POST", f"/rooms/{quote(room_id)}/{action}", body)

    async def send(self, room_id: str, body: str, event_type: str = "m.room.message") -> str:
        content = {"msgtype": "m.text", "body": body}
        path = f"/rooms/{quote(room_id)}/send/{event_type}/{uuid.uuid4().hex}"
        answer = await self.request("PUT", path, content)
        event_id: str = answer["event_id"]
        return event_id

    async def send_state(
        self, room_id: str, event_type: str, content: Mapping[str, Any], state_key: str = ""
    ) -> str:
        path = f"/rooms/{quote(room_id)}/state/{event_type}/{quote(state_key)}"
        answer = await self.request("PUT", path, content)
        event_id: str = answer["event_id"]
        return event_id

    async def state_event(self, room_id: str, event_type: str, state_key: str = "") -> Any:
        path = f"/rooms/{quote(room_id)}/state/{event_type}/{quote(state_key)}"
        return await self.request("GET", path)

    async def messages(self, room_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """The room's timeline, newest first (``/messages`` backwards from the end)."""
        answer = await self.request(
            "GET", f"/rooms/{quote(room_id)}/messages", params={"dir": "b", "limit": str(limit)}
        )
        chunk: list[dict[str, Any]] = answer["chunk"]
        return chunk

    async def sync_once(self, timeout_ms: int = 1000) -> Any:
        params = {"timeout": str(timeout_ms)}
        if self.next_batch is not None:
            params["since"] = self.next_batch
        answer = await self.request("GET", "/sync", params=params)
        self.next_batch = answer["next_batch"]
        return answer

    async def wait_for(
        self,
        found: Callable[[Any], Any],
        what: str,
        within_s: float = CROSSING_TIMEOUT,
    ) -> Any:
        """Sync until ``found(sync_response)`` is truthy; its value. Fails after ``within_s``."""
        deadline = time.monotonic() + within_s
        while True:
            answer = await self.sync_once()
            result = found(answer)
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.user_id} did not see {what} within {within_s:.0f} s")
            await asyncio.sleep(0.1)

    async def wait_for_event(
        self,
        room_id: str,
        match: Callable[[Mapping[str, Any]], bool],
        what: str,
        section: str = "join",
        within_s: float = CROSSING_TIMEOUT,
    ) -> dict[str, Any]:
        """Sync until an event of the room's timeline (or state) in ``section`` matches."""

        def find(answer: Any) -> dict[str, Any] | None:
            room = answer.get("rooms", {}).get(section, {}).get(room_id)
            if room is None:
                return None
            events = list(room.get("timeline", {}).get("events", []))
            events += room.get("state", {}).get("events", [])
            events += room.get("invite_state", {}).get("events", [])
            for event in events:
                if match(event):
                    return dict(event)
            return None

        result: dict[str, Any] = await self.wait_for(find, what, within_s)
        return result

    async def wait_for_invite(self, room_id: str, within_s: float = CROSSING_TIMEOUT) -> None:
        await self.wait_for(
            lambda answer: room_id in answer.get("rooms", {}).get("invite", {}),
            f"an invite to {room_id}",
            within_s,
        )


def is_message(body: str) -> Callable[[Mapping[str, Any]], bool]:
    return lambda event: (
        event.get("type") == "m.room.message" and event.get("content", {}).get("body") == body
    )


def is_membership(user_id: str, membership: str) -> Callable[[Mapping[str, Any]], bool]:
    return lambda event: (
        event.get("type") == "m.room.member"
        and event.get("state_key") == user_id
        and event.get("content", {}).get("membership") == membership
    )
