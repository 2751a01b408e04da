"""Server administration (spec: Client-Server API, "Server Administration"):
``GET /v3/admin/whois/{userId}``, ``GET/PUT /v1/admin/lock/{userId}`` and
``GET/PUT /v1/admin/suspend/{userId}``.
"""

from aiohttp import web

from myelin.api.auth import AuthKind
from myelin.api.http import Context, Endpoint, body_field, json_object_body, json_response
from myelin.api.login import CLIENT_V3, requester_ids
from myelin.services.admin import AccountModeration

CLIENT_V1 = "/_matrix/client/v1"
_TOKEN = AuthKind.ACCESS_TOKEN


def admin_endpoints(moderation: AccountModeration) -> list[Endpoint]:
    async def whois(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        return json_response(await moderation.whois(user_id, ctx.request.match_info["userId"]))

    async def get_lock(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        target = ctx.request.match_info["userId"]
        return json_response({"locked": await moderation.get_locked(user_id, target)})

    async def put_lock(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        locked = body_field(await json_object_body(ctx.request), "locked", bool)
        target = ctx.request.match_info["userId"]
        return json_response({"locked": await moderation.set_locked(user_id, target, locked)})

    async def get_suspend(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        target = ctx.request.match_info["userId"]
        return json_response({"suspended": await moderation.get_suspended(user_id, target)})

    async def put_suspend(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        suspended = body_field(await json_object_body(ctx.request), "suspended", bool)
        target = ctx.request.match_info["userId"]
        changed = await moderation.set_suspended(user_id, target, suspended)
        return json_response({"suspended": changed})

    lock = f"{CLIENT_V1}/admin/lock/{{userId}}"
    suspend = f"{CLIENT_V1}/admin/suspend/{{userId}}"
    return [
        Endpoint(
            "client.admin_whois",
            "GET",
            f"{CLIENT_V3}/admin/whois/{{userId}}",
            "client",
            whois,
            _TOKEN,
        ),
        Endpoint("client.admin_get_lock", "GET", lock, "client", get_lock, _TOKEN),
        Endpoint("client.admin_set_lock", "PUT", lock, "client", put_lock, _TOKEN),
        Endpoint("client.admin_get_suspend", "GET", suspend, "client", get_suspend, _TOKEN),
        Endpoint("client.admin_set_suspend", "PUT", suspend, "client", put_suspend, _TOKEN),
    ]
