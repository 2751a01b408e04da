"""Interop over federation with Synapse, Myelin's users going out (Server-Server API
"Joining Rooms" and "Leaving Rooms (Rejecting Invites)" outbound, "Inviting to a room" from
Myelin): a Myelin user joins a Synapse room by ID and by alias, a Synapse user accepts a
Myelin invite, a Myelin user accepts and rejects Synapse invites; messages flow both ways.

Marked ``synapse``: the SQLite pass only.
"""

from pathlib import Path

import pytest

from tests.interop.federation_support import (
    MatrixClient,
    MatrixRequestError,
    Pair,
    federated_pair,
    is_membership,
    is_message,
)

pytestmark = pytest.mark.synapse


async def _exchange(room_id: str, myelin_user: MatrixClient, synapse_user: MatrixClient) -> None:
    await myelin_user.send(room_id, "from Myelin")
    await synapse_user.wait_for_event(room_id, is_message("from Myelin"), "Myelin's message")
    await synapse_user.send(room_id, "from Synapse")
    await myelin_user.wait_for_event(room_id, is_message("from Synapse"), "Synapse's message")


async def _users(pair: Pair) -> tuple[MatrixClient, MatrixClient]:
    return await pair.client(on_myelin=True), await pair.client(on_myelin=False)


async def test_myelin_user_joins_synapse_room_by_id(tmp_path: Path) -> None:
    async with federated_pair(tmp_path) as pair:
        alice, bob = await _users(pair)
        room_id = await bob.create_room(preset="public_chat")
        await alice.join(room_id, via=pair.synapse_name)
        await bob.wait_for_event(room_id, is_membership(alice.user_id, "join"), "alice's join")
        await _exchange(room_id, alice, bob)


async def test_myelin_user_joins_synapse_room_by_alias(tmp_path: Path) -> None:
    async with federated_pair(tmp_path) as pair:
        alice, bob = await _users(pair)
        room_id = await bob.create_room(preset="public_chat", room_alias_name="lobby")
        joined = await alice.join(f"#lobby:{pair.synapse_name}")
        assert joined == room_id
        await _exchange(room_id, alice, bob)


async def test_myelin_user_invites_synapse_user(tmp_path: Path) -> None:
    async with federated_pair(tmp_path) as pair:
        alice, bob = await _users(pair)
        room_id = await alice.create_room(preset="private_chat")
        await alice.membership(room_id, "invite", user_id=bob.user_id)
        await bob.wait_for_invite(room_id)
        await bob.join(room_id)
        await alice.wait_for_event(room_id, is_membership(bob.user_id, "join"), "bob's join")
        await _exchange(room_id, alice, bob)


async def test_myelin_user_rejects_synapse_invite(tmp_path: Path) -> None:
    async with federated_pair(tmp_path) as pair:
        alice, bob = await _users(pair)
        room_id = await bob.create_room(preset="private_chat")
        await bob.membership(room_id, "invite", user_id=alice.user_id)
        await alice.wait_for_invite(room_id)
        await alice.membership(room_id, "leave")
        await bob.wait_for_event(room_id, is_membership(alice.user_id, "leave"), "the rejection")


async def test_synapse_user_invites_myelin_user(tmp_path: Path) -> None:
    async with federated_pair(tmp_path) as pair:
        alice, bob = await _users(pair)
        room_id = await bob.create_room(preset="private_chat")
        await bob.membership(room_id, "invite", user_id=alice.user_id)
        await alice.wait_for_invite(room_id)
        await alice.join(room_id)
        await bob.wait_for_event(room_id, is_membership(alice.user_id, "join"), "alice's join")
        await _exchange(room_id, alice, bob)


async def test_myelin_backfills_history_from_synapse(tmp_path: Path) -> None:
    """A Myelin user joins a Synapse room with earlier messages: paging back past the join
    fetches them from Synapse with /backfill, in order, down to the room's creation."""
    async with federated_pair(tmp_path) as pair:
        alice, bob = await _users(pair)
        room_id = await bob.create_room(
            preset="public_chat",
            initial_state=[
                {
                    "type": "m.room.history_visibility",
                    "state_key": "",
                    "content": {"history_visibility": "shared"},
                }
            ],
        )
        earlier = [f"before the join {i}" for i in range(30)]
        for body in earlier:
            await bob.send(room_id, body)
        await alice.join(room_id, via=pair.synapse_name)
        events = await alice.messages(room_id, limit=100)
        seen = [e["content"]["body"] for e in events if e["type"] == "m.room.message"]
        assert seen == list(reversed(earlier))
        assert events[-1]["type"] == "m.room.create"
        await _exchange(room_id, alice, bob)


async def test_myelin_user_joins_a_restricted_synapse_room(tmp_path: Path) -> None:
    """Restricted joins on the joining side: Synapse, resident, authorises the join of a
    Myelin user who is in the allowed space (``join_authorised_via_users_server``)."""
    async with federated_pair(tmp_path) as pair:
        alice, bob = await _users(pair)
        space = await bob.create_room(preset="public_chat", creation_content={"type": "m.space"})
        room_id = await bob.create_room(
            preset="private_chat",
            room_version="10",
            initial_state=[
                {
                    "type": "m.room.join_rules",
                    "state_key": "",
                    "content": {
                        "join_rule": "restricted",
                        "allow": [{"type": "m.room_membership", "room_id": space}],
                    },
                }
            ],
        )
        # Not in the space yet: Synapse cannot authorise the join.
        with pytest.raises(MatrixRequestError) as refused:
            await alice.join(room_id, via=pair.synapse_name)
        assert refused.value.status in (400, 403)
        await alice.join(space, via=pair.synapse_name)
        await bob.wait_for_event(space, is_membership(alice.user_id, "join"), "alice's space join")
        assert await alice.join(room_id, via=pair.synapse_name) == room_id
        join = await bob.wait_for_event(
            room_id, is_membership(alice.user_id, "join"), "alice's restricted join"
        )
        assert join["content"]["join_authorised_via_users_server"] == bob.user_id
        await _exchange(room_id, alice, bob)
