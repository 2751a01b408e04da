"""Two Myelin servers and a restricted room (spec: Server-Server API, "Restricted rooms"):
the resident server checks the allow conditions on ``make_join`` and again on ``send_join``
before it countersigns, and answers ``M_FORBIDDEN``, ``M_UNABLE_TO_AUTHORISE_JOIN`` or
``M_UNABLE_TO_GRANT_JOIN``."""

import logging
from typing import Any
from urllib.parse import quote

import pytest

from myelin.core.event_signing import sign_event
from myelin.core.hashes import compute_event_id
from myelin.core.room_versions import get_room_version
from myelin.federation.client import HttpResponseError
from tests.federation.conftest import Federation, RunningServer
from tests.federation.remote_support import V3, Person, two_servers

V1 = "/_matrix/federation/v1"
V2 = "/_matrix/federation/v2"


def restricted_to(*room_ids: str, rule: str = "restricted") -> dict[str, Any]:
    return {
        "type": "m.room.join_rules",
        "state_key": "",
        "content": {
            "join_rule": rule,
            "allow": [{"type": "m.room_membership", "room_id": r} for r in room_ids],
        },
    }


async def make_join(b: RunningServer, room_id: str, user_id: str) -> Any:
    """B's signed ``GET /make_join`` to A."""
    assert b.hs.federation is not None
    path = f"{V1}/make_join/{quote(room_id, safe='')}/{quote(user_id, safe='')}"
    return await b.hs.federation.get_json("a.test", path, {"ver": ["9", "10"]})


async def refused(b: RunningServer, room_id: str, user_id: str) -> tuple[int, str | None]:
    with pytest.raises(HttpResponseError) as caught:
        await make_join(b, room_id, user_id)
    return caught.value.status, caught.value.errcode


async def test_remote_user_joins_only_through_an_allowed_room(federation: Federation) -> None:
    a, b = await two_servers(federation)
    async with federation.https() as http:
        alice = await Person(federation, a, http).register("alice")
        bob = await Person(federation, b, http).register("bob")
        space = await alice.create_room(preset="public_chat", creation_content={"type": "m.space"})
        room_id = await alice.create_room(
            preset="private_chat", room_version="9", initial_state=[restricted_to(space)]
        )
        # Bob is in no allowed room: A refuses (before this fix any remote user got in).
        assert await refused(b, room_id, bob.user_id) == (403, "M_FORBIDDEN")
        answer = await bob.join(room_id, via=["a.test"], status=403)
        assert answer["errcode"] == "M_FORBIDDEN"
        # Joined to the space, bob qualifies; A names alice (who may invite) and countersigns.
        await bob.join(space, via=["a.test"])
        await alice.wait_for_member(space, bob.user_id, "join")
        template = await make_join(b, room_id, bob.user_id)
        assert template["event"]["content"]["join_authorised_via_users_server"] == alice.user_id
        assert (await bob.join(room_id, via=["a.test"]))["room_id"] == room_id
        seen = await alice.wait_for_member(room_id, bob.user_id, "join")
        assert seen["content"]["join_authorised_via_users_server"] == alice.user_id
        # Already joined: no authorisation needed.
        template = await make_join(b, room_id, bob.user_id)
        assert "join_authorised_via_users_server" not in template["event"]["content"]


async def test_make_join_cannot_authorise_or_grant(
    federation: Federation, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = await two_servers(federation)
    async with federation.https() as http:
        alice = await Person(federation, a, http).register("alice")
        carol = await Person(federation, a, http).register("carol")
        bob = await Person(federation, b, http).register("bob")
        # Allowed: a room A is not in, so A cannot verify the condition.
        elsewhere = await alice.create_room(
            preset="private_chat",
            room_version="9",
            initial_state=[restricted_to("!elsewhere:b.test")],
        )
        assert await refused(b, elsewhere, bob.user_id) == (400, "M_UNABLE_TO_AUTHORISE_JOIN")
        # B's client join asks the next server too (none can), and reports A's answer.
        with caplog.at_level(logging.INFO, logger="myelin.federation.rooms"):
            answer = await bob.join(elsewhere, via=["a.test", "nowhere.test"], status=400)
        assert answer["errcode"] == "M_UNABLE_TO_AUTHORISE_JOIN"
        assert "through nowhere.test failed" in caplog.text
        # No allow condition at all, or none of the known type: failed all conditions.
        nothing = await alice.create_room(
            preset="private_chat", room_version="9", initial_state=[restricted_to()]
        )
        assert await refused(b, nothing, bob.user_id) == (403, "M_FORBIDDEN")
        # Bob qualifies, but the only user of A still in the room (carol) may not invite.
        space = await alice.create_room(preset="public_chat")
        room_id = await alice.create_room(
            preset="private_chat",
            room_version="10",
            initial_state=[restricted_to(space, rule="knock_restricted")],
            power_level_content_override={"invite": 50},
        )
        await carol.join(space)
        await carol.join(room_id)
        await alice.room_action(room_id, "leave")
        await bob.join(space, via=["a.test"])
        await alice.wait_for_member(space, bob.user_id, "join")
        assert await refused(b, room_id, bob.user_id) == (400, "M_UNABLE_TO_GRANT_JOIN")


async def test_send_join_checks_the_conditions_again(federation: Federation) -> None:
    a, b = await two_servers(federation)
    async with federation.https() as http:
        alice = await Person(federation, a, http).register("alice")
        bob = await Person(federation, b, http).register("bob")
        space = await alice.create_room(preset="public_chat")
        room_id = await alice.create_room(
            preset="private_chat", room_version="9", initial_state=[restricted_to(space)]
        )
        await bob.join(space, via=["a.test"])
        await alice.wait_for_member(space, bob.user_id, "join")
        template = await make_join(b, room_id, bob.user_id)
        # Bob leaves the space between make_join and send_join.
        await bob.room_action(space, "leave")
        await alice.wait_for_member(space, bob.user_id, "leave")
        version = get_room_version("9")
        pdu = {k: v for k, v in template["event"].items() if k not in ("hashes", "signatures")}
        pdu["origin"] = "b.test"
        signed = sign_event(pdu, "b.test", b.hs.server_keys.signing_key, version)
        event_id = compute_event_id(signed, version)
        assert b.hs.federation is not None
        path = f"{V2}/send_join/{quote(room_id, safe='')}/{quote(event_id, safe='')}"
        with pytest.raises(HttpResponseError) as caught:
            await b.hs.federation.put_json("a.test", path, signed)
        assert (caught.value.status, caught.value.errcode) == (403, "M_FORBIDDEN")
        members = await alice.members(room_id)
        assert bob.user_id not in members
        # Back in the space, the same signed event is accepted and countersigned by A.
        await bob.join(space, via=["a.test"])
        await alice.wait_for_member(space, bob.user_id, "join")
        body = await b.hs.federation.put_json("a.test", path, signed)
        assert "a.test" in body["event"]["signatures"]
        assert (await alice.members(room_id))[bob.user_id] == "join"
        state = await alice.request(
            "GET", f"{V3}/rooms/{quote(room_id)}/state/m.room.member/{quote(bob.user_id)}"
        )
        assert state["join_authorised_via_users_server"] == alice.user_id
