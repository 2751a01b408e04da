"""Interop over federation with Synapse through outages (Server-Server API "Transactions":
a sending server retries a transaction until the destination answers; Myelin's outbound queue
is durable): messages sent while Synapse is stopped reach it when it returns, also when Myelin
itself was restarted in the meantime; Synapse's messages sent after its return reach Myelin.

Marked ``synapse``: the SQLite pass only.
"""

import asyncio
import time
from pathlib import Path

import pytest

from tests.interop.federation_support import (
    CROSSING_TIMEOUT,
    MatrixClient,
    Pair,
    federated_pair,
    is_membership,
    is_message,
)

pytestmark = pytest.mark.synapse

# How long Synapse stays down: several of Myelin's retries (0.5 s growing to 2 s) fail.
DOWN_SECONDS = 4.0


async def _joined_room(pair: Pair) -> tuple[str, MatrixClient, MatrixClient]:
    alice = await pair.client(on_myelin=True)
    bob = await pair.client(on_myelin=False)
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id, via=pair.myelin_name)
    await alice.wait_for_event(room_id, is_membership(bob.user_id, "join"), "bob's join")
    await alice.send(room_id, "before the outage")
    await bob.wait_for_event(room_id, is_message("before the outage"), "the first message")
    return room_id, alice, bob


async def _wait_for_bodies(client: MatrixClient, room_id: str, bodies: list[str]) -> None:
    """Poll ``/messages`` until every body is in the room, in this order."""
    deadline = time.monotonic() + CROSSING_TIMEOUT
    seen: list[str] = []
    while time.monotonic() < deadline:
        chunk = await client.messages(room_id, limit=100)
        seen = [
            e["content"].get("body")
            for e in reversed(chunk)
            if e["type"] == "m.room.message" and e["content"].get("body") in bodies
        ]
        if seen == bodies:
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"{client.user_id} saw {seen}, not {bodies}")


async def test_messages_sent_while_synapse_is_down_arrive_after_it_returns(
    tmp_path: Path,
) -> None:
    async with federated_pair(tmp_path) as pair:
        room_id, alice, bob = await _joined_room(pair)
        await pair.stop_synapse()
        during = [f"while Synapse is down {i}" for i in range(3)]
        for body in during:
            await alice.send(room_id, body)
        await asyncio.sleep(DOWN_SECONDS)
        await pair.start_synapse_again()
        await _wait_for_bodies(bob, room_id, during)
        # And the other way once it is back.
        await bob.send(room_id, "Synapse is back")
        await alice.wait_for_event(room_id, is_message("Synapse is back"), "Synapse's message")


async def test_messages_survive_a_myelin_restart_while_synapse_is_down(tmp_path: Path) -> None:
    async with federated_pair(tmp_path) as pair:
        room_id, alice, bob = await _joined_room(pair)
        await pair.stop_synapse()
        during = [f"queued before Myelin's restart {i}" for i in range(3)]
        for body in during:
            await alice.send(room_id, body)
        await asyncio.sleep(DOWN_SECONDS / 2)
        await pair.restart_myelin()
        await asyncio.sleep(DOWN_SECONDS / 2)
        await pair.start_synapse_again()
        await _wait_for_bodies(bob, room_id, during)
        await bob.send(room_id, "Synapse is back")
        await alice.wait_for_event(room_id, is_message("Synapse is back"), "Synapse's message")
