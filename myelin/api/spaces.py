"""Spaces, room summaries and mutual rooms (spec: Client-Server API, "Spaces":
``GET /v1/rooms/{roomId}/hierarchy``; "Room Summaries": ``GET /v1/room_summary/{roomIdOrAlias}``;
"Mutual Rooms": ``GET /v1/mutual_rooms``).

The room summary may be read without an access token (the spec allows it for rooms anyone
may join, knock on or read): the endpoint is declared unauthenticated and verifies a token
itself when one is given.
"""

from aiohttp import web

from myelin.api.account_restrictions import check_locked
from myelin.api.auth import AccessTokenVerifier, AuthKind, access_token_of
from myelin.api.http import Context, Endpoint, json_response
from myelin.api.login import requester_ids
from myelin.api.room_params import query_bool, query_int
from myelin.services.errors import MatrixError
from myelin.services.mutual_rooms import MutualRooms
from myelin.services.spaces import MAX_DEPTH, MAX_LIMIT, SpaceSummaries

CLIENT_V1 = "/_matrix/client/v1"


def space_endpoints(
    spaces: SpaceSummaries, mutual: MutualRooms, tokens: AccessTokenVerifier
) -> list[Endpoint]:
    async def hierarchy(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        request = ctx.request
        limit = None
        if "limit" in request.query:
            limit = query_int(request, "limit", 0, minimum=1, maximum=MAX_LIMIT)
        max_depth = None
        if "max_depth" in request.query:
            max_depth = query_int(request, "max_depth", 0, minimum=0, maximum=MAX_DEPTH)
        body = await spaces.hierarchy(
            user_id,
            request.match_info["roomId"],
            suggested_only=query_bool(request, "suggested_only"),
            max_depth=max_depth,
            limit=limit,
            from_token=request.query.get("from"),
        )
        return json_response(body)

    async def room_summary(ctx: Context) -> web.StreamResponse:
        user_id = None
        token = access_token_of(ctx.request)
        if token is not None:
            requester = await tokens.verify_access_token(token)
            if requester is None or requester.user_id is None:
                raise MatrixError(401, "M_UNKNOWN_TOKEN", "Unrecognised access token")
            if requester.locked:
                check_locked(ctx.request)
            user_id = requester.user_id
        via = ctx.request.query.getall("via", [])
        target = ctx.request.match_info["roomIdOrAlias"]
        return json_response(await spaces.room_summary(user_id, target, via))

    async def mutual_rooms(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        query = ctx.request.query
        return json_response(
            await mutual.mutual_rooms(user_id, query.get("user_id"), query.get("from"))
        )

    return [
        Endpoint(
            "client.space_hierarchy",
            "GET",
            f"{CLIENT_V1}/rooms/{{roomId}}/hierarchy",
            "client",
            hierarchy,
            AuthKind.ACCESS_TOKEN,
        ),
        Endpoint(
            "client.room_summary",
            "GET",
            f"{CLIENT_V1}/room_summary/{{roomIdOrAlias}}",
            "client",
            room_summary,
        ),
        Endpoint(
            "client.mutual_rooms",
            "GET",
            f"{CLIENT_V1}/mutual_rooms",
            "client",
            mutual_rooms,
            AuthKind.ACCESS_TOKEN,
        ),
    ]
