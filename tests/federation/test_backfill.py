"""History before the join arrives by backfill (Server-Server API, "Backfilling and retrieving
missing events"): a user of b.test joins a room of a.test that already has messages; paging
back with ``/messages`` past the join fetches the older events from a.test with ``/backfill``,
in order, down to the room's creation, and they never show up as new in ``/sync``."""

from typing import Any
from urllib.parse import quote

from myelin.storage import EventStore
from tests.federation.conftest import Federation
from tests.federation.remote_support import V3, Person, two_servers


async def messages(person: Person, room_id: str, **params: str) -> Any:
    return await person.request(
        "GET", f"{V3}/rooms/{quote(room_id)}/messages", params={"dir": "b", **params}
    )


async def page_back(person: Person, room_id: str, limit: int) -> list[dict[str, Any]]:
    """Every event ``/messages`` gives paging back from now, newest first."""
    events: list[dict[str, Any]] = []
    token: str | None = None
    for _ in range(50):
        params = {"limit": str(limit)}
        if token is not None:
            params["from"] = token
        page = await messages(person, room_id, **params)
        events.extend(page["chunk"])
        token = page.get("end")
        if token is None:
            return events
    raise AssertionError("pagination did not end")


async def test_history_before_the_join_arrives_by_backfill(federation: Federation) -> None:
    a, b = await two_servers(federation)
    async with federation.https() as http:
        alice = await Person(federation, a, http).register("alice")
        bob = await Person(federation, b, http).register("bob")
        room_id = await alice.create_room(preset="public_chat", name="History")
        texts = [f"old message {i}" for i in range(25)]
        for text in texts:
            await alice.send(room_id, text)
        await bob.sync()
        await bob.join(room_id, via=["a.test"])
        await bob.wait_for_member(room_id, bob.user_id, "join")
        await alice.wait_for_member(room_id, bob.user_id, "join")
        # Small pages: several backfills, each continuing where the last one stopped.
        events = await page_back(bob, room_id, limit=7)
        bodies = [e["content"]["body"] for e in events if e["type"] == "m.room.message"]
        assert bodies == list(reversed(texts))
        types = [e["type"] for e in events]
        assert types[0] == "m.room.member" and events[0]["state_key"] == bob.user_id
        assert types[-1] == "m.room.create"
        assert "m.room.name" in types and "m.room.power_levels" in types
        # Each event once, in the order a.test has them.
        ids = [e["event_id"] for e in events]
        assert len(ids) == len(set(ids))
        theirs = [e["event_id"] for e in await page_back(alice, room_id, limit=100)]
        assert ids == theirs[theirs.index(ids[0]) :]
        # Never new to /sync: the old messages are not in bob's next syncs.
        await alice.send(room_id, "after the backfill")
        got = await bob.wait_for_message(room_id, "after the backfill")
        assert got["sender"] == alice.user_id
        seen_bodies = {
            e.get("content", {}).get("body") for e in bob.seen.get(("join", room_id), [])
        }
        assert not seen_bodies & set(texts)
        # The room's present is unchanged: current state and a new message still flow.
        state = await bob.request("GET", f"{V3}/rooms/{quote(room_id)}/state/m.room.name/")
        assert state == {"name": "History"}
        await bob.send(room_id, "bob after the backfill")
        await alice.wait_for_message(room_id, "bob after the backfill")
        # Both servers now show the same history.
        again = [e["event_id"] for e in await page_back(bob, room_id, limit=50)]
        assert again == [e["event_id"] for e in await page_back(alice, room_id, limit=100)]


async def test_nothing_to_backfill_in_a_local_room(federation: Federation) -> None:
    """A room created here holds its whole history: paging back asks nobody."""
    a, _ = await two_servers(federation)
    async with federation.https() as http:
        alice = await Person(federation, a, http).register("alice")
        room_id = await alice.create_room(preset="public_chat")
        await alice.send(room_id, "hello")
        events = await page_back(alice, room_id, limit=3)
        assert events[-1]["type"] == "m.room.create"
        assert await EventStore(a.hs.database).get_backward_extremities(room_id) == []


async def test_timestamp_to_event_asks_the_server_with_the_history(
    federation: Federation,
) -> None:
    """Before any backfill, b.test lacks the room's history: /timestamp_to_event asks a.test."""
    a, b = await two_servers(federation)
    async with federation.https() as http:
        alice = await Person(federation, a, http).register("alice")
        bob = await Person(federation, b, http).register("bob")
        room_id = await alice.create_room(preset="public_chat")
        early = await alice.send(room_id, "early")
        mark = (await alice.request("GET", f"{V3}/rooms/{quote(room_id)}/event/{quote(early)}"))[
            "origin_server_ts"
        ]
        await alice.send(room_id, "later")
        await bob.join(room_id, via=["a.test"])
        await bob.wait_for_member(room_id, bob.user_id, "join")
        path = f"/_matrix/client/v1/rooms/{quote(room_id)}/timestamp_to_event"
        # Backwards from the early message's time: nothing here, a.test has it.
        back = await bob.request("GET", path, params={"ts": str(mark), "dir": "b"})
        assert back == {"event_id": early, "origin_server_ts": mark}
        # Forwards from then: b.test's first event is its join, after a gap; a.test's answer
        # is closer.
        forwards = await bob.request("GET", path, params={"ts": str(mark), "dir": "f"})
        assert forwards["event_id"] == early
        # A room with its whole history here answers alone (as before).
        missing = await alice.request(
            "GET",
            f"/_matrix/client/v1/rooms/{quote(room_id)}/timestamp_to_event",
            params={"ts": "0", "dir": "b"},
            status=404,
        )
        assert missing["errcode"] == "M_NOT_FOUND"
