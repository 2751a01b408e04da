"""User directory (spec: Client-Server API, "User directory"): ``POST /user_directory/search``."""

from aiohttp import web

from myelin.api.auth import AuthKind
from myelin.api.http import Context, Endpoint, body_field, json_object_body, json_response
from myelin.api.login import CLIENT_V3, requester_ids
from myelin.services.errors import MatrixError
from myelin.services.user_directory import DEFAULT_LIMIT, MAX_LIMIT, UserDirectoryService


def user_directory_endpoints(directory: UserDirectoryService) -> list[Endpoint]:
    async def search(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        body = await json_object_body(ctx.request)
        term = body_field(body, "search_term", str)
        limit = body_field(body, "limit", int, required=False)
        if limit is None:
            limit = DEFAULT_LIMIT
        if limit < 0:
            raise MatrixError(400, "M_INVALID_PARAM", "limit must not be negative")
        return json_response(await directory.search(user_id, term, min(limit, MAX_LIMIT)))

    return [
        Endpoint(
            "client.user_directory_search",
            "POST",
            f"{CLIENT_V3}/user_directory/search",
            "client",
            search,
            AuthKind.ACCESS_TOKEN,
        )
    ]
