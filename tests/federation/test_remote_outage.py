"""Two Myelin servers sharing a room through outages: a peer stopped while the other queues
(messages arrive after it returns), the sender itself restarted while the peer is down (the
queue is durable), and an allow-listed federation refusing a server not on its list at join
and invite time."""

from typing import Any

from tests.federation.conftest import Federation, RunningServer
from tests.federation.remote_support import OPEN, Person, two_servers

# Short backoff so that a returning peer is retried within the test.
QUICK_RETRY = {
    "federation": {
        "destination_min_retry_interval": 200,
        "destination_max_retry_interval": 1000,
    }
}


async def _shared_room(
    net: Federation, http: Any, a: RunningServer, b: RunningServer
) -> tuple[Person, Person, str]:
    alice = await Person(net, a, http).register("alice")
    bob = await Person(net, b, http).register("bob")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id, via=["a.test"])
    await alice.wait_for_member(room_id, bob.user_id, "join")
    await bob.sync()
    return alice, bob, room_id


async def test_messages_queued_while_the_peer_is_down(federation: Federation) -> None:
    a, b = await two_servers(federation, **QUICK_RETRY)
    async with federation.https() as http:
        alice, bob, room_id = await _shared_room(federation, http, a, b)
        await federation.stop(b)
        for i in range(3):
            await alice.send(room_id, f"while b was down {i}")
        assert a.hs.federation_sender is not None
        await federation.restart(b)
        for i in range(3):
            await bob.wait_for_message(room_id, f"while b was down {i}")
        # And the other way once it is back.
        await bob.send(room_id, "b is back")
        await alice.wait_for_message(room_id, "b is back")


async def test_queue_survives_the_sender_restarting(federation: Federation) -> None:
    a, b = await two_servers(federation, **QUICK_RETRY)
    async with federation.https() as http:
        alice, bob, room_id = await _shared_room(federation, http, a, b)
        await federation.stop(b)
        await alice.send(room_id, "queued before a restarted")
        # A restarts while B is still down: the queued event must survive.
        await federation.stop(a)
        await federation.restart(a)
        await alice.send(room_id, "sent after a restarted")
        await federation.restart(b)
        await bob.wait_for_message(room_id, "queued before a restarted")
        await bob.wait_for_message(room_id, "sent after a restarted")


async def test_allow_list_refuses_other_servers(federation: Federation) -> None:
    a = await federation.start(
        "a.test", "127.0.0.21", **OPEN, federation={"allow": ["a.test", "c.test"]}
    )
    b = await federation.start("b.test", "127.0.0.22", **OPEN)
    async with federation.https() as http:
        alice = await Person(federation, a, http).register("alice")
        bob = await Person(federation, b, http).register("bob")
        room_id = await alice.create_room(preset="public_chat")
        # B's join: A refuses B's requests.
        refused = await bob.join(room_id, via=["a.test"], status=403)
        assert refused["errcode"] == "M_FORBIDDEN"
        # A's invite of B's user: A does not contact B.
        refused = await alice.room_action(room_id, "invite", status=403, user_id=bob.user_id)
        assert refused["errcode"] == "M_FORBIDDEN"
        assert await alice.members(room_id) == {alice.user_id: "join"}
        # Nor may A's users join rooms of B.
        b_room = await bob.create_room(preset="public_chat")
        refused = await alice.join(b_room, via=["b.test"], status=403)
        assert refused["errcode"] == "M_FORBIDDEN"
