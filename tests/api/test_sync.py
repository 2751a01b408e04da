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


async def sync(user: User, status: int = 200, **params: Any) -> Any:
    if isinstance(params.get("filter"), dict):
        params["filter"] = json.dumps(params["filter"])
    for key, value in list(params.items()):
        if isinstance(value, bool):
            params[key] = "true" if value else "false"
    body = await user.request("GET", f"{V3}/sync", params=params, status=status)
    if status == 200:
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
