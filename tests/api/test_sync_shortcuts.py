"""The short-cuts of an incremental /sync (Client-Server API, "Syncing"): sections whose
stream has not moved are skipped and joined rooms without new events are not looked at; what
each skipped part would have sent must still arrive whenever its stream does move, a long-poll
must still wake for it, and newly joined rooms and ``full_state`` still get everything."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import pytest

from tests.api.account_support import V3, serve_accounts
from tests.api.conftest import FakeClock, ServeFn
from tests.api.e2e_support import device_keys, device_signing_key, upload
from tests.api.room_support import User, new_user
from tests.api.test_sync import RealSleepClock, bodies, sync, timeline


@pytest.fixture
def clock() -> FakeClock:
    return RealSleepClock()


def ephemeral(body: Any, room_id: str, event_type: str) -> list[dict[str, Any]]:
    room = body["rooms"]["join"].get(room_id)
    if room is None:
        return []
    return [e for e in room["ephemeral"]["events"] if e["type"] == event_type]


async def _woken_by(user: User, since: str, action: Callable[[], Awaitable[Any]]) -> Any:
    """The body of a long-poll from ``since`` that ``action`` (run once it waits) wakes."""
    poll = asyncio.ensure_future(sync(user, since=since, timeout=20000))
    await asyncio.sleep(0.2)
    assert not poll.done()
    await action()
    return await asyncio.wait_for(poll, 10)


async def test_only_rooms_with_new_events_appear(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    quiet = await alice.create_room(preset="private_chat")
    busy = await alice.create_room(preset="private_chat")
    token = (await sync(alice))["next_batch"]
    await alice.send(busy, "news")
    body = await sync(alice, since=token)
    assert list(body["rooms"]["join"]) == [busy]
    assert bodies(timeline(body, busy)) == ["news"]
    assert body["rooms"]["join"][busy]["unread_notifications"] == {
        "notification_count": 0,
        "highlight_count": 0,
    }
    # Nothing at all moved: every section empty, the same token back.
    again = await sync(alice, since=body["next_batch"])
    assert again["rooms"]["join"] == {} and again["next_batch"] == body["next_batch"]
    assert again["device_lists"] == {"changed": [], "left": []}
    # full_state: every room again, the quiet one with its state.
    full = await sync(alice, since=body["next_batch"], full_state=True)
    assert set(full["rooms"]["join"]) == {quiet, busy}
    assert any(
        e["type"] == "m.room.create" for e in full["rooms"]["join"][quiet]["state"]["events"]
    )


async def test_each_unmoved_stream_still_wakes_and_appears(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice, bob = await new_user(client, "alice"), await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    event_id = await alice.send(room_id, "read me")
    token = (await sync(alice))["next_batch"]

    # A receipt in a room without new events.
    receipt = f"{V3}/rooms/{quote(room_id)}/receipt/m.read/{quote(event_id)}"
    body = await _woken_by(alice, token, lambda: bob.request("POST", receipt, json={}))
    assert ephemeral(body, room_id, "m.receipt")[0]["content"][event_id]["m.read"][bob.user_id]

    # Typing.
    typing = f"{V3}/rooms/{quote(room_id)}/typing/{quote(bob.user_id)}"
    body = await _woken_by(
        alice,
        body["next_batch"],
        lambda: bob.request("PUT", typing, json={"typing": True, "timeout": 10_000}),
    )
    assert ephemeral(body, room_id, "m.typing") == [
        {"type": "m.typing", "content": {"user_ids": [bob.user_id]}}
    ]

    # Room account data (a tag) and global account data.
    tag = f"{V3}/user/{quote(alice.user_id)}/rooms/{quote(room_id)}/tags/u.work"
    body = await _woken_by(alice, body["next_batch"], lambda: alice.request("PUT", tag, json={}))
    room_data = body["rooms"]["join"][room_id]["account_data"]["events"]
    assert room_data == [{"type": "m.tag", "content": {"tags": {"u.work": {}}}}]
    data = f"{V3}/user/{quote(alice.user_id)}/account_data/org.example.x"
    body = await _woken_by(alice, body["next_batch"], lambda: alice.request("PUT", data, json={}))
    assert body["account_data"]["events"] == [{"type": "org.example.x", "content": {}}]

    # A to-device message.
    to_device = f"{V3}/sendToDevice/m.test/t1"
    messages = {"messages": {alice.user_id: {alice.device_id: {"n": 1}}}}
    body = await _woken_by(
        alice, body["next_batch"], lambda: bob.request("PUT", to_device, json=messages)
    )
    assert [m["content"] for m in body["to_device"]["events"]] == [{"n": 1}]

    # A device list change of someone sharing the room.
    keys = device_keys(bob, device_signing_key(bob.device_id))
    body = await _woken_by(alice, body["next_batch"], lambda: upload(bob, device_keys=keys))
    assert body["device_lists"]["changed"] == [bob.user_id]

    # Presence.
    presence = f"{V3}/presence/{quote(bob.user_id)}/status"
    body = await _woken_by(
        alice,
        body["next_batch"],
        lambda: bob.request("PUT", presence, json={"presence": "unavailable"}),
    )
    assert [e["sender"] for e in body["presence"]["events"]] == [bob.user_id]


async def test_a_newly_joined_room_gets_sections_whose_streams_did_not_move(
    serve: ServeFn,
) -> None:
    client = await serve_accounts(serve)
    alice, bob = await new_user(client, "alice"), await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    event_id = await alice.send(room_id, "before bob")
    receipt = f"{V3}/rooms/{quote(room_id)}/receipt/m.read/{quote(event_id)}"
    await alice.request("POST", receipt, json={})
    typing = f"{V3}/rooms/{quote(room_id)}/typing/{quote(alice.user_id)}"
    await alice.request("PUT", typing, json={"typing": True, "timeout": 30_000})
    tag = f"{V3}/user/{quote(bob.user_id)}/rooms/{quote(room_id)}/tags/u.later"
    await bob.request("PUT", tag, json={})
    token = (await sync(bob))["next_batch"]
    # Only the events stream moves now: the receipt, typing and tag were there before.
    await bob.join(room_id)
    body = await sync(bob, since=token)
    assert ephemeral(body, room_id, "m.receipt")[0]["content"][event_id]["m.read"][alice.user_id]
    assert ephemeral(body, room_id, "m.typing")[0]["content"]["user_ids"] == [alice.user_id]
    room_data = body["rooms"]["join"][room_id]["account_data"]["events"]
    assert room_data == [{"type": "m.tag", "content": {"tags": {"u.later": {}}}}]
    # And the next sync, with nothing moved, sends none of it again.
    again = await sync(bob, since=body["next_batch"])
    assert room_id not in again["rooms"]["join"]


async def test_inline_filters_parsed_once_each_still_apply(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    room_id = await alice.create_room(preset="private_chat")
    for n in range(3):
        await alice.send(room_id, f"m{n}")
    for limit in (1, 2, 1, 3):
        body = await sync(alice, filter={"room": {"timeline": {"limit": limit}}})
        assert len(timeline(body, room_id)) == limit
    for _ in range(2):
        refused = await sync(alice, 400, filter={"room": {"timeline": {"limit": "x"}}})
        assert refused["errcode"] == "M_BAD_JSON"
