"""Serving as a notary (spec: Server-Server API, "Querying Keys Through Another Server":
GET /_matrix/key/v2/query/{serverName} and POST /_matrix/key/v2/query).

Every returned key response is signed by us as well as by its server. Servers that cannot be
reached and have no cached keys are left out (an empty ``server_keys`` list).
"""

import asyncio
from typing import Any

from aiohttp import web

from myelin.api.http import Context, Endpoint, json_object_body, json_response
from myelin.services.errors import MatrixError
from myelin.services.key_ring import KeyRing

# The most servers one POST may ask about (Myelin's bound; the spec sets none).
MAX_SERVERS_PER_QUERY = 100


def _timestamp(value: Any, name: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise MatrixError(400, "M_INVALID_PARAM", f"{name} must be a non-negative integer")


def federation_keys_endpoints(key_ring: KeyRing) -> list[Endpoint]:
    async def query_one(ctx: Context) -> web.StreamResponse:
        server_name = ctx.path_params["serverName"]
        raw = ctx.request.query.get("minimum_valid_until_ts")
        minimum: int | None = None
        if raw is not None:
            if not raw.isdigit():
                raise MatrixError(
                    400, "M_INVALID_PARAM", "minimum_valid_until_ts must be an integer"
                )
            minimum = int(raw)
        keys = await key_ring.notary_query(server_name, minimum)
        return json_response({"server_keys": keys})

    async def query_many(ctx: Context) -> web.StreamResponse:
        body = await json_object_body(ctx.request)
        if "server_keys" not in body:
            raise MatrixError(400, "M_MISSING_PARAM", "Missing parameter: server_keys")
        wanted = body["server_keys"]
        if not isinstance(wanted, dict):
            raise MatrixError(400, "M_BAD_JSON", "server_keys must be an object")
        if len(wanted) > MAX_SERVERS_PER_QUERY:
            raise MatrixError(
                400, "M_LIMIT_EXCEEDED", f"at most {MAX_SERVERS_PER_QUERY} servers per query"
            )
        queries: list[tuple[str, int | None]] = []
        for server_name, by_key in wanted.items():
            if not isinstance(by_key, dict):
                raise MatrixError(400, "M_BAD_JSON", f"criteria of {server_name} must be an object")
            minimum: int | None = None
            for criteria in by_key.values():
                if not isinstance(criteria, dict):
                    raise MatrixError(400, "M_BAD_JSON", "query criteria must be objects")
                if "minimum_valid_until_ts" in criteria:
                    value = _timestamp(criteria["minimum_valid_until_ts"], "minimum_valid_until_ts")
                    minimum = value if minimum is None else max(minimum, value)
            queries.append((server_name, minimum))
        results = await asyncio.gather(*(key_ring.notary_query(s, m) for s, m in queries))
        return json_response({"server_keys": [k for keys in results for k in keys]})

    return [
        Endpoint("keys.query_one", "GET", "/_matrix/key/v2/query/{serverName}", "keys", query_one),
        Endpoint("keys.query", "POST", "/_matrix/key/v2/query", "keys", query_many),
    ]
