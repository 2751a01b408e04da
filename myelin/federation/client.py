"""The federation HTTP client (spec: Server-Server API, "API standards", "TLS", "Request
Authentication"; "Resolving server names" through ``discovery``).

``FederationClient`` sends JSON requests to other homeservers: it applies the operator's
``FederationPolicy``, respects the destination's backoff, resolves the server name, signs the
request with ``X-Matrix`` (``destination`` included), connects over TLS with certificate checks
(the context from ``tls``), reuses connections per destination and maps failures to typed
errors. Callers pass paths already percent-encoded (``quote_segment``): the signed URI is
exactly the one sent.
"""

import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import orjson
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from myelin.clock import Clock
from myelin.core.identifiers import is_valid_server_name
from myelin.core.signing import SigningKey
from myelin.federation.backoff import DestinationBackoff
from myelin.federation.discovery import (
    WELL_KNOWN_MAX_BYTES,
    DnsResolver,
    ServerResolver,
    WellKnownResponse,
)
from myelin.federation.policy import FederationPolicy
from myelin.federation.request_signing import NO_CONTENT, sign_request
from myelin.federation.tls import ClientContextSource, resolve_client_context

logger = logging.getLogger("myelin.federation")

Query = Mapping[str, str | Sequence[str]]

DEFAULT_TIMEOUT_S = 60.0
WELL_KNOWN_TIMEOUT_S = 10.0
# The largest response body read from another server (Synapse: 300 MiB for state responses).
MAX_RESPONSE_BYTES = 300 * 1024 * 1024
# What is read of an error response to a streamed request.
ERROR_BODY_BYTES = 64 * 1024


class FederationError(Exception):
    """A federation request that did not succeed."""

    def __init__(self, destination: str, message: str) -> None:
        super().__init__(f"{destination}: {message}")
        self.destination = destination


class FederationDeniedError(FederationError):
    """The operator's policy refuses this destination (or federation is off)."""


class NotRetryingDestinationError(FederationError):
    """The destination failed recently and is being backed off until ``retry_after_ts``."""

    def __init__(self, destination: str, retry_after_ts: int) -> None:
        super().__init__(destination, f"backing off until {retry_after_ts}")
        self.retry_after_ts = retry_after_ts


class RequestFailedError(FederationError):
    """No usable response: discovery, connection, TLS, timeout or a body that is not JSON."""


class HttpResponseError(FederationError):
    """The destination answered with an error status."""

    def __init__(self, destination: str, status: int, body: bytes) -> None:
        self.status = status
        self.body = body
        self.errcode: str | None = None
        self.error: str | None = None
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict):
            errcode, error = parsed.get("errcode"), parsed.get("error")
            self.errcode = errcode if isinstance(errcode, str) else None
            self.error = error if isinstance(error, str) else None
        super().__init__(destination, f"HTTP {status} {self.errcode or ''} {self.error or ''}")


def quote_segment(value: str) -> str:
    """One path segment percent-encoded (every reserved character, ``/`` included)."""
    return quote(value, safe="")


@dataclass(frozen=True)
class FederationResponse:
    status: int
    body: Any


class _Resolver(AbstractResolver):
    """aiohttp's host lookups through the injected ``DnsResolver``."""

    def __init__(self, dns: DnsResolver) -> None:
        self._dns = dns

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = await self._dns.resolve_host(host)
        if not addresses:
            raise OSError(f"cannot resolve {host}")
        results: list[ResolveResult] = []
        for address in addresses:
            ip_family = socket.AF_INET6 if ":" in address else socket.AF_INET
            if family not in (socket.AF_UNSPEC, ip_family):
                continue
            results.append(
                ResolveResult(
                    hostname=host,
                    host=address,
                    port=port,
                    family=ip_family,
                    proto=0,
                    flags=socket.AI_NUMERICHOST,
                )
            )
        if not results:
            raise OSError(f"no address of the requested family for {host}")
        return results

    async def close(self) -> None:
        return None


def _authority(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class FederationClient:
    """Typed JSON requests to other homeservers."""

    def __init__(
        self,
        *,
        server_name: str,
        signing_key: SigningKey,
        dns: DnsResolver,
        ssl_context: ClientContextSource,
        policy: FederationPolicy,
        backoff: DestinationBackoff,
        clock: Clock,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        well_known_port: int = 443,
    ) -> None:
        self._server_name = server_name
        self._signing_key = signing_key
        self._dns = dns
        self._ssl = ssl_context
        self.policy = policy
        self.backoff = backoff
        self._timeout_s = timeout_s
        self._well_known_port = well_known_port
        self._session: aiohttp.ClientSession | None = None
        self.resolver = ServerResolver(dns, self, clock)

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                resolver=_Resolver(self._dns),
                ssl=resolve_client_context(self._ssl),
                limit=0,
                limit_per_host=32,
                keepalive_timeout=60,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=True,
                headers={"User-Agent": "Myelin"},
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- well-known (discovery step 3) --------------------------------------------------------

    async def fetch_well_known(self, hostname: str) -> WellKnownResponse:
        url = URL.build(
            scheme="https",
            host=hostname,
            port=None if self._well_known_port == 443 else self._well_known_port,
            path="/.well-known/matrix/server",
        )
        session = self._get_session()
        try:
            async with session.get(
                url,
                allow_redirects=True,
                max_redirects=10,
                timeout=aiohttp.ClientTimeout(total=WELL_KNOWN_TIMEOUT_S),
            ) as response:
                body = await response.content.read(WELL_KNOWN_MAX_BYTES + 1)
                if len(body) > WELL_KNOWN_MAX_BYTES:
                    body = b""
                return WellKnownResponse(response.status, body, dict(response.headers))
        except aiohttp.TooManyRedirects:
            # A redirection loop (or too long a chain) counts as an invalid response.
            return WellKnownResponse(310, b"", {})
        except aiohttp.ClientError as e:
            raise OSError(str(e)) from e

    # -- requests -----------------------------------------------------------------------------

    async def get_json(
        self,
        destination: str,
        path: str,
        query: Query | None = None,
        *,
        ignore_backoff: bool = False,
        timeout_s: float | None = None,
    ) -> Any:
        response = await self.request(
            "GET", destination, path, query, ignore_backoff=ignore_backoff, timeout_s=timeout_s
        )
        return response.body

    async def put_json(
        self,
        destination: str,
        path: str,
        body: Any,
        query: Query | None = None,
        *,
        ignore_backoff: bool = False,
        timeout_s: float | None = None,
    ) -> Any:
        response = await self.request(
            "PUT",
            destination,
            path,
            query,
            body,
            ignore_backoff=ignore_backoff,
            timeout_s=timeout_s,
        )
        return response.body

    async def post_json(
        self,
        destination: str,
        path: str,
        body: Any,
        query: Query | None = None,
        *,
        ignore_backoff: bool = False,
        timeout_s: float | None = None,
    ) -> Any:
        response = await self.request(
            "POST",
            destination,
            path,
            query,
            body,
            ignore_backoff=ignore_backoff,
            timeout_s=timeout_s,
        )
        return response.body

    async def request(
        self,
        method: str,
        destination: str,
        path: str,
        query: Query | None = None,
        content: Any = NO_CONTENT,
        *,
        ignore_backoff: bool = False,
        timeout_s: float | None = None,
    ) -> FederationResponse:
        """Send one signed request; return the 2xx response's JSON body.

        Raise ``FederationDeniedError``, ``NotRetryingDestinationError``,
        ``RequestFailedError`` or ``HttpResponseError``.
        """
        uri, authorization = await self._prepare(
            method, destination, path, query, content, ignore_backoff=ignore_backoff
        )
        headers = {"Authorization": authorization}
        data: bytes | None = None
        if content is not NO_CONTENT:
            data = orjson.dumps(content)
            headers["Content-Type"] = "application/json"
        try:
            status, body = await self._send(
                method=method,
                destination=destination,
                uri=uri,
                headers=headers,
                data=data,
                timeout_s=timeout_s,
            )
        except (OSError, TimeoutError, aiohttp.ClientError, ValueError) as e:
            raise await self._failed(method, destination, path, e) from e
        await self._record_status(destination, status)
        if not 200 <= status < 300:
            raise HttpResponseError(destination, status, body)
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError as e:
            raise RequestFailedError(destination, "response is not JSON") from e
        return FederationResponse(status, parsed)

    @contextlib.asynccontextmanager
    async def stream(
        self,
        destination: str,
        path: str,
        query: Query | None = None,
        *,
        ignore_backoff: bool = False,
        timeout_s: float | None = None,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Send one signed GET and yield its 2xx response with the body unread, for bodies
        streamed by the caller (media). ``timeout_s`` bounds connecting and each read, not the
        whole body. Raise the errors of ``request``; an error status's body (up to
        ``ERROR_BODY_BYTES``) is read into the ``HttpResponseError``.
        """
        uri, authorization = await self._prepare(
            "GET", destination, path, query, NO_CONTENT, ignore_backoff=ignore_backoff
        )
        timeout = timeout_s or self._timeout_s
        async with contextlib.AsyncExitStack() as stack:
            try:
                resolved = await self.resolver.resolve(destination)
                url = URL(
                    f"https://{_authority(resolved.connect_host, resolved.port)}{uri}",
                    encoded=True,
                )
                response = await stack.enter_async_context(
                    self._get_session().get(
                        url,
                        headers={"Authorization": authorization, "Host": resolved.host_header},
                        allow_redirects=False,
                        timeout=aiohttp.ClientTimeout(
                            total=None, connect=timeout, sock_read=timeout
                        ),
                        server_hostname=resolved.tls_name,
                    )
                )
            except (OSError, TimeoutError, aiohttp.ClientError, ValueError) as e:
                raise await self._failed("GET", destination, path, e) from e
            await self._record_status(destination, response.status)
            if not 200 <= response.status < 300:
                try:
                    body = await response.content.read(ERROR_BODY_BYTES)
                except (OSError, TimeoutError, aiohttp.ClientError):
                    body = b""
                raise HttpResponseError(destination, response.status, body)
            yield response

    async def _failed(
        self, method: str, destination: str, path: str, error: BaseException
    ) -> RequestFailedError:
        """A request that got no response: count it against the destination's backoff and
        return the error to raise."""
        await self.backoff.record_failure(destination)
        message = str(error) or type(error).__name__
        logger.info("Federation %s %s to %s failed: %s", method, path, destination, message)
        return RequestFailedError(destination, message)

    async def _record_status(self, destination: str, status: int) -> None:
        """A response arrived: a 5xx counts against the backoff, any other status resets it."""
        if status >= 500:
            await self.backoff.record_failure(destination)
        else:
            await self.backoff.record_success(destination)

    async def _prepare(
        self,
        method: str,
        destination: str,
        path: str,
        query: Query | None,
        content: Any,
        *,
        ignore_backoff: bool,
    ) -> tuple[str, str]:
        """The policy and backoff checks; the URI as sent and its X-Matrix authorization."""
        if not self.policy.enabled:
            raise FederationDeniedError(destination, "federation is disabled")
        if not is_valid_server_name(destination):
            raise RequestFailedError(destination, "not a valid server name")
        if not self.policy.permits(destination):
            raise FederationDeniedError(destination, "not allowed by the federation policy")
        if not ignore_backoff:
            retry_after = await self.backoff.retry_after(destination)
            if retry_after is not None:
                raise NotRetryingDestinationError(destination, retry_after)
        if not path.startswith("/"):
            raise ValueError("path must start with /")
        uri = path
        if query:
            uri += "?" + urlencode(
                [(k, v) for k, values in query.items() for v in _values(values)],
                quote_via=quote,
                safe="",
            )
        authorization = sign_request(
            self._server_name,
            destination,
            self._signing_key,
            method=method,
            uri=uri,
            content=content,
        )
        return uri, authorization

    async def _send(
        self,
        *,
        method: str,
        destination: str,
        uri: str,
        headers: dict[str, str],
        data: bytes | None,
        timeout_s: float | None,
    ) -> tuple[int, bytes]:
        resolved = await self.resolver.resolve(destination)
        headers["Host"] = resolved.host_header
        url = URL(f"https://{_authority(resolved.connect_host, resolved.port)}{uri}", encoded=True)
        session = self._get_session()
        timeout = aiohttp.ClientTimeout(total=timeout_s or self._timeout_s)
        async with session.request(
            method,
            url,
            headers=headers,
            data=data,
            allow_redirects=False,
            timeout=timeout,
            server_hostname=resolved.tls_name,
        ) as response:
            body = await response.content.read(MAX_RESPONSE_BYTES + 1)
            if len(body) > MAX_RESPONSE_BYTES:
                raise ValueError("response too large")
            return response.status, body


def _values(value: str | Sequence[str]) -> Sequence[str]:
    return [value] if isinstance(value, str) else value


__all__ = [
    "FederationClient",
    "FederationDeniedError",
    "FederationError",
    "FederationResponse",
    "HttpResponseError",
    "NotRetryingDestinationError",
    "RequestFailedError",
    "quote_segment",
]
