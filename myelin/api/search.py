"""Server-side search (spec: Client-Server API, "Server Side Search"): ``POST /search``."""

from aiohttp import web

from myelin.api.auth import AuthKind
from myelin.api.http import Context, Endpoint, json_object_body, json_response
from myelin.api.login import CLIENT_V3, requester_ids
from myelin.services.search import SearchService


def search_endpoints(search: SearchService) -> list[Endpoint]:
    async def post_search(ctx: Context) -> web.StreamResponse:
        user_id, device_id = requester_ids(ctx)
        body = await json_object_body(ctx.request)
        next_batch = ctx.request.query.get("next_batch")
        return json_response(await search.search(user_id, device_id, body, next_batch))

    return [
        Endpoint(
            "client.search",
            "POST",
            f"{CLIENT_V3}/search",
            "client",
            post_search,
            AuthKind.ACCESS_TOKEN,
        )
    ]
