"""Room creation, sending, state and reading over HTTP, checked against the spec's schemas."""

from urllib.parse import quote

from tests.api.account_support import V3, serve_accounts
from tests.api.conftest import ServeFn
from tests.api.openapi import validate_response
from tests.api.room_support import new_user


async def test_create_send_read(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    room_id = await alice.create_room(name="Room", topic="About", preset="public_chat")
    event_id = await alice.send(room_id, "hi")
    body = await alice.messages(room_id)
    validate_response(
        body, "client-server/message_pagination.yaml", "/rooms/{roomId}/messages", "get", 200
    )
    assert body["chunk"][0]["event_id"] == event_id
    assert body["chunk"][0]["unsigned"]["transaction_id"] == "t1"
    event = await alice.request("GET", f"{V3}/rooms/{quote(room_id)}/event/{quote(event_id)}")
    assert event["content"]["body"] == "hi"
    state = await alice.request("GET", f"{V3}/rooms/{quote(room_id)}/state")
    assert {e["type"] for e in state} >= {"m.room.create", "m.room.name", "m.room.topic"}
    name = await alice.request("GET", f"{V3}/rooms/{quote(room_id)}/state/m.room.name/")
    assert name == {"name": "Room"}
