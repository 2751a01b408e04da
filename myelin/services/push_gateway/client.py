"""Requests to push gateways (spec: Push Gateway API, ``POST /_matrix/push/v1/notify``).

A pusher's ``data.url`` is chosen by a client, so the request must never be turned against
the network the server sits in: every address a gateway's host name resolves to is checked
against ``ip_range_blacklist``/``ip_range_whitelist`` by the HTTP client's own resolver (the
address checked is the address connected to), and an IP literal before connecting. HTTPS
with the system's certificate checks; plain HTTP is accepted as Synapse does (pushers.py).
Every request is bounded in time, redirects are not followed, the answer is read up to
``MAX_RESPONSE_BYTES``.
"""

import ipaddress
import json
from collections.abc import Mapping
from typing import Any

import aiohttp
from yarl import URL

from myelin.services.media.url_preview import BlockedAddressError, FilteringResolver, IpFilter

# Synapse's HTTP client waits 60 s; a gateway answers in well under a second, and a pusher
# stuck behind one dead gateway delays nobody else's notifications.
REQUEST_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 10.0
MAX_RESPONSE_BYTES = 64 * 1024
_USER_AGENT = "Myelin (push)"


class PushGatewayError(Exception):
    """The gateway could not be reached or did not answer 200 with a JSON object."""


class PushGatewayClient:
    """POSTs notifications to push gateways over one connection pool (made on first use)."""

    def __init__(self, ip_filter: IpFilter, *, timeout_s: float = REQUEST_TIMEOUT_S) -> None:
        self._filter = ip_filter
        self._timeout = aiohttp.ClientTimeout(
            total=timeout_s, connect=min(CONNECT_TIMEOUT_S, timeout_s)
        )
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    resolver=FilteringResolver(self._filter), use_dns_cache=False
                ),
                trust_env=False,
                headers={"User-Agent": _USER_AGENT},
                timeout=self._timeout,
            )
        return self._session

    async def notify(self, url: str, body: Mapping[str, Any]) -> list[str]:
        """POST ``body`` to ``url``; the ``rejected`` pushkeys of the answer."""
        target = URL(url)
        if target.scheme not in ("http", "https") or not target.host:
            raise PushGatewayError(f"not an http(s) URL: {url}")
        host = target.host.strip("[]")
        try:
            ipaddress.ip_address(host)
        except ValueError:
            pass  # a host name: its addresses are checked by the resolver
        else:
            if not self._filter.allowed(host):
                raise PushGatewayError(f"{host} is blocked by ip_range_blacklist")
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        try:
            async with self._open().post(
                target,
                data=data,
                headers={"Content-Type": "application/json"},
                allow_redirects=False,
            ) as response:
                text = await _read_limited(response)
                status = response.status
        except (aiohttp.ClientError, OSError, TimeoutError) as e:
            if isinstance(e.__cause__, BlockedAddressError) or isinstance(e, BlockedAddressError):
                raise PushGatewayError(
                    f"every address of {host} is blocked by ip_range_blacklist"
                ) from e
            raise PushGatewayError(f"{type(e).__name__}: {e}") from e
        if status != 200:
            raise PushGatewayError(f"answered HTTP {status}")
        try:
            answer = json.loads(text)
        except ValueError as e:
            raise PushGatewayError("answered with a body that is not JSON") from e
        if not isinstance(answer, dict):
            raise PushGatewayError("answered with a body that is not a JSON object")
        rejected = answer.get("rejected", [])
        if not isinstance(rejected, list):
            return []
        return [key for key in rejected if isinstance(key, str)]

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


async def _read_limited(response: aiohttp.ClientResponse) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(16 * 1024):
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise PushGatewayError(f"answered more than {MAX_RESPONSE_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
