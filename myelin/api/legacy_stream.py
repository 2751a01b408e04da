"""Deprecated event stream and initial sync (spec: Client-Server API, "Syncing", deprecated
``GET /initialSync`` and ``GET /events``; "Room Previews", ``GET /events`` with ``room_id``).
"""

from aiohttp import web

from myelin.api.auth import AuthKind
from myelin.api.http import Context, Endpoint, json_response
from myelin.api.login import CLIENT_V3, requester_ids
from myelin.api.room_params import query_int
from myelin.services.errors import MatrixError
from myelin.services.legacy_stream import DEFAULT_INITIAL_LIMIT, LegacyStream

_TOKEN = AuthKind.ACCESS_TOKEN
# Synapse waits 30 seconds when /events has no timeout; an hour bounds it, as for /sync.
DEFAULT_TIMEOUT_MS = 30_000
MAX_TIMEOUT_MS = 3_600_000


def _archived(request: web.Request) -> bool:
    value = request.query.get("archived")
    if value is None:
        return False
    if value not in ("true", "false"):
        raise MatrixError(400, "M_INVALID_PARAM", "archived must be true or false")
    return value == "true"


def legacy_stream_endpoints(stream: LegacyStream) -> list[Endpoint]:
    async def initial_sync(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        limit = query_int(ctx.request, "limit", DEFAULT_INITIAL_LIMIT)
        archived = _archived(ctx.request)
        return json_response(await stream.initial_sync(user_id, limit=limit, archived=archived))

    async def events(ctx: Context) -> web.StreamResponse:
        user_id, device_id = requester_ids(ctx)
        query = ctx.request.query
        timeout_ms = query_int(ctx.request, "timeout", DEFAULT_TIMEOUT_MS, maximum=MAX_TIMEOUT_MS)
        return json_response(
            await stream.events(
                user_id,
                device_id,
                from_token=query.get("from"),
                timeout_ms=timeout_ms,
                room_id=query.get("room_id"),
            )
        )

    return [
        Endpoint(
            "client.initial_sync", "GET", f"{CLIENT_V3}/initialSync", "client", initial_sync, _TOKEN
        ),
        Endpoint("client.events", "GET", f"{CLIENT_V3}/events", "client", events, _TOKEN),
    ]
