"""Unread counts stay right while push evaluation caches what it reads (spec: Client-Server
API, "Push Rules" and "Unread notifications"): a rule changed after messages were evaluated,
and a display name changed after the room's members were cached, both count at once."""

from urllib.parse import quote

from tests.api.account_support import V3, serve_accounts
from tests.api.conftest import ServeFn
from tests.api.room_support import new_user
from tests.api.test_push import counts, rule_path, sync


async def test_a_rule_change_applies_to_the_next_message(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice, bob = await new_user(client, "alice"), await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    await alice.send(room_id, "one")  # evaluated with Bob's default rules (now cached)
    assert counts(await sync(bob), room_id)["unread"]["notification_count"] == 1
    await bob.request("PUT", rule_path("room", room_id), json={"actions": []})
    await alice.send(room_id, "two")  # muted: not counted
    assert counts(await sync(bob), room_id)["unread"]["notification_count"] == 1
    await bob.request("DELETE", rule_path("room", room_id))
    await alice.send(room_id, "three")
    assert counts(await sync(bob), room_id)["unread"]["notification_count"] == 2


async def test_a_new_display_name_highlights_at_once(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice, bob = await new_user(client, "alice"), await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    # Mentions of a display name are no server default since v1.17: Bob asks for them.
    await bob.request(
        "PUT",
        rule_path("override", "name"),
        json={
            "conditions": [{"kind": "contains_display_name"}],
            "actions": ["notify", {"set_tweak": "highlight"}],
        },
    )
    await alice.send(room_id, "hello Robert")  # the room's members are cached now
    assert counts(await sync(bob), room_id)["unread"]["highlight_count"] == 0
    await bob.request(
        "PUT",
        f"{V3}/rooms/{quote(room_id)}/state/m.room.member/{quote(bob.user_id)}",
        json={"membership": "join", "displayname": "Robert"},
    )
    await alice.send(room_id, "hello Robert")
    assert counts(await sync(bob), room_id)["unread"]["highlight_count"] == 1
