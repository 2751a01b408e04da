"""Invite blocking (spec: Client-Server API, "Invite permission", v1.18): a user whose
``m.invite_permission_config`` has ``default_action: block`` gets no invites (403
``M_INVITE_BLOCKED`` on every inviting endpoint) and sees none in ``/sync``."""

from typing import Any
from urllib.parse import quote

from tests.api.account_support import V3, serve_accounts
from tests.api.conftest import ServeFn
from tests.api.openapi import validate_response
from tests.api.room_support import User, new_user

CONFIG = "m.invite_permission_config"


async def set_config(user: User, content: dict[str, Any]) -> None:
    path = f"{V3}/user/{quote(user.user_id)}/account_data/{CONFIG}"
    await user.request("PUT", path, json=content)


async def invites_in_sync(user: User) -> dict[str, Any]:
    body = await user.request("GET", f"{V3}/sync", params={"timeout": "0"})
    invites: dict[str, Any] = body.get("rooms", {}).get("invite", {})
    return invites


async def test_blocked_invites_are_refused(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice, bob = await new_user(client, "alice"), await new_user(client, "bob")
    room_id = await alice.create_room(preset="private_chat")
    await set_config(bob, {"default_action": "block"})
    refused = await alice.invite(room_id, bob.user_id, status=403)
    validate_response(
        refused, "client-server/inviting.yaml", "/rooms/{roomId}/invite ", "post", 403
    )
    assert refused["errcode"] == "M_INVITE_BLOCKED"
    member_path = f"{V3}/rooms/{quote(room_id)}/state/m.room.member/{quote(bob.user_id)}"
    refused = await alice.request("PUT", member_path, json={"membership": "invite"}, status=403)
    assert refused["errcode"] == "M_INVITE_BLOCKED"
    refused = await alice.request(
        "POST", f"{V3}/createRoom", json={"invite": [bob.user_id]}, status=403
    )
    assert refused["errcode"] == "M_INVITE_BLOCKED"
    # Nothing was sent: bob has no invite, and other memberships are not affected.
    assert await invites_in_sync(bob) == {}
    await alice.request("PUT", member_path, json={"membership": "ban"})
    # An unknown or invalid value means invites as normal; so does removing the property.
    await alice.request("PUT", member_path, json={"membership": "leave"})
    await set_config(bob, {"default_action": "allow"})
    await alice.invite(room_id, bob.user_id)
    other = await alice.create_room(preset="private_chat")
    await set_config(bob, {"default_action": 1})
    await alice.invite(other, bob.user_id)
    await set_config(bob, {})
    created = await alice.request("POST", f"{V3}/createRoom", json={"invite": [bob.user_id]})
    assert set(await invites_in_sync(bob)) == {room_id, other, created["room_id"]}


async def test_invites_are_hidden_from_sync_while_blocked(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice, bob = await new_user(client, "alice"), await new_user(client, "bob")
    room_id = await alice.create_room(preset="private_chat")
    await alice.invite(room_id, bob.user_id)
    assert set(await invites_in_sync(bob)) == {room_id}
    await set_config(bob, {"default_action": "block"})
    assert await invites_in_sync(bob) == {}
    # Other endpoints are not affected: the invite is in the room's state.
    state = await alice.request(
        "GET", f"{V3}/rooms/{quote(room_id)}/state/m.room.member/{quote(bob.user_id)}"
    )
    assert state["membership"] == "invite"
    await set_config(bob, {})
    assert set(await invites_in_sync(bob)) == {room_id}
    await bob.join(room_id)
