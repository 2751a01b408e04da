"""Account data and room tags over HTTP, and both in /sync."""

import json
from typing import Any
from urllib.parse import quote

from tests.api.account_support import V3, serve_accounts
from tests.api.conftest import ServeFn
from tests.api.openapi import validate_response
from tests.api.room_support import User, new_user

ACCOUNT_DATA = "client-server/account-data.yaml"
TAGS = "client-server/tags.yaml"


def global_path(user: User, data_type: str, owner: str | None = None) -> str:
    return f"{V3}/user/{quote(owner or user.user_id)}/account_data/{quote(data_type)}"


def room_path(user: User, room_id: str, data_type: str, owner: str | None = None) -> str:
    owner = owner or user.user_id
    return f"{V3}/user/{quote(owner)}/rooms/{quote(room_id)}/account_data/{quote(data_type)}"


def tags_path(user: User, room_id: str, tag: str | None = None) -> str:
    path = f"{V3}/user/{quote(user.user_id)}/rooms/{quote(room_id)}/tags"
    return path if tag is None else f"{path}/{quote(tag)}"


async def sync(user: User, **params: Any) -> Any:
    body = await user.request("GET", f"{V3}/sync", params=params)
    validate_response(body, "client-server/sync.yaml", "/sync", "get", 200)
    return body


async def test_global_account_data(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    path = global_path(alice, "org.example.settings")
    missing = await alice.request("GET", path, status=404)
    assert missing["errcode"] == "M_NOT_FOUND"
    await alice.request("PUT", path, json={"theme": "dark"})
    got = await alice.request("GET", path)
    validate_response(got, ACCOUNT_DATA, "/user/{userId}/account_data/{type}", "get", 200)
    assert got == {"theme": "dark"}
    await alice.request("PUT", path, json={"theme": "light"})
    assert await alice.request("GET", path) == {"theme": "light"}
    # Other users' account data is off limits.
    assert (await bob.request("GET", path, status=403))["errcode"] == "M_FORBIDDEN"
    assert (await bob.request("PUT", path, json={}, status=403))["errcode"] == "M_FORBIDDEN"
    # Types the server manages are refused (405 M_BAD_JSON), in rooms too.
    for data_type in ("m.fully_read", "m.push_rules"):
        body = await alice.request("PUT", global_path(alice, data_type), json={}, status=405)
        assert body["errcode"] == "M_BAD_JSON"
    response = await client.put(path, data=b"[]", headers=alice.headers)
    assert (await response.json())["errcode"] == "M_BAD_JSON"
    response = await client.put(path, data=b"nope", headers=alice.headers)
    assert (await response.json())["errcode"] == "M_NOT_JSON"


async def test_room_account_data(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="private_chat")
    path = room_path(alice, room_id, "org.example.room")
    await alice.request("GET", path, status=404)
    await alice.request("PUT", path, json={"pinned": True})
    got = await alice.request("GET", path)
    validate_response(
        got, ACCOUNT_DATA, "/user/{userId}/rooms/{roomId}/account_data/{type}", "get", 200
    )
    assert got == {"pinned": True}
    # No fallback between room and global account data.
    await alice.request("GET", global_path(alice, "org.example.room"), status=404)
    await bob.request("GET", path, status=403)
    body = await alice.request(
        "PUT", room_path(alice, room_id, "m.fully_read"), json={"event_id": "$x"}, status=405
    )
    assert body["errcode"] == "M_BAD_JSON"
    bad = await alice.request("GET", room_path(alice, "not-a-room", "x"), status=400)
    assert bad["errcode"] == "M_INVALID_PARAM"
    await alice.request("PUT", room_path(alice, "nope", "x"), json={}, status=400)


async def test_tags(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="private_chat")
    empty = await alice.request("GET", tags_path(alice, room_id))
    validate_response(empty, TAGS, "/user/{userId}/rooms/{roomId}/tags", "get", 200)
    assert empty == {"tags": {}}
    await alice.request("PUT", tags_path(alice, room_id, "m.favourite"), json={"order": 0.25})
    await alice.request("PUT", tags_path(alice, room_id, "u.work"), json={})
    tags = await alice.request("GET", tags_path(alice, room_id))
    validate_response(tags, TAGS, "/user/{userId}/rooms/{roomId}/tags", "get", 200)
    assert tags == {"tags": {"m.favourite": {"order": 0.25}, "u.work": {}}}
    for order in (1.5, -0.1, "high", True):
        body = await alice.request(
            "PUT", tags_path(alice, room_id, "u.bad"), json={"order": order}, status=400
        )
        assert body["errcode"] == "M_BAD_JSON"
    await alice.request("DELETE", tags_path(alice, room_id, "u.work"))
    await alice.request("DELETE", tags_path(alice, room_id, "u.never"))
    assert await alice.request("GET", tags_path(alice, room_id)) == {
        "tags": {"m.favourite": {"order": 0.25}}
    }
    other = f"{V3}/user/{quote(alice.user_id)}/rooms/{quote(room_id)}/tags"
    assert (await bob.request("GET", other, status=403))["errcode"] == "M_FORBIDDEN"
    await bob.request("PUT", f"{other}/u.x", json={}, status=403)
    await bob.request("DELETE", f"{other}/m.favourite", status=403)


async def test_account_data_and_tags_in_sync(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    room_id = await alice.create_room(preset="private_chat")
    await alice.request("PUT", global_path(alice, "org.example.a"), json={"v": 1})
    await alice.request("PUT", room_path(alice, room_id, "org.example.r"), json={"v": 2})
    await alice.request("PUT", tags_path(alice, room_id, "m.lowpriority"), json={"order": 1})
    first = await sync(alice)
    assert first["account_data"]["events"] == [{"type": "org.example.a", "content": {"v": 1}}]
    room_data = first["rooms"]["join"][room_id]["account_data"]["events"]
    assert {"type": "org.example.r", "content": {"v": 2}} in room_data
    assert {"type": "m.tag", "content": {"tags": {"m.lowpriority": {"order": 1}}}} in room_data
    # Incremental: only what changed, with its latest content.
    await alice.request("DELETE", tags_path(alice, room_id, "m.lowpriority"))
    await alice.request("PUT", global_path(alice, "org.example.b"), json={"v": 3})
    await alice.request("PUT", global_path(alice, "org.example.b"), json={"v": 4})
    later = await sync(alice, since=first["next_batch"])
    assert later["account_data"]["events"] == [{"type": "org.example.b", "content": {"v": 4}}]
    assert later["rooms"]["join"][room_id]["account_data"]["events"] == [
        {"type": "m.tag", "content": {"tags": {}}}
    ]
    assert later["rooms"]["join"][room_id]["timeline"]["events"] == []
    # The account data filters apply.
    filtered = await sync(
        alice,
        filter=json.dumps(
            {
                "account_data": {"types": ["org.example.a"]},
                "room": {"account_data": {"limit": 1, "not_types": ["m.tag"]}},
            }
        ),
    )
    assert [e["type"] for e in filtered["account_data"]["events"]] == ["org.example.a"]
    assert [e["type"] for e in filtered["rooms"]["join"][room_id]["account_data"]["events"]] == [
        "org.example.r"
    ]
    nothing = await sync(alice, since=later["next_batch"])
    assert nothing["account_data"]["events"] == []
    assert room_id not in nothing["rooms"]["join"]
