"""Send-to-device messaging and dehydrated devices over HTTP (Client-Server API,
"Send-to-Device messaging"; MSC3814 as Synapse serves it)."""

from typing import Any

from tests.api.account_support import V3, login, serve_accounts
from tests.api.conftest import ServeFn
from tests.api.e2e_support import device_keys, device_signing_key, query, signed_key
from tests.api.openapi import validate_response
from tests.api.room_support import User, new_user

MSC3814 = "/_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device"


async def _sync(user: User, since: str | None = None) -> Any:
    params = {"timeout": "0"}
    if since is not None:
        params["since"] = since
    body = await user.request("GET", f"{V3}/sync", params=params)
    validate_response(body, "client-server/sync.yaml", "/sync", "get", 200)
    return body


async def _send(user: User, txn: str, messages: Any, status: int = 200) -> Any:
    body = await user.request(
        "PUT",
        f"{V3}/sendToDevice/m.test/{txn}",
        json={"messages": messages},
        status=status,
    )
    if status == 200:
        validate_response(
            body, "client-server/to_device.yaml", "/sendToDevice/{eventType}/{txnId}", "put", 200
        )
    return body


async def test_delivered_in_order_until_acknowledged(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    bob2 = User(client, await login(client, "bob", device_id="SECOND"))
    await _send(alice, "t1", {bob.user_id: {bob.device_id: {"n": 1}}})
    await _send(alice, "t2", {bob.user_id: {"*": {"n": 2}}})
    # The same transaction ID again: not sent twice.
    await _send(alice, "t2", {bob.user_id: {"*": {"n": 2}}})
    first = await _sync(bob)
    events = first["to_device"]["events"]
    assert events == [
        {"type": "m.test", "sender": alice.user_id, "content": {"n": 1}},
        {"type": "m.test", "sender": alice.user_id, "content": {"n": 2}},
    ]
    # Not acknowledged (an initial sync again): sent again.
    assert (await _sync(bob))["to_device"]["events"] == events
    # Syncing with next_batch acknowledges them: deleted.
    second = await _sync(bob, first["next_batch"])
    assert second["to_device"]["events"] == []
    assert (await _sync(bob))["to_device"]["events"] == []
    # The other device got only the '*' message.
    assert [e["content"] for e in (await _sync(bob2))["to_device"]["events"]] == [{"n": 2}]
    # Unknown devices and remote users are skipped; bad bodies refused.
    await _send(alice, "t3", {bob.user_id: {"NOPE": {}}, "@x:remote.example": {"D": {}}})
    assert (await _sync(bob, second["next_batch"]))["to_device"]["events"] == []
    await _send(alice, "t4", {"not a user": {"D": {}}}, 400)
    await _send(alice, "t5", {bob.user_id: {"D": "text"}}, 400)
    await alice.request("PUT", f"{V3}/sendToDevice/m.test/t6", json={}, status=400)


async def test_limit_per_sync(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    messages = {bob.user_id: {bob.device_id: {"n": 0}}}
    for i in range(120):
        messages[bob.user_id][bob.device_id] = {"n": i}
        await _send(alice, f"t{i}", messages)
    first = await _sync(bob)
    assert [e["content"]["n"] for e in first["to_device"]["events"]] == list(range(100))
    second = await _sync(bob, first["next_batch"])
    assert [e["content"]["n"] for e in second["to_device"]["events"]] == list(range(100, 120))


async def test_survives_a_restart_and_is_delivered_once(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    await _send(alice, "t1", {bob.user_id: {bob.device_id: {"n": 1}}})
    first = await _sync(bob)
    assert len(first["to_device"]["events"]) == 1
    # A new server process on the same database.
    restarted = await serve_accounts(serve)
    bob_again = User(
        restarted, {"user_id": bob.user_id, "access_token": bob.token, "device_id": bob.device_id}
    )
    assert len((await _sync(bob_again))["to_device"]["events"]) == 1
    acked = await _sync(bob_again, first["next_batch"])
    assert acked["to_device"]["events"] == []
    assert (await _sync(bob_again, acked["next_batch"]))["to_device"]["events"] == []


async def test_deleted_device_loses_pending_messages(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    await login(client, "bob", device_id="GONE")
    await _send(alice, "t1", {bob.user_id: {"GONE": {"n": 1}}})
    await bob.request(
        "POST",
        f"{V3}/delete_devices",
        json={
            "devices": ["GONE"],
            "auth": {
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": bob.user_id},
                "password": "correct horse battery staple",
            },
        },
    )
    again = User(client, await login(client, "bob", device_id="GONE"))
    assert (await _sync(again))["to_device"]["events"] == []


async def test_dehydrated_device(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    await alice.request("GET", MSC3814, status=404)
    await alice.request("DELETE", MSC3814, status=404)
    dehydrated = User(client, {"user_id": alice.user_id, "access_token": "", "device_id": "DEHY"})
    key = device_signing_key("DEHY")
    body = {
        "device_id": "DEHY",
        "device_data": {"algorithm": "org.matrix.msc3814.v2", "device_pickle": "x"},
        "initial_device_display_name": "Dehydrated device",
        "device_keys": device_keys(dehydrated, key),
        "one_time_keys": {"signed_curve25519:A": signed_key(dehydrated, key, 1)},
    }
    assert await alice.request("PUT", MSC3814, json=body) == {"device_id": "DEHY"}
    assert await alice.request("GET", MSC3814) == {
        "device_id": "DEHY",
        "device_data": body["device_data"],
    }
    # Its keys are served like any device's; it receives to-device messages.
    assert "DEHY" in (await query(bob, {alice.user_id: []}))["device_keys"][alice.user_id]
    await _send(bob, "t1", {alice.user_id: {"DEHY": {"n": 1}}})
    await _send(bob, "t2", {alice.user_id: {"DEHY": {"n": 2}}})
    page = await alice.request("POST", f"{MSC3814}/DEHY/events", json={})
    assert [e["content"]["n"] for e in page["events"]] == [1, 2]
    done = await alice.request(
        "POST", f"{MSC3814}/DEHY/events", json={"next_batch": page["next_batch"]}
    )
    assert done["events"] == []
    await alice.request("POST", f"{MSC3814}/OTHER/events", json={}, status=403)
    await alice.request("POST", f"{MSC3814}/DEHY/events", json={"next_batch": "x"}, status=400)
    await alice.request("PUT", MSC3814, json={"device_id": "D2"}, status=400)
    await alice.request(
        "PUT", MSC3814, json={"device_id": alice.device_id, "device_data": {}}, status=400
    )
    # A new dehydrated device replaces (and deletes) the old one.
    await alice.request("PUT", MSC3814, json={"device_id": "DEHY2", "device_data": {"v": 2}})
    devices = await alice.request("GET", f"{V3}/devices")
    ids = {d["device_id"] for d in devices["devices"]}
    assert "DEHY2" in ids and "DEHY" not in ids
    assert await alice.request("DELETE", MSC3814) == {"device_id": "DEHY2"}
    await alice.request("GET", MSC3814, status=404)
