"""Presence, reporting, the user directory and capabilities over HTTP."""

import json
from typing import Any
from urllib.parse import quote

from tests.api.account_support import V3, serve_accounts
from tests.api.conftest import FakeClock, ServeFn
from tests.api.openapi import error_schema, validate, validate_response
from tests.api.room_support import User, new_user


async def sync(user: User, **params: Any) -> Any:
    if isinstance(params.get("filter"), dict):
        params["filter"] = json.dumps(params["filter"])
    body = await user.request("GET", f"{V3}/sync", params=params)
    validate_response(body, "client-server/sync.yaml", "/sync", "get", 200)
    return body


def presence_path(user_id: str) -> str:
    return f"{V3}/presence/{quote(user_id)}/status"


PRESENCE = ("client-server/presence.yaml", "/presence/{userId}/status")


async def test_presence(serve: ServeFn, clock: FakeClock) -> None:
    client = await serve_accounts(serve)
    alice, bob = await new_user(client, "alice"), await new_user(client, "bob")
    carol = await new_user(client, "carol")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    # Nobody set anything yet: offline.
    assert await bob.request("GET", presence_path(alice.user_id)) == {"presence": "offline"}
    first = await sync(bob, set_presence="offline")
    body = await alice.request(
        "PUT", presence_path(alice.user_id), json={"presence": "online", "status_msg": "here"}
    )
    validate_response(body, *PRESENCE, "put", 200)
    clock.now += 5000
    status = await bob.request("GET", presence_path(alice.user_id))
    validate_response(status, *PRESENCE, "get", 200)
    assert status == {
        "presence": "online",
        "status_msg": "here",
        "last_active_ago": 5000,
        "currently_active": True,
    }
    later = await sync(bob, since=first["next_batch"], set_presence="offline")
    events = [e for e in later["presence"]["events"] if e["sender"] == alice.user_id]
    assert events and events[-1]["type"] == "m.presence"
    assert events[-1]["content"]["presence"] == "online"
    # Carol shares no room with Alice.
    error = await carol.request("GET", presence_path(alice.user_id), status=403)
    assert error["errcode"] == "M_FORBIDDEN"
    validate(error, error_schema())
    assert not [
        e for e in (await sync(carol))["presence"]["events"] if e["sender"] == alice.user_id
    ]
    # An omitted status message clears it; unavailable users are not currently active.
    await alice.request("PUT", presence_path(alice.user_id), json={"presence": "unavailable"})
    assert await alice.request("GET", presence_path(alice.user_id)) == {
        "presence": "unavailable",
        "last_active_ago": 0,
    }
    cases = [
        (bob, presence_path(alice.user_id), {"presence": "online"}, 403, "M_FORBIDDEN"),
        (alice, presence_path(alice.user_id), {}, 400, "M_MISSING_PARAM"),
        (alice, presence_path(alice.user_id), {"presence": "busy"}, 400, "M_INVALID_PARAM"),
        (alice, presence_path(alice.user_id), {"presence": 1}, 400, "M_INVALID_PARAM"),
        (
            alice,
            presence_path(alice.user_id),
            {"presence": "online", "status_msg": 3},
            400,
            "M_BAD_JSON",
        ),
    ]
    for user, path, payload, status_code, errcode in cases:
        error = await user.request("PUT", path, json=payload, status=status_code)
        assert error["errcode"] == errcode, payload


async def test_sync_sets_presence(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    await sync(alice)  # set_presence defaults to online
    assert (await alice.request("GET", presence_path(alice.user_id)))["presence"] == "online"
    await sync(alice, set_presence="unavailable")
    assert (await alice.request("GET", presence_path(alice.user_id)))["presence"] == ("unavailable")


async def test_presence_switched_off(serve: ServeFn) -> None:
    client = await serve_accounts(serve, presence={"enabled": False})
    alice, bob = await new_user(client, "alice"), await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    await alice.request("PUT", presence_path(alice.user_id), json={"presence": "online"})
    assert await bob.request("GET", presence_path(alice.user_id)) == {"presence": "offline"}
    assert (await sync(bob))["presence"]["events"] == []
    # Validation still applies.
    error = await alice.request(
        "PUT", presence_path(alice.user_id), json={"presence": "nope"}, status=400
    )
    assert error["errcode"] == "M_INVALID_PARAM"


async def test_reporting(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice, bob = await new_user(client, "alice"), await new_user(client, "bob")
    carol = await new_user(client, "carol")
    room_id = await alice.create_room(preset="public_chat")
    early = await alice.send(room_id, "before bob")
    await alice.put_state(room_id, "m.room.history_visibility", {"history_visibility": "joined"})
    hidden = await alice.send(room_id, "bob never sees this")
    await bob.join(room_id)
    event_id = await alice.send(room_id, "bad words")
    report = f"{V3}/rooms/{quote(room_id)}/report"
    body = await bob.request(
        "POST", f"{report}/{quote(event_id)}", json={"reason": "rude", "score": -100}
    )
    validate_response(
        body, "client-server/report_content.yaml", "/rooms/{roomId}/report/{eventId}", "post", 200
    )
    await bob.request("POST", f"{report}/{quote(event_id)}", json={})
    # Shared history before the change: visible; joined-only history before the join: not.
    await bob.request("POST", f"{report}/{quote(early)}", json={"reason": "old"})
    not_found = [
        (bob, f"{report}/{quote(hidden)}"),
        (carol, f"{report}/{quote(event_id)}"),  # not joined
        (bob, f"{report}/{quote('$missing:test.example')}"),
    ]
    for user, path in not_found:
        error = await user.request("POST", path, json={"reason": "x"}, status=404)
        assert error["errcode"] == "M_NOT_FOUND", path
        validate(error, error_schema())
    for payload, errcode in (({"score": 5}, "M_INVALID_PARAM"), ({"reason": 5}, "M_BAD_JSON")):
        error = await bob.request("POST", f"{report}/{quote(event_id)}", json=payload, status=400)
        assert error["errcode"] == errcode
    # Rooms: the reporter need not be joined; the reason is required.
    body = await carol.request("POST", report, json={"reason": "spam room"})
    validate_response(
        body, "client-server/report_content.yaml", "/rooms/{roomId}/report", "post", 200
    )
    assert (await carol.request("POST", report, json={}, status=400))["errcode"] == (
        "M_MISSING_PARAM"
    )
    error = await carol.request(
        "POST", f"{V3}/rooms/{quote('!nope:test.example')}/report", json={"reason": ""}, status=404
    )
    assert error["errcode"] == "M_NOT_FOUND"
    # Users.
    users = f"{V3}/users"
    body = await carol.request(
        "POST", f"{users}/{quote(alice.user_id)}/report", json={"reason": ""}
    )
    validate_response(
        body, "client-server/report_content.yaml", "/users/{userId}/report", "post", 200
    )
    error = await carol.request(
        "POST", f"{users}/{quote('@ghost:test.example')}/report", json={"reason": "x"}, status=404
    )
    assert error["errcode"] == "M_NOT_FOUND"
    await carol.request(
        "POST", f"{users}/{quote('@someone:elsewhere.example')}/report", json={"reason": "x"}
    )
    error = await carol.request(
        "POST", f"{users}/{quote('nobody')}/report", json={"reason": "x"}, status=400
    )
    assert error["errcode"] == "M_INVALID_PARAM"


async def search(user: User, term: str, **extra: Any) -> Any:
    body = await user.request(
        "POST", f"{V3}/user_directory/search", json={"search_term": term, **extra}
    )
    validate_response(body, "client-server/users.yaml", "/user_directory/search", "post", 200)
    return body


async def test_user_directory_visibility(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice, bob = await new_user(client, "alice"), await new_user(client, "bob")
    carol, dave = await new_user(client, "carol"), await new_user(client, "dave")
    await bob.request(
        "PUT", f"{V3}/profile/{quote(bob.user_id)}/displayname", json={"displayname": "Bob Builder"}
    )
    await bob.request(
        "PUT", f"{V3}/profile/{quote(bob.user_id)}/avatar_url", json={"avatar_url": "mxc://x/bob"}
    )
    # Alice and Bob share a private room; Carol sits in a public room; Dave is alone.
    private = await alice.create_room(preset="private_chat")
    await alice.invite(private, bob.user_id)
    await bob.join(private)
    public = await carol.create_room(preset="public_chat")
    await dave.create_room(preset="private_chat")
    found = await search(alice, "bob")
    assert found == {
        "results": [
            {"user_id": bob.user_id, "display_name": "Bob Builder", "avatar_url": "mxc://x/bob"}
        ],
        "limited": False,
    }
    # Word prefixes of the display name, case-insensitively.
    assert [r["user_id"] for r in (await search(alice, "BUILD"))["results"]] == [bob.user_id]
    assert (await search(alice, "uilder"))["results"] == []
    assert [r["user_id"] for r in (await search(alice, "carol"))["results"]] == [carol.user_id]
    assert (await search(alice, "dave"))["results"] == []
    # Carol shares no room with Bob, and Bob is in no public room.
    assert (await search(carol, "bob"))["results"] == []
    await bob.join(public)
    assert [r["user_id"] for r in (await search(carol, "bob"))["results"]] == [bob.user_id]
    # limit and limited.
    every = await search(alice, "test", limit=1)
    assert len(every["results"]) == 1 and every["limited"] is True
    for payload, errcode in (
        ({}, "M_MISSING_PARAM"),
        ({"search_term": 5}, "M_BAD_JSON"),
        ({"search_term": "x", "limit": "3"}, "M_BAD_JSON"),
        ({"search_term": "x", "limit": -1}, "M_INVALID_PARAM"),
    ):
        error = await alice.request("POST", f"{V3}/user_directory/search", json=payload, status=400)
        assert error["errcode"] == errcode, payload


async def test_capabilities(serve: ServeFn) -> None:
    client = await serve_accounts(serve, login_via_existing_session=True)
    alice = await new_user(client, "alice")
    body = await alice.request("GET", f"{V3}/capabilities")
    validate_response(body, "client-server/capabilities.yaml", "/capabilities", "get", 200)
    caps = body["capabilities"]
    assert caps["m.room_versions"]["default"] == "11"
    assert caps["m.room_versions"]["available"] == {str(v): "stable" for v in range(1, 13)}
    assert caps["m.change_password"] == {"enabled": True}
    assert caps["m.3pid_changes"] == {"enabled": False}
    assert caps["m.get_login_token"] == {"enabled": True}
    assert caps["m.set_displayname"] == {"enabled": True}
    assert caps["m.set_avatar_url"] == {"enabled": True}
    assert caps["m.profile_fields"]["enabled"] is True
    response = await client.get(f"{V3}/capabilities")
    assert response.status == 401
