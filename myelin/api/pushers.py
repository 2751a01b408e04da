"""Pushers (spec: Client-Server API, "Pushers"): ``GET /pushers`` and ``POST /pushers/set``."""

from aiohttp import web

from myelin.api.auth import AuthKind
from myelin.api.http import Context, Endpoint, json_object_body, json_response
from myelin.api.login import CLIENT_V3, requester_ids
from myelin.services.pushers import PusherService

_TOKEN = AuthKind.ACCESS_TOKEN


def pusher_endpoints(pushers: PusherService) -> list[Endpoint]:
    async def get_pushers(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        return json_response({"pushers": await pushers.list_pushers(user_id)})

    async def set_pusher(ctx: Context) -> web.StreamResponse:
        user_id, device_id = requester_ids(ctx)
        body = await json_object_body(ctx.request)
        await pushers.set_pusher(user_id, device_id, body)
        return json_response({})

    return [
        Endpoint("client.pushers", "GET", f"{CLIENT_V3}/pushers", "client", get_pushers, _TOKEN),
        Endpoint(
            "client.pushers_set", "POST", f"{CLIENT_V3}/pushers/set", "client", set_pusher, _TOKEN
        ),
    ]
