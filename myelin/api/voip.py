"""Voice over IP (spec: Client-Server API, "Voice over IP"): ``GET /voip/turnServer``."""

from aiohttp import web

from myelin.api.auth import AuthKind
from myelin.api.http import Context, Endpoint, json_response
from myelin.api.login import CLIENT_V3, requester_ids
from myelin.services.login import LoginService
from myelin.services.voip import TurnService


def voip_endpoints(turn: TurnService, login: LoginService) -> list[Endpoint]:
    async def turn_server(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        return json_response(turn.turn_server(user_id, await login.is_guest(user_id)))

    return [
        Endpoint(
            "client.turn_server",
            "GET",
            f"{CLIENT_V3}/voip/turnServer",
            "client",
            turn_server,
            AuthKind.ACCESS_TOKEN,
        )
    ]
