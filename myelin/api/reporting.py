"""Reporting content (spec: Client-Server API, "Reporting Content"):
``POST /rooms/{roomId}/report/{eventId}``, ``POST /rooms/{roomId}/report`` and
``POST /users/{userId}/report``.
"""

from aiohttp import web

from myelin.api.auth import AuthKind
from myelin.api.http import Context, Endpoint, json_object_body, json_response
from myelin.api.login import CLIENT_V3, requester_ids
from myelin.services.ratelimit import REPORTS
from myelin.services.reporting import ReportingService

_TOKEN = AuthKind.ACCESS_TOKEN


def reporting_endpoints(reporting: ReportingService) -> list[Endpoint]:
    async def report_event(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        body = await json_object_body(ctx.request)
        info = ctx.request.match_info
        await reporting.report_event(user_id, info["roomId"], info["eventId"], body)
        return json_response({})

    async def report_room(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        body = await json_object_body(ctx.request)
        await reporting.report_room(user_id, ctx.request.match_info["roomId"], body)
        return json_response({})

    async def report_user(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        body = await json_object_body(ctx.request)
        await reporting.report_user(user_id, ctx.request.match_info["userId"], body)
        return json_response({})

    room = f"{CLIENT_V3}/rooms/{{roomId}}/report"
    return [
        Endpoint(
            "client.report_event",
            "POST",
            f"{room}/{{eventId}}",
            "client",
            report_event,
            _TOKEN,
            REPORTS,
        ),
        Endpoint("client.report_room", "POST", room, "client", report_room, _TOKEN, REPORTS),
        Endpoint(
            "client.report_user",
            "POST",
            f"{CLIENT_V3}/users/{{userId}}/report",
            "client",
            report_user,
            _TOKEN,
            REPORTS,
        ),
    ]
