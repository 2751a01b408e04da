"""Login, tokens, refresh, logout and whoami over HTTP (Client-Server API, "Login",
"Using access tokens", "Refreshing access tokens", "Soft logout")."""

import hashlib
import hmac
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from myelin.app import listener_app, open_homeserver
from myelin.config import ListenerConfig
from myelin.config.homeserver import ListenerResourceConfig
from myelin.storage import hash_token
from tests.api.account_support import (
    PASSWORD,
    SHARED_SECRET,
    V3,
    Client,
    auth_header,
    login,
    password_auth,
    register,
    serve_accounts,
    shared_secret_register,
)
from tests.api.conftest import SERVER_NAME, FakeClock, MakeConfig, ServeFn
from tests.api.openapi import error_schema, validate, validate_response

LOGIN = "client-server/login.yaml"
ALICE = f"@alice:{SERVER_NAME}"


async def _error(response: Any, status: int, errcode: str) -> dict[str, Any]:
    assert response.status == status, await response.text()
    body: dict[str, Any] = await response.json()
    validate(body, error_schema())
    assert body["errcode"] == errcode
    return body


async def test_login_flows(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    body = await (await client.get(f"{V3}/login")).json()
    validate_response(body, LOGIN, "/login", "get", 200)
    assert body == {"flows": [{"type": "m.login.password"}, {"type": "m.login.token"}]}
    enabled = await serve_accounts(serve, login_via_existing_session=True)
    body = await (await enabled.get(f"{V3}/login")).json()
    assert {"type": "m.login.token", "get_login_token": True} in body["flows"]


async def test_password_login_identifier_forms(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    await register(client, "alice")
    for extra in (
        {"identifier": {"type": "m.id.user", "user": "alice"}},
        {"identifier": {"type": "m.id.user", "user": ALICE}},
        {"identifier": {"type": "m.id.user", "user": "ALICE"}},
        {"user": "alice"},
        {"user": ALICE},
    ):
        response = await client.post(
            f"{V3}/login", json={"type": "m.login.password", "password": PASSWORD, **extra}
        )
        assert response.status == 200, (extra, await response.text())
        body = await response.json()
        validate_response(body, LOGIN, "/login", "post", 200)
        assert body["user_id"] == ALICE and body["device_id"] and body["access_token"]
        assert "refresh_token" not in body


async def test_password_login_failures(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    await register(client, "alice")
    cases: list[tuple[dict[str, Any], int, str]] = [
        (
            {"identifier": {"type": "m.id.user", "user": "alice"}, "password": "wrong"},
            403,
            "M_FORBIDDEN",
        ),
        (
            {"identifier": {"type": "m.id.user", "user": "nobody"}, "password": PASSWORD},
            403,
            "M_FORBIDDEN",
        ),
        (
            {
                "identifier": {"type": "m.id.user", "user": "@alice:other.example"},
                "password": PASSWORD,
            },
            403,
            "M_FORBIDDEN",
        ),
        (
            {
                "identifier": {"type": "m.id.thirdparty", "medium": "email", "address": "a@b.c"},
                "password": PASSWORD,
            },
            403,
            "M_FORBIDDEN",
        ),
        (
            {
                "identifier": {"type": "m.id.phone", "country": "GB", "phone": "1"},
                "password": PASSWORD,
            },
            403,
            "M_FORBIDDEN",
        ),
        ({"medium": "email", "address": "a@b.c", "password": PASSWORD}, 403, "M_FORBIDDEN"),
        ({"identifier": {"type": "m.id.other"}, "password": PASSWORD}, 400, "M_UNKNOWN"),
        ({"identifier": {"type": "m.id.user"}, "password": PASSWORD}, 400, "M_MISSING_PARAM"),
        ({"identifier": {"user": "alice"}, "password": PASSWORD}, 400, "M_MISSING_PARAM"),
        ({"identifier": {"type": "m.id.user", "user": 1}, "password": PASSWORD}, 400, "M_BAD_JSON"),
        ({"identifier": "alice", "password": PASSWORD}, 400, "M_BAD_JSON"),
        ({"password": PASSWORD}, 400, "M_MISSING_PARAM"),
        ({"identifier": {"type": "m.id.user", "user": "alice"}}, 400, "M_MISSING_PARAM"),
        ({"identifier": {"type": "m.id.user", "user": "alice"}, "password": 1}, 400, "M_BAD_JSON"),
    ]
    for body, status, errcode in cases:
        response = await client.post(f"{V3}/login", json={"type": "m.login.password", **body})
        await _error(response, status, errcode)
    await _error(await client.post(f"{V3}/login", json={}), 400, "M_MISSING_PARAM")
    await _error(await client.post(f"{V3}/login", json={"type": 1}), 400, "M_BAD_JSON")
    await _error(await client.post(f"{V3}/login", json={"type": "m.login.sso"}), 400, "M_UNKNOWN")
    await _error(await client.post(f"{V3}/login", data=b"nope"), 400, "M_NOT_JSON")


async def test_login_reuses_or_creates_devices(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    await register(client, "alice", device_id="FIRST", initial_device_display_name="one")
    again = await login(client, "alice", device_id="FIRST", initial_device_display_name="ignored")
    assert again["device_id"] == "FIRST"
    other = await login(client, "alice", initial_device_display_name="two")
    assert other["device_id"] != "FIRST"
    devices = await (
        await client.get(f"{V3}/devices", headers=auth_header(other["access_token"]))
    ).json()
    names = {d["device_id"]: d.get("display_name") for d in devices["devices"]}
    assert names == {"FIRST": "one", other["device_id"]: "two"}
    await _error(
        await client.post(
            f"{V3}/login",
            json={
                "type": "m.login.password",
                "user": "alice",
                "password": PASSWORD,
                "device_id": "",
            },
        ),
        400,
        "M_INVALID_PARAM",
    )


async def test_access_token_errors(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    await _error(await client.get(f"{V3}/account/whoami"), 401, "M_MISSING_TOKEN")
    unknown = await client.get(f"{V3}/account/whoami", headers=auth_header("mya_nothing"))
    body = await _error(unknown, 401, "M_UNKNOWN_TOKEN")
    assert body.get("soft_logout") is not True
    alice = await register(client, "alice")
    whoami = await client.get(f"{V3}/account/whoami", headers=auth_header(alice["access_token"]))
    body = await whoami.json()
    validate_response(body, "client-server/whoami.yaml", "/account/whoami", "get", 200)
    assert body == {"user_id": ALICE, "device_id": alice["device_id"], "is_guest": False}


async def test_refresh_tokens(serve: ServeFn, clock: FakeClock) -> None:
    client = await serve_accounts(serve, refreshable_access_token_lifetime="1m")
    await register(client, "alice")
    first = await login(client, "alice", refresh_token=True)
    validate_response(first, LOGIN, "/login", "post", 200)
    assert first["expires_in_ms"] == 60_000
    headers = auth_header(first["access_token"])
    assert (await client.get(f"{V3}/account/whoami", headers=headers)).status == 200
    clock.now += 60_000
    expired = await client.get(f"{V3}/account/whoami", headers=headers)
    body = await _error(expired, 401, "M_UNKNOWN_TOKEN")
    assert body["soft_logout"] is True
    refreshed = await client.post(f"{V3}/refresh", json={"refresh_token": first["refresh_token"]})
    assert refreshed.status == 200
    new = await refreshed.json()
    validate_response(new, "client-server/refresh.yaml", "/refresh", "post", 200)
    assert new["expires_in_ms"] == 60_000
    assert new["refresh_token"] != first["refresh_token"]
    whoami = await client.get(f"{V3}/account/whoami", headers=auth_header(new["access_token"]))
    assert (await whoami.json())["device_id"] == first["device_id"]
    # The old refresh token is spent.
    reused = await client.post(f"{V3}/refresh", json={"refresh_token": first["refresh_token"]})
    body = await _error(reused, 401, "M_UNKNOWN_TOKEN")
    assert body["soft_logout"] is False
    await _error(await client.post(f"{V3}/refresh", json={}), 400, "M_MISSING_PARAM")
    await _error(await client.post(f"{V3}/refresh", json={"refresh_token": 5}), 400, "M_BAD_JSON")


async def test_expired_refresh_token_is_soft_logout(serve: ServeFn, clock: FakeClock) -> None:
    client = await serve_accounts(
        serve, refreshable_access_token_lifetime="1m", refresh_token_lifetime="1h"
    )
    await register(client, "alice")
    session = await login(client, "alice", refresh_token=True)
    clock.now += 3_600_000
    response = await client.post(f"{V3}/refresh", json={"refresh_token": session["refresh_token"]})
    body = await _error(response, 401, "M_UNKNOWN_TOKEN")
    assert body["soft_logout"] is True


async def test_nonrefreshable_lifetime(serve: ServeFn, clock: FakeClock) -> None:
    client = await serve_accounts(serve, nonrefreshable_access_token_lifetime="1h")
    await register(client, "alice")
    session = await login(client, "alice")
    assert session["expires_in_ms"] == 3_600_000 and "refresh_token" not in session
    clock.now += 3_600_000
    response = await client.get(
        f"{V3}/account/whoami", headers=auth_header(session["access_token"])
    )
    assert (await _error(response, 401, "M_UNKNOWN_TOKEN"))["soft_logout"] is True


async def test_logout_deletes_the_device(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    await register(client, "alice")
    one = await login(client, "alice")
    two = await login(client, "alice")
    response = await client.post(f"{V3}/logout", headers=auth_header(one["access_token"]))
    assert response.status == 200 and await response.json() == {}
    await _error(
        await client.get(f"{V3}/account/whoami", headers=auth_header(one["access_token"])),
        401,
        "M_UNKNOWN_TOKEN",
    )
    devices = await (
        await client.get(f"{V3}/devices", headers=auth_header(two["access_token"]))
    ).json()
    assert one["device_id"] not in {d["device_id"] for d in devices["devices"]}
    assert (
        await client.post(f"{V3}/logout/all", headers=auth_header(two["access_token"]))
    ).status == 200
    await _error(
        await client.get(f"{V3}/account/whoami", headers=auth_header(two["access_token"])),
        401,
        "M_UNKNOWN_TOKEN",
    )
    fresh = await login(client, "alice")
    devices = await (
        await client.get(f"{V3}/devices", headers=auth_header(fresh["access_token"]))
    ).json()
    assert [d["device_id"] for d in devices["devices"]] == [fresh["device_id"]]


async def test_leaked_token_table_does_not_authenticate(
    make_config: MakeConfig, clock: FakeClock
) -> None:
    """Every value the token tables hold is useless as an access or refresh token."""
    config = make_config(enable_registration=True, ratelimiting={"enabled": False})
    hs = await open_homeserver(config, clock=clock)
    listener = ListenerConfig(port=8008, resources=(ListenerResourceConfig(names=("client",)),))
    client: Client = TestClient(TestServer(listener_app(hs, listener), host="127.0.0.1"))
    await client.start_server()
    try:
        await register(client, "alice")
        session = await login(client, "alice", refresh_token=True)
        leaked: list[str] = []
        for table in ("access_tokens", "refresh_tokens", "login_tokens"):
            for row in await hs.database.fetch(f"SELECT * FROM {table}"):
                # Rows iterate over values on both engines, hence keys().
                columns = list(row.keys())
                leaked.extend(str(row[key]) for key in columns if row[key] is not None)
        assert hash_token(session["access_token"]) in leaked
        assert session["access_token"] not in leaked
        assert session["refresh_token"] not in leaked
        for value in leaked:
            response = await client.get(f"{V3}/account/whoami", headers=auth_header(value))
            assert response.status == 401
            refresh = await client.post(f"{V3}/refresh", json={"refresh_token": value})
            assert refresh.status == 401
    finally:
        await client.close()
        await hs.close()


async def test_login_token_flow(serve: ServeFn, clock: FakeClock) -> None:
    client = await serve_accounts(serve, login_via_existing_session=True)
    alice = await register(client, "alice")
    headers = auth_header(alice["access_token"])
    url = "/_matrix/client/v1/login/get_token"
    first = await client.post(url, json={}, headers=headers)
    assert first.status == 401
    uia = await first.json()
    validate_response(uia, "client-server/login_token.yaml", "/login/get_token", "post", 401)
    assert uia["flows"] == [{"stages": ["m.login.password"]}]
    wrong = await client.post(
        url, json={"auth": password_auth(ALICE, uia["session"], "wrong")}, headers=headers
    )
    assert wrong.status == 401 and (await wrong.json())["errcode"] == "M_FORBIDDEN"
    ok = await client.post(
        url, json={"auth": password_auth(ALICE, uia["session"])}, headers=headers
    )
    assert ok.status == 200
    token = await ok.json()
    validate_response(token, "client-server/login_token.yaml", "/login/get_token", "post", 200)
    assert token["expires_in_ms"] == 120_000
    logged_in = await client.post(
        f"{V3}/login", json={"type": "m.login.token", "token": token["login_token"]}
    )
    assert logged_in.status == 200
    assert (await logged_in.json())["user_id"] == ALICE
    # Single use.
    again = await client.post(
        f"{V3}/login", json={"type": "m.login.token", "token": token["login_token"]}
    )
    await _error(again, 403, "M_FORBIDDEN")
    # Expired.
    second = await client.post(url, json={"auth": password_auth(ALICE, "x")}, headers=headers)
    await _error(second, 400, "M_UNKNOWN")
    third = await client.post(url, json={"auth": password_auth(ALICE)}, headers=headers)
    assert third.status == 200, await third.text()
    clock.now += 120_000
    late = await client.post(
        f"{V3}/login", json={"type": "m.login.token", "token": (await third.json())["login_token"]}
    )
    await _error(late, 403, "M_FORBIDDEN")
    await _error(
        await client.post(f"{V3}/login", json={"type": "m.login.token"}), 400, "M_MISSING_PARAM"
    )


async def test_get_token_disabled_by_default(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await register(client, "alice")
    response = await client.post(
        "/_matrix/client/v1/login/get_token", json={}, headers=auth_header(alice["access_token"])
    )
    await _error(response, 400, "M_FORBIDDEN")


async def test_shared_secret_registration(serve: ServeFn, clock: FakeClock) -> None:
    client = await serve_accounts(serve, enable_registration=False)
    body = await shared_secret_register(client, "admin", admin=True)
    assert body["user_id"] == f"@admin:{SERVER_NAME}" and body["access_token"]
    whoami = await client.get(f"{V3}/account/whoami", headers=auth_header(body["access_token"]))
    assert (await whoami.json())["user_id"] == body["user_id"]
    assert (await login(client, "admin"))["user_id"] == body["user_id"]
    nonce = (await (await client.get("/_synapse/admin/v1/register")).json())["nonce"]
    bad_mac = await client.post(
        "/_synapse/admin/v1/register",
        json={"nonce": nonce, "username": "eve", "password": "p", "admin": True, "mac": "00" * 20},
    )
    await _error(bad_mac, 403, "M_FORBIDDEN")
    # The nonce was consumed by the failed attempt.
    reuse = await client.post(
        "/_synapse/admin/v1/register",
        json={"nonce": nonce, "username": "eve", "password": "p", "mac": "00" * 20},
    )
    await _error(reuse, 400, "M_UNKNOWN")
    await _error(
        await client.post("/_synapse/admin/v1/register", json={"nonce": nonce}),
        400,
        "M_MISSING_PARAM",
    )
    disabled = await serve_accounts(serve, registration_shared_secret=None)
    await _error(await disabled.get("/_synapse/admin/v1/register"), 400, "M_UNKNOWN")


async def test_shared_secret_registration_conflicts(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    await shared_secret_register(client, "bob")
    nonce = (await (await client.get("/_synapse/admin/v1/register")).json())["nonce"]
    mac = hmac.new(
        SHARED_SECRET.encode(), f"{nonce}\x00bob\x00pw\x00notadmin".encode(), hashlib.sha1
    ).hexdigest()
    taken = await client.post(
        "/_synapse/admin/v1/register",
        json={"nonce": nonce, "username": "bob", "password": "pw", "mac": mac},
    )
    await _error(taken, 400, "M_USER_IN_USE")


async def test_shared_secret_registration_accepts_null_optional_fields(serve: ServeFn) -> None:
    """Synapse's register_new_matrix_user sends ``"user_type": null``."""
    client = await serve_accounts(serve)
    nonce = (await (await client.get("/_synapse/admin/v1/register")).json())["nonce"]
    mac = hmac.new(
        SHARED_SECRET.encode(), f"{nonce}\x00carol\x00pw\x00notadmin".encode(), hashlib.sha1
    ).hexdigest()
    response = await client.post(
        "/_synapse/admin/v1/register",
        json={
            "nonce": nonce,
            "username": "carol",
            "password": "pw",
            "admin": False,
            "user_type": None,
            "mac": mac,
        },
    )
    assert response.status == 200, await response.text()
    assert (await response.json())["user_id"].startswith("@carol:")
