"""Application services on the Client-Server API (spec: Application Service API, "Client-Server
API Extensions": "Identity assertion" and "Pinging").

``AppserviceTokens`` is the authenticator's ``AppserviceTokenVerifier``: an ``as_token`` is
accepted wherever an access token is, acting as the service's sender or, with ``user_id``, as a
user of its namespaces (``device_id`` names one of that user's devices). Endpoints declared with
``AuthKind.APPSERVICE_TOKEN`` get a requester of that kind. ``appservice_endpoints`` serves
``POST /_matrix/client/v1/appservice/{appserviceId}/ping``.
"""

from aiohttp import web

from myelin.api.auth import AuthKind, Requester
from myelin.api.http import Context, Endpoint, body_field, json_object_body, json_response
from myelin.services.appservice import AppserviceQueries, AppserviceRegistry
from myelin.services.errors import MatrixError


class AppserviceTokens:
    """Verifies ``as_token`` bearer tokens for the authenticator."""

    def __init__(self, registry: AppserviceRegistry) -> None:
        self._registry = registry

    async def verify_appservice_token(
        self, token: str, kind: AuthKind, user_id: str | None, device_id: str | None
    ) -> Requester | None:
        registration = self._registry.by_token(token)
        if registration is None:
            return None
        if kind is AuthKind.APPSERVICE_TOKEN:
            return Requester(
                AuthKind.APPSERVICE_TOKEN,
                user_id=registration.sender(self._registry.server_name),
                appservice_id=registration.id,
                ratelimited=False,
            )
        assertion = await self._registry.assert_identity(registration, user_id, device_id)
        return Requester(
            AuthKind.ACCESS_TOKEN,
            user_id=assertion.user_id,
            device_id=assertion.device_id,
            appservice_id=registration.id,
            ratelimited=assertion.ratelimited,
        )


def appservice_endpoints(queries: AppserviceQueries) -> list[Endpoint]:
    async def ping(ctx: Context) -> web.StreamResponse:
        requester = ctx.requester
        if requester is None or requester.appservice_id is None:
            raise MatrixError(403, "M_FORBIDDEN", "Only application services may do this")
        body = await json_object_body(ctx.request)
        transaction_id = body_field(body, "transaction_id", str, required=False)
        duration_ms = await queries.ping(
            ctx.request.match_info["appserviceId"], requester.appservice_id, transaction_id
        )
        return json_response({"duration_ms": duration_ms})

    return [
        Endpoint(
            "client.appservice_ping",
            "POST",
            "/_matrix/client/v1/appservice/{appserviceId}/ping",
            "client",
            ping,
            AuthKind.APPSERVICE_TOKEN,
        )
    ]
