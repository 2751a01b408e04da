"""Dehydrated devices (MSC3814, unstable prefix ``org.matrix.msc3814.v1``, as Synapse serves
it and the Element clients call it; no spec section yet).
"""

from aiohttp import web

from myelin.api.auth import AuthKind
from myelin.api.http import Context, Endpoint, json_object_body, json_response
from myelin.api.login import requester_ids
from myelin.services.dehydrated_devices import DehydratedDeviceService

PREFIX = "/_matrix/client/unstable/org.matrix.msc3814.v1"
_TOKEN = AuthKind.ACCESS_TOKEN


def dehydrated_device_endpoints(service: DehydratedDeviceService) -> list[Endpoint]:
    async def get(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        return json_response(await service.get(user_id))

    async def put(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        body = await json_object_body(ctx.request)
        return json_response({"device_id": await service.put(user_id, body)})

    async def delete(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        return json_response({"device_id": await service.delete(user_id)})

    async def events(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        raw = await ctx.request.read()
        body = await json_object_body(ctx.request) if raw.strip() else {}
        device_id = ctx.request.match_info["deviceId"]
        return json_response(await service.events(user_id, device_id, body.get("next_batch")))

    path = f"{PREFIX}/dehydrated_device"
    return [
        Endpoint("client.msc3814_get", "GET", path, "client", get, _TOKEN),
        Endpoint("client.msc3814_put", "PUT", path, "client", put, _TOKEN),
        Endpoint("client.msc3814_delete", "DELETE", path, "client", delete, _TOKEN),
        Endpoint(
            "client.msc3814_events", "POST", f"{path}/{{deviceId}}/events", "client", events, _TOKEN
        ),
    ]
