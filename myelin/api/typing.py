"""Typing notifications (spec: Client-Server API, "Typing Notifications"):
``PUT /rooms/{roomId}/typing/{userId}``.
"""

from aiohttp import web

from myelin.api.auth import AuthKind
from myelin.api.http import Context, Endpoint, body_field, json_object_body, json_response
from myelin.api.login import CLIENT_V3, requester_ids
from myelin.services.errors import MatrixError
from myelin.services.typing import TypingService


def typing_endpoints(typing: TypingService) -> list[Endpoint]:
    async def put_typing(ctx: Context) -> web.StreamResponse:
        requester, _ = requester_ids(ctx)
        body = await json_object_body(ctx.request)
        is_typing = body_field(body, "typing", bool)
        timeout = body_field(body, "timeout", int, required=False)
        if is_typing and timeout is not None and timeout < 0:
            raise MatrixError(400, "M_INVALID_PARAM", "timeout must not be negative")
        await typing.set_typing(
            requester,
            ctx.request.match_info["roomId"],
            ctx.request.match_info["userId"],
            is_typing,
            timeout,
        )
        return json_response({})

    return [
        Endpoint(
            "client.typing",
            "PUT",
            f"{CLIENT_V3}/rooms/{{roomId}}/typing/{{userId}}",
            "client",
            put_typing,
            AuthKind.ACCESS_TOKEN,
        )
    ]
