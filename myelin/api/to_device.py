"""Send-to-device messaging (spec: Client-Server API, "Send-to-Device messaging": ``PUT
/sendToDevice/{eventType}/{txnId}``).
"""

from aiohttp import web

from myelin.api.auth import AuthKind
from myelin.api.http import Context, Endpoint, body_field, json_object_body, json_response
from myelin.api.login import CLIENT_V3, requester_ids
from myelin.services.to_device import ToDeviceService


def to_device_endpoints(to_device: ToDeviceService) -> list[Endpoint]:
    async def send(ctx: Context) -> web.StreamResponse:
        user_id, device_id = requester_ids(ctx)
        body = await json_object_body(ctx.request)
        messages = body_field(body, "messages", dict)
        await to_device.send(
            user_id,
            device_id,
            ctx.request.match_info["eventType"],
            ctx.request.match_info["txnId"],
            messages,
        )
        return json_response({})

    return [
        Endpoint(
            "client.send_to_device",
            "PUT",
            f"{CLIENT_V3}/sendToDevice/{{eventType}}/{{txnId}}",
            "client",
            send,
            AuthKind.ACCESS_TOKEN,
        )
    ]
