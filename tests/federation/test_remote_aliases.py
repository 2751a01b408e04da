"""Aliases of another server through the Client-Server API (spec: ``GET
/directory/room/{roomAlias}`` asks the alias's server over federation; ``m.room.canonical_alias``
naming another server's alias is checked the same way): two Myelin servers on loopback."""

from urllib.parse import quote

from tests.api.openapi import error_schema, validate, validate_response
from tests.federation.conftest import Federation
from tests.federation.remote_support import V3, Person, two_servers


async def test_remote_alias_resolution_and_canonical_alias_checks(federation: Federation) -> None:
    a, b = await two_servers(federation)
    async with federation.https() as http:
        alice = await Person(federation, a, http).register("alice")
        bob = await Person(federation, b, http).register("bob")
        room_id = await alice.create_room(preset="public_chat", room_alias_name="commons")
        # Bob's server asks a.test for the alias.
        body = await bob.request("GET", f"{V3}/directory/room/{quote('#commons:a.test')}")
        validate_response(
            body, "client-server/directory.yaml", "/directory/room/{roomAlias}", "get", 200
        )
        assert body["room_id"] == room_id and body["servers"][0] == "a.test"
        missing = await bob.request(
            "GET", f"{V3}/directory/room/{quote('#nothing:a.test')}", status=404
        )
        validate(missing, error_schema())
        assert missing["errcode"] == "M_NOT_FOUND"
        # A canonical alias of Bob's room may not name a.test's alias of another room...
        mine = await bob.create_room(preset="public_chat", room_alias_name="mine")
        path = f"{V3}/rooms/{quote(mine)}/state/m.room.canonical_alias/"
        refused = await bob.request(
            "PUT",
            path,
            json={"alias": "#mine:b.test", "alt_aliases": ["#commons:a.test"]},
            status=400,
        )
        validate(refused, error_schema())
        assert refused["errcode"] == "M_BAD_ALIAS"
        # ... while Alice's room may list it among its alternatives.
        await alice.request(
            "PUT",
            f"{V3}/rooms/{quote(room_id)}/state/m.room.canonical_alias/",
            json={"alias": "#commons:a.test", "alt_aliases": []},
        )
