"""Syncing (spec: Client-Server API, "Syncing": ``GET /sync``).

Parameters are validated here (400 ``M_INVALID_PARAM`` for a malformed ``since``, ``timeout``,
``full_state``, ``set_presence`` or ``use_state_after``); the filter (an ID or inline JSON) is
resolved by the filter service (an inline one parsed once per distinct text) and the response
assembled by the sync service.
"""

from aiohttp import web

from myelin.api.auth import AuthKind
from myelin.api.http import Context, Endpoint, json_response
from myelin.api.login import CLIENT_V3, requester_ids
from myelin.core.filters import Filter
from myelin.services.errors import MatrixError
from myelin.services.filters import FilterService
from myelin.services.sync import InvalidSyncTokenError, SyncRequest, SyncService, SyncToken

# Longest long-poll honoured (Synapse does not cap it; an hour bounds the arithmetic).
MAX_TIMEOUT_MS = 3_600_000
# Inline filters parsed once: a client sends the same one with every /sync.
INLINE_FILTER_CACHE_SIZE = 256


def _bool_param(request: web.Request, name: str) -> bool:
    value = request.query.get(name)
    if value is None:
        return False
    if value not in ("true", "false"):
        raise MatrixError(400, "M_INVALID_PARAM", f"{name} must be true or false")
    return value == "true"


def _timeout(request: web.Request) -> int:
    value = request.query.get("timeout")
    if value is None or value == "":
        return 0
    if not value.isascii() or not value.isdigit() or len(value) > 12:
        raise MatrixError(400, "M_INVALID_PARAM", "timeout must be a non-negative integer")
    return min(int(value), MAX_TIMEOUT_MS)


def sync_endpoints(sync: SyncService, filters: FilterService) -> list[Endpoint]:
    # inline filter JSON -> its parsed (immutable) filter; only valid ones are kept.
    inline: dict[str, Filter] = {}

    async def sync_filter(user_id: str, param: str | None) -> Filter:
        if param is None or not param.startswith("{"):
            return await filters.sync_filter(user_id, param)
        found = inline.get(param)
        if found is None:
            found = await filters.sync_filter(user_id, param)
            if len(inline) >= INLINE_FILTER_CACHE_SIZE:
                inline.clear()
            inline[param] = found
        return found

    async def handle(ctx: Context) -> web.StreamResponse:
        user_id, device_id = requester_ids(ctx)
        query = ctx.request.query
        since_text = query.get("since")
        since = None
        if since_text:
            try:
                since = SyncToken.parse(since_text)
            except InvalidSyncTokenError as e:
                raise MatrixError(400, "M_INVALID_PARAM", str(e)) from e
        timeout_ms = _timeout(ctx.request)
        full_state = _bool_param(ctx.request, "full_state")
        use_state_after = _bool_param(ctx.request, "use_state_after")
        request = SyncRequest(
            user_id=user_id,
            device_id=device_id,
            filter=await sync_filter(user_id, query.get("filter")),
            full_state=full_state,
            use_state_after=use_state_after,
        )
        body = await sync.sync(
            request, since, timeout_ms=timeout_ms, set_presence=query.get("set_presence")
        )
        return json_response(body)

    return [
        Endpoint("client.sync", "GET", f"{CLIENT_V3}/sync", "client", handle, AuthKind.ACCESS_TOKEN)
    ]
