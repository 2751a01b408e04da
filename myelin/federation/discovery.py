"""Server discovery (spec: Server-Server API, "Resolving server names").

``ServerResolver.resolve`` turns a server name into where to connect (host and port), the
``Host`` header and the name the TLS certificate must be valid for, following the spec's steps:
IP literals, explicit ports, ``/.well-known/matrix/server`` (cached with the spec's rules), SRV
``_matrix-fed._tcp`` then the deprecated ``_matrix._tcp``, then port 8448.

DNS is behind the ``DnsResolver`` protocol and the well-known request behind
``WellKnownFetcher``, so that tests inject their own and nothing but loopback is contacted.
"""

import asyncio
import logging
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import orjson

from myelin.clock import Clock
from myelin.core.errors import InvalidIdentifierError
from myelin.core.identifiers import ServerName

logger = logging.getLogger("myelin.federation")

DEFAULT_PORT = 8448

# Well-known caching (step 3): the spec recommends 24 hours without cache headers, at most
# 48 hours, and caching errors for up to an hour with exponential backoff on repeated failures.
WELL_KNOWN_DEFAULT_CACHE_MS = 24 * 3_600_000
WELL_KNOWN_MAX_CACHE_MS = 48 * 3_600_000
# A response whose headers ask for less is still kept this long (Synapse: 5 minutes).
WELL_KNOWN_MIN_CACHE_MS = 5 * 60_000
# Errors: 2 minutes first, doubling per consecutive failure, at most an hour.
WELL_KNOWN_ERROR_CACHE_MS = 2 * 60_000
WELL_KNOWN_MAX_ERROR_CACHE_MS = 3_600_000
# The largest well-known body read.
WELL_KNOWN_MAX_BYTES = 50 * 1024


@dataclass(frozen=True)
class SrvRecord:
    target: str
    port: int
    priority: int = 0
    weight: int = 0


class DnsResolver(Protocol):
    async def resolve_srv(self, name: str) -> list[SrvRecord]:
        """The SRV records of ``name``; empty when there are none (or the lookup failed)."""
        ...

    async def resolve_host(self, host: str) -> list[str]:
        """The IP addresses of ``host`` (CNAME, AAAA and A records); empty when none."""
        ...


@dataclass(frozen=True)
class WellKnownResponse:
    """What a ``GET https://<hostname>/.well-known/matrix/server`` returned."""

    status: int
    body: bytes
    headers: Mapping[str, str]


class WellKnownFetcher(Protocol):
    async def fetch_well_known(self, hostname: str) -> WellKnownResponse:
        """Fetch the well-known file over HTTPS (redirects followed, loops avoided); raise
        ``OSError`` or ``asyncio.TimeoutError`` when no response was received."""
        ...


@dataclass(frozen=True)
class ResolvedServer:
    """Where to send requests for one server name.

    ``connect_host`` (a host name or a bare IP address) and ``port`` are what to connect to;
    ``tls_name`` is the name the certificate must be valid for (None: the IP address in
    ``connect_host``, and no SNI is sent); ``host_header`` is the ``Host`` header.
    """

    server_name: str
    connect_host: str
    port: int
    host_header: str
    tls_name: str | None


def _ip_resolved(server_name: str, name: ServerName, host_header: str) -> ResolvedServer:
    ip = name.bare_host
    return ResolvedServer(server_name, ip, name.port or DEFAULT_PORT, host_header, None)


def _srv_order(records: list[SrvRecord]) -> list[SrvRecord]:
    # RFC 2782: lowest priority first; among equal priorities, heavier weights first (a
    # deterministic stand-in for the weighted random choice).
    return sorted(records, key=lambda r: (r.priority, -r.weight))


@dataclass
class _CacheEntry:
    delegated: str | None  # m.server, or None when the response was an error
    expires_ms: int
    failures: int = 0


_MAX_AGE_RE = re.compile(r"(?:^|[,\s])max-age\s*=\s*(\d+)", re.IGNORECASE)


def well_known_cache_ms(headers: Mapping[str, str]) -> int:
    """How long to keep a valid well-known response, from its ``Cache-Control`` header."""
    cache_control = ""
    for key, value in headers.items():
        if key.lower() == "cache-control":
            cache_control = value
    lowered = cache_control.lower()
    if "no-store" in lowered or "no-cache" in lowered:
        return WELL_KNOWN_MIN_CACHE_MS
    match = _MAX_AGE_RE.search(cache_control)
    if match is None:
        return WELL_KNOWN_DEFAULT_CACHE_MS
    age_ms = int(match.group(1)) * 1000
    return max(WELL_KNOWN_MIN_CACHE_MS, min(age_ms, WELL_KNOWN_MAX_CACHE_MS))


def parse_well_known(body: bytes) -> str | None:
    """The ``m.server`` of a well-known body when it is valid (a server name), else None."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(parsed, dict):
        return None
    delegated = parsed.get("m.server")
    if not isinstance(delegated, str):
        return None
    try:
        ServerName.parse(delegated)
    except InvalidIdentifierError:
        return None
    return delegated


class ServerResolver:
    """Resolves server names, caching well-known answers (not DNS: the resolver may)."""

    def __init__(self, dns: DnsResolver, well_known: WellKnownFetcher, clock: Clock) -> None:
        self._dns = dns
        self._well_known = well_known
        self._clock = clock
        self._cache: dict[str, _CacheEntry] = {}
        self._in_flight: dict[str, asyncio.Future[str | None]] = {}

    async def resolve(self, server_name: str) -> ResolvedServer:
        """Where to reach ``server_name``; raise ``InvalidIdentifierError`` for a bad name."""
        name = ServerName.parse(server_name)
        # 1. An IP literal: that address, with the given port or 8448; the Host header is the
        # server name (with its port when it has one).
        if name.is_ip_literal:
            return _ip_resolved(server_name, name, server_name)
        # 2. A host name with an explicit port: that host and port, Host the server name.
        if name.port is not None:
            return ResolvedServer(server_name, name.host, name.port, server_name, name.host)
        # 3. /.well-known/matrix/server.
        delegated = await self._delegation(name.host)
        if delegated is not None:
            return await self._resolve_delegated(server_name, delegated)
        # 4. SRV _matrix-fed._tcp.<hostname>; 5. [Deprecated] SRV _matrix._tcp.<hostname>.
        srv = await self._srv(name.host)
        if srv is not None:
            return ResolvedServer(server_name, srv.target, srv.port, name.host, name.host)
        # 6. The host name itself, port 8448, Host <hostname>.
        return ResolvedServer(server_name, name.host, DEFAULT_PORT, name.host, name.host)

    async def _resolve_delegated(self, server_name: str, delegated: str) -> ResolvedServer:
        target = ServerName.parse(delegated)
        # 3.1 An IP literal: that address with <delegated_port> or 8448; Host is the IP
        # address, with the port if one was given.
        if target.is_ip_literal:
            return _ip_resolved(server_name, target, str(target))
        # 3.2 A host name with a port: Host <delegated_hostname>:<delegated_port>.
        if target.port is not None:
            return ResolvedServer(server_name, target.host, target.port, delegated, target.host)
        # 3.3 SRV _matrix-fed._tcp.<delegated_hostname>; 3.4 [Deprecated] _matrix._tcp.
        srv = await self._srv(target.host)
        if srv is not None:
            return ResolvedServer(server_name, srv.target, srv.port, target.host, target.host)
        # 3.5 No SRV record: <delegated_hostname> on port 8448.
        return ResolvedServer(server_name, target.host, DEFAULT_PORT, target.host, target.host)

    async def _srv(self, hostname: str) -> SrvRecord | None:
        for service in ("_matrix-fed._tcp", "_matrix._tcp"):
            records = [r for r in await self._dns.resolve_srv(f"{service}.{hostname}") if r.target]
            # A target of "." means the service is decidedly not available at this domain.
            usable = [r for r in _srv_order(records) if r.target not in (".", "")]
            if records and not usable:
                return None
            if usable:
                first = usable[0]
                return SrvRecord(first.target.rstrip("."), first.port, first.priority, first.weight)
        return None

    async def _delegation(self, hostname: str) -> str | None:
        now = self._clock.now_ms()
        entry = self._cache.get(hostname)
        if entry is not None and entry.expires_ms > now:
            return entry.delegated
        # Concurrent resolutions of one name share one request.
        pending = self._in_flight.get(hostname)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._in_flight[hostname] = future
        try:
            delegated = await self._fetch(hostname, entry)
            future.set_result(delegated)
            return delegated
        except BaseException as e:
            future.set_exception(e)
            # Nobody else may be waiting: mark the exception retrieved.
            future.exception()
            raise
        finally:
            del self._in_flight[hostname]

    async def _fetch(self, hostname: str, previous: _CacheEntry | None) -> str | None:
        now = self._clock.now_ms()
        try:
            response = await self._well_known.fetch_well_known(hostname)
        except (OSError, TimeoutError) as e:
            failures = (previous.failures if previous and previous.delegated is None else 0) + 1
            delay = min(
                WELL_KNOWN_ERROR_CACHE_MS * 2 ** (failures - 1), WELL_KNOWN_MAX_ERROR_CACHE_MS
            )
            logger.info("No /.well-known/matrix/server from %s: %s", hostname, e)
            self._cache[hostname] = _CacheEntry(None, now + delay, failures)
            return None
        delegated = parse_well_known(response.body) if response.status == 200 else None
        if delegated is None:
            # An invalid or non-200 response: skip to step 4, and remember that for an hour.
            self._cache[hostname] = _CacheEntry(None, now + WELL_KNOWN_MAX_ERROR_CACHE_MS)
            return None
        self._cache[hostname] = _CacheEntry(delegated, now + well_known_cache_ms(response.headers))
        return delegated


class SystemDnsResolver:
    """DNS through the system: SRV with dnspython, addresses with ``getaddrinfo``."""

    async def resolve_srv(self, name: str) -> list[SrvRecord]:
        import dns.asyncresolver
        import dns.exception

        try:
            answer = await dns.asyncresolver.resolve(name, "SRV")
        except dns.exception.DNSException:
            return []
        return [
            SrvRecord(str(r.target).rstrip(".") or ".", int(r.port), int(r.priority), int(r.weight))
            for r in answer
        ]

    async def resolve_host(self, host: str) -> list[str]:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except OSError:
            return []
        seen: list[str] = []
        for _family, _type, _proto, _canon, address in infos:
            ip = str(address[0])
            if ip not in seen:
                seen.append(ip)
        return seen
