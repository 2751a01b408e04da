"""Local joins to restricted rooms over HTTP (spec: Client-Server API, "Restricted rooms";
room versions 8+ ``restricted``, 10+ ``knock_restricted``), on both engines."""

from typing import Any
from urllib.parse import quote

from tests.api.account_support import V3, serve_accounts
from tests.api.conftest import ServeFn
from tests.api.openapi import validate_response
from tests.api.room_support import User, new_user


def restricted_to(*room_ids: str, rule: str = "restricted") -> dict[str, Any]:
    return {
        "type": "m.room.join_rules",
        "state_key": "",
        "content": {
            "join_rule": rule,
            "allow": [{"type": "m.room_membership", "room_id": r} for r in room_ids],
        },
    }


async def member_content(user: User, room_id: str, user_id: str) -> Any:
    path = f"{V3}/rooms/{quote(room_id)}/state/m.room.member/{quote(user_id)}"
    return await user.request("GET", path)


async def refused(user: User, room_id: str) -> str:
    body = await user.join(room_id, status=403)
    validate_response(body, "client-server/joining.yaml", "/join/{roomIdOrAlias}", "post", 403)
    assert body["errcode"] == "M_FORBIDDEN"
    return str(body["error"])


async def test_knock_restricted_room(serve: ServeFn) -> None:
    """v1.3: ``knock_restricted`` (room v10) joins as restricted, or lets the user knock."""
    client = await serve_accounts(serve)
    alice, bob = await new_user(client, "alice"), await new_user(client, "bob")
    space = await alice.create_room(preset="public_chat")
    room_id = await alice.create_room(
        preset="private_chat",
        room_version="10",
        initial_state=[restricted_to(space, rule="knock_restricted")],
    )
    assert "restricted" in await refused(bob, room_id)
    await bob.request("POST", f"{V3}/knock/{quote(room_id)}", json={})
    await bob.join(space)
    assert await bob.join(room_id) == {"room_id": room_id}
    content = await member_content(alice, room_id, bob.user_id)
    assert content["membership"] == "join"
    assert content["join_authorised_via_users_server"] == alice.user_id


async def test_conditions_are_checked_at_each_join(serve: ServeFn) -> None:
    """Leaving the allowed room keeps the membership (conditions are only checked during the
    join) but a later join is checked again; an invite bypasses the conditions."""
    client = await serve_accounts(serve)
    alice, bob = await new_user(client, "alice"), await new_user(client, "bob")
    carol = await new_user(client, "carol")
    space = await alice.create_room(preset="public_chat")
    room_id = await alice.create_room(
        preset="private_chat", room_version="9", initial_state=[restricted_to(space)]
    )
    await bob.join(space)
    await bob.join(room_id)
    await bob.leave(space)
    await bob.send(room_id, "still here")
    await bob.leave(room_id)
    await refused(bob, room_id)
    # Invited, carol joins without meeting any condition and names no authoriser.
    await alice.invite(room_id, carol.user_id)
    await carol.join(room_id)
    content = await member_content(alice, room_id, carol.user_id)
    assert "join_authorised_via_users_server" not in content


async def test_refusals(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice, bob = await new_user(client, "alice"), await new_user(client, "bob")
    carol = await new_user(client, "carol")
    # An allowed room nobody here is in; no condition at all.
    unknown = await alice.create_room(
        preset="private_chat", room_version="9", initial_state=[restricted_to("!gone:elsewhere")]
    )
    await refused(bob, unknown)
    empty = await alice.create_room(
        preset="private_chat", room_version="9", initial_state=[restricted_to()]
    )
    await refused(bob, empty)
    # Bob qualifies, but nobody left in the room may invite.
    space = await alice.create_room(preset="public_chat")
    room_id = await alice.create_room(
        preset="private_chat",
        room_version="9",
        initial_state=[restricted_to(space)],
        power_level_content_override={"invite": 50},
    )
    await carol.join(space)
    await carol.join(room_id)
    await alice.leave(room_id)
    await bob.join(space)
    assert "authorise" in await refused(bob, room_id)
    # Room version 7 has no restricted join rule: the auth rules refuse the join.
    old = await alice.create_room(
        preset="private_chat", room_version="7", initial_state=[restricted_to(space)]
    )
    await refused(bob, old)
