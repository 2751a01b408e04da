"""Device management over HTTP (Client-Server API, "Device Management")."""

from typing import Any

from tests.api.account_support import (
    V3,
    auth_header,
    login,
    password_auth,
    register,
    serve_accounts,
)
from tests.api.conftest import SERVER_NAME, FakeClock, ServeFn
from tests.api.openapi import error_schema, validate, validate_response

DM = "client-server/device_management.yaml"
ALICE = f"@alice:{SERVER_NAME}"


async def _error(response: Any, status: int, errcode: str) -> dict[str, Any]:
    assert response.status == status, await response.text()
    body: dict[str, Any] = await response.json()
    validate(body, error_schema())
    assert body["errcode"] == errcode
    return body


async def test_list_get_and_rename_devices(serve: ServeFn, clock: FakeClock) -> None:
    client = await serve_accounts(serve)
    alice = await register(client, "alice", device_id="PHONE", initial_device_display_name="p")
    headers = auth_header(alice["access_token"])
    listed = await client.get(f"{V3}/devices", headers=headers)
    body = await listed.json()
    validate_response(body, DM, "/devices", "get", 200)
    assert body["devices"][0]["device_id"] == "PHONE"
    # Using the token recorded when the device was last seen.
    assert body["devices"][0]["last_seen_ts"] == clock.now
    one = await client.get(f"{V3}/devices/PHONE", headers=headers)
    device = await one.json()
    validate_response(device, DM, "/devices/{deviceId}", "get", 200)
    assert device["display_name"] == "p"
    renamed = await client.put(f"{V3}/devices/PHONE", json={"display_name": "new"}, headers=headers)
    assert renamed.status == 200 and await renamed.json() == {}
    assert (await (await client.get(f"{V3}/devices/PHONE", headers=headers)).json())[
        "display_name"
    ] == "new"
    unchanged = await client.put(f"{V3}/devices/PHONE", json={}, headers=headers)
    assert unchanged.status == 200
    await _error(await client.get(f"{V3}/devices/NOPE", headers=headers), 404, "M_NOT_FOUND")
    await _error(
        await client.put(f"{V3}/devices/NOPE", json={"display_name": "x"}, headers=headers),
        404,
        "M_NOT_FOUND",
    )
    await _error(
        await client.put(f"{V3}/devices/NOPE", json={}, headers=headers), 404, "M_NOT_FOUND"
    )
    await _error(
        await client.put(f"{V3}/devices/PHONE", json={"display_name": 1}, headers=headers),
        400,
        "M_BAD_JSON",
    )
    await _error(await client.get(f"{V3}/devices"), 401, "M_MISSING_TOKEN")


async def test_last_seen_is_not_written_on_every_request(serve: ServeFn, clock: FakeClock) -> None:
    client = await serve_accounts(serve)
    alice = await register(client, "alice", device_id="PHONE")
    headers = auth_header(alice["access_token"])
    start = clock.now
    await client.get(f"{V3}/devices", headers=headers)
    clock.now += 30_000
    body = await (await client.get(f"{V3}/devices/PHONE", headers=headers)).json()
    assert body["last_seen_ts"] == start
    clock.now += 60_000
    body = await (await client.get(f"{V3}/devices/PHONE", headers=headers)).json()
    assert body["last_seen_ts"] == start + 90_000


async def test_other_users_devices_are_invisible(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    await register(client, "alice", device_id="ALICEDEV")
    bob = await register(client, "bob")
    headers = auth_header(bob["access_token"])
    await _error(await client.get(f"{V3}/devices/ALICEDEV", headers=headers), 404, "M_NOT_FOUND")
    devices = await (await client.get(f"{V3}/devices", headers=headers)).json()
    assert [d["device_id"] for d in devices["devices"]] == [bob["device_id"]]


async def test_delete_device_with_uia(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await register(client, "alice", device_id="MAIN")
    other = await login(client, "alice", device_id="OTHER")
    headers = auth_header(alice["access_token"])
    # No body at all: still the UIA challenge.
    first = await client.delete(f"{V3}/devices/OTHER", headers=headers)
    assert first.status == 401
    uia = await first.json()
    validate_response(uia, DM, "/devices/{deviceId}", "delete", 401)
    assert uia["flows"] == [{"stages": ["m.login.password"]}] and "errcode" not in uia
    wrong = await client.delete(
        f"{V3}/devices/OTHER",
        json={"auth": password_auth(ALICE, uia["session"], "wrong")},
        headers=headers,
    )
    assert wrong.status == 401
    wrong_body = await wrong.json()
    validate_response(wrong_body, DM, "/devices/{deviceId}", "delete", 401)
    assert wrong_body["errcode"] == "M_FORBIDDEN" and wrong_body["session"] == uia["session"]
    assert wrong_body["flows"] == uia["flows"]
    # The session belongs to this operation: not to deleting another device.
    moved = await client.delete(
        f"{V3}/devices/MAIN", json={"auth": password_auth(ALICE, uia["session"])}, headers=headers
    )
    await _error(moved, 403, "M_FORBIDDEN")
    ok = await client.delete(
        f"{V3}/devices/OTHER", json={"auth": password_auth(ALICE, uia["session"])}, headers=headers
    )
    assert ok.status == 200 and await ok.json() == {}
    gone = await client.get(f"{V3}/account/whoami", headers=auth_header(other["access_token"]))
    await _error(gone, 401, "M_UNKNOWN_TOKEN")
    await _error(await client.get(f"{V3}/devices/OTHER", headers=headers), 404, "M_NOT_FOUND")
    # Deleting a device that is already gone succeeds (after UIA).
    again = await client.delete(
        f"{V3}/devices/OTHER",
        json={"auth": password_auth(ALICE)},
        headers=headers,
    )
    assert again.status == 200


async def test_uia_password_of_another_user_is_refused(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await register(client, "alice")
    await register(client, "bob")
    headers = auth_header(alice["access_token"])
    auth = password_auth(f"@bob:{SERVER_NAME}")
    response = await client.delete(
        f"{V3}/devices/{alice['device_id']}", json={"auth": auth}, headers=headers
    )
    assert response.status == 401
    assert (await response.json())["errcode"] == "M_FORBIDDEN"


async def test_delete_devices_in_bulk(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await register(client, "alice", device_id="KEEP")
    a = await login(client, "alice", device_id="A")
    b = await login(client, "alice", device_id="B")
    headers = auth_header(alice["access_token"])
    await _error(
        await client.post(f"{V3}/delete_devices", json={}, headers=headers), 400, "M_MISSING_PARAM"
    )
    await _error(
        await client.post(f"{V3}/delete_devices", json={"devices": [1]}, headers=headers),
        400,
        "M_BAD_JSON",
    )
    await _error(
        await client.post(f"{V3}/delete_devices", json={"devices": "A"}, headers=headers),
        400,
        "M_BAD_JSON",
    )
    first = await client.post(
        f"{V3}/delete_devices", json={"devices": ["A", "B", "NONE"]}, headers=headers
    )
    assert first.status == 401
    uia = await first.json()
    validate_response(uia, DM, "/delete_devices", "post", 401)
    ok = await client.post(
        f"{V3}/delete_devices",
        json={"devices": ["A", "B", "NONE"], "auth": password_auth(ALICE, uia["session"])},
        headers=headers,
    )
    assert ok.status == 200
    for session in (a, b):
        response = await client.get(
            f"{V3}/account/whoami", headers=auth_header(session["access_token"])
        )
        await _error(response, 401, "M_UNKNOWN_TOKEN")
    devices = await (await client.get(f"{V3}/devices", headers=headers)).json()
    assert [d["device_id"] for d in devices["devices"]] == ["KEEP"]


async def test_uia_sessions_expire(serve: ServeFn, clock: FakeClock) -> None:
    client = await serve_accounts(serve)
    alice = await register(client, "alice")
    headers = auth_header(alice["access_token"])
    first = await client.post(f"{V3}/delete_devices", json={"devices": []}, headers=headers)
    session = (await first.json())["session"]
    clock.now += 49 * 3_600_000
    late = await client.post(
        f"{V3}/delete_devices",
        json={"devices": [], "auth": password_auth(ALICE, session)},
        headers=headers,
    )
    await _error(late, 400, "M_UNKNOWN")


async def test_completed_stage_is_not_retried(serve: ServeFn) -> None:
    client = await serve_accounts(serve, registration_requires_token=False)
    # Register flow has one stage: a retry with only the session reports the state.
    first = await client.post(f"{V3}/register", json={"username": "zed"})
    session = (await first.json())["session"]
    status = await client.post(
        f"{V3}/register", json={"username": "zed", "auth": {"session": session}}
    )
    assert status.status == 401
    assert (await status.json()).get("completed", []) == []
    done = await client.post(
        f"{V3}/register",
        json={"username": "zed", "auth": {"type": "m.login.dummy", "session": session}},
    )
    # The stage completed, but the password was missing: the session survives.
    await _error(done, 400, "M_MISSING_PARAM")
    status = await client.post(
        f"{V3}/register", json={"username": "zed", "password": "pw", "auth": {"session": session}}
    )
    assert status.status == 200
