"""Server ACLs on the membership endpoints (spec: Server-Server API, "Server Access Control
Lists (ACLs)": ``make_join``, ``send_join``, ``make_leave``, ``send_leave``, ``make_knock``,
``send_knock`` and ``invite`` MUST answer 403 ``M_FORBIDDEN`` to a denied server)."""

from urllib.parse import quote

import pytest

from myelin.federation.client import HttpResponseError
from tests.federation.conftest import Federation
from tests.federation.remote_support import V3, Person, two_servers

V1 = "/_matrix/federation/v1"
V2 = "/_matrix/federation/v2"


async def test_acl_denied_server_is_refused_by_membership_endpoints(
    federation: Federation,
) -> None:
    a, b = await two_servers(federation)
    async with federation.https() as http:
        alice = await Person(federation, a, http).register("alice")
        bob = await Person(federation, b, http).register("bob")
        room_id = await alice.create_room(preset="public_chat")
        await bob.join(room_id, via=["a.test"])
        await alice.wait_for_member(room_id, bob.user_id, "join")
        await alice.request(
            "PUT",
            f"{V3}/rooms/{quote(room_id)}/state/m.room.server_acl/",
            json={"allow": ["*"], "deny": ["b.test"], "allow_ip_literals": False},
        )

    assert b.hs.federation is not None
    fed = b.hs.federation
    room = quote(room_id)
    dave_id = quote("@dave:b.test")
    event = quote("$anything")
    # Another user of b.test cannot join, leave, knock or be invited through a.test.
    for method, path, query in (
        ("GET", f"{V1}/make_join/{room}/{dave_id}", {"ver": ["10", "11"]}),
        ("GET", f"{V1}/make_leave/{room}/{dave_id}", None),
        ("GET", f"{V1}/make_knock/{room}/{dave_id}", {"ver": ["10", "11"]}),
        ("PUT", f"{V2}/send_join/{room}/{event}", None),
        ("PUT", f"{V2}/send_leave/{room}/{event}", None),
        ("PUT", f"{V1}/send_knock/{room}/{event}", None),
        ("PUT", f"{V2}/invite/{room}/{event}", None),
    ):
        with pytest.raises(HttpResponseError) as denied:
            if method == "GET":
                await fed.get_json("a.test", path, query)
            else:
                await fed.put_json("a.test", path, {"room_version": "10", "event": {}})
        assert (denied.value.status, denied.value.errcode) == (403, "M_FORBIDDEN"), path
