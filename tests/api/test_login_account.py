"""Password change, deactivation and 3PID answers over HTTP (Client-Server API, "Account
management", "Adding Account Administrative Contact Information")."""

from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from myelin.app import listener_app, open_homeserver
from myelin.config import ListenerConfig
from myelin.config.homeserver import ListenerResourceConfig
from myelin.services.rooms import CreateRoomRequest
from tests.api.account_support import (
    PASSWORD,
    V3,
    Client,
    auth_header,
    login,
    password_auth,
    register,
    serve_accounts,
)
from tests.api.conftest import SERVER_NAME, FakeClock, MakeConfig, ServeFn
from tests.api.openapi import error_schema, validate, validate_response

ALICE = f"@alice:{SERVER_NAME}"


async def _error(response: Any, status: int, errcode: str) -> dict[str, Any]:
    assert response.status == status, await response.text()
    body: dict[str, Any] = await response.json()
    validate(body, error_schema())
    assert body["errcode"] == errcode
    return body


async def _login_status(client: Any, password: str) -> int:
    response = await client.post(
        f"{V3}/login", json={"type": "m.login.password", "user": "alice", "password": password}
    )
    return int(response.status)


async def test_change_password_logs_out_other_devices(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await register(client, "alice")
    other = await login(client, "alice")
    headers = auth_header(alice["access_token"])
    await _error(
        await client.post(f"{V3}/account/password", json={}, headers=headers),
        400,
        "M_MISSING_PARAM",
    )
    await _error(
        await client.post(f"{V3}/account/password", json={"new_password": 1}, headers=headers),
        400,
        "M_BAD_JSON",
    )
    first = await client.post(
        f"{V3}/account/password", json={"new_password": "new"}, headers=headers
    )
    assert first.status == 401
    uia = await first.json()
    validate_response(
        uia, "client-server/password_management.yaml", "/account/password", "post", 401
    )
    wrong = await client.post(
        f"{V3}/account/password",
        json={"new_password": "new", "auth": password_auth(ALICE, uia["session"], "bad")},
        headers=headers,
    )
    assert wrong.status == 401 and (await wrong.json())["errcode"] == "M_FORBIDDEN"
    ok = await client.post(
        f"{V3}/account/password",
        json={"new_password": "new", "auth": password_auth(ALICE, uia["session"])},
        headers=headers,
    )
    assert ok.status == 200 and await ok.json() == {}
    assert await _login_status(client, PASSWORD) == 403
    assert await _login_status(client, "new") == 200
    # The requesting device keeps its token; the other device is gone.
    assert (await client.get(f"{V3}/account/whoami", headers=headers)).status == 200
    gone = await client.get(f"{V3}/account/whoami", headers=auth_header(other["access_token"]))
    await _error(gone, 401, "M_UNKNOWN_TOKEN")


async def test_change_password_keeping_devices(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await register(client, "alice")
    other = await login(client, "alice")
    response = await client.post(
        f"{V3}/account/password",
        json={"new_password": "new", "logout_devices": False, "auth": password_auth(ALICE)},
        headers=auth_header(alice["access_token"]),
    )
    assert response.status == 200
    still = await client.get(f"{V3}/account/whoami", headers=auth_header(other["access_token"]))
    assert still.status == 200
    await _error(
        await client.post(f"{V3}/account/password", json={"new_password": "x"}),
        401,
        "M_MISSING_TOKEN",
    )


async def test_deactivate_account(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await register(client, "alice")
    headers = auth_header(alice["access_token"])
    await client.put(
        f"{V3}/profile/{ALICE}/displayname", json={"displayname": "Al"}, headers=headers
    )
    await _error(
        await client.post(f"{V3}/account/deactivate", json={"erase": "yes"}, headers=headers),
        400,
        "M_BAD_JSON",
    )
    first = await client.post(f"{V3}/account/deactivate", json={"erase": True}, headers=headers)
    assert first.status == 401
    uia = await first.json()
    validate_response(
        uia, "client-server/account_deactivation.yaml", "/account/deactivate", "post", 401
    )
    ok = await client.post(
        f"{V3}/account/deactivate",
        json={"erase": True, "auth": password_auth(ALICE, uia["session"])},
        headers=headers,
    )
    assert ok.status == 200
    body = await ok.json()
    validate_response(
        body, "client-server/account_deactivation.yaml", "/account/deactivate", "post", 200
    )
    assert body == {"id_server_unbind_result": "success"}
    await _error(await client.get(f"{V3}/account/whoami", headers=headers), 401, "M_UNKNOWN_TOKEN")
    assert await _login_status(client, PASSWORD) == 403
    profile = await client.get(f"{V3}/profile/{ALICE}")
    assert await profile.json() == {}
    taken = await client.get(f"{V3}/register/available", params={"username": "alice"})
    await _error(taken, 400, "M_USER_IN_USE")


async def test_threepid_endpoints(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await register(client, "alice")
    headers = auth_header(alice["access_token"])
    listed = await client.get(f"{V3}/account/3pid", headers=headers)
    body = await listed.json()
    validate_response(
        body, "client-server/administrative_contact.yaml", "/account/3pid", "get", 200
    )
    assert body == {"threepids": []}
    add = await client.post(
        f"{V3}/account/3pid/add", json={"client_secret": "s", "sid": "1"}, headers=headers
    )
    await _error(add, 400, "M_THREEPID_AUTH_FAILED")
    delete = await client.post(
        f"{V3}/account/3pid/delete", json={"medium": "email", "address": "a@b.c"}, headers=headers
    )
    assert await delete.json() == {"id_server_unbind_result": "success"}
    await _error(
        await client.post(f"{V3}/account/3pid/delete", json={"medium": "email"}, headers=headers),
        400,
        "M_MISSING_PARAM",
    )
    for medium in ("email", "msisdn"):
        request = await client.post(
            f"{V3}/account/3pid/{medium}/requestToken", json={"client_secret": "s"}
        )
        await _error(request, 403, "M_THREEPID_DENIED")
        reset = await client.post(
            f"{V3}/account/password/{medium}/requestToken", json={"client_secret": "s"}
        )
        await _error(reset, 400, "M_THREEPID_NOT_FOUND")
    await _error(await client.get(f"{V3}/account/3pid"), 401, "M_MISSING_TOKEN")


async def test_deactivation_leaves_rooms(make_config: MakeConfig, clock: FakeClock) -> None:
    config = make_config(enable_registration=True, ratelimiting={"enabled": False})
    hs = await open_homeserver(config, clock=clock)
    listener = ListenerConfig(port=8008, resources=(ListenerResourceConfig(names=("client",)),))
    client: Client = TestClient(TestServer(listener_app(hs, listener), host="127.0.0.1"))
    await client.start_server()
    try:
        alice = await register(client, "alice")
        await register(client, "bob")
        room = await hs.rooms.create_room(
            f"@bob:{SERVER_NAME}", CreateRoomRequest(preset="public_chat")
        )
        await hs.events.update_membership(ALICE, ALICE, room.room_id, "join")
        assert await hs.events.current_membership(room.room_id, ALICE) == "join"
        response = await client.post(
            f"{V3}/account/deactivate",
            json={"auth": password_auth(ALICE)},
            headers=auth_header(alice["access_token"]),
        )
        assert response.status == 200
        assert await hs.events.current_membership(room.room_id, ALICE) == "leave"
    finally:
        await client.close()
        await hs.close()
