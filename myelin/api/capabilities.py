"""Capabilities (spec: Client-Server API, "Capabilities negotiation"): ``GET /capabilities``,
assembled from what each part of the server decides (accounts, profiles, room versions).
"""

from typing import Any

from aiohttp import web

from myelin.api.account import account_capabilities
from myelin.api.auth import AuthKind
from myelin.api.http import Context, Endpoint, json_response
from myelin.api.login import CLIENT_V3
from myelin.api.profile import profile_capabilities
from myelin.core.room_versions import DEFAULT_ROOM_VERSION, RoomVersion
from myelin.services.capabilities import room_versions_capability


def capabilities(
    *, get_login_token: bool, default_room_version: RoomVersion = DEFAULT_ROOM_VERSION
) -> dict[str, Any]:
    """Every capability this server announces."""
    return {
        **account_capabilities(get_login_token=get_login_token),
        **profile_capabilities(),
        "m.room_versions": room_versions_capability(default_room_version),
        # Leaving a room does not forget it (spec v1.18).
        "m.forget_forced_upon_leave": {"enabled": False},
    }


def capabilities_endpoints(
    *, get_login_token: bool, default_room_version: RoomVersion = DEFAULT_ROOM_VERSION
) -> list[Endpoint]:
    body = {
        "capabilities": capabilities(
            get_login_token=get_login_token, default_room_version=default_room_version
        )
    }

    async def get_capabilities(ctx: Context) -> web.StreamResponse:
        return json_response(body)

    return [
        Endpoint(
            "client.capabilities",
            "GET",
            f"{CLIENT_V3}/capabilities",
            "client",
            get_capabilities,
            AuthKind.ACCESS_TOKEN,
        )
    ]
