"""Relationships and threads (spec: Client-Server API, "Relationships": ``GET
/rooms/{roomId}/relations/{eventId}[/{relType}[/{eventType}]]``; "Threading": ``GET
/rooms/{roomId}/threads``).
"""

from aiohttp import web

from myelin.api.auth import AuthKind
from myelin.api.http import Context, Endpoint, json_response
from myelin.api.login import requester_ids
from myelin.api.room_params import query_bool, query_dir, query_int
from myelin.services.relations import Relations

_TOKEN = AuthKind.ACCESS_TOKEN
V1 = "/_matrix/client/v1"


def relation_endpoints(relations: Relations) -> list[Endpoint]:
    async def get_relations(ctx: Context) -> web.StreamResponse:
        user_id, device_id = requester_ids(ctx)
        request = ctx.request
        info = request.match_info
        body = await relations.relations(
            user_id,
            device_id,
            info["roomId"],
            info["eventId"],
            rel_type=info.get("relType"),
            event_type=info.get("eventType"),
            from_token=request.query.get("from"),
            to_token=request.query.get("to"),
            limit=query_int(request, "limit", 50),
            backwards=query_dir(request, default="b"),
            recurse=query_bool(request, "recurse"),
        )
        return json_response(body)

    async def get_threads(ctx: Context) -> web.StreamResponse:
        user_id, device_id = requester_ids(ctx)
        request = ctx.request
        body = await relations.threads(
            user_id,
            device_id,
            request.match_info["roomId"],
            include=request.query.get("include", "all"),
            from_token=request.query.get("from"),
            limit=query_int(request, "limit", 50),
        )
        return json_response(body)

    base = f"{V1}/rooms/{{roomId}}/relations/{{eventId}}"
    return [
        Endpoint("client.relations", "GET", base, "client", get_relations, _TOKEN),
        Endpoint(
            "client.relations_type", "GET", f"{base}/{{relType}}", "client", get_relations, _TOKEN
        ),
        Endpoint(
            "client.relations_type_event",
            "GET",
            f"{base}/{{relType}}/{{eventType}}",
            "client",
            get_relations,
            _TOKEN,
        ),
        Endpoint(
            "client.threads", "GET", f"{V1}/rooms/{{roomId}}/threads", "client", get_threads, _TOKEN
        ),
    ]
