"""OpenID (spec: Client-Server API, "OpenID": ``POST /user/{userId}/openid/request_token``;
Server-Server API, "OpenID": ``GET /_matrix/federation/v1/openid/userinfo``).

The userinfo endpoint is called by third parties, not homeservers: it takes the OpenID token
as its ``access_token`` query parameter and no X-Matrix signature.
"""

from aiohttp import web

from myelin.api.auth import AuthKind
from myelin.api.http import Context, Endpoint, json_object_body, json_response
from myelin.api.login import CLIENT_V3, requester_ids
from myelin.services.openid import OpenIdService


def openid_endpoints(openid: OpenIdService) -> list[Endpoint]:
    async def request_token(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        await json_object_body(ctx.request)  # an empty object, reserved for future expansion
        target = ctx.request.match_info["userId"]
        return json_response(await openid.request_token(user_id, target))

    async def userinfo(ctx: Context) -> web.StreamResponse:
        return json_response(await openid.userinfo(ctx.request.query.get("access_token")))

    return [
        Endpoint(
            "client.openid_request_token",
            "POST",
            f"{CLIENT_V3}/user/{{userId}}/openid/request_token",
            "client",
            request_token,
            AuthKind.ACCESS_TOKEN,
        ),
        Endpoint(
            "federation.openid_userinfo",
            "GET",
            "/_matrix/federation/v1/openid/userinfo",
            "federation",
            userinfo,
        ),
    ]
