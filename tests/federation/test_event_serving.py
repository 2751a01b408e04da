"""Serving a room's events to other servers over HTTP (spec: Server-Server API, "Retrieving
events": ``/event``, ``/state``, ``/state_ids``, ``/event_auth``; "Backfilling and retrieving
missing events": ``/backfill``, ``/get_missing_events``; "Device Management":
``/user/devices/{userId}``): each answered to a server in the room, shapes validated against
the OpenAPI definitions, and refused to a server with no user in the room."""

from urllib.parse import quote

import pytest

from myelin.federation.client import HttpResponseError
from tests.api.openapi import validate_response
from tests.federation.conftest import Federation
from tests.federation.remote_support import Person, two_servers

V1 = "/_matrix/federation/v1"
EVENTS = "server-server/events.yaml"


async def test_room_events_served_to_servers_in_the_room_only(federation: Federation) -> None:
    a, b = await two_servers(federation)
    c = await federation.start("c.test", "127.0.0.13")
    async with federation.https() as http:
        alice = await Person(federation, a, http).register("alice")
        bob = await Person(federation, b, http).register("bob")
        room_id = await alice.create_room(preset="public_chat")
        await bob.join(room_id, via=["a.test"])
        await alice.wait_for_member(room_id, bob.user_id, "join")
        first = await alice.send(room_id, "one")
        second = await alice.send(room_id, "two")
        await bob.wait_for_message(room_id, "two")
    assert b.hs.federation is not None and c.hs.federation is not None
    fed = b.hs.federation
    room = quote(room_id)

    event = await fed.get_json("a.test", f"{V1}/event/{quote(second)}")
    validate_response(event, EVENTS, "/event/{eventId}", "get", 200)
    (pdu,) = event["pdus"]
    assert event["origin"] == "a.test" and pdu["content"]["body"] == "two"
    assert "event_id" not in pdu  # the PDU as stored (room v3+ event IDs are not sent)

    state_ids = await fed.get_json("a.test", f"{V1}/state_ids/{room}", {"event_id": second})
    validate_response(state_ids, EVENTS, "/state_ids/{roomId}", "get", 200)
    state = await fed.get_json("a.test", f"{V1}/state/{room}", {"event_id": second})
    validate_response(state, EVENTS, "/state/{roomId}", "get", 200)
    types = sorted((p["type"], p["state_key"]) for p in state["pdus"])
    assert ("m.room.create", "") in types and ("m.room.member", bob.user_id) in types
    assert len(state_ids["pdu_ids"]) == len(state["pdus"])
    assert len(state_ids["auth_chain_ids"]) == len(state["auth_chain"]) > 0

    auth = await fed.get_json("a.test", f"{V1}/event_auth/{room}/{quote(second)}")
    validate_response(
        auth, "server-server/event_auth.yaml", "/event_auth/{roomId}/{eventId}", "get", 200
    )
    assert {p["type"] for p in auth["auth_chain"]} >= {"m.room.create", "m.room.power_levels"}

    missing = await fed.post_json(
        "a.test",
        f"{V1}/get_missing_events/{room}",
        {"earliest_events": [first], "latest_events": [second], "limit": 10},
    )
    validate_response(
        missing, "server-server/backfill.yaml", "/get_missing_events/{roomId}", "post", 200
    )
    assert missing["events"] == []  # nothing between the two
    backfill = await fed.get_json("a.test", f"{V1}/backfill/{room}", {"v": [second], "limit": "2"})
    validate_response(backfill, "server-server/backfill.yaml", "/backfill/{roomId}", "get", 200)
    assert [p["content"].get("body") for p in backfill["pdus"]] == ["two", "one"]

    devices = await fed.get_json("a.test", f"{V1}/user/devices/{quote(alice.user_id)}")
    validate_response(
        devices, "server-server/user_devices.yaml", "/user/devices/{userId}", "get", 200
    )
    # Alice's one device has no keys: left out, as in the key query.
    assert (devices["user_id"], devices["devices"]) == (alice.user_id, [])

    # c.test has no user in the room: every read is refused.
    for path, query in (
        (f"{V1}/event/{quote(second)}", None),
        (f"{V1}/state_ids/{room}", {"event_id": second}),
        (f"{V1}/state/{room}", {"event_id": second}),
        (f"{V1}/event_auth/{room}/{quote(second)}", None),
        (f"{V1}/backfill/{room}", {"v": [second], "limit": "2"}),
    ):
        with pytest.raises(HttpResponseError) as refused:
            await c.hs.federation.get_json("a.test", path, query)
        assert refused.value.status in (403, 404), path
    with pytest.raises(HttpResponseError) as refused:
        await c.hs.federation.post_json(
            "a.test",
            f"{V1}/get_missing_events/{room}",
            {"earliest_events": [first], "latest_events": [second]},
        )
    assert refused.value.status in (403, 404)
