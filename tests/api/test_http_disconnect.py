"""A client that goes away mid-request (HTTP layer; Client-Server API, "API Standards"): no
logged internal error and no 500, only the access-log line with status 499, as Synapse logs it.

Served by an ``AppRunner`` with aiohttp's defaults, as ``myelin run`` serves (the test client's
server cancels the handler instead, which hides what a real server sees: the body read raising
``ConnectionResetError``).
"""

import asyncio
import logging

import pytest
from aiohttp import web

from bench.server import free_port
from myelin.api.http import Context, Endpoint, json_object_body, json_response
from myelin.app import listener_app, open_homeserver
from myelin.config import ListenerConfig
from myelin.config.homeserver import ListenerResourceConfig
from tests.api.conftest import FakeClock, MakeConfig


async def test_client_gone_while_its_body_is_read_is_499_not_an_error(
    make_config: MakeConfig, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    reading = asyncio.Event()

    async def echo(ctx: Context) -> web.StreamResponse:
        reading.set()
        return json_response(await json_object_body(ctx.request))

    endpoint = Endpoint("test.slow", "POST", "/_matrix/client/v3/test/slow", "client", echo)
    hs = await open_homeserver(make_config(), clock=clock)
    port = free_port()
    listener = ListenerConfig(port=port, resources=(ListenerResourceConfig(names=("client",)),))
    runner = web.AppRunner(listener_app(hs, listener, [endpoint]))
    await runner.setup()
    caplog.set_level(logging.INFO, logger="myelin.access")
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /_matrix/client/v3/test/slow HTTP/1.1\r\nHost: x\r\n"
            b'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"a": '
        )
        await writer.drain()
        await asyncio.wait_for(reading.wait(), 10)
        writer.close()
        await writer.wait_closed()
        for _ in range(250):
            if any(r.name == "myelin.access" for r in caplog.records):
                break
            await asyncio.sleep(0.02)
    finally:
        await runner.cleanup()
        await hs.close()
    access = [r.getMessage() for r in caplog.records if r.name == "myelin.access"]
    assert any("POST /_matrix/client/v3/test/slow 499 " in line for line in access), access
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
