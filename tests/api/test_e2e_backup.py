"""Server-side key backups over HTTP (Client-Server API, "Server-side key backups")."""

from typing import Any

from tests.api.account_support import V3, serve_accounts
from tests.api.conftest import ServeFn
from tests.api.openapi import validate_response
from tests.api.room_support import new_user

KB = "client-server/key_backup.yaml"
ALG = "m.megolm_backup.v1.curve25519-aes-sha2"
ROOM = "!room:test.example"


def _key(first: int, forwarded: int, verified: bool, tag: str) -> dict[str, Any]:
    return {
        "first_message_index": first,
        "forwarded_count": forwarded,
        "is_verified": verified,
        "session_data": {"ciphertext": tag, "ephemeral": "e", "mac": "m"},
    }


async def test_versions(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    await alice.request("GET", f"{V3}/room_keys/version", status=404)
    created = await alice.request(
        "POST", f"{V3}/room_keys/version", json={"algorithm": ALG, "auth_data": {"public_key": "a"}}
    )
    validate_response(created, KB, "/room_keys/version", "post", 200)
    version = created["version"]
    latest = await alice.request("GET", f"{V3}/room_keys/version")
    validate_response(latest, KB, "/room_keys/version", "get", 200)
    assert latest["version"] == version and latest["count"] == 0
    assert latest["auth_data"] == {"public_key": "a"}
    await bob.request("GET", f"{V3}/room_keys/version", status=404)
    await bob.request("GET", f"{V3}/room_keys/version/{version}", status=404)
    # Updating: the algorithm must match, the version in the body must match the path.
    path = f"{V3}/room_keys/version/{version}"
    await alice.request("PUT", path, json={"algorithm": ALG, "auth_data": {"public_key": "b"}})
    assert (await alice.request("GET", path))["auth_data"] == {"public_key": "b"}
    body = await alice.request(
        "PUT", path, json={"algorithm": "other", "auth_data": {}}, status=400
    )
    assert body["errcode"] == "M_INVALID_PARAM"
    await alice.request(
        "PUT", path, json={"algorithm": ALG, "auth_data": {}, "version": "99"}, status=400
    )
    await alice.request(
        "PUT", f"{V3}/room_keys/version/99", json={"algorithm": ALG, "auth_data": {}}, status=404
    )
    await alice.request("POST", f"{V3}/room_keys/version", json={"algorithm": ALG}, status=400)
    await alice.request(
        "POST", f"{V3}/room_keys/version", json={"algorithm": ALG, "auth_data": 1}, status=400
    )
    # A second version becomes the current one; deleting it falls back to the first.
    second = await alice.request(
        "POST", f"{V3}/room_keys/version", json={"algorithm": ALG, "auth_data": {}}
    )
    assert int(second["version"]) > int(version)
    assert (await alice.request("GET", f"{V3}/room_keys/version"))["version"] == second["version"]
    await alice.request("DELETE", f"{V3}/room_keys/version/{second['version']}")
    await alice.request("DELETE", f"{V3}/room_keys/version/{second['version']}", status=404)
    await alice.request("GET", f"{V3}/room_keys/version/{second['version']}", status=404)
    assert (await alice.request("GET", f"{V3}/room_keys/version"))["version"] == version
    await alice.request("GET", f"{V3}/room_keys/version/abc", status=404)


async def test_keys_replacement_rules_etag_and_count(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    version = (
        await alice.request(
            "POST", f"{V3}/room_keys/version", json={"algorithm": ALG, "auth_data": {}}
        )
    )["version"]
    one = f"{V3}/room_keys/keys/{ROOM}/S1"
    put = await alice.request("PUT", one, params={"version": version}, json=_key(5, 1, False, "a"))
    validate_response(put, KB, "/room_keys/keys/{roomId}/{sessionId}", "put", 200)
    assert put["count"] == 1
    etag = put["etag"]

    async def stored() -> str:
        body = await alice.request("GET", one, params={"version": version})
        return str(body["session_data"]["ciphertext"])

    # Unverified over unverified with a higher first_message_index: kept the old one.
    kept = await alice.request("PUT", one, params={"version": version}, json=_key(6, 0, False, "b"))
    assert await stored() == "a" and kept["etag"] == etag
    # Lower first_message_index wins.
    await alice.request("PUT", one, params={"version": version}, json=_key(3, 5, False, "c"))
    assert await stored() == "c"
    # Same index: lower forwarded_count wins.
    await alice.request("PUT", one, params={"version": version}, json=_key(3, 6, False, "d"))
    assert await stored() == "c"
    await alice.request("PUT", one, params={"version": version}, json=_key(3, 2, False, "e"))
    assert await stored() == "e"
    # Verified beats unverified whatever the index; unverified never replaces verified.
    await alice.request("PUT", one, params={"version": version}, json=_key(9, 9, True, "f"))
    assert await stored() == "f"
    await alice.request("PUT", one, params={"version": version}, json=_key(0, 0, False, "g"))
    assert await stored() == "f"
    latest = await alice.request("GET", f"{V3}/room_keys/version")
    assert latest["etag"] != etag and latest["count"] == 1
    # Whole-backup and per-room uploads and reads.
    rooms = {
        "rooms": {
            ROOM: {"sessions": {"S2": _key(0, 0, False, "h")}},
            "!other:test.example": {"sessions": {"S3": _key(0, 0, False, "i")}},
        }
    }
    body = await alice.request(
        "PUT", f"{V3}/room_keys/keys", params={"version": version}, json=rooms
    )
    validate_response(body, KB, "/room_keys/keys", "put", 200)
    assert body["count"] == 3
    everything = await alice.request("GET", f"{V3}/room_keys/keys", params={"version": version})
    validate_response(everything, KB, "/room_keys/keys", "get", 200)
    assert set(everything["rooms"][ROOM]["sessions"]) == {"S1", "S2"}
    room = await alice.request("GET", f"{V3}/room_keys/keys/{ROOM}", params={"version": version})
    assert set(room["sessions"]) == {"S1", "S2"}
    empty = await alice.request(
        "GET", f"{V3}/room_keys/keys/!none:test.example", params={"version": version}
    )
    assert empty == {"sessions": {}}
    await alice.request(
        "GET", f"{V3}/room_keys/keys/{ROOM}/NOPE", params={"version": version}, status=404
    )
    # Deleting keys changes the etag and the count.
    before = (await alice.request("GET", f"{V3}/room_keys/version"))["etag"]
    deleted = await alice.request(
        "DELETE", f"{V3}/room_keys/keys/{ROOM}", params={"version": version}
    )
    validate_response(deleted, KB, "/room_keys/keys/{roomId}", "delete", 200)
    assert deleted["count"] == 1 and deleted["etag"] != before
    deleted_all = await alice.request("DELETE", f"{V3}/room_keys/keys", params={"version": version})
    assert deleted_all["count"] == 0 and deleted_all["etag"] != deleted["etag"]
    assert (await alice.request("GET", f"{V3}/room_keys/version"))["etag"] == deleted_all["etag"]
    # Bad bodies and missing versions.
    await alice.request(
        "PUT", one, params={"version": version}, json={"is_verified": True}, status=400
    )
    await alice.request("PUT", one, json=_key(0, 0, False, "x"), status=400)
    await alice.request(
        "PUT", one, params={"version": "77"}, json=_key(0, 0, False, "x"), status=404
    )


async def test_only_the_current_version_is_writable(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    old = (
        await alice.request(
            "POST", f"{V3}/room_keys/version", json={"algorithm": ALG, "auth_data": {}}
        )
    )["version"]
    new = (
        await alice.request(
            "POST", f"{V3}/room_keys/version", json={"algorithm": ALG, "auth_data": {}}
        )
    )["version"]
    body = await alice.request(
        "PUT",
        f"{V3}/room_keys/keys/{ROOM}/S",
        params={"version": old},
        json=_key(0, 0, False, "x"),
        status=403,
    )
    assert body["errcode"] == "M_WRONG_ROOM_KEYS_VERSION" and body["current_version"] == new
    # Reading an older version is allowed.
    assert await alice.request("GET", f"{V3}/room_keys/keys", params={"version": old}) == {
        "rooms": {}
    }
