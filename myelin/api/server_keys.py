"""Publishing keys (spec: Server-Server API, "Publishing Keys": GET /_matrix/key/v2/server)."""

from aiohttp import web

from myelin.api.http import Context, Endpoint, json_response
from myelin.services.server_keys import ServerKeyService


def server_keys_endpoints(keys: ServerKeyService) -> list[Endpoint]:
    async def server_keys(ctx: Context) -> web.StreamResponse:
        return json_response(keys.server_keys())

    return [Endpoint("keys.server", "GET", "/_matrix/key/v2/server", "keys", server_keys)]
