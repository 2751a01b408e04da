"""Interop over federation with Synapse, end-to-end encrypted (Client-Server API "End-to-End
Encryption"; Server-Server API "End-to-End Encryption": ``/user/keys/query``,
``/user/keys/claim``, ``m.direct_to_device`` and ``m.device_list_update`` EDUs).

matrix-nio with vodozemac on both sides: alice on Myelin, bob on Synapse, in an encrypted room
of alice's. Alice's client queries bob's device keys and claims a one-time key through Myelin
(which asks Synapse), and sends the Megolm room key to bob's device as a to-device message over
federation; bob decrypts her message, and she decrypts his reply the same way back. Alice then
logs in a second device: bob learns of it through ``device_lists.changed`` (the device list
update crossing the servers) and his next message is decryptable there.

Marked ``synapse`` (the SQLite pass only).
"""

import uuid
from pathlib import Path

import pytest
from nio import (
    AsyncClient,
    AsyncClientConfig,
    JoinResponse,
    KeysUploadResponse,
    LoginResponse,
    RegisterResponse,
    RoomCreateResponse,
    RoomInviteResponse,
    RoomPreset,
)

from tests.interop.federation_support import federated_pair
from tests.interop.scenario_e2ee_nio import MEGOLM, Device, _config, _decrypted, _send
from tests.interop.scenario_nio import PASSWORD, ok

pytestmark = [pytest.mark.synapse]


class Devices:
    """Every nio device of the test, closed at the end."""

    def __init__(self, store_dir: Path) -> None:
        self.store_dir = store_dir
        self.all: list[Device] = []

    async def register(self, base_url: str, localpart: str) -> str:
        client = AsyncClient(base_url, config=AsyncClientConfig(encryption_enabled=False))
        try:
            answer = ok(
                f"{localpart}: POST /register",
                await client.register(localpart, PASSWORD, "nio register"),
                RegisterResponse,
            )
        finally:
            await client.close()
        return str(answer.user_id)

    async def login(self, base_url: str, localpart: str, label: str) -> Device:
        store = self.store_dir / label
        store.mkdir(parents=True, exist_ok=True)
        client = AsyncClient(base_url, user=localpart, store_path=str(store), config=_config())
        device = Device(client, label)
        self.all.append(device)
        ok(f"{label}: POST /login", await client.login(PASSWORD, label), LoginResponse)
        ok(f"{label}: POST /keys/upload", await client.keys_upload(), KeysUploadResponse)
        await device.sync_once()
        return device

    async def close(self) -> None:
        for device in self.all:
            await device.client.close()


async def test_encrypted_room_across_the_servers(tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    alice_name, bob_name = f"alice-{tag}", f"bob-{tag}"
    devices = Devices(tmp_path / "stores")
    async with federated_pair(tmp_path) as pair:
        try:
            alice_id = await devices.register(pair.myelin.base_url, alice_name)
            bob_id = await devices.register(pair.synapse.base_url, bob_name)
            a = await devices.login(pair.myelin.base_url, alice_name, "alice-1")
            b = await devices.login(pair.synapse.base_url, bob_name, "bob-1")
            created = ok(
                "alice: POST /createRoom (encrypted)",
                await a.client.room_create(
                    preset=RoomPreset.private_chat,
                    initial_state=[
                        {
                            "type": "m.room.encryption",
                            "state_key": "",
                            "content": {"algorithm": MEGOLM},
                        }
                    ],
                ),
                RoomCreateResponse,
            )
            room = created.room_id
            ok("alice: POST invite", await a.client.room_invite(room, bob_id), RoomInviteResponse)
            await b.until("the invite", lambda: room in b.client.invited_rooms)
            ok("bob: POST join", await b.client.join(room), JoinResponse)
            await b.until("the room's encryption", lambda: room in b.encryption)
            assert b.encryption[room] == MEGOLM
            await a.until(
                "bob's join",
                lambda: room in a.client.rooms and bob_id in a.client.rooms[room].users,
            )
            # Keys query and claim for bob's device go through Myelin to Synapse; the room
            # key reaches bob's device as a to-device message over federation.
            sent = await _send(a, room, "secret from Myelin")
            await b.until("alice's message decrypted", lambda: sent in b.decrypted)
            assert _decrypted(b, sent, tag)["body"] == "secret from Myelin"
            reply = await _send(b, room, "secret from Synapse")
            await a.until("bob's reply decrypted", lambda: reply in a.decrypted)
            assert _decrypted(a, reply, tag)["body"] == "secret from Synapse"
            # A second device of alice's: its device list update crosses to Synapse.
            a2 = await devices.login(pair.myelin.base_url, alice_name, "alice-2")
            a2_device = a2.client.device_id

            def bob_knows_it() -> bool:
                known = b.client.device_store.active_user_devices(alice_id)
                return any(d.id == a2_device for d in known)

            await b.until("alice's second device (device_lists.changed)", bob_knows_it)
            later = await _send(b, room, "secret for alice's second device")
            await a2.until("bob's message decrypted", lambda: later in a2.decrypted)
            assert sent in a2.undecryptable and sent not in a2.decrypted
        finally:
            await devices.close()
