"""Server-side key backups (spec: Client-Server API, "End-to-End Encryption": "Server-side
key backups", the ``/room_keys/version`` and ``/room_keys/keys`` endpoints).
"""

from typing import Any

from aiohttp import web

from myelin.api.auth import AuthKind
from myelin.api.http import Context, Endpoint, body_field, json_object_body, json_response
from myelin.api.login import CLIENT_V3, requester_ids
from myelin.services.errors import MatrixError
from myelin.services.key_backup import BackedUpKey, KeyBackupService, parse_key_data

_TOKEN = AuthKind.ACCESS_TOKEN


def _keys_of_rooms(rooms: dict[str, Any]) -> list[BackedUpKey]:
    keys: list[BackedUpKey] = []
    for room_id, room in rooms.items():
        if not isinstance(room, dict):
            raise MatrixError(400, "M_BAD_JSON", "rooms must map room IDs to objects")
        keys.extend(_keys_of_sessions(room_id, body_field(room, "sessions", dict)))
    return keys


def _keys_of_sessions(room_id: str, sessions: dict[str, Any]) -> list[BackedUpKey]:
    return [parse_key_data(room_id, sid, data) for sid, data in sessions.items()]


def room_keys_endpoints(backup: KeyBackupService) -> list[Endpoint]:
    async def create_version(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        body = await json_object_body(ctx.request)
        return json_response({"version": await backup.create_version(user_id, body)})

    async def latest_version(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        return json_response(await backup.get_version(user_id, None))

    async def get_version(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        return json_response(await backup.get_version(user_id, ctx.request.match_info["version"]))

    async def put_version(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        body = await json_object_body(ctx.request)
        await backup.update_version(user_id, ctx.request.match_info["version"], body)
        return json_response({})

    async def delete_version(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        await backup.delete_version(user_id, ctx.request.match_info["version"])
        return json_response({})

    def where(ctx: Context) -> tuple[str | None, str | None, str | None]:
        info = ctx.request.match_info
        return ctx.request.query.get("version"), info.get("roomId"), info.get("sessionId")

    async def put_keys(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        version, room_id, session_id = where(ctx)
        body = await json_object_body(ctx.request)
        if room_id is None:
            keys = _keys_of_rooms(body_field(body, "rooms", dict))
        elif session_id is None:
            keys = _keys_of_sessions(room_id, body_field(body, "sessions", dict))
        else:
            keys = [parse_key_data(room_id, session_id, body)]
        return json_response(await backup.put_keys(user_id, version, keys))

    async def get_keys(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        version, room_id, session_id = where(ctx)
        return json_response(await backup.get_keys(user_id, version, room_id, session_id))

    async def delete_keys(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        version, room_id, session_id = where(ctx)
        return json_response(await backup.delete_keys(user_id, version, room_id, session_id))

    base = f"{CLIENT_V3}/room_keys"
    endpoints = [
        Endpoint(
            "client.room_keys_version_create",
            "POST",
            f"{base}/version",
            "client",
            create_version,
            _TOKEN,
        ),
        Endpoint(
            "client.room_keys_version_latest",
            "GET",
            f"{base}/version",
            "client",
            latest_version,
            _TOKEN,
        ),
        Endpoint(
            "client.room_keys_version_get",
            "GET",
            f"{base}/version/{{version}}",
            "client",
            get_version,
            _TOKEN,
        ),
        Endpoint(
            "client.room_keys_version_put",
            "PUT",
            f"{base}/version/{{version}}",
            "client",
            put_version,
            _TOKEN,
        ),
        Endpoint(
            "client.room_keys_version_delete",
            "DELETE",
            f"{base}/version/{{version}}",
            "client",
            delete_version,
            _TOKEN,
        ),
    ]
    for suffix, name in (
        ("", "all"),
        ("/{roomId}", "room"),
        ("/{roomId}/{sessionId}", "session"),
    ):
        path = f"{base}/keys{suffix}"
        endpoints += [
            Endpoint(f"client.room_keys_{name}_put", "PUT", path, "client", put_keys, _TOKEN),
            Endpoint(f"client.room_keys_{name}_get", "GET", path, "client", get_keys, _TOKEN),
            Endpoint(
                f"client.room_keys_{name}_delete", "DELETE", path, "client", delete_keys, _TOKEN
            ),
        ]
    return endpoints
