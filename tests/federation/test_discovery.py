"""Server discovery: the spec's steps with an injected resolver, and a real well-known file
served over TLS (certificate from a test CA) on 127.0.0.1."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from myelin.core.errors import InvalidIdentifierError
from myelin.core.signing import SigningKey
from myelin.federation.backoff import BackoffPolicy, DestinationBackoff
from myelin.federation.client import FederationClient, RequestFailedError
from myelin.federation.discovery import (
    WELL_KNOWN_DEFAULT_CACHE_MS,
    WELL_KNOWN_MAX_CACHE_MS,
    WELL_KNOWN_MAX_ERROR_CACHE_MS,
    ResolvedServer,
    ServerResolver,
    SrvRecord,
    WellKnownResponse,
    parse_well_known,
    well_known_cache_ms,
)
from myelin.federation.policy import FederationPolicy
from myelin.federation.tls import client_ssl_context
from tests.api.conftest import FakeClock
from tests.federation.fakes import FakeDns
from tests.federation.tls_support import TestCA


class FakeWellKnown:
    def __init__(self) -> None:
        self.answers: dict[str, WellKnownResponse | Exception] = {}
        self.calls: list[str] = []

    async def fetch_well_known(self, hostname: str) -> WellKnownResponse:
        self.calls.append(hostname)
        answer = self.answers.get(hostname, OSError("connection refused"))
        if isinstance(answer, Exception):
            raise answer
        return answer


def _ok(body: Any, headers: dict[str, str] | None = None) -> WellKnownResponse:
    return WellKnownResponse(200, orjson.dumps(body), headers or {})


@pytest.fixture
def parts() -> tuple[FakeDns, FakeWellKnown, FakeClock, ServerResolver]:
    dns, wk, clock = FakeDns(), FakeWellKnown(), FakeClock()
    return dns, wk, clock, ServerResolver(dns, wk, clock)


Parts = tuple[FakeDns, FakeWellKnown, FakeClock, ServerResolver]


async def test_ip_literals_use_the_port_or_8448(parts: Parts) -> None:
    dns, wk, _, resolver = parts
    # Step 1: no well-known, no DNS; Host is the server name with its port when given.
    assert await resolver.resolve("127.0.0.5") == ResolvedServer(
        "127.0.0.5", "127.0.0.5", 8448, "127.0.0.5", None
    )
    assert await resolver.resolve("[::1]:8000") == ResolvedServer(
        "[::1]:8000", "::1", 8000, "[::1]:8000", None
    )
    assert wk.calls == [] and dns.lookups == []


async def test_explicit_port_skips_well_known(parts: Parts) -> None:
    dns, wk, _, resolver = parts
    # Step 2: host and port as given, certificate for the host name, Host with the port.
    assert await resolver.resolve("hs.test:8449") == ResolvedServer(
        "hs.test:8449", "hs.test", 8449, "hs.test:8449", "hs.test"
    )
    assert wk.calls == [] and dns.lookups == []


async def test_well_known_delegations(parts: Parts) -> None:
    dns, wk, _, resolver = parts
    wk.answers["a.test"] = _ok({"m.server": "10.0.0.1"})
    wk.answers["b.test"] = _ok({"m.server": "[::1]:9000"})
    wk.answers["c.test"] = _ok({"m.server": "deleg.test:9001"})
    wk.answers["d.test"] = _ok({"m.server": "srv-deleg.test"})
    wk.answers["e.test"] = _ok({"m.server": "old-srv.test"})
    wk.answers["f.test"] = _ok({"m.server": "plain.test"})
    dns.srv["_matrix-fed._tcp.srv-deleg.test"] = [
        SrvRecord("backup.test", 2, priority=20),
        SrvRecord("target.test.", 8500, priority=10),
    ]
    dns.srv["_matrix._tcp.old-srv.test"] = [SrvRecord("legacy.test", 8600)]
    # 3.1: the IP with 8448, Host the IP; 3.1 with a port: Host includes the port.
    assert await resolver.resolve("a.test") == ResolvedServer(
        "a.test", "10.0.0.1", 8448, "10.0.0.1", None
    )
    assert await resolver.resolve("b.test") == ResolvedServer(
        "b.test", "::1", 9000, "[::1]:9000", None
    )
    # 3.2: delegated host and port; certificate for the delegated host.
    assert await resolver.resolve("c.test") == ResolvedServer(
        "c.test", "deleg.test", 9001, "deleg.test:9001", "deleg.test"
    )
    # 3.3: SRV _matrix-fed._tcp of the delegated host, lowest priority first.
    assert await resolver.resolve("d.test") == ResolvedServer(
        "d.test", "target.test", 8500, "srv-deleg.test", "srv-deleg.test"
    )
    # 3.4: the deprecated _matrix._tcp when _matrix-fed._tcp has nothing.
    assert await resolver.resolve("e.test") == ResolvedServer(
        "e.test", "legacy.test", 8600, "old-srv.test", "old-srv.test"
    )
    assert dns.lookups.index("SRV _matrix-fed._tcp.old-srv.test") < dns.lookups.index(
        "SRV _matrix._tcp.old-srv.test"
    )
    # 3.5: no SRV: the delegated host on 8448.
    assert await resolver.resolve("f.test") == ResolvedServer(
        "f.test", "plain.test", 8448, "plain.test", "plain.test"
    )


async def test_without_well_known_srv_then_8448(parts: Parts) -> None:
    dns, _, _, resolver = parts
    dns.srv["_matrix-fed._tcp.fed.test"] = [SrvRecord("box.test", 7000)]
    dns.srv["_matrix._tcp.fed.test"] = [SrvRecord("wrong.test", 1)]
    dns.srv["_matrix._tcp.legacy.test"] = [SrvRecord("box2.test", 7001)]
    # 4: _matrix-fed._tcp; certificate and Host are the original host name.
    assert await resolver.resolve("fed.test") == ResolvedServer(
        "fed.test", "box.test", 7000, "fed.test", "fed.test"
    )
    # 5: the deprecated _matrix._tcp.
    assert await resolver.resolve("legacy.test") == ResolvedServer(
        "legacy.test", "box2.test", 7001, "legacy.test", "legacy.test"
    )
    # 6: nothing at all: port 8448 on the host itself.
    assert await resolver.resolve("bare.test") == ResolvedServer(
        "bare.test", "bare.test", 8448, "bare.test", "bare.test"
    )


async def test_invalid_well_known_falls_through(parts: Parts) -> None:
    _, wk, _, resolver = parts
    for host, answer in {
        "a.test": WellKnownResponse(200, b"not json", {}),
        "b.test": _ok(["m.server"]),
        "c.test": _ok({"m.server": 12}),
        "d.test": _ok({"m.server": "bad host!"}),
        "e.test": WellKnownResponse(404, b'{"m.server": "x.test"}', {}),
    }.items():
        wk.answers[host] = answer
        resolved = await resolver.resolve(host)
        assert (resolved.connect_host, resolved.port) == (host, 8448)


async def test_bad_server_name_is_refused(parts: Parts) -> None:
    with pytest.raises(InvalidIdentifierError):
        await parts[3].resolve("bad name")


async def test_well_known_cache_rules(parts: Parts) -> None:
    _, wk, clock, resolver = parts
    wk.answers["a.test"] = _ok({"m.server": "one.test:1"})
    await resolver.resolve("a.test")
    wk.answers["a.test"] = _ok({"m.server": "two.test:2"})
    clock.now += WELL_KNOWN_DEFAULT_CACHE_MS - 1
    assert (await resolver.resolve("a.test")).connect_host == "one.test"
    clock.now += 2
    assert (await resolver.resolve("a.test")).connect_host == "two.test"
    assert wk.calls == ["a.test", "a.test"]
    # Errors are cached too, then retried with a growing delay.
    calls = len(wk.calls)
    await resolver.resolve("down.test")
    await resolver.resolve("down.test")
    assert len(wk.calls) == calls + 1
    clock.now += 2 * 60_000
    await resolver.resolve("down.test")
    assert len(wk.calls) == calls + 2
    clock.now += 2 * 60_000
    await resolver.resolve("down.test")
    assert len(wk.calls) == calls + 2  # the second failure doubled the delay


def test_cache_control() -> None:
    assert well_known_cache_ms({}) == WELL_KNOWN_DEFAULT_CACHE_MS
    assert well_known_cache_ms({"Cache-Control": "public, max-age=3600"}) == 3_600_000
    assert well_known_cache_ms({"cache-control": "max-age=999999999"}) == WELL_KNOWN_MAX_CACHE_MS
    assert well_known_cache_ms({"Cache-Control": "max-age=1"}) == 5 * 60_000
    assert WELL_KNOWN_MAX_ERROR_CACHE_MS == 3_600_000
    assert parse_well_known(b'{"m.server": "a.test:443"}') == "a.test:443"
    assert parse_well_known(b'{"m.server": ""}') is None


# -- a real well-known over TLS -----------------------------------------------------------


@pytest.fixture
async def tls_site(tmp_path: Path) -> AsyncIterator[tuple[TestCA, dict[str, Any]]]:
    ca = TestCA(tmp_path)
    cert = ca.issue("wk.test", "127.0.0.1")
    state: dict[str, Any] = {"hits": 0}

    async def well_known(request: web.Request) -> web.Response:
        state["hits"] += 1
        return web.json_response(
            {"m.server": "delegated.test:8450"}, headers={"Cache-Control": "max-age=7200"}
        )

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound("/.well-known/matrix/server")

    async def loop(request: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    app = web.Application()
    app.router.add_get("/.well-known/matrix/server", well_known)
    app.router.add_get("/redirect", redirect)
    app.router.add_get("/loop", loop)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=cert.server_context())
    await site.start()
    state["port"] = runner.addresses[0][1]
    try:
        yield ca, state
    finally:
        await runner.cleanup()


def _client(dns: FakeDns, ca: TestCA | None, port: int, verify: bool = True) -> FederationClient:
    class NoStore:
        async def get_backoff(self, destination: str) -> None:
            return None

        async def set_backoff(self, destination: str, *args: int) -> None:
            return None

        async def clear_backoff(self, destination: str) -> None:
            return None

    clock = FakeClock()
    return FederationClient(
        server_name="origin.test",
        signing_key=SigningKey.generate("k"),
        dns=dns,
        ssl_context=client_ssl_context(
            verify=verify,
            custom_ca_files=[ca.path] if ca else [],
            use_system_store=False,
        ),
        policy=FederationPolicy(),
        backoff=DestinationBackoff(NoStore(), clock, BackoffPolicy()),
        clock=clock,
        well_known_port=port,
    )


async def test_real_well_known_over_tls(tls_site: tuple[TestCA, dict[str, Any]]) -> None:
    ca, state = tls_site
    dns = FakeDns()
    dns.hosts["wk.test"] = ["127.0.0.1"]
    client = _client(dns, ca, state["port"])
    try:
        resolved = await client.resolver.resolve("wk.test")
        assert resolved == ResolvedServer(
            "wk.test", "delegated.test", 8450, "delegated.test:8450", "delegated.test"
        )
        await client.resolver.resolve("wk.test")
        assert state["hits"] == 1  # cached
    finally:
        await client.close()


async def test_well_known_needs_a_trusted_certificate(
    tls_site: tuple[TestCA, dict[str, Any]], tmp_path: Path
) -> None:
    _, state = tls_site
    other_ca = TestCA(tmp_path, "Other CA")
    dns = FakeDns()
    dns.hosts["wk.test"] = ["127.0.0.1"]
    client = _client(dns, other_ca, state["port"])
    try:
        # The certificate does not chain to a trusted CA: the well-known counts as an error.
        resolved = await client.resolver.resolve("wk.test")
        assert (resolved.connect_host, resolved.port) == ("wk.test", 8448)
        assert state["hits"] == 0
    finally:
        await client.close()
    # Certificate checks off (labs only): the same server is accepted.
    unverified = _client(dns, None, state["port"], verify=False)
    try:
        assert (await unverified.resolver.resolve("wk.test")).port == 8450
    finally:
        await unverified.close()


async def test_name_mismatch_is_refused(tls_site: tuple[TestCA, dict[str, Any]]) -> None:
    ca, state = tls_site
    dns = FakeDns()
    dns.hosts["other.test"] = ["127.0.0.1"]  # served with a certificate for wk.test only
    dns.hosts["wk.test"] = ["127.0.0.1"]
    client = _client(dns, ca, state["port"])
    try:
        assert (await client.resolver.resolve("other.test")).port == 8448
        assert state["hits"] == 0
        # A direct request to a host whose certificate does not match fails too.
        with pytest.raises(RequestFailedError):
            await client.get_json(f"other.test:{state['port']}", "/.well-known/matrix/server")
        ok = await client.get_json(f"wk.test:{state['port']}", "/.well-known/matrix/server")
        assert ok == {"m.server": "delegated.test:8450"}
    finally:
        await client.close()
