"""Receipts and read markers (spec: Client-Server API, "Receipts" and "Read and unread
markers"): ``POST /rooms/{roomId}/receipt/{receiptType}/{eventId}`` and
``POST /rooms/{roomId}/read_markers``.
"""

from aiohttp import web

from myelin.api.auth import AuthKind
from myelin.api.http import Context, Endpoint, json_object_body, json_response
from myelin.api.login import CLIENT_V3, requester_ids
from myelin.services.receipts import ReceiptService

_TOKEN = AuthKind.ACCESS_TOKEN


def receipt_endpoints(receipts: ReceiptService) -> list[Endpoint]:
    async def post_receipt(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        # The body is required by the spec, but clients before v1.4 send none: read it as {}.
        raw = await ctx.request.read()
        body = await json_object_body(ctx.request) if raw.strip() else {}
        info = ctx.request.match_info
        await receipts.send_receipt(
            user_id, info["roomId"], info["receiptType"], info["eventId"], body
        )
        return json_response({})

    async def post_read_markers(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        body = await json_object_body(ctx.request)
        await receipts.set_read_markers(user_id, ctx.request.match_info["roomId"], body)
        return json_response({})

    room = f"{CLIENT_V3}/rooms/{{roomId}}"
    return [
        Endpoint(
            "client.receipt",
            "POST",
            f"{room}/receipt/{{receiptType}}/{{eventId}}",
            "client",
            post_receipt,
            _TOKEN,
        ),
        Endpoint(
            "client.read_markers",
            "POST",
            f"{room}/read_markers",
            "client",
            post_read_markers,
            _TOKEN,
        ),
    ]
