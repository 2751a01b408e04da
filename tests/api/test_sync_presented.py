"""What an incremental /sync serves for each timeline event (Client-Server API, "Syncing",
"Transaction identifiers", "Redactions", "Aggregations of child events"): the short-cuts that
skip reads for plain messages (transaction IDs only for the user's own events, bundled
aggregations only for events something relates to, a room's version read once) must still
serve each of those whenever it applies."""

from typing import Any
from urllib.parse import quote

import pytest

from tests.api.account_support import V3, serve_accounts
from tests.api.conftest import FakeClock, ServeFn
from tests.api.room_support import User, new_user
from tests.api.test_sync import RealSleepClock, sync, timeline


@pytest.fixture
def clock() -> FakeClock:
    return RealSleepClock()


def by_id(body: Any, room_id: str) -> dict[str, Any]:
    return {e["event_id"]: e for e in timeline(body, room_id)}


async def _pair(serve: ServeFn) -> tuple[User, User, str]:
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    return alice, bob, room_id


async def test_transaction_id_only_for_the_sending_device(serve: ServeFn) -> None:
    alice, bob, room_id = await _pair(serve)
    alice_since = (await sync(alice))["next_batch"]
    bob_since = (await sync(bob))["next_batch"]
    from_alice = await alice.send(room_id, "mine", txn="a-txn")
    from_bob = await bob.send(room_id, "yours", txn="b-txn")
    seen_by_alice = by_id(await sync(alice, since=alice_since), room_id)
    seen_by_bob = by_id(await sync(bob, since=bob_since), room_id)
    assert seen_by_alice[from_alice]["unsigned"]["transaction_id"] == "a-txn"
    assert "transaction_id" not in seen_by_alice[from_bob].get("unsigned", {})
    assert seen_by_bob[from_bob]["unsigned"]["transaction_id"] == "b-txn"
    assert "transaction_id" not in seen_by_bob[from_alice].get("unsigned", {})


async def test_redacted_and_edited_events_in_an_incremental_sync(serve: ServeFn) -> None:
    alice, bob, room_id = await _pair(serve)
    since = (await sync(bob))["next_batch"]
    plain = await alice.send(room_id, "plain")
    gone = await alice.send(room_id, "soon gone")
    edited = await alice.send(room_id, "typo")
    edit = await alice.send(
        room_id,
        content={
            "msgtype": "m.text",
            "body": "* fixed",
            "m.new_content": {"msgtype": "m.text", "body": "fixed"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": edited},
        },
    )
    redaction = await alice.request(
        "PUT", f"{V3}/rooms/{quote(room_id)}/redact/{quote(gone)}/r1", json={"reason": "oops"}
    )
    events = by_id(await sync(bob, since=since), room_id)
    assert events[plain]["content"]["body"] == "plain"
    assert "m.relations" not in events[plain].get("unsigned", {})
    assert events[gone]["content"] == {}
    assert events[gone]["unsigned"]["redacted_because"]["event_id"] == redaction["event_id"]
    bundled = events[edited]["unsigned"]["m.relations"]["m.replace"]
    assert bundled["event_id"] == edit
    # A later sync names the edit in the bundle of an event it serves again (full_state).
    full = by_id(await sync(bob, full_state=True), room_id)
    assert full[edited]["unsigned"]["m.relations"]["m.replace"]["event_id"] == edit


async def test_rooms_of_other_versions_in_incremental_syncs(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    old = await alice.create_room(room_version="1")
    new = await alice.create_room(room_version="11")
    since = (await sync(alice))["next_batch"]
    for _ in range(2):
        await alice.send(old, "in v1")
        await alice.send(new, "in v11")
        body = await sync(alice, since=since)
        since = body["next_batch"]
        assert [e["content"]["body"] for e in timeline(body, old)] == ["in v1"]
        assert [e["content"]["body"] for e in timeline(body, new)] == ["in v11"]
