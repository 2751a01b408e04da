"""Federation media endpoints (spec: Server-Server API, "Content Repository":
``GET /_matrix/federation/v1/media/download/{mediaId}`` and ``.../thumbnail/{mediaId}``).

Other servers fetch this server's own media with ``X-Matrix`` authentication. The answer is
``multipart/mixed`` with exactly two parts: the JSON metadata (an empty object) and the bytes
with their ``Content-Type`` and ``Content-Disposition``. The bytes are streamed from the backend;
the length of the whole body is known up front. Only media uploaded here is served (never
media cached from a third server), quarantined media is not.
"""

import contextlib
import secrets

from aiohttp import web

from myelin.api.auth import AuthKind
from myelin.api.http import Context, Endpoint
from myelin.api.media import bool_param, int_param, method_param
from myelin.api.media_serving import content_disposition
from myelin.services.media import MediaBackend, MediaRepository, StoredFile
from myelin.services.media.repository import DEFAULT_TIMEOUT_MS
from myelin.services.ratelimit import FEDERATION

V1_MEDIA = "/_matrix/federation/v1/media"


async def serve_multipart(
    request: web.Request, backend: MediaBackend, file: StoredFile, disposition: str
) -> web.StreamResponse:
    """The spec's two-part ``multipart/mixed`` body (RFC 2046 section 5.1)."""
    boundary = secrets.token_hex(16)
    head = (
        f"--{boundary}\r\nContent-Type: application/json\r\n\r\n{{}}\r\n"
        f"--{boundary}\r\nContent-Type: {file.content_type}\r\n"
        f"Content-Disposition: {disposition}\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    response = web.StreamResponse(
        status=200, headers={"Content-Type": f"multipart/mixed; boundary={boundary}"}
    )
    response.content_length = len(head) + file.size + len(tail)
    await response.prepare(request)
    await response.write(head)
    if file.size:
        async with contextlib.aclosing(backend.read(file.sha256)) as data:
            async for chunk in data:
                await response.write(chunk)
    await response.write(tail)
    await response.write_eof()
    return response


def federation_media_endpoints(media: MediaRepository) -> list[Endpoint]:
    own = media.settings.server_name

    async def download(ctx: Context) -> web.StreamResponse:
        found = await media.download(
            own,
            ctx.request.match_info["mediaId"],
            timeout_ms=int_param(ctx, "timeout_ms", DEFAULT_TIMEOUT_MS),
            legacy=False,
        )
        disposition = content_disposition(found.content_type, found.filename)
        return await serve_multipart(ctx.request, media.backend, found, disposition)

    async def thumbnail(ctx: Context) -> web.StreamResponse:
        width = int_param(ctx, "width")
        height = int_param(ctx, "height")
        method = method_param(ctx)
        animated = bool_param(ctx, "animated", False)
        found = await media.thumbnail(
            own,
            ctx.request.match_info["mediaId"],
            width=width,
            height=height,
            method=method,
            animated=animated,
            timeout_ms=int_param(ctx, "timeout_ms", DEFAULT_TIMEOUT_MS),
            legacy=False,
        )
        extension = found.content_type.split("/", 1)[1]
        disposition = f'inline; filename="thumbnail.{extension}"'
        return await serve_multipart(ctx.request, media.backend, found, disposition)

    _x = AuthKind.X_MATRIX
    return [
        Endpoint(
            "federation.media_download",
            "GET",
            f"{V1_MEDIA}/download/{{mediaId}}",
            "federation",
            download,
            _x,
            FEDERATION,
        ),
        Endpoint(
            "federation.media_thumbnail",
            "GET",
            f"{V1_MEDIA}/thumbnail/{{mediaId}}",
            "federation",
            thumbnail,
            _x,
            FEDERATION,
        ),
    ]
