"""Registration token administration (spec: Client-Server API, "Token-authenticated
registration", which leaves managing tokens to servers; this is Synapse's admin API
``/_synapse/admin/v1/registration_tokens``, in its request and response shapes).

Every endpoint needs the access token of a server admin.
"""

from aiohttp import web

from myelin.api.auth import AuthKind
from myelin.api.http import Context, Endpoint, json_object_body, json_response
from myelin.api.login import requester_ids
from myelin.services.errors import MatrixError
from myelin.services.login import LoginService
from myelin.services.registration_tokens import RegistrationTokenService, token_json

ADMIN_V1 = "/_synapse/admin/v1"


async def require_admin(ctx: Context, login: LoginService) -> str:
    user_id, _ = requester_ids(ctx)
    if not await login.is_admin(user_id):
        raise MatrixError(403, "M_FORBIDDEN", "You are not a server admin")
    return user_id


def registration_token_endpoints(
    tokens: RegistrationTokenService, login: LoginService
) -> list[Endpoint]:
    async def list_tokens(ctx: Context) -> web.StreamResponse:
        await require_admin(ctx, login)
        valid_param = ctx.request.query.get("valid")
        if valid_param not in (None, "true", "false"):
            raise MatrixError(400, "M_INVALID_PARAM", "valid must be true or false")
        valid = None if valid_param is None else valid_param == "true"
        records = await tokens.list_tokens(valid)
        return json_response({"registration_tokens": [token_json(r) for r in records]})

    async def create(ctx: Context) -> web.StreamResponse:
        await require_admin(ctx, login)
        body = await json_object_body(ctx.request)
        return json_response(token_json(await tokens.create(body)))

    async def get(ctx: Context) -> web.StreamResponse:
        await require_admin(ctx, login)
        return json_response(token_json(await tokens.get(ctx.request.match_info["token"])))

    async def update(ctx: Context) -> web.StreamResponse:
        await require_admin(ctx, login)
        body = await json_object_body(ctx.request)
        record = await tokens.update(ctx.request.match_info["token"], body)
        return json_response(token_json(record))

    async def delete(ctx: Context) -> web.StreamResponse:
        await require_admin(ctx, login)
        await tokens.delete(ctx.request.match_info["token"])
        return json_response({})

    base = f"{ADMIN_V1}/registration_tokens"
    one = f"{base}/{{token}}"
    t = AuthKind.ACCESS_TOKEN
    return [
        Endpoint("admin.registration_tokens", "GET", base, "client", list_tokens, t),
        Endpoint("admin.registration_token_new", "POST", f"{base}/new", "client", create, t),
        Endpoint("admin.registration_token", "GET", one, "client", get, t),
        Endpoint("admin.registration_token_update", "PUT", one, "client", update, t),
        Endpoint("admin.registration_token_delete", "DELETE", one, "client", delete, t),
    ]
