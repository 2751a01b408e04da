"""Rate limiting over real HTTP (Client-Server API, "Rate limiting"): 429 M_LIMIT_EXCEEDED with
retry_after_ms and Retry-After, per user, origin server or client IP, and the switch that lifts it.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from myelin.api.auth import Authenticator, AuthKind, Requester, XMatrixCredentials
from myelin.api.http import (
    Context,
    Endpoint,
    RequestLimits,
    build_web_app,
    error_response,
    json_response,
)
from myelin.api.metrics import HttpMetrics
from myelin.app import warn_about_lifted_limits
from myelin.services.errors import MatrixError
from myelin.services.ratelimit import (
    FEDERATION,
    MESSAGE,
    REGISTRATION,
    FederationLimits,
    FederationRateLimiter,
    RateLimit,
    RateLimiter,
)
from tests.api.conftest import FakeClock, MakeConfig, ServeFn
from tests.api.openapi import API_DIR, _inline, _load, require_spec, validate


def _rate_limited_schema() -> Any:
    require_spec()
    file = API_DIR / "client-server" / "definitions" / "errors" / "rate_limited.yaml"
    return _inline(_load(file), file)


class Calls:
    def __init__(self) -> None:
        self.count = 0


def _counting(calls: Calls) -> Callable[[Context], Any]:
    async def handler(ctx: Context) -> web.StreamResponse:
        calls.count += 1
        requester = ctx.requester
        return json_response({"n": calls.count, "who": requester.user_id if requester else None})

    return handler


async def _limited(response: Any, retry_after_ms: int) -> None:
    assert response.status == 429
    body = await response.json()
    validate(body, _rate_limited_schema())
    assert body == {
        "errcode": "M_LIMIT_EXCEEDED",
        "error": "Too many requests",
        "retry_after_ms": retry_after_ms,
    }
    assert response.headers["Retry-After"] == str(-(-retry_after_ms // 1000))
    # Errors carry the CORS headers like every other response.
    assert response.headers["Access-Control-Allow-Origin"] == "*"


PATH = "/_matrix/client/v3/test/limited"


async def test_limited_endpoint_answers_429_after_the_burst(
    serve: ServeFn, clock: FakeClock
) -> None:
    calls = Calls()
    endpoint = Endpoint(
        "test.limited", "POST", PATH, "client", _counting(calls), rate_limit=REGISTRATION
    )
    client = await serve(
        extra_endpoints=[endpoint], rc_registration={"per_second": 0.5, "burst_count": 2}
    )
    for _ in range(2):
        assert (await client.post(PATH, data=b"{}")).status == 200
    await _limited(await client.post(PATH, data=b"{}"), 2000)
    assert calls.count == 2  # the handler never ran for the refused request
    clock.mono += 1.5
    await _limited(await client.post(PATH, data=b"{}"), 500)
    clock.mono += 0.5
    assert (await client.post(PATH, data=b"{}")).status == 200
    await _limited(await client.post(PATH, data=b"{}"), 2000)
    assert calls.count == 3


async def test_disabling_ratelimiting_lifts_every_limit(serve: ServeFn) -> None:
    calls = Calls()
    endpoint = Endpoint(
        "test.limited", "POST", PATH, "client", _counting(calls), rate_limit=REGISTRATION
    )
    client = await serve(
        extra_endpoints=[endpoint],
        rc_registration={"per_second": 0.01, "burst_count": 1},
        ratelimiting={"enabled": False},
    )
    for _ in range(20):
        assert (await client.post(PATH, data=b"{}")).status == 200
    assert calls.count == 20


def test_disabled_ratelimiting_is_a_startup_warning(
    make_config: MakeConfig, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="myelin"):
        warn_about_lifted_limits(make_config())
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    with caplog.at_level(logging.INFO, logger="myelin"):
        warn_about_lifted_limits(make_config(ratelimiting={"enabled": False}))
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "Rate limiting is disabled" in warnings[0].getMessage()


async def test_unlimited_endpoints_are_never_refused(serve: ServeFn) -> None:
    client = await serve(rc_registration={"per_second": 0.01, "burst_count": 1})
    for _ in range(10):
        assert (await client.get("/_matrix/client/versions")).status == 200


def test_retry_after_header_is_whole_seconds_rounded_up() -> None:
    for ms, header in ((1, "1"), (999, "1"), (1000, "1"), (1001, "2"), (61_500, "62")):
        error = MatrixError(429, "M_LIMIT_EXCEEDED", "slow down", retry_after_ms=ms)
        assert error_response(error).headers["Retry-After"] == header
    assert "Retry-After" not in error_response(MatrixError(403, "M_FORBIDDEN", "no")).headers


# ---- applications built directly, with verifiers for each kind of requester --------------------


class Tokens:
    async def verify_access_token(self, token: str) -> Requester | None:
        if token.startswith("@"):
            return Requester(AuthKind.ACCESS_TOKEN, user_id=token)
        return None

    async def verify_appservice_token(
        self, token: str, kind: AuthKind, user_id: str | None, device_id: str | None
    ) -> Requester | None:
        # Any token is an application service's as_token on appservice-only endpoints here.
        if kind is not AuthKind.APPSERVICE_TOKEN:
            return None
        return Requester(AuthKind.APPSERVICE_TOKEN, appservice_id=token)

    async def verify_x_matrix(
        self, credentials: XMatrixCredentials, method: str, uri: str, body: bytes
    ) -> Requester | None:
        return Requester(AuthKind.X_MATRIX, server_name=credentials.origin)


Build = Callable[..., Any]


@pytest.fixture
async def build(clock: FakeClock) -> AsyncIterator[Build]:
    """``await build(endpoints, limits=RequestLimits(...), x_forwarded=...)`` -> a TestClient."""
    clients: list[TestClient[Any, Any]] = []

    async def start(
        endpoints: Sequence[Endpoint], limits: RequestLimits, x_forwarded: bool = False
    ) -> TestClient[Any, Any]:
        tokens = Tokens()
        app = build_web_app(
            endpoints,
            {"client", "federation"},
            authenticator=Authenticator(
                access_tokens=tokens, appservice_tokens=tokens, x_matrix=tokens
            ),
            metrics=HttpMetrics(CollectorRegistry()),
            clock=clock,
            x_forwarded=x_forwarded,
            limits=limits,
        )
        client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()


def _message_limiter(clock: FakeClock, **kwargs: Any) -> RateLimiter:
    return RateLimiter(clock, {MESSAGE: RateLimit(1, 2), REGISTRATION: RateLimit(1, 1)}, **kwargs)


async def test_limits_count_per_user(build: Build, clock: FakeClock) -> None:
    endpoint = Endpoint(
        "test.send",
        "PUT",
        "/_matrix/client/v3/test/send",
        "client",
        _counting(Calls()),
        auth=AuthKind.ACCESS_TOKEN,
        rate_limit=MESSAGE,
    )
    limiter = _message_limiter(clock, exempt=["@bot:test.example"])
    client = await build([endpoint], RequestLimits(ratelimiter=limiter))

    async def put(user: str) -> Any:
        headers = {"Authorization": f"Bearer {user}"}
        return await client.put("/_matrix/client/v3/test/send", data=b"{}", headers=headers)

    for _ in range(2):
        assert (await put("@alice:test.example")).status == 200
    await _limited(await put("@alice:test.example"), 1000)
    # The same client address, another user: a bucket of its own.
    assert (await put("@bob:test.example")).status == 200
    # Exempt users are never limited.
    for _ in range(10):
        assert (await put("@bot:test.example")).status == 200
    # Authentication comes first: a bad token is 401, not 429, and spends nothing.
    response = await client.put(
        "/_matrix/client/v3/test/send", data=b"{}", headers={"Authorization": "Bearer nobody"}
    )
    assert response.status == 401


async def test_limits_count_per_client_address_behind_a_proxy(
    build: Build, clock: FakeClock
) -> None:
    endpoint = Endpoint(
        "test.register",
        "POST",
        "/_matrix/client/v3/test/register",
        "client",
        _counting(Calls()),
        rate_limit=REGISTRATION,
    )
    client = await build(
        [endpoint], RequestLimits(ratelimiter=_message_limiter(clock)), x_forwarded=True
    )

    async def post(address: str) -> Any:
        headers = {"X-Forwarded-For": f"{address}, 10.0.0.1"}
        return await client.post("/_matrix/client/v3/test/register", data=b"{}", headers=headers)

    assert (await post("203.0.113.1")).status == 200
    await _limited(await post("203.0.113.1"), 1000)
    assert (await post("203.0.113.2")).status == 200
    await _limited(await post("203.0.113.2"), 1000)
    clock.mono += 1
    assert (await post("203.0.113.1")).status == 200


async def test_application_services_are_not_limited(build: Build, clock: FakeClock) -> None:
    endpoint = Endpoint(
        "test.as",
        "PUT",
        "/_matrix/client/v3/test/as",
        "client",
        _counting(Calls()),
        auth=AuthKind.APPSERVICE_TOKEN,
        rate_limit=MESSAGE,
    )
    client = await build([endpoint], RequestLimits(ratelimiter=_message_limiter(clock)))
    for _ in range(10):
        response = await client.put(
            "/_matrix/client/v3/test/as", data=b"{}", headers={"Authorization": "Bearer as1"}
        )
        assert response.status == 200


async def test_federation_requests_are_limited_per_origin(build: Build, clock: FakeClock) -> None:
    release = asyncio.Event()
    started = asyncio.Event()

    async def slow(ctx: Context) -> web.StreamResponse:
        started.set()
        await release.wait()
        return json_response({"origin": ctx.requester.server_name if ctx.requester else None})

    endpoint = Endpoint(
        "test.federation",
        "PUT",
        "/_matrix/federation/v1/test/{txn}",
        "federation",
        slow,
        auth=AuthKind.X_MATRIX,
        rate_limit=FEDERATION,
    )
    federation = FederationRateLimiter(
        clock, FederationLimits(concurrent=1, reject_limit=1, window_size=1000)
    )
    client = await build([endpoint], RequestLimits(federation_ratelimiter=federation))

    def put(origin: str, txn: str) -> Any:
        header = f'X-Matrix origin="{origin}",key="ed25519:a",sig="c2ln"'
        return client.put(
            f"/_matrix/federation/v1/test/{txn}", data=b"{}", headers={"Authorization": header}
        )

    first = asyncio.create_task(put("a.example", "1"))
    await asyncio.wait_for(started.wait(), 5)
    await _limited(await put("a.example", "2"), 1000)
    # Another origin has its own slots.
    second = asyncio.create_task(put("b.example", "1"))
    await asyncio.sleep(0.05)
    release.set()
    responses = [await first, await second]
    assert [r.status for r in responses] == [200, 200]
    assert [(await r.json())["origin"] for r in responses] == ["a.example", "b.example"]
    assert (await put("a.example", "3")).status == 200


async def test_undeclared_limit_names_are_logged_at_build(
    build: Build, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    endpoint = Endpoint(
        "test.typo",
        "GET",
        "/_matrix/client/v3/test/typo",
        "client",
        _counting(Calls()),
        rate_limit="rc_mesage",
    )
    with caplog.at_level(logging.WARNING, logger="myelin.ratelimit"):
        client = await build([endpoint], RequestLimits(ratelimiter=_message_limiter(clock)))
    assert any("rc_mesage" in r.getMessage() for r in caplog.records)
    # Not configured, so not limited (and not an error).
    for _ in range(5):
        assert (await client.get("/_matrix/client/v3/test/typo")).status == 200
