"""Federation queries that need only the transport (spec: Server-Server API, "Querying for
information" (``/query/profile``, ``/query/directory``), "Published Room Directory"
(``/publicRooms``), "Device Management" (``/user/devices/{userId}``) and "End-to-End
Encryption" (``/user/keys/query``, ``/user/keys/claim``)).

Every endpoint is authenticated with ``X-Matrix``; queries about users or aliases of other
servers are answered 404 (or left out), since we only speak for our own.
"""

from typing import Any

from aiohttp import web

from myelin.api.auth import AuthKind
from myelin.api.http import Context, Endpoint, body_field, json_object_body, json_response
from myelin.api.room_params import query_int
from myelin.core.identifiers import UserID, is_valid_room_alias, server_name_of
from myelin.services.directory import Directory
from myelin.services.e2e_keys import E2EKeyService
from myelin.services.errors import MatrixError
from myelin.services.profile import ProfileService
from myelin.services.ratelimit import FEDERATION

FEDERATION_V1 = "/_matrix/federation/v1"
_X = AuthKind.X_MATRIX


def _origin(ctx: Context) -> str:
    assert ctx.requester is not None and ctx.requester.server_name is not None
    return ctx.requester.server_name


def _local_user(user_id: str, server_name: str) -> str:
    try:
        parsed = UserID.parse(user_id)
    except ValueError as e:
        raise MatrixError(400, "M_INVALID_PARAM", f"Invalid user ID {user_id!r}") from e
    if str(parsed.server_name) != server_name:
        raise MatrixError(404, "M_NOT_FOUND", "User is not hosted on this server")
    return user_id


def federation_query_endpoints(
    server_name: str,
    *,
    profile: ProfileService,
    directory: Directory,
    e2e_keys: E2EKeyService | None,
) -> list[Endpoint]:
    async def query_profile(ctx: Context) -> web.StreamResponse:
        user_id = ctx.request.query.get("user_id")
        if user_id is None:
            raise MatrixError(400, "M_MISSING_PARAM", "Missing parameter: user_id")
        _local_user(user_id, server_name)
        field = ctx.request.query.get("field")
        whole = await profile.get_profile(user_id)  # 404 for a user that does not exist
        if field is None:
            return json_response(whole)
        # "If a field is specified in the request, only the matching field should be
        # included": an existing user without it answers 200 with what it has (nothing).
        return json_response({field: whole[field]} if field in whole else {})

    async def query_directory(ctx: Context) -> web.StreamResponse:
        alias = ctx.request.query.get("room_alias")
        if alias is None:
            raise MatrixError(400, "M_MISSING_PARAM", "Missing parameter: room_alias")
        if not is_valid_room_alias(alias):
            raise MatrixError(400, "M_INVALID_PARAM", f"Invalid room alias {alias!r}")
        if server_name_of(alias) != server_name:
            raise MatrixError(404, "M_NOT_FOUND", "Room alias not found.")
        return json_response(await directory.resolve_alias(alias))

    async def get_public_rooms(ctx: Context) -> web.StreamResponse:
        request = ctx.request
        limit = query_int(request, "limit", 0) if "limit" in request.query else None
        body = await directory.public_rooms(
            server=None, limit=limit, since=request.query.get("since")
        )
        return json_response(body)

    async def post_public_rooms(ctx: Context) -> web.StreamResponse:
        body = await json_object_body(ctx.request)
        limit = body_field(body, "limit", int, required=False)
        if limit is not None and limit < 0:
            raise MatrixError(400, "M_INVALID_PARAM", "limit must not be negative")
        since = body_field(body, "since", str, required=False)
        search = body_field(body, "filter", dict, required=False) or {}
        term = body_field(search, "generic_search_term", str, required=False)
        room_types = body_field(search, "room_types", list, required=False)
        if room_types is not None and not all(t is None or isinstance(t, str) for t in room_types):
            raise MatrixError(400, "M_BAD_JSON", "room_types must be strings or null")
        result = await directory.public_rooms(
            server=None, limit=limit, since=since, search_term=term, room_types=room_types
        )
        return json_response(result)

    endpoints = [
        Endpoint(
            "federation.query_profile",
            "GET",
            f"{FEDERATION_V1}/query/profile",
            "federation",
            query_profile,
            _X,
            FEDERATION,
        ),
        Endpoint(
            "federation.query_directory",
            "GET",
            f"{FEDERATION_V1}/query/directory",
            "federation",
            query_directory,
            _X,
            FEDERATION,
        ),
        Endpoint(
            "federation.public_rooms",
            "GET",
            f"{FEDERATION_V1}/publicRooms",
            "federation",
            get_public_rooms,
            _X,
            FEDERATION,
        ),
        Endpoint(
            "federation.public_rooms_search",
            "POST",
            f"{FEDERATION_V1}/publicRooms",
            "federation",
            post_public_rooms,
            _X,
            FEDERATION,
        ),
    ]
    if e2e_keys is not None:
        endpoints += _e2e_endpoints(server_name, e2e_keys)
    return endpoints


def _e2e_endpoints(server_name: str, e2e: E2EKeyService) -> list[Endpoint]:
    async def user_devices(ctx: Context) -> web.StreamResponse:
        user_id = _local_user(ctx.request.match_info["userId"], server_name)
        # The user's latest update: the prev_id of the next m.device_list_update we send.
        stream_id = await e2e.device_lists.last_change(user_id) or 0
        keys = await e2e.query_keys(_origin(ctx), {user_id: []})
        devices: list[dict[str, Any]] = []
        for device_id, device_keys in sorted(keys["device_keys"].get(user_id, {}).items()):
            entry: dict[str, Any] = {"device_id": device_id, "keys": device_keys}
            name = (device_keys.get("unsigned") or {}).get("device_display_name")
            if isinstance(name, str):
                entry["device_display_name"] = name
            devices.append(entry)
        body: dict[str, Any] = {"user_id": user_id, "stream_id": stream_id, "devices": devices}
        if user_id in keys["master_keys"]:
            body["master_key"] = keys["master_keys"][user_id]
        if user_id in keys["self_signing_keys"]:
            body["self_signing_key"] = keys["self_signing_keys"][user_id]
        return json_response(body)

    async def keys_query(ctx: Context) -> web.StreamResponse:
        body = await json_object_body(ctx.request)
        wanted = body_field(body, "device_keys", dict)
        # Only our users: the others are not ours to answer for.
        local = {u: d for u, d in wanted.items() if _is_local(u, server_name)}
        result = await e2e.query_keys(_origin(ctx), local)
        return json_response(
            {
                "device_keys": result["device_keys"],
                "master_keys": result["master_keys"],
                "self_signing_keys": result["self_signing_keys"],
            }
        )

    async def keys_claim(ctx: Context) -> web.StreamResponse:
        body = await json_object_body(ctx.request)
        wanted = body_field(body, "one_time_keys", dict)
        local = {u: d for u, d in wanted.items() if _is_local(u, server_name)}
        result = await e2e.claim_keys(local)
        return json_response({"one_time_keys": result["one_time_keys"]})

    return [
        Endpoint(
            "federation.user_devices",
            "GET",
            f"{FEDERATION_V1}/user/devices/{{userId}}",
            "federation",
            user_devices,
            _X,
            FEDERATION,
        ),
        Endpoint(
            "federation.user_keys_query",
            "POST",
            f"{FEDERATION_V1}/user/keys/query",
            "federation",
            keys_query,
            _X,
            FEDERATION,
        ),
        Endpoint(
            "federation.user_keys_claim",
            "POST",
            f"{FEDERATION_V1}/user/keys/claim",
            "federation",
            keys_claim,
            _X,
            FEDERATION,
        ),
    ]


def _is_local(user_id: Any, server_name: str) -> bool:
    try:
        return str(UserID.parse(user_id).server_name) == server_name
    except (ValueError, TypeError):
        return False
