"""Room upgrades over HTTP (spec: "Room Upgrades", server behaviour)."""

from urllib.parse import quote

from tests.api.account_support import V3, serve_accounts
from tests.api.conftest import SERVER_NAME, ServeFn
from tests.api.openapi import error_schema, validate, validate_response
from tests.api.room_support import new_user


async def test_upgrade_room(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    old = await alice.create_room(
        visibility="public", name="Old", topic="T", room_alias_name="up", room_version="10"
    )
    await bob.join(old)
    denied = await bob.request(
        "POST", f"{V3}/rooms/{quote(old)}/upgrade", json={"new_version": "12"}, status=403
    )
    validate(denied, error_schema())
    await alice.request(
        "POST", f"{V3}/rooms/{quote(old)}/upgrade", json={"new_version": "99"}, status=400
    )
    body = await alice.request(
        "POST", f"{V3}/rooms/{quote(old)}/upgrade", json={"new_version": "12"}
    )
    validate_response(
        body, "client-server/room_upgrades.yaml", "/rooms/{roomId}/upgrade", "post", 200
    )
    new = body["replacement_room"]
    tombstone = await alice.request("GET", f"{V3}/rooms/{quote(old)}/state/m.room.tombstone/")
    assert tombstone["replacement_room"] == new
    create = await alice.request(
        "GET", f"{V3}/rooms/{quote(new)}/state/m.room.create/", params={"format": "event"}
    )
    assert create["content"]["room_version"] == "12"
    assert create["content"]["predecessor"]["room_id"] == old
    name = await alice.request("GET", f"{V3}/rooms/{quote(new)}/state/m.room.name/")
    assert name == {"name": "Old"}
    pl_new = await alice.request("GET", f"{V3}/rooms/{quote(new)}/state/m.room.power_levels/")
    assert alice.user_id not in pl_new["users"]  # v12 creators are not listed
    pl_old = await alice.request("GET", f"{V3}/rooms/{quote(old)}/state/m.room.power_levels/")
    assert pl_old["events_default"] >= 50 and pl_old["invite"] >= 50
    await bob.send(old, "too late", status=403)
    resolved = await bob.request("GET", f"{V3}/directory/room/{quote(f'#up:{SERVER_NAME}')}")
    assert resolved["room_id"] == new
    canonical = await alice.request("GET", f"{V3}/rooms/{quote(new)}/state/m.room.canonical_alias/")
    assert canonical["alias"] == f"#up:{SERVER_NAME}"
    listing = await bob.request("GET", f"{V3}/directory/list/room/{quote(old)}")
    assert listing == {"visibility": "private"}
    assert (await bob.request("GET", f"{V3}/directory/list/room/{quote(new)}")) == {
        "visibility": "public"
    }
