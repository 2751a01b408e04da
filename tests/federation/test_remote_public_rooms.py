"""Another server's public room directory (spec: Client-Server API "Listing rooms":
``/publicRooms?server=``; Server-Server API "Public Room Directory": ``GET``/``POST
/publicRooms``), asked over federation for a client."""

from tests.api.openapi import validate_response
from tests.federation.conftest import Federation
from tests.federation.remote_support import V3, Person, two_servers

LIST = "client-server/list_public_rooms.yaml"


async def test_public_rooms_of_another_server(federation: Federation) -> None:
    a, b = await two_servers(federation)
    async with federation.https() as http:
        alice = await Person(federation, a, http).register("alice")
        bob = await Person(federation, b, http).register("bob")
        council = await alice.create_room(preset="public_chat", name="Council", visibility="public")
        await alice.create_room(preset="public_chat", name="Budget", visibility="public")
        await alice.create_room(preset="private_chat", name="Hidden")
        await bob.create_room(preset="public_chat", name="B's own", visibility="public")

        listed = await bob.request("GET", f"{V3}/publicRooms", params={"server": "a.test"})
        validate_response(listed, LIST, "/publicRooms", "get", 200)
        assert sorted(r["name"] for r in listed["chunk"]) == ["Budget", "Council"]
        paged = await bob.request(
            "GET", f"{V3}/publicRooms", params={"server": "a.test", "limit": "1"}
        )
        assert len(paged["chunk"]) == 1 and "next_batch" in paged
        rest = await bob.request(
            "GET",
            f"{V3}/publicRooms",
            params={"server": "a.test", "since": paged["next_batch"]},
        )
        assert {r["name"] for r in [*paged["chunk"], *rest["chunk"]]} == {"Budget", "Council"}
        # With a filter: POST over federation.
        found = await bob.request(
            "POST",
            f"{V3}/publicRooms",
            params={"server": "a.test"},
            json={"filter": {"generic_search_term": "counc"}},
        )
        validate_response(found, LIST, "/publicRooms", "post", 200)
        assert [r["room_id"] for r in found["chunk"]] == [council]
        # Its own directory is still its own.
        own = await bob.request("GET", f"{V3}/publicRooms")
        assert [r["name"] for r in own["chunk"]] == ["B's own"]
        # A bad server name, a server that cannot be reached.
        bad = await bob.request(
            "GET", f"{V3}/publicRooms", params={"server": "bad name"}, status=400
        )
        assert bad["errcode"] == "M_INVALID_PARAM"
        b.dns.unreachable.add("gone.test")
        gone = await bob.request(
            "GET", f"{V3}/publicRooms", params={"server": "gone.test"}, status=502
        )
        assert gone["errcode"] == "M_UNKNOWN"
