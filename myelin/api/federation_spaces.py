"""Spaces over federation (spec: Server-Server API, "Spaces": ``GET /hierarchy/{roomId}``).

Authenticated with ``X-Matrix``; the answer covers what the requesting server could peek or
join (``SpaceSummaries.federation_hierarchy``).
"""

from aiohttp import web

from myelin.api.auth import AuthKind
from myelin.api.http import Context, Endpoint, json_response
from myelin.api.room_params import query_bool
from myelin.services.ratelimit import FEDERATION
from myelin.services.spaces import SpaceSummaries

FEDERATION_V1 = "/_matrix/federation/v1"


def federation_space_endpoints(spaces: SpaceSummaries) -> list[Endpoint]:
    async def hierarchy(ctx: Context) -> web.StreamResponse:
        assert ctx.requester is not None and ctx.requester.server_name is not None
        body = await spaces.federation_hierarchy(
            ctx.requester.server_name,
            ctx.request.match_info["roomId"],
            query_bool(ctx.request, "suggested_only"),
        )
        return json_response(body)

    return [
        Endpoint(
            "federation.hierarchy",
            "GET",
            f"{FEDERATION_V1}/hierarchy/{{roomId}}",
            "federation",
            hierarchy,
            AuthKind.X_MATRIX,
            FEDERATION,
        )
    ]
