"""The HTTP layer: errors, CORS, body parsing, authentication, access log, all over real HTTP."""

import io
import json
import logging
from typing import Any

import pytest
from aiohttp import web

from myelin.api.auth import AuthKind, Requester, parse_x_matrix
from myelin.api.http import CORS_HEADERS, Context, Endpoint, json_object_body, json_response
from myelin.log import setup_logging
from myelin.services.errors import MatrixError
from tests.api.conftest import ServeFn
from tests.api.openapi import error_schema, validate


class Calls:
    def __init__(self) -> None:
        self.count = 0


def _test_endpoints(calls: Calls) -> list[Endpoint]:
    async def echo(ctx: Context) -> web.StreamResponse:
        calls.count += 1
        return json_response({"got": await json_object_body(ctx.request)})

    async def explode(ctx: Context) -> web.StreamResponse:
        raise RuntimeError("kaboom in a test handler")

    async def refuse(ctx: Context) -> web.StreamResponse:
        raise MatrixError(403, "M_FORBIDDEN", "Not you", extra_key=1)

    async def whoami(ctx: Context) -> web.StreamResponse:
        assert ctx.requester is not None
        return json_response({"user_id": ctx.requester.user_id})

    return [
        Endpoint("test.echo", "POST", "/_matrix/client/v3/test/echo", "client", echo),
        Endpoint("test.explode", "GET", "/_matrix/client/v3/test/explode", "client", explode),
        Endpoint("test.refuse", "GET", "/_matrix/client/v3/test/refuse", "client", refuse),
        Endpoint(
            "test.whoami",
            "GET",
            "/_matrix/client/v3/test/whoami",
            "client",
            whoami,
            auth=AuthKind.ACCESS_TOKEN,
            rate_limit="test",
        ),
        Endpoint(
            "test.federation",
            "GET",
            "/_matrix/federation/v1/test",
            "federation",
            whoami,
            auth=AuthKind.X_MATRIX,
        ),
    ]


async def _error(response: Any, status: int, errcode: str) -> dict[str, Any]:
    assert response.status == status
    body: dict[str, Any] = await response.json()
    validate(body, error_schema())
    assert body["errcode"] == errcode
    assert isinstance(body["error"], str)
    return body


async def test_unknown_path_is_404_unrecognized(serve: ServeFn) -> None:
    client = await serve()
    await _error(await client.get("/_matrix/client/v3/nothing_here"), 404, "M_UNRECOGNIZED")
    await _error(await client.get("/"), 404, "M_UNRECOGNIZED")


async def test_wrong_method_is_405_unrecognized(serve: ServeFn) -> None:
    client = await serve()
    response = await client.post("/_matrix/client/versions", data=b"{}")
    await _error(response, 405, "M_UNRECOGNIZED")
    assert response.headers["Access-Control-Allow-Origin"] == "*"


async def test_cors_headers_on_every_response(serve: ServeFn) -> None:
    client = await serve()
    for path in ("/_matrix/client/versions", "/nope", "/health"):
        response = await client.get(path)
        for name, value in CORS_HEADERS.items():
            assert response.headers[name] == value


async def test_options_answers_cors_without_running_the_endpoint(serve: ServeFn) -> None:
    calls = Calls()
    client = await serve(extra_endpoints=_test_endpoints(calls))
    response = await client.options("/_matrix/client/v3/test/echo")
    assert response.status == 204
    for name, value in CORS_HEADERS.items():
        assert response.headers[name] == value
    assert calls.count == 0
    # An OPTIONS request to an endpoint needing auth is answered without credentials.
    assert (await client.options("/_matrix/client/v3/test/whoami")).status == 204


async def test_json_body_parsing(serve: ServeFn) -> None:
    calls = Calls()
    client = await serve(extra_endpoints=_test_endpoints(calls))
    path = "/_matrix/client/v3/test/echo"
    await _error(await client.post(path, data=b"not json"), 400, "M_NOT_JSON")
    await _error(await client.post(path, data=b""), 400, "M_NOT_JSON")
    await _error(await client.post(path, data=b'{"a": NaN}'), 400, "M_NOT_JSON")
    await _error(await client.post(path, data=b"[1, 2]"), 400, "M_BAD_JSON")
    await _error(await client.post(path, data=b'"text"'), 400, "M_BAD_JSON")
    response = await client.post(path, data='{"a": ["ü", 1]}'.encode())
    assert response.status == 200
    assert await response.json() == {"got": {"a": ["ü", 1]}}
    assert calls.count == 6


async def test_matrix_error_is_mapped_once(serve: ServeFn) -> None:
    client = await serve(extra_endpoints=_test_endpoints(Calls()))
    body = await _error(await client.get("/_matrix/client/v3/test/refuse"), 403, "M_FORBIDDEN")
    assert body == {"errcode": "M_FORBIDDEN", "error": "Not you", "extra_key": 1}


async def test_unexpected_exception_is_logged_500(
    serve: ServeFn, caplog: pytest.LogCaptureFixture
) -> None:
    client = await serve(extra_endpoints=_test_endpoints(Calls()))
    with caplog.at_level(logging.ERROR, logger="myelin.api"):
        response = await client.get("/_matrix/client/v3/test/explode")
    assert response.status == 500
    body = await response.json()
    validate(body, error_schema())
    assert body == {"errcode": "M_UNKNOWN", "error": "Internal server error"}
    assert "kaboom" not in json.dumps(body)
    errors = [r for r in caplog.records if r.name == "myelin.api"]
    assert len(errors) == 1
    assert errors[0].exc_info is not None
    assert "RuntimeError: kaboom in a test handler" in caplog.text
    assert "Traceback" in caplog.text


async def test_access_token_auth_is_enforced(serve: ServeFn) -> None:
    client = await serve(extra_endpoints=_test_endpoints(Calls()))
    path = "/_matrix/client/v3/test/whoami"
    await _error(await client.get(path), 401, "M_MISSING_TOKEN")
    # No token verifier exists yet: every token is unknown.
    headers = {"Authorization": "Bearer abc"}
    await _error(await client.get(path, headers=headers), 401, "M_UNKNOWN_TOKEN")
    await _error(await client.get(path + "?access_token=abc"), 401, "M_UNKNOWN_TOKEN")


async def test_x_matrix_auth_is_enforced(serve: ServeFn) -> None:
    client = await serve(extra_endpoints=_test_endpoints(Calls()))
    path = "/_matrix/federation/v1/test"
    await _error(await client.get(path), 401, "M_UNAUTHORIZED")
    header = 'X-Matrix origin="other.example",key="ed25519:a",sig="c2ln"'
    await _error(await client.get(path, headers={"Authorization": header}), 401, "M_UNAUTHORIZED")


async def test_authenticator_uses_its_verifier() -> None:
    from aiohttp.test_utils import make_mocked_request

    from myelin.api.auth import Authenticator

    class Tokens:
        async def verify_access_token(self, token: str) -> Requester | None:
            if token == "good":
                return Requester(AuthKind.ACCESS_TOKEN, user_id="@a:test.example")
            return None

    auth = Authenticator(access_tokens=Tokens())
    good = make_mocked_request("GET", "/x", headers={"Authorization": "Bearer good"})
    requester = await auth.authenticate(good, AuthKind.ACCESS_TOKEN)
    assert requester is not None and requester.user_id == "@a:test.example"
    bad = make_mocked_request("GET", "/x", headers={"Authorization": "Bearer bad"})
    with pytest.raises(MatrixError) as e:
        await auth.authenticate(bad, AuthKind.ACCESS_TOKEN)
    assert e.value.errcode == "M_UNKNOWN_TOKEN"
    both = make_mocked_request(
        "GET", "/x?access_token=other", headers={"Authorization": "Bearer good"}
    )
    with pytest.raises(MatrixError):
        await auth.authenticate(both, AuthKind.ACCESS_TOKEN)
    assert await auth.authenticate(bad, AuthKind.NONE) is None


def test_parse_x_matrix() -> None:
    creds = parse_x_matrix(
        'X-Matrix origin=origin.example,destination="dest.example",'
        'key="ed25519:key1", sig="ABCDEF\\"x"'
    )
    assert creds.origin == "origin.example"
    assert creds.destination == "dest.example"
    assert creds.key == "ed25519:key1"
    assert creds.sig == 'ABCDEF"x'
    assert parse_x_matrix('x-matrix origin=a,key="k",sig="s"').destination is None
    for bad in ("Bearer abc", 'X-Matrix origin="a",key="k"', "X-Matrix ,,,", "X-Matrix"):
        with pytest.raises(MatrixError) as e:
            parse_x_matrix(bad)
        assert e.value.errcode == "M_UNAUTHORIZED"


async def test_access_log_line_hides_access_token(
    serve: ServeFn, caplog: pytest.LogCaptureFixture
) -> None:
    client = await serve()
    with caplog.at_level(logging.INFO, logger="myelin.access"):
        await client.get("/_matrix/client/versions?access_token=SECRET&x=1")
    lines = [r for r in caplog.records if r.name == "myelin.access"]
    assert len(lines) == 1
    message = lines[0].getMessage()
    assert "SECRET" not in message
    assert "GET /_matrix/client/versions?x=1 200" in message
    assert message.endswith("ms")
    fields = lines[0].fields  # type: ignore[attr-defined]
    assert fields["status"] == 200 and fields["endpoint"] == "client.versions"
    assert isinstance(fields["duration_ms"], float)


def test_json_log_format() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        setup_logging("INFO", "json", stream)
        logging.getLogger("myelin.access").info(
            "GET / 200", extra={"fields": {"status": 200, "path": "/"}}
        )
        logging.getLogger("myelin.test").debug("not shown")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["message"] == "GET / 200"
    assert entry["level"] == "INFO"
    assert entry["logger"] == "myelin.access"
    assert entry["status"] == 200 and entry["path"] == "/"
