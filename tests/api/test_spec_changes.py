"""Client-Server API changes of spec versions v1.1 ... v1.19 that no other test shows (each test
names the version and the proposal), on both engines. Listed in docs/spec-compliance.md."""

import json
from urllib.parse import quote

from tests.api.account_support import V3, serve_accounts
from tests.api.conftest import ServeFn
from tests.api.openapi import validate_response
from tests.api.room_support import V1, new_user


async def test_whoami_device_id_and_is_guest(serve: ServeFn) -> None:
    """v1.1 (MSC2033) ``device_id`` and v1.2 (MSC3069) ``is_guest`` in /account/whoami."""
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    body = await alice.request("GET", f"{V3}/account/whoami")
    validate_response(body, "client-server/whoami.yaml", "/account/whoami", "get", 200)
    assert body == {"user_id": alice.user_id, "device_id": alice.device_id, "is_guest": False}


async def test_reason_on_membership_events(serve: ServeFn) -> None:
    """v1.1 (MSC2367): ``reason`` on every membership endpoint lands in the event."""
    client = await serve_accounts(serve)
    alice, bob = await new_user(client, "alice"), await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    room = quote(room_id)
    await alice.request(
        "POST", f"{V3}/rooms/{room}/invite", json={"user_id": bob.user_id, "reason": "r-invite"}
    )
    await bob.request("POST", f"{V3}/join/{room}", json={"reason": "r-join"})
    await alice.request(
        "POST", f"{V3}/rooms/{room}/kick", json={"user_id": bob.user_id, "reason": "r-kick"}
    )
    await alice.request(
        "POST", f"{V3}/rooms/{room}/ban", json={"user_id": bob.user_id, "reason": "r-ban"}
    )
    await alice.request(
        "POST", f"{V3}/rooms/{room}/unban", json={"user_id": bob.user_id, "reason": "r-unban"}
    )
    await bob.request("POST", f"{V3}/rooms/{room}/join", json={"reason": "r-join2"})
    await bob.request("POST", f"{V3}/rooms/{room}/leave", json={"reason": "r-leave"})
    chunk = (await alice.messages(room_id, limit="20"))["chunk"]
    reasons = [
        e["content"].get("reason")
        for e in reversed(chunk)
        if e["type"] == "m.room.member" and e["state_key"] == bob.user_id
    ]
    assert reasons == ["r-invite", "r-join", "r-kick", "r-ban", "r-unban", "r-join2", "r-leave"]


async def test_public_rooms_room_types_and_no_aliases(serve: ServeFn) -> None:
    """v1.2 (MSC2432): no ``aliases`` in /publicRooms chunks; v1.4 (MSC3827): the
    ``room_types`` filter and ``room_type`` in the chunks."""
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    room = await alice.create_room(visibility="public", preset="public_chat")
    space = await alice.create_room(
        visibility="public", preset="public_chat", creation_content={"type": "m.space"}
    )
    everything = await alice.request("POST", f"{V3}/publicRooms", json={})
    validate_response(
        everything, "client-server/list_public_rooms.yaml", "/publicRooms", "post", 200
    )
    assert {c["room_id"] for c in everything["chunk"]} == {room, space}
    assert all("aliases" not in c for c in everything["chunk"])
    assert [c.get("room_type") for c in everything["chunk"] if c["room_id"] == space] == ["m.space"]
    for room_types, expected in (([None], {room}), (["m.space"], {space}), ([], {room, space})):
        body = await alice.request(
            "POST", f"{V3}/publicRooms", json={"filter": {"room_types": room_types}}
        )
        assert {c["room_id"] for c in body["chunk"]} == expected, room_types


async def test_upgrade_copies_the_room_type(serve: ServeFn) -> None:
    """v1.4 (MSC3818): an upgraded room keeps its ``type``."""
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    space = await alice.create_room(preset="private_chat", creation_content={"type": "m.space"})
    body = await alice.request(
        "POST", f"{V3}/rooms/{quote(space)}/upgrade", json={"new_version": "11"}
    )
    create = await alice.request(
        "GET", f"{V3}/rooms/{quote(body['replacement_room'])}/state/m.room.create/"
    )
    assert create["type"] == "m.space"


async def test_join_via_and_create_event_in_invite_state(serve: ServeFn) -> None:
    """v1.12 (MSC4156): ``via`` on /join; v1.16 (MSC4311): the ``m.room.create`` event in an
    invite's stripped state."""
    client = await serve_accounts(serve)
    alice, bob = await new_user(client, "alice"), await new_user(client, "bob")
    room_id = await alice.create_room(preset="private_chat", name="Invited")
    await alice.invite(room_id, bob.user_id)
    body = await bob.request("GET", f"{V3}/sync")
    stripped = body["rooms"]["invite"][room_id]["invite_state"]["events"]
    assert {e["type"] for e in stripped} >= {"m.room.create", "m.room.name", "m.room.member"}
    joined = await bob.request(
        "POST", f"{V3}/join/{quote(room_id)}", params={"via": "test.example"}, json={}
    )
    assert joined == {"room_id": room_id}


async def test_redaction_through_send(serve: ServeFn) -> None:
    """v1.18 (MSC4169): ``m.room.redaction`` sent with PUT /send redacts (``redacts`` in the
    content)."""
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    room_id = await alice.create_room(preset="private_chat")
    target = await alice.send(room_id, "oops")
    redaction = await alice.send(
        room_id, event_type="m.room.redaction", content={"redacts": target, "reason": "typo"}
    )
    event = await alice.request("GET", f"{V3}/rooms/{quote(room_id)}/event/{quote(target)}")
    assert event["content"] == {}
    assert event["unsigned"]["redacted_because"]["event_id"] == redaction


async def test_unsigned_membership(serve: ServeFn) -> None:
    """v1.11 (MSC4115): events carry the requesting user's membership at the event."""
    client = await serve_accounts(serve)
    alice, bob = await new_user(client, "alice"), await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    await alice.put_state(
        room_id, "m.room.history_visibility", {"history_visibility": "world_readable"}
    )
    before = await alice.send(room_id, "before bob")
    await bob.join(room_id)
    after = await alice.send(room_id, "after bob")
    chunk = (await bob.messages(room_id, limit="10"))["chunk"]
    memberships = {e["event_id"]: e["unsigned"].get("membership") for e in chunk}
    assert memberships[after] == "join"
    assert memberships[before] == "leave"


async def test_hierarchy_room_version_and_encryption(serve: ServeFn) -> None:
    """v1.15 (MSC3266): ``room_version`` and ``encryption`` in /hierarchy rooms and in the
    room summary."""
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    space = await alice.create_room(
        preset="public_chat",
        creation_content={"type": "m.space"},
        initial_state=[
            {
                "type": "m.room.encryption",
                "state_key": "",
                "content": {"algorithm": "m.megolm.v1.aes-sha2"},
            }
        ],
    )
    body = await alice.request("GET", f"{V1}/rooms/{quote(space)}/hierarchy")
    (room,) = body["rooms"]
    assert room["room_version"] == "11" and room["encryption"] == "m.megolm.v1.aes-sha2"
    summary = await alice.request("GET", f"{V1}/room_summary/{quote(space)}")
    assert summary["room_version"] == "11"
    assert summary["encryption"] == "m.megolm.v1.aes-sha2"


async def test_state_format_event(serve: ServeFn) -> None:
    """v1.16: ``format=event`` on GET /state/{eventType}/{stateKey} answers the whole event."""
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    room_id = await alice.create_room(preset="private_chat", name="Named")
    path = f"{V3}/rooms/{quote(room_id)}/state/m.room.name/"
    assert await alice.request("GET", path) == {"name": "Named"}
    event = await alice.request("GET", path, params={"format": "event"})
    assert event["type"] == "m.room.name" and event["content"] == {"name": "Named"}
    assert event["event_id"].startswith("$") and event["sender"] == alice.user_id
    refused = await alice.request("GET", path, params={"format": "xml"}, status=400)
    assert refused["errcode"] == "M_INVALID_PARAM"


async def test_versions_accepts_authentication(serve: ServeFn) -> None:
    """v1.10 (MSC4026): /versions may be called with an access token."""
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    anonymous = await (await client.get("/_matrix/client/versions")).json()
    authed = await alice.request("GET", "/_matrix/client/versions")
    assert authed == anonymous
    assert json.dumps(authed)  # plain JSON


async def test_join_a_restricted_room_through_a_space(serve: ServeFn) -> None:
    """v1.2 (MSC3083): a member of an allowed room joins a ``restricted`` room (room v9)."""
    client = await serve_accounts(serve)
    alice, bob = await new_user(client, "alice"), await new_user(client, "bob")
    space = await alice.create_room(preset="public_chat", creation_content={"type": "m.space"})
    join_rule = {
        "join_rule": "restricted",
        "allow": [{"type": "m.room_membership", "room_id": space}],
    }
    room_id = await alice.create_room(
        preset="private_chat",
        room_version="9",
        initial_state=[{"type": "m.room.join_rules", "state_key": "", "content": join_rule}],
    )
    refused = await bob.join(room_id, status=403)
    assert refused["errcode"] == "M_FORBIDDEN"
    await bob.join(space)
    assert await bob.join(room_id) == {"room_id": room_id}
    member = await bob.request(
        "GET", f"{V3}/rooms/{quote(room_id)}/state/m.room.member/{quote(bob.user_id)}"
    )
    assert member["join_authorised_via_users_server"] == alice.user_id


async def test_login_fallback_page(serve: ServeFn) -> None:
    """Login fallback, with v1.1 (MSC2604): the page forwards ``device_id`` from its query
    string to /login and hands the response to ``window.matrixLogin.onLogin``."""
    client = await serve_accounts(serve)
    response = await client.get("/_matrix/static/client/login/?device_id=GHTYAJCE")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/html")
    page = await response.text()
    assert "window.matrixLogin.onLogin(result)" in page
    assert '"device_id"' in page and "m.login.password" in page
    # The page posts to /login relative to its own path: that is POST /_matrix/client/v3/login.
    assert 'fetch("../../../client/v3/login"' in page
