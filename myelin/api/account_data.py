"""Account data and room tags (spec: Client-Server API, "Client Config": ``GET/PUT
/user/{userId}/account_data/{type}`` and ``/user/{userId}/rooms/{roomId}/account_data/{type}``;
"Room Tagging": ``GET /user/{userId}/rooms/{roomId}/tags``, ``PUT/DELETE .../tags/{tag}``)."""

from aiohttp import web

from myelin.api.auth import AuthKind
from myelin.api.http import Context, Endpoint, json_object_body, json_response
from myelin.api.login import CLIENT_V3, requester_ids
from myelin.services.account_data import AccountDataService


def account_data_endpoints(service: AccountDataService) -> list[Endpoint]:
    async def put_global(ctx: Context) -> web.StreamResponse:
        requester, _ = requester_ids(ctx)
        info = ctx.request.match_info
        body = await json_object_body(ctx.request)
        await service.client_set(requester, info["userId"], None, info["type"], body)
        return json_response({})

    async def get_global(ctx: Context) -> web.StreamResponse:
        requester, _ = requester_ids(ctx)
        info = ctx.request.match_info
        return json_response(
            await service.client_get(requester, info["userId"], None, info["type"])
        )

    async def put_room(ctx: Context) -> web.StreamResponse:
        requester, _ = requester_ids(ctx)
        info = ctx.request.match_info
        body = await json_object_body(ctx.request)
        await service.client_set(requester, info["userId"], info["roomId"], info["type"], body)
        return json_response({})

    async def get_room(ctx: Context) -> web.StreamResponse:
        requester, _ = requester_ids(ctx)
        info = ctx.request.match_info
        return json_response(
            await service.client_get(requester, info["userId"], info["roomId"], info["type"])
        )

    async def get_tags(ctx: Context) -> web.StreamResponse:
        requester, _ = requester_ids(ctx)
        info = ctx.request.match_info
        tags = await service.get_tags(requester, info["userId"], info["roomId"])
        return json_response({"tags": tags})

    async def put_tag(ctx: Context) -> web.StreamResponse:
        requester, _ = requester_ids(ctx)
        info = ctx.request.match_info
        body = await json_object_body(ctx.request)
        await service.set_tag(requester, info["userId"], info["roomId"], info["tag"], body)
        return json_response({})

    async def delete_tag(ctx: Context) -> web.StreamResponse:
        requester, _ = requester_ids(ctx)
        info = ctx.request.match_info
        await service.remove_tag(requester, info["userId"], info["roomId"], info["tag"])
        return json_response({})

    user = f"{CLIENT_V3}/user/{{userId}}"
    global_path = f"{user}/account_data/{{type}}"
    room_path = f"{user}/rooms/{{roomId}}/account_data/{{type}}"
    tags = f"{user}/rooms/{{roomId}}/tags"
    token = AuthKind.ACCESS_TOKEN
    return [
        Endpoint("client.account_data_set", "PUT", global_path, "client", put_global, token),
        Endpoint("client.account_data_get", "GET", global_path, "client", get_global, token),
        Endpoint("client.room_account_data_set", "PUT", room_path, "client", put_room, token),
        Endpoint("client.room_account_data_get", "GET", room_path, "client", get_room, token),
        Endpoint("client.tags_get", "GET", tags, "client", get_tags, token),
        Endpoint("client.tag_set", "PUT", f"{tags}/{{tag}}", "client", put_tag, token),
        Endpoint("client.tag_delete", "DELETE", f"{tags}/{{tag}}", "client", delete_tag, token),
    ]
