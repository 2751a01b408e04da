"""Sending, redaction, membership and every read of a room over HTTP, on both engines."""

from typing import Any
from urllib.parse import quote

from tests.api.account_support import V3, serve_accounts
from tests.api.conftest import ServeFn
from tests.api.openapi import error_schema, validate, validate_response
from tests.api.room_support import V1, User, new_user

ROOMS = "client-server/rooms.yaml"


async def _two(serve: ServeFn) -> tuple[User, User]:
    client = await serve_accounts(serve)
    return await new_user(client, "alice"), await new_user(client, "bob")


def room(room_id: str) -> str:
    return f"{V3}/rooms/{quote(room_id)}"


async def test_transaction_ids_are_idempotent_per_device(serve: ServeFn) -> None:
    alice, _ = await _two(serve)
    room_id = await alice.create_room()
    first = await alice.send(room_id, "once", txn="abc")
    again = await alice.send(room_id, "twice", txn="abc")
    assert first == again
    other = await alice.send(room_id, "other", txn="abd")
    assert other != first
    bodies = [e["content"].get("body") for e in (await alice.messages(room_id))["chunk"]]
    assert bodies.count("once") == 1 and "twice" not in bodies


async def test_redaction_serves_event_redacted(serve: ServeFn) -> None:
    alice, bob = await _two(serve)
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    event_id = await bob.send(room_id, "secret")
    # Bob's own redaction is allowed; a stranger's is not.
    redaction = await bob.request(
        "PUT", f"{room(room_id)}/redact/{quote(event_id)}/r1", json={"reason": "oops"}
    )
    validate_response(
        redaction,
        "client-server/redaction.yaml",
        "/rooms/{roomId}/redact/{eventId}/{txnId}",
        "put",
        200,
    )
    event = await alice.request("GET", f"{room(room_id)}/event/{quote(event_id)}")
    assert event["content"] == {}
    assert event["unsigned"]["redacted_because"]["event_id"] == redaction["event_id"]
    alice_event = await alice.send(room_id, "mine")
    body = await bob.request(
        "PUT", f"{room(room_id)}/redact/{quote(alice_event)}/r2", json={}, status=403
    )
    validate(body, error_schema())


async def test_history_visibility_joined_hides_earlier_events(serve: ServeFn) -> None:
    alice, bob = await _two(serve)
    room_id = await alice.create_room(preset="public_chat")
    await alice.put_state(room_id, "m.room.history_visibility", {"history_visibility": "joined"})
    before = await alice.send(room_id, "before bob")
    await bob.join(room_id)
    after = await alice.send(room_id, "after bob")
    ids = [e["event_id"] for e in (await bob.messages(room_id, limit=50))["chunk"]]
    assert after in ids and before not in ids
    await bob.request("GET", f"{room(room_id)}/event/{quote(before)}", status=404)
    await bob.request("GET", f"{room(room_id)}/context/{quote(before)}", status=404)
    # Bob leaves: he still sees what he saw, nothing sent afterwards.
    await bob.leave(room_id)
    later = await alice.send(room_id, "after bob left")
    ids = [e["event_id"] for e in (await bob.messages(room_id, limit=50))["chunk"]]
    assert after in ids and later not in ids
    # And a forgotten room disappears.
    await bob.request("POST", f"{room(room_id)}/forget", json={})
    await bob.messages(room_id, status=403)
    await bob.request("GET", f"{room(room_id)}/state", status=403)


async def test_shared_visibility_shows_history_to_joiners(serve: ServeFn) -> None:
    alice, bob = await _two(serve)
    room_id = await alice.create_room(preset="public_chat")
    before = await alice.send(room_id, "before bob")
    stranger = await bob.messages(room_id, status=403)
    validate(stranger, error_schema())
    await bob.join(room_id)
    ids = [e["event_id"] for e in (await bob.messages(room_id, limit=50))["chunk"]]
    assert before in ids


async def test_messages_pagination_both_directions(serve: ServeFn) -> None:
    alice, _ = await _two(serve)
    room_id = await alice.create_room()
    sent = [await alice.send(room_id, f"m{i}") for i in range(7)]
    filter_json = '{"types": ["m.room.message"]}'
    page = await alice.messages(room_id, limit=3, filter=filter_json)
    assert [e["event_id"] for e in page["chunk"]] == sent[::-1][:3]
    page2 = await alice.messages(room_id, limit=3, filter=filter_json, **{"from": page["end"]})
    assert [e["event_id"] for e in page2["chunk"]] == sent[::-1][3:6]
    page3 = await alice.messages(room_id, limit=3, filter=filter_json, **{"from": page2["end"]})
    assert [e["event_id"] for e in page3["chunk"]] == sent[:1]
    assert "end" not in page3
    forward = await alice.messages(room_id, dir="f", limit=100, filter=filter_json)
    assert [e["event_id"] for e in forward["chunk"]] == sent
    validate_response(
        forward, "client-server/message_pagination.yaml", "/rooms/{roomId}/messages", "get", 200
    )
    # Forwards from a backwards token continues after the events already seen.
    after = await alice.messages(room_id, dir="f", filter=filter_json, **{"from": page["end"]})
    assert [e["event_id"] for e in after["chunk"]] == sent[4:]
    # "to" bounds the page.
    bounded = await alice.messages(
        room_id, dir="b", filter=filter_json, to=page2["end"], **{"from": page["end"]}
    )
    assert [e["event_id"] for e in bounded["chunk"]] == sent[::-1][3:6]
    for bad in ({"dir": "x"}, {"limit": "abc"}, {"from": "nonsense"}, {"filter": "{"}):
        body = await alice.messages(room_id, status=400, **bad)
        validate(body, error_schema())
    lazy = await alice.messages(room_id, limit=2, filter='{"lazy_load_members": true}')
    assert [e["state_key"] for e in lazy["state"]] == [alice.user_id]


async def test_context(serve: ServeFn) -> None:
    alice, _ = await _two(serve)
    room_id = await alice.create_room()
    sent = [await alice.send(room_id, f"m{i}") for i in range(5)]
    body = await alice.request(
        "GET", f"{room(room_id)}/context/{quote(sent[2])}", params={"limit": "4"}
    )
    validate_response(
        body, "client-server/event_context.yaml", "/rooms/{roomId}/context/{eventId}", "get", 200
    )
    assert body["event"]["event_id"] == sent[2]
    assert [e["event_id"] for e in body["events_before"]] == [sent[1], sent[0]]
    assert [e["event_id"] for e in body["events_after"]] == [sent[3], sent[4]]
    assert any(e["type"] == "m.room.create" for e in body["state"])
    nxt = await alice.messages(room_id, dir="f", **{"from": body["end"]})
    assert nxt["chunk"] == []


async def test_members_and_joined_members(serve: ServeFn) -> None:
    alice, bob = await _two(serve)
    room_id = await alice.create_room(preset="private_chat")
    await alice.invite(room_id, bob.user_id)
    members = await alice.request("GET", f"{room(room_id)}/members")
    validate_response(members, "client-server/rooms.yaml", "/rooms/{roomId}/members", "get", 200)
    assert {e["state_key"]: e["content"]["membership"] for e in members["chunk"]} == {
        alice.user_id: "join",
        bob.user_id: "invite",
    }
    joined_only = await alice.request(
        "GET", f"{room(room_id)}/members", params={"membership": "join"}
    )
    assert [e["state_key"] for e in joined_only["chunk"]] == [alice.user_id]
    not_joined = await alice.request(
        "GET", f"{room(room_id)}/members", params={"not_membership": "join"}
    )
    assert [e["state_key"] for e in not_joined["chunk"]] == [bob.user_id]
    await alice.request("GET", f"{room(room_id)}/members", params={"membership": "x"}, status=400)
    joined = await alice.request("GET", f"{room(room_id)}/joined_members")
    validate_response(
        joined, "client-server/rooms.yaml", "/rooms/{roomId}/joined_members", "get", 200
    )
    assert list(joined["joined"]) == [alice.user_id]
    await bob.request("GET", f"{room(room_id)}/joined_members", status=403)
    await bob.join(room_id)
    rooms = await bob.request("GET", f"{V3}/joined_rooms")
    assert rooms == {"joined_rooms": [room_id]}


async def test_kick_ban_unban(serve: ServeFn) -> None:
    alice, bob = await _two(serve)
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    await alice.request("POST", f"{room(room_id)}/kick", json={"user_id": bob.user_id})
    await bob.join(room_id)
    await alice.request(
        "POST", f"{room(room_id)}/ban", json={"user_id": bob.user_id, "reason": "spam"}
    )
    await bob.join(room_id, status=403)
    await bob.request("POST", f"{room(room_id)}/kick", json={"user_id": alice.user_id}, status=403)
    await alice.request("POST", f"{room(room_id)}/unban", json={"user_id": bob.user_id})
    await bob.join(room_id)
    body = await alice.request("POST", f"{room(room_id)}/kick", json={}, status=400)
    assert body["errcode"] == "M_MISSING_PARAM"


async def test_state_endpoints(serve: ServeFn) -> None:
    alice, bob = await _two(serve)
    room_id = await alice.create_room(preset="public_chat")
    await alice.put_state(room_id, "org.example.thing", {"a": 1}, state_key="k")
    got = await alice.request("GET", f"{room(room_id)}/state/org.example.thing/k")
    assert got == {"a": 1}
    event = await alice.request(
        "GET", f"{room(room_id)}/state/org.example.thing/k", params={"format": "event"}
    )
    assert event["state_key"] == "k" and event["content"] == {"a": 1}
    nokey = await alice.request("GET", f"{room(room_id)}/state/m.room.join_rules")
    assert nokey == {"join_rule": "public"}
    missing = await alice.request("GET", f"{room(room_id)}/state/m.room.name/", status=404)
    validate(missing, error_schema())
    await bob.request("GET", f"{room(room_id)}/state", status=403)
    # Bob has too little power for state events.
    await bob.join(room_id)
    await bob.request("PUT", f"{room(room_id)}/state/m.room.name/", json={"name": "x"}, status=403)
    # prev_content of a replaced state event.
    await alice.put_state(room_id, "org.example.thing", {"a": 2}, state_key="k")
    event = await alice.request(
        "GET", f"{room(room_id)}/state/org.example.thing/k", params={"format": "event"}
    )
    assert event["unsigned"]["prev_content"] == {"a": 1}


async def test_timestamp_to_event(serve: ServeFn, clock: Any) -> None:
    alice, _ = await _two(serve)
    room_id = await alice.create_room()
    clock.now += 10_000
    first = await alice.send(room_id, "a")
    clock.now += 10_000
    second = await alice.send(room_id, "b")
    path = f"{V1}/rooms/{quote(room_id)}/timestamp_to_event"
    body = await alice.request("GET", path, params={"ts": str(clock.now - 5000), "dir": "f"})
    assert body["event_id"] == second
    body = await alice.request("GET", path, params={"ts": str(clock.now - 5000), "dir": "b"})
    assert body["event_id"] == first
    await alice.request("GET", path, params={"ts": str(clock.now + 1), "dir": "f"}, status=404)
    await alice.request("GET", path, params={"dir": "f"}, status=400)


async def test_unknown_room_and_event(serve: ServeFn) -> None:
    alice, _ = await _two(serve)
    room_id = await alice.create_room()
    await alice.request("GET", f"{room(room_id)}/event/$nope", status=404)
    await alice.request("GET", f"{room('!nope:test.example')}/state", status=403)
    await alice.join("!nope:test.example", status=404)
    await alice.join("#nope:test.example", status=404)
    await alice.send("!nope:test.example", status=404)
