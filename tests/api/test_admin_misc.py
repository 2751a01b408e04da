"""Server administration (whois, account locking and suspension), OpenID tokens, TURN
credentials, /.well-known/matrix/support and third-party lookups over HTTP, on both engines."""

import base64
import hashlib
import hmac
from typing import Any
from urllib.parse import quote

from tests.api.account_support import V3, serve_accounts, shared_secret_register
from tests.api.conftest import FakeClock, ServeFn
from tests.api.openapi import error_schema, validate, validate_response
from tests.api.room_support import V1, User, new_user

ADMIN = "client-server/admin.yaml"


async def _admin(client: Any) -> User:
    return User(client, await shared_secret_register(client, "root", admin=True))


async def test_whois_self_and_admin(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice, bob = await new_user(client, "alice"), await new_user(client, "bob")
    admin = await _admin(client)
    # Any request records the device's last connection.
    mine = await alice.request("GET", f"{V3}/admin/whois/{quote(alice.user_id)}")
    validate_response(mine, ADMIN, "/v3/admin/whois/{userId}", "get", 200)
    assert mine["user_id"] == alice.user_id
    assert alice.device_id in mine["devices"]
    (session,) = mine["devices"][alice.device_id]["sessions"]
    assert session["connections"] and "last_seen" in session["connections"][0]
    other = await bob.request("GET", f"{V3}/admin/whois/{quote(alice.user_id)}", status=403)
    validate(other, error_schema())
    assert other["errcode"] == "M_FORBIDDEN"
    seen = await admin.request("GET", f"{V3}/admin/whois/{quote(alice.user_id)}")
    assert seen["user_id"] == alice.user_id
    missing = await admin.request("GET", f"{V3}/admin/whois/@ghost:test.example", status=404)
    assert missing["errcode"] == "M_NOT_FOUND"


async def test_lock_blocks_everything_but_logout(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice, bob = await new_user(client, "alice"), await new_user(client, "bob")
    admin = await _admin(client)
    lock = f"{V1}/admin/lock/{quote(alice.user_id)}"
    # Authorisation before lookup: a non-admin learns nothing about the target.
    assert (await bob.request("GET", lock, status=403))["errcode"] == "M_FORBIDDEN"
    assert (await bob.request("GET", f"{V1}/admin/lock/@ghost:test.example", status=403))[
        "errcode"
    ] == "M_FORBIDDEN"
    state = await admin.request("GET", lock)
    validate_response(state, ADMIN, "/v1/admin/lock/{userId}", "get", 200)
    assert state == {"locked": False}
    remote = await admin.request("GET", f"{V1}/admin/lock/@x:elsewhere.example", status=400)
    assert remote["errcode"] == "M_INVALID_PARAM"
    assert (await admin.request("GET", f"{V1}/admin/lock/@ghost:test.example", status=404))[
        "errcode"
    ] == "M_NOT_FOUND"
    assert (await admin.request("PUT", lock, json={}, status=400))["errcode"] == "M_MISSING_PARAM"
    bad = await admin.request("PUT", lock, json={"locked": "yes"}, status=400)
    assert bad["errcode"] == "M_BAD_JSON"
    own = f"{V1}/admin/lock/{quote(admin.user_id)}"
    assert (await admin.request("PUT", own, json={"locked": True}, status=403))[
        "errcode"
    ] == "M_FORBIDDEN"
    changed = await admin.request("PUT", lock, json={"locked": True})
    validate_response(changed, ADMIN, "/v1/admin/lock/{userId}", "put", 200)
    assert changed == {"locked": True}
    assert await admin.request("GET", lock) == {"locked": True}
    # Every request of the locked user: 401 M_USER_LOCKED with soft_logout.
    for method, path in (("GET", f"{V3}/account/whoami"), ("GET", f"{V3}/sync")):
        refused = await alice.request(method, path, status=401)
        validate(refused, error_schema())
        assert refused["errcode"] == "M_USER_LOCKED" and refused["soft_logout"] is True
    # Unlocking restores the same session (tokens were kept).
    await admin.request("PUT", lock, json={"locked": False})
    assert (await alice.request("GET", f"{V3}/account/whoami"))["user_id"] == alice.user_id
    # Logging out stays possible while locked.
    await admin.request("PUT", lock, json={"locked": True})
    await alice.request("POST", f"{V3}/logout", json={})
    gone = await alice.request("GET", f"{V3}/account/whoami", status=401)
    assert gone["errcode"] == "M_UNKNOWN_TOKEN"


async def test_suspension_forbids_the_listed_actions(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice, bob = await new_user(client, "alice"), await new_user(client, "bob")
    admin = await _admin(client)
    room_id = await bob.create_room(preset="public_chat")
    await alice.join(room_id)
    own_event = await alice.send(room_id, "mine")
    bobs_event = await bob.send(room_id, "bob's")
    other_room = await bob.create_room(preset="public_chat")
    suspend = f"{V1}/admin/suspend/{quote(alice.user_id)}"
    assert await admin.request("GET", suspend) == {"suspended": False}
    assert (await admin.request("PUT", suspend, json={"suspended": 1}, status=400))[
        "errcode"
    ] == "M_BAD_JSON"
    other_admin = f"{V1}/admin/suspend/{quote(admin.user_id)}"
    assert (await admin.request("PUT", other_admin, json={"suspended": True}, status=403))[
        "errcode"
    ] == "M_FORBIDDEN"
    changed = await admin.request("PUT", suspend, json={"suspended": True})
    validate_response(changed, ADMIN, "/v1/admin/suspend/{userId}", "put", 200)
    validate_response(
        await admin.request("GET", suspend), ADMIN, "/v1/admin/suspend/{userId}", "get", 200
    )
    room = f"{V3}/rooms/{quote(room_id)}"

    async def refused(method: str, path: str, body: Any) -> None:
        answer = await alice.request(method, path, json=body, status=403)
        validate(answer, error_schema())
        assert answer["errcode"] == "M_USER_SUSPENDED", (method, path)

    await refused("PUT", f"{room}/send/m.room.message/s1", {"msgtype": "m.text", "body": "x"})
    await refused("POST", f"{V3}/join/{quote(other_room)}", {})
    await refused("POST", f"{V3}/rooms/{quote(other_room)}/join", {})
    await refused("POST", f"{room}/invite", {"user_id": admin.user_id})
    await refused("PUT", f"{room}/state/m.room.topic/", {"topic": "t"})
    await refused("POST", f"{V3}/createRoom", {})
    await refused("PUT", f"{V3}/profile/{quote(alice.user_id)}/displayname", {"displayname": "A"})
    await refused("PUT", f"{room}/redact/{quote(bobs_event)}/r1", {})
    # Still allowed: reading, syncing, redacting their own events, leaving.
    await alice.request("GET", f"{V3}/sync")
    await alice.messages(room_id)
    await alice.request("PUT", f"{room}/redact/{quote(own_event)}/r2", json={})
    await alice.leave(room_id)
    await admin.request("PUT", suspend, json={"suspended": False})
    await alice.join(room_id)
    await alice.send(room_id, "back")


async def test_openid_token_and_userinfo(serve: ServeFn, clock: FakeClock) -> None:
    client = await serve_accounts(serve)
    alice, bob = await new_user(client, "alice"), await new_user(client, "bob")
    path = f"{V3}/user/{quote(alice.user_id)}/openid/request_token"
    token = await alice.request("POST", path, json={})
    validate_response(
        token, "client-server/openid.yaml", "/user/{userId}/openid/request_token", "post", 200
    )
    assert token["token_type"] == "Bearer" and token["matrix_server_name"] == "test.example"
    assert token["expires_in"] == 3600
    assert (await bob.request("POST", path, json={}, status=403))["errcode"] == "M_FORBIDDEN"
    info_path = "/_matrix/federation/v1/openid/userinfo"
    response = await client.get(info_path, params={"access_token": token["access_token"]})
    info = await response.json()
    assert response.status == 200, info
    validate_response(info, "server-server/openid.yaml", "/openid/userinfo", "get", 200)
    assert info == {"sub": alice.user_id}
    # Not an access token for anything else, and no other token works here.
    whoami = await client.get(
        f"{V3}/account/whoami", headers={"Authorization": f"Bearer {token['access_token']}"}
    )
    assert whoami.status == 401
    for params in ({"access_token": alice.token}, {"access_token": "nope"}, {}):
        refused = await client.get(info_path, params=params)
        assert refused.status == 401
        assert (await refused.json())["errcode"] == "M_UNKNOWN_TOKEN"
    clock.now += 3_600_001
    expired = await client.get(info_path, params={"access_token": token["access_token"]})
    assert expired.status == 401


async def test_turn_server(serve: ServeFn, clock: FakeClock) -> None:
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    # Not configured: an empty object, as Synapse answers.
    assert await alice.request("GET", f"{V3}/voip/turnServer") == {}
    secret = "coturn secret"
    client = await serve_accounts(
        serve,
        turn_uris=["turn:turn.test:3478?transport=udp"],
        turn_shared_secret=secret,
        turn_user_lifetime="1h",
    )
    alice = await new_user(client, "alice2")
    answer = await alice.request("GET", f"{V3}/voip/turnServer")
    validate_response(answer, "client-server/voip.yaml", "/voip/turnServer", "get", 200)
    expiry = clock.now_ms() // 1000 + 3600
    assert answer["username"] == f"{expiry}:{alice.user_id}"
    mac = hmac.new(secret.encode(), answer["username"].encode(), hashlib.sha1).digest()
    assert answer["password"] == base64.b64encode(mac).decode()
    assert answer["uris"] == ["turn:turn.test:3478?transport=udp"] and answer["ttl"] == 3600
    client = await serve_accounts(
        serve,
        turn_uris=["turns:t.test"],
        turn_username="u",
        turn_password="p",
        allow_guest_access=True,
        turn_allow_guests=False,
    )
    bob = await new_user(client, "bob3")
    fixed = await bob.request("GET", f"{V3}/voip/turnServer")
    assert (fixed["username"], fixed["password"]) == ("u", "p")
    guest = await client.post(f"{V3}/register", params={"kind": "guest"}, json={})
    guest_body = await guest.json()
    assert guest.status == 200, guest_body
    refused = await client.get(
        f"{V3}/voip/turnServer", headers={"Authorization": f"Bearer {guest_body['access_token']}"}
    )
    assert refused.status == 403


async def test_support_wellknown(serve: ServeFn) -> None:
    client = await serve(resources=["client"])
    missing = await client.get("/.well-known/matrix/support")
    assert missing.status == 404
    support = {
        "contacts": [{"role": "m.role.admin", "email_address": "admin@test"}],
        "support_page": "https://test/support",
    }
    client = await serve(resources=["client"], support=support)
    response = await client.get("/.well-known/matrix/support")
    body = await response.json()
    assert response.status == 200, body
    validate_response(body, "client-server/support.yaml", "/matrix/support", "get", 200)
    assert body == support


async def test_thirdparty_without_appservices(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    lookups = "client-server/third_party_lookup.yaml"
    protocols = await alice.request("GET", f"{V3}/thirdparty/protocols")
    validate_response(protocols, lookups, "/thirdparty/protocols", "get", 200)
    assert protocols == {}
    for path in ("protocol/irc", "location/irc", "user/irc"):
        answer = await alice.request("GET", f"{V3}/thirdparty/{path}", status=404)
        validate(answer, error_schema())
        assert answer["errcode"] == "M_NOT_FOUND"
    by_alias = await alice.request("GET", f"{V3}/thirdparty/location", params={"alias": "#a:test"})
    validate_response(by_alias, lookups, "/thirdparty/location", "get", 200)
    assert by_alias == []
    assert await alice.request("GET", f"{V3}/thirdparty/user", params={"userid": "@a:test"}) == []
    missing = await alice.request("GET", f"{V3}/thirdparty/user", status=400)
    assert missing["errcode"] == "M_MISSING_PARAM"
    # The appservice directory needs an application service token: none exist yet.
    path = f"{V3}/directory/list/appservice/irc/{quote('!r:test')}"
    refused = await alice.request("PUT", path, json={"visibility": "public"}, status=401)
    assert refused["errcode"] == "M_UNKNOWN_TOKEN"
    anonymous = await client.put(path, json={"visibility": "public"})
    assert anonymous.status == 401
    assert (await anonymous.json())["errcode"] == "M_MISSING_TOKEN"
