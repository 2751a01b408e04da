"""Spaces across two servers (spec: Server-Server API, "Spaces": ``GET /hierarchy/{roomId}``;
Client-Server API ``GET /rooms/{roomId}/hierarchy`` and ``/room_summary`` reaching rooms of
another server through it)."""

from typing import Any
from urllib.parse import quote

import pytest

from myelin.federation.client import HttpResponseError
from tests.api.openapi import validate_response
from tests.federation.conftest import Federation
from tests.federation.remote_support import V3, Person, two_servers

V1 = "/_matrix/client/v1"
SPACE = {"creation_content": {"type": "m.space"}}


async def add_child(person: Person, space: str, child: str, server: str, **extra: Any) -> None:
    await person.request(
        "PUT",
        f"{V3}/rooms/{quote(space)}/state/m.space.child/{quote(child)}",
        json={"via": [server], **extra},
    )


async def test_hierarchy_reaches_rooms_of_another_server(federation: Federation) -> None:
    a, b = await two_servers(federation)
    async with federation.https() as http:
        alice = await Person(federation, a, http).register("alice")
        bob = await Person(federation, b, http).register("bob")
        space = await alice.create_room(preset="public_chat", name="Institutions", **SPACE)
        local = await alice.create_room(preset="public_chat", name="Local room")
        hidden = await alice.create_room(preset="private_chat", name="Local private")
        # On b.test: a public sub-space with a public room, a private room.
        sub = await bob.create_room(preset="public_chat", name="B space", **SPACE)
        b_room = await bob.create_room(preset="public_chat", name="B room")
        b_private = await bob.create_room(preset="private_chat", name="B private")
        await add_child(bob, sub, b_room, "b.test")
        await add_child(alice, space, local, "a.test", order="1")
        await add_child(alice, space, sub, "b.test", order="2")
        await add_child(alice, space, b_private, "b.test", order="3")
        await add_child(alice, space, "!nowhere:b.test", "b.test", order="4")
        await add_child(alice, space, hidden, "a.test", order="5")

        # The federation endpoint on a.test, asked by b.test.
        assert b.hs.federation is not None
        answer = await b.hs.federation.get_json(
            "a.test", f"/_matrix/federation/v1/hierarchy/{quote(space)}"
        )
        validate_response(
            answer, "server-server/space_hierarchy.yaml", "/hierarchy/{roomId}", "get", 200
        )
        assert answer["room"]["room_id"] == space
        assert answer["room"]["room_type"] == "m.space"
        assert len(answer["room"]["children_state"]) == 5
        assert [c["room_id"] for c in answer["children"]] == [local]
        assert answer["children"][0]["name"] == "Local room"
        assert answer["inaccessible_children"] == [hidden]
        # A private room b.test has no member in: 404.
        with pytest.raises(HttpResponseError) as e:
            await b.hs.federation.get_json(
                "a.test", f"/_matrix/federation/v1/hierarchy/{quote(hidden)}"
            )
        assert (e.value.status, e.value.errcode) == (404, "M_NOT_FOUND")
        with pytest.raises(HttpResponseError) as e:
            await b.hs.federation.get_json(
                "a.test",
                f"/_matrix/federation/v1/hierarchy/{quote(space)}",
                {"suggested_only": "maybe"},
            )
        assert e.value.status == 400

        # Alice's hierarchy walks into b.test's rooms (depth first, in the spec's order).
        body = await alice.request("GET", f"{V1}/rooms/{quote(space)}/hierarchy")
        validate_response(
            body, "client-server/space_hierarchy.yaml", "/rooms/{roomId}/hierarchy", "get", 200
        )
        rooms = [r["room_id"] for r in body["rooms"]]
        # (alice created the private room, so she sees it; b.test's private room not.)
        assert rooms == [space, local, sub, b_room, hidden]
        by_id = {r["room_id"]: r for r in body["rooms"]}
        assert by_id[sub]["name"] == "B space" and by_id[sub]["room_type"] == "m.space"
        assert [c["state_key"] for c in by_id[sub]["children_state"]] == [b_room]
        assert by_id[b_room]["name"] == "B room" and by_id[b_room]["join_rule"] == "public"
        # max_depth 1 stops before b.test's sub-space's children.
        shallow = await alice.request(
            "GET", f"{V1}/rooms/{quote(space)}/hierarchy", params={"max_depth": "1"}
        )
        assert [r["room_id"] for r in shallow["rooms"]] == [space, local, sub, hidden]
        # suggested_only reaches the remote server too.
        await add_child(alice, space, sub, "b.test", order="2", suggested=True)
        suggested = await alice.request(
            "GET", f"{V1}/rooms/{quote(space)}/hierarchy", params={"suggested_only": "true"}
        )
        assert [r["room_id"] for r in suggested["rooms"]] == [space, sub]

        # The room summary of a room of b.test, through its hierarchy.
        summary = await alice.request(
            "GET", f"{V1}/room_summary/{quote(b_room)}", params={"via": "b.test"}
        )
        validate_response(
            summary,
            "client-server/room_summary.yaml",
            "/room_summary/{roomIdOrAlias}",
            "get",
            200,
        )
        assert summary["room_id"] == b_room and summary["name"] == "B room"
        assert "children_state" not in summary
        missing = await alice.request(
            "GET",
            f"{V1}/room_summary/{quote(b_private)}",
            params={"via": "b.test"},
            status=404,
        )
        assert missing["errcode"] == "M_NOT_FOUND"
