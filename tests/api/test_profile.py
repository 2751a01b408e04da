"""Profiles over HTTP (Client-Server API, "Profiles", extended fields of v1.16, and "Events on
Change of Profile Information")."""

from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from myelin.app import listener_app, open_homeserver
from myelin.config import ListenerConfig
from myelin.config.homeserver import ListenerResourceConfig
from myelin.services.rooms import CreateRoomRequest
from tests.api.account_support import V3, Client, auth_header, register, serve_accounts
from tests.api.conftest import SERVER_NAME, FakeClock, MakeConfig, ServeFn
from tests.api.openapi import error_schema, validate, validate_response

PROFILE = "client-server/profile.yaml"
ALICE = f"@alice:{SERVER_NAME}"
BOB = f"@bob:{SERVER_NAME}"


async def _error(response: Any, status: int, errcode: str) -> dict[str, Any]:
    assert response.status == status, await response.text()
    body: dict[str, Any] = await response.json()
    validate(body, error_schema())
    assert body["errcode"] == errcode
    return body


async def test_set_and_get_profile_fields(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await register(client, "alice")
    headers = auth_header(alice["access_token"])
    # A new account's display name is its localpart (as in Synapse).
    fresh = await client.get(f"{V3}/profile/{ALICE}")
    assert fresh.status == 200 and await fresh.json() == {"displayname": "alice"}
    for key, value in (
        ("displayname", "Alice"),
        ("avatar_url", "mxc://test.example/abc"),
        ("m.tz", "Europe/London"),
        ("org.example.pronouns", {"en": ["she", "her"]}),
        ("org.example.flag", None),
    ):
        response = await client.put(
            f"{V3}/profile/{ALICE}/{key}", json={key: value}, headers=headers
        )
        assert response.status == 200, await response.text()
        validate_response(await response.json(), PROFILE, "/profile/{userId}/{keyName}", "put", 200)
        got = await client.get(f"{V3}/profile/{ALICE}/{key}")
        body = await got.json()
        validate_response(body, PROFILE, "/profile/{userId}/{keyName}", "get", 200)
        assert body == {key: value}
    whole = await (await client.get(f"{V3}/profile/{ALICE}")).json()
    validate_response(whole, PROFILE, "/profile/{userId}", "get", 200)
    assert whole == {
        "displayname": "Alice",
        "avatar_url": "mxc://test.example/abc",
        "m.tz": "Europe/London",
        "org.example.pronouns": {"en": ["she", "her"]},
        "org.example.flag": None,
    }
    for key in ("displayname", "org.example.pronouns", "org.example.never_set"):
        deleted = await client.delete(f"{V3}/profile/{ALICE}/{key}", headers=headers)
        assert deleted.status == 200 and await deleted.json() == {}
        await _error(await client.get(f"{V3}/profile/{ALICE}/{key}"), 404, "M_NOT_FOUND")
    # An empty string clears the classic fields (as Synapse does).
    await client.put(f"{V3}/profile/{ALICE}/avatar_url", json={"avatar_url": ""}, headers=headers)
    assert await (await client.get(f"{V3}/profile/{ALICE}")).json() == {
        "m.tz": "Europe/London",
        "org.example.flag": None,
    }


async def test_profile_errors(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await register(client, "alice")
    await register(client, "bob")
    headers = auth_header(alice["access_token"])
    put = client.put
    await _error(await client.get(f"{V3}/profile/@nobody:{SERVER_NAME}"), 404, "M_NOT_FOUND")
    await _error(await client.get(f"{V3}/profile/@someone:other.example"), 404, "M_NOT_FOUND")
    await _error(await client.get(f"{V3}/profile/not-a-user"), 400, "M_INVALID_PARAM")
    await _error(await client.get(f"{V3}/profile/{ALICE}/m.tz"), 404, "M_NOT_FOUND")
    await _error(await client.get(f"{V3}/profile/{ALICE}/Bad.Key"), 400, "M_INVALID_PARAM")
    cases: list[tuple[str, Any, int, str]] = [
        ("displayname", {}, 400, "M_MISSING_PARAM"),
        ("displayname", {"displayname": 5}, 400, "M_BAD_JSON"),
        ("displayname", {"displayname": None}, 400, "M_BAD_JSON"),
        ("displayname", {"displayname": "x" * 257}, 400, "M_INVALID_PARAM"),
        ("avatar_url", {"avatar_url": "https://example.org/a.png"}, 400, "M_INVALID_PARAM"),
        ("m.tz", {"m.tz": 1}, 400, "M_BAD_JSON"),
        ("nodots", {"nodots": 1}, 400, "M_INVALID_PARAM"),
        ("org.Example.x", {"org.Example.x": 1}, 400, "M_INVALID_PARAM"),
        ("org.example." + "x" * 250, {"org.example." + "x" * 250: 1}, 400, "M_KEY_TOO_LARGE"),
        ("org.example.big", {"org.example.big": "x" * 70_000}, 400, "M_PROFILE_TOO_LARGE"),
    ]
    for key, body, status, errcode in cases:
        await _error(
            await put(f"{V3}/profile/{ALICE}/{key}", json=body, headers=headers), status, errcode
        )
    await _error(
        await put(f"{V3}/profile/{ALICE}/displayname", data=b"{", headers=headers),
        400,
        "M_NOT_JSON",
    )
    others = await put(
        f"{V3}/profile/{BOB}/displayname", json={"displayname": "B"}, headers=headers
    )
    await _error(others, 403, "M_FORBIDDEN")
    await _error(
        await client.delete(f"{V3}/profile/{BOB}/displayname", headers=headers), 403, "M_FORBIDDEN"
    )
    await _error(
        await put(f"{V3}/profile/{ALICE}/displayname", json={"displayname": "A"}),
        401,
        "M_MISSING_TOKEN",
    )
    # Many fields that each fit, together too large.
    for i in range(3):
        key = f"org.example.f{i}"
        response = await put(
            f"{V3}/profile/{ALICE}/{key}", json={key: "y" * 30_000}, headers=headers
        )
        assert response.status == (200 if i < 2 else 400)


async def test_profile_changes_are_sent_to_joined_rooms(
    make_config: MakeConfig, clock: FakeClock
) -> None:
    config = make_config(enable_registration=True, ratelimiting={"enabled": False})
    hs = await open_homeserver(config, clock=clock)
    listener = ListenerConfig(port=8008, resources=(ListenerResourceConfig(names=("client",)),))
    client: Client = TestClient(TestServer(listener_app(hs, listener), host="127.0.0.1"))
    await client.start_server()
    try:
        alice = await register(client, "alice")
        headers = auth_header(alice["access_token"])
        room = await hs.rooms.create_room(ALICE, CreateRoomRequest())
        response = await client.put(
            f"{V3}/profile/{ALICE}/displayname", json={"displayname": "Alice A."}, headers=headers
        )
        assert response.status == 200
        await client.put(
            f"{V3}/profile/{ALICE}/avatar_url",
            json={"avatar_url": "mxc://test.example/pic"},
            headers=headers,
        )
        content = await _member_content(hs, room.room_id)
        assert content == {
            "membership": "join",
            "displayname": "Alice A.",
            "avatar_url": "mxc://test.example/pic",
        }
        await client.delete(f"{V3}/profile/{ALICE}/avatar_url", headers=headers)
        assert await _member_content(hs, room.room_id) == {
            "membership": "join",
            "displayname": "Alice A.",
        }
        # Custom fields are not part of member events.
        await client.put(f"{V3}/profile/{ALICE}/m.tz", json={"m.tz": "UTC"}, headers=headers)
        assert "m.tz" not in await _member_content(hs, room.room_id)
    finally:
        await client.close()
        await hs.close()


async def _member_content(hs: Any, room_id: str) -> dict[str, Any]:
    event_id = await hs.stores.state.get_current_state_event_id(room_id, "m.room.member", ALICE)
    stored = await hs.stores.events.get_event(event_id)
    content: dict[str, Any] = stored.json()["content"]
    return content
