"""A new account's display name is its localpart (Client-Server API, "Account registration"
and "Profiles"; the spec leaves the initial profile open, Synapse sets the localpart on every
registration path and clients show it), over HTTP on both engines."""

import hashlib
import hmac
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tests.api.account_support import (
    PASSWORD,
    SHARED_SECRET,
    V3,
    Client,
    auth_header,
    register,
    serve_accounts,
    shared_secret_register,
)
from tests.api.appservice_support import register_as_user, start_homeserver, write_registration
from tests.api.conftest import SERVER_NAME, FakeClock, MakeConfig, ServeFn
from tests.api.openapi import validate_response

PROFILE = "client-server/profile.yaml"


async def profile(client: Client, user_id: str) -> Any:
    response = await client.get(f"{V3}/profile/{quote(user_id)}")
    assert response.status == 200, await response.text()
    body = await response.json()
    validate_response(body, PROFILE, "/profile/{userId}", "get", 200)
    return body


def localpart(user_id: str) -> str:
    return user_id[1:].split(":", 1)[0]


async def test_register_sets_the_localpart(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await register(client, "alice")
    assert await profile(client, alice["user_id"]) == {"displayname": "alice"}
    # The join event of a new room carries it.
    headers = auth_header(alice["access_token"])
    created = await client.post(f"{V3}/createRoom", json={}, headers=headers)
    room_id = (await created.json())["room_id"]
    member = await client.get(
        f"{V3}/rooms/{quote(room_id)}/state/m.room.member/{quote(alice['user_id'])}",
        headers=headers,
    )
    assert (await member.json()) == {"membership": "join", "displayname": "alice"}
    # A generated user ID (no username given) gets its generated localpart.
    first = await client.post(f"{V3}/register", json={"password": PASSWORD})
    session = (await first.json())["session"]
    generated = await client.post(
        f"{V3}/register",
        json={"password": PASSWORD, "auth": {"type": "m.login.dummy", "session": session}},
    )
    user_id = (await generated.json())["user_id"]
    assert await profile(client, user_id) == {"displayname": localpart(user_id)}


async def test_guest_gets_its_localpart(serve: ServeFn) -> None:
    client = await serve_accounts(serve, allow_guest_access=True)
    response = await client.post(f"{V3}/register", params={"kind": "guest"}, json={})
    assert response.status == 200
    user_id = (await response.json())["user_id"]
    assert await profile(client, user_id) == {"displayname": localpart(user_id)}


async def test_shared_secret_registration(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    root = await shared_secret_register(client, "root", admin=True)
    assert await profile(client, root["user_id"]) == {"displayname": "root"}
    # An explicit displayname wins (it is not part of the MAC).
    nonce = (await (await client.get("/_synapse/admin/v1/register")).json())["nonce"]
    mac = hmac.new(
        SHARED_SECRET.encode(),
        b"\x00".join([nonce.encode(), b"carol", PASSWORD.encode(), b"notadmin"]),
        hashlib.sha1,
    ).hexdigest()
    response = await client.post(
        "/_synapse/admin/v1/register",
        json={
            "nonce": nonce,
            "username": "carol",
            "password": PASSWORD,
            "displayname": "Carol C.",
            "mac": mac,
        },
    )
    assert response.status == 200, await response.text()
    assert await profile(client, f"@carol:{SERVER_NAME}") == {"displayname": "Carol C."}


async def test_appservice_user_gets_its_localpart(
    make_config: MakeConfig, clock: FakeClock, tmp_path: Path
) -> None:
    hs, client = await start_homeserver(make_config, clock, write_registration(tmp_path, None))
    try:
        user_id = await register_as_user(client, "_bridge_alice")
        assert await profile(client, user_id) == {"displayname": "_bridge_alice"}
    finally:
        await client.close()
        await hs.close()
