"""Third-party lookups (spec: Client-Server API, "Third-party Networks") and the application
service room directory (spec: Application Service API, "Room directory":
``PUT /directory/list/appservice/{networkId}/{roomId}``).
"""

from collections.abc import Awaitable, Callable

from aiohttp import web

from myelin.api.auth import AuthKind
from myelin.api.http import Context, Endpoint, body_field, json_object_body, json_response
from myelin.api.login import CLIENT_V3
from myelin.services.errors import MatrixError
from myelin.services.thirdparty import ThirdPartyLookups

_TOKEN = AuthKind.ACCESS_TOKEN

# Publishes a room in an application service's network directory:
# (appservice ID, network ID, room ID, visibility).
AppserviceRoomList = Callable[[str, str, str, str], Awaitable[None]]


def _fields(ctx: Context) -> dict[str, str]:
    return dict(ctx.request.query.items())


def _required(ctx: Context, name: str) -> str:
    value = ctx.request.query.get(name)
    if value is None:
        raise MatrixError(400, "M_MISSING_PARAM", f"Missing parameter: {name}")
    return value


def thirdparty_endpoints(
    lookups: ThirdPartyLookups, appservice_room_list: AppserviceRoomList | None = None
) -> list[Endpoint]:
    async def protocols(ctx: Context) -> web.StreamResponse:
        return json_response(await lookups.protocols())

    async def protocol(ctx: Context) -> web.StreamResponse:
        return json_response(await lookups.protocol(ctx.request.match_info["protocol"]))

    async def location(ctx: Context) -> web.StreamResponse:
        name = ctx.request.match_info["protocol"]
        return json_response(await lookups.location(name, _fields(ctx)))

    async def user(ctx: Context) -> web.StreamResponse:
        name = ctx.request.match_info["protocol"]
        return json_response(await lookups.user(name, _fields(ctx)))

    async def location_by_alias(ctx: Context) -> web.StreamResponse:
        return json_response(await lookups.location_by_alias(_required(ctx, "alias")))

    async def user_by_id(ctx: Context) -> web.StreamResponse:
        return json_response(await lookups.user_by_id(_required(ctx, "userid")))

    async def appservice_list(ctx: Context) -> web.StreamResponse:
        # Only application services reach this (AuthKind.APPSERVICE_TOKEN): until they are
        # supported there is no verifier, so every request is refused 401 M_UNKNOWN_TOKEN.
        requester = ctx.requester
        if requester is None or requester.appservice_id is None or appservice_room_list is None:
            raise MatrixError(403, "M_FORBIDDEN", "Only application services may do this")
        visibility = body_field(await json_object_body(ctx.request), "visibility", str)
        if visibility not in ("public", "private"):
            raise MatrixError(400, "M_INVALID_PARAM", "visibility must be public or private")
        info = ctx.request.match_info
        await appservice_room_list(
            requester.appservice_id, info["networkId"], info["roomId"], visibility
        )
        return json_response({})

    base = f"{CLIENT_V3}/thirdparty"
    return [
        Endpoint(
            "client.thirdparty_protocols", "GET", f"{base}/protocols", "client", protocols, _TOKEN
        ),
        Endpoint(
            "client.thirdparty_protocol",
            "GET",
            f"{base}/protocol/{{protocol}}",
            "client",
            protocol,
            _TOKEN,
        ),
        Endpoint(
            "client.thirdparty_location",
            "GET",
            f"{base}/location/{{protocol}}",
            "client",
            location,
            _TOKEN,
        ),
        Endpoint(
            "client.thirdparty_user", "GET", f"{base}/user/{{protocol}}", "client", user, _TOKEN
        ),
        Endpoint(
            "client.thirdparty_location_by_alias",
            "GET",
            f"{base}/location",
            "client",
            location_by_alias,
            _TOKEN,
        ),
        Endpoint(
            "client.thirdparty_user_by_id", "GET", f"{base}/user", "client", user_by_id, _TOKEN
        ),
        Endpoint(
            "client.appservice_room_list",
            "PUT",
            f"{CLIENT_V3}/directory/list/appservice/{{networkId}}/{{roomId}}",
            "client",
            appservice_list,
            AuthKind.APPSERVICE_TOKEN,
        ),
    ]
