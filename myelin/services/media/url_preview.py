"""URL previews (spec: Client-Server API, "Content repository", ``GET /media/preview_url``).

The server fetches a page for a client, so it must never be turned against the network it sits
in (SSRF). Every address a host name resolves to is checked against the IP blacklist (unless
the whitelist allows it) by the resolver of the HTTP client itself, so the address checked is
the address connected to; IP literals are checked before connecting; redirects are followed by
hand, each new URL checked the same way (url_preview_url_blacklist, then its addresses). The
body is read up to max_spider_size and the whole fetch is bounded by url_preview_timeout. HTML
gives its Open Graph data; an image (or a page's ``og:image``) is stored as local media and
served as an ``mxc://`` URI with ``matrix:image:size``. Results are cached for an hour.
"""

import asyncio
import fnmatch
import ipaddress
import re
import socket
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from myelin.clock import Clock
from myelin.services.errors import MatrixError
from myelin.services.media.repository import MediaRepository

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_REDIRECTS = 5
CACHE_MS = 3_600_000
CACHE_ENTRIES = 1000
_USER_AGENT = "Myelin (bot; URL preview)"


@dataclass(frozen=True)
class PreviewSettings:
    ip_blacklist: tuple[str, ...]
    ip_whitelist: tuple[str, ...] = ()
    url_blacklist: tuple[Mapping[str, str], ...] = ()
    max_spider_size: int = 10 * 1024 * 1024
    timeout_ms: int = 10_000


class IpFilter:
    """Which addresses may be connected to: whitelisted ones, else those not blacklisted.
    The unspecified addresses (0.0.0.0, ::) are always refused."""

    def __init__(self, blacklist: Sequence[str], whitelist: Sequence[str]) -> None:
        self._black: list[IPNetwork] = [
            ipaddress.ip_network(n, strict=False) for n in (*blacklist, "0.0.0.0/32", "::/128")
        ]
        self._white: list[IPNetwork] = [ipaddress.ip_network(n, strict=False) for n in whitelist]

    def allowed(self, address: str) -> bool:
        try:
            ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        candidates = [ip]
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            candidates.append(ip.ipv4_mapped)
        if any(c in net for c in candidates for net in self._white):
            return True
        if ip.is_unspecified:
            return False
        return not any(c in net for c in candidates for net in self._black)


class BlockedAddressError(OSError):
    """Every address of a host name is blocked."""


class FilteringResolver(AbstractResolver):
    """Resolves with the system resolver, keeping only the addresses the filter allows."""

    def __init__(self, ip_filter: IpFilter) -> None:
        self._filter = ip_filter
        self._inner = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        allowed = [r for r in results if self._filter.allowed(r["host"])]
        if not allowed:
            raise BlockedAddressError(f"every address of {host} is blocked")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


def url_blacklisted(url: str, rules: Sequence[Mapping[str, str]]) -> bool:
    """Whether some rule matches every component it names (globs, or regexes starting ^)."""
    parts = urlsplit(url)
    values = {
        "scheme": parts.scheme,
        "netloc": parts.netloc,
        "username": parts.username or "",
        "password": parts.password or "",
        "hostname": parts.hostname or "",
        "port": str(parts.port or ""),
        "path": parts.path,
        "query": parts.query,
        "fragment": parts.fragment,
    }
    for rule in rules:
        matched = True
        for component, pattern in rule.items():
            value = values.get(component, "")
            if pattern.startswith("^"):
                ok = re.match(pattern, value) is not None
            else:
                ok = fnmatch.fnmatchcase(value, pattern)
            if not ok:
                matched = False
                break
        if matched and rule:
            return True
    return False


@dataclass(frozen=True)
class _Fetched:
    url: str
    content_type: str
    body: bytes
    charset: str | None


class UrlPreviewer:
    def __init__(self, settings: PreviewSettings, media: MediaRepository, clock: Clock) -> None:
        self._settings = settings
        self._media = media
        self._clock = clock
        self._filter = IpFilter(settings.ip_blacklist, settings.ip_whitelist)
        self._cache: dict[str, tuple[int, dict[str, Any]]] = {}

    async def preview(self, url: str, user_id: str, ts: int | None = None) -> dict[str, Any]:
        """The Open Graph data of ``url`` (``ts`` is accepted; the newest preview is served)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise MatrixError(400, "M_INVALID_PARAM", "url must be an http(s) URL")
        now = self._clock.now_ms()
        cached = self._cache.get(url)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            async with asyncio.timeout(self._settings.timeout_ms / 1000):
                result = await self._build(url, user_id)
        except TimeoutError as e:
            raise MatrixError(504, "M_UNKNOWN", "Timed out fetching the URL") from e
        if len(self._cache) >= CACHE_ENTRIES:
            self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
            if len(self._cache) >= CACHE_ENTRIES:
                self._cache.clear()
        self._cache[url] = (now + CACHE_MS, result)
        return result

    async def _build(self, url: str, user_id: str) -> dict[str, Any]:
        resolver = FilteringResolver(self._filter)
        connector = aiohttp.TCPConnector(resolver=resolver, use_dns_cache=False)
        async with aiohttp.ClientSession(
            connector=connector, trust_env=False, headers={"User-Agent": _USER_AGENT}
        ) as session:
            page = await self._fetch(session, url)
            if page.content_type.startswith("image/"):
                return await self._image_result(page, user_id)
            if page.content_type not in ("text/html", "application/xhtml+xml"):
                return {}
            # html.parser is loaded with the first page previewed.
            from myelin.services.media.opengraph import parse_open_graph

            og: dict[str, Any] = dict(parse_open_graph(_decode(page), page.url))
            image_url = og.get("og:image")
            if isinstance(image_url, str):
                try:
                    image = await self._fetch(session, image_url)
                except MatrixError:
                    image = None
                del og["og:image"]
                if image is not None and image.content_type.startswith("image/"):
                    og.update(await self._image_result(image, user_id))
            return og

    async def _image_result(self, image: _Fetched, user_id: str) -> dict[str, Any]:
        try:
            content_uri = await self._media.upload(
                user_id, _once(image.body), content_type=image.content_type, filename=None
            )
        except MatrixError as e:
            if e.status != 413:
                raise
            # An image above max_image_pixels (or the upload limit): no image in the preview.
            return {}
        return {
            "og:image": content_uri,
            "og:image:type": image.content_type,
            "matrix:image:size": len(image.body),
        }

    def _check_url(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise MatrixError(403, "M_FORBIDDEN", "Only http(s) URLs are previewed")
        if url_blacklisted(url, self._settings.url_blacklist):
            raise MatrixError(403, "M_FORBIDDEN", "URL blocked")
        try:
            ipaddress.ip_address(parts.hostname)
        except ValueError:
            return  # a host name: its addresses are checked by the resolver
        if not self._filter.allowed(parts.hostname):
            raise MatrixError(403, "M_FORBIDDEN", "IP address blocked")

    async def _fetch(self, session: aiohttp.ClientSession, url: str) -> _Fetched:
        for _ in range(MAX_REDIRECTS + 1):
            self._check_url(url)
            try:
                async with session.get(url, allow_redirects=False) as response:
                    location = response.headers.get("Location")
                    if response.status in (301, 302, 303, 307, 308) and location:
                        url = urljoin(url, location)
                        continue
                    if response.status != 200:
                        raise MatrixError(502, "M_UNKNOWN", f"URL answered {response.status}")
                    body = await self._read_limited(response)
                    content_type = response.content_type.lower()
                    charset = response.charset
            except (aiohttp.ClientError, OSError) as e:
                if isinstance(e.__cause__, BlockedAddressError):
                    raise MatrixError(403, "M_FORBIDDEN", "IP address blocked") from e
                raise MatrixError(502, "M_UNKNOWN", "Failed to download the URL") from e
            return _Fetched(url, content_type, body, charset)
        raise MatrixError(502, "M_UNKNOWN", "Too many redirects")

    async def _read_limited(self, response: aiohttp.ClientResponse) -> bytes:
        limit = self._settings.max_spider_size
        if response.content_length is not None and response.content_length > limit:
            raise MatrixError(502, "M_TOO_LARGE", "The URL's content is too large")
        data = bytearray()
        async for chunk in response.content.iter_chunked(64 * 1024):
            data += chunk
            if len(data) > limit:
                raise MatrixError(502, "M_TOO_LARGE", "The URL's content is too large")
        return bytes(data)


def _decode(page: _Fetched) -> str:
    try:
        return page.body.decode(page.charset or "utf-8", errors="replace")
    except LookupError:
        return page.body.decode("utf-8", errors="replace")


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data
