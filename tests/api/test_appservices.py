"""The Application Service API over real HTTP both ways: a homeserver and an in-process bridge on
127.0.0.1 (registration, identity assertion, namespaces, transactions with retries and restart
durability, queries, ping, third-party networks), on the engine under test."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.account_support import auth_header, register
from tests.api.appservice_support import (
    AS_TOKEN,
    V3,
    Bridge,
    Client,
    as_auth,
    eventually,
    register_as_user,
    start_homeserver,
    write_registration,
)
from tests.api.conftest import SERVER_NAME, FakeClock, MakeConfig
from tests.api.openapi import error_schema, validate, validate_response

PING = "/_matrix/client/v1/appservice/{appserviceId}/ping"
PING_SPEC = "/appservice/{appserviceId}/ping"


@pytest.fixture
async def bridge() -> AsyncIterator[Bridge]:
    bridge = Bridge()
    await bridge.server.start_server()
    yield bridge
    await bridge.server.close()


@pytest.fixture
async def running(
    bridge: Bridge, make_config: MakeConfig, clock: FakeClock, tmp_path: Path
) -> AsyncIterator[Client]:
    hs, client = await start_homeserver(
        make_config, clock, write_registration(tmp_path, bridge.url, receive_ephemeral=True)
    )
    bridge.homeserver = client
    yield client
    await client.close()
    await hs.close()


async def _whoami(client: Client, query: str = "", token: str = AS_TOKEN) -> tuple[int, Any]:
    response = await client.get(f"{V3}/account/whoami{query}", headers=as_auth(token))
    return response.status, await response.json()


async def test_identity_assertion(running: Client) -> None:
    client = running
    status, body = await _whoami(client)
    assert (status, body["user_id"]) == (200, f"@_bridge_bot:{SERVER_NAME}")
    alice = await register_as_user(client, "_bridge_alice")
    status, body = await _whoami(client, f"?user_id={alice}")
    assert (status, body["user_id"]) == (200, alice)
    # Outside the namespaces; inside but never registered; a device that is not the user's.
    status, body = await _whoami(client, f"?user_id=@someone:{SERVER_NAME}")
    assert (status, body["errcode"]) == (403, "M_EXCLUSIVE")
    validate(body, error_schema())
    status, body = await _whoami(client, f"?user_id=@_bridge_ghost:{SERVER_NAME}")
    assert (status, body["errcode"]) == (403, "M_FORBIDDEN")
    status, body = await _whoami(client, f"?user_id={alice}&device_id=NOPE")
    assert (status, body["errcode"]) == (400, "M_UNKNOWN_DEVICE")
    # m.login.application_service login gives a device the service may then act with.
    flows = await (await client.get(f"{V3}/login")).json()
    assert {"type": "m.login.application_service"} in flows["flows"]
    response = await client.post(
        f"{V3}/login",
        json={
            "type": "m.login.application_service",
            "identifier": {"type": "m.id.user", "user": "_bridge_alice"},
        },
        headers=as_auth(),
    )
    assert response.status == 200, await response.text()
    session = await response.json()
    validate_response(session, "client-server/login.yaml", "/login", "post", 200)
    status, body = await _whoami(client, f"?user_id={alice}&device_id={session['device_id']}")
    assert (status, body.get("device_id")) == (200, session["device_id"])
    status, body = await _whoami(client, token=session["access_token"])
    assert (status, body["user_id"]) == (200, alice)
    # An unknown token is still refused.
    status, body = await _whoami(client, token="not-a-token")
    assert (status, body["errcode"]) == (401, "M_UNKNOWN_TOKEN")


async def test_namespace_exclusivity(running: Client) -> None:
    client = running
    # Normal users may not take a user ID of an exclusive namespace.
    response = await client.get(f"{V3}/register/available?username=_bridge_bob")
    assert (response.status, (await response.json())["errcode"]) == (400, "M_EXCLUSIVE")
    response = await client.post(f"{V3}/register", json={"username": "_bridge_bob"})
    assert (response.status, (await response.json())["errcode"]) == (400, "M_EXCLUSIVE")
    # The service may not register users outside its namespaces.
    response = await client.post(
        f"{V3}/register",
        json={"type": "m.login.application_service", "username": "carol"},
        headers=as_auth(),
    )
    assert (response.status, (await response.json())["errcode"]) == (400, "M_EXCLUSIVE")
    # Nor log in as them; without or with a wrong token, 401.
    user = await register(client, "dave")
    response = await client.post(
        f"{V3}/login",
        json={
            "type": "m.login.application_service",
            "identifier": {"type": "m.id.user", "user": "dave"},
        },
        headers=as_auth(),
    )
    assert (response.status, (await response.json())["errcode"]) == (403, "M_EXCLUSIVE")
    for headers, errcode in (({}, "M_MISSING_TOKEN"), (as_auth("wrong"), "M_UNKNOWN_TOKEN")):
        response = await client.post(
            f"{V3}/register",
            json={"type": "m.login.application_service", "username": "_bridge_x"},
            headers=headers,
        )
        assert (response.status, (await response.json())["errcode"]) == (401, errcode)
    # A human may not create an alias in the exclusive alias namespace.
    token = user["access_token"]
    room = await (await client.post(f"{V3}/createRoom", json={}, headers=auth_header(token))).json()
    response = await client.put(
        f"{V3}/directory/room/%23_bridge_mine:{SERVER_NAME}",
        json={"room_id": room["room_id"]},
        headers=auth_header(token),
    )
    assert (response.status, (await response.json())["errcode"]) == (400, "M_EXCLUSIVE")
    response = await client.put(
        f"{V3}/directory/room/%23free:{SERVER_NAME}",
        json={"room_id": room["room_id"]},
        headers=auth_header(token),
    )
    assert response.status == 200


async def _send(client: Client, room_id: str, user_id: str, body: str, txn: str) -> str:
    response = await client.put(
        f"{V3}/rooms/{room_id}/send/m.room.message/{txn}?user_id={user_id}",
        json={"msgtype": "m.text", "body": body},
        headers=as_auth(),
    )
    assert response.status == 200, await response.text()
    event_id: str = (await response.json())["event_id"]
    return event_id


def _types(bridge: Bridge) -> list[str]:
    return [event["type"] for _, txn in bridge.transactions for event in txn["events"]]


def _bodies(bridge: Bridge) -> list[str]:
    return [
        event["content"]["body"]
        for _, txn in bridge.transactions
        for event in txn["events"]
        if event["type"] == "m.room.message"
    ]


async def test_transactions_in_order_with_retries(running: Client, bridge: Bridge) -> None:
    client = running
    alice = await register_as_user(client, "_bridge_alice")
    room = await (
        await client.post(f"{V3}/createRoom?user_id={alice}", json={}, headers=as_auth())
    ).json()
    await eventually(lambda: "m.room.create" in _types(bridge))
    bridge.fail_next = 2
    sent = [await _send(client, room["room_id"], alice, f"m{i}", f"t{i}") for i in range(5)]
    await eventually(lambda: _bodies(bridge) == [f"m{i}" for i in range(5)])
    # The failed transaction was retried with the same ID; IDs grow, each acknowledged once.
    retried = [txn for txn in set(bridge.attempts) if bridge.attempts.count(txn) == 3]
    assert len(retried) == 1
    first = bridge.attempts.index(retried[0])
    assert bridge.attempts[first : first + 3] == retried * 3
    ids = [int(txn) for txn, _ in bridge.transactions]
    assert ids == sorted(set(ids))
    events = [e for _, txn in bridge.transactions for e in txn["events"]]
    assert [e["event_id"] for e in events if e["type"] == "m.room.message"] == sent
    for _, txn in bridge.transactions:
        assert isinstance(txn["events"], list)
        assert all(e["room_id"] == room["room_id"] for e in txn["events"])
    # A room with none of the service's users or aliases is not sent.
    human = await register(client, "erin")
    other = await (
        await client.post(f"{V3}/createRoom", json={}, headers=auth_header(human["access_token"]))
    ).json()
    await client.put(
        f"{V3}/rooms/{other['room_id']}/send/m.room.message/x",
        json={"msgtype": "m.text", "body": "private"},
        headers=auth_header(human["access_token"]),
    )
    await _send(client, room["room_id"], alice, "after", "t9")
    await eventually(lambda: "after" in _bodies(bridge))
    assert "private" not in _bodies(bridge)


async def test_queue_survives_restart(
    bridge: Bridge, make_config: MakeConfig, clock: FakeClock, tmp_path: Path
) -> None:
    registration = write_registration(tmp_path, bridge.url)
    hs, client = await start_homeserver(make_config, clock, registration)
    alice = await register_as_user(client, "_bridge_alice")
    room = await (
        await client.post(f"{V3}/createRoom?user_id={alice}", json={}, headers=as_auth())
    ).json()
    bridge.fail_always = True
    await _send(client, room["room_id"], alice, "while down", "t1")
    await eventually(lambda: len(bridge.attempts) >= 2)
    await client.close()
    await hs.close()
    assert "while down" not in _bodies(bridge)
    bridge.fail_always = False
    hs, client = await start_homeserver(make_config, clock, registration)
    try:
        await eventually(lambda: "while down" in _bodies(bridge))
        await _send(client, room["room_id"], alice, "after restart", "t2")
        await eventually(lambda: _bodies(bridge)[-1:] == ["after restart"])
        assert _bodies(bridge).count("while down") == 1
    finally:
        await client.close()
        await hs.close()


async def test_alias_and_user_queries(running: Client, bridge: Bridge) -> None:
    client = running
    human = await register(client, "frank")
    headers = auth_header(human["access_token"])
    alias = f"#_bridge_chan:{SERVER_NAME}"
    response = await client.get(
        f"{V3}/directory/room/%23_bridge_nothing:{SERVER_NAME}", headers=headers
    )
    assert response.status == 404
    bridge.known_aliases.add(alias)
    response = await client.get(
        f"{V3}/directory/room/%23_bridge_chan:{SERVER_NAME}", headers=headers
    )
    assert response.status == 200, await response.text()
    room_id = (await response.json())["room_id"]
    # Joining by an alias the service creates on demand.
    bridge.known_aliases.add(f"#_bridge_join:{SERVER_NAME}")
    response = await client.post(
        f"{V3}/join/%23_bridge_join:{SERVER_NAME}", json={}, headers=headers
    )
    assert response.status == 200, await response.text()
    assert room_id.startswith("!")
    user_id = f"@_bridge_ghost:{SERVER_NAME}"
    response = await client.get(f"{V3}/profile/{user_id}", headers=headers)
    assert response.status == 404
    bridge.known_users.add(user_id)
    response = await client.get(f"{V3}/profile/{user_id}", headers=headers)
    assert response.status == 200, await response.text()


async def test_ping(running: Client, bridge: Bridge) -> None:
    client = running
    path = PING.replace("{appserviceId}", "bridge")
    response = await client.post(path, json={"transaction_id": "meow"}, headers=as_auth())
    assert response.status == 200, await response.text()
    body = await response.json()
    validate_response(body, "client-server/appservice_ping.yaml", PING_SPEC, "post", 200)
    assert bridge.pings == [{"transaction_id": "meow"}]
    bridge.ping_status = 401
    response = await client.post(path, json={}, headers=as_auth())
    body = await response.json()
    assert (response.status, body["errcode"], body["status"]) == (502, "M_BAD_STATUS", 401)
    validate_response(body, "client-server/appservice_ping.yaml", PING_SPEC, "post", 502)
    response = await client.post(
        PING.replace("{appserviceId}", "other"), json={}, headers=as_auth()
    )
    assert (response.status, (await response.json())["errcode"]) == (403, "M_FORBIDDEN")
    human = await register(client, "gina")
    response = await client.post(path, json={}, headers=auth_header(human["access_token"]))
    assert (response.status, (await response.json())["errcode"]) == (401, "M_UNKNOWN_TOKEN")


async def test_ping_unreachable(make_config: MakeConfig, clock: FakeClock, tmp_path: Path) -> None:
    bridge = Bridge()
    await bridge.server.start_server()
    url = bridge.url
    await bridge.server.close()
    hs, client = await start_homeserver(make_config, clock, write_registration(tmp_path, url))
    try:
        response = await client.post(
            PING.replace("{appserviceId}", "bridge"), json={}, headers=as_auth()
        )
        body = await response.json()
        assert (response.status, body["errcode"]) == (502, "M_CONNECTION_FAILED")
    finally:
        await client.close()
        await hs.close()
    hs, client = await start_homeserver(make_config, clock, write_registration(tmp_path, None))
    try:
        response = await client.post(
            PING.replace("{appserviceId}", "bridge"), json={}, headers=as_auth()
        )
        assert (response.status, (await response.json())["errcode"]) == (400, "M_URL_NOT_SET")
    finally:
        await client.close()
        await hs.close()


async def test_thirdparty_proxied(running: Client, bridge: Bridge) -> None:
    client = running
    human = await register(client, "hank")
    headers = auth_header(human["access_token"])
    base = f"{V3}/thirdparty"
    body = await (await client.get(f"{base}/protocols", headers=headers)).json()
    validate_response(
        body, "client-server/third_party_lookup.yaml", "/thirdparty/protocols", "get", 200
    )
    assert body["irc"]["instances"][0]["instance_id"] == "bridge|libera"
    response = await client.get(f"{base}/location/irc?channel=%23matrix", headers=headers)
    body = await response.json()
    assert response.status == 200
    validate_response(
        body, "client-server/third_party_lookup.yaml", "/thirdparty/location/{protocol}", "get", 200
    )
    assert body == [
        {
            "alias": f"#_bridge_matrix:{SERVER_NAME}",
            "protocol": "irc",
            "fields": {"channel": "#matrix"},
        }
    ]
    response = await client.get(f"{base}/user/irc?nickname=joe", headers=headers)
    assert (await response.json())[0]["userid"] == f"@_bridge_joe:{SERVER_NAME}"
    response = await client.get(f"{base}/location/slack", headers=headers)
    assert response.status == 404
    response = await client.get(f"{base}/location?alias=%23a:{SERVER_NAME}", headers=headers)
    assert (await response.json())[0]["alias"] == f"#a:{SERVER_NAME}"
    # The service publishes a room in its network's directory.
    room = await (await client.post(f"{V3}/createRoom", json={}, headers=as_auth())).json()
    path = f"{V3}/directory/list/appservice/libera/{room['room_id']}"
    response = await client.put(path, json={"visibility": "public"}, headers=as_auth())
    assert response.status == 200, await response.text()
    response = await client.put(path, json={"visibility": "public"}, headers=headers)
    assert response.status == 401


async def test_ephemeral_typing(running: Client, bridge: Bridge) -> None:
    client = running
    alice = await register_as_user(client, "_bridge_alice")
    room = await (
        await client.post(f"{V3}/createRoom?user_id={alice}", json={}, headers=as_auth())
    ).json()
    response = await client.put(
        f"{V3}/rooms/{room['room_id']}/typing/{alice}?user_id={alice}",
        json={"typing": True, "timeout": 30000},
        headers=as_auth(),
    )
    assert response.status == 200, await response.text()

    def typing_seen() -> bool:
        return any(
            e["type"] == "m.typing" and e["room_id"] == room["room_id"]
            for _, txn in bridge.transactions
            for e in txn.get("ephemeral", [])
        )

    await eventually(typing_seen)


@pytest.mark.parametrize("rate_limited", [True, False])
async def test_rate_limiting_of_namespace_users(
    bridge: Bridge, make_config: MakeConfig, clock: FakeClock, tmp_path: Path, rate_limited: bool
) -> None:
    registration = write_registration(tmp_path, bridge.url, rate_limited=rate_limited)
    hs, client = await start_homeserver(
        make_config,
        clock,
        registration,
        ratelimiting={"enabled": True},
        rc_message={"per_second": 0.001, "burst_count": 2},
        rc_registration={"per_second": 100, "burst_count": 100},
    )
    try:
        alice = await register_as_user(client, "_bridge_alice")
        room = await (
            await client.post(f"{V3}/createRoom?user_id={alice}", json={}, headers=as_auth())
        ).json()
        statuses = []
        for i in range(4):
            response = await client.put(
                f"{V3}/rooms/{room['room_id']}/send/m.room.message/a{i}?user_id={alice}",
                json={"msgtype": "m.text", "body": "x"},
                headers=as_auth(),
            )
            statuses.append(response.status)
        assert statuses == ([200, 200, 429, 429] if rate_limited else [200] * 4)
        # The sender itself is never limited.
        bot = f"@_bridge_bot:{SERVER_NAME}"
        await client.post(
            f"{V3}/rooms/{room['room_id']}/invite?user_id={alice}",
            json={"user_id": bot},
            headers=as_auth(),
        )
        response = await client.post(f"{V3}/join/{room['room_id']}", json={}, headers=as_auth())
        assert response.status == 200, await response.text()
        for i in range(4):
            response = await client.put(
                f"{V3}/rooms/{room['room_id']}/send/m.room.message/b{i}",
                json={"msgtype": "m.text", "body": "x"},
                headers=as_auth(),
            )
            assert response.status == 200
    finally:
        await client.close()
        await hs.close()


async def test_appservice_device_management(running: Client) -> None:
    """Spec v1.17: appservices create devices with PUT (201) and delete them without UIA;
    regular users still get 404 for unknown devices and UIA for deletion."""
    client = running
    alice = await register_as_user(client, "_bridge_devices")
    one = f"{V3}/devices/BRIDGED1?user_id={alice}"
    created = await client.put(one, json={"display_name": "bridged"}, headers=as_auth())
    assert created.status == 201, await created.text()
    validate_response(
        await created.json(), "client-server/device_management.yaml", "/devices/{deviceId}",
        "put", 201,
    )  # fmt: skip
    updated = await client.put(one, json={"display_name": "renamed"}, headers=as_auth())
    assert updated.status == 200
    listed = await (await client.get(f"{V3}/devices?user_id={alice}", headers=as_auth())).json()
    assert [(d["device_id"], d.get("display_name")) for d in listed["devices"]] == [
        ("BRIDGED1", "renamed")
    ]
    status, body = await _whoami(client, f"?user_id={alice}&device_id=BRIDGED1")
    assert (status, body.get("device_id")) == (200, "BRIDGED1")
    deleted = await client.delete(one, json={}, headers=as_auth())
    assert deleted.status == 200, await deleted.text()
    status, body = await _whoami(client, f"?user_id={alice}&device_id=BRIDGED1")
    assert (status, body["errcode"]) == (400, "M_UNKNOWN_DEVICE")
    # A regular user may neither create a device nor delete one without UIA.
    user = await register(client, "plainuser")
    headers = auth_header(user["access_token"])
    missing = await client.put(f"{V3}/devices/NEWONE", json={"display_name": "x"}, headers=headers)
    assert missing.status == 404
    own = f"{V3}/devices/{user['device_id']}"
    assert (await client.delete(own, json={}, headers=headers)).status == 401
