"""Interop over federation with Synapse (Server-Server API "Joining Rooms", "Transactions",
"Backfilling and retrieving missing events"): a Synapse user joins a Myelin room, messages
flow both ways through each side's ``/sync``, earlier history arrives by backfill, display
names resolve across the servers, leaving and banning work across them.

Marked ``synapse``: the SQLite pass only. The encrypted room is in ``test_federation_e2ee.py``.
"""

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.interop.federation_support import (
    MatrixRequestError,
    federated_pair,
    is_membership,
    is_message,
)

pytestmark = pytest.mark.synapse


async def test_synapse_user_joins_myelin_room_and_messages_flow(tmp_path: Path) -> None:
    async with federated_pair(tmp_path) as pair:
        alice = await pair.client(on_myelin=True)
        bob = await pair.client(on_myelin=False)
        room_id = await alice.create_room(preset="public_chat", name="Interop")
        await bob.join(room_id, via=pair.myelin_name)
        await alice.wait_for_event(room_id, is_membership(bob.user_id, "join"), "bob's join")
        await alice.send(room_id, "hello from Myelin")
        await bob.wait_for_event(room_id, is_message("hello from Myelin"), "Myelin's message")
        await bob.send(room_id, "hello from Synapse")
        await alice.wait_for_event(room_id, is_message("hello from Synapse"), "Synapse's message")


def _displayname(name: str, user_id: str) -> Callable[[Mapping[str, Any]], bool]:
    return lambda event: (
        is_membership(user_id, "join")(event)
        and event.get("content", {}).get("displayname") == name
    )


async def test_display_names_resolve_across_servers(tmp_path: Path) -> None:
    async with federated_pair(tmp_path) as pair:
        alice = await pair.client(on_myelin=True)
        bob = await pair.client(on_myelin=False)
        await alice.set_displayname("Alice of Myelin")
        await bob.set_displayname("Bob of Synapse")
        room_id = await alice.create_room(preset="public_chat")
        await bob.join(room_id, via=pair.myelin_name)
        # Each side's member event carries its display name to the other side's client.
        await alice.wait_for_event(room_id, _displayname("Bob of Synapse", bob.user_id), "bob")
        await bob.wait_for_event(room_id, _displayname("Alice of Myelin", alice.user_id), "alice")
        # A later change crosses too.
        await alice.set_displayname("Alice renamed")
        await bob.wait_for_event(room_id, _displayname("Alice renamed", alice.user_id), "rename")
        # Synapse asks Myelin for the profile over federation (/query/profile).
        assert (await bob.profile(alice.user_id))["displayname"] == "Alice renamed"


async def test_history_before_the_join_arrives_by_backfill(tmp_path: Path) -> None:
    async with federated_pair(tmp_path) as pair:
        alice = await pair.client(on_myelin=True)
        bob = await pair.client(on_myelin=False)
        room_id = await alice.create_room(preset="public_chat", initial_state=[_shared_history()])
        earlier = [f"before the join {i}" for i in range(30)]
        for body in earlier:
            await alice.send(room_id, body)
        await bob.join(room_id, via=pair.myelin_name)
        # Synapse holds only the state and the join; paginating back fetches the rest from
        # Myelin (/backfill), oldest last.
        seen = [
            e["content"]["body"]
            for e in await bob.messages(room_id, limit=100)
            if e["type"] == "m.room.message"
        ]
        assert seen == list(reversed(earlier))


def _shared_history() -> dict[str, Any]:
    return {
        "type": "m.room.history_visibility",
        "state_key": "",
        "content": {"history_visibility": "shared"},
    }


async def test_leaving_and_banning_across_servers(tmp_path: Path) -> None:
    async with federated_pair(tmp_path) as pair:
        alice = await pair.client(on_myelin=True)
        bob = await pair.client(on_myelin=False)
        room_id = await alice.create_room(preset="public_chat")
        await bob.join(room_id, via=pair.myelin_name)
        await alice.wait_for_event(room_id, is_membership(bob.user_id, "join"), "bob's join")
        # Bob leaves on Synapse: Myelin sees it.
        await bob.membership(room_id, "leave")
        await alice.wait_for_event(room_id, is_membership(bob.user_id, "leave"), "bob's leave")
        # Bob comes back, then alice bans him on Myelin: Synapse sees the ban.
        await bob.join(room_id, via=pair.myelin_name)
        await alice.wait_for_event(room_id, is_membership(bob.user_id, "join"), "bob's rejoin")
        await alice.membership(room_id, "ban", user_id=bob.user_id, reason="interop")
        await bob.wait_for_event(
            room_id, is_membership(bob.user_id, "ban"), "his ban", section="leave"
        )
        # Synapse refuses his join locally now; so does Myelin if asked (make_join).
        with pytest.raises(MatrixRequestError) as refused:
            await bob.join(room_id, via=pair.myelin_name)
        assert refused.value.status == 403
        # Messages of the room no longer reach him; alice's later message does not arrive.
        await alice.send(room_id, "after the ban")
        with pytest.raises(AssertionError):
            await bob.wait_for_event(
                room_id, is_message("after the ban"), "a message after the ban", within_s=3
            )
