"""End-to-end encryption keys across two Myelin servers (Server-Server API, "End-to-End
Encryption": ``/user/keys/query``, ``/user/keys/claim``, ``m.signing_key_update``; "Device
Management": ``m.device_list_update`` and ``/user/devices``)."""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from myelin.core.signing import SigningKey, sign_json
from tests.api.e2e_support import cross_key, cross_signing_key, device_keys, device_signing_key
from tests.api.e2e_support import signed_key as one_time_key
from tests.federation.conftest import Federation, RunningServer
from tests.federation.remote_support import PASSWORD, V3, Person, two_servers


@dataclass
class Device:
    """A user's device as the key helpers see it (``user_id``, ``device_id``)."""

    user_id: str
    device_id: str


async def whoami(person: Person) -> Device:
    body = await person.request("GET", f"{V3}/account/whoami")
    return Device(body["user_id"], body["device_id"])


async def upload_device(person: Person, otks: int = 2) -> tuple[Device, SigningKey]:
    device = await whoami(person)
    key = device_signing_key(device.device_id)
    body = {
        "device_keys": device_keys(device, key),  # type: ignore[arg-type]
        "one_time_keys": {
            f"signed_curve25519:k{n}": one_time_key(device, key, n)  # type: ignore[arg-type]
            for n in range(otks)
        },
    }
    await person.request("POST", f"{V3}/keys/upload", json=body)
    return device, key


async def login_again(person: Person) -> Person:
    """A second device of ``person``'s user (a new Person with its own token)."""
    other = Person(person.net, person.server, person.http)
    body = await person.request(
        "POST",
        f"{V3}/login",
        json={
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": person.user_id},
            "password": PASSWORD,
        },
    )
    other.user_id, other.token = body["user_id"], body["access_token"]
    return other


async def query(person: Person, wanted: dict[str, list[str]]) -> Any:
    return await person.request("POST", f"{V3}/keys/query", json={"device_keys": wanted})


async def until_changed(person: Person, user_id: str) -> None:
    """Sync until ``device_lists.changed`` names ``user_id``."""
    await person.sync_until(lambda body: user_id in body.get("device_lists", {}).get("changed", []))


async def eventually(
    ask: Callable[[], Awaitable[Any]], done: Callable[[Any], bool], timeout_s: float = 10.0
) -> Any:
    """Ask until the answer is ``done`` (EDUs travel in the background)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        answer = await ask()
        if done(answer):
            return answer
        assert loop.time() < deadline, answer
        await asyncio.sleep(0.1)


async def shared_room(a: RunningServer, alice: Person, bob: Person) -> str:
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id, via=[a.name])
    await alice.wait_for_member(room_id, bob.user_id, "join")
    return room_id


async def test_keys_query_and_claim_across_servers(federation: Federation) -> None:
    a, b = await two_servers(federation)
    async with federation.https() as http:
        alice = await Person(federation, a, http).register("alice")
        bob = await Person(federation, b, http).register("bob")
        await shared_room(a, alice, bob)
        await alice.sync()
        bob_device, _ = await upload_device(bob)
        master, master_public = cross_signing_key()
        self_signing, self_public = cross_signing_key()
        bob_user = Device(bob.user_id, bob_device.device_id)
        await bob.request(
            "POST",
            f"{V3}/keys/device_signing/upload",
            json={
                "master_key": cross_key(bob_user, "master", master_public),  # type: ignore[arg-type]
                "self_signing_key": sign_json(
                    cross_key(bob_user, "self_signing", self_public),  # type: ignore[arg-type]
                    bob.user_id,
                    master,
                ),
            },
        )
        del self_signing
        # Alice's server asks bob's (or holds what his updates told it): his device keys
        # and cross-signing keys, once the m.signing_key_update has arrived.
        found = await eventually(
            lambda: query(alice, {bob.user_id: []}),
            lambda body: bob.user_id in body["master_keys"],
        )
        assert found["failures"] == {}
        device = found["device_keys"][bob.user_id][bob_device.device_id]
        assert device["user_id"] == bob.user_id
        assert device["keys"][f"ed25519:{bob_device.device_id}"]
        assert found["master_keys"][bob.user_id]["keys"] == {
            f"ed25519:{master_public}": master_public
        }
        assert bob.user_id in found["self_signing_keys"]
        assert bob.user_id not in found.get("user_signing_keys", {})
        only = await query(alice, {bob.user_id: ["NOSUCHDEVICE"]})
        assert only["device_keys"][bob.user_id] == {}
        # Claiming takes one of bob's one-time keys on his server.
        wanted = {bob.user_id: {bob_device.device_id: "signed_curve25519"}}
        claimed = await alice.request("POST", f"{V3}/keys/claim", json={"one_time_keys": wanted})
        assert claimed["failures"] == {}
        keys = claimed["one_time_keys"][bob.user_id][bob_device.device_id]
        ((key_id, key),) = keys.items()
        assert key_id.startswith("signed_curve25519:") and "signatures" in key
        counts = await bob.request("POST", f"{V3}/keys/upload", json={})
        assert counts["one_time_key_counts"]["signed_curve25519"] == 1
        # A server that cannot be reached is reported in failures, the rest answered.
        mixed = await query(alice, {bob.user_id: [], "@carol:c.test": []})
        assert "c.test" in mixed["failures"]
        assert bob_device.device_id in mixed["device_keys"][bob.user_id]
        claim_fail = await alice.request(
            "POST",
            f"{V3}/keys/claim",
            json={"one_time_keys": {"@carol:c.test": {"DEV": "signed_curve25519"}}},
        )
        assert "c.test" in claim_fail["failures"]
        assert claim_fail["one_time_keys"] == {}


async def test_device_list_updates_cross_the_servers(federation: Federation) -> None:
    a, b = await two_servers(federation)
    async with federation.https() as http:
        alice = await Person(federation, a, http).register("alice")
        bob = await Person(federation, b, http).register("bob")
        await shared_room(a, alice, bob)
        await alice.sync()
        await bob.sync()
        first, _ = await upload_device(bob)
        # The update reaches a.test as an m.device_list_update EDU: alice hears of it.
        await until_changed(alice, bob.user_id)
        found = await query(alice, {bob.user_id: []})
        assert set(found["device_keys"][bob.user_id]) == {first.device_id}
        # A second device of bob's: chained by prev_id, applied to a.test's cache.
        bob2 = await login_again(bob)
        second, _ = await upload_device(bob2)
        await until_changed(alice, bob.user_id)
        found = await query(alice, {bob.user_id: []})
        assert set(found["device_keys"][bob.user_id]) == {first.device_id, second.device_id}
        # Deleting the first device (user-interactive auth with the password).
        path = f"{V3}/devices/{first.device_id}"
        challenge = await bob2.request("DELETE", path, json={}, status=401)
        await bob2.request(
            "DELETE",
            path,
            json={
                "auth": {
                    "type": "m.login.password",
                    "identifier": {"type": "m.id.user", "user": bob.user_id},
                    "password": PASSWORD,
                    "session": challenge["session"],
                }
            },
        )
        await until_changed(alice, bob.user_id)
        found = await query(alice, {bob.user_id: []})
        assert set(found["device_keys"][bob.user_id]) == {second.device_id}
        # And the other way: alice's keys reach bob through his server.
        alice_device, _ = await upload_device(alice)
        await until_changed(bob2, alice.user_id)
        found = await query(bob2, {alice.user_id: []})
        assert set(found["device_keys"][alice.user_id]) == {alice_device.device_id}


async def test_a_broken_prev_id_chain_resyncs(federation: Federation) -> None:
    """An update whose prev_id a.test never saw makes it fetch /user/devices again."""
    a, b = await two_servers(federation)
    async with federation.https() as http:
        alice = await Person(federation, a, http).register("alice")
        bob = await Person(federation, b, http).register("bob")
        await shared_room(a, alice, bob)
        await alice.sync()
        first, _ = await upload_device(bob)
        await until_changed(alice, bob.user_id)
        remote = a.hs.remote_devices
        assert remote is not None
        cached = remote.cached(bob.user_id)
        assert cached is not None and set(cached.devices) == {first.device_id}
        # An update for a device with an unknown prev_id (some update got lost): the cache
        # is refreshed from bob's server, which knows only the first device.
        await remote.on_device_list_update(
            b.name,
            {
                "user_id": bob.user_id,
                "device_id": "GHOST",
                "stream_id": 10_000,
                "prev_id": [9_999],
                "keys": {"user_id": bob.user_id, "device_id": "GHOST", "keys": {}},
            },
        )
        cached = remote.cached(bob.user_id)
        assert cached is not None and set(cached.devices) == {first.device_id}
        # A chained update is applied without asking: a deletion of the first device.
        assert cached.stream_id is not None
        await remote.on_device_list_update(
            b.name,
            {
                "user_id": bob.user_id,
                "device_id": first.device_id,
                "stream_id": cached.stream_id + 1,
                "prev_id": [cached.stream_id],
                "deleted": True,
            },
        )
        cached = remote.cached(bob.user_id)
        assert cached is not None and cached.devices == {}
        found = await query(alice, {bob.user_id: []})
        assert found["device_keys"][bob.user_id] == {}
        # An update about a user of another server than the sender's is ignored.
        await remote.on_device_list_update(
            "c.test",
            {"user_id": bob.user_id, "device_id": "X", "stream_id": 1, "prev_id": []},
        )
        assert remote.cached(bob.user_id) is cached
        await asyncio.sleep(0)


async def test_a_renamed_device_reaches_the_other_server(federation: Federation) -> None:
    a, b = await two_servers(federation)
    async with federation.https() as http:
        alice = await Person(federation, a, http).register("alice")
        bob = await Person(federation, b, http).register("bob")
        await shared_room(a, alice, bob)
        await alice.sync()
        device, _ = await upload_device(bob)
        await until_changed(alice, bob.user_id)
        await query(alice, {bob.user_id: []})
        await bob.request(
            "PUT", f"{V3}/devices/{device.device_id}", json={"display_name": "Bob's laptop"}
        )
        await until_changed(alice, bob.user_id)
        found = await eventually(
            lambda: query(alice, {bob.user_id: []}),
            lambda body: (
                body["device_keys"][bob.user_id][device.device_id]
                .get("unsigned", {})
                .get("device_display_name")
                == "Bob's laptop"
            ),
        )
        assert found["failures"] == {}


async def cross_sign(person: Person) -> tuple[SigningKey, str, SigningKey]:
    """Upload master, self-signing and user-signing keys; return the master key and its
    public part, and the user-signing key."""
    device = await whoami(person)
    master, master_public = cross_signing_key()
    self_signing, self_public = cross_signing_key()
    user_signing, user_public = cross_signing_key()
    body = {
        "master_key": cross_key(device, "master", master_public),  # type: ignore[arg-type]
        "self_signing_key": sign_json(
            cross_key(device, "self_signing", self_public),  # type: ignore[arg-type]
            person.user_id,
            master,
        ),
        "user_signing_key": sign_json(
            cross_key(device, "user_signing", user_public),  # type: ignore[arg-type]
            person.user_id,
            master,
        ),
    }
    await person.request("POST", f"{V3}/keys/device_signing/upload", json=body)
    del self_signing
    return master, master_public, user_signing


async def test_signing_a_remote_users_master_key(federation: Federation) -> None:
    """Alice verifies bob (of another server): her user-signing key's signature of his master
    key is kept on her server and shown to her only."""
    a, b = await two_servers(federation)
    async with federation.https() as http:
        alice = await Person(federation, a, http).register("alice")
        carol = await Person(federation, a, http).register("carol")
        bob = await Person(federation, b, http).register("bob")
        await shared_room(a, alice, bob)
        await upload_device(alice)
        await upload_device(bob)
        _, bob_master_public, _ = await cross_sign(bob)
        _, _, alice_user_signing = await cross_sign(alice)
        found = await eventually(
            lambda: query(alice, {bob.user_id: []}),
            lambda body: bob.user_id in body["master_keys"],
        )
        bobs_master = found["master_keys"][bob.user_id]
        signed = sign_json(
            {k: v for k, v in bobs_master.items() if k != "signatures"},
            alice.user_id,
            alice_user_signing,
        )
        key_id = f"ed25519:{bob_master_public}"
        answer = await alice.request(
            "POST", f"{V3}/keys/signatures/upload", json={bob.user_id: {bob_master_public: signed}}
        )
        assert answer["failures"] == {}
        mine = (await query(alice, {bob.user_id: []}))["master_keys"][bob.user_id]
        assert alice_user_signing.key_id in mine["signatures"][alice.user_id]
        assert mine["keys"] == {key_id: bob_master_public}
        theirs = (await query(carol, {bob.user_id: []}))["master_keys"][bob.user_id]
        assert alice.user_id not in theirs["signatures"]
        # A forged signature is refused, and a key that is not bob's master key.
        forged = dict(signed)
        forged["signatures"] = {alice.user_id: {alice_user_signing.key_id: "A" * 86}}
        refused = await alice.request(
            "POST", f"{V3}/keys/signatures/upload", json={bob.user_id: {bob_master_public: forged}}
        )
        failure = refused["failures"][bob.user_id][bob_master_public]
        assert failure["errcode"] == "M_INVALID_SIGNATURE"
        unknown = await alice.request(
            "POST", f"{V3}/keys/signatures/upload", json={bob.user_id: {"NOTAKEY": signed}}
        )
        assert bob.user_id in unknown["failures"]
