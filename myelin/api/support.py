"""Server support information (spec: Client-Server API, "Getting server support information"):
``GET /.well-known/matrix/support``, 404 when the operator has configured nothing."""

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from myelin.api.http import Context, Endpoint, json_response
from myelin.services.errors import MatrixError


def support_endpoints(support: Mapping[str, Any] | None) -> list[Endpoint]:
    async def get_support(ctx: Context) -> web.StreamResponse:
        if not support:
            raise MatrixError(404, "M_NOT_FOUND", "No support information is published")
        return json_response(dict(support))

    return [
        Endpoint("wellknown.support", "GET", "/.well-known/matrix/support", "client", get_support)
    ]
