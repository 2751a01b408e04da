"""Deprecated endpoints Synapse still serves (spec: Client-Server API, "Room initial sync":
``GET /rooms/{roomId}/initialSync``; "Events": ``GET /events/{eventId}``)."""

from aiohttp import web

from myelin.api.auth import AuthKind
from myelin.api.http import Context, Endpoint, json_response
from myelin.api.login import CLIENT_V3, requester_ids
from myelin.api.room_params import query_int
from myelin.services.legacy_reads import LegacyReads

_TOKEN = AuthKind.ACCESS_TOKEN


def legacy_read_endpoints(legacy: LegacyReads) -> list[Endpoint]:
    async def event(ctx: Context) -> web.StreamResponse:
        user_id, device_id = requester_ids(ctx)
        return json_response(
            await legacy.event(user_id, device_id, ctx.request.match_info["eventId"])
        )

    async def room_initial_sync(ctx: Context) -> web.StreamResponse:
        user_id, device_id = requester_ids(ctx)
        # Synapse's default of 10 messages; at most 1000 like /messages.
        limit = query_int(ctx.request, "limit", 10)
        room_id = ctx.request.match_info["roomId"]
        return json_response(await legacy.room_initial_sync(user_id, device_id, room_id, limit))

    return [
        Endpoint(
            "client.legacy_event", "GET", f"{CLIENT_V3}/events/{{eventId}}", "client", event, _TOKEN
        ),
        Endpoint(
            "client.room_initial_sync",
            "GET",
            f"{CLIENT_V3}/rooms/{{roomId}}/initialSync",
            "client",
            room_initial_sync,
            _TOKEN,
        ),
    ]
