"""Serving media safely (spec: Client-Server API, "Content repository", "Serving inline
content" and "Security considerations").

Every media response, errors included, carries the spec's recommended
``Content-Security-Policy`` (a sandbox), ``Cross-Origin-Resource-Policy: cross-origin`` and
``X-Content-Type-Options: nosniff``. ``Content-Disposition`` is ``inline`` only for the spec's
allow-list of content types (``attachment`` otherwise) and carries the filename encoded per
RFC 6266 / RFC 8187. Files are streamed from the backend in chunks, with single byte-range
requests (RFC 9110 section 14) answered 206.
"""

import contextlib
import functools
import re
from typing import Literal
from urllib.parse import quote

from aiohttp import web

from myelin.api.http import Context, Handler, error_response
from myelin.services.errors import MatrixError
from myelin.services.media import MediaBackend, StoredFile

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf;"
        " style-src 'unsafe-inline'; object-src 'self';"
    ),
    "Cross-Origin-Resource-Policy": "cross-origin",
    "X-Content-Type-Options": "nosniff",
}

# "Serving inline content": the only types served with Content-Disposition: inline.
INLINE_CONTENT_TYPES = frozenset(
    {
        "text/css",
        "text/plain",
        "text/csv",
        "application/json",
        "application/ld+json",
        "image/jpeg",
        "image/gif",
        "image/png",
        "image/apng",
        "image/webp",
        "image/avif",
        "video/mp4",
        "video/webm",
        "video/ogg",
        "video/quicktime",
        "audio/mp4",
        "audio/webm",
        "audio/aac",
        "audio/mpeg",
        "audio/ogg",
        "audio/wave",
        "audio/wav",
        "audio/x-wav",
        "audio/x-pn-wav",
        "audio/flac",
        "audio/x-flac",
    }
)

_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
# RFC 6266 / RFC 8187: characters that may appear unencoded in ext-value (attr-char).
_ATTR_CHARS = "!#$&+-.^_`|~"


def with_media_headers(handler: Handler) -> Handler:
    """The handler with the security headers on its responses, errors included."""

    @functools.wraps(handler)
    async def handle(ctx: Context) -> web.StreamResponse:
        try:
            response = await handler(ctx)
        except MatrixError as e:
            response = error_response(e)
        if not response.prepared:
            response.headers.update(SECURITY_HEADERS)
        return response

    return handle


def base_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def is_inline(content_type: str) -> bool:
    return base_type(content_type) in INLINE_CONTENT_TYPES


def content_disposition(content_type: str, filename: str | None) -> str:
    """``inline`` or ``attachment``, with the filename per RFC 6266: a quoted ``filename`` when
    it is plain printable ASCII, else ``filename*=utf-8''`` percent-encoded (RFC 8187)."""
    disposition = "inline" if is_inline(content_type) else "attachment"
    if not filename:
        return disposition
    if all(" " <= c <= "~" for c in filename) and '"' not in filename and "\\" not in filename:
        return f'{disposition}; filename="{filename}"'
    return f"{disposition}; filename*=utf-8''{quote(filename, safe=_ATTR_CHARS)}"


def parse_range(header: str | None, size: int) -> tuple[int, int] | Literal[False] | None:
    """A single byte range ``(start, end_inclusive)``; None to serve everything (no header,
    several ranges or a malformed one, which RFC 9110 says to ignore); False when the range
    cannot be satisfied (416)."""
    if header is None:
        return None
    match = _RANGE_RE.match(header.strip())
    if match is None or (not match.group(1) and not match.group(2)):
        return None
    first, last = match.group(1), match.group(2)
    if not first:
        # A suffix: the last N bytes.
        length = int(last)
        if length == 0 or size == 0:
            return False
        return max(0, size - length), size - 1
    start = int(first)
    end = size - 1 if not last else min(int(last), size - 1)
    if last and int(last) < start:
        return None
    if start >= size:
        return False
    return start, end


async def serve_file(
    request: web.Request,
    backend: MediaBackend,
    file: StoredFile,
    *,
    filename: str | None,
    force_inline: bool = False,
) -> web.StreamResponse:
    """Stream ``file`` (or the requested range of it) from the backend."""
    disposition = content_disposition(file.content_type, filename)
    if force_inline and disposition.startswith("attachment"):
        disposition = "inline" + disposition.removeprefix("attachment")
    headers = {
        **SECURITY_HEADERS,
        "Content-Type": file.content_type,
        "Content-Disposition": disposition,
        "Accept-Ranges": "bytes",
        "Cache-Control": "public, max-age=86400, s-maxage=86400",
    }
    wanted = parse_range(request.headers.get("Range"), file.size)
    if wanted is False:
        headers.pop("Content-Type")
        headers["Content-Range"] = f"bytes */{file.size}"
        return web.Response(status=416, headers=headers)
    start, end = (0, file.size - 1) if wanted is None else wanted
    status = 200 if wanted is None else 206
    if status == 206:
        headers["Content-Range"] = f"bytes {start}-{end}/{file.size}"
    response = web.StreamResponse(status=status, headers=headers)
    response.content_length = max(0, end - start + 1)
    await response.prepare(request)
    if file.size and request.method != "HEAD":
        # Closed however the write ends (a client that goes away mid-file included).
        async with contextlib.aclosing(backend.read(file.sha256, start, end - start + 1)) as data:
            async for chunk in data:
                await response.write(chunk)
    await response.write_eof()
    return response
