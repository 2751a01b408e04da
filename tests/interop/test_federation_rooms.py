"""Interop over federation with Synapse (Server-Server API "Joining Rooms", "Transactions",
"Backfilling and retrieving missing events"): a Synapse user joins a Myelin room, messages
flow both ways through each side's ``/sync``, earlier history arrives by backfill, display
names resolve across the servers, leaving and banning work across them.

Marked ``synapse``: the SQLite pass only. Steps Myelin cannot pass yet are in
``test_federation_pending.py`` (marked ``pending_myelin``).
"""

from pathlib import Path

import pytest

from tests.interop.federation_support import (
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
