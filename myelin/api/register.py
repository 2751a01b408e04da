"""Account registration (spec: Client-Server API, "Account registration" (legacy API) and
"Token-authenticated registration").

POST /_matrix/client/v3/register, GET /_matrix/client/v3/register/available,
GET /_matrix/client/v1/register/m.login.registration_token/validity, and the 3PID token
requests of registration, which this server (without identity support) refuses.
"""

from aiohttp import web

from myelin.api.http import Context, Endpoint, body_field, json_object_body, json_response
from myelin.api.login import APPSERVICE_LOGIN, CLIENT_V3, appservice_of, session_options
from myelin.services.appservice import AppserviceRegistry
from myelin.services.auth_sessions import UserInteractiveAuth
from myelin.services.errors import MatrixError
from myelin.services.login import LoginService
from myelin.services.ratelimit import REGISTRATION, THREEPID_VALIDATION
from myelin.services.registration import RegistrationService
from myelin.services.registration_tokens import RegistrationTokenService


def register_endpoints(
    registration: RegistrationService,
    login: LoginService,
    uia: UserInteractiveAuth,
    tokens: RegistrationTokenService,
    *,
    server_name: str,
    appservices: AppserviceRegistry | None = None,
) -> list[Endpoint]:
    async def register_appservice_user(ctx: Context, body: dict[str, object]) -> web.Response:
        # Application Service API, "Server admin style permissions": no UIA, no password.
        appservice_id = appservice_of(ctx, appservices)
        username = body_field(body, "username", str)
        device_id, display_name, refresh = session_options(body)
        inhibit_login = bool(body_field(body, "inhibit_login", bool, required=False))
        user_id = await registration.register_appservice_user(username, appservice_id)
        response: dict[str, object] = {"user_id": user_id, "home_server": server_name}
        if not inhibit_login:
            session = await login.create_session(
                user_id, device_id=device_id, display_name=display_name, refresh=refresh
            )
            response.update(session.to_json())
        return json_response(response)

    async def register(ctx: Context) -> web.StreamResponse:
        kind = ctx.request.query.get("kind", "user")
        if kind not in ("user", "guest"):
            raise MatrixError(400, "M_INVALID_PARAM", "kind must be user or guest")
        body = await json_object_body(ctx.request)
        if kind == "guest":
            # Every parameter but initial_device_display_name is ignored for guests.
            display_name = body_field(body, "initial_device_display_name", str, required=False)
            user_id = await registration.register_guest()
            session = await login.create_session(
                user_id, device_id=None, display_name=display_name, refresh=False
            )
            return json_response({**session.to_json(), "home_server": server_name})
        if body.get("type") == APPSERVICE_LOGIN:
            return await register_appservice_user(ctx, body)
        registration.require_enabled()
        username = body_field(body, "username", str, required=False)
        password = body_field(body, "password", str, required=False)
        device_id, display_name, refresh = session_options(body)
        inhibit_login = bool(body_field(body, "inhibit_login", bool, required=False))
        # Username problems are reported before user-interactive authentication.
        if username is not None:
            await registration.check_username(username)
        result = await uia.authenticate(
            body.get("auth"), registration.flows(), method=ctx.request.method, uri=ctx.request.path
        )
        if password is None:
            raise MatrixError(400, "M_MISSING_PARAM", "Missing parameter: password")
        user_id = await registration.register(username, password)
        await uia.finish(result, token_used=result.registration_token is not None)
        response: dict[str, object] = {"user_id": user_id, "home_server": server_name}
        if not inhibit_login:
            session = await login.create_session(
                user_id, device_id=device_id, display_name=display_name, refresh=refresh
            )
            response.update(session.to_json())
        return json_response(response)

    async def available(ctx: Context) -> web.StreamResponse:
        username = ctx.request.query.get("username")
        if username is None:
            raise MatrixError(400, "M_MISSING_PARAM", "Missing parameter: username")
        await registration.check_username(username)
        return json_response({"available": True})

    async def token_validity(ctx: Context) -> web.StreamResponse:
        registration.require_enabled()
        token = ctx.request.query.get("token")
        if token is None:
            raise MatrixError(400, "M_MISSING_PARAM", "Missing parameter: token")
        return json_response({"valid": await tokens.is_valid(token)})

    async def threepid_denied(ctx: Context) -> web.StreamResponse:
        await json_object_body(ctx.request)
        raise MatrixError(
            403, "M_THREEPID_DENIED", "Third-party identifiers are not supported by this server"
        )

    return [
        Endpoint(
            "client.register",
            "POST",
            f"{CLIENT_V3}/register",
            "client",
            register,
            rate_limit=REGISTRATION,
        ),
        Endpoint(
            "client.register_available",
            "GET",
            f"{CLIENT_V3}/register/available",
            "client",
            available,
            rate_limit=REGISTRATION,
        ),
        Endpoint(
            "client.registration_token_validity",
            "GET",
            "/_matrix/client/v1/register/m.login.registration_token/validity",
            "client",
            token_validity,
            rate_limit=REGISTRATION,
        ),
        Endpoint(
            "client.register_email_token",
            "POST",
            f"{CLIENT_V3}/register/email/requestToken",
            "client",
            threepid_denied,
            rate_limit=THREEPID_VALIDATION,
        ),
        Endpoint(
            "client.register_msisdn_token",
            "POST",
            f"{CLIENT_V3}/register/msisdn/requestToken",
            "client",
            threepid_denied,
            rate_limit=THREEPID_VALIDATION,
        ),
    ]
