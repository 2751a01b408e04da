"""Cached access tokens and user records never outlive what invalidates them (Client-Server
API, "Using access tokens", "Logout", "Refreshing access tokens", "Account locking",
"Account suspension"; server internals: the per-database caches).

Each test first uses every token twice (the second use is answered from the caches), then
changes tokens or the account through the API, and uses the tokens again at once.
"""

from pathlib import Path
from typing import Any
from urllib.parse import quote

from tests.api.account_support import (
    V3,
    Client,
    auth_header,
    login,
    password_auth,
    register,
    serve_accounts,
    shared_secret_register,
)
from tests.api.appservice_support import (
    as_auth,
    register_as_user,
    start_homeserver,
    write_registration,
)
from tests.api.conftest import SERVER_NAME, FakeClock, MakeConfig, ServeFn

ALICE = f"@alice:{SERVER_NAME}"
V1 = "/_matrix/client/v1"


async def _whoami(client: Client, token: str) -> tuple[int, dict[str, Any]]:
    response = await client.get(f"{V3}/account/whoami", headers=auth_header(token))
    body: dict[str, Any] = await response.json()
    return response.status, body


async def _warm(client: Client, *tokens: str) -> None:
    for token in tokens:
        for _ in range(2):
            status, body = await _whoami(client, token)
            assert status == 200, body


async def _refused(client: Client, token: str, errcode: str = "M_UNKNOWN_TOKEN") -> Any:
    status, body = await _whoami(client, token)
    assert status == 401 and body["errcode"] == errcode, body
    return body


async def _alice_twice(client: Client) -> tuple[str, str]:
    """Alice's tokens on two devices, both warmed."""
    first = (await register(client, "alice", device_id="ONE"))["access_token"]
    second = (await login(client, "alice", device_id="TWO"))["access_token"]
    await _warm(client, first, second)
    return first, second


async def test_logout_stops_the_cached_token(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    first, second = await _alice_twice(client)
    response = await client.post(f"{V3}/logout", json={}, headers=auth_header(first))
    assert response.status == 200
    await _refused(client, first)
    await _warm(client, second)


async def test_logout_all_stops_every_cached_token(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    first, second = await _alice_twice(client)
    response = await client.post(f"{V3}/logout/all", json={}, headers=auth_header(second))
    assert response.status == 200
    await _refused(client, first)
    await _refused(client, second)


async def test_password_change_stops_the_other_cached_tokens(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    first, second = await _alice_twice(client)
    response = await client.post(
        f"{V3}/account/password",
        json={"new_password": "another", "auth": password_auth(ALICE)},
        headers=auth_header(first),
    )
    assert response.status == 200
    await _refused(client, second)
    await _warm(client, first)


async def test_device_deletion_stops_its_cached_token(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    first, second = await _alice_twice(client)
    response = await client.delete(
        f"{V3}/devices/TWO", json={"auth": password_auth(ALICE)}, headers=auth_header(first)
    )
    assert response.status == 200
    await _refused(client, second)
    await _warm(client, first)
    bulk = await client.post(
        f"{V3}/delete_devices",
        json={"devices": ["ONE"], "auth": password_auth(ALICE)},
        headers=auth_header(first),
    )
    assert bulk.status == 200
    await _refused(client, first)


async def test_deactivation_stops_every_cached_token(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    first, second = await _alice_twice(client)
    response = await client.post(
        f"{V3}/account/deactivate",
        json={"auth": password_auth(ALICE)},
        headers=auth_header(first),
    )
    assert response.status == 200
    await _refused(client, first)
    await _refused(client, second)


async def test_admin_lock_and_suspension_apply_to_cached_sessions(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    first, _ = await _alice_twice(client)
    admin = (await shared_secret_register(client, "root", admin=True))["access_token"]
    lock = f"{V1}/admin/lock/{quote(ALICE)}"
    for locked in (True, False, True):
        response = await client.put(lock, json={"locked": locked}, headers=auth_header(admin))
        assert response.status == 200
        if locked:
            body = await _refused(client, first, "M_USER_LOCKED")
            assert body["soft_logout"] is True
        else:
            await _warm(client, first)
    await client.put(lock, json={"locked": False}, headers=auth_header(admin))
    await _warm(client, first)
    # Suspension: reads go on, sending a message is refused at once.
    room = await client.post(f"{V3}/createRoom", json={}, headers=auth_header(first))
    room_id = (await room.json())["room_id"]
    suspend = f"{V1}/admin/suspend/{quote(ALICE)}"
    for suspended, status in ((True, 403), (False, 200)):
        response = await client.put(
            suspend, json={"suspended": suspended}, headers=auth_header(admin)
        )
        assert response.status == 200
        await _warm(client, first)
        sent = await client.put(
            f"{V3}/rooms/{quote(room_id)}/send/m.room.message/t{suspended}",
            json={"msgtype": "m.text", "body": "hello"},
            headers=auth_header(first),
        )
        assert sent.status == status, await sent.text()


async def test_refresh_stops_the_cached_old_access_token(serve: ServeFn) -> None:
    client = await serve_accounts(serve, refreshable_access_token_lifetime="1h")
    await register(client, "alice")
    session = await login(client, "alice", refresh_token=True)
    await _warm(client, session["access_token"])
    response = await client.post(f"{V3}/refresh", json={"refresh_token": session["refresh_token"]})
    assert response.status == 200
    new = await response.json()
    await _refused(client, session["access_token"])
    await _warm(client, new["access_token"])


async def test_cached_token_expires_at_its_expiry_exactly(serve: ServeFn, clock: FakeClock) -> None:
    client = await serve_accounts(serve, refreshable_access_token_lifetime="1m")
    await register(client, "alice")
    session = await login(client, "alice", refresh_token=True)
    clock.now += 60_000 - 1
    await _warm(client, session["access_token"])
    clock.now += 1
    body = await _refused(client, session["access_token"])
    assert body["soft_logout"] is True


async def test_appservice_sessions_and_assertions_follow_logout(
    make_config: MakeConfig, clock: FakeClock, tmp_path: Path
) -> None:
    # No bridge listens: only the as_token's requests are looked at here.
    hs, client = await start_homeserver(make_config, clock, write_registration(tmp_path, None))
    try:
        alice = await register_as_user(client, "_bridge_alice")
        response = await client.post(
            f"{V3}/login",
            json={
                "type": "m.login.application_service",
                "identifier": {"type": "m.id.user", "user": "_bridge_alice"},
            },
            headers=as_auth(),
        )
        session = await response.json()
        token, device = session["access_token"], session["device_id"]
        await _warm(client, token)
        asserted = f"{V3}/account/whoami?user_id={quote(alice)}&device_id={device}"
        for _ in range(2):
            found = await client.get(asserted, headers=as_auth())
            assert (await found.json())["device_id"] == device
        logout = await client.post(f"{V3}/logout", json={}, headers=auth_header(token))
        assert logout.status == 200
        await _refused(client, token)
        # The as_token itself still works; the logged-out device is gone for it too.
        gone = await client.get(asserted, headers=as_auth())
        assert gone.status == 400 and (await gone.json())["errcode"] == "M_UNKNOWN_DEVICE"
        found = await client.get(f"{V3}/account/whoami?user_id={quote(alice)}", headers=as_auth())
        assert (await found.json())["user_id"] == alice
    finally:
        await client.close()
        await hs.close()
