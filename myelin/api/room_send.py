"""Sending events and redacting them (spec: Client-Server API, "Sending events to a room":
``PUT /rooms/{roomId}/send/{eventType}/{txnId}``; "Redactions": ``PUT
/rooms/{roomId}/redact/{eventId}/{txnId}``). Both are idempotent per device and transaction ID.
"""

from aiohttp import web

from myelin.api.auth import AuthKind
from myelin.api.http import Context, Endpoint, body_field, json_object_body, json_response
from myelin.api.login import CLIENT_V3, requester_ids
from myelin.services.ratelimit import MESSAGE
from myelin.services.room_actions import RoomActions

_TOKEN = AuthKind.ACCESS_TOKEN


def room_send_endpoints(actions: RoomActions) -> list[Endpoint]:
    async def send(ctx: Context) -> web.StreamResponse:
        user_id, device_id = requester_ids(ctx)
        info = ctx.request.match_info
        content = await json_object_body(ctx.request)
        event_id = await actions.send_message(
            user_id,
            device_id,
            info["roomId"],
            event_type=info["eventType"],
            txn_id=info["txnId"],
            content=content,
        )
        return json_response({"event_id": event_id})

    async def redact(ctx: Context) -> web.StreamResponse:
        user_id, device_id = requester_ids(ctx)
        info = ctx.request.match_info
        raw = await ctx.request.read()
        body = await json_object_body(ctx.request) if raw.strip() else {}
        reason = body_field(body, "reason", str, required=False)
        event_id = await actions.redact(
            user_id,
            device_id,
            info["roomId"],
            event_id=info["eventId"],
            txn_id=info["txnId"],
            reason=reason,
        )
        return json_response({"event_id": event_id})

    room = f"{CLIENT_V3}/rooms/{{roomId}}"
    return [
        Endpoint(
            "client.send",
            "PUT",
            f"{room}/send/{{eventType}}/{{txnId}}",
            "client",
            send,
            _TOKEN,
            MESSAGE,
        ),
        Endpoint(
            "client.redact",
            "PUT",
            f"{room}/redact/{{eventId}}/{{txnId}}",
            "client",
            redact,
            _TOKEN,
            MESSAGE,
        ),
    ]
