"""Filters (spec: Client-Server API, "Filtering": ``POST /user/{userId}/filter`` and
``GET /user/{userId}/filter/{filterId}``)."""

from aiohttp import web

from myelin.api.auth import AuthKind
from myelin.api.http import Context, Endpoint, json_object_body, json_response
from myelin.api.login import CLIENT_V3, requester_ids
from myelin.services.filters import FilterService


def filter_endpoints(filters: FilterService) -> list[Endpoint]:
    async def create(ctx: Context) -> web.StreamResponse:
        requester, _ = requester_ids(ctx)
        body = await json_object_body(ctx.request)
        filter_id = await filters.create_filter(requester, ctx.request.match_info["userId"], body)
        return json_response({"filter_id": filter_id})

    async def get(ctx: Context) -> web.StreamResponse:
        requester, _ = requester_ids(ctx)
        info = ctx.request.match_info
        return json_response(await filters.get_filter(requester, info["userId"], info["filterId"]))

    base = f"{CLIENT_V3}/user/{{userId}}/filter"
    return [
        Endpoint("client.filter_create", "POST", base, "client", create, AuthKind.ACCESS_TOKEN),
        Endpoint(
            "client.filter_get", "GET", f"{base}/{{filterId}}", "client", get, AuthKind.ACCESS_TOKEN
        ),
    ]
