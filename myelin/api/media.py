"""Media endpoints (spec: Client-Server API, "Content repository").

Uploads under ``/_matrix/media/v3`` (``POST /upload`` streamed to the backend with
max_upload_size as the body limit, ``POST /v1/create`` and ``PUT /upload/{serverName}/
{mediaId}``), the authenticated ``/_matrix/client/v1/media`` download, thumbnail, config and
preview_url endpoints, and the deprecated unauthenticated ``/_matrix/media/v3`` (and ``r0``, as
Synapse serves) download and thumbnail endpoints, which serve only media uploaded while
enable_authenticated_media was off (the spec's "freeze"). Downloads answer ``HEAD`` too (the
headers of the ``GET``, without the bytes).
"""

import dataclasses
from typing import Any

from aiohttp import web

from myelin.api.auth import AuthKind
from myelin.api.http import Context, Endpoint, json_response
from myelin.api.login import requester_ids
from myelin.api.media_serving import SECURITY_HEADERS, serve_file, with_media_headers
from myelin.services.errors import MatrixError
from myelin.services.media import MediaRepository
from myelin.services.media.repository import DEFAULT_TIMEOUT_MS
from myelin.services.media.thumbnailer import Method
from myelin.services.media.url_preview import UrlPreviewer
from myelin.services.ratelimit import MEDIA_CREATE

MEDIA = "/_matrix/media"
CLIENT_MEDIA = "/_matrix/client/v1/media"
_TOKEN = AuthKind.ACCESS_TOKEN


def int_param(ctx: Context, name: str, default: int | None = None) -> int:
    raw = ctx.request.query.get(name)
    if raw is None:
        if default is None:
            raise MatrixError(400, "M_MISSING_PARAM", f"Missing parameter: {name}")
        return default
    try:
        value = int(raw, 10)
    except ValueError as e:
        raise MatrixError(400, "M_INVALID_PARAM", f"{name} must be an integer") from e
    if abs(value) > 2**53:
        raise MatrixError(400, "M_INVALID_PARAM", f"{name} is out of range")
    return value


def bool_param(ctx: Context, name: str, default: bool) -> bool:
    raw = ctx.request.query.get(name)
    if raw is None:
        return default
    if raw not in ("true", "false"):
        raise MatrixError(400, "M_INVALID_PARAM", f"{name} must be true or false")
    return raw == "true"


def method_param(ctx: Context) -> Method:
    method = ctx.request.query.get("method", "scale")
    if method == "crop":
        return "crop"
    if method == "scale":
        return "scale"
    raise MatrixError(400, "M_INVALID_PARAM", "method must be crop or scale")


def media_endpoints(
    media: MediaRepository, previewer: UrlPreviewer | None = None
) -> list[Endpoint]:
    """The media endpoints; the preview_url ones only with a previewer (url_preview_enabled)."""
    limit = media.settings.max_upload_size

    async def upload(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        request = ctx.request
        content_uri = await media.upload(
            user_id,
            request.content.iter_any(),
            content_type=request.headers.get("Content-Type"),
            filename=request.query.get("filename"),
            declared_length=request.content_length,
        )
        return json_response({"content_uri": content_uri})

    async def upload_to(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        request = ctx.request
        await media.upload_to(
            user_id,
            request.match_info["serverName"],
            request.match_info["mediaId"],
            request.content.iter_any(),
            content_type=request.headers.get("Content-Type"),
            filename=request.query.get("filename"),
            declared_length=request.content_length,
        )
        return json_response({})

    async def create(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        content_uri, expires = await media.create(user_id)
        return json_response({"content_uri": content_uri, "unused_expires_at": expires})

    async def config(ctx: Context) -> web.StreamResponse:
        return json_response({"m.upload.size": limit})

    def make_download(legacy: bool) -> Any:
        async def download(ctx: Context) -> web.StreamResponse:
            info = ctx.request.match_info
            remote = info["serverName"] != media.settings.server_name
            if legacy and not bool_param(ctx, "allow_remote", True) and remote:
                raise MatrixError(404, "M_NOT_FOUND", "Remote media not fetched")
            found = await media.download(
                info["serverName"],
                info["mediaId"],
                timeout_ms=int_param(ctx, "timeout_ms", DEFAULT_TIMEOUT_MS),
                legacy=legacy,
            )
            filename = info.get("fileName")
            return await serve_file(
                ctx.request,
                media.backend,
                found,
                filename=filename if filename is not None else found.filename,
            )

        return with_media_headers(download)

    def make_thumbnail(legacy: bool) -> Any:
        async def thumbnail(ctx: Context) -> web.StreamResponse:
            info = ctx.request.match_info
            width = int_param(ctx, "width")
            height = int_param(ctx, "height")
            method = method_param(ctx)
            animated = bool_param(ctx, "animated", False)
            remote = info["serverName"] != media.settings.server_name
            if legacy and not bool_param(ctx, "allow_remote", True) and remote:
                raise MatrixError(404, "M_NOT_FOUND", "Remote media not fetched")
            found = await media.thumbnail(
                info["serverName"],
                info["mediaId"],
                width=width,
                height=height,
                method=method,
                animated=animated,
                timeout_ms=int_param(ctx, "timeout_ms", DEFAULT_TIMEOUT_MS),
                legacy=legacy,
            )
            extension = found.content_type.split("/", 1)[1]
            # "MUST be inline, and SHOULD contain a file name".
            return await serve_file(
                ctx.request,
                media.backend,
                found,
                filename=f"thumbnail.{extension}",
                force_inline=True,
            )

        return with_media_headers(thumbnail)

    endpoints: list[Endpoint] = []
    for version in ("v3", "r0", "v1"):
        endpoints.append(
            Endpoint(
                f"media.upload_{version}",
                "POST",
                f"{MEDIA}/{version}/upload",
                "client",
                upload,
                _TOKEN,
                max_body_size=limit,
            )
        )
    endpoints += [
        Endpoint(
            "media.upload_to",
            "PUT",
            f"{MEDIA}/v3/upload/{{serverName}}/{{mediaId}}",
            "client",
            upload_to,
            _TOKEN,
            max_body_size=limit,
        ),
        Endpoint(
            "media.create", "POST", f"{MEDIA}/v1/create", "client", create, _TOKEN, MEDIA_CREATE
        ),
        Endpoint("client.media_config", "GET", f"{CLIENT_MEDIA}/config", "client", config, _TOKEN),
        Endpoint("media.config", "GET", f"{MEDIA}/v3/config", "client", config, _TOKEN),
    ]
    where = "{serverName}/{mediaId}"
    for prefix, legacy, auth, name in (
        (CLIENT_MEDIA, False, _TOKEN, "client.media"),
        (f"{MEDIA}/v3", True, AuthKind.NONE, "media.v3"),
        (f"{MEDIA}/r0", True, AuthKind.NONE, "media.r0"),
    ):
        download = make_download(legacy)
        # With a trailing slash and no file name too, as Synapse serves (matrix-nio asks so).
        for method in ("GET", "HEAD"):
            suffix = "" if method == "GET" else "_head"
            for kind, tail in (("", ""), ("_slash", "/"), ("_name", "/{fileName}")):
                endpoints.append(
                    Endpoint(
                        f"{name}_download{kind}{suffix}",
                        method,
                        f"{prefix}/download/{where}{tail}",
                        "client",
                        download,
                        auth,
                    )
                )
        endpoints += [
            Endpoint(
                f"{name}_thumbnail",
                "GET",
                f"{prefix}/thumbnail/{where}",
                "client",
                make_thumbnail(legacy),
                auth,
            ),
        ]
    if previewer is not None:
        endpoints += preview_endpoints(media, previewer)
    # The security headers on every media response, errors before the handler included.
    return [dataclasses.replace(e, response_headers=SECURITY_HEADERS) for e in endpoints]


def preview_endpoints(media: MediaRepository, previewer: UrlPreviewer) -> list[Endpoint]:
    async def preview(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        url = ctx.request.query.get("url")
        if url is None:
            raise MatrixError(400, "M_MISSING_PARAM", "Missing parameter: url")
        ts = int_param(ctx, "ts", 0)
        return json_response(await previewer.preview(url, user_id, ts or None))

    return [
        Endpoint(
            "client.media_preview_url",
            "GET",
            f"{CLIENT_MEDIA}/preview_url",
            "client",
            preview,
            _TOKEN,
        ),
        Endpoint("media.preview_url", "GET", f"{MEDIA}/v3/preview_url", "client", preview, _TOKEN),
    ]
