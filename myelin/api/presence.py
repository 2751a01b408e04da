"""Presence (spec: Client-Server API, "Presence"): ``GET``/``PUT /presence/{userId}/status``."""

from aiohttp import web

from myelin.api.auth import AuthKind
from myelin.api.http import Context, Endpoint, json_object_body, json_response
from myelin.api.login import CLIENT_V3, requester_ids
from myelin.services.presence import PresenceService
from myelin.services.ratelimit import PRESENCE_PER_USER

_TOKEN = AuthKind.ACCESS_TOKEN


def presence_endpoints(presence: PresenceService) -> list[Endpoint]:
    async def get_status(ctx: Context) -> web.StreamResponse:
        requester, _ = requester_ids(ctx)
        return json_response(await presence.get_status(requester, ctx.request.match_info["userId"]))

    async def put_status(ctx: Context) -> web.StreamResponse:
        requester, _ = requester_ids(ctx)
        body = await json_object_body(ctx.request)
        await presence.set_status(requester, ctx.request.match_info["userId"], body)
        return json_response({})

    path = f"{CLIENT_V3}/presence/{{userId}}/status"
    return [
        Endpoint("client.presence", "GET", path, "client", get_status, _TOKEN),
        Endpoint(
            "client.presence_set", "PUT", path, "client", put_status, _TOKEN, PRESENCE_PER_USER
        ),
    ]
