"""Smaller federation behaviours between two Myelin servers: ``/query/profile`` for a user
without some profile fields (Server-Server API "Querying for information"), and a peer that
comes back noticed before its backoff expires (it sent us a transaction)."""

import asyncio
from typing import Any
from urllib.parse import quote

import pytest

from myelin.federation.client import HttpResponseError
from tests.federation.conftest import Federation
from tests.federation.remote_support import Person, two_servers

PROFILE = "/_matrix/federation/v1/query/profile"


async def test_profile_query_answers_the_fields_a_user_has(federation: Federation) -> None:
    a, b = await two_servers(federation)
    assert b.hs.federation is not None
    async with federation.https() as http:
        alice = await Person(federation, a, http).register("alice")
        await alice.request(
            "PUT", f"/_matrix/client/v3/profile/{alice.user_id}/avatar_url", json={"avatar_url": ""}
        )
        # Registration set the display name to the localpart; clear it.
        await alice.request(
            "PUT",
            f"/_matrix/client/v3/profile/{alice.user_id}/displayname",
            json={"displayname": ""},
        )
        fed = b.hs.federation
        assert await fed.get_json("a.test", PROFILE, {"user_id": alice.user_id}) == {}
        only = {"user_id": alice.user_id, "field": "displayname"}
        assert await fed.get_json("a.test", PROFILE, only) == {}
        await alice.request(
            "PUT",
            f"/_matrix/client/v3/profile/{alice.user_id}/displayname",
            json={"displayname": "Alice"},
        )
        assert await fed.get_json("a.test", PROFILE, only) == {"displayname": "Alice"}
        whole = await fed.get_json("a.test", PROFILE, {"user_id": alice.user_id})
        assert whole == {"displayname": "Alice"}
        avatar = {"user_id": alice.user_id, "field": "avatar_url"}
        assert await fed.get_json("a.test", PROFILE, avatar) == {}
        # A user that does not exist is still 404.
        with pytest.raises(HttpResponseError) as e:
            await fed.get_json("a.test", PROFILE, {"user_id": "@nobody:a.test", "field": "x"})
        assert (e.value.status, e.value.errcode) == (404, "M_NOT_FOUND")


async def test_a_peer_sending_to_us_ends_its_backoff(federation: Federation) -> None:
    """B is backed off for an hour after an outage; when B sends a transaction, A notices B is
    back and sends what waits for it at once."""
    a, b = await two_servers(federation, federation={"destination_min_retry_interval": "1h"})
    async with federation.https() as http:
        alice = await Person(federation, a, http).register("alice")
        bob = await Person(federation, b, http).register("bob")
        room_id = await alice.create_room(preset="public_chat")
        await bob.join(room_id, via=["a.test"])
        await alice.wait_for_member(room_id, bob.user_id, "join")
        await bob.sync()
        await federation.stop(b)
        await alice.send(room_id, "sent while b was down")
        assert a.hs.federation is not None and a.hs.federation_sender is not None
        backoff = a.hs.federation.backoff
        # The failed transaction backs B off for an hour.
        for _ in range(100):
            if await backoff.is_backing_off("b.test"):
                break
            await asyncio.sleep(0.05)
        assert await backoff.is_backing_off("b.test")
        await federation.restart(b)
        await bob.send(room_id, "b is back")
        await alice.wait_for_message(room_id, "b is back")
        # Without noticing, A would wait an hour; it sends at once.
        await bob.wait_for_message(room_id, "sent while b was down")
        assert not await backoff.is_backing_off("b.test")


async def test_presence_crosses_the_servers(federation: Federation) -> None:
    """A local user's presence goes out as an m.presence EDU to servers sharing a room."""
    a, b = await two_servers(federation)
    async with federation.https() as http:
        alice = await Person(federation, a, http).register("alice")
        bob = await Person(federation, b, http).register("bob")
        room_id = await alice.create_room(preset="public_chat")
        await bob.join(room_id, via=["a.test"])
        await alice.wait_for_member(room_id, bob.user_id, "join")
        await bob.sync()
        sender = b.hs.federation_sender
        assert sender is not None
        queued: list[tuple[str, Any]] = []
        original = sender.send_edu

        async def spy(edu_type: str, content: Any, destinations: Any) -> None:
            queued.append((edu_type, content))
            await original(edu_type, content, destinations)

        sender.send_edu = spy  # type: ignore[method-assign]
        await alice.request(
            "PUT",
            f"/_matrix/client/v3/presence/{alice.user_id}/status",
            json={"presence": "unavailable", "status_msg": "in a meeting"},
        )

        def alice_presence(body: dict[str, Any]) -> dict[str, Any] | None:
            # Her earlier "online" (from her own requests) may cross first: wait for the change.
            for event in body.get("presence", {}).get("events", []):
                content = event["content"]
                if event.get("sender") == alice.user_id and content.get("presence") != "online":
                    return dict(content)
            return None

        content = await bob.sync_until(alice_presence)
        assert content["presence"] == "unavailable"
        assert content["status_msg"] == "in a meeting"
        status = await bob.request("GET", f"/_matrix/client/v3/presence/{alice.user_id}/status")
        assert status["presence"] == "unavailable" and status["status_msg"] == "in a meeting"
        # b.test applied alice's presence without passing it on to anyone.
        about_alice = [c for c in queued if c[0] == "m.presence" and alice.user_id in str(c[1])]
        assert about_alice == []


async def test_timestamp_to_event_over_federation(federation: Federation) -> None:
    a, b = await two_servers(federation)
    c = await federation.start("c.test", "127.0.0.23")
    async with federation.https() as http:
        alice = await Person(federation, a, http).register("alice")
        bob = await Person(federation, b, http).register("bob")
        room_id = await alice.create_room(preset="public_chat")
        await bob.join(room_id, via=["a.test"])
        await alice.wait_for_member(room_id, bob.user_id, "join")
        first = await alice.send(room_id, "first")
        await asyncio.sleep(0.01)
        second = await alice.send(room_id, "second")
        fed = b.hs.federation
        assert fed is not None
        path = f"/_matrix/federation/v1/timestamp_to_event/{quote(room_id)}"
        latest = await fed.get_json("a.test", path, {"ts": str(2**53 - 1), "dir": "b"})
        assert latest["event_id"] == second and isinstance(latest["origin_server_ts"], int)
        before_second = latest["origin_server_ts"] - 1
        found = await fed.get_json("a.test", path, {"ts": str(before_second), "dir": "b"})
        assert found["event_id"] == first
        forwards = await fed.get_json("a.test", path, {"ts": str(before_second), "dir": "f"})
        assert forwards["event_id"] == second
        for query, status, errcode in (
            ({"ts": "0", "dir": "b"}, 404, "M_NOT_FOUND"),
            ({"ts": "0", "dir": "x"}, 400, "M_INVALID_PARAM"),
            ({"dir": "b"}, 400, "M_MISSING_PARAM"),
            ({"ts": "soon", "dir": "b"}, 400, "M_INVALID_PARAM"),
        ):
            with pytest.raises(HttpResponseError) as e:
                await fed.get_json("a.test", path, query)
            assert (e.value.status, e.value.errcode) == (status, errcode), query
        # A server with nobody in the room is refused.
        assert c.hs.federation is not None
        with pytest.raises(HttpResponseError) as e:
            await c.hs.federation.get_json("a.test", path, {"ts": "0", "dir": "f"})
        assert (e.value.status, e.value.errcode) == (403, "M_FORBIDDEN")


async def test_create_room_inviting_users_of_other_servers(federation: Federation) -> None:
    """``createRoom`` with ``invite`` naming a remote user goes through the federation invite;
    an unreachable invitee's server does not undo the room."""
    a, b = await two_servers(federation)
    async with federation.https() as http:
        alice = await Person(federation, a, http).register("alice")
        bob = await Person(federation, b, http).register("bob")
        carol = await Person(federation, a, http).register("carol")
        await bob.sync()
        room_id = await alice.create_room(
            preset="trusted_private_chat",
            is_direct=True,
            invite=[bob.user_id, carol.user_id, "@dave:unreachable.test"],
        )

        def invited(body: dict[str, Any]) -> Any:
            return body.get("rooms", {}).get("invite", {}).get(room_id)

        invite = await bob.sync_until(invited)
        state = {(e["type"], e["state_key"]): e for e in invite["invite_state"]["events"]}
        member = state[("m.room.member", bob.user_id)]
        assert member["content"] == {"membership": "invite", "is_direct": True}
        assert member["sender"] == alice.user_id
        await carol.sync_until(invited)
        await bob.join(room_id)
        await alice.wait_for_member(room_id, bob.user_id, "join")
        members = await alice.members(room_id)
        assert members[bob.user_id] == "join" and members[carol.user_id] == "invite"
        assert "@dave:unreachable.test" not in members
        # trusted_private_chat: invitees get the creator's power level, remote ones too.
        levels = await alice.request(
            "GET", f"/_matrix/client/v3/rooms/{quote(room_id)}/state/m.room.power_levels/"
        )
        assert levels["users"][bob.user_id] == 100
        await bob.send(room_id, "hello from b")
        await alice.wait_for_message(room_id, "hello from b")
