"""GET /sync over HTTP: initial and incremental syncs, timelines, state across gaps, invites,
leaves, long-polls, full_state, lazy loading and resuming after a restart."""

import asyncio
import json
import time
from typing import Any
from urllib.parse import quote

import pytest

from tests.api.account_support import V3, serve_accounts
from tests.api.conftest import FakeClock, ServeFn
from tests.api.openapi import validate_response
from tests.api.room_support import User, new_user


class RealSleepClock(FakeClock):
    """Fake wall time, real waiting: long-polls really wait here."""

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@pytest.fixture
def clock() -> FakeClock:
    return RealSleepClock()


async def sync(user: User, status: int = 200, *, check: bool = True, **params: Any) -> Any:
    if isinstance(params.get("filter"), dict):
        params["filter"] = json.dumps(params["filter"])
    for key, value in list(params.items()):
        if isinstance(value, bool):
            params[key] = "true" if value else "false"
    body = await user.request("GET", f"{V3}/sync", params=params, status=status)
    if status == 200 and check:
        validate_response(body, "client-server/sync.yaml", "/sync", "get", 200)
    return body


def timeline(body: Any, room_id: str, section: str = "join") -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = body["rooms"][section][room_id]["timeline"]["events"]
    return events


def state(body: Any, room_id: str, section: str = "join") -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = body["rooms"][section][room_id]["state"]["events"]
    return events


def bodies(events: list[dict[str, Any]]) -> list[str]:
    return [e["content"]["body"] for e in events if e["type"] == "m.room.message"]


async def test_initial_then_incremental(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    room_id = await alice.create_room(name="Room", preset="private_chat")
    await alice.send(room_id, "one")
    first = await sync(alice)
    room = first["rooms"]["join"][room_id]
    assert bodies(timeline(first, room_id)) == ["one"]
    # The state at the start of the timeline plus the timeline give the whole room.
    types = {e["type"] for e in state(first, room_id)} | {
        e["type"] for e in timeline(first, room_id)
    }
    assert {"m.room.create", "m.room.member", "m.room.name", "m.room.power_levels"} <= types
    assert room["summary"]["m.joined_member_count"] == 1
    assert room["timeline"]["events"][-1]["unsigned"]["transaction_id"] == "t1"
    assert "room_id" not in room["timeline"]["events"][-1]
    # Nothing new: an incremental sync without timeout returns at once, without the room.
    again = await sync(alice, since=first["next_batch"])
    assert room_id not in again["rooms"]["join"]
    await alice.send(room_id, "two")
    second = await sync(alice, since=again["next_batch"])
    assert bodies(timeline(second, room_id)) == ["two"]
    assert state(second, room_id) == []
    assert second["rooms"]["join"][room_id]["timeline"]["limited"] is False


async def test_limited_timeline_prev_batch_and_gap_state(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    room_id = await alice.create_room(preset="private_chat")
    token = (await sync(alice))["next_batch"]
    topic_id = await alice.put_state(room_id, "m.room.topic", {"topic": "in the gap"})
    for n in range(5):
        await alice.send(room_id, f"m{n}")
    body = await sync(alice, since=token, filter={"room": {"timeline": {"limit": 2}}})
    room = body["rooms"]["join"][room_id]
    assert bodies(room["timeline"]["events"]) == ["m3", "m4"]
    assert room["timeline"]["limited"] is True
    # The topic changed in the gap between since and the timeline: it is in state.
    assert [e["event_id"] for e in room["state"]["events"]] == [topic_id]
    # prev_batch continues backwards with /messages.
    page = await alice.messages(room_id, **{"from": room["timeline"]["prev_batch"], "limit": 3})
    assert bodies(page["chunk"]) == ["m2", "m1", "m0"]
    # use_state_after: the state at the end of the timeline, state omitted.
    after = await sync(
        alice, since=token, use_state_after=True, filter={"room": {"timeline": {"limit": 2}}}
    )
    joined = after["rooms"]["join"][room_id]
    assert "state" not in joined
    assert [e["event_id"] for e in joined["state_after"]["events"]] == [topic_id]


async def test_state_changes_in_timeline_are_not_repeated(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    room_id = await alice.create_room(preset="private_chat")
    token = (await sync(alice))["next_batch"]
    name_id = await alice.put_state(room_id, "m.room.name", {"name": "New"})
    body = await sync(alice, since=token)
    assert [e["event_id"] for e in timeline(body, room_id)] == [name_id]
    assert state(body, room_id) == []


async def test_join_invite_leave(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(name="Shared", preset="private_chat")
    bob_token = (await sync(bob))["next_batch"]
    await alice.invite(room_id, bob.user_id)
    invited = await sync(bob, since=bob_token)
    invite_state = invited["rooms"]["invite"][room_id]["invite_state"]["events"]
    pairs = {(e["type"], e["state_key"]) for e in invite_state}
    assert {("m.room.create", ""), ("m.room.name", ""), ("m.room.member", bob.user_id)} <= pairs
    assert room_id not in invited["rooms"]["join"]
    # Joining: the room comes with its full state (newly joined).
    await bob.join(room_id)
    joined = await sync(bob, since=invited["next_batch"])
    room = joined["rooms"]["join"][room_id]
    everything = room["state"]["events"] + room["timeline"]["events"]
    assert ("m.room.create", "") in {(e["type"], e.get("state_key")) for e in everything}
    assert room["summary"]["m.joined_member_count"] == 2
    assert room["summary"]["m.heroes"] == [alice.user_id]
    assert room_id not in joined["rooms"]["invite"]
    # Alice sees Bob's join.
    await alice.send(room_id, "welcome")
    await bob.leave(room_id)
    await alice.send(room_id, "after bob left")
    left = await sync(bob, since=joined["next_batch"])
    assert room_id not in left["rooms"]["join"]
    events = timeline(left, room_id, "leave")
    assert bodies(events) == ["welcome"]
    assert events[-1]["type"] == "m.room.member" and events[-1]["content"]["membership"] == "leave"
    # A later sync does not list the room again; an initial one only with include_leave.
    later = await sync(bob, since=left["next_batch"])
    assert room_id not in later["rooms"]["leave"]
    assert room_id not in (await sync(bob))["rooms"]["leave"]
    archived = await sync(bob, filter={"room": {"include_leave": True}})
    assert bodies(timeline(archived, room_id, "leave")) == ["welcome"]


async def test_long_poll_wakes_on_send(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    room_id = await alice.create_room(preset="private_chat")
    token = (await sync(alice))["next_batch"]
    started = time.monotonic()
    poll = asyncio.ensure_future(sync(alice, since=token, timeout=20000))
    await asyncio.sleep(0.2)
    assert not poll.done()
    await alice.send(room_id, "wake up")
    body = await asyncio.wait_for(poll, 10)
    # Woken by the event, long before the 20 s timeout.
    assert time.monotonic() - started < 10
    assert bodies(timeline(body, room_id)) == ["wake up"]


async def test_long_poll_wakes_on_invite_and_account_data(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="private_chat")
    token = (await sync(bob))["next_batch"]
    poll = asyncio.ensure_future(sync(bob, since=token, timeout=20000))
    await asyncio.sleep(0.2)
    await alice.invite(room_id, bob.user_id)
    body = await asyncio.wait_for(poll, 10)
    assert room_id in body["rooms"]["invite"]
    poll = asyncio.ensure_future(sync(bob, since=body["next_batch"], timeout=20000))
    await asyncio.sleep(0.2)
    assert not poll.done()
    path = f"{V3}/user/{quote(bob.user_id)}/account_data/org.example.x"
    await bob.request("PUT", path, json={"a": 1})
    body = await asyncio.wait_for(poll, 10)
    assert body["account_data"]["events"] == [{"type": "org.example.x", "content": {"a": 1}}]


async def test_timeout_returns_empty(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    await alice.create_room(preset="private_chat")
    token = (await sync(alice))["next_batch"]
    started = time.monotonic()
    body = await sync(alice, since=token, timeout=300)
    assert time.monotonic() - started >= 0.25
    assert body["rooms"]["join"] == {}
    assert body["account_data"]["events"] == []
    assert body["next_batch"] == token


async def test_full_state(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    room_id = await alice.create_room(name="R", preset="private_chat")
    token = (await sync(alice))["next_batch"]
    started = time.monotonic()
    body = await sync(alice, since=token, full_state=True, timeout=20000)
    assert time.monotonic() - started < 10
    assert timeline(body, room_id) == []
    assert {"m.room.create", "m.room.name", "m.room.member"} <= {
        e["type"] for e in state(body, room_id)
    }


async def test_lazy_loading_members(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    carol = await new_user(client, "carol")
    room_id = await alice.create_room(preset="public_chat", name="Lazy")
    await bob.join(room_id)
    await carol.join(room_id)
    for n in range(3):
        await alice.send(room_id, f"a{n}")
    await bob.send(room_id, "from bob")
    lazy = {"room": {"state": {"lazy_load_members": True}, "timeline": {"limit": 2}}}
    body = await sync(carol, filter=lazy)
    members = {e["state_key"] for e in state(body, room_id) if e["type"] == "m.room.member"}
    # Senders of the timeline (alice, bob), carol herself; heroes are alice and bob.
    assert members == {alice.user_id, bob.user_id, carol.user_id}
    assert any(e["type"] == "m.room.name" for e in state(body, room_id))
    # Incremental: alice's member event was sent already (redundant), unless asked for.
    await alice.send(room_id, "again")
    later = await sync(carol, since=body["next_batch"], filter=lazy)
    assert [e for e in state(later, room_id) if e["type"] == "m.room.member"] == []
    redundant = {
        "room": {
            "state": {"lazy_load_members": True, "include_redundant_members": True},
            "timeline": {"limit": 2},
        }
    }
    again = await sync(carol, since=body["next_batch"], filter=redundant)
    assert {e["state_key"] for e in state(again, room_id)} == {alice.user_id}
    # Without lazy loading every member is in the state of an initial sync.
    full = await sync(carol, filter={"room": {"timeline": {"limit": 2}}})
    assert {e["state_key"] for e in state(full, room_id) if e["type"] == "m.room.member"} == {
        alice.user_id,
        bob.user_id,
        carol.user_id,
    }


async def test_filters_by_id_and_inline(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    room_id = await alice.create_room(preset="private_chat")
    await alice.send(room_id, "text")
    await alice.send(room_id, event_type="org.example.custom", content={"x": 1})
    only_custom = {"room": {"timeline": {"types": ["org.example.*"]}}}
    created = await alice.request(
        "POST", f"{V3}/user/{quote(alice.user_id)}/filter", json=only_custom
    )
    by_id = await sync(alice, filter=created["filter_id"])
    assert [e["type"] for e in timeline(by_id, room_id)] == ["org.example.custom"]
    inline = await sync(alice, filter={"room": {"rooms": ["!other:test.example"]}})
    assert inline["rooms"]["join"] == {}
    # event_fields leaves out keys the schema requires: not validated against it.
    fields = await sync(alice, check=False, filter={"event_fields": ["type", "content.body"]})
    assert timeline(fields, room_id)[-2] == {"type": "m.room.message", "content": {"body": "text"}}


async def test_bad_parameters(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    cases: list[dict[str, Any]] = [
        {"since": "nonsense"},
        {"since": "s1_2"},
        {"since": "s01_0_0_0_0_0_0"},
        {"timeout": "-1"},
        {"timeout": "soon"},
        {"full_state": "yes"},
        {"set_presence": "busy"},
    ]
    for params in cases:
        body = await sync(alice, status=400, **params)
        assert body["errcode"] == "M_INVALID_PARAM", params
    assert (await sync(alice, status=404, filter="12345"))["errcode"] == "M_NOT_FOUND"
    assert (await sync(alice, status=400, filter="{nope"))["errcode"] == "M_NOT_JSON"
    bad = await sync(alice, status=400, filter={"room": {"timeline": {"limit": "x"}}})
    assert bad["errcode"] == "M_BAD_JSON"
    await alice.request("GET", f"{V3}/sync", status=200, params={"set_presence": "offline"})


async def test_resume_after_restart(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    room_id = await alice.create_room(preset="private_chat")
    token = (await sync(alice))["next_batch"]
    await alice.send(room_id, "before restart")
    path = f"{V3}/user/{quote(alice.user_id)}/account_data/org.example.kept"
    await alice.request("PUT", path, json={"k": True})
    # A second server process on the same database: the token is still valid.
    restarted = await serve_accounts(serve)
    again = User(restarted, {**_login_body(alice)})
    body = await sync(again, since=token)
    assert bodies(timeline(body, room_id)) == ["before restart"]
    assert {"type": "org.example.kept", "content": {"k": True}} in body["account_data"]["events"]
    await again.send(room_id, "after restart", txn="after-restart")
    later = await sync(again, since=body["next_batch"])
    assert bodies(timeline(later, room_id)) == ["after restart"]


def _login_body(user: User) -> dict[str, Any]:
    return {"user_id": user.user_id, "access_token": user.token, "device_id": user.device_id}
