"""Room membership (spec: Client-Server API, "Room membership": joining (``/join``,
``/rooms/{roomId}/join``), knocking, inviting, leaving, forgetting, kicking, banning and
unbanning, and ``GET /joined_rooms``).
"""

from aiohttp import web

from myelin.api.auth import AuthKind
from myelin.api.http import Context, Endpoint, Handler, body_field, json_object_body, json_response
from myelin.api.login import CLIENT_V3, requester_ids
from myelin.core.identifiers import is_valid_server_name
from myelin.services.errors import MatrixError
from myelin.services.ratelimit import INVITES_PER_USER, JOINS_LOCAL
from myelin.services.room_actions import RoomActions
from myelin.services.room_reads import RoomReads

_TOKEN = AuthKind.ACCESS_TOKEN


async def _optional_body(ctx: Context) -> dict[str, object]:
    """The JSON body; an empty body counts as ``{}`` (Synapse accepts it for join and leave)."""
    raw = await ctx.request.read()
    return await json_object_body(ctx.request) if raw.strip() else {}


def _via(ctx: Context) -> list[str]:
    """The ``via`` servers of a join or knock (and the deprecated ``server_name``)."""
    query = ctx.request.query
    servers = [*query.getall("via", []), *query.getall("server_name", [])]
    for server in servers:
        if not is_valid_server_name(server):
            raise MatrixError(400, "M_INVALID_PARAM", f"invalid server name {server!r}")
    return servers


def membership_endpoints(actions: RoomActions, reads: RoomReads) -> list[Endpoint]:
    async def join(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        body = await _optional_body(ctx)
        reason = body_field(body, "reason", str, required=False)
        target = ctx.request.match_info.get("roomIdOrAlias") or ctx.request.match_info["roomId"]
        via = _via(ctx) if "roomIdOrAlias" in ctx.request.match_info else []
        room_id = await actions.join(user_id, target, reason, via)
        return json_response({"room_id": room_id})

    async def knock(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        body = await _optional_body(ctx)
        reason = body_field(body, "reason", str, required=False)
        target = ctx.request.match_info["roomIdOrAlias"]
        room_id = await actions.knock(user_id, target, reason, _via(ctx))
        return json_response({"room_id": room_id})

    async def leave(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        body = await _optional_body(ctx)
        reason = body_field(body, "reason", str, required=False)
        room_id = await actions.resolve_room(ctx.request.match_info["roomId"])
        await actions.membership(user_id, user_id, room_id, "leave", reason)
        return json_response({})

    def targeted(action: str) -> Handler:
        async def handle(ctx: Context) -> web.StreamResponse:
            user_id, _ = requester_ids(ctx)
            body = await json_object_body(ctx.request)
            target = body_field(body, "user_id", str)
            reason = body_field(body, "reason", str, required=False)
            room_id = await actions.resolve_room(ctx.request.match_info["roomId"])
            await actions.membership(user_id, target, room_id, action, reason)
            return json_response({})

        return handle

    async def forget(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        room_id = await actions.resolve_room(ctx.request.match_info["roomId"])
        await actions.forget(user_id, room_id)
        return json_response({})

    async def joined_rooms(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        return json_response({"joined_rooms": await reads.joined_rooms(user_id)})

    room = f"{CLIENT_V3}/rooms/{{roomId}}"
    endpoints = [
        Endpoint(
            "client.join",
            "POST",
            f"{CLIENT_V3}/join/{{roomIdOrAlias}}",
            "client",
            join,
            _TOKEN,
            JOINS_LOCAL,
        ),
        Endpoint("client.room_join", "POST", f"{room}/join", "client", join, _TOKEN, JOINS_LOCAL),
        Endpoint(
            "client.knock",
            "POST",
            f"{CLIENT_V3}/knock/{{roomIdOrAlias}}",
            "client",
            knock,
            _TOKEN,
            JOINS_LOCAL,
        ),
        Endpoint("client.leave", "POST", f"{room}/leave", "client", leave, _TOKEN),
        Endpoint("client.forget", "POST", f"{room}/forget", "client", forget, _TOKEN),
        Endpoint(
            "client.invite",
            "POST",
            f"{room}/invite",
            "client",
            targeted("invite"),
            _TOKEN,
            INVITES_PER_USER,
        ),
        Endpoint(
            "client.joined_rooms",
            "GET",
            f"{CLIENT_V3}/joined_rooms",
            "client",
            joined_rooms,
            _TOKEN,
        ),
    ]
    for action in ("kick", "ban", "unban"):
        endpoints.append(
            Endpoint(
                f"client.{action}", "POST", f"{room}/{action}", "client", targeted(action), _TOKEN
            )
        )
    return endpoints
