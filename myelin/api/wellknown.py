"""Server discovery (spec: Client-Server API, "Well-known URIs"; Server-Server API,
"Resolving server names": GET /.well-known/matrix/client and /.well-known/matrix/server).

As in Synapse, the client file is served only when ``public_baseurl`` is configured: without
it the server cannot know the URL clients reach it on, and 404 ``M_NOT_FOUND`` (the spec's
"FAIL_PROMPT" case for clients) is better than sending them to ``https://<server_name>/``, a
host that may not exist.
"""

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from myelin.api.http import Context, Endpoint, json_response
from myelin.services.errors import MatrixError


def client_wellknown(public_baseurl: str, extra: Mapping[str, Any]) -> dict[str, Any]:
    """The discovery document: ``m.homeserver.base_url`` plus the configured extra keys."""
    return {**extra, "m.homeserver": {"base_url": public_baseurl}}


def server_wellknown(public_baseurl: str) -> dict[str, str]:
    """Delegation to the host and port of ``public_baseurl`` (443 when it names none).

    Like Synapse: the reverse proxy that serves clients on that URL serves federation too.
    """
    parts = urlsplit(public_baseurl)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return {"m.server": f"{host}:{parts.port or 443}"}


def wellknown_endpoints(
    public_baseurl: str,
    extra_client_content: Mapping[str, Any],
    serve_server_wellknown: bool,
    *,
    serve_client_wellknown: bool = True,
) -> list[Endpoint]:
    """``public_baseurl``: the URL delegated to (and advertised to clients when
    ``serve_client_wellknown``, which is whether it was configured)."""
    client_body = client_wellknown(public_baseurl, extra_client_content)
    server_body = server_wellknown(public_baseurl)

    async def client(ctx: Context) -> web.StreamResponse:
        if not serve_client_wellknown:
            # Synapse: no explicit public_baseurl, no client well-known (404 M_NOT_FOUND).
            raise MatrixError(404, "M_NOT_FOUND", ".well-known not available")
        return json_response(client_body)

    async def server(ctx: Context) -> web.StreamResponse:
        if not serve_server_wellknown:
            # Synapse answers 404 M_NOT_FOUND when it does not serve this file.
            raise MatrixError(404, "M_NOT_FOUND", ".well-known not available")
        return json_response(server_body)

    return [
        Endpoint("wellknown.client", "GET", "/.well-known/matrix/client", "client", client),
        Endpoint("wellknown.server", "GET", "/.well-known/matrix/server", "client", server),
    ]
