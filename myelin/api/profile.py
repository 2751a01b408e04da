"""Profiles (spec: Client-Server API, "Profiles", and the ``m.profile_fields`` capability).

GET /profile/{userId}, and GET/PUT/DELETE /profile/{userId}/{keyName} for displayname,
avatar_url, m.tz and custom (namespaced) fields.
"""

from typing import Any

from aiohttp import web

from myelin.api.auth import AuthKind
from myelin.api.http import Context, Endpoint, json_object_body, json_response
from myelin.api.login import CLIENT_V3, requester_ids, require_non_guest
from myelin.services.errors import MatrixError
from myelin.services.login import LoginService
from myelin.services.profile import ProfileService


def profile_capabilities() -> dict[str, Any]:
    """What GET /capabilities says about profiles: every field may be changed."""
    return {
        "m.profile_fields": {"enabled": True},
        "m.set_displayname": {"enabled": True},
        "m.set_avatar_url": {"enabled": True},
    }


def profile_endpoints(profile: ProfileService, login: LoginService) -> list[Endpoint]:
    async def editor(ctx: Context, key: str) -> str:
        # Guests may change their display name and nothing else (spec: "Guest Access").
        if key == "displayname":
            return requester_ids(ctx)[0]
        return (await require_non_guest(ctx, login))[0]

    async def get_profile(ctx: Context) -> web.StreamResponse:
        return json_response(await profile.get_profile(ctx.request.match_info["userId"]))

    async def get_field(ctx: Context) -> web.StreamResponse:
        user_id, key = ctx.request.match_info["userId"], ctx.request.match_info["keyName"]
        return json_response({key: await profile.get_field(user_id, key)})

    async def put_field(ctx: Context) -> web.StreamResponse:
        user_id, key = ctx.request.match_info["userId"], ctx.request.match_info["keyName"]
        requester = await editor(ctx, key)
        body = await json_object_body(ctx.request)
        if key not in body:
            raise MatrixError(400, "M_MISSING_PARAM", f"Missing parameter: {key}")
        await profile.set_field(requester, user_id, key, body[key])
        return json_response({})

    async def delete_field(ctx: Context) -> web.StreamResponse:
        user_id, key = ctx.request.match_info["userId"], ctx.request.match_info["keyName"]
        requester = await editor(ctx, key)
        await profile.delete_field(requester, user_id, key)
        return json_response({})

    whole = f"{CLIENT_V3}/profile/{{userId}}"
    field = f"{whole}/{{keyName}}"
    return [
        Endpoint("client.profile", "GET", whole, "client", get_profile),
        Endpoint("client.profile_field", "GET", field, "client", get_field),
        Endpoint(
            "client.profile_field_set", "PUT", field, "client", put_field, AuthKind.ACCESS_TOKEN
        ),
        Endpoint(
            "client.profile_field_delete",
            "DELETE",
            field,
            "client",
            delete_field,
            AuthKind.ACCESS_TOKEN,
        ),
    ]
