"""A real Myelin process for the durability tests, and the client calls they make (Client-Server
API: "Sending events to a room" with transaction IDs, "Syncing", "Getting events for a room";
no spec section of its own).

The server runs ``myelin run`` from this checkout in its own process group on 127.0.0.1, started
with the benchmark harness (``bench.server``, which kills every process it started when the
interpreter exits, on failures too). ``kill`` sends SIGKILL to the whole process group: nothing
of the server gets to run after it, no shutdown hook, no flush.
"""

import asyncio
import contextlib
import os
import signal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import yaml

from bench import server
from bench.myelin import command as myelin_command
from bench.server import Engine, ServerHandle, free_port, launch

REPO = Path(__file__).resolve().parents[2]
SERVER_NAME = "durability.test"
V3 = "/_matrix/client/v3"
PASSWORD = "durability test password"
# Requests must not hang a test: one that a live server does not answer in this time fails.
REQUEST_TIMEOUT = 30.0


def write_config(data_dir: Path, port: int, database_yaml: dict[str, Any]) -> Path:
    """A minimal configuration: loopback listener, open registration, no rate limits."""
    data_dir.mkdir(parents=True, exist_ok=True)
    config = {
        "server_name": SERVER_NAME,
        "listeners": [
            {
                "port": port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "resources": [{"names": ["client"]}],
            }
        ],
        "database": database_yaml,
        "signing_key_path": str(data_dir / "signing.key"),
        "media_store_path": str(data_dir / "media"),
        "enable_registration": True,
        "ratelimiting": {"enabled": False},
        "bcrypt_rounds": 4,
        "presence": {"enabled": False},
    }
    path = data_dir / "homeserver.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


async def start(data_dir: Path, database_yaml: dict[str, Any]) -> ServerHandle:
    """``myelin run`` on ``data_dir`` and the database ``database_yaml`` names, on a free port.

    The configuration is rewritten on every start (a new port each time, so that a restart
    never waits for the old socket), keeping the data directory and the database.
    """
    port = free_port()
    config_path = write_config(data_dir, port, database_yaml)
    kind = "sqlite" if database_yaml["name"] == "sqlite3" else "postgres"
    return await launch(
        name="Myelin",
        command=myelin_command(config_path),
        env=_env(),
        data_dir=data_dir,
        log_path=data_dir / "myelin.log",
        port=port,
        engine=Engine(kind=kind),
    )


async def kill(handle: ServerHandle) -> None:
    """SIGKILL the server's whole process group and reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(handle.process.pid, signal.SIGKILL)
    await asyncio.to_thread(handle.process.wait, 10)
    # Forgets the process (it is dead; nothing is left to signal).
    await server.stop(handle)


async def stop(handle: ServerHandle) -> None:
    """SIGTERM, then SIGKILL after a short grace: the end of a test, whatever happened."""
    process = handle.process
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        with contextlib.suppress(Exception):
            await asyncio.to_thread(process.wait, 5)
    await kill(handle)


class MatrixClient:
    """One user's session against one server (one keep-alive connection pool)."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession) -> None:
        self.base_url = base_url
        self.session = session
        self.user_id = ""
        self.access_token = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}

    async def request(
        self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        async with self.session.request(
            method,
            self.base_url + path,
            json=body,
            params=params,
            headers=self.headers if self.access_token else None,
        ) as response:
            status = response.status
            data = await response.json(content_type=None)
        return status, data

    async def ok(
        self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None
    ) -> Any:
        status, data = await self.request(method, path, body, params)
        if status != 200:
            raise AssertionError(f"{method} {path}: {status} {data}")
        return data

    async def register(self, username: str) -> None:
        """Register through the dummy flow, as a client does (two requests)."""
        body: dict[str, Any] = {"username": username, "password": PASSWORD}
        status, first = await self.request("POST", f"{V3}/register", body)
        assert status == 401, first
        body["auth"] = {"type": "m.login.dummy", "session": first["session"]}
        done = await self.ok("POST", f"{V3}/register", body)
        self.user_id = done["user_id"]
        self.access_token = done["access_token"]

    async def send_message(self, room_id: str, txn_id: str, text: str) -> tuple[int, Any]:
        path = f"{V3}/rooms/{quote(room_id)}/send/m.room.message/{quote(txn_id)}"
        return await self.request("PUT", path, {"msgtype": "m.text", "body": text})

    async def room_messages(self, room_id: str) -> list[dict[str, Any]]:
        """Every event of the room's timeline, oldest first, paginating backwards from the end."""
        path = f"{V3}/rooms/{quote(room_id)}/messages"
        events: list[dict[str, Any]] = []
        params = {"dir": "b", "limit": "100"}
        for _ in range(1000):
            page = await self.ok("GET", path, params=params)
            events += page["chunk"]
            if "end" not in page or not page["chunk"]:
                break
            params = {**params, "from": page["end"]}
        else:
            raise AssertionError("/messages did not end")
        return events[::-1]

    async def sync(self, since: str | None = None, timeline_limit: int = 1000) -> Any:
        params = {
            "filter": f'{{"room":{{"timeline":{{"limit":{timeline_limit}}}}}}}',
            "timeout": "0",
        }
        if since is not None:
            params["since"] = since
        return await self.ok("GET", f"{V3}/sync", params=params)


def client_session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT))
