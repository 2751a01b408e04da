"""Room aliases and the room directory (spec: Client-Server API, "Room aliases":
``/directory/room/{roomAlias}`` and ``/rooms/{roomId}/aliases``; "Room directory":
``/directory/list/room/{roomId}`` and ``/publicRooms``).
"""

from aiohttp import web

from myelin.api.auth import AuthKind
from myelin.api.http import Context, Endpoint, body_field, json_object_body, json_response
from myelin.api.login import CLIENT_V3, requester_ids
from myelin.api.room_params import query_int
from myelin.services.directory import Directory
from myelin.services.errors import MatrixError

_TOKEN = AuthKind.ACCESS_TOKEN


def directory_endpoints(directory: Directory) -> list[Endpoint]:
    async def get_alias(ctx: Context) -> web.StreamResponse:
        alias = ctx.request.match_info["roomAlias"]
        return json_response(await directory.resolve_alias(alias, federated=True))

    async def put_alias(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        body = await json_object_body(ctx.request)
        room_id = body_field(body, "room_id", str)
        await directory.create_alias(user_id, ctx.request.match_info["roomAlias"], room_id)
        return json_response({})

    async def delete_alias(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        await directory.delete_alias(user_id, ctx.request.match_info["roomAlias"])
        return json_response({})

    async def room_aliases(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        aliases = await directory.room_aliases(user_id, ctx.request.match_info["roomId"])
        return json_response({"aliases": aliases})

    async def get_visibility(ctx: Context) -> web.StreamResponse:
        visibility = await directory.get_visibility(ctx.request.match_info["roomId"])
        return json_response({"visibility": visibility})

    async def put_visibility(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        body = await json_object_body(ctx.request)
        visibility = body_field(body, "visibility", str, required=False) or "public"
        await directory.set_visibility(user_id, ctx.request.match_info["roomId"], visibility)
        return json_response({})

    async def get_public_rooms(ctx: Context) -> web.StreamResponse:
        request = ctx.request
        limit = query_int(request, "limit", 0) if "limit" in request.query else None
        body = await directory.public_rooms(
            server=request.query.get("server"), limit=limit, since=request.query.get("since")
        )
        return json_response(body)

    async def post_public_rooms(ctx: Context) -> web.StreamResponse:
        body = await json_object_body(ctx.request)
        limit = body_field(body, "limit", int, required=False)
        since = body_field(body, "since", str, required=False)
        search = body_field(body, "filter", dict, required=False) or {}
        term = body_field(search, "generic_search_term", str, required=False)
        room_types = body_field(search, "room_types", list, required=False)
        if room_types is not None and not all(t is None or isinstance(t, str) for t in room_types):
            raise MatrixError(400, "M_BAD_JSON", "room_types must be strings or null")
        result = await directory.public_rooms(
            server=ctx.request.query.get("server"),
            limit=limit,
            since=since,
            search_term=term,
            room_types=room_types,
        )
        return json_response(result)

    alias = f"{CLIENT_V3}/directory/room/{{roomAlias}}"
    listing = f"{CLIENT_V3}/directory/list/room/{{roomId}}"
    public = f"{CLIENT_V3}/publicRooms"
    return [
        Endpoint("client.alias_get", "GET", alias, "client", get_alias),
        Endpoint("client.alias_put", "PUT", alias, "client", put_alias, _TOKEN),
        Endpoint("client.alias_delete", "DELETE", alias, "client", delete_alias, _TOKEN),
        Endpoint(
            "client.room_aliases",
            "GET",
            f"{CLIENT_V3}/rooms/{{roomId}}/aliases",
            "client",
            room_aliases,
            _TOKEN,
        ),
        Endpoint("client.directory_visibility", "GET", listing, "client", get_visibility),
        Endpoint(
            "client.directory_visibility_set", "PUT", listing, "client", put_visibility, _TOKEN
        ),
        Endpoint("client.public_rooms", "GET", public, "client", get_public_rooms),
        Endpoint("client.public_rooms_search", "POST", public, "client", post_public_rooms, _TOKEN),
    ]
