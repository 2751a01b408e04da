"""Interop over federation with Synapse, the steps Myelin does not pass yet (Server-Server
API "Inviting to a room", received): a Myelin user accepts a Synapse user's invite.

Marked ``pending_myelin`` (left out of ``make test``) and ``synapse``. A test moves to
``test_federation_reverse.py`` once it passes.
"""

from pathlib import Path

import pytest

from tests.interop.federation_support import (
    MatrixClient,
    federated_pair,
    is_membership,
    is_message,
)

pytestmark = [pytest.mark.synapse, pytest.mark.pending_myelin]


async def _exchange(room_id: str, myelin_user: MatrixClient, synapse_user: MatrixClient) -> None:
    await myelin_user.send(room_id, "from Myelin")
    await synapse_user.wait_for_event(room_id, is_message("from Myelin"), "Myelin's message")
    await synapse_user.send(room_id, "from Synapse")
    await myelin_user.wait_for_event(room_id, is_message("from Synapse"), "Synapse's message")


async def test_synapse_user_invites_myelin_user(tmp_path: Path) -> None:
    async with federated_pair(tmp_path) as pair:
        alice = await pair.client(on_myelin=True)
        bob = await pair.client(on_myelin=False)
        room_id = await bob.create_room(preset="private_chat")
        await bob.membership(room_id, "invite", user_id=alice.user_id)
        await alice.wait_for_invite(room_id)
        await alice.join(room_id)
        await bob.wait_for_event(room_id, is_membership(alice.user_id, "join"), "alice's join")
        await _exchange(room_id, alice, bob)
