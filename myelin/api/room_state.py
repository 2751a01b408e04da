"""Room state (spec: Client-Server API, "Getting events for a room": ``GET
/rooms/{roomId}/state`` and ``GET /rooms/{roomId}/state/{eventType}/{stateKey}`` (with
``format``); "Sending events to a room": ``PUT /rooms/{roomId}/state/{eventType}/{stateKey}``).

Both forms of the path are served: with a state key, and without one (the empty state key).
"""

from aiohttp import web

from myelin.api.auth import AuthKind
from myelin.api.http import Context, Endpoint, json_object_body, json_response
from myelin.api.login import CLIENT_V3, requester_ids
from myelin.services.errors import MatrixError
from myelin.services.room_actions import RoomActions
from myelin.services.room_reads import RoomReads

_TOKEN = AuthKind.ACCESS_TOKEN


def room_state_endpoints(actions: RoomActions, reads: RoomReads) -> list[Endpoint]:
    async def get_state(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        return json_response(await reads.state_events(user_id, ctx.request.match_info["roomId"]))

    async def get_state_event(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        info = ctx.request.match_info
        fmt = ctx.request.query.get("format", "content")
        if fmt not in ("content", "event"):
            raise MatrixError(400, "M_INVALID_PARAM", "format must be content or event")
        event = await reads.state_event(
            user_id, info["roomId"], info["eventType"], info.get("stateKey", "")
        )
        return json_response(event if fmt == "event" else event["content"])

    async def put_state_event(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        info = ctx.request.match_info
        content = await json_object_body(ctx.request)
        event_id = await actions.send_state(
            user_id, info["roomId"], info["eventType"], info.get("stateKey", ""), content
        )
        return json_response({"event_id": event_id})

    state = f"{CLIENT_V3}/rooms/{{roomId}}/state"
    keyed = f"{state}/{{eventType}}/{{stateKey:.*}}"
    unkeyed = f"{state}/{{eventType}}"
    return [
        Endpoint("client.room_state", "GET", state, "client", get_state, _TOKEN),
        Endpoint("client.room_state_event", "GET", keyed, "client", get_state_event, _TOKEN),
        Endpoint(
            "client.room_state_event_nokey", "GET", unkeyed, "client", get_state_event, _TOKEN
        ),
        Endpoint("client.room_state_put", "PUT", keyed, "client", put_state_event, _TOKEN),
        Endpoint("client.room_state_put_nokey", "PUT", unkeyed, "client", put_state_event, _TOKEN),
    ]
