"""Request limits over real HTTP: bodies over ``max_request_size`` answered 413 M_TOO_LARGE before
the rest is read (declared or chunked, counted after decompression), and JSON bodies that are
hostile (deep nesting, huge numbers, not UTF-8) answered M_NOT_JSON / M_BAD_JSON, never a crash.
"""

import asyncio
import gzip
import io
from typing import Any

import orjson
from aiohttp import web

from myelin.api.auth import AuthKind
from myelin.api.http import Context, Endpoint, body_field, json_object_body, json_response
from tests.api.conftest import ServeFn
from tests.api.openapi import error_schema, validate

LIMIT = 1024
ECHO = "/_matrix/client/v3/test/echo"
NUMBER = "/_matrix/client/v3/test/number"


class Calls:
    def __init__(self) -> None:
        self.count = 0


def _endpoints(calls: Calls) -> list[Endpoint]:
    async def echo(ctx: Context) -> web.StreamResponse:
        body = await json_object_body(ctx.request)
        calls.count += 1
        return json_response({"got": body})

    async def number(ctx: Context) -> web.StreamResponse:
        body = await json_object_body(ctx.request)
        value = body_field(body, "n", int)
        calls.count += 1
        return json_response({"n": value})

    async def federation(ctx: Context) -> web.StreamResponse:
        calls.count += 1
        return json_response({})

    return [
        Endpoint("test.echo", "POST", ECHO, "client", echo),
        Endpoint("test.number", "POST", NUMBER, "client", number),
        Endpoint(
            "test.federation",
            "PUT",
            "/_matrix/federation/v1/test",
            "federation",
            federation,
            auth=AuthKind.X_MATRIX,
        ),
    ]


async def _error(response: Any, status: int, errcode: str) -> dict[str, Any]:
    assert response.status == status
    body: dict[str, Any] = await response.json()
    validate(body, error_schema())
    assert body["errcode"] == errcode
    return body


async def _raw_exchange(host: str, port: int, head: bytes, body_parts: list[bytes]) -> bytes:
    """Send a request head and some body parts, never finishing the body; return the response
    read within 5 s (the server must answer without the rest of the body)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(head)
        for part in body_parts:
            writer.write(part)
        await writer.drain()
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = await asyncio.wait_for(reader.read(65536), 5)
            if not chunk:
                break
            response += chunk
        header_end = response.index(b"\r\n\r\n") + 4
        length = 0
        for line in response[:header_end].split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(response) < header_end + length:
            chunk = await asyncio.wait_for(reader.read(65536), 5)
            if not chunk:
                break
            response += chunk
        return response
    finally:
        writer.close()


def _status_and_body(response: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = response.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    # The rest of the body is not wanted: the server announces that it closes the connection.
    assert b"\r\nconnection: close\r\n" in head.lower() + b"\r\n"
    parsed: dict[str, Any] = orjson.loads(body)
    return status, parsed


async def test_declared_oversized_body_is_refused_before_any_is_sent(serve: ServeFn) -> None:
    calls = Calls()
    client = await serve(extra_endpoints=_endpoints(calls), max_request_size=LIMIT)
    host, port = client.server.host, client.server.port
    assert port is not None
    head = (
        f"POST {ECHO} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"Content-Length: {LIMIT + 1}\r\n\r\n"
    ).encode()
    # Not one byte of the body is sent: the answer cannot depend on reading it.
    response = await _raw_exchange(host, port, head, [])
    status, body = _status_and_body(response)
    assert status == 413
    validate(body, error_schema())
    assert body["errcode"] == "M_TOO_LARGE"
    assert calls.count == 0


async def test_chunked_oversized_body_is_refused_at_the_limit(serve: ServeFn) -> None:
    calls = Calls()
    client = await serve(extra_endpoints=_endpoints(calls), max_request_size=LIMIT)
    host, port = client.server.host, client.server.port
    assert port is not None
    head = (
        f"POST {ECHO} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    # Chunks just past the limit, and the body never ends (no last chunk): the server must
    # answer once the limit is passed instead of waiting for (and buffering) the rest.
    parts = [b"100\r\n" + b" " * 256 + b"\r\n" for _ in range(LIMIT // 256 + 1)]
    response = await _raw_exchange(host, port, head, parts)
    status, body = _status_and_body(response)
    assert status == 413 and body["errcode"] == "M_TOO_LARGE"
    assert calls.count == 0


async def test_bodies_up_to_the_limit_are_accepted(serve: ServeFn) -> None:
    calls = Calls()
    client = await serve(extra_endpoints=_endpoints(calls), max_request_size=LIMIT)
    padding = "x" * (LIMIT - len(b'{"a":""}'))
    exact = orjson.dumps({"a": padding})
    assert len(exact) == LIMIT
    response = await client.post(ECHO, data=exact)
    assert response.status == 200
    assert (await response.json()) == {"got": {"a": padding}}
    over = orjson.dumps({"a": padding + "x"})
    await _error(await client.post(ECHO, data=over), 413, "M_TOO_LARGE")

    async def chunks() -> Any:
        for start in range(0, len(exact), 100):
            yield exact[start : start + 100]

    # Chunked (no Content-Length), under the limit.
    response = await client.post(ECHO, data=chunks())
    assert response.status == 200
    assert calls.count == 2


async def test_limit_counts_the_decompressed_body(serve: ServeFn) -> None:
    calls = Calls()
    client = await serve(extra_endpoints=_endpoints(calls), max_request_size=LIMIT)
    bomb = gzip.compress(orjson.dumps({"a": "0" * (LIMIT * 50)}))
    assert len(bomb) < LIMIT
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    await _error(await client.post(ECHO, data=bomb, headers=headers), 413, "M_TOO_LARGE")
    small = gzip.compress(b'{"a": 1}')
    response = await client.post(ECHO, data=small, headers=headers)
    assert response.status == 200 and (await response.json()) == {"got": {"a": 1}}
    assert calls.count == 1


async def test_limit_applies_to_bodies_read_for_x_matrix(serve: ServeFn) -> None:
    calls = Calls()
    client = await serve(extra_endpoints=_endpoints(calls), max_request_size=LIMIT)
    header = 'X-Matrix origin="other.example",key="ed25519:a",sig="c2ln"'

    async def chunks() -> Any:
        for _ in range(8):
            yield b" " * 256

    response = await client.put(
        "/_matrix/federation/v1/test", data=chunks(), headers={"Authorization": header}
    )
    await _error(response, 413, "M_TOO_LARGE")
    assert calls.count == 0


async def test_default_limit_is_synapses_not_aiohttps(serve: ServeFn) -> None:
    calls = Calls()
    client = await serve(extra_endpoints=_endpoints(calls))
    # 2 MiB: over aiohttp's own 1 MiB default, under Synapse's 12.5 MiB.
    big = orjson.dumps({"a": "y" * (2 * 1024 * 1024)})
    response = await client.post(ECHO, data=io.BytesIO(big))
    assert response.status == 200
    too_big = b'{"a":"' + b"y" * (200 * 65536) + b'"}'
    await _error(await client.post(ECHO, data=io.BytesIO(too_big)), 413, "M_TOO_LARGE")
    assert calls.count == 1


async def test_hostile_json_is_refused_not_crashed_on(serve: ServeFn) -> None:
    calls = Calls()
    client = await serve(extra_endpoints=_endpoints(calls))
    not_json = [
        b"[" * 100_000 + b"]" * 100_000,  # nested far past any parser's depth limit
        b'{"a":' * 5000 + b"1" + b"}" * 5000,
        b'{"a": 1e400}',  # a number that is infinite as a double
        b'{"a": -1' + b"0" * 5000 + b"}",  # a 5000-digit integer
        b'{"a": NaN}',
        b'{"a": "\xff\xfe"}',  # not UTF-8
        '{"a": 1}'.encode("utf-16"),
        b"\xef\xbb\xbf{}",  # a UTF-8 byte order mark
        b'{"a": "\\ud800"}',  # a lone surrogate escape
        b'{"a": 1} trailing',
        b"",
        b"\x00",
    ]
    for body in not_json:
        await _error(await client.post(ECHO, data=body), 400, "M_NOT_JSON")
    for body in (b"[]", b"1", b'"text"', b"null"):
        await _error(await client.post(ECHO, data=body), 400, "M_BAD_JSON")
    # A large integer is parsed as a float, which is not an integer parameter.
    await _error(await client.post(NUMBER, data=b'{"n": 1' + b"0" * 30 + b"}"), 400, "M_BAD_JSON")
    await _error(await client.post(NUMBER, data=b'{"n": 1.5}'), 400, "M_BAD_JSON")
    await _error(await client.post(NUMBER, data=b'{"n": true}'), 400, "M_BAD_JSON")
    await _error(await client.post(NUMBER, data=b"{}"), 400, "M_MISSING_PARAM")
    response = await client.post(NUMBER, data=b'{"n": 9007199254740991}')
    assert response.status == 200 and (await response.json()) == {"n": 9007199254740991}
    # Deep but reasonable nesting is fine, and the server is still well afterwards.
    nested = b'{"a":' * 100 + b"1" + b"}" * 100
    assert (await client.post(ECHO, data=nested)).status == 200
    assert calls.count == 2
