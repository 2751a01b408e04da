"""Room creation (spec: Client-Server API, "Creation": ``POST /createRoom``)."""

from typing import Any

from aiohttp import web

from myelin.api.auth import AuthKind
from myelin.api.http import Context, Endpoint, body_field, json_object_body, json_response
from myelin.api.login import CLIENT_V3, requester_ids
from myelin.services.errors import MatrixError
from myelin.services.ratelimit import ROOM_CREATION
from myelin.services.rooms import CreateRoomRequest, InitialStateEvent, RoomService


def parse_create_room(body: dict[str, Any]) -> CreateRoomRequest:
    """The request body, every field checked against the spec's types (400 ``M_BAD_JSON``)."""
    invite = body_field(body, "invite", list, required=False) or []
    if not all(isinstance(u, str) for u in invite):
        raise MatrixError(400, "M_BAD_JSON", "invite must be a list of user IDs")
    if body_field(body, "invite_3pid", list, required=False):
        raise MatrixError(400, "M_UNKNOWN", "Third-party invites are not supported")
    initial: list[InitialStateEvent] = []
    for item in body_field(body, "initial_state", list, required=False) or []:
        if not isinstance(item, dict):
            raise MatrixError(400, "M_BAD_JSON", "initial_state entries must be objects")
        event_type = body_field(item, "type", str)
        content = body_field(item, "content", dict)
        state_key = body_field(item, "state_key", str, required=False)
        initial.append(InitialStateEvent(event_type, content, state_key or ""))
    override = body_field(body, "power_level_content_override", dict, required=False)
    return CreateRoomRequest(
        visibility=body_field(body, "visibility", str, required=False) or "private",
        room_alias_name=body_field(body, "room_alias_name", str, required=False),
        name=body_field(body, "name", str, required=False),
        topic=body_field(body, "topic", str, required=False),
        invite=invite,
        room_version=body_field(body, "room_version", str, required=False),
        creation_content=body_field(body, "creation_content", dict, required=False) or {},
        initial_state=initial,
        preset=body_field(body, "preset", str, required=False),
        is_direct=bool(body_field(body, "is_direct", bool, required=False)),
        power_level_content_override=override,
    )


def room_creation_endpoints(rooms: RoomService) -> list[Endpoint]:
    async def create_room(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        request = parse_create_room(await json_object_body(ctx.request))
        created = await rooms.create_room(user_id, request)
        body: dict[str, Any] = {"room_id": created.room_id}
        if created.room_alias is not None:
            body["room_alias"] = created.room_alias  # Synapse's extra key; clients ignore it
        return json_response(body)

    return [
        Endpoint(
            "client.create_room",
            "POST",
            f"{CLIENT_V3}/createRoom",
            "client",
            create_room,
            AuthKind.ACCESS_TOKEN,
            ROOM_CREATION,
        )
    ]
