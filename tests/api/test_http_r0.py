"""The r0 prefix (Client-Server API, "API Standards"; served as Synapse does): every client v3
endpoint answers under /_matrix/client/r0 too, since clients of the r0 era (Hydrogen) still use it
for nearly every request; the spec's other prefixes are left alone."""

from typing import Any

from aiohttp import web

from myelin.api.http import Context, Endpoint, json_response
from tests.api.account_support import auth_header, register, serve_accounts
from tests.api.conftest import ServeFn
from tests.api.openapi import error_schema, validate


async def test_r0_login_flows_and_whoami(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    v3 = await (await client.get("/_matrix/client/v3/login")).json()
    r0 = await client.get("/_matrix/client/r0/login")
    assert r0.status == 200
    assert await r0.json() == v3
    token = (await register(client, "hydrogen"))["access_token"]
    response = await client.get("/_matrix/client/r0/account/whoami", headers=auth_header(token))
    assert response.status == 200
    assert (await response.json())["user_id"].startswith("@hydrogen:")


async def test_r0_keeps_errors_and_auth(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    response = await client.get("/_matrix/client/r0/account/whoami")
    assert response.status == 401
    body: dict[str, Any] = await response.json()
    validate(body, error_schema())
    assert body["errcode"] == "M_MISSING_TOKEN"
    unknown = await client.get("/_matrix/client/r0/nothing_here")
    assert unknown.status == 404
    assert (await unknown.json())["errcode"] == "M_UNRECOGNIZED"
    # Only the client API's v3 prefix gets the alias.
    assert (await client.get("/_matrix/client/r0/versions")).status == 404


async def test_an_endpoint_declared_under_r0_keeps_its_route(serve: ServeFn) -> None:
    async def own(ctx: Context) -> web.StreamResponse:
        return json_response({"from": "r0"})

    async def v3(ctx: Context) -> web.StreamResponse:
        return json_response({"from": "v3"})

    endpoints = [
        Endpoint("test.v3", "GET", "/_matrix/client/v3/test/both", "client", v3),
        Endpoint("test.r0", "GET", "/_matrix/client/r0/test/both", "client", own),
    ]
    client = await serve(extra_endpoints=endpoints)
    assert await (await client.get("/_matrix/client/v3/test/both")).json() == {"from": "v3"}
    assert await (await client.get("/_matrix/client/r0/test/both")).json() == {"from": "r0"}
