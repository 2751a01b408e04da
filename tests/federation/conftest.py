"""Several Myelin homeservers on loopback, each with its own server name, database, signing
key and TLS certificate from a test CA, found through injected resolvers (names mapped to
127.0.0.x addresses and SRV records). Nothing but loopback is contacted."""

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from myelin.app import Homeserver, listener_app, open_homeserver
from myelin.config import ListenerConfig, parse_config
from myelin.config.homeserver import ListenerResourceConfig
from myelin.federation.discovery import SrvRecord
from myelin.federation.tls import client_ssl_context
from tests.conftest import create_postgres_database, drop_postgres_database, postgres_server
from tests.federation.tls_support import TestCA


class Network:
    """What DNS says about every test server."""

    def __init__(self) -> None:
        self.hosts: dict[str, list[str]] = {}
        self.srv: dict[str, list[SrvRecord]] = {}


class ServerDns:
    """One server's view of the network; ``unreachable`` names resolve to nothing."""

    def __init__(self, network: Network) -> None:
        self.network = network
        self.unreachable: set[str] = set()

    async def resolve_srv(self, name: str) -> list[SrvRecord]:
        records = self.network.srv.get(name, [])
        return [r for r in records if r.target not in self.unreachable]

    async def resolve_host(self, host: str) -> list[str]:
        return [] if host in self.unreachable else list(self.network.hosts.get(host, []))


@dataclass
class RunningServer:
    name: str
    ip: str
    hs: Homeserver
    dns: ServerDns
    port: int = 0
    runner: web.AppRunner | None = field(default=None, repr=False)
    # What restarting the server needs: its configuration and certificate.
    config: Any = field(default=None, repr=False)
    cert: Any = field(default=None, repr=False)

    @property
    def key_id(self) -> str:
        return self.hs.server_keys.signing_key.key_id


StartFn = Callable[..., Awaitable[RunningServer]]
StopFn = Callable[[RunningServer], Awaitable[None]]
RestartFn = Callable[[RunningServer], Awaitable[RunningServer]]


@dataclass
class Federation:
    ca: TestCA
    network: Network
    start: StartFn
    servers: dict[str, RunningServer]
    stop: StopFn
    restart: RestartFn

    def https(self) -> aiohttp.ClientSession:
        """A plain HTTPS client trusting the test CA (for hand-made requests)."""
        context = client_ssl_context(custom_ca_files=[self.ca.path], use_system_store=False)
        return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context))

    def url(self, server: RunningServer, path: str) -> str:
        return f"https://{server.ip}:{server.port}{path}"


@pytest.fixture
async def federation(tmp_path: Path, db_engine: str) -> AsyncIterator[Federation]:
    ca = TestCA(tmp_path)
    network = Network()
    servers: dict[str, RunningServer] = {}
    databases: list[str] = []

    async def database_yaml(name: str) -> dict[str, Any]:
        if db_engine == "sqlite":
            return {"name": "sqlite3", "args": {"database": str(tmp_path / f"{name}.db")}}
        host, port, user = postgres_server()
        dbname = await create_postgres_database()
        databases.append(dbname)
        return {
            "name": "psycopg2",
            "args": {"host": host, "port": port, "user": user, "dbname": dbname},
        }

    async def start(name: str, ip: str, **overrides: Any) -> RunningServer:
        cert = ca.issue(name)
        raw = {
            "server_name": name,
            "database": await database_yaml(name),
            "bcrypt_rounds": 4,
            "signing_key_path": str(tmp_path / f"{name}.signing.key"),
            "federation_custom_ca_list": [str(ca.path)],
            "tls_certificate_path": str(cert.certificate),
            "tls_private_key_path": str(cert.private_key),
            **overrides,
        }
        config = parse_config(raw, tmp_path)
        dns = ServerDns(network)
        hs = await open_homeserver(config, dns=dns)
        server = RunningServer(name, ip, hs, dns, config=config, cert=cert)
        servers[name] = server
        await serve(server)
        network.hosts[name] = [ip]
        network.srv[f"_matrix-fed._tcp.{name}"] = [SrvRecord(name, server.port)]
        return server

    async def serve(server: RunningServer, port: int = 0) -> None:
        listener = ListenerConfig(
            port=8448,
            tls=True,
            resources=(ListenerResourceConfig(names=("client", "federation")),),
        )
        runner = web.AppRunner(listener_app(server.hs, listener), access_log=None)
        await runner.setup()
        server.runner = runner
        site = web.TCPSite(
            runner, server.ip, port, ssl_context=server.cert.server_context(), reuse_address=True
        )
        await site.start()
        server.port = runner.addresses[0][1]

    async def stop(server: RunningServer) -> None:
        """Stop serving and close the homeserver (its database stays)."""
        if server.runner is not None:
            await server.runner.cleanup()
            server.runner = None
        await server.hs.close()

    async def restart(server: RunningServer) -> RunningServer:
        """Open the stopped server again on the same address, port and database."""
        server.hs = await open_homeserver(server.config, dns=server.dns)
        await serve(server, server.port)
        return server

    try:
        yield Federation(ca, network, start, servers, stop, restart)
    finally:
        for server in servers.values():
            if server.runner is not None:
                await server.runner.cleanup()
                await server.hs.close()
        for dbname in databases:
            await drop_postgres_database(dbname)
