"""Reading a room's events (spec: Client-Server API, "Getting events for a room": ``GET
/rooms/{roomId}/event/{eventId}``, ``/members``, ``/joined_members``, ``/messages``,
``/context/{eventId}`` and ``/timestamp_to_event``).
"""

from typing import Any

from aiohttp import web

from myelin.api.auth import AuthKind
from myelin.api.http import Context, Endpoint, json_response
from myelin.api.login import CLIENT_V3, requester_ids
from myelin.api.room_params import query_dir, query_filter, query_int
from myelin.services.errors import MatrixError
from myelin.services.room_reads import RoomReads, parse_token

_TOKEN = AuthKind.ACCESS_TOKEN
MEMBERSHIPS = ("join", "invite", "knock", "leave", "ban")


def _membership_param(request: web.Request, name: str) -> str | None:
    value = request.query.get(name)
    if value is not None and value not in MEMBERSHIPS:
        raise MatrixError(400, "M_INVALID_PARAM", f"{name} must be one of {', '.join(MEMBERSHIPS)}")
    return value


def room_event_endpoints(reads: RoomReads) -> list[Endpoint]:
    async def get_event(ctx: Context) -> web.StreamResponse:
        user_id, device_id = requester_ids(ctx)
        info = ctx.request.match_info
        return json_response(
            await reads.get_event(user_id, device_id, info["roomId"], info["eventId"])
        )

    async def members(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        request = ctx.request
        at = request.query.get("at")
        chunk = await reads.members(
            user_id,
            request.match_info["roomId"],
            at=None if at is None else parse_token(at, "at"),
            membership=_membership_param(request, "membership"),
            not_membership=_membership_param(request, "not_membership"),
        )
        return json_response({"chunk": chunk})

    async def joined_members(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        joined = await reads.joined_members(user_id, ctx.request.match_info["roomId"])
        return json_response({"joined": joined})

    async def messages(ctx: Context) -> web.StreamResponse:
        user_id, device_id = requester_ids(ctx)
        request = ctx.request
        page = await reads.messages(
            user_id,
            device_id,
            request.match_info["roomId"],
            from_token=request.query.get("from"),
            to_token=request.query.get("to"),
            backwards=query_dir(request),
            limit=query_int(request, "limit", 10),
            event_filter=query_filter(request),
        )
        body: dict[str, Any] = {"chunk": page.chunk, "start": page.start}
        if page.end is not None:
            body["end"] = page.end
        if page.state:
            body["state"] = page.state
        return json_response(body)

    async def context(ctx: Context) -> web.StreamResponse:
        user_id, device_id = requester_ids(ctx)
        request = ctx.request
        body = await reads.context(
            user_id,
            device_id,
            request.match_info["roomId"],
            request.match_info["eventId"],
            limit=query_int(request, "limit", 10),
            event_filter=query_filter(request),
        )
        return json_response(body)

    async def timestamp_to_event(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        request = ctx.request
        raw_ts = request.query.get("ts")
        if raw_ts is None:
            raise MatrixError(400, "M_MISSING_PARAM", "Missing parameter: ts")
        try:
            ts = int(raw_ts)
        except ValueError as e:
            raise MatrixError(400, "M_INVALID_PARAM", "ts must be an integer") from e
        backwards = query_dir(request)
        body = await reads.timestamp_to_event(
            user_id, request.match_info["roomId"], ts, not backwards
        )
        return json_response(body)

    room = f"{CLIENT_V3}/rooms/{{roomId}}"
    return [
        Endpoint(
            "client.room_event", "GET", f"{room}/event/{{eventId}}", "client", get_event, _TOKEN
        ),
        Endpoint("client.room_members", "GET", f"{room}/members", "client", members, _TOKEN),
        Endpoint(
            "client.joined_members",
            "GET",
            f"{room}/joined_members",
            "client",
            joined_members,
            _TOKEN,
        ),
        Endpoint("client.messages", "GET", f"{room}/messages", "client", messages, _TOKEN),
        Endpoint("client.context", "GET", f"{room}/context/{{eventId}}", "client", context, _TOKEN),
        Endpoint(
            "client.timestamp_to_event",
            "GET",
            "/_matrix/client/v1/rooms/{roomId}/timestamp_to_event",
            "client",
            timestamp_to_event,
            _TOKEN,
        ),
    ]
