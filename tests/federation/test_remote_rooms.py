"""Two Myelin servers sharing rooms over HTTPS on loopback: joins through the federation
endpoints (by room ID with ``via``, by a remote alias), messages both ways in ``/sync``,
display names across servers, invites both ways (accepted and rejected), knocks, leaving and
banning across servers."""

from typing import Any

from tests.federation.conftest import Federation
from tests.federation.remote_support import Person, two_servers


async def test_join_a_public_room_of_another_server(federation: Federation) -> None:
    a, b = await two_servers(federation)
    async with federation.https() as http:
        alice = await Person(federation, a, http).register("alice")
        bob = await Person(federation, b, http).register("bob")
        await bob.request(
            "PUT",
            f"/_matrix/client/v3/profile/{bob.user_id}/displayname",
            json={"displayname": "Bob of B"},
        )
        room_id = await alice.create_room(preset="public_chat", name="Commons")
        await alice.send(room_id, "before bob")
        await alice.sync()
        await bob.sync()
        assert (await bob.join(room_id, via=["a.test"]))["room_id"] == room_id
        # B's user sees the room joined, with its name, in /sync.
        joined = await bob.wait_for_member(room_id, bob.user_id, "join")
        assert joined["content"]["displayname"] == "Bob of B"
        # A sees B's join with B's display name.
        seen = await alice.wait_for_member(room_id, bob.user_id, "join")
        assert seen["content"]["displayname"] == "Bob of B"
        # Messages both ways.
        await alice.send(room_id, "hello from a")
        got = await bob.wait_for_message(room_id, "hello from a")
        assert got["sender"] == alice.user_id
        await bob.send(room_id, "hello from b")
        got = await alice.wait_for_message(room_id, "hello from b")
        assert got["sender"] == bob.user_id
        assert await bob.members(room_id) == {alice.user_id: "join", bob.user_id: "join"}
        # Leaving across servers.
        await bob.room_action(room_id, "leave")
        await alice.wait_for_member(room_id, bob.user_id, "leave")


async def test_join_by_remote_alias_and_errors(federation: Federation) -> None:
    a, b = await two_servers(federation)
    async with federation.https() as http:
        alice = await Person(federation, a, http).register("alice")
        bob = await Person(federation, b, http).register("bob")
        room_id = await alice.create_room(preset="public_chat", room_alias_name="commons")
        assert (await bob.join("#commons:a.test"))["room_id"] == room_id
        await alice.wait_for_member(room_id, bob.user_id, "join")
        unknown = await bob.join("#nothing:a.test", status=404)
        assert unknown["errcode"] == "M_NOT_FOUND"
        bad_via = await bob.join(room_id, via=["not a server"], status=400)
        assert bad_via["errcode"] == "M_INVALID_PARAM"
        # A private room refuses the join at make_join.
        private = await alice.create_room(preset="private_chat")
        refused = await bob.join(private, via=["a.test"], status=403)
        assert refused["errcode"] == "M_FORBIDDEN"


async def test_invites_both_ways(federation: Federation) -> None:
    a, b = await two_servers(federation)
    async with federation.https() as http:
        alice = await Person(federation, a, http).register("alice")
        bob = await Person(federation, b, http).register("bob")
        carol = await Person(federation, b, http).register("carol")
        room_id = await alice.create_room(preset="private_chat", name="Secret")
        await bob.sync()
        await alice.room_action(room_id, "invite", user_id=bob.user_id)

        def invited(body: dict[str, object]) -> object:
            rooms = body.get("rooms")
            return isinstance(rooms, dict) and rooms.get("invite", {}).get(room_id)

        invite = await bob.sync_until(invited)
        state = {(e["type"], e["state_key"]): e for e in invite["invite_state"]["events"]}
        assert state[("m.room.name", "")]["content"]["name"] == "Secret"
        assert state[("m.room.member", bob.user_id)]["content"]["membership"] == "invite"
        # The invitee joins through the inviting server (no via needed).
        assert (await bob.join(room_id))["room_id"] == room_id
        await alice.wait_for_member(room_id, bob.user_id, "join")
        # Carol rejects her invite through make_leave/send_leave.
        await alice.room_action(room_id, "invite", user_id=carol.user_id)
        await carol.sync_until(invited)
        await carol.room_action(room_id, "leave")
        await alice.wait_for_member(room_id, carol.user_id, "leave")
        # The reverse: bob's server invites alice into a room of B.
        b_room = await bob.create_room(preset="private_chat", name="B side")
        await alice.sync()
        await bob.room_action(b_room, "invite", user_id=alice.user_id)
        await alice.sync_until(lambda body: body.get("rooms", {}).get("invite", {}).get(b_room))
        await alice.join(b_room)
        await bob.wait_for_member(b_room, alice.user_id, "join")
        await alice.send(b_room, "thanks")
        await bob.wait_for_message(b_room, "thanks")
        # Inviting someone already joined is refused before anything is sent.
        again = await bob.room_action(b_room, "invite", user_id=alice.user_id, status=403)
        assert again["errcode"] == "M_FORBIDDEN"


async def test_ban_across_servers(federation: Federation) -> None:
    a, b = await two_servers(federation)
    async with federation.https() as http:
        alice = await Person(federation, a, http).register("alice")
        bob = await Person(federation, b, http).register("bob")
        room_id = await alice.create_room(preset="public_chat")
        await bob.join(room_id, via=["a.test"])
        await alice.wait_for_member(room_id, bob.user_id, "join")
        await bob.sync()
        await alice.room_action(room_id, "ban", user_id=bob.user_id, reason="spam")
        ban = await bob.wait_for_member(room_id, bob.user_id, "ban", section="leave")
        assert ban["content"]["reason"] == "spam"
        # Banned: a new join is refused by the resident server.
        refused = await bob.join(room_id, via=["a.test"], status=403)
        assert refused["errcode"] == "M_FORBIDDEN"


async def test_knock_on_a_room_of_another_server(federation: Federation) -> None:
    a, b = await two_servers(federation)
    async with federation.https() as http:
        alice = await Person(federation, a, http).register("alice")
        bob = await Person(federation, b, http).register("bob")
        room_id = await alice.create_room(
            preset="private_chat", room_version="10", name="Knock here"
        )
        await alice.request(
            "PUT",
            f"/_matrix/client/v3/rooms/{room_id}/state/m.room.join_rules/",
            json={"join_rule": "knock"},
        )
        await bob.sync()
        body = await bob.request(
            "POST",
            f"/_matrix/client/v3/knock/{room_id}",
            json={"reason": "let me in"},
            params={"via": "a.test"},
        )
        assert body["room_id"] == room_id

        def knocked(sync: dict[str, object]) -> object:
            rooms = sync.get("rooms")
            return isinstance(rooms, dict) and rooms.get("knock", {}).get(room_id)

        knock = await bob.sync_until(knocked)
        names = [e for e in knock["knock_state"]["events"] if e["type"] == "m.room.name"]
        assert names[0]["content"]["name"] == "Knock here"
        seen = await alice.wait_for_member(room_id, bob.user_id, "knock")
        assert seen["content"]["reason"] == "let me in"
        # Accepted: alice invites, bob joins.
        await alice.room_action(room_id, "invite", user_id=bob.user_id)
        await bob.join(room_id)
        await alice.wait_for_member(room_id, bob.user_id, "join")


async def test_typing_receipts_and_to_device_across_servers(federation: Federation) -> None:
    a, b = await two_servers(federation)
    async with federation.https() as http:
        alice = await Person(federation, a, http).register("alice")
        bob = await Person(federation, b, http).register("bob")
        room_id = await alice.create_room(preset="public_chat")
        await bob.join(room_id, via=["a.test"])
        await alice.wait_for_member(room_id, bob.user_id, "join")
        event_id = await alice.send(room_id, "read me")
        await bob.wait_for_message(room_id, "read me")
        # Typing on B reaches A.
        await bob.request(
            "PUT",
            f"/_matrix/client/v3/rooms/{room_id}/typing/{bob.user_id}",
            json={"typing": True, "timeout": 30000},
        )

        def ephemeral(kind: str) -> Any:
            def find(body: dict[str, Any]) -> Any:
                room = body.get("rooms", {}).get("join", {}).get(room_id, {})
                events = room.get("ephemeral", {}).get("events", [])
                return [e for e in events if e["type"] == kind]

            return find

        typing = await alice.sync_until(ephemeral("m.typing"))
        assert typing[0]["content"]["user_ids"] == [bob.user_id]
        # A read receipt on B reaches A.
        await bob.request(
            "POST", f"/_matrix/client/v3/rooms/{room_id}/receipt/m.read/{event_id}", json={}
        )

        def bobs_receipt(body: dict[str, Any]) -> Any:
            for receipt in ephemeral("m.receipt")(body):
                users = receipt["content"].get(event_id, {}).get("m.read", {})
                if bob.user_id in users:
                    return users[bob.user_id]
            return None

        assert "ts" in await alice.sync_until(bobs_receipt)
        # A to-device message from A's user to B's user's devices.
        await alice.request(
            "PUT",
            "/_matrix/client/v3/sendToDevice/m.test/txn1",
            json={"messages": {bob.user_id: {"*": {"hello": "bob"}}}},
        )

        def to_device(body: dict[str, Any]) -> Any:
            return body.get("to_device", {}).get("events")

        (message,) = await bob.sync_until(to_device)
        assert message == {"type": "m.test", "sender": alice.user_id, "content": {"hello": "bob"}}
