"""Listing notifications (spec: Client-Server API, "Listing Notifications"):
``GET /notifications`` with ``from``, ``limit`` and ``only``.
"""

from aiohttp import web

from myelin.api.auth import AuthKind
from myelin.api.http import Context, Endpoint, json_response
from myelin.api.login import CLIENT_V3, requester_ids
from myelin.api.room_params import query_int
from myelin.services.errors import MatrixError
from myelin.services.push import NotificationService

# Synapse's default page size; larger limits are clamped.
DEFAULT_LIMIT = 50
MAX_LIMIT = 1000


def notification_endpoints(notifications: NotificationService) -> list[Endpoint]:
    async def get_notifications(ctx: Context) -> web.StreamResponse:
        user_id, device_id = requester_ids(ctx)
        query = ctx.request.query
        before: int | None = None
        token = query.get("from")
        if token:
            if not token.isdigit() or len(token) > 18:
                raise MatrixError(400, "M_INVALID_PARAM", "Invalid from token")
            before = int(token)
        limit = query_int(ctx.request, "limit", DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
        only = query.get("only")
        return json_response(
            await notifications.list_notifications(
                user_id,
                device_id,
                before=before,
                limit=limit,
                only_highlight=only == "highlight",
            )
        )

    return [
        Endpoint(
            "client.notifications",
            "GET",
            f"{CLIENT_V3}/notifications",
            "client",
            get_notifications,
            AuthKind.ACCESS_TOKEN,
        )
    ]
