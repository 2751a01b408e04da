"""Typing notifications, receipts and read markers over HTTP, and their /sync sections."""

import json
from typing import Any
from urllib.parse import quote

from tests.api.account_support import V3, serve_accounts
from tests.api.conftest import FakeClock, ServeFn
from tests.api.openapi import error_schema, validate, validate_response
from tests.api.room_support import User, new_user


async def sync(user: User, **params: Any) -> Any:
    if isinstance(params.get("filter"), dict):
        params["filter"] = json.dumps(params["filter"])
    body = await user.request("GET", f"{V3}/sync", params=params)
    validate_response(body, "client-server/sync.yaml", "/sync", "get", 200)
    return body


def ephemeral(body: Any, room_id: str, event_type: str) -> list[dict[str, Any]]:
    room = body["rooms"]["join"].get(room_id)
    if room is None:
        return []
    return [e for e in room["ephemeral"]["events"] if e["type"] == event_type]


async def two_users_in_a_room(serve: ServeFn) -> tuple[User, User, str]:
    client = await serve_accounts(serve)
    alice, bob = await new_user(client, "alice"), await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    return alice, bob, room_id


def typing_path(room_id: str, user_id: str) -> str:
    return f"{V3}/rooms/{quote(room_id)}/typing/{quote(user_id)}"


def receipt_path(room_id: str, receipt_type: str, event_id: str) -> str:
    return f"{V3}/rooms/{quote(room_id)}/receipt/{receipt_type}/{quote(event_id)}"


async def test_typing_in_sync_and_expiry(serve: ServeFn, clock: FakeClock) -> None:
    alice, bob, room_id = await two_users_in_a_room(serve)
    first = await sync(bob)
    assert ephemeral(first, room_id, "m.typing") == []
    body = await alice.request(
        "PUT", typing_path(room_id, alice.user_id), json={"typing": True, "timeout": 10_000}
    )
    validate_response(
        body, "client-server/typing.yaml", "/rooms/{roomId}/typing/{userId}", "put", 200
    )
    second = await sync(bob, since=first["next_batch"])
    assert ephemeral(second, room_id, "m.typing") == [
        {"type": "m.typing", "content": {"user_ids": [alice.user_id]}}
    ]
    # An initial sync shows who types now.
    assert ephemeral(await sync(bob), room_id, "m.typing")[0]["content"]["user_ids"] == [
        alice.user_id
    ]
    # Nothing changed: nothing sent again.
    third = await sync(bob, since=second["next_batch"])
    assert ephemeral(third, room_id, "m.typing") == []
    # The timeout passes: the user stops typing, and that is a change.
    clock.now += 10_001
    fourth = await sync(bob, since=third["next_batch"])
    assert ephemeral(fourth, room_id, "m.typing") == [
        {"type": "m.typing", "content": {"user_ids": []}}
    ]


async def test_typing_timeout_capped_and_stop(serve: ServeFn, clock: FakeClock) -> None:
    alice, bob, room_id = await two_users_in_a_room(serve)
    # Asking for an hour gets at most 120 s (Synapse's cap).
    await alice.request(
        "PUT", typing_path(room_id, alice.user_id), json={"typing": True, "timeout": 3_600_000}
    )
    await bob.request("PUT", typing_path(room_id, bob.user_id), json={"typing": True})
    body = await sync(alice)
    assert ephemeral(body, room_id, "m.typing")[0]["content"]["user_ids"] == sorted(
        [alice.user_id, bob.user_id]
    )
    clock.now += 30_001  # the default timeout is 30 s
    body = await sync(alice)
    assert ephemeral(body, room_id, "m.typing")[0]["content"]["user_ids"] == [alice.user_id]
    await alice.request("PUT", typing_path(room_id, alice.user_id), json={"typing": False})
    assert ephemeral(await sync(alice), room_id, "m.typing") == []
    await alice.request(
        "PUT", typing_path(room_id, alice.user_id), json={"typing": True, "timeout": 3_600_000}
    )
    clock.now += 120_001
    assert ephemeral(await sync(alice), room_id, "m.typing") == []


async def test_typing_errors(serve: ServeFn) -> None:
    alice, bob, room_id = await two_users_in_a_room(serve)
    carol = await new_user(alice.client, "carol")
    cases = [
        (alice, typing_path(room_id, bob.user_id), {"typing": True}, 403, "M_FORBIDDEN"),
        (carol, typing_path(room_id, carol.user_id), {"typing": True}, 403, "M_FORBIDDEN"),
        (alice, typing_path(room_id, alice.user_id), {}, 400, "M_MISSING_PARAM"),
        (alice, typing_path(room_id, alice.user_id), {"typing": "yes"}, 400, "M_BAD_JSON"),
        (
            alice,
            typing_path(room_id, alice.user_id),
            {"typing": True, "timeout": "1"},
            400,
            "M_BAD_JSON",
        ),
        (
            alice,
            typing_path(room_id, alice.user_id),
            {"typing": True, "timeout": -5},
            400,
            "M_INVALID_PARAM",
        ),
    ]
    for user, path, body, status, errcode in cases:
        error = await user.request("PUT", path, json=body, status=status)
        assert error["errcode"] == errcode, (path, body, error)
        validate(error, error_schema())
    response = await alice.client.put(typing_path(room_id, alice.user_id), json={"typing": True})
    assert response.status == 401


async def test_receipts_in_sync_private_only_to_owner(serve: ServeFn) -> None:
    alice, bob, room_id = await two_users_in_a_room(serve)
    first_event = await alice.send(room_id, "one")
    second_event = await alice.send(room_id, "two")
    alice_first, bob_first = await sync(alice), await sync(bob)
    body = await bob.request("POST", receipt_path(room_id, "m.read", first_event), json={})
    validate_response(
        body,
        "client-server/receipts.yaml",
        "/rooms/{roomId}/receipt/{receiptType}/{eventId}",
        "post",
        200,
    )
    await bob.request("POST", receipt_path(room_id, "m.read.private", second_event), json={})
    seen_by_alice = ephemeral(
        await sync(alice, since=alice_first["next_batch"]), room_id, "m.receipt"
    )
    assert len(seen_by_alice) == 1
    content = seen_by_alice[0]["content"]
    assert list(content) == [first_event]
    assert set(content[first_event]["m.read"]) == {bob.user_id}
    assert isinstance(content[first_event]["m.read"][bob.user_id]["ts"], int)
    seen_by_bob = ephemeral(await sync(bob, since=bob_first["next_batch"]), room_id, "m.receipt")
    assert seen_by_bob[0]["content"][second_event]["m.read.private"][bob.user_id]["ts"] > 0
    # Initial syncs too: Alice never sees the private receipt.
    initial = ephemeral(await sync(alice), room_id, "m.receipt")[0]["content"]
    assert second_event not in initial and first_event in initial
    # A receipt behind the current one changes nothing.
    await bob.request("POST", receipt_path(room_id, "m.read", second_event), json={})
    await bob.request("POST", receipt_path(room_id, "m.read", first_event), json={})
    latest = ephemeral(await sync(alice), room_id, "m.receipt")[0]["content"]
    assert bob.user_id in latest[second_event]["m.read"] and first_event not in latest


async def test_threaded_receipts(serve: ServeFn) -> None:
    alice, bob, room_id = await two_users_in_a_room(serve)
    root = await alice.send(room_id, "root")
    reply = await alice.send(
        room_id,
        content={
            "msgtype": "m.text",
            "body": "in thread",
            "m.relates_to": {"rel_type": "m.thread", "event_id": root},
        },
    )
    reaction = await alice.send(
        room_id,
        event_type="m.reaction",
        content={"m.relates_to": {"rel_type": "m.annotation", "event_id": reply, "key": "x"}},
    )
    await bob.request("POST", receipt_path(room_id, "m.read", reply), json={"thread_id": root})
    # A reaction to a thread event is in the thread too (following the relation).
    await bob.request("POST", receipt_path(room_id, "m.read", reaction), json={"thread_id": root})
    # The thread root is in the main timeline.
    await bob.request("POST", receipt_path(room_id, "m.read", root), json={"thread_id": "main"})
    content = ephemeral(await sync(alice), room_id, "m.receipt")[0]["content"]
    assert content[reaction]["m.read"][bob.user_id]["thread_id"] == root
    assert content[root]["m.read"][bob.user_id]["thread_id"] == "main"
    bad = [
        ({"thread_id": "main"}, reply),  # the event is in a thread
        ({"thread_id": reply}, root),  # not in that thread
        ({"thread_id": ""}, root),
        ({"thread_id": 5}, root),
        ({"thread_id": "nonsense"}, root),
    ]
    for body, event_id in bad:
        error = await bob.request(
            "POST", receipt_path(room_id, "m.read", event_id), json=body, status=400
        )
        assert error["errcode"] == "M_INVALID_PARAM", body
    error = await bob.request(
        "POST", receipt_path(room_id, "m.fully_read", root), json={"thread_id": "main"}, status=400
    )
    assert error["errcode"] == "M_INVALID_PARAM"


async def test_receipt_errors(serve: ServeFn) -> None:
    alice, bob, room_id = await two_users_in_a_room(serve)
    event_id = await alice.send(room_id)
    carol = await new_user(alice.client, "carol")
    other_room = await carol.create_room()
    other_event = await carol.send(other_room)
    cases = [
        (bob, receipt_path(room_id, "m.nope", event_id), 400, "M_INVALID_PARAM"),
        (bob, receipt_path(room_id, "m.read", "$unknown:test.example"), 404, "M_NOT_FOUND"),
        (bob, receipt_path(room_id, "m.read", other_event), 404, "M_NOT_FOUND"),
        (bob, receipt_path(room_id, "m.read", "not-an-event"), 400, "M_INVALID_PARAM"),
        (carol, receipt_path(room_id, "m.read", event_id), 403, "M_FORBIDDEN"),
    ]
    for user, path, status, errcode in cases:
        error = await user.request("POST", path, json={}, status=status)
        assert error["errcode"] == errcode, path
    # Old clients send no body at all.
    response = await bob.client.post(receipt_path(room_id, "m.read", event_id), headers=bob.headers)
    assert response.status == 200
    error = await bob.request(
        "POST", receipt_path(room_id, "m.read", event_id), data=b"[1]", status=400
    )
    assert error["errcode"] == "M_BAD_JSON"


async def test_read_markers(serve: ServeFn) -> None:
    alice, bob, room_id = await two_users_in_a_room(serve)
    one = await alice.send(room_id, "one")
    two = await alice.send(room_id, "two")
    first = await sync(bob)
    path = f"{V3}/rooms/{quote(room_id)}/read_markers"
    body = await bob.request(
        "POST", path, json={"m.fully_read": one, "m.read": one, "m.read.private": two}
    )
    validate_response(
        body, "client-server/read_markers.yaml", "/rooms/{roomId}/read_markers", "post", 200
    )
    after = await sync(bob, since=first["next_batch"])
    room = after["rooms"]["join"][room_id]
    assert {"type": "m.fully_read", "content": {"event_id": one}} in room["account_data"]["events"]
    receipts = ephemeral(after, room_id, "m.receipt")[0]["content"]
    assert bob.user_id in receipts[one]["m.read"]
    assert bob.user_id in receipts[two]["m.read.private"]
    # m.fully_read through the receipt endpoint is the read marker, not a receipt.
    await bob.request("POST", receipt_path(room_id, "m.fully_read", two), json={})
    marker = await bob.request(
        "GET", f"{V3}/user/{quote(bob.user_id)}/rooms/{quote(room_id)}/account_data/m.fully_read"
    )
    assert marker == {"event_id": two}
    assert ephemeral(await sync(alice), room_id, "m.receipt")[0]["content"].get(two) is None
    # Every key is optional; wrong types and unknown events are refused.
    await bob.request("POST", path, json={})
    assert (await bob.request("POST", path, json={"m.read": 5}, status=400))["errcode"] == (
        "M_BAD_JSON"
    )
    error = await bob.request("POST", path, json={"m.fully_read": "$nope:x"}, status=404)
    assert error["errcode"] == "M_NOT_FOUND"
