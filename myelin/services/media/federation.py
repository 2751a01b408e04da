"""Fetching media from other servers (spec: Server-Server API, "Content Repository").

``FederationMediaFetcher`` asks the media's origin with ``GET /_matrix/federation/v1/media/
download/{mediaId}`` (signed with ``X-Matrix``) and reads the ``multipart/mixed`` answer: a
JSON metadata part, then the bytes (with their ``Content-Type`` and ``Content-Disposition``) or
a ``Location`` to fetch them from (followed without caching the URL, connecting only to
addresses the IP filter allows). When the origin answers 404 ``M_UNRECOGNIZED`` (it predates
the endpoint), it falls back to the deprecated ``GET /_matrix/media/v3/download/{serverName}/
{mediaId}`` with ``allow_remote=false``, as the spec says and Synapse does.
"""

import contextlib
import ipaddress
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
from multidict import CIMultiDictProxy
from yarl import URL

from myelin.federation.client import (
    FederationClient,
    FederationDeniedError,
    FederationError,
    HttpResponseError,
    quote_segment,
)
from myelin.federation.tls import ClientContextSource, resolve_client_context
from myelin.services.errors import MatrixError
from myelin.services.media.backend import CHUNK_SIZE
from myelin.services.media.repository import RemoteMedia
from myelin.services.media.url_preview import BlockedAddressError, FilteringResolver, IpFilter

logger = logging.getLogger("myelin.media")

FEDERATION_DOWNLOAD = "/_matrix/federation/v1/media/download"
LEGACY_DOWNLOAD = "/_matrix/media/v3/download"
# The metadata part is a small JSON object ("currently always empty").
_MAX_METADATA_BYTES = 64 * 1024
_REDIRECT_TIMEOUT_S = 60.0


def _filename(headers: CIMultiDictProxy[str] | Any, fallback: str | None) -> str | None:
    """The file name of a Content-Disposition header (``filename*`` preferred)."""
    value = headers.get("Content-Disposition")
    if not value:
        return fallback
    _, params = aiohttp.multipart.parse_content_disposition(value)
    name = aiohttp.multipart.content_disposition_filename(params, "filename")
    return name or fallback


def _content_type(headers: CIMultiDictProxy[str] | Any) -> str:
    value = headers.get("Content-Type")
    return value if isinstance(value, str) and value else "application/octet-stream"


def _error(e: FederationError, server_name: str) -> MatrixError:
    """The client's answer for a failed fetch (Synapse's mapping)."""
    if isinstance(e, FederationDeniedError):
        return MatrixError(403, "M_FORBIDDEN", f"Federation denied with {server_name}")
    if isinstance(e, HttpResponseError):
        if e.status == 404:
            return MatrixError(404, "M_NOT_FOUND", "Unknown media")
        if e.status == 504 and e.errcode == "M_NOT_YET_UPLOADED":
            return MatrixError(504, "M_NOT_YET_UPLOADED", "Content has not yet been uploaded")
        if e.errcode == "M_TOO_LARGE":
            return MatrixError(502, "M_TOO_LARGE", "Content is too large")
    return MatrixError(502, "M_UNKNOWN", "Failed to fetch remote media")


def _is_unrecognized(e: HttpResponseError) -> bool:
    """The origin does not know the endpoint: 404 ``M_UNRECOGNIZED`` (or a 404 or 405 that
    is not a Matrix error at all, from a server that predates it)."""
    return e.status in (404, 405) and e.errcode in ("M_UNRECOGNIZED", None)


async def _chunks(reader: aiohttp.BodyPartReader | aiohttp.StreamReader) -> AsyncIterator[bytes]:
    if isinstance(reader, aiohttp.BodyPartReader):
        while chunk := await reader.read_chunk(CHUNK_SIZE):
            yield chunk
    else:
        async for chunk in reader.iter_chunked(CHUNK_SIZE):
            yield chunk


class FederationMediaFetcher:
    """A ``RemoteMediaFetcher`` over the federation client."""

    def __init__(
        self, client: FederationClient, redirect_filter: IpFilter, ssl: ClientContextSource
    ) -> None:
        self._client = client
        self._filter = redirect_filter
        self._ssl = ssl

    @contextlib.asynccontextmanager
    async def fetch_download(
        self, server_name: str, media_id: str, *, timeout_ms: int
    ) -> AsyncIterator[RemoteMedia]:
        timeout_s = max(timeout_ms / 1000, 1.0) + 10.0
        path = f"{FEDERATION_DOWNLOAD}/{quote_segment(media_id)}"
        query = {"timeout_ms": str(timeout_ms)}
        async with contextlib.AsyncExitStack() as stack:
            try:
                try:
                    response = await stack.enter_async_context(
                        self._client.stream(server_name, path, query, timeout_s=timeout_s)
                    )
                except HttpResponseError as e:
                    if not _is_unrecognized(e):
                        raise
                    media = await self._legacy(stack, server_name, media_id, timeout_ms, timeout_s)
                else:
                    media = await self._multipart(stack, server_name, response)
            except FederationError as e:
                logger.info("Fetching mxc://%s/%s failed: %s", server_name, media_id, e)
                raise _error(e, server_name) from e
            try:
                yield media
            except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as e:
                logger.info("Fetching mxc://%s/%s broke off: %s", server_name, media_id, e)
                raise MatrixError(502, "M_UNKNOWN", "Failed to fetch remote media") from e

    async def _legacy(
        self,
        stack: contextlib.AsyncExitStack,
        server_name: str,
        media_id: str,
        timeout_ms: int,
        timeout_s: float,
    ) -> RemoteMedia:
        """The deprecated client endpoint, asked without following remote media further."""
        path = f"{LEGACY_DOWNLOAD}/{quote_segment(server_name)}/{quote_segment(media_id)}"
        query = {"allow_remote": "false", "timeout_ms": str(timeout_ms)}
        response = await stack.enter_async_context(
            self._client.stream(server_name, path, query, timeout_s=timeout_s)
        )
        return RemoteMedia(
            _content_type(response.headers),
            _filename(response.headers, None),
            _chunks(response.content),
            response.content_length,
        )

    async def _multipart(
        self, stack: contextlib.AsyncExitStack, server_name: str, response: aiohttp.ClientResponse
    ) -> RemoteMedia:
        """The spec's two parts: JSON metadata, then the bytes or a Location."""
        if response.content_type != "multipart/mixed":
            raise HttpResponseError(server_name, 502, b"")
        try:
            reader = aiohttp.MultipartReader.from_response(response)
            metadata = await reader.next()
            if not isinstance(metadata, aiohttp.BodyPartReader):
                raise ValueError("the first part is not a body part")
            raw = bytearray()
            while chunk := await metadata.read_chunk(CHUNK_SIZE):
                raw += chunk
                if len(raw) > _MAX_METADATA_BYTES:
                    raise ValueError("metadata part too large")
            if not isinstance(orjson.loads(raw or b"{}"), dict):
                raise ValueError("metadata is not a JSON object")
            content = await reader.next()
            if not isinstance(content, aiohttp.BodyPartReader):
                raise ValueError("the second part is not a body part")
        except (ValueError, aiohttp.ClientError, orjson.JSONDecodeError) as e:
            logger.info("Bad multipart media response from %s: %s", server_name, e)
            raise HttpResponseError(server_name, 502, b"") from e
        location = content.headers.get("Location")
        if location:
            return await self._follow(stack, server_name, location)
        length = content.headers.get("Content-Length")
        return RemoteMedia(
            _content_type(content.headers),
            _filename(content.headers, None),
            _chunks(content),
            int(length) if length is not None and length.isdigit() else None,
        )

    async def _follow(
        self, stack: contextlib.AsyncExitStack, server_name: str, location: str
    ) -> RemoteMedia:
        """Fetch the bytes from where the origin redirected (not signed, never cached),
        connecting only to allowed addresses."""
        url = URL(location)
        if url.scheme not in ("http", "https") or not url.host or not self._literal_ok(url.host):
            raise HttpResponseError(server_name, 502, b"")
        session = await stack.enter_async_context(
            aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    resolver=FilteringResolver(self._filter),
                    ssl=resolve_client_context(self._ssl),
                    use_dns_cache=False,
                ),
                trust_env=False,
                headers={"User-Agent": "Myelin"},
            )
        )
        try:
            response = await stack.enter_async_context(
                session.get(
                    url,
                    allow_redirects=False,
                    timeout=aiohttp.ClientTimeout(
                        total=None, connect=_REDIRECT_TIMEOUT_S, sock_read=_REDIRECT_TIMEOUT_S
                    ),
                )
            )
        except (aiohttp.ClientError, OSError, TimeoutError) as e:
            blocked = isinstance(e.__cause__, BlockedAddressError)
            logger.info(
                "Media redirect of %s to %s failed (blocked: %s)", server_name, url, blocked
            )
            raise HttpResponseError(server_name, 502, b"") from e
        if response.status == 404:
            raise HttpResponseError(server_name, 404, b"")
        if response.status != 200:
            raise HttpResponseError(server_name, 502, b"")
        return RemoteMedia(
            _content_type(response.headers),
            _filename(response.headers, None),
            _chunks(response.content),
            response.content_length,
        )

    def _literal_ok(self, host: str) -> bool:
        """An IP literal must pass the filter itself (no resolver sees it); host names pass
        here and are checked by the resolver."""
        try:
            ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return True
        return self._filter.allowed(host.strip("[]"))
