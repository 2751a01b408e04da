"""Media administration (spec: Client-Server API, "Content repository", which leaves managing
media to servers; this is Synapse's admin media API under ``/_synapse/admin/v1``, in its
request and response shapes).

Deleting media removes its rows, its thumbnails and every file no other media shares. Every
endpoint needs the access token of a server admin.
"""

from aiohttp import web

from myelin.api.auth import AuthKind
from myelin.api.http import Context, Endpoint, json_response
from myelin.api.registration_tokens import ADMIN_V1, require_admin
from myelin.core.identifiers import is_valid_user_id
from myelin.services.errors import MatrixError
from myelin.services.login import LoginService
from myelin.services.media import MediaRepository

_TOKEN = AuthKind.ACCESS_TOKEN


def _deleted(ids: list[str]) -> web.Response:
    return json_response({"deleted_media": ids, "total": len(ids)})


def _non_negative(ctx: Context, name: str, required: bool) -> int:
    raw = ctx.request.query.get(name)
    if raw is None:
        if required:
            raise MatrixError(400, "M_MISSING_PARAM", f"Missing parameter: {name}")
        return 0
    if not raw.isdigit() or len(raw) > 16:
        raise MatrixError(400, "M_INVALID_PARAM", f"{name} must be a non-negative integer")
    return int(raw)


def media_admin_endpoints(media: MediaRepository, login: LoginService) -> list[Endpoint]:
    async def delete_one(ctx: Context) -> web.StreamResponse:
        await require_admin(ctx, login)
        server_name = ctx.request.match_info["serverName"]
        if server_name != media.settings.server_name:
            raise MatrixError(400, "M_INVALID_PARAM", "Can only delete local media")
        deleted = await media.delete_media([ctx.request.match_info["mediaId"]])
        if not deleted:
            raise MatrixError(404, "M_NOT_FOUND", "Unknown media")
        return _deleted(deleted)

    async def delete_before(ctx: Context) -> web.StreamResponse:
        await require_admin(ctx, login)
        server_name = ctx.request.match_info.get("serverName")
        if server_name is not None and server_name != media.settings.server_name:
            raise MatrixError(400, "M_INVALID_PARAM", "Can only delete local media")
        before_ts = _non_negative(ctx, "before_ts", True)
        size_gt = _non_negative(ctx, "size_gt", False)
        return _deleted(await media.delete_media_before(before_ts, size_gt))

    async def delete_user_media(ctx: Context) -> web.StreamResponse:
        await require_admin(ctx, login)
        user_id = ctx.request.match_info["userId"]
        if not is_valid_user_id(user_id):
            raise MatrixError(400, "M_INVALID_PARAM", "Not a user ID")
        return _deleted(await media.delete_user_media(user_id))

    async def do_quarantine(ctx: Context) -> web.StreamResponse:
        await require_admin(ctx, login)
        info = ctx.request.match_info
        await media.set_quarantined(info["serverName"], info["mediaId"], True)
        return json_response({})

    async def do_unquarantine(ctx: Context) -> web.StreamResponse:
        await require_admin(ctx, login)
        info = ctx.request.match_info
        await media.set_quarantined(info["serverName"], info["mediaId"], False)
        return json_response({})

    one = f"{ADMIN_V1}/media/{{serverName}}/{{mediaId}}"
    return [
        Endpoint("admin.media_delete", "DELETE", one, "client", delete_one, _TOKEN),
        Endpoint(
            "admin.media_delete_before",
            "POST",
            f"{ADMIN_V1}/media/delete",
            "client",
            delete_before,
            _TOKEN,
        ),
        Endpoint(
            "admin.media_delete_before_server",
            "POST",
            f"{ADMIN_V1}/media/{{serverName}}/delete",
            "client",
            delete_before,
            _TOKEN,
        ),
        Endpoint(
            "admin.user_media_delete",
            "DELETE",
            f"{ADMIN_V1}/users/{{userId}}/media",
            "client",
            delete_user_media,
            _TOKEN,
        ),
        Endpoint(
            "admin.media_quarantine",
            "POST",
            f"{ADMIN_V1}/media/quarantine/{{serverName}}/{{mediaId}}",
            "client",
            do_quarantine,
            _TOKEN,
        ),
        Endpoint(
            "admin.media_unquarantine",
            "POST",
            f"{ADMIN_V1}/media/unquarantine/{{serverName}}/{{mediaId}}",
            "client",
            do_unquarantine,
            _TOKEN,
        ),
    ]
