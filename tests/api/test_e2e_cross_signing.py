"""Cross-signing over HTTP (Client-Server API, "Cross-signing": /keys/device_signing/upload
with its UIA rules, /keys/signatures/upload with its failures, keys served by /keys/query)."""

from typing import Any

from myelin.core.signing import sign_json
from tests.api.account_support import V3, password_auth, serve_accounts
from tests.api.conftest import ServeFn
from tests.api.e2e_support import (
    CROSS,
    cross_key,
    cross_signing_key,
    device_keys,
    device_signing_key,
    query,
    upload,
)
from tests.api.openapi import validate_response
from tests.api.room_support import User, new_user


async def _signing_upload(user: User, body: dict[str, Any], status: int = 200) -> Any:
    return await user.request("POST", f"{V3}/keys/device_signing/upload", json=body, status=status)


def _keys(user: User) -> tuple[dict[str, Any], Any, Any, Any]:
    master, master_pub = cross_signing_key()
    ssk, ssk_pub = cross_signing_key()
    usk, usk_pub = cross_signing_key()
    body = {
        "master_key": cross_key(user, "master", master_pub),
        "self_signing_key": sign_json(
            cross_key(user, "self_signing", ssk_pub), user.user_id, master
        ),
        "user_signing_key": sign_json(
            cross_key(user, "user_signing", usk_pub), user.user_id, master
        ),
    }
    return body, master, ssk, usk


async def test_uia_rules_for_device_signing_upload(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    body, _, _, _ = _keys(alice)
    # No master key yet: no UIA. The same keys again (a retry): no UIA either.
    assert await _signing_upload(alice, body) == {}
    assert await _signing_upload(alice, body) == {}
    # New keys when a master key exists: UIA.
    replacement, _, _, _ = _keys(alice)
    challenge = await _signing_upload(alice, replacement, 401)
    assert challenge["flows"] and "session" in challenge
    # Only some keys, all equal to the stored ones: still no UIA.
    assert await _signing_upload(alice, {"master_key": body["master_key"]}) == {}
    wrong = password_auth(alice.user_id, challenge["session"], password="wrong")
    await _signing_upload(alice, replacement | {"auth": wrong}, 401)
    auth = password_auth(alice.user_id, challenge["session"])
    assert await _signing_upload(alice, replacement | {"auth": auth}) == {}
    served = await query(alice, {alice.user_id: []})
    assert served["master_keys"][alice.user_id]["keys"] == replacement["master_key"]["keys"]


async def test_device_signing_upload_refusals(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    body, master, _, _ = _keys(alice)
    # The self-signing key must be signed by the master key.
    other, _ = cross_signing_key()
    unsigned = dict(body)
    unsigned["self_signing_key"] = sign_json(
        {k: v for k, v in body["self_signing_key"].items() if k != "signatures"},
        alice.user_id,
        other,
    )
    result = await _signing_upload(alice, unsigned, 400)
    assert result["errcode"] == "M_INVALID_SIGNATURE"
    # No master key at all: M_MISSING_PARAM.
    result = await _signing_upload(alice, {"self_signing_key": body["self_signing_key"]}, 400)
    assert result["errcode"] == "M_MISSING_PARAM"
    # Wrong usage, wrong user, key ID not the public key.
    bad_usage = dict(body, master_key=dict(body["master_key"], usage=["self_signing"]))
    await _signing_upload(alice, bad_usage, 400)
    bad_user = dict(body, master_key=dict(body["master_key"], user_id="@bob:test.example"))
    await _signing_upload(alice, bad_user, 400)
    bad_id = dict(body, master_key=dict(body["master_key"], keys={"ed25519:X": "abc"}))
    await _signing_upload(alice, bad_id, 400)
    # A public key equal to one of the user's device IDs: 403.
    clash = User(
        client,
        await (
            await client.post(
                f"{V3}/login",
                json={
                    "type": "m.login.password",
                    "identifier": {"type": "m.id.user", "user": "alice"},
                    "password": "correct horse battery staple",
                    "device_id": master.verify_key.encode(),
                },
            )
        ).json(),
    )
    result = await _signing_upload(clash, body, 403)
    assert result["errcode"] == "M_FORBIDDEN"


async def test_signatures_upload(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    dkey = device_signing_key(alice.device_id)
    keys = device_keys(alice, dkey)
    await upload(alice, device_keys=keys)
    body, master, ssk, _ = _keys(alice)
    await _signing_upload(alice, body)
    bob_body, _, _, bob_usk = _keys(bob)
    await _signing_upload(bob, bob_body)
    # Alice's self-signing key signs her device.
    signed_device = sign_json(keys, alice.user_id, ssk)
    result = await alice.request(
        "POST",
        f"{V3}/keys/signatures/upload",
        json={alice.user_id: {alice.device_id: signed_device}},
    )
    validate_response(result, CROSS, "/keys/signatures/upload", "post", 200)
    assert result["failures"] == {}
    served = (await query(bob, {alice.user_id: []}))["device_keys"][alice.user_id]
    assert ssk.key_id in served[alice.device_id]["signatures"][alice.user_id]
    # A bad signature, an object that is not the stored key, an unknown key: failures.
    forged = dict(keys, signatures={alice.user_id: {ssk.key_id: "AAAA"}})
    changed = sign_json(dict(keys, algorithms=["x"]), alice.user_id, ssk)
    result = await alice.request(
        "POST",
        f"{V3}/keys/signatures/upload",
        json={alice.user_id: {alice.device_id: forged, "NOPE": signed_device}},
    )
    assert result["failures"][alice.user_id][alice.device_id]["errcode"] in ("M_INVALID_SIGNATURE",)
    assert result["failures"][alice.user_id]["NOPE"]["errcode"] == "M_NOT_FOUND"
    result = await alice.request(
        "POST", f"{V3}/keys/signatures/upload", json={alice.user_id: {alice.device_id: changed}}
    )
    assert result["failures"][alice.user_id][alice.device_id]["errcode"] == "M_INVALID_PARAM"
    # Bob's user-signing key signs Alice's master key: only Bob (and Alice) see it.
    alice_master = (await query(bob, {alice.user_id: []}))["master_keys"][alice.user_id]
    signed_master = sign_json(alice_master, bob.user_id, bob_usk)
    master_pub = master.verify_key.encode()
    result = await bob.request(
        "POST", f"{V3}/keys/signatures/upload", json={alice.user_id: {master_pub: signed_master}}
    )
    assert result["failures"] == {}
    seen_by_bob = await query(bob, {alice.user_id: [], bob.user_id: []})
    validate_response(seen_by_bob, "client-server/keys.yaml", "/keys/query", "post", 200)
    assert bob.user_id in seen_by_bob["master_keys"][alice.user_id]["signatures"]
    carol = await new_user(client, "carol")
    seen_by_carol = await query(carol, {alice.user_id: []})
    assert bob.user_id not in seen_by_carol["master_keys"][alice.user_id]["signatures"]
    # User-signing keys are only shown to their owner.
    assert bob.user_id in seen_by_bob["user_signing_keys"]
    assert alice.user_id not in seen_by_bob.get("user_signing_keys", {})
    assert alice.user_id in seen_by_carol["self_signing_keys"]
    # Another user's device may not be signed.
    result = await bob.request(
        "POST",
        f"{V3}/keys/signatures/upload",
        json={alice.user_id: {alice.device_id: sign_json(keys, bob.user_id, bob_usk)}},
    )
    assert result["failures"][alice.user_id][alice.device_id]["errcode"] == "M_FORBIDDEN"


async def test_new_cross_signing_keys_and_signatures_reach_device_lists(serve: ServeFn) -> None:
    # "When Alice uploads new keys, her user ID will appear in the changed property of the
    # device_lists field of the /sync of response of all users who share an encrypted room
    # with her."
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    carol = await new_user(client, "carol")
    room = await alice.create_room(preset="public_chat")
    await bob.join(room)

    async def next_batch(user: User, since: str | None = None) -> tuple[str, Any]:
        params = {"timeout": "0"} | ({"since": since} if since else {})
        body = await user.request("GET", f"{V3}/sync", params=params)
        return body["next_batch"], body.get("device_lists", {})

    since, _ = await next_batch(bob)
    carol_since, _ = await next_batch(carol)
    dkey = device_signing_key(alice.device_id)
    keys = device_keys(alice, dkey)
    await upload(alice, device_keys=keys)
    since, _ = await next_batch(bob, since)
    body, _, ssk, _ = _keys(alice)
    await _signing_upload(alice, body)
    since, lists = await next_batch(bob, since)
    assert lists.get("changed") == [alice.user_id]
    # Carol shares no room with Alice: nothing.
    carol_since, lists = await next_batch(carol, carol_since)
    assert alice.user_id not in lists.get("changed", [])
    # A new signature on Alice's device: changed again.
    result = await alice.request(
        "POST",
        f"{V3}/keys/signatures/upload",
        json={alice.user_id: {alice.device_id: sign_json(keys, alice.user_id, ssk)}},
    )
    assert result["failures"] == {}
    _, lists = await next_batch(bob, since)
    assert lists.get("changed") == [alice.user_id]
