"""Room upgrades (spec: Client-Server API, "Room Upgrades": ``POST /rooms/{roomId}/upgrade``)."""

from aiohttp import web

from myelin.api.auth import AuthKind
from myelin.api.http import Context, Endpoint, body_field, json_object_body, json_response
from myelin.api.login import CLIENT_V3, requester_ids
from myelin.services.errors import MatrixError
from myelin.services.upgrades import RoomUpgrader


def room_upgrade_endpoints(upgrader: RoomUpgrader) -> list[Endpoint]:
    async def upgrade(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        body = await json_object_body(ctx.request)
        new_version = body_field(body, "new_version", str)
        additional = body_field(body, "additional_creators", list, required=False)
        if additional is not None and not all(isinstance(u, str) for u in additional):
            raise MatrixError(400, "M_BAD_JSON", "additional_creators must be user IDs")
        new_room = await upgrader.upgrade(
            user_id, ctx.request.match_info["roomId"], new_version, additional
        )
        return json_response({"replacement_room": new_room})

    return [
        Endpoint(
            "client.room_upgrade",
            "POST",
            f"{CLIENT_V3}/rooms/{{roomId}}/upgrade",
            "client",
            upgrade,
            AuthKind.ACCESS_TOKEN,
        )
    ]
