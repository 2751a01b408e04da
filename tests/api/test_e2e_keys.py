"""End-to-end encryption keys over HTTP (Client-Server API, "End-to-End Encryption":
uploading keys, one-time and fallback keys, /keys/query, /keys/claim, /keys/changes and the
/sync extensions)."""

import asyncio
from typing import Any

from tests.api.account_support import V3, login, serve_accounts
from tests.api.conftest import ServeFn
from tests.api.e2e_support import (
    KEYS,
    claim,
    device_keys,
    device_signing_key,
    query,
    signed_key,
    upload,
)
from tests.api.openapi import validate_response
from tests.api.room_support import User, new_user


async def _sync(user: User, since: str | None = None) -> Any:
    params = {"timeout": "0"}
    if since is not None:
        params["since"] = since
    body = await user.request("GET", f"{V3}/sync", params=params)
    validate_response(body, "client-server/sync.yaml", "/sync", "get", 200)
    return body


async def test_upload_counts_and_query(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    key = device_signing_key(alice.device_id)
    keys = device_keys(alice, key)
    body = await upload(
        alice,
        device_keys=keys,
        one_time_keys={f"signed_curve25519:K{i}": signed_key(alice, key, i) for i in range(3)},
        fallback_keys={"signed_curve25519:F1": signed_key(alice, key, 99, fallback=True)},
    )
    validate_response(body, KEYS, "/keys/upload", "post", 200)
    assert body == {"one_time_key_counts": {"signed_curve25519": 3}}
    # Without new keys the counts are returned (signed_curve25519 always counted).
    assert await upload(bob) == {"one_time_key_counts": {"signed_curve25519": 0}}
    result = await query(bob, {alice.user_id: [], bob.user_id: []})
    validate_response(result, KEYS, "/keys/query", "post", 200)
    served = result["device_keys"][alice.user_id][alice.device_id]
    assert served["keys"] == keys["keys"] and served["signatures"] == keys["signatures"]
    assert "device_display_name" in served["unsigned"] or served["unsigned"] == {}
    # Devices without keys are not listed; the device filter applies.
    assert result["device_keys"][bob.user_id] == {}
    only = await query(bob, {alice.user_id: ["NOPE"]})
    assert only["device_keys"] == {alice.user_id: {}}
    # Remote servers cannot be reached (no federation): listed in failures.
    remote = await query(bob, {"@x:remote.example": []})
    assert "remote.example" in remote["failures"]


async def test_upload_refusals(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    key = device_signing_key(alice.device_id)
    good = device_keys(alice, key)
    # "Must match the user ID / device ID used when logging in."
    other = device_keys(alice, key) | {"device_id": "OTHER"}
    await upload(alice, 400, device_keys=other)
    await upload(alice, 400, device_keys=good | {"user_id": "@bob:test.example"})
    # Must be signed by the device's own Ed25519 key.
    forged = dict(good, signatures={alice.user_id: {key.key_id: "AAAA"}})
    body = await upload(alice, 400, device_keys=forged)
    assert body["errcode"] == "M_INVALID_SIGNATURE"
    stranger = device_signing_key(alice.device_id)
    body = await upload(
        alice,
        400,
        device_keys=device_keys(alice, key)
        | {"signatures": device_keys(alice, stranger)["signatures"]},
    )
    assert body["errcode"] == "M_INVALID_SIGNATURE"
    await upload(alice, 400, device_keys="nope")
    await upload(alice, device_keys=good)
    # Signed one-time keys must carry a valid signature of the device.
    bad = signed_key(alice, stranger, 1)
    body = await upload(alice, 400, one_time_keys={"signed_curve25519:A": bad})
    assert body["errcode"] == "M_INVALID_SIGNATURE"
    await upload(alice, 400, one_time_keys={"no_colon": "x"})
    await upload(alice, 400, one_time_keys=[1])
    # Re-uploading a key ID with another key is refused; the same key again is fine.
    await upload(alice, one_time_keys={"signed_curve25519:A": signed_key(alice, key, 1)})
    await upload(alice, one_time_keys={"signed_curve25519:A": signed_key(alice, key, 1)})
    body = await upload(
        alice, 400, one_time_keys={"signed_curve25519:A": signed_key(alice, key, 2)}
    )
    assert body["errcode"] == "M_INVALID_PARAM"
    assert (await upload(alice))["one_time_key_counts"]["signed_curve25519"] == 1
    # At most one fallback key per algorithm.
    await upload(
        alice,
        400,
        fallback_keys={
            "signed_curve25519:F1": signed_key(alice, key, 5, fallback=True),
            "signed_curve25519:F2": signed_key(alice, key, 6, fallback=True),
        },
    )


async def test_claim_once_then_fallback(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    key = device_signing_key(alice.device_id)
    await upload(
        alice,
        device_keys=device_keys(alice, key),
        one_time_keys={f"signed_curve25519:K{i}": signed_key(alice, key, i) for i in range(2)},
        fallback_keys={"signed_curve25519:F": signed_key(alice, key, 9, fallback=True)},
    )
    first = await _sync(alice)
    assert first["device_one_time_keys_count"] == {"signed_curve25519": 2}
    assert first["device_unused_fallback_key_types"] == ["signed_curve25519"]
    wanted = {alice.user_id: {alice.device_id: "signed_curve25519"}}
    seen = []
    for _ in range(2):
        result = await claim(bob, wanted)
        validate_response(result, KEYS, "/keys/claim", "post", 200)
        ((name, _),) = result["one_time_keys"][alice.user_id][alice.device_id].items()
        seen.append(name)
    assert sorted(seen) == ["signed_curve25519:K0", "signed_curve25519:K1"]
    # Out of one-time keys: the fallback key, again and again, now marked used.
    for _ in range(2):
        result = await claim(bob, wanted)
        got = result["one_time_keys"][alice.user_id][alice.device_id]
        assert list(got) == ["signed_curve25519:F"] and got["signed_curve25519:F"]["fallback"]
    later = await _sync(alice, first["next_batch"])
    assert later["device_one_time_keys_count"] == {"signed_curve25519": 0}
    assert later["device_unused_fallback_key_types"] == []
    # A new fallback key is unused again.
    await upload(alice, fallback_keys={"signed_curve25519:G": signed_key(alice, key, 8)})
    assert (await _sync(alice, later["next_batch"]))["device_unused_fallback_key_types"] == [
        "signed_curve25519"
    ]
    # Unknown devices and algorithms give nothing; remote users are failures.
    none = await claim(
        bob, {alice.user_id: {"NOPE": "signed_curve25519"}, "@x:remote.example": {"D": "a"}}
    )
    assert none["one_time_keys"] == {} and "remote.example" in none["failures"]
    await claim(bob, {alice.user_id: {"D": 1}}, 400)  # type: ignore[dict-item]
    await claim(bob, {"not a user": {"D": "a"}}, 400)


async def test_concurrent_claims_never_hand_out_a_key_twice(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    claimers = [await new_user(client, f"u{i}") for i in range(4)]
    key = device_signing_key(alice.device_id)
    await upload(
        alice,
        device_keys=device_keys(alice, key),
        one_time_keys={f"signed_curve25519:K{i:02}": signed_key(alice, key, i) for i in range(20)},
    )
    wanted = {alice.user_id: {alice.device_id: "signed_curve25519"}}
    results = await asyncio.gather(*(claim(claimers[i % 4], wanted) for i in range(30)))
    handed = [
        name
        for r in results
        for name in r["one_time_keys"].get(alice.user_id, {}).get(alice.device_id, {})
    ]
    assert len(handed) == 20 and len(set(handed)) == 20
    assert (await upload(alice))["one_time_key_counts"]["signed_curve25519"] == 0


async def test_device_lists_in_sync_and_keys_changes(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    carol = await new_user(client, "carol")
    room = await alice.create_room(preset="public_chat")
    await bob.join(room)
    start = (await _sync(bob))["next_batch"]
    # Alice's new keys: Bob shares a room with her, so she is in changed.
    await upload(alice, device_keys=device_keys(alice, device_signing_key(alice.device_id)))
    # Carol's keys change too, but she shares no room with Bob.
    await upload(carol, device_keys=device_keys(carol, device_signing_key(carol.device_id)))
    after_keys = await _sync(bob, start)
    assert after_keys["device_lists"] == {"changed": [alice.user_id], "left": []}
    changes = await bob.request(
        "GET", f"{V3}/keys/changes", params={"from": start, "to": after_keys["next_batch"]}
    )
    validate_response(changes, KEYS, "/keys/changes", "get", 200)
    assert changes == {"changed": [alice.user_id], "left": []}
    # Carol joining makes her a user Bob now shares a room with.
    await carol.join(room)
    after_join = await _sync(bob, after_keys["next_batch"])
    assert after_join["device_lists"]["changed"] == [carol.user_id]
    # Carol leaving: she shares no room with Bob any more.
    await carol.leave(room)
    after_leave = await _sync(bob, after_join["next_batch"])
    assert after_leave["device_lists"] == {"changed": [], "left": [carol.user_id]}
    # Bob leaving: Alice is left for him, and he is left for her.
    alice_since = (await _sync(alice))["next_batch"]
    await bob.leave(room)
    assert (await _sync(bob, after_leave["next_batch"]))["device_lists"]["left"] == [alice.user_id]
    assert (await _sync(alice, alice_since))["device_lists"]["left"] == [bob.user_id]
    # Bad tokens.
    await bob.request("GET", f"{V3}/keys/changes", params={"from": "x", "to": start}, status=400)
    await bob.request("GET", f"{V3}/keys/changes", params={"to": start}, status=400)


async def test_deleting_a_device_removes_its_keys_and_tells_peers(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    phone = User(client, await login(client, "alice", device_id="PHONE"))
    key = device_signing_key("PHONE")
    await upload(
        phone,
        device_keys=device_keys(phone, key),
        one_time_keys={"signed_curve25519:A": signed_key(phone, key, 1)},
    )
    room = await alice.create_room(preset="public_chat")
    await bob.join(room)
    since = (await _sync(bob))["next_batch"]
    assert "PHONE" in (await query(bob, {alice.user_id: []}))["device_keys"][alice.user_id]
    await alice.request(
        "POST",
        f"{V3}/delete_devices",
        json={
            "devices": ["PHONE"],
            "auth": {
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": alice.user_id},
                "password": "correct horse battery staple",
            },
        },
    )
    assert (await query(bob, {alice.user_id: []}))["device_keys"][alice.user_id] == {}
    assert (await claim(bob, {alice.user_id: {"PHONE": "signed_curve25519"}}))[
        "one_time_keys"
    ] == {}
    assert (await _sync(bob, since))["device_lists"]["changed"] == [alice.user_id]
