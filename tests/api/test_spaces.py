"""Space hierarchy, room summaries and mutual rooms over HTTP, on both engines."""

from typing import Any
from urllib.parse import quote

from tests.api.account_support import serve_accounts
from tests.api.conftest import ServeFn
from tests.api.openapi import error_schema, validate, validate_response
from tests.api.room_support import V1, User, new_user

HIERARCHY = "client-server/space_hierarchy.yaml"


async def _child(space: str, owner: User, child: str, **content: Any) -> None:
    await owner.put_state(space, "m.space.child", {"via": ["test.example"], **content}, child)


async def _hierarchy(user: User, room_id: str, status: int = 200, **params: Any) -> Any:
    body = await user.request(
        "GET", f"{V1}/rooms/{quote(room_id)}/hierarchy", params=params, status=status
    )
    if status == 200:
        validate_response(body, HIERARCHY, "/rooms/{roomId}/hierarchy", "get", 200)
    else:
        validate(body, error_schema())
    return body


async def test_space_hierarchy(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice, bob = await new_user(client, "alice"), await new_user(client, "bob")
    space = await alice.create_room(
        preset="public_chat", name="Space", creation_content={"type": "m.space"}
    )
    first = await alice.create_room(preset="public_chat", name="First")
    second = await alice.create_room(preset="public_chat", name="Second")
    secret = await alice.create_room(preset="private_chat", name="Secret")
    sub = await alice.create_room(
        preset="public_chat", name="Sub", creation_content={"type": "m.space"}
    )
    deep = await alice.create_room(preset="public_chat", name="Deep")
    # Order: valid order strings first, then by timestamp.
    await _child(space, alice, second, order="b")
    await _child(space, alice, first, order="a", suggested=True)
    await _child(space, alice, secret)
    await _child(space, alice, sub)
    await _child(sub, alice, deep)
    await alice.put_state(space, "m.space.child", {}, "!removed:test.example")
    await alice.put_state(space, "m.space.child", {"via": []}, "!invalid:test.example")

    whole = await _hierarchy(bob, space)
    names = [r.get("name") for r in whole["rooms"]]
    # Bob cannot see the private room: skipped.
    assert names == ["Space", "First", "Second", "Sub", "Deep"]
    top = whole["rooms"][0]
    assert top["room_type"] == "m.space" and top["room_version"]
    assert sorted(c["state_key"] for c in top["children_state"]) == sorted(
        [first, second, secret, sub]
    )
    assert "next_batch" not in whole
    # Alice sees everything.
    assert len((await _hierarchy(alice, space))["rooms"]) == 6
    suggested = await _hierarchy(bob, space, suggested_only="true")
    assert [r.get("name") for r in suggested["rooms"]] == ["Space", "First"]
    shallow = await _hierarchy(bob, space, max_depth="1")
    assert [r.get("name") for r in shallow["rooms"]] == ["Space", "First", "Second", "Sub"]
    only_root = await _hierarchy(bob, space, max_depth="0")
    assert [r.get("name") for r in only_root["rooms"]] == ["Space"]
    # Pagination.
    seen: list[str] = []
    page = await _hierarchy(bob, space, limit="2")
    seen += [r["name"] for r in page["rooms"]]
    while "next_batch" in page:
        page = await _hierarchy(bob, space, limit="2", **{"from": page["next_batch"]})
        seen += [r["name"] for r in page["rooms"]]
    assert seen == ["Space", "First", "Second", "Sub", "Deep"]
    token = (await _hierarchy(bob, space, limit="1"))["next_batch"]
    changed = await _hierarchy(bob, space, 400, limit="1", max_depth="1", **{"from": token})
    assert changed["errcode"] == "M_INVALID_PARAM"
    assert (await _hierarchy(bob, space, 400, **{"from": "garbage"}))["errcode"] == (
        "M_INVALID_PARAM"
    )
    for params in ({"limit": "0"}, {"limit": "x"}, {"max_depth": "-1"}, {"suggested_only": "1"}):
        assert (await _hierarchy(bob, space, 400, **params))["errcode"] == "M_INVALID_PARAM"
    # A root the user cannot see, or an unknown one: 403.
    assert (await _hierarchy(bob, secret, 403))["errcode"] == "M_FORBIDDEN"
    assert (await _hierarchy(bob, "!nope:test.example", 403))["errcode"] == "M_FORBIDDEN"


async def test_room_summary(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice, bob = await new_user(client, "alice"), await new_user(client, "bob")
    public = await alice.create_room(
        preset="public_chat", name="Cheese", topic="Tasty", room_alias_name="cheese"
    )
    private = await alice.create_room(preset="private_chat", name="Hidden")
    path = "/room_summary/{roomIdOrAlias}"
    summary = await bob.request("GET", f"{V1}/room_summary/{quote(public)}")
    validate_response(summary, "client-server/room_summary.yaml", path, "get", 200)
    assert summary["name"] == "Cheese" and summary["topic"] == "Tasty"
    assert summary["join_rule"] == "public" and summary["num_joined_members"] == 1
    assert "membership" not in summary
    mine = await alice.request("GET", f"{V1}/room_summary/{quote('#cheese:test.example')}")
    assert mine["room_id"] == public and mine["membership"] == "join"
    # Without a token: public rooms only.
    anonymous = await client.get(f"{V1}/room_summary/{quote(public)}")
    assert anonymous.status == 200 and "membership" not in await anonymous.json()
    hidden = await client.get(f"{V1}/room_summary/{quote(private)}")
    assert hidden.status == 404
    bad_token = await client.get(
        f"{V1}/room_summary/{quote(public)}", headers={"Authorization": "Bearer nope"}
    )
    assert bad_token.status == 401
    for target in (private, "!unknown:test.example", "#nothing:test.example"):
        refused = await bob.request("GET", f"{V1}/room_summary/{quote(target)}", status=404)
        validate(refused, error_schema())
        assert refused["errcode"] == "M_NOT_FOUND"
    await alice.invite(private, bob.user_id)
    invited = await bob.request(
        "GET", f"{V1}/room_summary/{quote(private)}", params={"via": "test.example"}
    )
    assert invited["membership"] == "invite" and invited["join_rule"] == "invite"
    assert (await bob.request("GET", f"{V1}/room_summary/nonsense", status=400))["errcode"] == (
        "M_INVALID_PARAM"
    )


async def test_mutual_rooms(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice, bob = await new_user(client, "alice"), await new_user(client, "bob")
    shared = []
    for _ in range(3):
        room_id = await alice.create_room(preset="public_chat")
        await bob.join(room_id)
        shared.append(room_id)
    await alice.create_room()
    answer = await alice.request("GET", f"{V1}/mutual_rooms", params={"user_id": bob.user_id})
    validate_response(answer, "client-server/mutual_rooms.yaml", "/mutual_rooms", "get", 200)
    assert sorted(answer["joined"]) == sorted(shared) and answer["count"] == 3
    assert "next_batch" not in answer
    nobody = await alice.request(
        "GET", f"{V1}/mutual_rooms", params={"user_id": "@nobody:test.example"}
    )
    assert nobody == {"joined": [], "count": 0}
    for params in ({}, {"user_id": "not a user"}, {"user_id": alice.user_id}):
        refused = await alice.request("GET", f"{V1}/mutual_rooms", params=params, status=400)
        validate(refused, error_schema())
    bad = await alice.request(
        "GET", f"{V1}/mutual_rooms", params={"user_id": bob.user_id, "from": "???"}, status=400
    )
    assert bad["errcode"] == "M_INVALID_PARAM"
