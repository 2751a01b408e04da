"""The HTTP layer (spec: Client-Server API, "API Standards" and "Web Browser Clients").

Endpoints are metadata: method, path, listener resource, auth kind, rate-limit name and a
handler. ``build_web_app`` turns a list of them into an aiohttp application with one middleware
that maps ``MatrixError`` to the standard error response, answers unknown paths (404) and wrong
methods (405) with ``M_UNRECOGNIZED``, answers ``OPTIONS`` with the CORS headers and no endpoint
logic, turns unexpected exceptions into a logged 500 ``M_UNKNOWN``, and writes one access-log
line and the request metrics per request. Before a handler runs, a declared body larger than
``max_request_size`` is refused (413 ``M_TOO_LARGE``) and the endpoint's rate limit, if it
declares one, is taken (429 ``M_LIMIT_EXCEEDED`` with ``Retry-After``; see "Rate limiting").
"""

import asyncio
import contextlib
import dataclasses
import logging
import math
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web
from aiohttp.typedefs import Middleware

from myelin.api.auth import Authenticator, AuthKind, Requester
from myelin.api.metrics import HttpMetrics
from myelin.clock import Clock
from myelin.config.ratelimiting import DEFAULT_MAX_REQUEST_SIZE
from myelin.services.errors import MatrixError
from myelin.services.ratelimit import FEDERATION, FederationRateLimiter, RateLimiter

access_log = logging.getLogger("myelin.access")
error_log = logging.getLogger("myelin.api")
ratelimit_log = logging.getLogger("myelin.ratelimit")

CLIENT_PREFIX = "/_matrix/client"

# The CORS headers the spec recommends on every response ("Web Browser Clients").
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, PUT, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "X-Requested-With, Content-Type, Authorization",
}

# The endpoint name used in logs and metrics for requests that matched no endpoint.
UNRECOGNIZED = "unrecognized"

_ENDPOINT_KEY = web.RequestKey("myelin.endpoint", str)


@dataclass(frozen=True)
class Context:
    """What a handler gets: the request and who made it."""

    request: web.Request
    requester: Requester | None

    @property
    def path_params(self) -> dict[str, str]:
        return dict(self.request.match_info)


Handler = Callable[[Context], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Endpoint:
    """One endpoint: how it is reached, who may call it, and what answers it.

    ``resource`` is the listener resource that serves it (client, federation, keys, health,
    metrics); ``rate_limit`` names the limit that applies to it (an action of
    ``myelin.services.ratelimit``, counted per user, origin server or client IP).
    """

    name: str
    method: str
    path: str
    resource: str
    handler: Handler
    auth: AuthKind = AuthKind.NONE
    rate_limit: str | None = None
    # For endpoints that stream their body themselves (media uploads): the declared body size
    # refused with 413 before the handler runs, instead of max_request_size. The handler must
    # count what it reads from request.content (client_max_size applies only to read()).
    max_body_size: int | None = None
    # Headers put on every response of the endpoint, errors raised before its handler runs
    # (authentication, body size, rate limit) included: the media endpoints' security headers.
    response_headers: Mapping[str, str] | None = None


def json_response(body: Any, status: int = 200) -> web.Response:
    """A JSON response (UTF-8, no insignificant whitespace)."""
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def error_response(error: MatrixError) -> web.Response:
    response = json_response(error.to_json(), error.status)
    retry_after_ms = error.extra.get("retry_after_ms")
    if error.status == 429 and isinstance(retry_after_ms, int):
        # "Rate limiting": a Retry-After header (whole seconds, rounded up) on every 429.
        response.headers["Retry-After"] = str(max(1, math.ceil(retry_after_ms / 1000)))
    if error.status == 413:
        # The rest of an oversized body is not read: close rather than drain the connection.
        response.force_close()
    return response


async def json_object_body(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object.

    Raise ``M_NOT_JSON`` when it is not JSON and ``M_BAD_JSON`` when it is JSON but not an
    object (both 400).
    """
    raw = await request.read()
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise MatrixError(400, "M_NOT_JSON", "Content not JSON.") from e
    if not isinstance(body, dict):
        raise MatrixError(400, "M_BAD_JSON", "Content must be a JSON object.")
    if b"\\u0000" in raw and _has_nul(body):
        raise MatrixError(400, "M_BAD_JSON", "NUL characters (\\u0000) are not accepted.")
    return body


def _has_nul(value: Any) -> bool:
    """Whether a parsed JSON value has a NUL character in a string or key.

    PostgreSQL cannot store NUL in text, where SQLite can: such input is refused on both engines
    alike (Synapse answers it with a 500 on PostgreSQL, matrix-org/synapse#9341).
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _check_parameters(request: web.Request) -> None:
    """Path and query parameters may not hold NUL: no identifier or token has one, and
    PostgreSQL text cannot store one (400 ``M_INVALID_PARAM`` on both engines)."""
    for name, value in (*request.match_info.items(), *request.query.items()):
        if "\x00" in value:
            raise MatrixError(400, "M_INVALID_PARAM", f"NUL character in parameter {name}")


def body_field(body: dict[str, Any], name: str, kind: type, *, required: bool = True) -> Any:
    """``body[name]`` checked to be of ``kind``; ``M_MISSING_PARAM`` or ``M_BAD_JSON`` (400)."""
    if name not in body:
        if required:
            raise MatrixError(400, "M_MISSING_PARAM", f"Missing parameter: {name}")
        return None
    value = body[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise MatrixError(400, "M_BAD_JSON", f"Parameter {name} must be of type {kind.__name__}")
    return value


def _status_error(exc: web.HTTPException) -> MatrixError:
    """An aiohttp HTTP exception (raised by routing or body reading) as a Matrix error."""
    if isinstance(exc, web.HTTPNotFound):
        return MatrixError(404, "M_UNRECOGNIZED", "Unrecognized request")
    if isinstance(exc, web.HTTPMethodNotAllowed):
        return MatrixError(405, "M_UNRECOGNIZED", "Unrecognized request")
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return MatrixError(413, "M_TOO_LARGE", "Request body too large")
    return MatrixError(exc.status, "M_UNKNOWN", exc.reason)


def _client_address(request: web.BaseRequest, x_forwarded: bool) -> str:
    if x_forwarded:
        forwarded = request.headers.get("X-Forwarded-For")
        if forwarded:
            return forwarded.split(",", 1)[0].strip()
    return request.remote or "-"


# Query parameters that carry credentials, left out of the access log: access tokens, 3PID
# client secrets (as Synapse's redact_uri) and the registration token of
# GET /register/m.login.registration_token/validity.
_SECRET_QUERY_PARAMS = ("access_token", "client_secret", "token")


def _middleware(clock: Clock, metrics: HttpMetrics, x_forwarded: bool) -> Middleware:
    @web.middleware
    async def matrix_middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        started = clock.monotonic()
        response: web.StreamResponse
        if request.method == "OPTIONS":
            # CORS pre-flight: the headers only, never the endpoint's logic.
            response = web.Response(status=204)
        else:
            try:
                response = await handler(request)
            except MatrixError as e:
                response = error_response(e)
            except web.HTTPException as e:
                response = error_response(_status_error(e))
            except asyncio.CancelledError:
                raise
            except ConnectionResetError:
                if request.transport is not None and not request.transport.is_closing():
                    raise
                # The client went away while its request was being read (a browser closing
                # mid-request): nothing failed here and no one is left to answer. Logged as 499,
                # as Synapse does.
                response = error_response(MatrixError(499, "M_UNKNOWN", "Client disconnected"))
            except Exception:
                error_log.exception(
                    "Internal server error on %s %s", request.method, request.rel_url.path
                )
                response = error_response(MatrixError(500, "M_UNKNOWN", "Internal server error"))
        if not response.prepared:
            response.headers.update(CORS_HEADERS)
        endpoint = request.get(_ENDPOINT_KEY, UNRECOGNIZED)
        duration = clock.monotonic() - started
        if not response.prepared:
            # Sent here, before the line is logged: the client does not wait on the log
            # (aiohttp then finds the response sent and only finishes the request).
            with contextlib.suppress(ConnectionError):
                await response.prepare(request)
                await response.write_eof()
        metrics.observe(endpoint, request.method, response.status, duration)
        path = str(request.rel_url.without_query_params(*_SECRET_QUERY_PARAMS))
        access_log.info(
            "%s %s %s %d %.1fms",
            _client_address(request, x_forwarded),
            request.method,
            path,
            response.status,
            duration * 1000,
            extra={
                "fields": {
                    "client": _client_address(request, x_forwarded),
                    "method": request.method,
                    "path": path,
                    "status": response.status,
                    "duration_ms": round(duration * 1000, 3),
                    "endpoint": endpoint,
                }
            },
        )
        return response

    return matrix_middleware


@dataclass(frozen=True)
class RequestLimits:
    """What bounds a request before its handler runs: body size and rate limits."""

    max_request_size: int = DEFAULT_MAX_REQUEST_SIZE
    ratelimiter: RateLimiter | None = None
    federation_ratelimiter: FederationRateLimiter | None = None
    x_forwarded: bool = False


def _rate_limit_key(
    request: web.Request, requester: Requester | None, x_forwarded: bool
) -> str | None:
    """Who a rate limit counts against: the user, the origin server, else the client IP.

    Application services are not limited, nor the users they act as unless their registration
    says ``rate_limited: true`` (``Requester.ratelimited``).
    """
    if requester is not None:
        if requester.kind is AuthKind.APPSERVICE_TOKEN or not requester.ratelimited:
            return None
        if requester.user_id is not None:
            return requester.user_id
        if requester.server_name is not None:
            return requester.server_name
    return _client_address(request, x_forwarded)


def _route_handler(
    endpoint: Endpoint, authenticator: Authenticator, limits: RequestLimits
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    handle = _checked_handler(endpoint, authenticator, limits)
    headers = endpoint.response_headers
    if headers is None:
        return handle

    async def with_headers(request: web.Request) -> web.StreamResponse:
        try:
            response = await handle(request)
        except MatrixError as e:
            response = error_response(e)
        except web.HTTPException as e:
            response = error_response(_status_error(e))
        if not response.prepared:
            response.headers.update(headers)
        return response

    return with_headers


def _checked_handler(
    endpoint: Endpoint, authenticator: Authenticator, limits: RequestLimits
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        request[_ENDPOINT_KEY] = endpoint.name
        # A declared body over the limit is refused before any of it is read; a chunked one
        # when reading passes the limit (the application's client_max_size).
        length = request.content_length
        max_size = endpoint.max_body_size
        if max_size is None:
            max_size = limits.max_request_size
        if length is not None and length > max_size:
            raise MatrixError(413, "M_TOO_LARGE", "Request body too large")
        _check_parameters(request)
        requester = await authenticator.authenticate(request, endpoint.auth)
        context = Context(request, requester)
        if endpoint.rate_limit is None:
            return await endpoint.handler(context)
        key = _rate_limit_key(request, requester, limits.x_forwarded)
        if endpoint.rate_limit == FEDERATION:
            if limits.federation_ratelimiter is None or key is None:
                return await endpoint.handler(context)
            async with limits.federation_ratelimiter.request(key):
                return await endpoint.handler(context)
        if limits.ratelimiter is not None and key is not None:
            limits.ratelimiter.ratelimit(endpoint.rate_limit, key)
        return await endpoint.handler(context)

    return handle


def build_web_app(
    endpoints: Sequence[Endpoint],
    resources: Collection[str],
    *,
    authenticator: Authenticator,
    metrics: HttpMetrics,
    clock: Clock,
    x_forwarded: bool = False,
    limits: RequestLimits | None = None,
) -> web.Application:
    """An aiohttp application serving the endpoints whose resource is in ``resources``."""
    limits = limits if limits is not None else RequestLimits()
    limits = dataclasses.replace(limits, x_forwarded=x_forwarded)
    app = web.Application(
        middlewares=[_middleware(clock, metrics, x_forwarded)],
        client_max_size=limits.max_request_size,
    )
    seen: set[tuple[str, str]] = set()
    for endpoint in endpoints:
        if endpoint.resource not in resources:
            continue
        route = (endpoint.method, endpoint.path)
        if route in seen:
            raise ValueError(f"two endpoints for {endpoint.method} {endpoint.path}")
        seen.add(route)
        limiter = limits.ratelimiter
        if (
            endpoint.rate_limit not in (None, FEDERATION)
            and limiter is not None
            and not limiter.knows(endpoint.rate_limit)
        ):
            ratelimit_log.warning(
                "Endpoint %s declares rate limit %s, which is not configured: not limited",
                endpoint.name,
                endpoint.rate_limit,
            )
        app.router.add_route(
            endpoint.method, endpoint.path, _route_handler(endpoint, authenticator, limits)
        )
    # Matching Synapse (the spec has only v3 now): every Client-Server v3 endpoint also answers
    # under the r0 prefix of the spec's r0.x releases, which clients still use for nearly every
    # request (Hydrogen does). An endpoint declared under r0 itself keeps its own route.
    for endpoint in endpoints:
        legacy = endpoint.path.replace(f"{CLIENT_PREFIX}/v3/", f"{CLIENT_PREFIX}/r0/", 1)
        route = (endpoint.method, legacy)
        if endpoint.resource in resources and legacy != endpoint.path and route not in seen:
            seen.add(route)
            app.router.add_route(
                endpoint.method, legacy, _route_handler(endpoint, authenticator, limits)
            )
    return app
