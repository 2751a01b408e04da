"""The deprecated GET /events/{eventId} and GET /rooms/{roomId}/initialSync, on both engines."""

from urllib.parse import quote

from tests.api.account_support import V3, serve_accounts
from tests.api.conftest import ServeFn
from tests.api.openapi import error_schema, validate, validate_response
from tests.api.room_support import new_user


async def test_event_and_room_initial_sync(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice, bob = await new_user(client, "alice"), await new_user(client, "bob")
    room_id = await alice.create_room(preset="private_chat", name="Old API")
    sent = [await alice.send(room_id, f"message {i}") for i in range(3)]
    event = await alice.request("GET", f"{V3}/events/{quote(sent[0])}")
    validate_response(event, "client-server/old_sync.yaml", "/events/{eventId}", "get", 200)
    assert event["event_id"] == sent[0] and event["content"]["body"] == "message 0"
    for user, event_id in ((bob, sent[0]), (alice, "$unknown:test.example")):
        refused = await user.request("GET", f"{V3}/events/{quote(event_id)}", status=404)
        validate(refused, error_schema())
    path = f"{V3}/rooms/{quote(room_id)}/initialSync"
    body = await alice.request("GET", path, params={"limit": "2"})
    validate_response(
        body, "client-server/room_initial_sync.yaml", "/rooms/{roomId}/initialSync", "get", 200
    )
    assert body["room_id"] == room_id and body["membership"] == "join"
    assert body["visibility"] == "private"
    assert [e["event_id"] for e in body["messages"]["chunk"]] == sent[1:]
    assert any(e["type"] == "m.room.name" for e in body["state"])
    earlier = await alice.request(
        "GET",
        f"{V3}/rooms/{quote(room_id)}/messages",
        params={"dir": "b", "from": body["messages"]["start"], "limit": "1"},
    )
    assert [e["event_id"] for e in earlier["chunk"]] == [sent[0]]
    refused = await bob.request("GET", path, status=403)
    assert refused["errcode"] == "M_FORBIDDEN"
    assert (await alice.request("GET", path, params={"limit": "x"}, status=400))["errcode"] == (
        "M_INVALID_PARAM"
    )
