"""Shared-secret registration (spec: none; Synapse's admin API ``/_synapse/admin/v1/register``,
which tools such as ``register_new_matrix_user`` use).

GET hands out a nonce; POST registers a user when its ``mac`` is the HMAC-SHA1, keyed with
``registration_shared_secret``, of ``nonce NUL username NUL password NUL admin|notadmin
[NUL user_type]``. Works even when public registration is disabled.
"""

from typing import Any

from aiohttp import web

from myelin.api.http import Context, Endpoint, body_field, json_object_body, json_response
from myelin.api.registration_tokens import ADMIN_V1
from myelin.services.errors import MatrixError
from myelin.services.login import LoginService
from myelin.services.registration import RegistrationService


def shared_secret_registration_endpoints(
    registration: RegistrationService, login: LoginService, *, server_name: str
) -> list[Endpoint]:
    async def nonce(ctx: Context) -> web.StreamResponse:
        return json_response({"nonce": registration.new_nonce()})

    async def register(ctx: Context) -> web.StreamResponse:
        body = await json_object_body(ctx.request)
        nonce_value = body_field(body, "nonce", str)
        username = body_field(body, "username", str)
        password = body_field(body, "password", str)
        mac = body_field(body, "mac", str)
        admin = bool(body_field(body, "admin", bool, required=False))
        # Synapse's register_new_matrix_user sends "user_type": null; null means absent.
        user_type = body_field(_without_nulls(body), "user_type", str, required=False)
        displayname = body_field(_without_nulls(body), "displayname", str, required=False)
        if "\x00" in username or "\x00" in password:
            raise MatrixError(400, "M_INVALID_PARAM", "NUL characters are not allowed")
        registration.check_shared_secret_mac(
            nonce=nonce_value,
            username=username,
            password=password,
            admin=admin,
            user_type=user_type,
            mac=mac,
        )
        user_id = await registration.register_with_shared_secret(
            username=username,
            password=password,
            admin=admin,
            user_type=user_type,
            displayname=displayname,
        )
        session = await login.create_session(
            user_id, device_id=None, display_name=None, refresh=False
        )
        return json_response({**session.to_json(), "home_server": server_name})

    path = f"{ADMIN_V1}/register"
    return [
        Endpoint("admin.register_nonce", "GET", path, "client", nonce),
        Endpoint("admin.register", "POST", path, "client", register),
    ]


def _without_nulls(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if value is not None}
