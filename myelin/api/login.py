"""Login (spec: Client-Server API, "Login" (legacy API), "Refreshing access tokens",
"Using access tokens" and POST /login/get_token).

GET/POST /_matrix/client/v3/login, POST /_matrix/client/v3/refresh and
POST /_matrix/client/v1/login/get_token; ``AccessTokens`` is the access-token verifier the
authenticator uses for every endpoint that needs one.
"""

from aiohttp import web

from myelin.api.account_restrictions import AccountStatusLookup
from myelin.api.auth import AuthKind, Requester, access_token_of
from myelin.api.http import Context, Endpoint, body_field, json_object_body, json_response
from myelin.services.appservice import AppserviceRegistry
from myelin.services.auth_sessions import UserInteractiveAuth
from myelin.services.errors import MatrixError
from myelin.services.login import PASSWORD_LOGIN, TOKEN_LOGIN, LoginService
from myelin.services.ratelimit import LOGIN_ADDRESS

CLIENT_V3 = "/_matrix/client/v3"
APPSERVICE_LOGIN = "m.login.application_service"


class AccessTokens:
    """Verifies access tokens for the authenticator (``AccessTokenVerifier``)."""

    def __init__(self, login: LoginService, statuses: AccountStatusLookup | None = None) -> None:
        self._login = login
        self._statuses = statuses

    async def verify_access_token(self, token: str) -> Requester | None:
        owner = await self._login.verify_access_token(token)
        if owner is None:
            return None
        # Account locking and suspension: the Authenticator refuses what they forbid.
        status = None
        if self._statuses is not None:
            status = await self._statuses.get_status(owner.user_id)
        return Requester(
            AuthKind.ACCESS_TOKEN,
            user_id=owner.user_id,
            device_id=owner.device_id,
            locked=status is not None and status.locked,
            suspended=status is not None and status.suspended,
        )


def requester_ids(ctx: Context) -> tuple[str, str | None]:
    """The user and device of an access-token request."""
    requester = ctx.requester
    if requester is None or requester.user_id is None:
        raise MatrixError(401, "M_MISSING_TOKEN", "Missing access token")
    return requester.user_id, requester.device_id


async def require_non_guest(ctx: Context, login: LoginService) -> tuple[str, str | None]:
    """The requester's user and device; 403 ``M_GUEST_ACCESS_FORBIDDEN`` for guests (spec:
    "Guest Access" lists what guests may call)."""
    user_id, device_id = requester_ids(ctx)
    if await login.is_guest(user_id):
        raise MatrixError(403, "M_GUEST_ACCESS_FORBIDDEN", "Guests may not do this")
    return user_id, device_id


def session_options(body: dict[str, object]) -> tuple[str | None, str | None, bool]:
    """``device_id``, ``initial_device_display_name`` and ``refresh_token`` of login/register."""
    device_id = body_field(body, "device_id", str, required=False)
    display_name = body_field(body, "initial_device_display_name", str, required=False)
    refresh = body_field(body, "refresh_token", bool, required=False)
    return device_id, display_name, bool(refresh)


def appservice_of(ctx: Context, appservices: AppserviceRegistry | None) -> str:
    """The application service whose ``as_token`` authenticates an
    ``m.login.application_service`` request; 401 ``M_MISSING_TOKEN``/``M_UNKNOWN_TOKEN``
    (Application Service API, "Server admin style permissions")."""
    token = access_token_of(ctx.request)
    if token is None:
        raise MatrixError(401, "M_MISSING_TOKEN", "Missing application service token")
    registration = None if appservices is None else appservices.by_token(token)
    if registration is None:
        raise MatrixError(401, "M_UNKNOWN_TOKEN", "Unrecognised application service token")
    return registration.id


def login_endpoints(
    login: LoginService,
    uia: UserInteractiveAuth,
    *,
    server_name: str,
    get_login_token_enabled: bool,
    appservices: AppserviceRegistry | None = None,
) -> list[Endpoint]:
    async def get_login(ctx: Context) -> web.StreamResponse:
        token_flow: dict[str, object] = {"type": TOKEN_LOGIN}
        if get_login_token_enabled:
            token_flow["get_login_token"] = True
        flows: list[dict[str, object]] = [{"type": PASSWORD_LOGIN}, token_flow]
        if appservices:
            flows.append({"type": APPSERVICE_LOGIN})
        return json_response({"flows": flows})

    async def appservice_login(
        ctx: Context, body: dict[str, object], device_id: str | None, display_name: str | None
    ) -> dict[str, object]:
        appservice_id = appservice_of(ctx, appservices)
        assert appservices is not None
        registration = appservices.get(appservice_id)
        user_id = login.user_id_of(login.user_from_identifier(dict(body)))
        if registration is None or not registration.is_interested_in_user(user_id, server_name):
            raise MatrixError(
                403, "M_EXCLUSIVE", "This user is not in the application service's namespace"
            )
        user = await login.find_user(user_id)
        if user is None or user.deactivated:
            raise MatrixError(403, "M_FORBIDDEN", "Invalid username")
        session = await login.create_session(
            user.user_id, device_id=device_id, display_name=display_name, refresh=False
        )
        return session.to_json()

    async def post_login(ctx: Context) -> web.StreamResponse:
        body = await json_object_body(ctx.request)
        kind = body_field(body, "type", str)
        device_id, display_name, refresh = session_options(body)
        if kind == PASSWORD_LOGIN:
            session = await login.login_password(
                body, device_id=device_id, display_name=display_name, refresh=refresh
            )
        elif kind == TOKEN_LOGIN:
            token = body_field(body, "token", str)
            session = await login.login_token(
                token, device_id=device_id, display_name=display_name, refresh=refresh
            )
        elif kind == APPSERVICE_LOGIN:
            response = await appservice_login(ctx, body, device_id, display_name)
            return json_response({**response, "home_server": server_name})
        else:
            raise MatrixError(400, "M_UNKNOWN", f"Unknown login type {kind}")
        return json_response({**session.to_json(), "home_server": server_name})

    async def refresh(ctx: Context) -> web.StreamResponse:
        body = await json_object_body(ctx.request)
        token = body_field(body, "refresh_token", str)
        session = await login.refresh(token)
        response = session.to_json()
        del response["user_id"], response["device_id"]
        return json_response(response)

    async def get_token(ctx: Context) -> web.StreamResponse:
        user_id, _ = await require_non_guest(ctx, login)
        if not get_login_token_enabled:
            raise MatrixError(400, "M_FORBIDDEN", "Login tokens are not enabled on this server")
        body = await json_object_body(ctx.request)
        # Always re-prompt: every token needs its own completed UIA session.
        result = await uia.authenticate(
            body.get("auth"),
            await login.uia_flows(user_id),
            method=ctx.request.method,
            uri=ctx.request.path,
            user_id=user_id,
        )
        token, lifetime = await login.create_login_token(user_id)
        await uia.finish(result)
        return json_response({"login_token": token, "expires_in_ms": lifetime})

    return [
        Endpoint("client.login_flows", "GET", f"{CLIENT_V3}/login", "client", get_login),
        Endpoint(
            "client.login",
            "POST",
            f"{CLIENT_V3}/login",
            "client",
            post_login,
            rate_limit=LOGIN_ADDRESS,
        ),
        Endpoint("client.refresh", "POST", f"{CLIENT_V3}/refresh", "client", refresh),
        Endpoint(
            "client.login_get_token",
            "POST",
            "/_matrix/client/v1/login/get_token",
            "client",
            get_token,
            auth=AuthKind.ACCESS_TOKEN,
        ),
    ]
