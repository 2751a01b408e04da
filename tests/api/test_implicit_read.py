"""Sending an event is an implicit read (spec: Client-Server API, "Receiving notifications":
"When the user updates their read receipt (either by using the API or by sending an event),
notifications prior to and including that event MUST be marked as read"), over HTTP on both
engines."""

from typing import Any
from urllib.parse import quote

from tests.api.account_support import V3, serve_accounts
from tests.api.conftest import ServeFn
from tests.api.room_support import User, new_user
from tests.api.test_push import counts, sync

THREADED = {"room": {"timeline": {"unread_thread_notifications": True}}}


def in_thread(root: str, body: str) -> dict[str, Any]:
    return {
        "msgtype": "m.text",
        "body": body,
        "m.relates_to": {"rel_type": "m.thread", "event_id": root},
    }


async def three_users(serve: ServeFn) -> tuple[User, User, User, str]:
    client = await serve_accounts(serve)
    alice, bob = await new_user(client, "alice"), await new_user(client, "bob")
    carol = await new_user(client, "carol")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    await carol.join(room_id)
    return alice, bob, carol, room_id


def receipts_of(body: Any, room_id: str) -> list[Any]:
    room = body["rooms"]["join"].get(room_id, {})
    return [e for e in room.get("ephemeral", {}).get("events", []) if e["type"] == "m.receipt"]


async def test_own_send_resets_counts(serve: ServeFn) -> None:
    alice, bob, carol, room_id = await three_users(serve)
    await alice.send(room_id, "one")
    mention = {"msgtype": "m.text", "body": "two", "m.mentions": {"user_ids": [bob.user_id]}}
    await alice.send(room_id, content=mention)
    first = await sync(bob)
    assert counts(first, room_id)["unread"] == {"notification_count": 2, "highlight_count": 1}
    carol_before = counts(await sync(carol), room_id)["unread"]
    assert carol_before["notification_count"] == 2
    alice_first = await sync(alice)
    assert counts(alice_first, room_id)["unread"]["notification_count"] == 0

    sent = await bob.send(room_id, "I have read all that")
    after = await sync(bob, since=first["next_batch"])
    assert sent in [e["event_id"] for e in after["rooms"]["join"][room_id]["timeline"]["events"]]
    assert counts(after, room_id)["unread"] == {"notification_count": 0, "highlight_count": 0}
    listed = await bob.request("GET", f"{V3}/notifications")
    assert [n["read"] for n in listed["notifications"]] == [True, True]
    # Other users: Carol's counts are untouched but for Bob's message; Alice gets his message.
    assert counts(await sync(carol), room_id)["unread"] == {
        "notification_count": 3,
        "highlight_count": 0,
    }
    alice_after = await sync(alice, since=alice_first["next_batch"])
    assert counts(alice_after, room_id)["unread"]["notification_count"] == 1
    # No receipt is sent to anyone for it (nor to Bob himself).
    assert receipts_of(alice_after, room_id) == []
    assert receipts_of(after, room_id) == []
    # Later notifications count again from Bob's message on.
    await alice.send(room_id, "three")
    assert counts(await sync(bob), room_id)["unread"]["notification_count"] == 1


async def test_own_send_reads_its_thread_only(serve: ServeFn) -> None:
    alice, bob, carol, room_id = await three_users(serve)
    root = await alice.send(room_id, "root")
    await alice.send(room_id, content=in_thread(root, "first reply"))
    await alice.send(room_id, content=in_thread(root, "second reply"))
    await alice.send(room_id, "main again")
    body = await sync(bob, filter=THREADED)
    assert counts(body, room_id) == {
        "unread": {"notification_count": 2, "highlight_count": 0},
        "threads": {root: {"notification_count": 2, "highlight_count": 0}},
    }
    # A reply in the thread reads the thread, not the main timeline.
    await bob.send(room_id, content=in_thread(root, "bob replies"))
    assert counts(await sync(bob, filter=THREADED), room_id) == {
        "unread": {"notification_count": 2, "highlight_count": 0},
        "threads": {},
    }
    # Alice answers in the thread and in the main timeline; a main timeline message from Bob
    # reads the main timeline and leaves the thread's new notification.
    await alice.send(room_id, content=in_thread(root, "third reply"))
    await alice.send(room_id, "main once more")
    await bob.send(room_id, "bob in the main timeline")
    assert counts(await sync(bob, filter=THREADED), room_id) == {
        "unread": {"notification_count": 0, "highlight_count": 0},
        "threads": {root: {"notification_count": 1, "highlight_count": 0}},
    }
    assert counts(await sync(bob), room_id)["unread"]["notification_count"] == 1
    # Carol sent nothing: everything still counts for her.
    assert counts(await sync(carol), room_id)["unread"]["notification_count"] == 8


async def test_state_event_and_receipt_together(serve: ServeFn) -> None:
    """Any event the user sends reads (a state event too), and an explicit receipt before
    it changes nothing about that."""
    alice, bob, _carol, room_id = await three_users(serve)
    first = await alice.send(room_id, "one")
    await alice.send(room_id, "two")
    await bob.request("POST", f"{V3}/rooms/{quote(room_id)}/receipt/m.read/{quote(first)}", json={})
    assert counts(await sync(bob), room_id)["unread"]["notification_count"] == 1
    member = {"membership": "join", "displayname": "Bobby"}
    await bob.put_state(room_id, "m.room.member", member, state_key=bob.user_id)
    assert counts(await sync(bob), room_id)["unread"]["notification_count"] == 0
