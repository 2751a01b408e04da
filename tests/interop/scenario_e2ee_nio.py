"""The end-to-end encryption interop scenario driven by matrix-nio with vodozemac (test harness;
Client-Server API: End-to-End Encryption, Send-to-Device messaging).

Two users register and log in with nio clients whose encryption is on (each device with its own
crypto store in ``store_dir``). A creates a private room with ``m.room.encryption`` (Megolm) and
invites B, who joins. A sends a message: nio queries B's device keys (``/keys/query``), claims a
one-time key (``/keys/claim``), sends the Megolm room key in an Olm-encrypted to-device message
(``/sendToDevice``) and the message as ``m.room.encrypted``; B decrypts it. B replies the same
way and A decrypts. A logs in on a second device; B learns of it through ``device_lists.changed``
in ``/sync`` and a new ``/keys/query``, shares a new room key with it, and the second device
decrypts B's next message. ``run`` plays that; ``run_with_js_peer`` plays A with nio against
a matrix-js-sdk B (``js/e2ee_peer.mjs``): B decrypts A's message, A decrypts B's reply. Both
return the facts observed (compare with ``EXPECTED``, ``PEER_EXPECTED``) and the failed steps;
``PLAINTEXTS`` are the bodies that must never reach the server's database.
"""

import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nio import (
    AsyncClient,
    AsyncClientConfig,
    JoinResponse,
    KeysQueryResponse,
    KeysUploadResponse,
    LoginResponse,
    MegolmEvent,
    RegisterResponse,
    RoomCreateResponse,
    RoomEncryptionEvent,
    RoomMessageText,
    RoomPreset,
    RoomSendResponse,
    SyncResponse,
)

from tests.interop.facts import ALICE, BOB, username
from tests.interop.scenario_nio import PASSWORD, ScenarioError, ok

WAIT_SECONDS = 30.0
SYNC_TIMEOUT_MS = 500

FROM_ALICE = "secret from alice (nio)"
FROM_BOB = "secret reply from bob (nio)"
TO_SECOND_DEVICE = "secret for alice's second device (nio)"
PLAINTEXTS = (FROM_ALICE, FROM_BOB, TO_SECOND_DEVICE)

MEGOLM = "m.megolm.v1.aes-sha2"
TIMELINE_FILTER = {"room": {"timeline": {"limit": 50}}}

# What nio observes, verified against Synapse.
EXPECTED: dict[str, Any] = {
    "keys_uploaded": {"alice": True, "bob": True},
    "room_encrypted_seen_by_bob": MEGOLM,
    "bob_decrypted": {"body": FROM_ALICE, "sender": ALICE},
    "alice_decrypted": {"body": FROM_BOB, "sender": BOB},
    "bob_learns_second_device": True,
    "second_device_decrypted": {"body": TO_SECOND_DEVICE, "sender": BOB},
    # The second device logged in after A's first message: it cannot read it.
    "second_device_cannot_read_earlier": True,
}


def _config() -> AsyncClientConfig:
    return AsyncClientConfig(
        encryption_enabled=True,
        store_sync_tokens=False,
        max_limit_exceeded=0,
        max_timeouts=1,
        request_timeout=30,
    )


class Device:
    """One logged-in nio device with encryption, and what it decrypted from ``/sync``."""

    def __init__(self, client: AsyncClient, name: str) -> None:
        self.client = client
        self.name = name
        self.decrypted: dict[str, RoomMessageText] = {}  # event ID -> decrypted message
        self.undecryptable: set[str] = set()  # event IDs left as MegolmEvent
        self.encryption: dict[str, str] = {}  # room ID -> algorithm of m.room.encryption

    async def sync_once(self) -> None:
        client = self.client
        response = ok(
            f"{self.name}: GET /sync",
            await client.sync(timeout=SYNC_TIMEOUT_MS, sync_filter=TIMELINE_FILTER),
            SyncResponse,
        )
        for room_id, info in response.rooms.join.items():
            for event in [*info.state, *info.timeline.events]:
                if isinstance(event, RoomEncryptionEvent):
                    self.encryption[room_id] = event.source["content"].get("algorithm", "")
                elif isinstance(event, RoomMessageText) and event.decrypted:
                    self.decrypted[event.event_id] = event
                elif isinstance(event, MegolmEvent):
                    self.undecryptable.add(event.event_id)
        # What nio's own sync loop does between two /sync requests.
        if client.should_upload_keys:
            ok(f"{self.name}: POST /keys/upload", await client.keys_upload(), KeysUploadResponse)
        if client.should_query_keys:
            ok(f"{self.name}: POST /keys/query", await client.keys_query(), KeysQueryResponse)
        await client.send_to_device_messages()

    async def until(self, what: str, condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + WAIT_SECONDS
        while not condition():
            if time.monotonic() > deadline:
                raise ScenarioError(
                    f"{self.name}: never saw {what} within {WAIT_SECONDS:.0f} s; decrypted"
                    f" {[e.body for e in self.decrypted.values()]}, undecryptable"
                    f" {sorted(self.undecryptable)}"
                )
            await self.sync_once()


@dataclass
class Context:
    """What the phases share: the server, the run's tag, the users' first devices, the room."""

    base_url: str
    tag: str
    store_dir: Path
    observed: dict[str, Any]
    alice_id: str = ""
    bob_id: str = ""
    devices: list[Device] = field(default_factory=list)
    room: str = ""
    first_message: str = ""


def _decrypted(device: Device, event_id: str, tag: str) -> dict[str, Any]:
    event = device.decrypted[event_id]
    sender = event.sender[1:].split(":", 1)[0].removesuffix(f"-{tag}")
    return {"body": event.body, "sender": sender}


async def _register(base_url: str, name: str, tag: str) -> str:
    client = AsyncClient(base_url, config=AsyncClientConfig(encryption_enabled=False))
    try:
        registered = ok(
            f"{name}: POST /register",
            await client.register(username(name, tag), PASSWORD, "nio e2ee register"),
            RegisterResponse,
        )
    finally:
        await client.close()
    return str(registered.user_id)


async def _login(context: Context, name: str, label: str) -> Device:
    """A new device of ``name`` with its own crypto store; keys uploaded, first /sync done."""
    store = context.store_dir / label
    store.mkdir(parents=True, exist_ok=True)
    client = AsyncClient(
        context.base_url,
        user=username(name, context.tag),
        store_path=str(store),
        config=_config(),
    )
    device = Device(client, f"{name} ({label})")
    context.devices.append(device)
    ok(f"{device.name}: POST /login", await client.login(PASSWORD, f"nio {label}"), LoginResponse)
    ok(f"{device.name}: POST /keys/upload", await client.keys_upload(), KeysUploadResponse)
    await device.sync_once()
    return device


async def run(base_url: str, tag: str, store_dir: Path) -> tuple[dict[str, Any], list[str]]:
    """Play the scenario against ``base_url``: the facts observed and the failed steps."""
    context = Context(base_url, tag, store_dir, {})
    failures: list[str] = []
    try:
        context.alice_id = await _register(base_url, ALICE, tag)
        context.bob_id = await _register(base_url, BOB, tag)
        a = await _login(context, ALICE, "alice-1")
        b = await _login(context, BOB, "bob-1")
        context.observed["keys_uploaded"] = {
            "alice": a.client.olm is not None and a.client.olm.account.shared,
            "bob": b.client.olm is not None and b.client.olm.account.shared,
        }
        await _exchange(context, a, b)
        try:
            await _second_device(context, b)
        except ScenarioError as error:
            failures.append(str(error))
    except ScenarioError as error:
        failures.append(str(error))
    finally:
        for device in context.devices:
            await device.client.close()
    return context.observed, failures


async def _encrypted_room(context: Context, a: Device) -> str:
    """A's private room with ``m.room.encryption`` (Megolm), B invited: the room ID."""
    created = ok(
        "alice: POST /createRoom (encrypted)",
        await a.client.room_create(
            name="e2ee interop",
            preset=RoomPreset.private_chat,
            invite=[context.bob_id],
            initial_state=[
                {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": MEGOLM}}
            ],
        ),
        RoomCreateResponse,
    )
    context.room = str(created.room_id)
    return context.room


async def _exchange(context: Context, a: Device, b: Device) -> None:
    """The encrypted room, B's join, A's message decrypted by B and B's reply by A."""
    observed, tag, bob_id = context.observed, context.tag, context.bob_id
    room = await _encrypted_room(context, a)
    await b.until("the invite", lambda: room in b.client.invited_rooms)
    ok("bob: POST join", await b.client.join(room), JoinResponse)
    await b.until("the room's encryption", lambda: room in b.encryption)
    observed["room_encrypted_seen_by_bob"] = b.encryption[room]
    await a.until(
        "bob's join", lambda: room in a.client.rooms and bob_id in a.client.rooms[room].users
    )

    sent = await _send(a, room, FROM_ALICE)
    context.first_message = sent
    await b.until("alice's message decrypted", lambda: sent in b.decrypted)
    observed["bob_decrypted"] = _decrypted(b, sent, tag)
    reply = await _send(b, room, FROM_BOB)
    await a.until("bob's reply decrypted", lambda: reply in a.decrypted)
    observed["alice_decrypted"] = _decrypted(a, reply, tag)


async def _send(device: Device, room: str, body: str) -> str:
    """Send ``body`` (nio encrypts it, sharing the room key first when needed): the event ID."""
    sent = ok(
        f"{device.name}: PUT send (encrypted)",
        await device.client.room_send(
            room,
            "m.room.message",
            {"msgtype": "m.text", "body": body},
            ignore_unverified_devices=True,
        ),
        RoomSendResponse,
    )
    return str(sent.event_id)


async def _second_device(context: Context, b: Device) -> None:
    """A's second device: B learns of it, and it decrypts B's next message."""
    a2 = await _login(context, ALICE, "alice-2")
    a2_device = a2.client.device_id

    def bob_knows_it() -> bool:
        devices = b.client.device_store.active_user_devices(context.alice_id)
        return any(d.id == a2_device for d in devices)

    await b.until("alice's second device (device_lists.changed, /keys/query)", bob_knows_it)
    context.observed["bob_learns_second_device"] = True
    sent = await _send(b, context.room, TO_SECOND_DEVICE)
    await a2.until("bob's message decrypted", lambda: sent in a2.decrypted)
    context.observed["second_device_decrypted"] = _decrypted(a2, sent, context.tag)
    first = context.first_message
    context.observed["second_device_cannot_read_earlier"] = (
        first in a2.undecryptable and first not in a2.decrypted
    )


# Cross-library: nio's A and matrix-js-sdk's B (js/e2ee_peer.mjs) in one encrypted room.
PEER_PLAINTEXT = "secret from nio to the js-sdk"
PEER_REPLY = f"reply to: {PEER_PLAINTEXT}"

# What the two libraries observe of each other, verified against Synapse.
PEER_EXPECTED: dict[str, Any] = {
    "js_decrypted": {"body": PEER_PLAINTEXT, "sender": ALICE},
    "nio_decrypted": {"body": PEER_REPLY, "sender": BOB},
}


async def _peer_line(process: asyncio.subprocess.Process, what: str) -> dict[str, Any]:
    """The next JSON line the js-sdk peer prints; ``ScenarioError`` if it fails or says no."""
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), WAIT_SECONDS * 2)
    except TimeoutError:
        raise ScenarioError(f"bob (js-sdk): no {what} within {WAIT_SECONDS * 2:.0f} s") from None
    try:
        message: dict[str, Any] = json.loads(line)
    except json.JSONDecodeError:
        raise ScenarioError(f"bob (js-sdk): exited without {what} ({line!r})") from None
    if "error" in message:
        raise ScenarioError(f"bob (js-sdk): {message['error']}")
    return message


async def run_with_js_peer(
    base_url: str, tag: str, store_dir: Path, node: str, js_dir: Path
) -> tuple[dict[str, Any], list[str]]:
    """A (nio) sends B (matrix-js-sdk) an encrypted message and decrypts B's encrypted reply."""
    context = Context(base_url, tag, store_dir, {})
    failures: list[str] = []
    process: asyncio.subprocess.Process | None = None
    try:
        context.alice_id = await _register(base_url, ALICE, tag)
        context.bob_id = await _register(base_url, BOB, tag)
        process = await asyncio.create_subprocess_exec(
            node,
            str(js_dir / "e2ee_peer.mjs"),
            base_url,
            username(BOB, tag),
            PASSWORD,
            cwd=js_dir,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
        await _peer_line(process, "ready line")
        a = await _login(context, ALICE, "alice-1")
        room = await _encrypted_room(context, a)
        await a.until(
            "bob's join",
            lambda: room in a.client.rooms and context.bob_id in a.client.rooms[room].users,
        )
        await _send(a, room, PEER_PLAINTEXT)
        received = await _peer_line(process, "decrypted message")
        sender = str(received.get("sender", ""))[1:].split(":", 1)[0].removesuffix(f"-{tag}")
        context.observed["js_decrypted"] = {"body": received.get("received"), "sender": sender}
        reply = str(received.get("reply"))
        await a.until("the js-sdk's reply decrypted", lambda: reply in a.decrypted)
        context.observed["nio_decrypted"] = _decrypted(a, reply, tag)
    except ScenarioError as error:
        failures.append(str(error))
    finally:
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
        for device in context.devices:
            await device.client.close()
    return context.observed, failures
