"""Logout (spec: Client-Server API, "Login": POST /logout and POST /logout/all).

Logging out deletes the token's device (and with it its tokens); /logout/all deletes every
device and token of the user.
"""

from aiohttp import web

from myelin.api.auth import AuthKind, access_token_of
from myelin.api.http import Context, Endpoint, json_response
from myelin.api.login import CLIENT_V3, requester_ids
from myelin.services.login import LoginService


def logout_endpoints(login: LoginService) -> list[Endpoint]:
    async def logout(ctx: Context) -> web.StreamResponse:
        token = access_token_of(ctx.request)
        if token is not None:
            await login.logout(token)
        return json_response({})

    async def logout_all(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        await login.logout_all(user_id)
        return json_response({})

    return [
        Endpoint(
            "client.logout", "POST", f"{CLIENT_V3}/logout", "client", logout, AuthKind.ACCESS_TOKEN
        ),
        Endpoint(
            "client.logout_all",
            "POST",
            f"{CLIENT_V3}/logout/all",
            "client",
            logout_all,
            AuthKind.ACCESS_TOKEN,
        ),
    ]
