"""The deprecated GET /initialSync and GET /events (also with room_id: peeking), on both engines."""

import asyncio
import time
from typing import Any
from urllib.parse import quote

import pytest

from tests.api.account_support import V3, serve_accounts
from tests.api.conftest import FakeClock, ServeFn
from tests.api.openapi import validate_response
from tests.api.room_support import User, new_user

OLD_SYNC = "client-server/old_sync.yaml"
PEEKING = "client-server/peeking_events.yaml"


class RealSleepClock(FakeClock):
    """Fake wall time, real waiting: long-polls really wait here."""

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@pytest.fixture
def clock() -> FakeClock:
    return RealSleepClock()


async def initial_sync(user: User, **params: str) -> Any:
    body = await user.request("GET", f"{V3}/initialSync", params=params)
    validate_response(body, OLD_SYNC, "/initialSync", "get", 200)
    return body


async def events(user: User, **params: str) -> Any:
    body = await user.request("GET", f"{V3}/events", params=params)
    validate_response(body, OLD_SYNC, "/events", "get", 200)
    return body


def by_room(body: Any) -> dict[str, Any]:
    return {room["room_id"]: room for room in body["rooms"]}


async def test_initial_sync(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice, bob = await new_user(client, "alice"), await new_user(client, "bob")
    joined = await alice.create_room(preset="public_chat", name="Joined", visibility="public")
    sent = [await alice.send(joined, f"m{i}") for i in range(3)]
    renamed = await alice.put_state(joined, "m.room.name", {"name": "Renamed"})
    invited = await bob.create_room(preset="private_chat")
    await bob.invite(invited, alice.user_id)
    left = await bob.create_room(preset="public_chat")
    await alice.join(left)
    await alice.send(left, "before leaving")
    await alice.leave(left)
    await alice.request(
        "PUT", f"{V3}/user/{quote(alice.user_id)}/account_data/org.example.cfg", json={"a": 1}
    )
    await alice.request(
        "PUT", f"{V3}/user/{quote(alice.user_id)}/rooms/{quote(joined)}/tags/work", json={}
    )

    body = await initial_sync(alice, limit="2")
    rooms = by_room(body)
    assert set(rooms) == {joined, invited}
    room = rooms[joined]
    assert room["membership"] == "join" and room["visibility"] == "public"
    # The latest two messages, oldest first, each naming its room.
    assert [e["event_id"] for e in room["messages"]["chunk"]] == [sent[2], renamed]
    assert all(e["room_id"] == joined for e in room["messages"]["chunk"])
    # The current state, including the state event of the timeline.
    names = [e for e in room["state"] if e["type"] == "m.room.name"]
    assert [e["event_id"] for e in names] == [renamed]
    assert any(e["type"] == "m.room.create" for e in room["state"])
    assert {"type": "m.tag", "content": {"tags": {"work": {}}}} in room["account_data"]
    # The start token pages back into earlier history.
    earlier = await alice.messages(joined, **{"from": room["messages"]["start"], "limit": "1"})
    assert [e["event_id"] for e in earlier["chunk"]] == [sent[1]]
    invite = rooms[invited]
    assert invite["membership"] == "invite"
    assert invite["invite"]["content"]["membership"] == "invite"
    assert invite["invite"]["state_key"] == alice.user_id and invite["invite"]["event_id"]
    assert {"type": "org.example.cfg", "content": {"a": 1}} in body["account_data"]
    assert isinstance(body["presence"], list)

    archived = by_room(await initial_sync(alice, archived="true"))
    assert archived[left]["membership"] == "leave"
    assert [e["content"].get("membership") for e in archived[left]["messages"]["chunk"]][-1] == (
        "leave"
    )
    for params in ({"archived": "yes"}, {"limit": "-1"}, {"limit": "many"}):
        refused = await alice.request("GET", f"{V3}/initialSync", params=params, status=400)
        assert refused["errcode"] == "M_INVALID_PARAM"


async def test_events_stream_from_initial_sync(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice, bob = await new_user(client, "alice"), await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    end = (await initial_sync(bob))["end"]
    # Nothing new since: an empty chunk at once with timeout=0, the same token back.
    nothing = await events(bob, **{"from": end, "timeout": "0"})
    assert nothing == {"chunk": [], "start": end, "end": end}
    first = await alice.send(room_id, "hello")
    body = await events(bob, **{"from": end, "timeout": "0"})
    assert body["start"] == end
    messages = [e for e in body["chunk"] if e["type"] == "m.room.message"]
    assert [(e["event_id"], e["room_id"]) for e in messages] == [(first, room_id)]
    # A long poll from the new end is woken by the next message.
    started = time.monotonic()
    poll = asyncio.ensure_future(events(bob, **{"from": body["end"], "timeout": "20000"}))
    await asyncio.sleep(0.2)
    assert not poll.done()
    second = await alice.send(room_id, "again")
    woken = await asyncio.wait_for(poll, 10)
    assert time.monotonic() - started < 10
    assert second in [e.get("event_id") for e in woken["chunk"]]
    # Without a token the stream starts now: earlier events are not replayed.
    now = await events(bob, timeout="0")
    assert not [e for e in now["chunk"] if e["type"] == "m.room.message"]
    for params in ({"from": "garbage"}, {"timeout": "soon"}, {"timeout": "-5"}):
        refused = await bob.request("GET", f"{V3}/events", params=params, status=400)
        assert refused["errcode"] == "M_INVALID_PARAM"


async def test_events_peeking_a_world_readable_room(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice, bob = await new_user(client, "alice"), await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    await alice.put_state(room_id, "m.room.history_visibility", {"history_visibility": "joined"})
    # Bob is no member and the history is not world readable: refused.
    refused = await bob.request(
        "GET", f"{V3}/events", params={"room_id": room_id, "timeout": "0"}, status=403
    )
    assert refused["errcode"] == "M_FORBIDDEN"
    await alice.put_state(
        room_id, "m.room.history_visibility", {"history_visibility": "world_readable"}
    )
    start = await bob.request("GET", f"{V3}/events", params={"room_id": room_id, "timeout": "0"})
    validate_response(start, PEEKING, "/events ", "get", 200)
    assert start["chunk"] == []
    poll = asyncio.ensure_future(
        bob.request(
            "GET",
            f"{V3}/events",
            params={"room_id": room_id, "from": start["end"], "timeout": "20000"},
        )
    )
    await asyncio.sleep(0.2)
    assert not poll.done()
    other = await alice.create_room(preset="public_chat")
    await alice.send(other, "elsewhere")
    await asyncio.sleep(0.2)
    assert not poll.done()
    sent = await alice.send(room_id, "peek at this")
    body = await asyncio.wait_for(poll, 10)
    validate_response(body, PEEKING, "/events ", "get", 200)
    assert [e["event_id"] for e in body["chunk"]] == [sent]
    assert body["chunk"][0]["room_id"] == room_id
    # From that end: nothing more.
    after = await bob.request(
        "GET", f"{V3}/events", params={"room_id": room_id, "from": body["end"], "timeout": "0"}
    )
    assert after["chunk"] == [] and after["end"] == body["end"]
    refused = await bob.request(
        "GET", f"{V3}/events", params={"room_id": "not-a-room", "timeout": "0"}, status=400
    )
    assert refused["errcode"] == "M_INVALID_PARAM"
