"""Implementation name and version (spec: Server-Server API, "Server implementation":
GET /_matrix/federation/v1/version).
"""

from aiohttp import web

from myelin.api.http import Context, Endpoint, json_response

SERVER_NAME = "Myelin"


def federation_version_endpoints(version: str) -> list[Endpoint]:
    body = {"server": {"name": SERVER_NAME, "version": version}}

    async def server_version(ctx: Context) -> web.StreamResponse:
        return json_response(body)

    return [
        Endpoint(
            "federation.version",
            "GET",
            "/_matrix/federation/v1/version",
            "federation",
            server_version,
        )
    ]
