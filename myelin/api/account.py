"""Account management (spec: Client-Server API, "Account management", "Current account
information" and "Adding Account Administrative Contact Information").

GET /account/whoami, POST /account/password, POST /account/deactivate, and the 3PID endpoints
answered honestly for a server without identity support: no 3PIDs are bound, none can be added.
"""

from typing import Any

from aiohttp import web

from myelin.api.auth import AuthKind
from myelin.api.http import Context, Endpoint, body_field, json_object_body, json_response
from myelin.api.login import CLIENT_V3, requester_ids, require_non_guest
from myelin.services.account_management import AccountManagementService
from myelin.services.auth_sessions import UserInteractiveAuth
from myelin.services.errors import MatrixError
from myelin.services.login import LoginService

_TOKEN = AuthKind.ACCESS_TOKEN


def account_capabilities(*, get_login_token: bool) -> dict[str, Any]:
    """What GET /capabilities says about accounts (for whoever serves that endpoint):
    passwords can be changed, 3PIDs cannot, login tokens as configured."""
    return {
        "m.change_password": {"enabled": True},
        "m.3pid_changes": {"enabled": False},
        "m.get_login_token": {"enabled": get_login_token},
    }


def account_endpoints(
    login: LoginService,
    uia: UserInteractiveAuth,
    accounts: AccountManagementService,
) -> list[Endpoint]:
    async def whoami(ctx: Context) -> web.StreamResponse:
        user_id, device_id = requester_ids(ctx)
        body: dict[str, object] = {"user_id": user_id, "is_guest": await login.is_guest(user_id)}
        if device_id is not None:
            body["device_id"] = device_id
        return json_response(body)

    async def password(ctx: Context) -> web.StreamResponse:
        user_id, device_id = await require_non_guest(ctx, login)
        body = await json_object_body(ctx.request)
        new_password = body_field(body, "new_password", str)
        logout_devices = body_field(body, "logout_devices", bool, required=False)
        result = await uia.authenticate(
            body.get("auth"),
            await login.uia_flows(user_id),
            method=ctx.request.method,
            uri=ctx.request.path,
            user_id=user_id,
        )
        await accounts.change_password(
            user_id,
            new_password,
            logout_devices=logout_devices is not False,
            keep_device=device_id,
        )
        await uia.finish(result)
        return json_response({})

    async def deactivate(ctx: Context) -> web.StreamResponse:
        user_id, _ = await require_non_guest(ctx, login)
        body = await json_object_body(ctx.request)
        erase = body_field(body, "erase", bool, required=False)
        body_field(body, "id_server", str, required=False)
        result = await uia.authenticate(
            body.get("auth"),
            await login.uia_flows(user_id),
            method=ctx.request.method,
            uri=ctx.request.path,
            user_id=user_id,
        )
        await accounts.deactivate(user_id, erase=bool(erase))
        await uia.finish(result)
        # No 3PIDs are bound, so there is nothing to unbind: "success" (spec).
        return json_response({"id_server_unbind_result": "success"})

    async def threepids(ctx: Context) -> web.StreamResponse:
        await require_non_guest(ctx, login)
        return json_response({"threepids": []})

    async def add_threepid(ctx: Context) -> web.StreamResponse:
        await require_non_guest(ctx, login)
        await json_object_body(ctx.request)
        raise MatrixError(
            400, "M_THREEPID_AUTH_FAILED", "No third-party identifier validation session exists"
        )

    async def remove_threepid(ctx: Context) -> web.StreamResponse:
        await require_non_guest(ctx, login)
        body = await json_object_body(ctx.request)
        body_field(body, "medium", str)
        body_field(body, "address", str)
        # The identifier is not bound to the account: nothing to remove or unbind.
        return json_response({"id_server_unbind_result": "success"})

    async def request_token(ctx: Context) -> web.StreamResponse:
        await json_object_body(ctx.request)
        raise MatrixError(
            403, "M_THREEPID_DENIED", "Third-party identifiers are not supported by this server"
        )

    async def password_request_token(ctx: Context) -> web.StreamResponse:
        await json_object_body(ctx.request)
        raise MatrixError(400, "M_THREEPID_NOT_FOUND", "No account has this third-party identifier")

    a = f"{CLIENT_V3}/account"
    return [
        Endpoint("client.whoami", "GET", f"{a}/whoami", "client", whoami, _TOKEN),
        Endpoint("client.password", "POST", f"{a}/password", "client", password, _TOKEN),
        Endpoint("client.deactivate", "POST", f"{a}/deactivate", "client", deactivate, _TOKEN),
        Endpoint("client.3pid", "GET", f"{a}/3pid", "client", threepids, _TOKEN),
        Endpoint("client.3pid_post", "POST", f"{a}/3pid", "client", add_threepid, _TOKEN),
        Endpoint("client.3pid_add", "POST", f"{a}/3pid/add", "client", add_threepid, _TOKEN),
        Endpoint("client.3pid_bind", "POST", f"{a}/3pid/bind", "client", add_threepid, _TOKEN),
        Endpoint(
            "client.3pid_delete", "POST", f"{a}/3pid/delete", "client", remove_threepid, _TOKEN
        ),
        Endpoint(
            "client.3pid_unbind", "POST", f"{a}/3pid/unbind", "client", remove_threepid, _TOKEN
        ),
        *(
            Endpoint(f"client.3pid_{m}_token", "POST", f"{a}/3pid/{m}/requestToken", "client", h)
            for m, h in (("email", request_token), ("msisdn", request_token))
        ),
        *(
            Endpoint(
                f"client.password_{m}_token",
                "POST",
                f"{a}/password/{m}/requestToken",
                "client",
                password_request_token,
            )
            for m in ("email", "msisdn")
        ),
    ]
