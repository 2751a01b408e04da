"""POST /register, GET /register/available and registration tokens, over HTTP."""

from typing import Any

from tests.api.account_support import (
    PASSWORD,
    V3,
    auth_header,
    register,
    serve_accounts,
    shared_secret_register,
)
from tests.api.conftest import SERVER_NAME, FakeClock, ServeFn
from tests.api.openapi import error_schema, validate, validate_response

REG = "client-server/registration.yaml"
TOKENS = "/_synapse/admin/v1/registration_tokens"


async def _error(response: Any, status: int, errcode: str) -> dict[str, Any]:
    assert response.status == status, await response.text()
    body: dict[str, Any] = await response.json()
    validate(body, error_schema())
    assert body["errcode"] == errcode
    return body


async def test_registration_closed_by_default(serve: ServeFn) -> None:
    client = await serve()
    response = await client.post(f"{V3}/register", json={"username": "alice", "password": "x"})
    await _error(response, 403, "M_FORBIDDEN")
    validity = await client.get(
        "/_matrix/client/v1/register/m.login.registration_token/validity", params={"token": "t"}
    )
    await _error(validity, 403, "M_FORBIDDEN")


async def test_register_with_dummy_flow(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    first = await client.post(f"{V3}/register", json={"username": "alice", "password": PASSWORD})
    assert first.status == 401
    uia = await first.json()
    validate_response(uia, REG, "/register", "post", 401)
    assert uia["flows"] == [{"stages": ["m.login.dummy"]}]
    assert "errcode" not in uia and uia["session"]
    second = await client.post(
        f"{V3}/register",
        json={
            "username": "alice",
            "password": PASSWORD,
            "device_id": "MYDEVICE",
            "initial_device_display_name": "Phone",
            "auth": {"type": "m.login.dummy", "session": uia["session"]},
        },
    )
    assert second.status == 200
    body = await second.json()
    validate_response(body, REG, "/register", "post", 200)
    assert body["user_id"] == f"@alice:{SERVER_NAME}"
    assert body["device_id"] == "MYDEVICE"
    assert "refresh_token" not in body and "expires_in_ms" not in body
    whoami = await client.get(f"{V3}/account/whoami", headers=auth_header(body["access_token"]))
    assert await whoami.json() == {
        "user_id": body["user_id"],
        "device_id": "MYDEVICE",
        "is_guest": False,
    }
    devices = await client.get(f"{V3}/devices", headers=auth_header(body["access_token"]))
    listed = (await devices.json())["devices"]
    assert [(d["device_id"], d["display_name"]) for d in listed] == [("MYDEVICE", "Phone")]
    # The session is gone once used.
    again = await client.post(
        f"{V3}/register",
        json={
            "username": "alice2",
            "password": PASSWORD,
            "auth": {"type": "m.login.dummy", "session": uia["session"]},
        },
    )
    await _error(again, 400, "M_UNKNOWN")


async def test_register_without_session_key_completes_in_one_request(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    response = await client.post(
        f"{V3}/register",
        json={"username": "bob", "password": PASSWORD, "auth": {"type": "m.login.dummy"}},
    )
    assert response.status == 200
    assert (await response.json())["user_id"] == f"@bob:{SERVER_NAME}"


async def test_register_generates_localpart_and_inhibits_login(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    response = await client.post(
        f"{V3}/register",
        json={"password": PASSWORD, "inhibit_login": True, "auth": {"type": "m.login.dummy"}},
    )
    assert response.status == 200
    body = await response.json()
    validate_response(body, REG, "/register", "post", 200)
    assert body["user_id"].endswith(f":{SERVER_NAME}")
    assert "access_token" not in body and "device_id" not in body


async def test_register_with_refresh_token(serve: ServeFn) -> None:
    client = await serve_accounts(serve, refreshable_access_token_lifetime="10m")
    body = await register(client, "carol", refresh_token=True)
    assert body["expires_in_ms"] == 600_000
    assert body["refresh_token"] and body["refresh_token"] != body["access_token"]


async def test_username_errors_come_before_uia(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    await register(client, "taken")
    for username, errcode in (
        ("taken", "M_USER_IN_USE"),
        ("Upper", "M_INVALID_USERNAME"),
        ("sp ace", "M_INVALID_USERNAME"),
        ("@full:test.example", "M_INVALID_USERNAME"),
        ("x" * 300, "M_INVALID_USERNAME"),
    ):
        response = await client.post(f"{V3}/register", json={"username": username})
        await _error(response, 400, errcode)


async def test_register_parameter_types(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    for body in (
        {"username": 5},
        {"password": ["x"]},
        {"inhibit_login": "yes"},
        {"refresh_token": 1},
        {"device_id": 3},
        {"auth": "dummy"},
    ):
        await _error(await client.post(f"{V3}/register", json=body), 400, "M_BAD_JSON")
    await _error(await client.post(f"{V3}/register", data=b"{not json"), 400, "M_NOT_JSON")
    await _error(await client.post(f"{V3}/register", json=[1]), 400, "M_BAD_JSON")
    missing = await client.post(
        f"{V3}/register", json={"username": "dave", "auth": {"type": "m.login.dummy"}}
    )
    await _error(missing, 400, "M_MISSING_PARAM")
    bad_kind = await client.post(f"{V3}/register?kind=admin", json={})
    await _error(bad_kind, 400, "M_INVALID_PARAM")
    unknown_stage = await client.post(
        f"{V3}/register",
        json={"username": "dave", "password": "p", "auth": {"type": "m.login.password"}},
    )
    await _error(unknown_stage, 400, "M_UNRECOGNIZED")


async def test_username_availability(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    await register(client, "erin")
    free = await client.get(f"{V3}/register/available", params={"username": "frank"})
    assert free.status == 200
    body = await free.json()
    validate_response(body, REG, "/register/available", "get", 200)
    assert body == {"available": True}
    taken = await client.get(f"{V3}/register/available", params={"username": "erin"})
    await _error(taken, 400, "M_USER_IN_USE")
    invalid = await client.get(f"{V3}/register/available", params={"username": "Erin!"})
    await _error(invalid, 400, "M_INVALID_USERNAME")
    await _error(await client.get(f"{V3}/register/available"), 400, "M_MISSING_PARAM")


async def test_guest_registration(serve: ServeFn) -> None:
    closed = await serve_accounts(serve)
    refused = await closed.post(f"{V3}/register?kind=guest", json={})
    await _error(refused, 403, "M_GUEST_ACCESS_FORBIDDEN")
    client = await serve_accounts(serve, allow_guest_access=True, enable_registration=False)
    response = await client.post(
        f"{V3}/register?kind=guest",
        json={"username": "ignored", "initial_device_display_name": "Guest phone"},
    )
    assert response.status == 200
    body = await response.json()
    validate_response(body, REG, "/register", "post", 200)
    assert not body["user_id"].startswith("@ignored:")
    headers = auth_header(body["access_token"])
    whoami = await client.get(f"{V3}/account/whoami", headers=headers)
    assert (await whoami.json())["is_guest"] is True
    # Guests may rename themselves and list devices, and little else (spec: "Guest Access").
    guest = body["user_id"]
    named = await client.put(
        f"{V3}/profile/{guest}/displayname", json={"displayname": "Visitor"}, headers=headers
    )
    assert named.status == 200
    assert (await client.get(f"{V3}/devices", headers=headers)).status == 200
    for method, path, json_body in (
        ("PUT", f"{V3}/profile/{guest}/m.tz", {"m.tz": "UTC"}),
        ("POST", f"{V3}/account/password", {"new_password": "pw"}),
        ("POST", f"{V3}/account/deactivate", {}),
        ("GET", f"{V3}/account/3pid", None),
        ("POST", f"{V3}/delete_devices", {"devices": []}),
    ):
        response = await client.request(method, path, json=json_body, headers=headers)
        await _error(response, 403, "M_GUEST_ACCESS_FORBIDDEN")


async def test_registration_token_flow(serve: ServeFn, clock: FakeClock) -> None:
    client = await serve_accounts(serve, registration_requires_token=True)
    admin = await shared_secret_register(client, "root", admin=True)
    headers = auth_header(admin["access_token"])
    created = await client.post(f"{TOKENS}/new", json={"token": "abc", "uses_allowed": 1})
    await _error(created, 401, "M_MISSING_TOKEN")
    created = await client.post(
        f"{TOKENS}/new", json={"token": "abc", "uses_allowed": 1}, headers=headers
    )
    assert created.status == 200
    assert await created.json() == {
        "token": "abc",
        "uses_allowed": 1,
        "pending": 0,
        "completed": 0,
        "expiry_time": None,
    }
    validity_url = "/_matrix/client/v1/register/m.login.registration_token/validity"
    valid = await client.get(validity_url, params={"token": "abc"})
    body = await valid.json()
    validate_response(
        body,
        "client-server/registration_tokens.yaml",
        "/register/m.login.registration_token/validity",
        "get",
        200,
    )
    assert body == {"valid": True}
    assert await (await client.get(validity_url, params={"token": "nope"})).json() == {
        "valid": False
    }
    first = await client.post(f"{V3}/register", json={"username": "gina", "password": PASSWORD})
    uia = await first.json()
    assert uia["flows"] == [{"stages": ["m.login.registration_token"]}]
    wrong = await client.post(
        f"{V3}/register",
        json={
            "username": "gina",
            "password": PASSWORD,
            "auth": {
                "type": "m.login.registration_token",
                "token": "nope",
                "session": uia["session"],
            },
        },
    )
    assert wrong.status == 401
    wrong_body = await wrong.json()
    validate_response(wrong_body, REG, "/register", "post", 401)
    assert wrong_body["errcode"] == "M_UNAUTHORIZED" and wrong_body["session"] == uia["session"]
    ok = await client.post(
        f"{V3}/register",
        json={
            "username": "gina",
            "password": PASSWORD,
            "auth": {
                "type": "m.login.registration_token",
                "token": "abc",
                "session": uia["session"],
            },
        },
    )
    assert ok.status == 200, await ok.text()
    token = await (await client.get(f"{TOKENS}/abc", headers=headers)).json()
    assert (token["pending"], token["completed"]) == (0, 1)
    # Used up: no longer valid, and a new registration is refused.
    assert await (await client.get(validity_url, params={"token": "abc"})).json() == {
        "valid": False
    }
    used_up = await client.post(
        f"{V3}/register",
        json={
            "username": "hank",
            "password": PASSWORD,
            "auth": {"type": "m.login.registration_token", "token": "abc"},
        },
    )
    assert used_up.status == 401
    assert (await used_up.json())["errcode"] == "M_UNAUTHORIZED"


async def test_registration_token_pending_is_given_back_on_expiry(
    serve: ServeFn, clock: FakeClock
) -> None:
    client = await serve_accounts(serve, registration_requires_token=True)
    admin = await shared_secret_register(client, "root", admin=True)
    headers = auth_header(admin["access_token"])
    await client.post(f"{TOKENS}/new", json={"token": "one", "uses_allowed": 1}, headers=headers)
    # Complete the token stage but fail registration (no password): the use is pending.
    half = await client.post(
        f"{V3}/register",
        json={"username": "ivy", "auth": {"type": "m.login.registration_token", "token": "one"}},
    )
    await _error(half, 400, "M_MISSING_PARAM")
    token = await (await client.get(f"{TOKENS}/one", headers=headers)).json()
    assert (token["pending"], token["completed"]) == (1, 0)
    validity_url = "/_matrix/client/v1/register/m.login.registration_token/validity"
    assert (await (await client.get(validity_url, params={"token": "one"})).json())[
        "valid"
    ] is False
    clock.now += 49 * 3_600_000
    # Any UIA request sweeps expired sessions.
    await client.post(f"{V3}/register", json={"username": "jack"})
    token = await (await client.get(f"{TOKENS}/one", headers=headers)).json()
    assert (token["pending"], token["completed"]) == (0, 0)


async def test_registration_token_admin_api(serve: ServeFn, clock: FakeClock) -> None:
    client = await serve_accounts(serve)
    admin = await shared_secret_register(client, "root", admin=True)
    user = await shared_secret_register(client, "plain")
    headers = auth_header(admin["access_token"])
    forbidden = await client.get(TOKENS, headers=auth_header(user["access_token"]))
    await _error(forbidden, 403, "M_FORBIDDEN")
    generated = await (
        await client.post(f"{TOKENS}/new", json={"length": 20}, headers=headers)
    ).json()
    assert len(generated["token"]) == 20 and generated["uses_allowed"] is None
    expiring = await client.post(
        f"{TOKENS}/new", json={"token": "soon", "expiry_time": clock.now + 1000}, headers=headers
    )
    assert expiring.status == 200
    for bad in (
        {"token": "bad token"},
        {"token": "x" * 65},
        {"uses_allowed": -1},
        {"uses_allowed": "3"},
        {"expiry_time": clock.now - 1},
        {"length": 0},
        {"length": 65},
        {"token": "soon"},
    ):
        await _error(
            await client.post(f"{TOKENS}/new", json=bad, headers=headers), 400, "M_INVALID_PARAM"
        )
    listed = await (await client.get(TOKENS, headers=headers)).json()
    assert {t["token"] for t in listed["registration_tokens"]} == {generated["token"], "soon"}
    clock.now += 2000
    valid = await (await client.get(TOKENS, params={"valid": "true"}, headers=headers)).json()
    assert [t["token"] for t in valid["registration_tokens"]] == [generated["token"]]
    invalid = await (await client.get(TOKENS, params={"valid": "false"}, headers=headers)).json()
    assert [t["token"] for t in invalid["registration_tokens"]] == ["soon"]
    updated = await client.put(
        f"{TOKENS}/soon", json={"expiry_time": None, "uses_allowed": 5}, headers=headers
    )
    assert (await updated.json())["expiry_time"] is None
    assert (await updated.json())["uses_allowed"] == 5
    await _error(await client.put(f"{TOKENS}/none", json={}, headers=headers), 404, "M_NOT_FOUND")
    assert (await client.delete(f"{TOKENS}/soon", headers=headers)).status == 200
    await _error(await client.delete(f"{TOKENS}/soon", headers=headers), 404, "M_NOT_FOUND")
    await _error(await client.get(f"{TOKENS}/soon", headers=headers), 404, "M_NOT_FOUND")


async def test_threepid_token_requests_are_denied(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    for medium in ("email", "msisdn"):
        response = await client.post(
            f"{V3}/register/{medium}/requestToken",
            json={"client_secret": "s", "email": "a@b.c", "send_attempt": 1},
        )
        await _error(response, 403, "M_THREEPID_DENIED")
