"""Invite blocking across servers (spec: Client-Server API, "Invite permission"; Server-Server
API ``PUT /invite``: 403 ``M_INVITE_BLOCKED``)."""

from urllib.parse import quote

from tests.federation.conftest import Federation
from tests.federation.remote_support import V3, Person, two_servers


async def test_remote_invite_to_a_blocking_user_is_refused(federation: Federation) -> None:
    a, b = await two_servers(federation)
    async with federation.https() as http:
        alice = await Person(federation, a, http).register("alice")
        bob = await Person(federation, b, http).register("bob")
        config = f"{V3}/user/{quote(bob.user_id)}/account_data/m.invite_permission_config"
        await bob.request("PUT", config, json={"default_action": "block"})
        room_id = await alice.create_room(preset="private_chat")
        refused = await alice.room_action(room_id, "invite", user_id=bob.user_id, status=403)
        assert refused["errcode"] == "M_INVITE_BLOCKED"
        await bob.request("PUT", config, json={})
        await alice.room_action(room_id, "invite", user_id=bob.user_id)
        await bob.sync_until(
            lambda body: body.get("rooms", {}).get("invite", {}).get(room_id) is not None
        )
